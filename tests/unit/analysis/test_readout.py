"""The one way in to the weights (attncli.readout), crossed with every way a weight is kept: a float32
array, and a GGUF matrix kept quantized in place (float16, Q8_0 and Q5_0, the K-quants; the unembedding
tied or apart). DLA, activation patching and the logit lens on a model kept in place give what the same
model gives in float32, within float32 rounding (issue 18: --dla and patch crashed on Gemma 3 270M, whose
tied embedding is kept quantized); a token's direction dequantizes one row of the vocabulary, not all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attncli import readout
from attncli.analysis.dla import DLA, direct_logit_attribution
from attncli.analysis.lens import logit_lens
from attncli.analysis.patching import Metric, Patching, patch
from attncli.checkpoints import gguf, load
from attncli.model import Model
from attncli.numerics import layer_norm
from helpers import synthetic_gguf
from helpers.known_models import float32_copy
from helpers.run_cli import attn, ok
from helpers.synthetic_gguf import SMALL

KINDS = {
    "q8-q5-tied": (True, {"embed": "Q8_0", "attn": "Q5_0"}),
    "kquants-untied": (False, {}),  # synthetic_gguf's defaults: Q4_K and Q6_K, W_U apart from W_E
    "f16-tied": (True, {role: "F16" for role in ("embed", "attn", "attn_v", "ffn", "ffn_down")}),
}
CLEAN, CORRUPT = [3, 77, 12, 999, 0, 5, 5], [3, 78, 12, 999, 0, 5, 5]



@pytest.fixture(scope="module", params=sorted(KINDS))
def synthetic(request, tmp_path_factory) -> Path:
    tied, kinds = KINDS[request.param]
    return synthetic_gguf.write(tmp_path_factory.mktemp("m") / "m.gguf", tied=tied, kinds=kinds, **SMALL)


@pytest.fixture(scope="module")
def pair(synthetic: Path) -> tuple[Model, Model]:
    in_place = gguf.load(synthetic, max_memory=1)
    assert in_place.memory.path == "quantized in place"
    kept = {name for name, w in in_place.params.items() if not isinstance(w, np.ndarray)}
    assert {"embed.W_E", "blocks.1.attn.W_O"} <= kept  # the vocabulary and the heads' W_O stay quantized
    return in_place, float32_copy(in_place)


def assert_close(got: np.ndarray | float, want: np.ndarray | float, scale: float, what: str) -> None:
    """Within float32 rounding of a computation whose values are about `scale`: the products of a
    matrix kept in place come from its blocks, the float32 model's from BLAS (products.py's bound)."""
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * scale, err_msg=what)


def test_a_token_direction_is_the_unembedding_column(pair):
    in_place, f32 = pair
    c = f32.config
    W_U = f32.params["embed.W_E"].T if c.tied_embeddings else f32.params["unembed.W_U"]  # [d, V]
    for token in (0, 7, c.vocab_size - 1):
        np.testing.assert_array_equal(readout.token_direction(in_place, token), W_U[:, token].astype(np.float64))
        np.testing.assert_array_equal(readout.token_direction(f32, token), W_U[:, token].astype(np.float64))
    trace = f32.forward(CLEAN)  # a token's logit is what the unembedding reads, dotted with its direction
    direction, bias = readout.logit_direction(f32, 7, 9)
    got = readout.head_input(f32, trace["blocks.1.resid_post"][-1:]).astype(np.float64) @ direction + bias
    assert_close(got[0], trace["logits"][-1, 7] - trace["logits"][-1, 9], float(np.abs(trace["logits"]).max()),
                 "logit difference")


def test_a_frozen_norm_is_the_norm_at_its_input_and_linear(pair, bundled_model):
    """RMSNorm (the GGUF's final norm) and LayerNorm (the bundled GPT-2's), each at an input from a real run."""
    f32 = pair[1]
    x = f32.forward(CLEAN)["blocks.1.resid_post"][-1]  # [d]
    y = bundled_model.forward([5, 6, 7])["blocks.1.resid_mid"][-1]  # [d]
    for model, prefix, u in ((f32, "ln_final", x), (bundled_model, "blocks.1.ln2", y)):
        frozen = readout.frozen_norm(model, prefix, u)
        w = readout.weight(model, f"{prefix}.w")
        b = readout.weight(model, f"{prefix}.b")
        u64 = u.astype(np.float64)
        if b is None:  # RMSNorm
            want = u64 / np.sqrt((u64 * u64).mean() + model.config.norm_eps) * w
        else:
            want = layer_norm(u64, w, b, model.config.norm_eps)
        np.testing.assert_allclose(frozen.map(u64) + frozen.constant, want, rtol=1e-12, atol=1e-12)
        a, v = np.random.default_rng(0).standard_normal((2, u.shape[0]))
        np.testing.assert_allclose(frozen.map(a + v), frozen.map(a) + frozen.map(v), rtol=1e-12, atol=1e-12)


def test_dla_on_a_model_kept_in_place_is_the_float32_model_s(pair):
    in_place, f32 = pair
    tq, tf = in_place.forward(CLEAN), f32.forward(CLEAN)
    scale = float(np.abs(tf["logits"][-1]).max())
    got: DLA = direct_logit_attribution(in_place, tq, 6, 12, 13)
    want: DLA = direct_logit_attribution(f32, tf, 6, 12, 13)
    for field in ("heads", "mlps", "embed", "biases", "total", "logit"):
        assert_close(getattr(got, field), getattr(want, field), scale, field)
    assert abs(got.total - got.logit) < 1e-4 * scale  # the parts add up to the model's own logit difference


def test_the_lens_on_a_model_kept_in_place_is_the_float32_model_s(pair):
    in_place, f32 = pair
    got = logit_lens(in_place, in_place.forward(CLEAN), 6, k=5)
    want = logit_lens(f32, f32.forward(CLEAN), 6, k=5)
    assert got.target == want.target and len(got.rows) == len(want.rows) == 3
    for a, b in zip(got.rows, want.rows, strict=True):
        assert a.name == b.name and a.target_rank == b.target_rank
        assert_close(a.target_probability, b.target_probability, 1.0, a.name)
        assert_close([p for _, p in a.top], [p for _, p in b.top], 1.0, a.name)


def test_patching_on_a_model_kept_in_place_is_the_float32_model_s(pair):
    in_place, f32 = pair
    got: Patching = patch(in_place, CLEAN, CORRUPT)
    want: Patching = patch(f32, CLEAN, CORRUPT)
    assert (got.target, got.contrast, got.pairs) == (want.target, want.contrast, want.pairs)
    scale = max(abs(want.clean_diff), abs(want.corrupt_diff))
    assert_close(got.clean_diff, want.clean_diff, scale, "clean")
    assert_close(got.corrupt_diff, want.corrupt_diff, scale, "corrupt")
    assert_close(got.resid_diff, want.resid_diff, scale, "resid_diff")
    span = abs(want.clean_diff - want.corrupt_diff)  # the restored fractions are differences over this span
    assert_close(got.heads, want.heads, scale / span, "heads")


def test_dla_and_the_patching_metric_read_two_rows_of_the_vocabulary_not_the_table(synthetic):
    """On the float32 path a matrix dequantized whole keeps its float32 copy: DLA's target and contrast, and
    patching's metric, dequantized the whole [V, d] vocabulary for two of its rows (and kept 4·V·d bytes)."""
    model = gguf.load(synthetic)
    assert model.memory.path == "float32"
    vocabulary = model.params["embed.W_E" if model.config.tied_embeddings else "unembed.W_U"]
    trace = model.forward(CLEAN)
    direct_logit_attribution(model, trace, 6, 12, 13)
    Metric(model, 12, 13)(trace["blocks.1.resid_post"][None, -1:])
    assert vocabulary.copy is None


# ---- Gemma 3 270M kept in place (--max-memory 100M), when pulled -------------------------------------

TEXT, OTHER = "I do not like spinach", "I do like spinach"


@pytest.fixture(scope="module")
def gemma_path() -> Path:
    from helpers.pulled import gemma3_path

    return gemma3_path()


@pytest.fixture(scope="module")
def gemma(gemma_path: Path) -> tuple[Model, Model]:
    in_place = load(gemma_path, max_memory=100 << 20)
    assert in_place.memory.path == "quantized in place"
    return in_place, float32_copy(in_place)


def test_gemma3_270m_kept_in_place_dla_lens_and_patch_are_the_float32_model_s(gemma):
    in_place, f32 = gemma
    ids = [t.id for t in in_place.encode(TEXT)[0]]
    q = len(ids) - 1
    tq, tf = in_place.forward(ids), f32.forward(ids)
    scale = float(np.abs(tf["logits"][q]).max())
    got, want = direct_logit_attribution(in_place, tq, q), direct_logit_attribution(f32, tf, q)
    assert got.target == want.target
    for field in ("heads", "mlps", "embed", "biases", "total", "logit"):
        assert_close(getattr(got, field), getattr(want, field), scale, field)
    assert abs(got.total - got.logit) < 1e-4 * scale
    lq, lf = logit_lens(in_place, tq, q, k=3), logit_lens(f32, tf, q, k=3)
    for a, b in zip(lq.rows, lf.rows, strict=True):
        assert [i for i, _ in a.top] == [i for i, _ in b.top]
        assert_close(a.target_probability, b.target_probability, 1.0, a.name)
    other = [t.id for t in in_place.encode(OTHER)[0]]
    pq, pf = patch(in_place, ids, other), patch(f32, ids, other)
    assert (pq.target, pq.contrast) == (pf.target, pf.contrast)
    metric_scale = max(abs(pf.clean_diff), abs(pf.corrupt_diff))
    assert_close(pq.resid_diff, pf.resid_diff, metric_scale, "resid_diff")
    assert_close(pq.heads, pf.heads, metric_scale / abs(pf.clean_diff - pf.corrupt_diff), "heads")


def test_gemma3_270m_dla_and_patch_run_from_the_cli_kept_in_place(gemma, gemma_path):
    """The commands of the issue, as a user runs them, with the weights kept in place: they crashed with
    'Quantized' object has no attribute 'T'."""
    f32 = gemma[1]
    kept = ["--max-memory", "100M"]
    dla = ok(attn("process", ["explain", "-m", str(gemma_path), TEXT, "--dla", "--json", *kept])).json()
    ids = [t.id for t in f32.encode(TEXT)[0]]
    trace = f32.forward(ids)
    want = direct_logit_attribution(f32, trace, len(ids) - 1)
    assert dla["target"]["id"] == want.target
    assert_close(np.array(dla["heads"]), want.heads, float(np.abs(trace["logits"][-1]).max()), "heads")
    patched = ok(attn("process", ["patch", "-m", str(gemma_path), TEXT, OTHER, "--json", *kept])).json()
    wanted = patch(f32, ids, [t.id for t in f32.encode(OTHER)[0]])
    assert (patched["target"]["id"], patched["contrast"]["id"]) == (wanted.target, wanted.contrast)
    assert_close(patched["metric"]["clean"], wanted.clean_diff, abs(wanted.clean_diff), "clean")
