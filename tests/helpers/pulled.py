"""The real models `attn models pull` fetches, found where a test can use them, or the test skipped saying why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from attncli import registry
from attncli.errors import ModelError

NAME = "gemma3-270m"


def gemma3_path() -> Path:
    if os.environ.get("ATTN_GEMMA3_GGUF"):
        return Path(os.environ["ATTN_GEMMA3_GGUF"])
    if NAME not in registry.KNOWN:
        pytest.skip(f"{NAME} is not a known model yet; set ATTN_GEMMA3_GGUF to its .gguf file to run this")
    try:
        return registry.resolve(NAME)
    except ModelError:
        pytest.skip(f"Gemma 3 270M is not pulled (run: attn models pull {NAME})")
