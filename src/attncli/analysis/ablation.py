"""Ablation: run the model without some heads, to test whether what they attend to matters.

A head is ablated where the forward pass makes it: its output, blocks.L.attn.z[h] (its slice
of every token's contextual vector, before W_O), is replaced for every position, by zeros
("zero") or by its mean over the positions of this input ("mean", which keeps the head's
average contribution and removes only what depends on the token). Everything after it,
later layers included, is computed from the ablated output.
"""

from __future__ import annotations

import re

import numpy as np

from ..config import ModelConfig
from ..errors import UsageError
from ..model import Model
from ..trace import Hook

MODES = ("zero", "mean")
HEAD = re.compile(r"^\s*(-?\d+)\s*\.\s*(-?\d+)\s*$")


def parse_heads(spec: str, config: ModelConfig) -> list[tuple[int, int]]:
    """'1.3,0.2' -> [(0, 2), (1, 3)]: layer.head pairs, negative indices counting from the end."""
    heads = set()
    for part in spec.split(","):
        m = HEAD.match(part)
        if not m:
            raise UsageError(f"--ablate {part.strip()!r} is not a head: give LAYER.HEAD, e.g. 1.3, or several "
                             "separated by commas, e.g. 1.3,0.2")
        L, h = int(m[1]), int(m[2])
        if not -config.n_layer <= L < config.n_layer:
            raise UsageError(f"--ablate {part.strip()}: layer {L} is out of range: this model has {config.n_layer} "
                             f"layers (0 to {config.n_layer - 1})")
        if not -config.n_head <= h < config.n_head:
            raise UsageError(f"--ablate {part.strip()}: head {h} is out of range: this model has {config.n_head} "
                             f"heads per layer (0 to {config.n_head - 1})")
        heads.add((L % config.n_layer, h % config.n_head))
    return sorted(heads)


def ablation_hooks(heads: list[tuple[int, int]], mode: str) -> dict[str, Hook]:
    """Forward hooks on blocks.L.attn.z that zero or mean-ablate the given heads."""
    if mode not in MODES:
        raise UsageError(f"--ablate-mode {mode!r} is not one of {', '.join(MODES)}")
    by_layer: dict[int, list[int]] = {}
    for L, h in heads:
        by_layer.setdefault(L, []).append(h)

    def hook_for(hs: list[int]) -> Hook:
        def hook(z: np.ndarray) -> np.ndarray:  # [H, T, dh]
            z = z.copy()
            for h in hs:
                z[h] = 0.0 if mode == "zero" else z[h].mean(axis=0, keepdims=True)  # [T, dh]
            return z

        return hook

    return {f"blocks.{L}.attn.z": hook_for(hs) for L, hs in by_layer.items()}


def ablate(model: Model, heads: list[tuple[int, int]], mode: str) -> Model:
    """The same weights, with these heads ablated in every forward pass it makes."""
    other = Model(model.config, model.params, model.tokenizer, model.name, model.source, model.card)
    other.hooks = ablation_hooks(heads, mode)
    other.ablation = (heads, mode)
    return other


def describe(heads: list[tuple[int, int]], mode: str) -> str:
    """'ablated: heads 1.3, 0.2 (zeroed)' for every header."""
    how = "zeroed" if mode == "zero" else "replaced by their mean over the positions"
    names = ", ".join(f"{L}.{h}" for L, h in heads)
    return f"ablated: head{'s' if len(heads) > 1 else ''} {names} ({how})"
