"""The model's hyperparameters, validated: one dataclass for every supported architecture.

A GPT-2 block is the default; the Llama-style choices (RMSNorm, rotary positions,
grouped-query attention, SwiGLU) and a bidirectional mode are fields of the same config,
so new architectures are new values, not new code paths.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import ModelError
from .numerics import ACTIVATIONS

FORMAT_VERSION = 1  # of attncli's own config.json; bump when a field changes meaning

NORMS = ("layernorm", "rmsnorm")
POSITIONS = ("learned", "rotary", "none")
MLPS = ("gelu", "swiglu")


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

    def __post_init__(self) -> None:
        # Resolve the 0 = "derive it" defaults once so the rest of the code never guesses.
        if self.d_mlp == 0:
            object.__setattr__(self, "d_mlp", 4 * self.d_model)
        if self.n_kv_head == 0:
            object.__setattr__(self, "n_kv_head", self.n_head)
        if self.d_head == 0 and self.n_head > 0:
            object.__setattr__(self, "d_head", self.d_model // self.n_head)
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
        for name, allowed in (("norm", NORMS), ("positions", POSITIONS), ("mlp", MLPS), ("activation", ACTIVATIONS)):
            if getattr(self, name) not in allowed:
                raise ModelError(f"config: {name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if not self.norm_eps > 0:
            raise ModelError(f"config: norm_eps must be positive, got {self.norm_eps!r}")
        if not self.rope_theta > 0:
            raise ModelError(f"config: rope_theta must be positive, got {self.rope_theta!r}")

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
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "config.json") -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        missing = [n for n in ("vocab_size", "n_layer", "n_head", "d_model", "n_ctx") if n not in d]
        if missing:
            raise ModelError(f"{source}: missing {', '.join(missing)}; add them or re-export the model")
        kwargs = {k: v for k, v in d.items() if k in known}
        types = {f.name: f.type for f in fields(cls)}
        for k, v in kwargs.items():
            want = types[k]
            ok = {
                "int": isinstance(v, int) and not isinstance(v, bool),
                "float": isinstance(v, (int, float)) and not isinstance(v, bool),
                "str": isinstance(v, str),
                "bool": isinstance(v, bool),
            }.get(want, True)
            if not ok:
                noun = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false"}[want]
                raise ModelError(f"{source}: {k} must be {noun}, got {v!r}")
        try:
            return cls(**kwargs)
        except ModelError as e:  # say which file the bad value is in
            raise ModelError(f"{source}: {str(e).removeprefix('config: ')}") from None


def param_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every weight the config implies, name -> shape; the loaders check files against this.

    Matrices are [in, out], applied as x @ W.
    """
    d, V, dh = config.d_model, config.vocab_size, config.d_head
    qd, kvd, m = config.n_head * dh, config.n_kv_head * dh, config.d_mlp
    shapes: dict[str, tuple[int, ...]] = {"embed.W_E": (V, d)}
    if config.positions == "learned":
        shapes["pos_embed.W_pos"] = (config.n_ctx, d)

    def norm(prefix: str) -> None:
        shapes[f"{prefix}.w"] = (d,)
        if config.norm == "layernorm":
            shapes[f"{prefix}.b"] = (d,)

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
            shapes[f"{b}.attn.b_O"] = (d,)
        norm(f"{b}.ln2")
        shapes[f"{b}.mlp.W_in"] = (d, m)
        if config.mlp == "swiglu":
            shapes[f"{b}.mlp.W_gate"] = (d, m)
        shapes[f"{b}.mlp.W_out"] = (m, d)
        if config.mlp_bias:
            shapes[f"{b}.mlp.b_in"] = (m,)
            shapes[f"{b}.mlp.b_out"] = (d,)
    norm("ln_final")
    if not config.tied_embeddings:
        shapes["unembed.W_U"] = (d, V)
    return shapes
