"""`attn predict`: top-k next tokens, --generate (greedy and seeded sampling), and the stdin stream."""

from __future__ import annotations

import re

import numpy as np
import pytest

from helpers.references import hf_decode, hf_encode, naive_forward, read_model, softmax64
from helpers.run_cli import HOWS, Call, Run, assert_one_error_line, attn_all, ok
from helpers.schema import validate
from helpers.scrape import table_lines_after

TEXT = "I do not like"
GEN_TEXT = "hello world"  # after TEXT the random model chooses its end of text at once: generate after this
LONG = " ".join(["I do not like spinach"] * 4)  # longer than the known model's 16 tokens
STREAM = b"I do\n\nwe like it\r\nThe cat\n"  # a blank line is skipped; CRLF is a line end
STREAM_TEXTS = ["I do", "we like it", "The cat"]
HUGE = (LONG + " ") * (1_000_000 // (len(LONG) + 1))  # a line of about a megabyte


def calls(kd, td) -> dict[str, Call]:
    k, t = ["-m", str(kd)], ["-m", str(td)]
    return {
        "table": Call(["predict", TEXT, *k, "--top-k", "2"]),
        "random": Call(["predict", TEXT, *t, "--top-k", "4", "--json"]),
        "greedy": Call(["predict", "I do not", *k, "--generate", "3", "--json"]),
        "greedy-table": Call(["predict", "I do not", *k, "--generate", "3"]),
        "random-greedy-a": Call(["predict", GEN_TEXT, *t, "--generate", "6", "--json"]),
        "random-greedy-b": Call(["predict", GEN_TEXT, *t, "--generate", "6", "--json"]),
        "sample-a": Call(["predict", GEN_TEXT, *t, "--generate", "12", "--temperature", "2", "--seed", "7", "--json"]),
        "sample-b": Call(["predict", GEN_TEXT, *t, "--generate", "12", "--temperature", "2", "--seed", "7", "--json"]),
        "sample-c": Call(["predict", GEN_TEXT, *t, "--generate", "12", "--temperature", "2", "--seed", "8", "--json"]),
        "sample-subnormal-t": Call(["predict", GEN_TEXT, *t, "--generate", "6", "--temperature", "1e-310", "--seed", "7",
                                    "--json"]),
        "stream": Call(["predict", *t, "--top-k", "3", "--json"], input=STREAM),
        "stream-table": Call(["predict", *t], input=STREAM),
        "stream-generate": Call(["predict", *k, "--generate", "2", "--json"], input=b"I do\nwe\n"),
        "stream-bad-utf8": Call(["predict", *t, "--json"], input=b"I do\n\xff\xfe oops\nThe cat\n"),
        "stream-too-long": Call(["predict", *k, "--json"], input=f"I do\n{LONG}\nThe cat\n".encode()),
        "stream-truncate": Call(["predict", *k, "--json", "--truncate"], input=f"I do\n{LONG}\nThe cat\n".encode()),
        "stream-empty": Call(["predict", *t, "--json"], input=b""),
        "stream-blank": Call(["predict", *t], input=b"\n  \r\n\n"),
        "stream-huge": Call(["predict", *k, "--json"], input=f"I do\n{HUGE}\nThe cat\n".encode()),
        "stream-huge-truncate": Call(["predict", *k, "--json", "--truncate"],
                                     input=f"I do\n{HUGE}\nThe cat\n".encode()),
    }


@pytest.fixture(scope="module", params=HOWS)
def runs(request, known, tiny_model_dir) -> dict[str, Run]:
    return attn_all(request.param, calls(known.path, tiny_model_dir))


def naive_greedy(path, ids: list[int], n: int, n_ctx: int) -> list[int]:
    """Up to n greedy ids by the reference forward pass; it stops before <|endoftext|>, as attn does."""
    ids, out = list(ids), []
    end = hf_encode(path, "<|endoftext|>")[0]
    for _ in range(n):
        nxt = int(np.argmax(naive_forward(*read_model(path), ids[-n_ctx:]).logits[-1]))
        if [nxt] == end:
            break
        ids.append(nxt)
        out.append(nxt)
    return out


def test_table_shows_the_top_k(runs, known):
    run = ok(runs["table"])
    p = softmax64(known.logits)
    body = [line for line in table_lines_after(run.stdout, "Next-token predictions") if re.match(r"^\s*\d+\s+'", line)]
    assert [line.split()[0] for line in body] == ["1", "2"]
    for line, tid in zip(body, (known.target, known.runner_up)):
        assert repr(hf_decode(known.path, [tid])) in line
        assert f"{100 * p[tid]:.1f}%" in line


def test_top_k_agrees_with_a_naive_forward(runs, tiny_model_dir):
    doc = ok(runs["random"]).json()
    validate(doc)
    assert doc["command"] == "predict" and doc["text"] == TEXT and "generated" not in doc
    ids, _ = hf_encode(tiny_model_dir, TEXT)
    p = softmax64(naive_forward(*read_model(tiny_model_dir), ids).logits[-1])
    want = list(np.argsort(-p)[:4])
    assert [d["id"] for d in doc["predictions"]] == want
    assert [d["rank"] for d in doc["predictions"]] == [1, 2, 3, 4]
    np.testing.assert_allclose([d["probability"] for d in doc["predictions"]], p[want], rtol=1e-4)


def test_greedy_generation_continues_with_the_likeliest_token(runs, known):
    gen = ok(runs["greedy"]).json()["generated"]
    assert gen["ids"] == [known.target] * 3
    assert gen["text"] == " like like like"
    assert gen["sampling"] == "greedy"
    assert "I do not like like like" in ok(runs["greedy-table"]).stdout


def test_greedy_generation_is_deterministic_and_matches_a_naive_loop(runs, tiny_model_dir):
    a, b = ok(runs["random-greedy-a"]).json(), ok(runs["random-greedy-b"]).json()
    assert a["generated"] == b["generated"]
    ids, _ = hf_encode(tiny_model_dir, GEN_TEXT)
    assert a["generated"]["ids"] == naive_greedy(tiny_model_dir, ids, 6, n_ctx=32)
    assert len(a["generated"]["ids"]) == 6 and a["generated"]["stop_reason"] == "length"


def test_sampling_repeats_with_the_same_seed(runs, tokenizer_vocab_size):
    docs = []
    for name in ("sample-a", "sample-b", "sample-c"):
        run = runs[name]
        g = run.json()["generated"]
        assert run.code == 0 and 0 < len(g["ids"]) <= 12
        if len(g["ids"]) < 12:  # a sample may end its text (the random model likes <|endoftext|>): said on stderr
            assert g["stop_reason"] == "end_of_text"
            assert run.stderr.startswith(f"attn: generation stopped after {len(g['ids'])} of 12")
        else:
            assert g["stop_reason"] == "length" and run.stderr == ""
        docs.append(g)
    a, b, c = docs
    assert a == b
    assert (a["sampling"], a["temperature"], a["seed"]) == ("temperature", 2.0, 7)
    assert all(0 <= i < tokenizer_vocab_size for i in a["ids"])
    assert c["seed"] == 8 and c["ids"] != a["ids"]  # at temperature 2 over ~300 tokens, 12 draws differ


def test_sampling_at_a_vanishing_temperature_is_greedy(runs):
    sampled = runs["sample-subnormal-t"]
    assert sampled.code == 0 and sampled.stderr == "", sampled.stderr
    assert sampled.json()["generated"]["ids"] == ok(runs["random-greedy-a"]).json()["generated"]["ids"]


def test_stream_answers_each_line(runs, tiny_model_dir):
    run = ok(runs["stream"])
    docs = run.json_lines()
    assert [d["text"] for d in docs] == STREAM_TEXTS
    for d in docs:
        ids, _ = hf_encode(tiny_model_dir, d["text"])
        assert [t["id"] for t in d["tokens"]] == ids
        p = softmax64(naive_forward(*read_model(tiny_model_dir), ids).logits[-1])
        assert [x["id"] for x in d["predictions"]] == list(np.argsort(-p)[:3])


def test_stream_as_tables(runs):
    run = ok(runs["stream-table"])
    titles = [line for line in run.stdout.splitlines() if line.startswith("Next-token predictions")]
    assert len(titles) == len(STREAM_TEXTS)
    words = " ".join(run.stdout.split())  # a title wraps to its table's width
    for text in STREAM_TEXTS:
        assert f"after {text!r}" in words


def test_stream_generates_for_each_line(runs, known):
    docs = ok(runs["stream-generate"]).json_lines()
    assert [d["text"] for d in docs] == ["I do", "we"]
    assert all(d["generated"]["ids"] == [known.target] * 2 for d in docs)


def test_stream_reports_a_bad_utf8_line_and_answers_the_rest(runs):
    run = runs["stream-bad-utf8"]
    assert run.code == 2
    msg = assert_one_error_line(run)
    assert "line 2" in msg and "UTF-8" in msg
    assert [d["text"] for d in run.json_lines()] == ["I do", "The cat"]


def test_stream_reports_a_too_long_line_and_answers_the_rest(runs, known):
    run = runs["stream-too-long"]
    assert run.code == 2
    msg = assert_one_error_line(run)
    assert "line 2" in msg and str(known.n_ctx) in msg and "--truncate" in msg
    assert [d["text"] for d in run.json_lines()] == ["I do", "The cat"]


def test_stream_truncate(runs, known):
    docs = ok(runs["stream-truncate"]).json_lines()
    assert [d["truncated"] for d in docs] == [False, True, False]
    assert [t["id"] for t in docs[1]["tokens"]] == hf_encode(known.path, LONG)[0][-known.n_ctx:]


@pytest.mark.parametrize("case", ["stream-empty", "stream-blank"])
def test_stdin_without_a_text_is_a_usage_error(runs, case):
    """`attn predict < /dev/null` exited 0 without a word."""
    run = runs[case]
    assert run.code == 2 and run.stdout == ""
    assert assert_one_error_line(run).startswith("no text was given: stdin held no line of text")


def test_stream_refuses_a_megabyte_line_from_its_start_and_answers_the_rest(runs, known):
    run = runs["stream-huge"]  # it used to label the whole line first: hours for a megabyte
    assert run.code == 2
    msg = assert_one_error_line(run)
    said = rf"stdin line 2: the text is more than [\d,]+ tokens long; this model reads at most {known.n_ctx}"
    assert re.search(said, msg)
    assert [d["text"] for d in run.json_lines()] == ["I do", "The cat"]


def test_stream_truncates_a_megabyte_line(runs, known):
    docs = ok(runs["stream-huge-truncate"]).json_lines()
    assert [d["truncated"] for d in docs] == [False, True, False]
    assert [t["id"] for t in docs[1]["tokens"]] == hf_encode(known.path, HUGE)[0][-known.n_ctx:]

