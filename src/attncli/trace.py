"""The Trace: every intermediate of a forward pass under one canonical name.

NAMES below is the one table of those names: this docstring's list, `BLOCK_NAMES`,
`expected_shapes` and the recorder the forward pass writes through all come from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .config import ModelConfig

# (name, shape, what it is); T = tokens, d = d_model, H = query heads, Hkv = key/value heads,
# dh = d_head. A name with {L} exists once per block. The order is the order of the lesson.
NAMES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("embed", ("T", "d"), "token embeddings (rows of W_E; times sqrt(d) in models that scale them, Gemma)"),
    ("pos_embed", ("T", "d"), "learned position embeddings (only with positions=learned)"),
    ("type_embed", ("T", "d"), "token type (segment) embeddings, type 0 for every token (BERT)"),
    ("embed_norm", ("T", "d"), "the summed embeddings normed (BERT's embedding LayerNorm): what block 0 reads"),
    ("mask", ("T", "T"), "the causal mask: True where a query may NOT look in any layer (later keys); "
                         "only in causal models"),
    ("blocks.{L}.resid_pre", ("T", "d"), "the residual stream entering block L"),
    ("blocks.{L}.ln1", ("T", "d"), "after the first norm: what Q, K, V are made from (pre-norm blocks; a post-norm "
                                   "block makes them from resid_pre)"),
    ("blocks.{L}.attn.q", ("H", "T", "dh"), "queries as the scores use them (after the Q/K norm and rotary, if any)"),
    ("blocks.{L}.attn.k", ("Hkv", "T", "dh"), "keys as the scores use them (after the Q/K norm and rotary, if any)"),
    ("blocks.{L}.attn.v", ("Hkv", "T", "dh"), "values"),
    ("blocks.{L}.attn.mask", ("T", "T"), "layer L's mask: True where a query may NOT look (later keys, and in a "
                                         "sliding-window layer the keys beyond the window); only in causal models"),
    ("blocks.{L}.attn.scores", ("H", "T", "T"), "q.k / sqrt(dh) (or / sqrt(query_pre_attn_scalar)), masked cells "
                                                "-inf: BEFORE softmax"),
    ("blocks.{L}.attn.weights", ("H", "T", "T"), "softmax of each row of scores: AFTER softmax, rows sum to 1, "
                                                 "masked cells exactly 0"),
    ("blocks.{L}.attn.z", ("H", "T", "dh"), "each head's output, weights @ v: the contextual vectors of that head"),
    ("blocks.{L}.attn.out", ("T", "d"), "all heads concatenated, through W_O (+ b_O)"),
    ("blocks.{L}.ln1_post", ("T", "d"), "attn.out normed again, what joins the residual stream; only with "
                                        "sandwich norms (Gemma 3)"),
    ("blocks.{L}.resid_mid", ("T", "d"), "resid_pre + attn.out (+ ln1_post instead, with sandwich norms)"),
    ("blocks.{L}.ln_mid", ("T", "d"), "resid_mid normed, with the ln1 weights: what the MLP reads and adds to "
                                      "(post-norm blocks, BERT)"),
    ("blocks.{L}.ln2", ("T", "d"), "after the second norm: what the MLP reads (pre-norm blocks)"),
    ("blocks.{L}.mlp.out", ("T", "d"), "the MLP's output"),
    ("blocks.{L}.ln2_post", ("T", "d"), "mlp.out normed again, what joins the residual stream; only with "
                                        "sandwich norms (Gemma 3)"),
    ("blocks.{L}.resid_post", ("T", "d"), "resid_mid + mlp.out (+ ln2_post instead): the block's output (post-norm "
                                          "blocks: ln_mid + mlp.out, the sum ln_out norms)"),
    ("blocks.{L}.ln_out", ("T", "d"), "resid_post normed, with the ln2 weights: the block's output, what the next "
                                      "block reads (post-norm blocks, BERT)"),
    ("ln_final", ("T", "d"), "after the final norm (pre-norm models)"),
    ("mlm.out", ("T", "d"), "BERT's prediction transform of the last vectors (dense, activation, norm)"),
    ("logits", ("T", "vocab"), "next-token logits at every position (masked-LM encoders: the logits of each "
                               "position's own token); absent in a model without a vocabulary head"),
)

BLOCK = "blocks.{L}."
BLOCK_NAMES = tuple(name.removeprefix(BLOCK) for name, _, _ in NAMES if name.startswith(BLOCK))
# Names that only some models have: the masks only when causal, "pos_embed" only with learned
# positions, ln1_post and ln2_post only with sandwich norms, each kind of block its own norms.
def _pre_norm_blocks(c: "ModelConfig") -> bool:
    return c.block_norm == "pre"


def _post_norm_blocks(c: "ModelConfig") -> bool:
    return c.block_norm == "post"


OPTIONAL = {"pos_embed": lambda c: c.positions == "learned", "mask": lambda c: c.causal,
            "type_embed": lambda c: c.type_vocab_size > 0, "embed_norm": lambda c: c.embed_norm,
            "ln_final": _pre_norm_blocks, "blocks.{L}.ln1": _pre_norm_blocks, "blocks.{L}.ln2": _pre_norm_blocks,
            "blocks.{L}.ln_mid": _post_norm_blocks, "blocks.{L}.ln_out": _post_norm_blocks,
            "mlm.out": lambda c: c.head == "mlm", "logits": lambda c: c.head != "none",
            "blocks.{L}.attn.mask": lambda c: c.causal, "blocks.{L}.ln1_post": lambda c: c.sandwich_norms,
            "blocks.{L}.ln2_post": lambda c: c.sandwich_norms}


def _doc() -> str:
    width = max(len(n) for n, _, _ in NAMES) + 2
    lines = [f"    {name:<{width}} [{', '.join(shape)}]  {what}" for name, shape, what in NAMES]
    return "\n".join(lines)


__doc__ = f"""{__doc__}
Names (T = tokens, d = d_model, H = query heads, Hkv = key/value heads, dh = d_head):

{_doc()}

Rows are the token that looks (the query), columns the token looked at (the key).
"""


def has(name: str, config: "ModelConfig") -> bool:
    """Whether a model of this config records `name` (a NAMES entry, {L} unexpanded)."""
    present = OPTIONAL.get(name)
    return present is None or present(config)


def expected_shapes(config: "ModelConfig", n_tokens: int,
                    layers: list[int] | None = None) -> dict[str, tuple[int, ...]]:
    """The documented name -> shape of a trace of `n_tokens` tokens (the contract tests check)."""
    sym = {"T": n_tokens, "d": config.d_model, "H": config.n_head, "Hkv": config.n_kv_head, "dh": config.d_head,
           "vocab": config.vocab_size}
    blocks = range(config.n_layer) if layers is None else layers
    shapes: dict[str, tuple[int, ...]] = {}
    for name, shape, _ in NAMES:
        if not has(name, config):
            continue
        concrete = tuple(sym[s] for s in shape)
        if name.startswith(BLOCK):
            shapes.update({name.replace("{L}", str(L)): concrete for L in blocks})
        else:
            shapes[name] = concrete
    return shapes


def block_name(layer: int, name: str) -> str:
    """'blocks.{layer}.{name}' for a name of BLOCK_NAMES."""
    return f"blocks.{layer}.{name}"


def block_output(config: "ModelConfig", layer: int) -> str:
    """The name of block `layer`'s output, what the next block reads (and the final norm or head, after
    the last): resid_post in a pre-norm block, ln_out in a post-norm one (its resid_post is the sum
    before that norm). Whatever reads a layer's output reads it by this name."""
    return block_name(layer, "ln_out" if config.block_norm == "post" else "resid_post")


Hook = Callable[[np.ndarray], np.ndarray]
Rows = Callable[[slice], np.ndarray]  # a slice of positions -> those rows of an intermediate


class Recorder:
    """Where the forward pass sends each intermediate, by its canonical name.

    The way TransformerLens uses hook points: the maths calls `rec(name, x)` and goes on with
    what it returns, so recording (and, with `hooks`, changing an intermediate: ablation,
    patching) is one call per name and never interleaved with the maths. Block intermediates
    are kept only for the layers in `keep` (all when None): a long input on a deep model then
    holds one layer's T x T matrices, not every layer's.
    """

    def __init__(self, keep: set[int] | None = None, hooks: Mapping[str, Hook] | None = None) -> None:
        self.keep = keep
        self.hooks = dict(hooks or {})
        self.arrays: dict[str, np.ndarray] = {}
        self.lazy: dict[str, Rows] = {}

    def later(self, name: str, rows: "Rows") -> None:
        """Record `name` as a function of the rows (positions) asked for, computed when read: the
        logits of a position nobody reads are never computed. A hooked name is computed now."""
        if name in self.hooks:
            self(name, rows(slice(None)))
        else:
            self.lazy[name] = rows

    def keeps(self, name: str, layer: int | None = None) -> bool:
        """Whether `name` at `layer` is kept in the trace or changed by a hook (then it must be computed whole)."""
        return name in self.hooks or layer is None or self.keep is None or layer in self.keep

    def __call__(self, name: str, x: np.ndarray, layer: int | None = None) -> np.ndarray:
        hook = self.hooks.get(name)
        if hook is not None:
            x = hook(x)
        if layer is None or self.keep is None or layer in self.keep:
            self.arrays[name] = x
        return x


class Trace(Mapping[str, np.ndarray]):
    """A read-only mapping of canonical name -> array, plus the ids it was computed from."""

    def __init__(self, ids: np.ndarray, arrays: dict[str, np.ndarray], config: "ModelConfig",
                 lazy: dict[str, Rows] | None = None) -> None:
        self.ids = ids
        self.config = config
        self._arrays = arrays
        self._lazy = dict(lazy or {})  # names computed when first read (the logits), whole or a row at a time
        self._rows: dict[tuple[str, int], np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._arrays and name in self._lazy:
            self._arrays[name] = self._lazy[name](slice(None))
        try:
            return self._arrays[name]
        except KeyError:
            raise KeyError(f"no intermediate named {name!r} in this trace") from None

    def row(self, name: str, position: int) -> np.ndarray:
        """trace[name][position], computing only that row when the name is lazy and not yet whole
        (Model.predict reads the last position's logits: one row of [T, vocab], not T)."""
        if name in self._arrays or name not in self._lazy:
            return self[name][position]
        T = self.ids.shape[0]
        if not -T <= position < T:
            raise IndexError(f"position {position} is out of range for {T} tokens")
        position %= T
        if (name, position) not in self._rows:
            self._rows[(name, position)] = self._lazy[name](slice(position, position + 1))[0]
        return self._rows[(name, position)]

    def __iter__(self) -> Iterator[str]:
        return iter({**self._arrays, **self._lazy})

    def __len__(self) -> int:
        return len(self._arrays.keys() | self._lazy.keys())

    @property
    def layers(self) -> list[int]:
        """The layers whose intermediates this trace kept."""
        return sorted({int(k.split(".")[1]) for k in self._arrays if k.startswith("blocks.")})

    def block(self, layer: int, name: str) -> np.ndarray:
        return self[block_name(layer, name)]

    @property
    def mask(self) -> np.ndarray:
        """[T, T] bool, True where no layer's query may look (the causal mask); all False for a
        bidirectional model. A layer's own mask, which a sliding window widens, is layer_mask(L)."""
        if "mask" in self._arrays:
            return self._arrays["mask"]
        T = self.ids.shape[0]
        return np.zeros((T, T), dtype=bool)  # [T, T]

    def layer_mask(self, layer: int) -> np.ndarray:
        """[T, T] bool, True where a query of `layer` may not look: the causal mask, and in a
        sliding-window layer the keys beyond its window; all False for a bidirectional model.
        Every reader of one layer's scores or weights takes its mask from here."""
        if not self.config.causal:
            return self.mask
        return self.block(layer, "attn.mask")  # [T, T]
