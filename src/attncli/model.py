"""A transformer in numpy: forward(params, config, ids) -> Trace, in the steps of the lesson.

1. the text's tokens become embeddings (plus positions);
2. in every block, each embedding gives a query, a key and a value (Q, K, V);
3. each query is compared with every key: scaled dot products, the scores (later keys masked);
4. softmax turns each row of scores into weights;
5. the weighted sum of the values is each token's contextual vector (then W_O, and an MLP);
6. after the last block, a final norm and the unembedding give the next-token logits.

Follows GPT-2 (Radford et al., 2019) by default; the config's other values give Llama-style
blocks (RMSNorm, rotary positions, grouped-query attention, SwiGLU) and a bidirectional
(unmasked) mode through the same functions. Every intermediate goes through a Recorder
under its canonical name (trace.NAMES). Weights are stored for `x @ W` (shape [in, out])
under the names of `config.param_shapes`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .config import ModelConfig
from .errors import UsageError
from .numerics import ACTIVATIONS, apply_rope, layer_norm, rms_norm, rope_angles, softmax
from .trace import Hook, Recorder, Trace

if TYPE_CHECKING:
    from .tokenizer import Token, Tokenizer

Params = dict[str, np.ndarray]
Rope = tuple[np.ndarray, np.ndarray]  # cos, sin: [T, dh] each


# ---- the steps -------------------------------------------------------------------------------

def embed(params: Params, config: ModelConfig, ids: np.ndarray, rec: Recorder) -> np.ndarray:
    """Step 1: each token id becomes its row of W_E, plus its position's row of W_pos (if learned)."""
    x = rec("embed", params["embed.W_E"][ids])  # [T] -> [T, d]
    if config.positions == "learned":
        x = x + rec("pos_embed", params["pos_embed.W_pos"][: ids.shape[0]])  # [T, d]
    return x  # [T, d]


def causal_mask(n: int) -> np.ndarray:
    """True where a query may NOT look: keys after it."""
    return np.triu(np.ones((n, n), dtype=bool), k=1)  # [T, T]


def norm(params: Params, config: ModelConfig, prefix: str, x: np.ndarray) -> np.ndarray:
    """LayerNorm (GPT-2) or RMSNorm (Llama) with the weights under `prefix`."""
    if config.norm == "rmsnorm":
        return rms_norm(x, params[f"{prefix}.w"], config.norm_eps)  # [T, d]
    return layer_norm(x, params[f"{prefix}.w"], params[f"{prefix}.b"], config.norm_eps)  # [T, d]


def linear(params: Params, x: np.ndarray, w: str, b: str | None = None) -> np.ndarray:
    """x @ W (+ b when the model has that bias)."""
    y = x @ params[w]  # [T, in] @ [in, out] -> [T, out]
    if b is not None and b in params:
        y = y + params[b]  # [T, out]
    return y


def split_heads(x: np.ndarray, n_heads: int) -> np.ndarray:
    T = x.shape[0]
    return x.reshape(T, n_heads, -1).transpose(1, 0, 2)  # [T, n_heads*dh] -> [n_heads, T, dh]


def project_qkv(params: Params, config: ModelConfig, layer: int, h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 2: each normed embedding gives a query (what it looks for), a key (what it offers) and a value."""
    a = f"blocks.{layer}.attn"
    q = split_heads(linear(params, h, f"{a}.W_Q", f"{a}.b_Q"), config.n_head)  # [T, d] -> [H, T, dh]
    k = split_heads(linear(params, h, f"{a}.W_K", f"{a}.b_K"), config.n_kv_head)  # [T, d] -> [Hkv, T, dh]
    v = split_heads(linear(params, h, f"{a}.W_V", f"{a}.b_V"), config.n_kv_head)  # [T, d] -> [Hkv, T, dh]
    return q, k, v


def share_kv(k: np.ndarray, n_head: int) -> np.ndarray:
    """Grouped-query attention: each key/value head serves n_head / Hkv query heads."""
    group = n_head // k.shape[0]
    return np.repeat(k, group, axis=0) if group > 1 else k  # [Hkv, T, dh] -> [H, T, dh]


def attention_scores(q: np.ndarray, k: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Step 3: every query dotted with every key, divided by sqrt(d_head); -inf where masked."""
    scale = np.asarray(1.0 / np.sqrt(q.shape[-1]), dtype=q.dtype)
    scores = (q @ k.transpose(0, 2, 1)) * scale  # [H, T, dh] @ [H, dh, T] -> [H, T, T]
    if mask is not None:
        scores = np.where(mask, np.asarray(-np.inf, dtype=scores.dtype), scores)  # [H, T, T]
    return scores


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scaled dot-product attention over heads; returns (scores, weights, z).

    q [H, T, dh]; k, v [Hkv, T, dh] shared by H/Hkv query heads each (grouped-query);
    mask [T, T] True = hidden. scores are q.k/sqrt(dh) with -inf where hidden.
    """
    k, v = share_kv(k, q.shape[0]), share_kv(v, q.shape[0])  # [H, T, dh] each
    scores = attention_scores(q, k, mask)  # [H, T, T]
    weights = softmax(scores, axis=-1)  # step 4: [H, T, T], each row sums to 1
    z = weights @ v  # step 5: [H, T, T] @ [H, T, dh] -> [H, T, dh]
    return scores, weights, z


def self_attention(params: Params, config: ModelConfig, layer: int, h: np.ndarray, mask: np.ndarray | None,
                   rope: Rope | None, rec: Recorder) -> np.ndarray:
    """Steps 2 to 5 for every head of one block, then the heads joined through W_O."""
    a = f"blocks.{layer}.attn"
    q, k, v = project_qkv(params, config, layer, h)  # [H, T, dh], [Hkv, T, dh], [Hkv, T, dh]
    if rope is not None:  # rotary positions: q and k are turned by an angle that grows with the position
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)  # [H, T, dh], [Hkv, T, dh]
    q, k, v = rec(f"{a}.q", q, layer), rec(f"{a}.k", k, layer), rec(f"{a}.v", v, layer)
    scores, weights, z = attention(q, k, v, mask)  # steps 3 to 5: [H, T, T], [H, T, T], [H, T, dh]
    rec(f"{a}.scores", scores, layer)
    rec(f"{a}.weights", weights, layer)
    z = rec(f"{a}.z", z, layer)  # a hook may change a head's output here (ablation, patching)
    merged = z.transpose(1, 0, 2).reshape(z.shape[1], -1)  # [H, T, dh] -> [T, H*dh]
    return rec(f"{a}.out", linear(params, merged, f"{a}.W_O", f"{a}.b_O"), layer)  # [T, H*dh] -> [T, d]


def mlp(params: Params, config: ModelConfig, layer: int, h: np.ndarray, rec: Recorder) -> np.ndarray:
    """The block's MLP: GELU(h W_in) W_out (GPT-2), or (act(h W_gate) * h W_in) W_out (SwiGLU)."""
    m = f"blocks.{layer}.mlp"
    act = ACTIVATIONS[config.activation]
    if config.mlp == "swiglu":
        gate = act(h @ params[f"{m}.W_gate"])  # [T, d] @ [d, d_mlp] -> [T, d_mlp]
        hidden = gate * linear(params, h, f"{m}.W_in", f"{m}.b_in")  # [T, d_mlp]
    else:
        hidden = act(linear(params, h, f"{m}.W_in", f"{m}.b_in"))  # [T, d] -> [T, d_mlp]
    return rec(f"{m}.out", linear(params, hidden, f"{m}.W_out", f"{m}.b_out"), layer)  # [T, d_mlp] -> [T, d]


def block(params: Params, config: ModelConfig, layer: int, x: np.ndarray, mask: np.ndarray | None,
          rope: Rope | None, rec: Recorder) -> np.ndarray:
    """One pre-norm block: x + attention(norm(x)), then x + mlp(norm(x))."""
    b = f"blocks.{layer}"
    x = rec(f"{b}.resid_pre", x, layer)  # [T, d]
    h = rec(f"{b}.ln1", norm(params, config, f"{b}.ln1", x), layer)  # [T, d]
    x = rec(f"{b}.resid_mid", x + self_attention(params, config, layer, h, mask, rope, rec), layer)  # [T, d]
    h = rec(f"{b}.ln2", norm(params, config, f"{b}.ln2", x), layer)  # [T, d]
    return rec(f"{b}.resid_post", x + mlp(params, config, layer, h, rec), layer)  # [T, d]


def unembed(params: Params, config: ModelConfig, h: np.ndarray) -> np.ndarray:
    """Step 6: the final vectors against every vocabulary entry (tied: W_E's transpose)."""
    W_U = params["embed.W_E"].T if config.tied_embeddings else params["unembed.W_U"]  # [d, V]
    return h @ W_U  # [T, d] @ [d, V] -> [T, V]


def check_ids(ids: np.ndarray | list[int], config: ModelConfig) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64)  # [T]
    if ids.ndim != 1 or ids.shape[0] == 0:
        raise UsageError("forward needs a non-empty 1-D sequence of token ids")
    if ids.min() < 0 or ids.max() >= config.vocab_size:
        raise UsageError(f"token ids must be in 0..{config.vocab_size - 1}; got {int(ids.min())}..{int(ids.max())}")
    if config.positions == "learned" and ids.shape[0] > config.n_ctx:
        raise UsageError(f"{ids.shape[0]} tokens is more than this model's context of {config.n_ctx}; shorten the input")
    return ids


def forward(params: Params, config: ModelConfig, ids: np.ndarray | list[int], layers: list[int] | None = None,
            hooks: dict[str, Hook] | None = None) -> Trace:
    """Run the model on token ids and return the Trace of every intermediate.

    `layers` limits which blocks' intermediates are kept (all by default). `hooks` maps a
    canonical name to a function that may replace that intermediate as the pass goes on.
    """
    ids = check_ids(ids, config)  # [T]
    T = ids.shape[0]
    rec = Recorder(None if layers is None else set(layers), hooks)
    x = embed(params, config, ids, rec)  # step 1: [T, d]
    mask = rec("mask", causal_mask(T)) if config.causal else None  # [T, T]: a causal model may not look ahead
    rope = None
    if config.positions == "rotary":
        cos, sin = rope_angles(T, config.d_head, config.rope_theta)  # [T, dh] each
        rope = (cos.astype(x.dtype), sin.astype(x.dtype))
    for L in range(config.n_layer):
        x = block(params, config, L, x, mask, rope, rec)  # steps 2 to 5, once per block: [T, d]
    h = rec("ln_final", norm(params, config, "ln_final", x))  # [T, d]
    rec("logits", unembed(params, config, h))  # step 6: [T, V]
    return Trace(ids, rec.arrays, config)


# ---- predictions and the loaded model ----------------------------------------------------------

class Prediction(NamedTuple):
    rank: int
    id: int
    token: str  # the vocabulary entry
    text: str  # what it reads as (byte-level markers made spaces)
    probability: float
    logit: float


def top_k(logits: np.ndarray, k: int) -> list[tuple[int, float, float]]:
    """(id, probability, logit) of the k most likely next tokens, best first; ties by id."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    probs = softmax(logits.astype(np.float64))  # [V]
    k = min(k, probs.shape[0])
    order = np.lexsort((np.arange(probs.shape[0]), -probs))[:k]
    return [(int(i), float(probs[i]), float(logits[i])) for i in order]


class Model:
    """Weights, config and tokenizer, loaded and validated: what every command runs on."""

    def __init__(self, config: ModelConfig, params: Params, tokenizer: "Tokenizer", name: str, source: str,
                 card: dict[str, Any] | None = None) -> None:
        self.config = config
        self.params = params
        self.tokenizer = tokenizer
        self.name = name
        self.source = source  # where it was loaded from
        self.card = card if card is not None else {}  # provenance for `attn info`

    def forward(self, ids: np.ndarray | list[int], layers: list[int] | None = None,
                hooks: dict[str, Hook] | None = None) -> Trace:
        return forward(self.params, self.config, ids, layers, hooks)

    def encode(self, text: str, truncate: bool = False) -> tuple[list["Token"], bool]:
        """Tokens of `text` that fit the context; (tokens, whether the start was cut off)."""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError("the text is not valid UTF-8; convert it, e.g. with iconv -t UTF-8") from None
        tokens = self.tokenizer.encode(text)
        limit = self.config.n_ctx
        if len(tokens) <= limit:
            return tokens, False
        if not truncate:
            raise UsageError(
                f"the text is {len(tokens)} tokens long; this model reads at most {limit}. "
                f"Shorten it, or pass --truncate to keep the last {limit} tokens"
            )
        kept = tokens[-limit:]  # the first kept token has no piece before it any more
        return [t._replace(index=i, continues=t.continues and i > 0) for i, t in enumerate(kept)], True

    def predict(self, trace: Trace, k: int, position: int = -1) -> list[Prediction]:
        return [
            Prediction(rank=r + 1, id=i, token=self.tokenizer.id_to_token(i), text=self.tokenizer.display(i), probability=p, logit=lg)
            for r, (i, p, lg) in enumerate(top_k(trace["logits"][position], k))
        ]

