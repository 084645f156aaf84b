"""`python -m attncli ...`: the same as the `attn` command."""

from .cli import main

main()
