"""What the tests share besides fixtures (those are in tests/conftest.py): one module per job, imported as
`from helpers.run_cli import attn` or `from helpers import families`. tests/README.md lists them."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout: README.md, docs/, examples/, sample_weights/
