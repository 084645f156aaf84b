"""How a generation ends and what it saw: it stops at an end-of-text token (and says so), it says
when the text outgrew the context and the window slid, and --seed without a temperature, which
would change nothing, is refused. Checked against greedy full forward passes over the text."""

from __future__ import annotations

import numpy as np
import pytest

from attncli.config import ModelConfig
from attncli.generate import generate_steps
from attncli.model import Model, forward
from helpers.known_models import random_params
from helpers.run_cli import HOWS, Call, assert_one_error_line, attn, attn_all
from helpers.schema import validate

EOT = "<|endoftext|>"


class Specials:
    """A tokenizer with no text, whose special tokens are `ends`, each spelled as an end of text."""

    vocab_size = 30

    def __init__(self, ends: set[int]) -> None:
        self.special_ids = ends

    def id_to_token(self, i: int) -> str:
        return EOT if i in self.special_ids else f"t{i}"


def greedy(params, cfg: ModelConfig, ids: list[int], n: int) -> list[int]:
    """n greedy tokens by full passes over (the last n_ctx of) the growing text."""
    ids, out = list(ids), []
    for _ in range(n):
        nxt = int(np.argmax(forward(params, cfg, ids[-cfg.n_ctx:])["logits"][-1]))
        out.append(nxt)
        ids.append(nxt)
    return out


def test_generation_stops_before_an_end_of_text_token():
    cfg = ModelConfig(vocab_size=30, n_layer=1, n_head=2, d_model=8, n_ctx=40)
    params = random_params(cfg, seed=3)
    prompt = [1, 2, 3]
    plain = greedy(params, cfg, prompt, 12)
    end = plain[4]  # make the fifth token chosen an end of text
    first = plain.index(end)
    made = generate_steps(Model(cfg, params, Specials({end}), "t", "test"), prompt, 12)
    assert [s.id for s in made.steps] == plain[:first] and made.end == end and made.slid_at is None
    other = generate_steps(Model(cfg, params, Specials({29 if end != 29 else 28}), "t", "test"), prompt, 12)
    if 29 not in plain and 28 not in plain:
        assert [s.id for s in other.steps] == plain and other.end is None


def test_the_first_step_from_a_slid_window_is_reported():
    cfg = ModelConfig(vocab_size=30, n_layer=1, n_head=2, d_model=8, n_ctx=8)
    params = random_params(cfg, seed=2)
    made = generate_steps(Model(cfg, params, Specials(set()), "t", "test"), [1, 2, 3, 4, 5, 6], 6)
    assert [s.id for s in made.steps] == greedy(params, cfg, [1, 2, 3, 4, 5, 6], 6)
    # 6 prompt tokens: steps 0-2 see 6, 7, 8 tokens; step 3 would see 9, so the window has slid
    assert made.slid_at == 3 and made.end is None
    short = generate_steps(Model(cfg, params, Specials(set()), "t", "test"), [1, 2, 3, 4, 5, 6], 3)
    assert short.slid_at is None


# ---- attn predict -g N on the bundled model (64-token context) -----------------------------------

def calls() -> dict[str, Call]:
    return {
        "end": Call(["predict", "once upon a time", "-g", "100", "--json"]),
        "end-table": Call(["predict", "once upon a time", "-g", "100", "-k", "1"]),
        "slide": Call(["predict", "the cat", "-g", "100", "--explain", "-k", "2", "--json"]),
        "stdin": Call(["predict", "-g", "100", "-k", "1", "--json"], input="once upon a time\nthe cat\n"),
        "seed-alone": Call(["predict", "the cat", "-g", "3", "--seed", "1"]),
        "seed-greedy": Call(["predict", "the cat", "-g", "3", "--seed", "1", "--temperature", "0"]),
        "temperature-alone": Call(["predict", "the cat", "--temperature", "0.8"]),
        "view-seed-alone": Call(["view", "the cat", "-g", "3", "--seed", "1"]),
    }


@pytest.fixture(scope="module", params=HOWS)
def runs(request):
    return attn_all(request.param, calls())


def continuation(model, text: str, n: int) -> tuple[list[int], int | None]:
    """The greedy ids after `text` by full passes over its last n_ctx tokens, up to the first end of
    text (not included), and that end's id (None if n tokens came first)."""
    ids, out = [t.id for t in model.encode(text)[0]], []
    eot = model.tokenizer.backend.token_to_id(EOT)
    for _ in range(n):
        nxt = int(np.argmax(model.forward(ids[-model.config.n_ctx:], layers=[])["logits"][-1]))
        if nxt == eot:
            return out, nxt
        out.append(nxt)
        ids.append(nxt)
    return out, None


def test_generation_stops_at_the_end_of_text_and_says_so(runs, bundled_model):
    run = runs["end"]
    assert run.code == 0
    doc = run.json()
    validate(doc)
    gen = doc["generated"]
    ids, end = continuation(bundled_model, "once upon a time", 100)
    assert end is not None and 0 < len(ids) < 100  # this prompt does end before 100 tokens
    assert gen["ids"] == ids and EOT not in gen["text"]
    assert (gen["stop_reason"], gen["end_of_text"], gen["context_window"]) == \
        ("end_of_text", {"id": end, "token": EOT}, None)
    note = f"attn: generation stopped after {len(ids)} of 100 tokens: the model chose the end-of-text token {EOT}\n"
    assert run.stderr == note
    table = runs["end-table"]
    assert table.code == 0 and table.stderr == note and EOT not in table.stdout


def test_generation_says_when_the_window_slides(runs, bundled_model):
    run = runs["slide"]
    assert run.code == 0
    doc = run.json()
    validate(doc)
    gen, P, n_ctx = doc["generated"], len(doc["tokens"]), bundled_model.config.n_ctx
    ids, end = continuation(bundled_model, "the cat", 72)  # full passes through the slide (at step 63) and on
    assert end is None and gen["ids"][:72] == ids
    assert len(gen["ids"]) == 100 and gen["stop_reason"] == "length"  # this prompt runs the 100
    slid_at, dropped = n_ctx - P + 1, P + 100 - 1 - n_ctx  # step i is chosen from P + i tokens
    assert gen["context_window"] == {"n_ctx": n_ctx, "slid_at_step": slid_at, "dropped": dropped}
    assert run.stderr == (f"attn: the text filled the model's context of {n_ctx} tokens: from generated token "
                          f"{slid_at + 1} on, each token was chosen from the last {n_ctx} tokens only (the first "
                          f"{dropped} were out of sight by the end)\n")
    for i, step in enumerate(gen["steps"]):  # each attention row names the keys it covers: the last n_ctx at most
        keys, seen = step["attention"]["keys"], min(P + i, n_ctx)
        assert keys == list(range(P + i - seen, P + i)) and len(step["attention"]["weights"]) == seen


def test_stdin_says_which_line_each_note_is_about(runs):
    run = runs["stdin"]
    assert run.code == 0
    first, second = run.json_lines()
    assert first["generated"]["stop_reason"] == "end_of_text" and second["generated"]["context_window"] is not None
    lines = run.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("attn: stdin line 1: generation stopped after ")
    assert lines[1].startswith("attn: stdin line 2: the text filled the model's context of 64 tokens")


@pytest.mark.parametrize("case, says", [
    ("seed-alone", "--seed seeds sampling, and without --temperature T above 0 the continuation is greedy"),
    ("seed-greedy", "--seed seeds sampling, and without --temperature T above 0 the continuation is greedy"),
    ("temperature-alone", "--temperature and --seed say how to generate; add -g N"),
    ("view-seed-alone", "--seed seeds sampling, and without --temperature T above 0 the continuation is greedy"),
])
def test_a_seed_that_would_change_nothing_is_refused(runs, case, says):
    run = runs[case]
    assert run.code == 2 and run.stdout == ""
    assert assert_one_error_line(run).startswith(says)


def test_a_seed_with_a_temperature_is_used():
    a, b = (attn("runner", ["predict", "the cat", "-g", "8", "-t", "1.5", "--seed", "1", "--json"]) for _ in "ab")
    assert a.code == b.code == 0  # (stderr may say that the sample ended its text)
    assert a.json()["generated"]["ids"] == b.json()["generated"]["ids"] and a.json()["generated"]["seed"] == 1
