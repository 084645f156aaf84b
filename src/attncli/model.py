"""A transformer in numpy: forward(params, config, ids) -> Trace, in the steps of the lesson.

1. the text's tokens become embeddings (plus positions);
2. in every block, each embedding gives a query, a key and a value (Q, K, V);
3. each query is compared with every key: scaled dot products, the scores (later keys masked);
4. softmax turns each row of scores into weights;
5. the weighted sum of the values is each token's contextual vector (then W_O, and an MLP);
6. after the last block, a final norm and the unembedding give the next-token logits.

Follows GPT-2 (Radford et al., 2019) by default; the config's other values give Llama-style
blocks (RMSNorm, rotary positions, grouped-query attention, SwiGLU), the variants of Mistral,
Qwen2/3, Gemma 3 and Phi-3 (sliding-window layers, Q/K norms, sandwich norms, scaled
embeddings, rope scaling, partial rotary) and a bidirectional (unmasked) mode through the same
functions, each variant in one place; BERT's post-norm block is a block of its own
(post_norm_block). Every intermediate goes through a Recorder
under its canonical name (trace.NAMES). Weights are stored for `x @ W` (shape [in, out])
under the names of `config.param_shapes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .config import ModelConfig
from .errors import ModelError, UsageError
from .numerics import ACTIVATIONS, apply_rope, layer_norm, rms_norm, rope_angles, softmax
from .tasks import task_of
from .trace import Hook, Recorder, Trace
from .weights import product, take_rows, unembed_chunked

if TYPE_CHECKING:
    from .tokenizer import Token, Tokenizer

Params = dict[str, Any]  # name -> float32 array, or a matrix kept quantized (weights.py)
Rope = tuple[np.ndarray, np.ndarray]  # cos, sin: [T, rope_dims] each


class LayerCache:
    """One block's keys and values of the positions seen so far (after rotary)."""

    def __init__(self) -> None:
        self.k: np.ndarray | None = None  # [Hkv, t, dh]
        self.v: np.ndarray | None = None

    def extend(self, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Append the new positions' k and v ([Hkv, n, dh]) and return every position's."""
        self.k = k if self.k is None else np.concatenate([self.k, k], axis=-2)  # [Hkv, t + n, dh]
        self.v = v if self.v is None else np.concatenate([self.v, v], axis=-2)
        return self.k, self.v


class KVCache:
    """Every block's keys and values of the positions seen so far, for generation (a KV cache): a
    forward pass given one runs only its new tokens, at the positions after the cached ones, their
    queries reading the earlier positions' keys and values instead of recomputing the whole text."""

    def __init__(self, n_layer: int) -> None:
        self.layers = [LayerCache() for _ in range(n_layer)]

    @property
    def length(self) -> int:
        """How many positions are cached: where the next tokens start."""
        k = self.layers[0].k
        return 0 if k is None else k.shape[-2]


class Attend(NamedTuple):
    """What one block's attention may see and how it knows positions (they differ by layer only
    in models with sliding-window layers)."""

    mask: np.ndarray | None  # [T, T] ([n, t + n] with a cache), True where a query may NOT look; None: it sees all
    rope: Rope | None  # the rotary angles of the queries' positions; None without rotary positions
    cache: LayerCache | None = None  # the earlier positions' keys and values, when generating


# ---- the steps -------------------------------------------------------------------------------

def embed(params: Params, config: ModelConfig, ids: np.ndarray, rec: Recorder, start: int = 0) -> np.ndarray:
    """Step 1: each token id becomes its row of W_E (Gemma: times sqrt(d_model)), plus its position's
    row of W_pos (if learned); the ids sit at positions start, start + 1, ..."""
    x = take_rows(params["embed.W_E"], ids)  # [T] -> [T, d]: only these rows, if W_E is kept quantized
    if config.scale_embed:  # rounded to the embedding's dtype first, as transformers does
        x = x * np.asarray(np.sqrt(config.d_model), dtype=x.dtype)  # [T, d]
    x = rec("embed", x)  # [T, d]
    if config.positions == "learned":  # RoBERTa's positions start position_offset rows in
        first = config.position_offset + start
        x = x + rec("pos_embed", params["pos_embed.W_pos"][first:first + ids.shape[0]])  # [T, d]
    if config.type_vocab_size:  # one text: every token is of type 0
        x = x + rec("type_embed", np.broadcast_to(params["type_embed.W_T"][0], x.shape))  # [T, d]
    if config.embed_norm:
        x = rec("embed_norm", norm(params, config, "embed_ln", x))  # [T, d]
    return x  # [T, d]


def positions(start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The n queries' positions start.. as a column [n, 1], every key's 0..start+n-1 as a row [1, start + n]."""
    return np.arange(start, start + n)[:, None], np.arange(start + n)[None, :]


def causal_mask(n: int, start: int = 0) -> np.ndarray:
    """True where a query may NOT look: keys after it. Rows are the n queries at positions start..
    (after `start` cached ones), columns every key."""
    query, key = positions(start, n)
    return key > query  # [n, start + n]


def sliding_window_mask(n: int, window: int, start: int = 0) -> np.ndarray:
    """True where a query may NOT look in a sliding-window layer: keys after it, and keys `window`
    or more positions before it (it sees itself and the window - 1 before). Rows as causal_mask's."""
    query, key = positions(start, n)
    return (key > query) | (key <= query - window)  # [n, start + n]


def rotary(config: ModelConfig, start: int, n: int, theta: float, factors: tuple[float, ...],
           dtype: np.dtype) -> Rope | None:
    """cos and sin for positions start..start+n-1 at base `theta`, frequencies divided by `factors`;
    None without rotary."""
    if config.positions != "rotary":
        return None
    cos, sin = rope_angles(start + n, config.rope_dims, theta, factors)  # [start + n, rope_dims] each
    return cos[start:].astype(dtype), sin[start:].astype(dtype)  # [n, rope_dims] each


def attends(config: ModelConfig, n: int, dtype: np.dtype, rec: Recorder, start: int = 0,
            cache: KVCache | None = None) -> list[Attend]:
    """Each block's mask and rotary angles for n positions after `start` earlier (cached) ones: the
    causal mask (recorded as `mask`) and the rope at rope_theta; sliding layers also hide keys beyond
    the window, and turn at rope_local_theta if set. With a cache, each block's own."""
    causal = rec("mask", causal_mask(n, start)) if config.causal else None  # [n, start + n]
    rope = rotary(config, start, n, config.rope_theta, config.rope_freq_factors, dtype)
    caches: list[LayerCache | None] = [None] * config.n_layer if cache is None else list(cache.layers)
    if not config.sliding_layers:
        return [Attend(causal, rope, c) for c in caches]
    local_rope = rotary(config, start, n, config.rope_local_theta, (), dtype) if config.rope_local_theta else rope
    local = sliding_window_mask(n, config.sliding_window, start)  # [n, start + n]
    return [Attend(local, local_rope, c) if config.is_sliding(L) else Attend(causal, rope, c)
            for L, c in enumerate(caches)]


def norm(params: Params, config: ModelConfig, prefix: str, x: np.ndarray) -> np.ndarray:
    """LayerNorm (GPT-2) or RMSNorm (Llama) over the last axis, with the weights under `prefix`;
    Gemma's RMSNorm scales by (1 + w)."""
    w = params[f"{prefix}.w"]  # [n]
    if config.norm == "rmsnorm":
        if config.norm_plus_one:
            w = w + np.asarray(1.0, dtype=w.dtype)  # [n]
        return rms_norm(x, w, config.norm_eps)  # [..., n]
    return layer_norm(x, w, params[f"{prefix}.b"], config.norm_eps)  # [..., n]


def linear(params: Params, x: np.ndarray, w: str, b: str | None = None) -> np.ndarray:
    """x @ W (+ b when the model has that bias). A batch of sequences ([B, T, in], activation
    patching) is one matrix product over all its rows: numpy would otherwise read W once per sequence."""
    if x.ndim > 2:
        return linear(params, x.reshape(-1, x.shape[-1]), w, b).reshape(*x.shape[:-1], -1)  # [B, T, out]
    y = product(x, params[w])  # [T, in] @ [in, out] -> [T, out]; a W kept quantized multiplies from its blocks
    if b is not None and b in params:
        y = y + params[b]  # [T, out]
    return y


def split_heads(x: np.ndarray, n_heads: int) -> np.ndarray:
    """[..., T, n_heads*dh] -> [..., n_heads, T, dh] (any leading batch axes are kept: activation patching)."""
    return np.swapaxes(x.reshape(*x.shape[:-1], n_heads, -1), -2, -3)


def project_qkv(params: Params, config: ModelConfig, layer: int,
                h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 2: each normed embedding gives a query (what it looks for), a key (what it offers) and a value."""
    a = f"blocks.{layer}.attn"
    q = split_heads(linear(params, h, f"{a}.W_Q", f"{a}.b_Q"), config.n_head)  # [T, d] -> [H, T, dh]
    k = split_heads(linear(params, h, f"{a}.W_K", f"{a}.b_K"), config.n_kv_head)  # [T, d] -> [Hkv, T, dh]
    v = split_heads(linear(params, h, f"{a}.W_V", f"{a}.b_V"), config.n_kv_head)  # [T, d] -> [Hkv, T, dh]
    return q, k, v


def grouped(x: np.ndarray, n_kv: int) -> np.ndarray:
    """Grouped-query attention: each key/value head serves H / Hkv query heads, so the query side
    is viewed as [..., Hkv, group, T, n] and multiplied against the shared k or v broadcast over the
    group: the same products as repeating k and v per query head (bit for bit), without the copies."""
    *lead, H, T, n = x.shape
    return x.reshape(*lead, n_kv, H // n_kv, T, n)  # [..., H, T, n] -> [..., Hkv, group, T, n]


def attention_scores(q: np.ndarray, k: np.ndarray, mask: np.ndarray | None, scale: float | None = None) -> np.ndarray:
    """Step 3: every query dotted with every key, times `scale` (1/sqrt(d_head) unless the model
    says otherwise); -inf where masked. k [Hkv, Tk, dh] may be shared by several query heads."""
    factor = np.asarray(1.0 / np.sqrt(q.shape[-1]) if scale is None else scale, dtype=q.dtype)
    kT = np.swapaxes(k, -1, -2)[..., None, :, :]  # [..., Hkv, 1, dh, Tk]
    # [Hkv, group, T, dh] @ [Hkv, 1, dh, Tk] -> [H, T, Tk]
    scores = (grouped(q, k.shape[-3]) @ kT).reshape(*q.shape[:-1], k.shape[-2])
    scores *= factor
    if mask is not None:
        np.copyto(scores, np.asarray(-np.inf, dtype=scores.dtype), where=mask)  # [H, T, Tk]
    return scores


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None,
              scale: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scaled dot-product attention over heads; returns (scores, weights, z).

    q [H, T, dh]; k, v [Hkv, Tk, dh] shared by H/Hkv query heads each (grouped-query);
    mask [T, Tk] True = hidden. scores are q.k * scale (1/sqrt(dh) by default) with -inf where hidden.
    """
    scores = attention_scores(q, k, mask, scale)  # [H, T, Tk]
    weights = softmax(scores, axis=-1)  # step 4: [H, T, Tk], each row sums to 1
    # step 5: [Hkv, group, T, Tk] @ [Hkv, 1, Tk, dh] -> [Hkv, group, T, dh]
    z = grouped(weights, v.shape[-3]) @ v[..., None, :, :]
    return scores, weights, z.reshape(*q.shape[:-1], v.shape[-1])  # [H, T, dh]


# Past this many score cells (heads x queries x keys) a layer whose scores and weights are not kept
# runs its attention a band of query rows at a time: a 2,000-token text on a 9-head model would
# otherwise hold two [9, 2000, 2000] float32 arrays (288 MB) per layer for nothing.
ATTN_CHUNK_CELLS = 1 << 22


def attention_in_bands(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None,
                       scale: float | None = None) -> np.ndarray:
    """attention()'s z, computed for ATTN_CHUNK_CELLS score cells at a time: each query row's
    softmax and weighted sum only ever need that row, so the bands give the rows' own values."""
    T = q.shape[-2]
    rows = max(1, ATTN_CHUNK_CELLS // max(1, (q.size // (q.shape[-1] * T)) * k.shape[-2]))
    z = np.empty((*q.shape[:-1], v.shape[-1]), dtype=q.dtype)  # [H, T, dh]
    for r0 in range(0, T, rows):
        band = slice(r0, min(T, r0 + rows))
        z[..., band, :] = attention(q[..., band, :], k, v, None if mask is None else mask[band], scale)[2]
    return z


def self_attention(params: Params, config: ModelConfig, layer: int, h: np.ndarray, at: Attend,
                   rec: Recorder) -> np.ndarray:
    """Steps 2 to 5 for every head of one block, then the heads joined through W_O."""
    a = f"blocks.{layer}.attn"
    q, k, v = project_qkv(params, config, layer, h)  # [H, T, dh], [Hkv, T, dh], [Hkv, T, dh]
    if config.qk_norm:  # Qwen3, Gemma 3: each head's query and key RMS-normed on their own
        q = norm(params, config, f"{a}.q_norm", q)  # [H, T, dh]
        k = norm(params, config, f"{a}.k_norm", k)  # [Hkv, T, dh]
    if at.rope is not None:  # rotary positions: q and k are turned by an angle that grows with the position
        q, k = apply_rope(q, *at.rope), apply_rope(k, *at.rope)  # [H, T, dh], [Hkv, T, dh]
    q, k, v = rec(f"{a}.q", q, layer), rec(f"{a}.k", k, layer), rec(f"{a}.v", v, layer)
    if at.cache is not None:  # generating: the new queries attend to every position so far
        k, v = at.cache.extend(k, v)  # [Hkv, t + n, dh] each
    mask = None if at.mask is None else rec(f"{a}.mask", at.mask, layer)  # [T, T]: this layer's
    seen = rec.keeps(f"{a}.scores", layer) or rec.keeps(f"{a}.weights", layer)
    if seen or q.size // q.shape[-1] * k.shape[-2] <= ATTN_CHUNK_CELLS:
        # steps 3 to 5: [H, T, T], [H, T, T], [H, T, dh]
        scores, weights, z = attention(q, k, v, mask, config.attn_scale)
        rec(f"{a}.scores", scores, layer)
        rec(f"{a}.weights", weights, layer)
    else:  # a long text in a layer nobody looks at: the same steps, a band of queries at a time
        z = attention_in_bands(q, k, v, mask, config.attn_scale)  # [H, T, dh]
    z = rec(f"{a}.z", z, layer)  # a hook may change a head's output here (ablation, patching)
    merged = np.swapaxes(z, -2, -3).reshape(*z.shape[:-3], z.shape[-2], -1)  # [H, T, dh] -> [T, H*dh]
    return rec(f"{a}.out", linear(params, merged, f"{a}.W_O", f"{a}.b_O"), layer)  # [T, H*dh] -> [T, d]


def mlp(params: Params, config: ModelConfig, layer: int, h: np.ndarray, rec: Recorder) -> np.ndarray:
    """The block's MLP: act(h W_in) W_out (GPT-2), or the gated (act(h W_gate) * h W_in) W_out
    ("swiglu": SwiGLU with silu as Llama, GeGLU with gelu_tanh as Gemma)."""
    m = f"blocks.{layer}.mlp"
    act = ACTIVATIONS[config.activation]
    if config.mlp == "swiglu":
        hidden = act(linear(params, h, f"{m}.W_gate"))  # [T, d] @ [d, d_mlp] -> [T, d_mlp]
        hidden *= linear(params, h, f"{m}.W_in", f"{m}.b_in")  # [T, d_mlp], gated in place
    else:
        hidden = act(linear(params, h, f"{m}.W_in", f"{m}.b_in"))  # [T, d] -> [T, d_mlp]
    return rec(f"{m}.out", linear(params, hidden, f"{m}.W_out", f"{m}.b_out"), layer)  # [T, d_mlp] -> [T, d]


def sandwich_norm(params: Params, config: ModelConfig, layer: int, name: str, y: np.ndarray,
                  rec: Recorder) -> np.ndarray:
    """What a sublayer adds to the residual stream: its output, normed once more (`name`) in
    models with sandwich norms (Gemma 3), else as it is."""
    if not config.sandwich_norms:
        return y  # [T, d]
    return rec(f"blocks.{layer}.{name}", norm(params, config, f"blocks.{layer}.{name}", y), layer)  # [T, d]


def pre_norm_block(params: Params, config: ModelConfig, layer: int, x: np.ndarray, at: Attend,
                   rec: Recorder) -> np.ndarray:
    """One pre-norm block: x + attention(norm(x)), then x + mlp(norm(x)) (each sublayer's output
    normed again first in sandwich-norm models). Returns resid_post, the block's output."""
    b = f"blocks.{layer}"
    x = rec(f"{b}.resid_pre", x, layer)  # [T, d]
    h = rec(f"{b}.ln1", norm(params, config, f"{b}.ln1", x), layer)  # [T, d]
    a = sandwich_norm(params, config, layer, "ln1_post", self_attention(params, config, layer, h, at, rec), rec)
    x = rec(f"{b}.resid_mid", x + a, layer)  # [T, d]
    h = rec(f"{b}.ln2", norm(params, config, f"{b}.ln2", x), layer)  # [T, d]
    m = sandwich_norm(params, config, layer, "ln2_post", mlp(params, config, layer, h, rec), rec)  # [T, d]
    return rec(f"{b}.resid_post", x + m, layer)  # [T, d]


def post_norm_block(params: Params, config: ModelConfig, layer: int, x: np.ndarray, at: Attend,
                    rec: Recorder) -> np.ndarray:
    """One post-norm block (BERT): attention reads the stream as it is, and each sum is normed after
    it: ln_mid = norm(x + attention(x)) (the ln1 weights), then ln_out = norm(ln_mid + mlp(ln_mid))
    (the ln2 weights). Returns ln_out, the block's output; the resid_* names keep the raw sums."""
    b = f"blocks.{layer}"
    x = rec(f"{b}.resid_pre", x, layer)  # [T, d]
    x = rec(f"{b}.resid_mid", x + self_attention(params, config, layer, x, at, rec), layer)  # [T, d]
    h = rec(f"{b}.ln_mid", norm(params, config, f"{b}.ln1", x), layer)  # [T, d]
    x = rec(f"{b}.resid_post", h + mlp(params, config, layer, h, rec), layer)  # [T, d]
    return rec(f"{b}.ln_out", norm(params, config, f"{b}.ln2", x), layer)  # [T, d]


BLOCKS = {"pre": pre_norm_block, "post": post_norm_block}  # config.block_norm -> its block


def block(params: Params, config: ModelConfig, layer: int, x: np.ndarray, at: Attend, rec: Recorder) -> np.ndarray:
    """Block `layer` on the stream x entering it ([..., T, d]): its output, what the next block reads."""
    return BLOCKS[config.block_norm](params, config, layer, x, at, rec)  # [..., T, d]


def unembed(params: Params, config: ModelConfig, h: np.ndarray) -> np.ndarray:
    """Step 6: the final vectors against every vocabulary entry (tied: W_E's transpose), a chunk of
    the vocabulary at a time (weights.unembed_chunked), plus a bias where the model has one (BERT's
    masked-LM decoder)."""
    if config.tied_embeddings:
        logits = unembed_chunked(h, params["embed.W_E"], transposed=False)  # [T, d] @ [d, V] -> [T, V]
    else:
        logits = unembed_chunked(h, params["unembed.W_U"], transposed=True)  # [T, d] @ [d, V] -> [T, V]
    if "unembed.b" in params:
        logits = logits + params["unembed.b"]  # [T, V]
    return logits


def final(params: Params, config: ModelConfig, x: np.ndarray, rec: Recorder) -> np.ndarray:
    """What the unembedding reads: the final norm of a pre-norm stream; a post-norm stream as it
    is; then, for a masked-LM head, BERT's transform (dense, activation, LayerNorm)."""
    h = rec("ln_final", norm(params, config, "ln_final", x)) if config.block_norm == "pre" else x  # [T, d]
    if config.head == "mlm":
        t = ACTIVATIONS[config.activation](linear(params, h, "mlm.W", "mlm.b"))  # [T, d] -> [T, d]
        h = rec("mlm.out", norm(params, config, "mlm.ln", t))  # [T, d]
    return h


def chain_hooks(first: dict[str, Hook] | None, then: dict[str, Hook] | None) -> dict[str, Hook] | None:
    """Two sets of hooks as one: where both change a name, `first` runs, then `then`."""
    if not first or not then:
        return then or first or None
    out = dict(first)
    for name, hook in then.items():
        out[name] = (lambda a, b: lambda x: b(a(x)))(first[name], hook) if name in first else hook
    return out


def check_ids(ids: np.ndarray | Sequence[int], config: ModelConfig, start: int = 0) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64)  # [T]
    if ids.ndim != 1 or ids.shape[0] == 0:
        raise UsageError("forward needs a non-empty 1-D sequence of token ids")
    if ids.min() < 0 or ids.max() >= config.vocab_size:
        raise UsageError(f"token ids must be in 0..{config.vocab_size - 1}; got {int(ids.min())}..{int(ids.max())}")
    if config.positions == "learned" and start + ids.shape[0] > config.n_ctx:
        if start:
            raise UsageError(f"position {start + ids.shape[0] - 1} is past this model's context of {config.n_ctx}")
        raise UsageError(f"{ids.shape[0]} tokens is more than this model's context of {config.n_ctx}; "
                         "shorten the input")
    return ids


def forward(params: Params, config: ModelConfig, ids: np.ndarray | Sequence[int], layers: list[int] | None = None,
            hooks: dict[str, Hook] | None = None, cache: KVCache | None = None) -> Trace:
    """Run the model on token ids and return the Trace of every intermediate.

    `layers` limits which blocks' intermediates are kept (all by default). `hooks` maps a
    canonical name to a function that may replace that intermediate as the pass goes on.
    With a `cache`, the ids are the tokens after the cached positions: only they go through the
    model (the same numbers a pass over the whole text gives them), their queries reading the
    cached keys and values, which they extend; the trace holds the new positions, and a layer's
    scores, weights and mask cover every key ([H, n, cached + n]).
    """
    start = 0 if cache is None else cache.length
    ids = check_ids(ids, config, start)  # [T]
    rec = Recorder(None if layers is None else set(layers), hooks)
    x = embed(params, config, ids, rec, start)  # step 1: [T, d]
    at = attends(config, ids.shape[0], x.dtype, rec, start, cache)  # per block: what it may see (causal: not ahead)
    for L in range(config.n_layer):
        x = block(params, config, L, x, at[L], rec)  # steps 2 to 5, once per block: [T, d]
    if config.head != "none":  # a sentence encoder stops at the last block's vectors
        h = final(params, config, x, rec)  # [T, d]
        rec.later("logits", lambda rows: unembed(params, config, h[rows]))  # step 6: [T, V], the rows read
    return Trace(ids, rec.arrays, config, rec.lazy)


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
    if not np.isfinite(logits).all():  # weights near float32's limit overflow: no probability means anything
        raise ModelError("the model's logits overflow float32 (inf or NaN) on this text: its weights are too large "
                         "to compute with; the file is damaged or was not made for float32")
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
        self.hooks: dict[str, Hook] = {}  # applied in every forward pass (an ablation)
        self.ablation: tuple[list[tuple[int, int]], str] | None = None  # (heads, mode), for every header
        self.memory: Any = None  # a GGUF loader's MemoryPlan: how the weights are kept, for `attn info`
        self.warnings: list[str] = []  # what the loader accepted but a user should hear of (the CLI says it)
        self.task = task_of(config)  # next-token LM, masked LM or sentence encoder: chosen once, asked everywhere

    def forward(self, ids: np.ndarray | Sequence[int], layers: list[int] | None = None,
                hooks: dict[str, Hook] | None = None, cache: KVCache | None = None) -> Trace:
        """forward() with this model's hooks (an ablation applies while generating too)."""
        return forward(self.params, self.config, ids, layers, chain_hooks(self.hooks, hooks), cache)

    def new_cache(self) -> KVCache:
        return KVCache(self.config.n_layer)

    def encode(self, text: str, truncate: bool = False) -> tuple[list["Token"], bool]:
        """Tokens of `text` that fit the context, inside the tokenizer's special-token template (BOS;
        an encoder's [CLS] ... [SEP]); (tokens, whether the start of the text was cut off)."""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError("the text is not valid UTF-8; convert it, e.g. with iconv -t UTF-8") from None
        limit = self.config.n_ctx - self.tokenizer.n_special  # BOS, [CLS], [SEP] take places of the context
        n, exact = self.tokenizer.count(text, limit)  # before any label: a text far too long is not read through
        if n > limit and not truncate:
            raise UsageError(
                f"the text is {'' if exact else 'more than '}{n:,} tokens long; this model reads at most {limit}. "
                f"Shorten it, or pass --truncate to keep the last {limit} tokens"
            )
        return self.tokenizer.with_specials(self.tokenizer.encode(text, last=limit)), n > limit

    def predict(self, trace: Trace, k: int, position: int = -1) -> list[Prediction]:
        return [
            Prediction(rank=r + 1, id=i, token=self.tokenizer.id_to_token(i), text=self.tokenizer.display(i),
                       probability=p, logit=lg)
            for r, (i, p, lg) in enumerate(top_k(trace.row("logits", position), k))
        ]

