"""The model's hyperparameters, validated: one dataclass for every supported architecture.

A GPT-2 block is the default; the Llama-style choices (RMSNorm, rotary positions,
grouped-query attention, SwiGLU), the variants of Mistral, Qwen2/3, Gemma 3 and Phi-3
(sliding windows, Q/K norms, sandwich norms, scaled embeddings, rope scaling, partial
rotary) and a bidirectional mode are fields of the same config, so new architectures are
new values, not new code paths.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import Field, asdict, dataclass, field, fields
from typing import Any

from .errors import ModelError
from .numerics import ACTIVATIONS

# attncli's own config.json: version 1 holds the fields up to `architecture`; every later field says
# the version that introduced it (`since`, below): 2 the family variants, 3 the encoders' (BERT), 4 the
# renamed fields of RENAMED (whose old names still read). A model is saved as the lowest version that can
# state it, so an attncli that predates a field refuses the file instead of ignoring the field and
# computing wrong numbers. FORMAT_VERSION and the versions read and written all derive from the fields'
# `since` (after the class).

NORMS = ("layernorm", "rmsnorm")
POSITIONS = ("learned", "rotary", "none")
MLPS = ("gelu", "swiglu")
HEADS = ("lm", "mlm", "none")
BLOCK_NORMS = ("pre", "post")


def since(version: int, default: Any) -> Any:
    """A config field added in format `version` (after 1), with its default: what an older file means."""
    return field(default=default, metadata={"since": version})


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    n_layer: int
    n_head: int
    d_model: int
    n_ctx: int  # the longest input the position embeddings (or training) cover
    d_mlp: int = 0  # 0 means 4 * d_model, GPT-2's ratio
    n_kv_head: int = 0  # 0 means n_head (plain multi-head); fewer means grouped-query
    d_head: int = 0  # 0 means d_model // n_head
    norm: str = "layernorm"
    norm_eps: float = 1e-5  # GPT-2 and Llama both use 1e-5
    positions: str = "learned"
    rope_theta: float = 10000.0
    mlp: str = "gelu"
    activation: str = "gelu_tanh"  # GPT-2 uses the tanh approximation of GELU
    attn_bias: bool = True  # GPT-2 has biases on Q, K, V and the output; Llama has none
    mlp_bias: bool = True
    tied_embeddings: bool = True  # the unembedding is the token embedding's transpose
    causal: bool = True  # False: every token sees every other (a bidirectional encoder)
    architecture: str = "gpt2"
    # ---- format version 2: the variants of the families attncli reads (all off: a GPT-2 or Llama block)
    attn_out_bias: bool | None = since(2, None)  # W_O's bias; None means as attn_bias. Qwen2: Q, K, V's but not W_O's
    qk_norm: bool = since(2, False)  # Qwen3, Gemma 3: each head's q and k RMS-normed ([d_head] gains) before rotary
    norm_plus_one: bool = since(2, False)  # Gemma stores RMSNorm gains as w and scales by (1 + w), its Q/K norms too
    # Gemma 3's "sandwich" norms: attention's and the MLP's outputs are normed again (ln1_post, ln2_post)
    # before they join the residual stream (version 2 called it post_norms: see RENAMED)
    sandwich_norms: bool = since(4, False)
    scale_embed: bool = since(2, False)  # Gemma multiplies token embeddings by sqrt(d_model), in their dtype
    query_pre_attn_scalar: float = since(2, 0.0)  # 0 means d_head: scores are q.k / sqrt(this); Gemma 3 sets it
    rope_dims: int = since(2, 0)  # 0 means d_head; Phi-3 rotates only the first rope_dims of each head, the rest pass
    # one divisor per rotary frequency of the layers that use rope_theta: Llama 3's "llama3" rope
    # scaling, linear scaling, or a GGUF's rope_freqs.weight; empty for none
    rope_freq_factors: tuple[float, ...] = since(2, ())
    sliding_window: int = since(2, 0)  # 0: none; W: the sliding_layers see only the last W keys (themselves included)
    sliding_layers: tuple[int, ...] = since(2, ())  # Mistral and Phi-3: every layer; Gemma 3: five of every six
    rope_local_theta: float = since(2, 0.0)  # 0 means rope_theta; Gemma 3's sliding layers turn at their own base
    #                                          (10k against the global layers' 1M), unscaled
    # ---- format version 3: encoders (BERT, DistilBERT, RoBERTa); all off: a pre-norm decoder
    # where a block's norms sit: "pre", before each sublayer (x + attn(norm(x)): GPT-2, Llama); "post", after
    # each sum (BERT: norm(x + attn(x)), then norm(. + mlp(.))), so the stream leaves the last block normed
    # and there is no final norm (version 3's post_norm true: see RENAMED)
    block_norm: str = since(4, "pre")
    embed_norm: bool = since(3, False)  # a LayerNorm (embed_ln) over the summed embeddings before block 0
    type_vocab_size: int = since(3, 0)  # BERT's token type (segment) embeddings; every token of one text is type 0
    position_offset: int = since(3, 0)  # RoBERTa numbers positions from padding_idx + 1, so position t reads row t + 2
    head: str = since(3, "lm")  # what turns the last vectors into vocabulary logits: "lm", the final norm and the
    #                             unembedding (next token); "mlm", BERT's transform (dense, activation, LayerNorm)
    #                             then the unembedding plus a bias (the token at each position); "none", a sentence
    #                             encoder

    def __post_init__(self) -> None:
        # Resolve the 0 = "derive it" defaults once so the rest of the code never guesses.
        if self.d_mlp == 0:
            object.__setattr__(self, "d_mlp", 4 * self.d_model)
        if self.n_kv_head == 0:
            object.__setattr__(self, "n_kv_head", self.n_head)
        if self.d_head == 0:
            object.__setattr__(self, "d_head", head_size(self.d_model, self.n_head, "config"))
        if self.attn_out_bias is None:
            object.__setattr__(self, "attn_out_bias", self.attn_bias)
        if self.query_pre_attn_scalar == 0:
            object.__setattr__(self, "query_pre_attn_scalar", float(self.d_head))
        if self.rope_dims == 0:
            object.__setattr__(self, "rope_dims", self.d_head)
        for name in ("rope_freq_factors", "sliding_layers"):  # a JSON list, kept as a hashable tuple
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        self.validate()

    def validate(self) -> None:
        for name in ("vocab_size", "n_layer", "n_head", "d_model", "n_ctx", "d_mlp", "n_kv_head", "d_head"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ModelError(f"config: {name} must be a positive integer, got {value!r}")
        if self.n_head % self.n_kv_head:
            raise ModelError(f"config: n_head ({self.n_head}) must be a multiple of n_kv_head ({self.n_kv_head})")
        if self.positions == "rotary" and self.d_head % 2:
            raise ModelError(f"config: rotary positions need an even d_head, got {self.d_head}")
        for name, allowed in (("norm", NORMS), ("positions", POSITIONS), ("mlp", MLPS), ("activation", ACTIVATIONS),
                              ("head", HEADS), ("block_norm", BLOCK_NORMS)):
            if getattr(self, name) not in allowed:
                raise ModelError(f"config: {name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        for name in ("norm_eps", "rope_theta"):  # NaN and infinity run, and mean nothing: refused too
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ModelError(f"config: {name} must be a positive number, got {value!r}")
        self.validate_variants()

    def validate_variants(self) -> None:
        """The format-2 fields: each in range, and only where the block has what it changes."""
        if not (math.isfinite(self.query_pre_attn_scalar) and self.query_pre_attn_scalar > 0):
            raise ModelError(f"config: query_pre_attn_scalar must be positive, got {self.query_pre_attn_scalar!r}")
        if self.norm != "rmsnorm" and (self.norm_plus_one or self.qk_norm):
            raise ModelError("config: norm_plus_one and qk_norm are RMSNorm variants; they need norm rmsnorm")
        if not (isinstance(self.rope_dims, int) and 0 < self.rope_dims <= self.d_head and self.rope_dims % 2 == 0):
            raise ModelError(f"config: rope_dims must be an even number from 2 to d_head ({self.d_head}), "
                             f"got {self.rope_dims!r}")
        factors = self.rope_freq_factors
        if factors and (len(factors) != self.rope_dims // 2
                        or not all(isinstance(f, (int, float)) and math.isfinite(f) and f > 0 for f in factors)):
            raise ModelError(f"config: rope_freq_factors must be {self.rope_dims // 2} positive numbers "
                             f"(one per rotary frequency), got {len(factors)}")
        if (factors or self.rope_local_theta) and self.positions != "rotary":
            raise ModelError("config: rope_freq_factors and rope_local_theta need rotary positions")
        if not (isinstance(self.sliding_window, int) and self.sliding_window >= 0):
            raise ModelError(f"config: sliding_window must be 0 or a positive integer, got {self.sliding_window!r}")
        layers = self.sliding_layers
        if not all(isinstance(L, int) and not isinstance(L, bool) for L in layers) \
                or list(layers) != sorted(set(layers)) \
                or (layers and not 0 <= layers[0] <= layers[-1] < self.n_layer):
            raise ModelError(f"config: sliding_layers must be distinct layer indices from 0 to {self.n_layer - 1}, "
                             f"in order; got {list(layers)}")
        if bool(layers) != bool(self.sliding_window):
            raise ModelError("config: sliding_window and sliding_layers go together: a window needs the layers it "
                             "applies to, and sliding layers need a window")
        if layers and not self.causal:
            raise ModelError("config: a sliding window limits how far back a causal model looks; it needs causal true")
        if not (math.isfinite(self.rope_local_theta) and self.rope_local_theta >= 0):
            raise ModelError(f"config: rope_local_theta must be 0 or positive, got {self.rope_local_theta!r}")
        if self.rope_local_theta and not layers:
            raise ModelError("config: rope_local_theta is the sliding layers' rotary base; it needs sliding_layers")
        self.validate_encoder()

    def validate_encoder(self) -> None:
        """The format-3 fields."""
        if self.head not in HEADS:
            raise ModelError(f"config: head must be one of {', '.join(HEADS)}, got {self.head!r}")
        for name in ("type_vocab_size", "position_offset"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ModelError(f"config: {name} must be 0 or a positive integer, got {value!r}")
        if self.position_offset and self.positions != "learned":
            raise ModelError("config: position_offset shifts learned position embeddings; it needs positions learned")
        if (self.block_norm == "post" or self.embed_norm or self.head == "mlm") and self.norm != "layernorm":
            raise ModelError("config: block_norm post, embed_norm and the mlm head are LayerNorms; they need norm "
                             "layernorm")
        if self.block_norm == "post" and (self.sandwich_norms or self.sliding_layers):
            raise ModelError("config: post-norm blocks (block_norm post) have no sandwich norms or sliding windows")

    @property
    def attn_scale(self) -> float:
        """What q.k is multiplied by to give the scores: 1/sqrt(query_pre_attn_scalar), i.e. 1/sqrt(d_head)
        unless set."""
        return 1.0 / math.sqrt(self.query_pre_attn_scalar)

    def is_sliding(self, layer: int) -> bool:
        """Whether `layer` sees only the last sliding_window keys (and turns at rope_local_theta if set)."""
        return layer in self.sliding_layers

    @property
    def format_version(self) -> int:
        """The lowest version of attncli's config.json that states this config: the latest `since` of
        the fields whose value is not their default (what an older file means without them), else 1."""
        derived = {"attn_out_bias": self.attn_bias, "query_pre_attn_scalar": float(self.d_head),
                   "rope_dims": self.d_head}
        used = [f.name for f in fields(self) if getattr(self, f.name) != derived.get(f.name, f.default)]
        return max((FIELD_VERSIONS[name] for name in used), default=1)

    @property
    def is_encoder(self) -> bool:
        """Every token sees every other: a bidirectional encoder (BERT), not a next-token model."""
        return not self.causal

    @property
    def n_params(self) -> int:
        total = 0
        for shape in param_shapes(self).values():
            n = 1
            for d in shape:
                n *= d
            total += n
        return total

    def to_dict(self) -> dict[str, Any]:
        """The fields of `format_version` (a version-1 config leaves the later fields out, and so on)."""
        version = self.format_version
        d = {k: v for k, v in asdict(self).items() if FIELD_VERSIONS[k] <= version}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "config.json", version: int | None = None) -> "ModelConfig":
        """The config a dict of fields states; `version`, the format version of the file it comes from
        (FORMAT_VERSION when None), must be new enough for every field in it."""
        missing = [n for n in ("vocab_size", "n_layer", "n_head", "d_model", "n_ctx") if n not in d]
        if missing:
            raise ModelError(f"{source}: missing {', '.join(missing)}; add them or re-export the model")
        version = FORMAT_VERSION if version is None else version
        versions = FIELD_VERSIONS | {old: added for old, (added, _, _) in RENAMED.items()}
        later = sorted((versions[k], k) for k in d if versions.get(k, 1) > version)
        if later:  # an attncli of that version would ignore the field: the file cannot be what it says
            needs, name = later[0]
            raise ModelError(f"{source}: {name} needs format_version {needs}, but the file says {version}; "
                             "fix the version")
        d = dict(d)
        for old, (_, new, value) in RENAMED.items():
            if old not in d:
                continue
            if new in d:
                raise ModelError(f"{source}: {old} is the older name of {new}; give {new} only")
            if not isinstance(d[old], bool):
                raise ModelError(f"{source}: {old} must be true or false, got {d[old]!r}")
            d[new] = value(d.pop(old))
        kwargs = {k: v for k, v in d.items() if k in FIELD_VERSIONS}
        types = {f.name: str(f.type) for f in fields(cls)}  # annotations are strings (from __future__ import)
        for k, v in kwargs.items():
            if not _is(types[k], v):
                raise ModelError(f"{source}: {k} must be {NOUNS[types[k]]}, got {v!r}")
        try:
            return cls(**kwargs)
        except ModelError as e:  # say which file the bad value is in
            raise ModelError(f"{source}: {str(e).removeprefix('config: ')}") from None


def field_version(f: Field[Any]) -> int:
    """The format version that introduced a config field: its `since`; version 1's fields have none."""
    return int(f.metadata.get("since", 1))


FIELD_VERSIONS = {f.name: field_version(f) for f in fields(ModelConfig)}  # name -> the version that added it
# Fields that format 4 renamed, so that BERT's post-norm blocks and Gemma 3's sandwich norms cannot be confused:
# old name -> (the version that added it, the new name, the new value of an old one). Files written with the
# old names (the bundled masked-LM model's among them) read as they always did; the new names are written.
RENAMED: dict[str, tuple[int, str, Callable[[bool], Any]]] = {
    "post_norm": (3, "block_norm", lambda on: "post" if on else "pre"),
    "post_norms": (2, "sandwich_norms", lambda on: on),
}
FORMAT_VERSION = max(FIELD_VERSIONS.values())  # the newest version this attncli writes
READABLE_VERSIONS = tuple(range(1, FORMAT_VERSION + 1))


def head_size(d_model: Any, n_head: Any, source: str, names: tuple[str, str] = ("d_model", "n_head"),
              fix: str = "restore it") -> int:
    """The size of each head where a config does not state it: d_model / n_head, which must divide evenly
    (transformers and llama.cpp give every head an equal share of the width; a remainder would belong to
    no head). 0 for sizes that are not positive integers, which the config's own checks then refuse."""
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (d_model, n_head)):
        return 0
    if d_model % n_head:
        raise ModelError(f"{source}: {names[0]} {d_model} is not divisible by {names[1]} {n_head}: {n_head} heads "
                         f"cannot share {d_model} dimensions equally; {fix}")
    return d_model // n_head



NOUNS = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
         "bool | None": "true, false or null", "tuple[float, ...]": "a list of numbers",
         "tuple[int, ...]": "a list of integers"}


def _is(kind: str, v: Any) -> bool:
    """Whether a JSON value `v` is of the field type `kind` (a string: this module's annotations are)."""
    def integer(x: Any) -> bool:
        return isinstance(x, int) and not isinstance(x, bool)

    def number(x: Any) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    return {
        "int": integer(v), "float": number(v), "str": isinstance(v, str), "bool": isinstance(v, bool),
        "bool | None": v is None or isinstance(v, bool),
        "tuple[float, ...]": isinstance(v, (list, tuple)) and all(number(x) for x in v),
        "tuple[int, ...]": isinstance(v, (list, tuple)) and all(integer(x) for x in v),
    }.get(kind, True)


def param_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every weight the config implies, name -> shape; the loaders check files against this.

    Matrices are [in, out], applied as x @ W.
    """
    d, V, dh = config.d_model, config.vocab_size, config.d_head
    qd, kvd, m = config.n_head * dh, config.n_kv_head * dh, config.d_mlp
    shapes: dict[str, tuple[int, ...]] = {"embed.W_E": (V, d)}
    if config.positions == "learned":
        shapes["pos_embed.W_pos"] = (config.n_ctx + config.position_offset, d)
    if config.type_vocab_size:
        shapes["type_embed.W_T"] = (config.type_vocab_size, d)

    def norm(prefix: str) -> None:
        shapes[f"{prefix}.w"] = (d,)
        if config.norm == "layernorm":
            shapes[f"{prefix}.b"] = (d,)

    if config.embed_norm:
        norm("embed_ln")

    for L in range(config.n_layer):
        b = f"blocks.{L}"
        norm(f"{b}.ln1")
        shapes[f"{b}.attn.W_Q"] = (d, qd)
        shapes[f"{b}.attn.W_K"] = (d, kvd)
        shapes[f"{b}.attn.W_V"] = (d, kvd)
        shapes[f"{b}.attn.W_O"] = (qd, d)
        if config.attn_bias:
            shapes[f"{b}.attn.b_Q"] = (qd,)
            shapes[f"{b}.attn.b_K"] = (kvd,)
            shapes[f"{b}.attn.b_V"] = (kvd,)
        if config.attn_out_bias:
            shapes[f"{b}.attn.b_O"] = (d,)
        if config.qk_norm:  # one gain per head dimension, shared by the heads
            shapes[f"{b}.attn.q_norm.w"] = (dh,)
            shapes[f"{b}.attn.k_norm.w"] = (dh,)
        if config.sandwich_norms:
            norm(f"{b}.ln1_post")
        norm(f"{b}.ln2")
        shapes[f"{b}.mlp.W_in"] = (d, m)
        if config.mlp == "swiglu":
            shapes[f"{b}.mlp.W_gate"] = (d, m)
        shapes[f"{b}.mlp.W_out"] = (m, d)
        if config.mlp_bias:
            shapes[f"{b}.mlp.b_in"] = (m,)
            shapes[f"{b}.mlp.b_out"] = (d,)
        if config.sandwich_norms:
            norm(f"{b}.ln2_post")
    if config.block_norm == "pre":  # a post-norm stream leaves the last block normed already
        norm("ln_final")
    if config.head == "mlm":  # BERT's prediction transform before the unembedding, and its bias
        shapes["mlm.W"] = (d, d)
        shapes["mlm.b"] = (d,)
        norm("mlm.ln")
        shapes["unembed.b"] = (V,)
    if config.head != "none" and not config.tied_embeddings:
        shapes["unembed.W_U"] = (d, V)
    return shapes
