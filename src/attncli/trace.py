"""The Trace: every intermediate of a forward pass under one canonical name.

Names (T = tokens, d = d_model, H = query heads, Hkv = key/value heads, dh = d_head):

    embed                      [T, d]      token embeddings (rows of W_E)
    pos_embed                  [T, d]      learned position embeddings (only with positions=learned)
    blocks.{L}.resid_pre       [T, d]      the residual stream entering block L
    blocks.{L}.ln1             [T, d]      after the first norm: what Q, K, V are made from
    blocks.{L}.attn.q          [H, T, dh]  queries (after rotary, if any)
    blocks.{L}.attn.k          [Hkv, T, dh] keys (after rotary, if any)
    blocks.{L}.attn.v          [Hkv, T, dh] values
    blocks.{L}.attn.scores     [H, T, T]   q.k / sqrt(dh), masked cells -inf: BEFORE softmax
    blocks.{L}.attn.weights    [H, T, T]   softmax of each row of scores: AFTER softmax,
                                           rows sum to 1, masked cells exactly 0
    blocks.{L}.attn.z          [H, T, dh]  each head's output, weights @ v: the contextual
                                           vectors of that head
    blocks.{L}.attn.out        [T, d]      all heads concatenated, through W_O (+ b_O)
    blocks.{L}.resid_mid       [T, d]      resid_pre + attn.out
    blocks.{L}.ln2             [T, d]      after the second norm
    blocks.{L}.mlp.out         [T, d]      the MLP's output
    blocks.{L}.resid_post      [T, d]      resid_mid + mlp.out: the block's output
    ln_final                   [T, d]      after the final norm
    logits                     [T, vocab]  next-token logits at every position

Rows are the token that looks (the query), columns the token looked at (the key).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from .config import ModelConfig

BLOCK_NAMES = (
    "resid_pre",
    "ln1",
    "attn.q",
    "attn.k",
    "attn.v",
    "attn.scores",
    "attn.weights",
    "attn.z",
    "attn.out",
    "resid_mid",
    "ln2",
    "mlp.out",
    "resid_post",
)


def expected_shapes(config: ModelConfig, n_tokens: int, layers: list[int] | None = None) -> dict[str, tuple[int, ...]]:
    """The documented name -> shape of a trace of `n_tokens` tokens (the contract tests check)."""
    T, d, H, Hkv, dh = n_tokens, config.d_model, config.n_head, config.n_kv_head, config.d_head
    shapes: dict[str, tuple[int, ...]] = {"embed": (T, d)}
    if config.positions == "learned":
        shapes["pos_embed"] = (T, d)
    per_block = {
        "resid_pre": (T, d),
        "ln1": (T, d),
        "attn.q": (H, T, dh),
        "attn.k": (Hkv, T, dh),
        "attn.v": (Hkv, T, dh),
        "attn.scores": (H, T, T),
        "attn.weights": (H, T, T),
        "attn.z": (H, T, dh),
        "attn.out": (T, d),
        "resid_mid": (T, d),
        "ln2": (T, d),
        "mlp.out": (T, d),
        "resid_post": (T, d),
    }
    for L in range(config.n_layer) if layers is None else layers:
        for name, shape in per_block.items():
            shapes[f"blocks.{L}.{name}"] = shape
    shapes["ln_final"] = (T, d)
    shapes["logits"] = (T, config.vocab_size)
    return shapes


class Trace(Mapping[str, np.ndarray]):
    """A read-only mapping of canonical name -> array, plus the ids it was computed from."""

    def __init__(self, ids: np.ndarray, arrays: dict[str, np.ndarray], config: ModelConfig) -> None:
        self.ids = ids
        self.config = config
        self._arrays = arrays

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self._arrays[name]
        except KeyError:
            raise KeyError(f"no intermediate named {name!r} in this trace") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)

    @property
    def layers(self) -> list[int]:
        """The layers whose intermediates this trace kept."""
        return sorted({int(k.split(".")[1]) for k in self._arrays if k.startswith("blocks.")})

    def block(self, layer: int, name: str) -> np.ndarray:
        return self[f"blocks.{layer}.{name}"]
