"""attn eval's scoring: the word count, the sliding windows, and the NLL they add up to."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attncli.numerics import log_softmax
from attncli.train.evaluate import encode_text, evaluate, windows, words
from helpers.run_cli import HOWS, attn, ok
from helpers.schema import validate


def test_words_are_counted_on_lowercased_text_with_straight_quotes():
    text = "Once upon a time, Lily\u2019s cat said \u201cHi!\u201d 42 times"
    assert words(text) == ["once", "upon", "a", "time", ",", "lily's", "cat", "said", '"', "hi", "!", '"', "times"]


@pytest.mark.parametrize("n_ids, n_ctx", [(2, 8), (9, 8), (10, 8), (11, 8), (40, 8), (41, 8), (100, 16), (1000, 64), (37, 5)])
def test_windows_score_every_target_once_with_enough_context(n_ids, n_ctx):
    seen = []
    for start, first in windows(n_ids, n_ctx):
        length = min(n_ctx, n_ids - 1)
        assert 0 <= start and start + length <= n_ids - 1  # inputs start..start+length-1, targets one further
        for j in range(first, length):
            target = start + j + 1
            seen.append(target)
            if target > n_ctx:  # past the first window: at least n_ctx - n_ctx // 2 tokens before it
                assert j + 1 >= n_ctx - n_ctx // 2
    assert sorted(seen) == list(range(1, n_ids))


def reference_nll(model, ids) -> float:
    """The same windows, scored one at a time through model.forward (not the batched trainer)."""
    total = 0.0
    T = min(model.config.n_ctx, len(ids) - 1)
    for start, first in windows(len(ids), model.config.n_ctx):
        logp = log_softmax(model.forward(ids[start:start + T])["logits"].astype(np.float64))  # [T, V]
        total -= sum(logp[j, ids[start + j + 1]] for j in range(first, T))
    return total


def test_short_text_is_one_forward_pass(tiny_model):
    text = "I do not like spinach."
    ids = encode_text(tiny_model, text)
    assert len(ids) <= tiny_model.config.n_ctx
    logp = log_softmax(tiny_model.forward(ids)["logits"].astype(np.float64))  # [T, V]
    expected = -sum(logp[t - 1, ids[t]] for t in range(1, len(ids)))
    result = evaluate(tiny_model, text)
    assert result.tokens == len(ids) - 1
    assert result.nll == pytest.approx(expected, rel=1e-5)
    assert result.words == 6
    assert result.ppl_word == pytest.approx(math.exp(expected / 6), rel=1e-5)


def test_long_text_batched_equals_one_window_at_a_time(tiny_model):
    text = "\n\n".join(["We do not like it here, we like it there. Do you like tea?"] * 12)
    ids = encode_text(tiny_model, text)
    assert len(ids) > 3 * tiny_model.config.n_ctx
    progress = []
    result = evaluate(tiny_model, text, batch=4, progress=lambda d, t: progress.append((d, t)))
    assert result.tokens == len(ids) - 1
    assert result.nll == pytest.approx(reference_nll(tiny_model, ids), rel=1e-5)
    assert progress[-1][0] == progress[-1][1] == len(windows(len(ids), tiny_model.config.n_ctx))


def test_documents_are_joined_with_endoftext(tiny_model):
    eot = tiny_model.tokenizer.backend.token_to_id("<|endoftext|>")
    ids = encode_text(tiny_model, "I do not like it.\n\nI like tea.")
    assert ids[0] == eot and list(ids).count(eot) == 2


def test_trained_tokenizers_read_curly_quotes_as_straight():
    from attncli.tokenizer import Tokenizer
    from attncli.train.bpe import train_bpe

    tok = Tokenizer.from_str(train_bpe(["lily's cat said \"hi\"."] * 20, 300, lowercase=True))
    ids = lambda text: [t.id for t in tok.encode(text)]  # noqa: E731
    assert ids("Lily\u2019s cat said \u201cHi\u201d.") == ids("lily's cat said \"hi\".")


@pytest.mark.parametrize("how", HOWS)
def test_eval_dash_reads_the_text_from_stdin(how, tmp_path):
    """`attn eval -` scores stdin: the same numbers as the same text in a file, named <stdin>."""
    text = "Once upon a time there was a little girl. She did not like spinach, but she ate it.\n"
    story = tmp_path / "story.txt"
    story.write_text(text, encoding="utf-8")
    from_file = ok(attn(how, ["eval", str(story), "--json"])).json()
    from_stdin = ok(attn(how, ["eval", "-", "--json"], input=text)).json()
    validate(from_stdin)
    assert from_stdin["file"] == "<stdin>"
    for key in ("tokens_scored", "words", "nll", "perplexity_per_token", "perplexity_per_word"):
        assert from_stdin[key] == from_file[key], key
    plain = ok(attn(how, ["eval", "-"], input=text))
    assert plain.stdout.startswith("bundled on <stdin>: ")

