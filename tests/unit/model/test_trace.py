"""The trace: every name the trace module's docstring documents, with its documented shape.

The names and shapes are parsed from `attncli.trace.__doc__`, so the docs and the code
cannot drift apart without this file failing.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import attncli.trace as trace_module
from attncli.config import ModelConfig
from attncli.model import forward
from attncli.trace import BLOCK_NAMES, block_output, expected_shapes

# "    blocks.{L}.attn.q          [H, T, dh]  queries ..."
DOC_LINE = re.compile(r"^    ([a-z_]+(?:\.\{L\})?(?:\.[a-z_0-9]+)*)\s+\[([^\]]+)\]", re.MULTILINE)


def documented() -> dict[str, tuple[str, ...]]:
    """name -> shape symbols, e.g. 'blocks.{L}.attn.q' -> ('H', 'T', 'dh')."""
    return {m.group(1): tuple(s.strip() for s in m.group(2).split(",")) for m in DOC_LINE.finditer(trace_module.__doc__)}


def test_docstring_parses_into_the_names_we_expect():
    # Guards the parser itself: if it found nothing, every test below would pass vacuously.
    names = documented()
    assert len(names) == 26  # with a post-norm block's own two: ln_mid and ln_out
    for name in ("embed", "pos_embed", "blocks.{L}.attn.scores", "blocks.{L}.attn.weights", "blocks.{L}.attn.z", "logits"):
        assert name in names
    assert names["blocks.{L}.attn.k"] == ("Hkv", "T", "dh")
    assert names["logits"] == ("T", "vocab")


def expand(config: ModelConfig, T: int, layers) -> dict[str, tuple[int, ...]]:
    """The documented names and shapes, made concrete for one config and input length."""
    sym = {"T": T, "d": config.d_model, "H": config.n_head, "Hkv": config.n_kv_head, "dh": config.d_head,
           "vocab": config.vocab_size}
    out = {}
    for name, shape in documented().items():
        if name == "pos_embed" and config.positions != "learned":
            continue  # documented as absent without learned positions
        if name in ("mask", "blocks.{L}.attn.mask") and not config.causal:
            continue  # documented as absent in a bidirectional model
        if name in ("blocks.{L}.ln1_post", "blocks.{L}.ln2_post") and not config.sandwich_norms:
            continue  # documented as present only with sandwich norms
        if (name == "type_embed" and not config.type_vocab_size) or (name == "embed_norm" and not config.embed_norm):
            continue  # documented as present only in encoders that have them (BERT)
        if name in ("ln_final", "blocks.{L}.ln1", "blocks.{L}.ln2") and config.block_norm == "post":
            continue  # documented: a post-norm block has its own norms (ln_mid, ln_out) and no final norm
        if name in ("blocks.{L}.ln_mid", "blocks.{L}.ln_out") and config.block_norm == "pre":
            continue  # documented as present only in post-norm blocks
        if (name == "mlm.out" and config.head != "mlm") or (name == "logits" and config.head == "none"):
            continue  # documented: the heads differ
        concrete = tuple(sym[s] for s in shape)
        if "{L}" in name:
            for L in layers:
                out[name.replace("{L}", str(L))] = concrete
        else:
            out[name] = concrete
    return out


CONFIGS = {
    "gpt2": dict(n_layer=2, n_head=2, d_model=8),
    "llama-gqa": dict(n_layer=3, n_head=4, n_kv_head=2, d_model=8, d_head=6, norm="rmsnorm", positions="rotary",
                      mlp="swiglu", activation="silu", attn_bias=False, mlp_bias=False, tied_embeddings=False),
    "encoder-nopos": dict(n_layer=1, n_head=1, d_model=4, positions="none", causal=False),
    "bert-mlm": dict(n_layer=2, n_head=2, d_model=8, causal=False, block_norm="post", embed_norm=True, type_vocab_size=2,
                     activation="gelu", head="mlm"),
    "roberta-nohead": dict(n_layer=1, n_head=2, d_model=8, causal=False, block_norm="post", embed_norm=True,
                           position_offset=2, head="none"),
}


@pytest.fixture(params=sorted(CONFIGS))
def config(request):
    return ModelConfig(vocab_size=13, n_ctx=16, **CONFIGS[request.param])


@pytest.mark.parametrize("T", [1, 5])
def test_every_documented_name_has_its_documented_shape(config, make_params, T):
    trace = forward(make_params(config), config, list(range(T)))
    want = expand(config, T, range(config.n_layer))
    assert set(trace) == set(want)
    for name, shape in want.items():
        assert trace[name].shape == shape, name
        assert not np.isnan(trace[name]).any(), name
    assert trace.layers == list(range(config.n_layer))
    assert trace.ids.tolist() == list(range(T))


def test_expected_shapes_and_block_names_match_the_docstring(config):
    assert expected_shapes(config, 4) == expand(config, 4, range(config.n_layer))
    assert expected_shapes(config, 4, layers=[0]) == expand(config, 4, [0])
    assert tuple(n.removeprefix("blocks.{L}.") for n in documented() if n.startswith("blocks.")) == BLOCK_NAMES


def test_layers_keeps_only_that_block(make_params):
    config = ModelConfig(vocab_size=13, n_ctx=16, n_layer=3, n_head=2, d_model=8)
    params = make_params(config)
    ids = [3, 1, 4, 1, 5]
    full = forward(params, config, ids)
    one = forward(params, config, ids, layers=[1])
    assert one.layers == [1]
    assert set(one) == set(expand(config, 5, [1]))
    assert not any(k.startswith(("blocks.0.", "blocks.2.")) for k in one)
    for name in one:  # what is kept is the same computation, not a shortened one
        np.testing.assert_array_equal(one[name], full[name], err_msg=name)
    assert forward(params, config, ids, layers=[]).layers == []
    with pytest.raises(KeyError, match="blocks.0.attn.weights"):
        one["blocks.0.attn.weights"]


def test_names_mean_what_the_docstring_says(make_params):
    """The documented relations between names, checked on a real forward pass."""
    config = ModelConfig(vocab_size=13, n_ctx=16, n_layer=2, n_head=2, d_model=8)
    params = make_params(config, dtype=np.float64)
    ids = [2, 7, 7, 0]
    t = forward(params, config, ids)
    np.testing.assert_array_equal(t["embed"], params["embed.W_E"][ids])  # rows of W_E
    np.testing.assert_array_equal(t["pos_embed"], params["pos_embed.W_pos"][:4])
    np.testing.assert_array_equal(t["mask"], np.triu(np.ones((4, 4), bool), 1))  # True = a later key, hidden
    np.testing.assert_array_equal(t.mask, t["mask"])
    np.testing.assert_allclose(t["blocks.0.resid_pre"], t["embed"] + t["pos_embed"])
    for L in range(2):
        b = lambda n: t[f"blocks.{L}.{n}"]  # noqa: E731
        p = lambda n: params[f"blocks.{L}.{n}"]  # noqa: E731
        # ln1 is what Q, K, V are made from, and is the norm of resid_pre
        np.testing.assert_allclose(b("ln1"), _layer_norm(b("resid_pre"), p("ln1.w"), p("ln1.b")))
        for name, H in (("q", 2), ("k", 2), ("v", 2)):
            made = (b("ln1") @ p(f"attn.W_{name.upper()}") + p(f"attn.b_{name.upper()}")).reshape(4, H, config.d_head).transpose(1, 0, 2)
            np.testing.assert_allclose(b(f"attn.{name}"), made)
        np.testing.assert_allclose(b("ln2"), _layer_norm(b("resid_mid"), p("ln2.w"), p("ln2.b")))
        hidden = b("ln2") @ p("mlp.W_in") + p("mlp.b_in")
        gelu = 0.5 * hidden * (1 + np.tanh(np.sqrt(2 / np.pi) * (hidden + 0.044715 * hidden**3)))
        np.testing.assert_allclose(b("mlp.out"), gelu @ p("mlp.W_out") + p("mlp.b_out"))
        np.testing.assert_allclose(b("resid_mid"), b("resid_pre") + b("attn.out"))
        np.testing.assert_allclose(b("resid_post"), b("resid_mid") + b("mlp.out"))
        scores, weights = b("attn.scores"), b("attn.weights")
        future = np.triu(np.ones((4, 4), bool), 1)
        assert np.isneginf(scores[:, future]).all() and (weights[:, future] == 0).all()
        np.testing.assert_allclose(weights.sum(-1), 1.0)
        np.testing.assert_allclose(b("attn.z"), weights @ b("attn.v"))  # weights @ v
        # scores are q.k / sqrt(dh) BEFORE softmax
        qk = b("attn.q") @ b("attn.k").transpose(0, 2, 1) / np.sqrt(config.d_head)
        np.testing.assert_allclose(scores[:, ~future], qk[:, ~future])
        # attn.out: heads concatenated through W_O + b_O
        merged = np.concatenate(list(b("attn.z")), axis=-1)  # [T, H*dh]
        np.testing.assert_allclose(b("attn.out"), merged @ params[f"blocks.{L}.attn.W_O"] + params[f"blocks.{L}.attn.b_O"])
    np.testing.assert_allclose(t["blocks.1.resid_pre"], t["blocks.0.resid_post"])
    np.testing.assert_allclose(t["ln_final"], _layer_norm(t["blocks.1.resid_post"], params["ln_final.w"], params["ln_final.b"]))
    np.testing.assert_allclose(t["logits"], t["ln_final"] @ params["embed.W_E"].T)  # tied unembedding


def test_a_post_norm_block_keeps_the_raw_sums_as_resid_and_names_its_normed_values(make_params):
    """BERT's block: resid_mid and resid_post are the raw sums, as in every block; ln_mid and ln_out their
    norms (the ln1 and ln2 weights); ln_out is the block's output, what the next block and the head read."""
    config = ModelConfig(vocab_size=13, n_ctx=16, n_layer=2, n_head=2, d_model=8, causal=False, block_norm="post",
                         head="mlm", embed_norm=True)
    params = make_params(config, dtype=np.float64)
    t = forward(params, config, [2, 7, 7, 0])
    eps = config.norm_eps
    for L in range(2):
        b = lambda n: t[f"blocks.{L}.{n}"]  # noqa: E731
        p = lambda n: params[f"blocks.{L}.{n}"]  # noqa: E731
        assert f"blocks.{L}.ln1" not in t and f"blocks.{L}.ln2" not in t  # a pre-norm block's names only
        made = b("resid_pre") @ p("attn.W_Q") + p("attn.b_Q")  # attention reads the stream as it is
        np.testing.assert_allclose(b("attn.q"), made.reshape(4, 2, config.d_head).transpose(1, 0, 2))
        np.testing.assert_allclose(b("resid_mid"), b("resid_pre") + b("attn.out"))
        np.testing.assert_allclose(b("ln_mid"), _layer_norm(b("resid_mid"), p("ln1.w"), p("ln1.b"), eps))
        np.testing.assert_allclose(b("resid_post"), b("ln_mid") + b("mlp.out"))
        np.testing.assert_allclose(b("ln_out"), _layer_norm(b("resid_post"), p("ln2.w"), p("ln2.b"), eps))
        assert block_output(config, L) == f"blocks.{L}.ln_out"
    np.testing.assert_allclose(t["blocks.1.resid_pre"], t["blocks.0.ln_out"])
    assert "ln_final" not in t  # the head reads ln_out as it is
    h = t["blocks.1.ln_out"] @ params["mlm.W"] + params["mlm.b"]
    h = 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * h**3)))
    np.testing.assert_allclose(t["mlm.out"], _layer_norm(h, params["mlm.ln.w"], params["mlm.ln.b"], eps))
    assert block_output(ModelConfig(vocab_size=13, n_ctx=16, n_layer=2, n_head=2, d_model=8), 1) == "blocks.1.resid_post"


def _layer_norm(x, w, b, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def test_a_bidirectional_trace_has_no_mask_and_hides_nothing(make_params):
    config = ModelConfig(vocab_size=13, n_ctx=16, n_layer=1, n_head=2, d_model=8, causal=False)
    t = forward(make_params(config), config, [1, 2, 3])
    assert "mask" not in t
    assert not t.mask.any() and t.mask.shape == (3, 3)
    assert (t["blocks.0.attn.weights"] > 0).all()  # every query sees every key
