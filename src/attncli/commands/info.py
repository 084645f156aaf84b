"""`attn info`: the model card."""

from __future__ import annotations

from typing import Optional

from .common import ColorOpt, JsonOpt, MaxMemoryOpt, ModelOpt, emit_json, load_model, show


def info(model_spec: Optional[str] = ModelOpt, max_memory: Optional[int] = MaxMemoryOpt, as_json: bool = JsonOpt,
         color: str = ColorOpt) -> None:
    """Print the model card: architecture, parameters, vocabulary, context, and where the weights came from."""
    from ..render import json_doc

    model = load_model(model_spec, max_memory=max_memory)
    if as_json:
        emit_json(json_doc.info_doc(model))
        return
    from ..render import table as rt

    show(rt.info_table(model, json_doc.model_info(model)))
