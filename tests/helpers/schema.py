"""The JSON output schema, and the one validator every test checks attn's documents with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def schema() -> dict[str, Any]:
    """output.schema.json as the attncli under test ships it."""
    import attncli

    path = Path(attncli.__file__).parent / "schemas" / "output.schema.json"
    return json.loads(path.read_text(encoding="utf-8"))


def validate(doc: Any) -> None:
    """Raise jsonschema's ValidationError unless `doc` is valid against the schema (draft 2020-12)."""
    from jsonschema import Draft202012Validator

    Draft202012Validator(schema()).validate(doc)
