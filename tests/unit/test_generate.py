"""Generation with a KV cache: every step's logits equal a full forward pass over the text so far
(within 1e-5), for every kind of block; the attention row a step keeps is the full pass's row."""

from __future__ import annotations

import numpy as np
import pytest

from attncli.config import ModelConfig
from attncli.generate import generate_steps
from attncli.model import Model, forward
from helpers.known_models import CONFIGS, random_params
from helpers.tolerances import assert_within, trace_weights_tolerance


class NoTokenizer:
    vocab_size = 30
    special_ids: set[int] = set()  # no end-of-text token: every generation runs its n steps


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_cached_steps_equal_a_full_pass_at_every_step(name):
    cfg = ModelConfig(vocab_size=30, **CONFIGS[name])
    params = random_params(cfg, seed=7)
    model = Model(cfg, params, NoTokenizer(), name, "test")
    prompt = [3, 14, 15, 9, 2, 6]
    steps = generate_steps(model, prompt, 12, layer=1).steps
    ids = list(prompt)
    for s in steps:
        full = forward(params, cfg, ids)
        logits = full["logits"][-1].astype(np.float64)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        assert s.id == int(np.argmax(logits))  # greedy: the same choice
        assert abs(s.probability - p[s.id]) < 1e-5
        assert_within(s.weights, full["blocks.1.attn.weights"][:, -1], trace_weights_tolerance(cfg, full, 1)[:, -1])
        ids.append(s.id)


def test_the_context_slides_when_it_is_full():
    cfg = ModelConfig(vocab_size=30, n_layer=1, n_head=2, d_model=8, n_ctx=8)
    params = random_params(cfg, seed=2)
    model = Model(cfg, params, NoTokenizer(), "tiny", "test")
    steps = generate_steps(model, [1, 2, 3, 4, 5, 6], 6).steps
    ids = [1, 2, 3, 4, 5, 6]
    for s in steps:
        window = ids[-8:]  # the model sees at most its context: the last 8 tokens
        assert s.id == int(np.argmax(forward(params, cfg, window)["logits"][-1]))
        ids.append(s.id)


# ---- attn predict -g N --explain ---------------------------------------------------------------

import json  # noqa: E402
import re  # noqa: E402

from helpers.run_cli import HOWS, assert_one_error_line, attn, ok  # noqa: E402
from helpers.schema import validate  # noqa: E402

PROMPT = "Once upon a time"


def full_pass_steps(model, text: str, n: int, layer: int):
    """The greedy continuation by full forward passes over the growing text (no cache): each
    step's chosen id, its probability, and layer `layer`'s attention rows [H, keys]."""
    ids = [t.id for t in model.encode(text)[0]]
    out = []
    for _ in range(n):
        trace = model.forward(ids)
        logits = trace["logits"][-1].astype(np.float64)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        nxt = int(np.argmax(logits))
        bound = trace_weights_tolerance(model.config, trace, layer)[:, -1]  # [H, keys]: rounding's bound
        out.append((nxt, float(p[nxt]), p, trace[f"blocks.{layer}.attn.weights"][:, -1], bound))
        ids.append(nxt)
    return out


@pytest.mark.parametrize("how", HOWS)
def test_explain_lists_each_generated_token_with_its_probability_and_keys(bundled_model, how):
    run = ok(attn(how, ["predict", PROMPT, "-g", "5", "--explain", "--layer", "1", "--head", "2"]))
    expected = full_pass_steps(bundled_model, PROMPT, 5, 1)
    labels = [t.text.strip().lower() for t in bundled_model.encode(PROMPT)[0]]
    assert "Generation, token by token (layer 1, head 2)" in run.stdout
    section = run.stdout.split("Generation, token by token")[1].split("attended to most:")[0]
    rows = [l for l in section.splitlines() if re.match(r"^[1-5]  '", l)]
    assert len(rows) == 5, run.stdout
    for row, (nxt, prob, _, weights, _) in zip(rows, expected):
        text = bundled_model.tokenizer.display(nxt)
        assert f"{repr(text)}" in row and f"{100 * prob:.1f}%" in row, row
        k = int(np.argmax(weights[2]))  # head 2's strongest key comes first in 'attended to most'
        word = labels[k] if k < len(labels) else None
        assert re.search(rf"  {k} {re.escape(word) if word else chr(92) + 'S+'} {100 * weights[2, k]:.0f}%", row), row
        labels.append(text.strip())
    assert run.stdout.splitlines()[0].startswith(PROMPT)  # the continuation first, as without --explain


def test_explain_json_carries_each_step_s_attention_row(bundled_model):
    run = ok(attn("runner", ["predict", PROMPT, "-g", "6", "--explain", "--layer", "0", "--head", "mean", "--json"]))
    doc = run.json()
    validate(doc)
    steps = doc["generated"]["steps"]
    expected = full_pass_steps(bundled_model, PROMPT, 6, 0)
    n_prompt = len(doc["tokens"])
    assert [s["id"] for s in steps] == doc["generated"]["ids"] == [e[0] for e in expected]
    for j, (s, (nxt, prob, p, weights, bound)) in enumerate(zip(steps, expected)):
        assert abs(s["probability"] - prob) < 1e-5
        assert [a["id"] for a in s["alternatives"]] == list(np.argsort(-p, kind="stable")[:5])
        att = s["attention"]
        assert (att["layer"], att["head"], att["name"]) == (0, "mean", "blocks.0.attn.weights")
        assert att["keys"] == list(range(n_prompt + j))
        assert_within(att["weights"], weights.mean(axis=0), bound.mean(axis=0) + 1e-7, "mean weights")  # + JSON's float32 rounding
        assert abs(sum(att["weights"]) - 1) < 1e-5


def test_explain_html_steps_through_the_generation(bundled_model, tmp_path):
    out = tmp_path / "gen.html"
    run = attn("process", ["predict", PROMPT, "-g", "4", "--explain", "--html", str(out)])
    assert run.code == 0 and run.stdout == "" and "wrote" in run.stderr
    page = out.read_text(encoding="utf-8")
    doc = json.loads(re.search(r'<script type="application/json" id="attn-data">(.*?)</script>', page, re.S).group(1))
    gen = doc["generation"]
    expected = full_pass_steps(bundled_model, PROMPT, 4, gen["layer"])
    assert [s["text"] for s in gen["steps"]] == [bundled_model.tokenizer.display(e[0]) for e in expected]
    head = gen["head"]
    for s, e in zip(gen["steps"], expected):
        assert_within(s["weights"], e[3][head], e[4][head], "weights")


@pytest.mark.parametrize("args, says", [
    (["predict", PROMPT, "--explain"], "-g N"),
    (["predict", PROMPT, "--layer", "1"], "--explain"),
    (["predict", PROMPT, "-g", "2", "--html", "x.html"], "--explain"),
    (["predict", PROMPT, "-g", "2", "--explain", "--layer", "7"], "layer"),
    (["predict", PROMPT, "-g", "2", "--explain", "--head", "9"], "head"),
    (["predict", PROMPT, "-g", "2", "--explain", "--html", "page.txt"], ".html"),
])
def test_explain_refuses_what_it_cannot_do(args, says, tmp_path):
    run = attn("process", args)
    assert run.code == 2 and run.stdout == ""
    assert says in assert_one_error_line(run)


def test_explain_html_needs_one_text_not_stdin(tmp_path):
    run = attn("runner", ["predict", "-g", "2", "--explain", "--html", str(tmp_path / "p.html")], input="a\nb\n")
    assert run.code == 2 and "one text" in assert_one_error_line(run)
    assert not (tmp_path / "p.html").exists()


def test_smollm2_cached_generation_matches_transformers_generate(smollm2_model, smollm2_transformers):
    torch, hf, _ = smollm2_transformers
    ids = [t.id for t in smollm2_model.encode("The capital of France is")[0]]
    steps = generate_steps(smollm2_model, ids, 12, layer=5).steps
    with torch.no_grad():
        out = hf.generate(torch.tensor([ids]), max_new_tokens=12, do_sample=False, use_cache=True,
                          output_scores=True, return_dict_in_generate=True, pad_token_id=0)
    assert [s.id for s in steps] == out.sequences[0, len(ids):].tolist()
    for s, scores in zip(steps, out.scores):
        p = torch.softmax(scores[0].double(), -1)
        assert abs(s.probability - float(p[s.id])) < 1e-4
