"""The model's hyperparameters, validated: one dataclass for every supported architecture.

A GPT-2 block is the default; the Llama-style choices (RMSNorm, rotary positions,
grouped-query attention, SwiGLU) and a bidirectional mode are fields of the same config,
so new architectures are new values, not new code paths.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .errors import ModelError

FORMAT_VERSION = 1  # of attncli's own config.json; bump when a field changes meaning

NORMS = ("layernorm", "rmsnorm")
POSITIONS = ("learned", "rotary", "none")
MLPS = ("gelu", "swiglu")
ACTIVATIONS = ("gelu_tanh", "gelu", "silu")


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
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

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
        from .model import param_shapes

        total = 0
        for shape in param_shapes(self).values():
            n = 1
            for d in shape:
                n *= d
            total += n
        return total

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("extra")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "config.json") -> "ModelConfig":
        known = {f.name for f in fields(cls)} - {"extra"}
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
