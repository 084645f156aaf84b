"""Ablation (in the forward pass, against transformers' own head mask), activation patching (exact
at the last layer, a no-op on itself, equal to a hand-patched transformers run), and the heads
--summary names."""

from __future__ import annotations

import numpy as np
import pytest

from attncli.analysis.ablation import ablate, parse_heads
from attncli.analysis.patching import patch
from attncli.analysis.summary import THRESHOLDS, head_labels
from attncli.checkpoints import load
from attncli.config import ModelConfig
from attncli.errors import UsageError
from attncli.trace import Trace
from helpers.references import need
from helpers.run_cli import HOWS, assert_one_error_line, attn, ok
from helpers.schema import validate
from helpers.tolerances import assert_within, logits_tolerance, unembedding

TEXT = "the cat sat on the mat, then the dog sat"


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    need("torch")
    transformers = need("transformers")
    import torch

    from helpers.gpt2 import make_gpt2

    path = tmp_path_factory.mktemp("gpt2")
    make_gpt2(path, prefix=True, tied=True, seed=5)
    ref = transformers.GPT2LMHeadModel.from_pretrained(path, attn_implementation="eager", dtype=torch.float32).eval()
    return load(path), ref


# ---- ablation -------------------------------------------------------------------------------

def test_zero_ablation_equals_a_transformers_run_with_those_heads_zeroed(gpt2):
    import torch

    ours, ref = gpt2
    ids = [t.id for t in ours.tokenizer.encode(TEXT)]
    dh = ref.config.n_embd // ref.config.n_head

    def zero(heads):  # the merged heads entering c_proj, with these heads' slices set to 0
        def hook(m, a):
            x = a[0].clone()
            for h in heads:
                x[..., h * dh:(h + 1) * dh] = 0.0
            return (x,) + tuple(a[1:])
        return hook

    handles = [ref.transformer.h[0].attn.c_proj.register_forward_pre_hook(zero([0])),
               ref.transformer.h[1].attn.c_proj.register_forward_pre_hook(zero([2]))]
    with torch.no_grad():
        want = ref(torch.tensor([ids])).logits[0].numpy()
    for handle in handles:
        handle.remove()
    trace = ablate(ours, [(0, 0), (1, 2)], "zero").forward(ids)
    bound = logits_tolerance(ours.config, trace["ln_final"], unembedding(ours))
    assert_within(trace["logits"], want, bound, "logits")
    assert not trace["blocks.1.attn.z"][2].any() and trace["blocks.1.attn.z"][1].any()
    assert np.abs(trace["logits"] - ours.forward(ids)["logits"]).max() > 1e-3  # it is applied, not only shown


def test_mean_ablation_replaces_a_head_by_its_mean_over_positions(gpt2):
    ours, _ = gpt2
    ids = [t.id for t in ours.tokenizer.encode(TEXT)]
    plain = ours.forward(ids)
    ablated = ablate(ours, [(0, 1)], "mean").forward(ids)
    z = ablated["blocks.0.attn.z"]
    np.testing.assert_allclose(z[1], np.broadcast_to(plain["blocks.0.attn.z"][1].mean(axis=0), z[1].shape), atol=1e-6)
    np.testing.assert_array_equal(z[0], plain["blocks.0.attn.z"][0])  # other heads untouched
    np.testing.assert_array_equal(ablated["blocks.0.attn.weights"], plain["blocks.0.attn.weights"])  # attention itself is
    assert np.abs(ablated["blocks.1.attn.weights"] - plain["blocks.1.attn.weights"]).max() > 0  # but later layers change


def test_parse_heads_says_what_it_wants():
    cfg = ModelConfig(vocab_size=5, n_layer=2, n_head=4, d_model=8, n_ctx=8)
    assert parse_heads("1.3, 0.2,-1.-1", cfg) == [(0, 2), (1, 3)]
    for bad, words in (("1", "LAYER.HEAD"), ("2.0", "layer 2 is out of range"), ("0.4", "head 4 is out of range")):
        with pytest.raises(UsageError, match=words):
            parse_heads(bad, cfg)


@pytest.mark.parametrize("how", HOWS)
def test_every_command_says_it_ran_ablated(how):
    for args in (["explain", "I do not like spinach"], ["explain", "I do not like spinach", "--steps"],
                 ["predict", "I do not like"], ["compare", "I do not like spinach", "I do like spinach"]):
        run = ok(attn(how, [*args, "--ablate", "1.3"]))
        assert run.stdout.splitlines()[0].startswith("! ablated: head 1.3 (zeroed)"), args
        doc = ok(attn(how, [*args, "--ablate", "1.3", "--ablate-mode", "mean", "--json"])).json()
        validate(doc)
        assert doc["ablation"] == {"heads": [[1, 3]], "mode": "mean"}
    plain = ok(attn(how, ["predict", "I do not like", "--json"])).json()
    assert "ablation" not in plain
    bad = attn(how, ["predict", "I do not like", "--ablate-mode", "mean"])
    assert bad.code == 2 and "--ablate" in assert_one_error_line(bad)


# ---- activation patching --------------------------------------------------------------------

def test_patching_the_last_stream_restores_all_and_a_run_into_itself_changes_nothing(gpt2):
    ours, _ = gpt2
    clean = [t.id for t in ours.tokenizer.encode("the cat sat on the mat")]
    corrupt = clean[:1] + [clean[1] + 1] + clean[2:]  # one token changed, the rest alike
    p = patch(ours, clean, corrupt)
    assert p.resid[-1, -1] == 1.0  # the stream after the last block, at the last token: exactly the clean run
    assert (p.resid[-1, :-1] == 0).all()  # the other positions of the final stream do not reach the last logits
    same = patch(ours, clean, clean, p.target, p.contrast)
    assert np.isnan(same.resid).all()  # nothing to restore: the span is 0
    # every patched run recomputes the clean run itself: the same metric, up to float32 rounding (the runs
    # go through the layers as a batch, whose matrix products may round in another order)
    np.testing.assert_allclose(same.resid_diff, same.clean_diff, rtol=0, atol=1e-5)


def test_one_position_and_one_head_equal_a_hand_patched_transformers_run(gpt2):
    import torch

    ours, ref = gpt2
    clean = [t.id for t in ours.tokenizer.encode("the cat sat on the mat")]
    corrupt = clean[:1] + [clean[1] + 1] + clean[2:]
    p = patch(ours, clean, corrupt)

    def metric(logits):
        return float(logits[-1, p.target] - logits[-1, p.contrast])

    captured: dict[str, torch.Tensor] = {}
    L, j, h = 1, 1, 2
    blk = ref.transformer.h[L]
    dh = ref.config.n_embd // ref.config.n_head
    hk = [blk.register_forward_pre_hook(lambda m, a: captured.__setitem__("resid", a[0][0].clone())),
          blk.attn.c_proj.register_forward_pre_hook(lambda m, a: captured.__setitem__("merged", a[0][0].clone()))]
    with torch.no_grad():
        clean_logits = ref(torch.tensor([clean])).logits[0]
    for x in hk:
        x.remove()

    def swap_resid(m, a):  # block L's input at position j comes from the clean run
        x = a[0].clone()
        x[0, j] = captured["resid"][j]
        return (x,) + tuple(a[1:])

    def swap_head(m, a):  # head h's slice of the merged heads, every position, from the clean run
        x = a[0].clone()
        x[0, :, h * dh:(h + 1) * dh] = captured["merged"][:, h * dh:(h + 1) * dh]
        return (x,) + tuple(a[1:])

    with torch.no_grad():
        corrupt_logits = ref(torch.tensor([corrupt])).logits[0]
        span = metric(clean_logits) - metric(corrupt_logits)
        for hook_on, fn, ours_value in ((blk, swap_resid, p.resid[L, j]), (blk.attn.c_proj, swap_head, p.heads[L, h])):
            handle = hook_on.register_forward_pre_hook(fn)
            patched = ref(torch.tensor([corrupt])).logits[0]
            handle.remove()
            want = (metric(patched) - metric(corrupt_logits)) / span
            assert abs(ours_value - want) < 1e-5


def test_texts_that_cannot_be_aligned_at_the_end_are_refused(bundled_model):
    a = [t.id for t in bundled_model.encode("I do not like spinach")[0]]
    b = [t.id for t in bundled_model.encode("the cat sat on the big red mat")[0]]
    assert len(a) != len(b)
    with pytest.raises(UsageError, match="cannot be aligned at their last token"):
        patch(bundled_model, a, b)


@pytest.mark.parametrize("how", HOWS)
def test_cli_patch(how):
    run = ok(attn(how, ["patch", "I do not like spinach", "I do like spinach"]))
    assert "fraction of the difference restored" in " ".join(run.stdout.split())
    doc = ok(attn(how, ["patch", "I do not like spinach", "I do like spinach", "--json"])).json()
    validate(doc)
    assert doc["resid"]["restored"][-1][-1] == 1.0
    assert doc["pairs"][-1] == [5, 4]  # "not" removed: the texts align by compare's alignment
    bad = attn(how, ["patch", "I do not like spinach", "cats"])
    assert bad.code == 2 and "aligned" in assert_one_error_line(bad)


# ---- the heads --summary names ------------------------------------------------------------

def synthetic(weights: np.ndarray, ids: list[int]) -> Trace:
    H, T, _ = weights.shape
    cfg = ModelConfig(vocab_size=20, n_layer=1, n_head=H, d_model=4 * H, n_ctx=16)
    return Trace(np.array(ids), {"blocks.0.attn.weights": weights}, cfg)


def test_each_pattern_is_named_when_it_clears_its_threshold():
    T = 6
    prev, sink, selfw, low = (np.zeros((T, T)) for _ in range(4))
    for q in range(T):
        prev[q, max(q - 1, 0)] = 1.0
        sink[q, 0] = 1.0
        selfw[q, q] = 1.0
        low[q, : q + 1] = 1.0 / (q + 1)  # spread evenly: nothing clear
    ids = [1, 2, 3, 1, 2, 3]
    ind = np.zeros((T, T))
    for q in range(T):
        ind[q, 0] = 1.0
    ind[3, 1] = ind[4, 2] = 1.0  # at the second "1" look at what followed the first "1": induction
    ind[3, 0] = ind[4, 0] = 0.0
    labels = head_labels(synthetic(np.stack([prev, sink, selfw, low, ind]), ids), 0)
    assert [x.name if x else None for x in labels] == ["previous token", "first token (sink)", "self", None, "induction"]
    assert labels[0].share == 1.0 and labels[0].queries == T - 1
    assert THRESHOLDS["induction"] <= labels[4].share


def test_summary_names_induction_heads_in_smollm2(smollm2_model):
    from attncli.analysis.summary import head_summary

    text = "the cat sat on the mat. the cat sat on the"
    toks, _ = smollm2_model.encode(text)
    s = head_summary(smollm2_model.forward([t.id for t in toks]), len(toks) - 1)
    names = {x.name for row in s.labels for x in row if x}
    assert "induction" in names and "first token (sink)" in names
