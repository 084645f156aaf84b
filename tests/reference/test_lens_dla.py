"""The logit lens and direct logit attribution against an independent computation: transformers
with forward hooks written here (a tiny random GPT-2, and SmolLM2 when pulled), within 1e-5;
and DLA's parts add up to the model's own logit."""

from __future__ import annotations

import numpy as np
import pytest

from attncli.analysis.dla import direct_logit_attribution
from attncli.analysis.lens import logit_lens
from attncli.checkpoints import load
from helpers.references import need
from helpers.run_cli import HOWS, attn, ok
from helpers.schema import validate
from helpers.tolerances import assert_within, logits_tolerance, unembedding

torch = need("torch")
transformers = need("transformers")

TEXT = "the cat sat on the mat, then the dog sat"


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    from helpers.gpt2 import make_gpt2

    path = tmp_path_factory.mktemp("gpt2")
    make_gpt2(path, prefix=True, tied=True, seed=3)
    ref = transformers.GPT2LMHeadModel.from_pretrained(path, attn_implementation="eager", dtype=torch.float32).eval()
    return load(path), ref


def gpt2_captures(ref, ids):
    """Through hooks: each block's input, every attention's merged heads before c_proj, each MLP's
    output, the stream before ln_f."""
    got: dict[str, object] = {"block_in": [], "merged": [], "mlp": []}
    hooks = []
    for blk in ref.transformer.h:
        hooks.append(blk.register_forward_pre_hook(lambda m, a: got["block_in"].append(a[0][0].clone())))
        hooks.append(blk.attn.c_proj.register_forward_pre_hook(lambda m, a: got["merged"].append(a[0][0].clone())))
        hooks.append(blk.mlp.register_forward_hook(lambda m, a, out: got["mlp"].append(out[0].clone())))
    hooks.append(ref.transformer.ln_f.register_forward_pre_hook(lambda m, a: got.__setitem__("final", a[0][0].clone())))
    with torch.no_grad():
        logits = ref(torch.tensor([ids])).logits[0]
    for h in hooks:
        h.remove()
    return got, logits


def test_lens_equals_transformers_with_hooks(gpt2):
    ours, ref = gpt2
    ids = [t.id for t in ours.tokenizer.encode(TEXT)]
    got, _ = gpt2_captures(ref, ids)
    streams = got["block_in"] + [got["final"]]  # resid_pre of each block, and after the last
    q = len(ids) - 1
    with torch.no_grad():
        want = torch.softmax(ref.lm_head(ref.transformer.ln_f(torch.stack([s[q] for s in streams]))).double(), -1).numpy()
    lens = logit_lens(ours, ours.forward(ids), q, k=5)
    assert lens.target == int(np.argmax(want[-1]))  # the last row is the model's own prediction
    for row, p in zip(lens.rows, want):
        order = np.argsort(-p, kind="stable")
        assert [i for i, _ in row.top] == order[:5].tolist()
        np.testing.assert_allclose([x for _, x in row.top], p[order[:5]], atol=1e-5, rtol=0)
        assert row.target_rank == int(np.nonzero(order == lens.target)[0][0]) + 1
        assert abs(row.target_probability - p[lens.target]) < 1e-5


def test_dla_equals_transformers_with_hooks_and_sums_to_the_logit(gpt2):
    ours, ref = gpt2
    ids = [t.id for t in ours.tokenizer.encode(TEXT)]
    got, logits = gpt2_captures(ref, ids)
    q, target, contrast = len(ids) - 1, 7, 11
    cfg = ref.config
    H, dh = cfg.n_head, cfg.n_embd // cfg.n_head
    final = got["final"][q].double()
    ln_f = ref.transformer.ln_f
    scale = ln_f.weight.detach().double() / torch.sqrt(final.var(unbiased=False) + ln_f.eps)

    def through(v):  # the final LayerNorm with this token's scale held fixed, onto target - contrast
        direction = (ref.lm_head.weight[target] - ref.lm_head.weight[contrast]).detach().double()
        return float(((v - v.mean()) * scale) @ direction)

    d = direct_logit_attribution(ours, ours.forward(ids), q, target, contrast)
    for L, blk in enumerate(ref.transformer.h):
        W = blk.attn.c_proj.weight.detach().double()  # [H*dh, d], Conv1D: x @ W
        merged = got["merged"][L][q].double()
        for h in range(H):
            want = through(merged[h * dh:(h + 1) * dh] @ W[h * dh:(h + 1) * dh])
            assert abs(d.heads[L, h] - want) < 1e-5, (L, h)
        assert abs(d.mlps[L] - through(got["mlp"][L][q].double())) < 1e-5
    logit_diff = float(logits[q, target] - logits[q, contrast])
    assert abs(d.logit - logit_diff) < 1e-5
    parts = d.heads.sum() + d.mlps.sum() + d.embed + d.biases
    assert abs(parts - d.total) < 1e-9 and abs(d.total - logit_diff) < 1e-4  # they add up to the logit difference


def test_lens_and_dla_on_smollm2_equal_transformers_with_hooks(smollm2_model, smollm2_transformers):
    torch_, ref, _ = smollm2_transformers
    ours = smollm2_model
    ids = [t.id for t in ours.encode("I do not like spinach")[0]]
    inputs, hooks = [], []
    got_o: list = []
    for layer in ref.model.layers:
        hooks.append(layer.register_forward_pre_hook(lambda m, a, k=None: inputs.append(a[0][0].clone())))
        hooks.append(layer.self_attn.o_proj.register_forward_pre_hook(lambda m, a: got_o.append(a[0][0].clone())))
    final = {}
    hooks.append(ref.model.norm.register_forward_pre_hook(lambda m, a: final.__setitem__("x", a[0][0].clone())))
    with torch_.no_grad():
        logits = ref(torch_.tensor([ids])).logits[0]
    for h in hooks:  # before the norm is called again below, which would fire them
        h.remove()
    q = len(ids) - 1
    with torch_.no_grad():
        streams = torch_.stack([s[q] for s in inputs] + [final["x"][q]])
        want = torch_.softmax(ref.lm_head(ref.model.norm(streams)).double(), -1).numpy()
    trace = ours.forward(ids)
    lens = logit_lens(ours, trace, q, k=5)
    # a probability p moves by at most 2p times its logits' rounding error, bounded here from the
    # size of the final norm's output against the unembedding (every row of the lens is such a vector)
    dlogit = float(logits_tolerance(ours.config, trace["ln_final"][q:], unembedding(ours)).max())
    for row, p in zip(lens.rows, want):
        top = np.sort(p)[::-1][:5]
        assert_within([x for _, x in row.top], top, 2 * top * dlogit + 1e-7, "probabilities")
    # DLA for one head, by hand: its slice of o_proj's input through its columns of o_proj, the final
    # RMSNorm's scale held fixed, onto the unembedding of the model's top token
    d = direct_logit_attribution(ours, trace, q)
    target = d.target
    dh = ours.config.d_head
    x = final["x"][q].double()
    scale = ref.model.norm.weight.detach().double() / torch_.sqrt((x * x).mean() + ref.model.norm.variance_epsilon)
    direction = ref.lm_head.weight[target].detach().double()
    for L in (0, 16, 29):
        W = ref.model.layers[L].self_attn.o_proj.weight.detach().double()  # [d, H*dh]: x @ W.T
        for h in (0, 4):
            part = got_o[L][q].double()[h * dh:(h + 1) * dh] @ W[:, h * dh:(h + 1) * dh].T
            assert abs(d.heads[L, h] - float((part * scale) @ direction)) < 1e-5, (L, h)
    assert abs(d.total - float(logits[q, target])) < 1e-3  # float32 over 30 layers of 576 dims


@pytest.mark.parametrize("how", HOWS)
def test_cli_lens_and_dla(how):
    lens = ok(attn(how, ["explain", "I do not like spinach", "--lens", "--json"])).json()
    validate(lens)
    assert lens["command"] == "explain-lens" and len(lens["lens"]) == 3  # two blocks' inputs and the final stream
    assert lens["lens"][-1]["target"]["rank"] == 1
    dla = ok(attn(how, ["explain", "I do not like", "--dla", "--target", "hate", "--contrast", "love", "--json"])).json()
    validate(dla)
    assert abs(dla["sum"]["difference"]) < 1e-4 and dla["contrast"]["text"] == " love"
    assert dla["notes"] and "tokens" in dla["notes"][0]  # "hate" is two tokens of the bundled BPE: said so
    table = ok(attn(how, ["explain", "I do not like", "--dla", "--target", "like"])).stdout
    assert "Direct logit attribution" in table and "= " in table and "MLP" in table
    refused = attn(how, ["explain", "I do not like", "--dla", "--contrast", "x", "--lens"])
    assert refused.code == 2
