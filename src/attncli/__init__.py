"""attncli: see self-attention from saved weights, in a terminal, with numpy alone.

The library in five names (attncli.api; nothing heavy is imported until one is used):
load(spec) -> a Model, whose .run(text) is a Run; compare, patch and generate as the CLI's
commands of those names do them. Errors are attncli.errors' typed errors.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__

__all__ = ["LoadedModel", "Run", "__version__", "compare", "generate", "heads", "load", "patch"]


def __getattr__(name: str) -> Any:  # PEP 562: `import attncli` stays light; the API loads on first use
    if name in __all__ and name != "__version__":
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'attncli' has no attribute {name!r}")
