"""A long text: its labels cost work linear in its length, a text far over the context is refused
from its start alone, and --truncate reads only its end, with the same tokens as the whole text's.

No timing: the work is counted, as lines of attncli's Python run (sys.settrace) and as characters
handed to the tokenizer.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import attncli
from attncli.checkpoints import load
from attncli.errors import UsageError
from attncli.tokenizer import Token, Tokenizer

PACKAGE = str(Path(attncli.__file__).parent)
PIECES = ["I", " do", " not", " like", " spinach", "ology", " 🥦", "🥦", " café", " [MASK]", ".", "  ", "\n",
          " 日本"]


def lines_run(fn, *args) -> int:
    """How many lines of attncli's own code running fn(*args) executes: its work, without a clock."""
    count = 0

    def local(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return local

    def tracer(frame, event, arg):
        return local if frame.f_code.co_filename.startswith(PACKAGE) else None

    sys.settrace(tracer)
    try:
        fn(*args)
    finally:
        sys.settrace(None)
    return count


class Recording:
    """A tokenizers backend that records the length of every text it is given, and tokenizes it."""

    def __init__(self, backend) -> None:
        self.backend, self.lengths = backend, []

    def encode(self, text: str, **kw):
        self.lengths.append(len(text))
        return self.backend.encode(text, **kw)

    def __getattr__(self, name: str):
        return getattr(self.backend, name)


@pytest.fixture(scope="module")
def mlm():
    return load("bundled-mlm")


def repeated(unit: str, n: int) -> str:
    return unit * n


@pytest.mark.parametrize("which,unit", [
    ("bundled", "I do not like spinach 🥦 in a café, 日本. "),  # byte-level: emoji and CJK cut between tokens
    ("bundled-mlm", "the [MASK] sat on the mat . "),  # WordPiece, each [MASK] spelled as the mask token
])
def test_the_work_of_labelling_is_linear_in_the_text(bundled_model, mlm, which, unit):
    tok = (bundled_model if which == "bundled" else mlm).tokenizer
    short, long = repeated(unit, 40), repeated(unit, 160)  # 4 times as long: quadratic work would be 16 times
    assert abs(len(tok.encode(long)) / len(tok.encode(short)) - 4) < 0.01
    ratio = lines_run(tok.encode, long) / lines_run(tok.encode, short)
    assert 3.5 < ratio < 4.5, ratio


def test_a_text_far_over_the_context_is_refused_from_its_start_alone():
    model = load(None)
    spy = model.tokenizer.backend = Recording(model.tokenizer.backend)
    text = repeated("I do not like spinach 🥦. ", 40_000)  # a million characters
    with pytest.raises(UsageError, match=r"more than [\d,]+ tokens long; this model reads at most 64") as e:
        model.encode(text)
    assert "--truncate" in str(e.value)
    assert sum(spy.lengths) < 5_000, spy.lengths  # it tokenized a few hundred characters, not the million
    work = lines_run(lambda: pytest.raises(UsageError, model.encode, text))
    assert work == lines_run(lambda: pytest.raises(UsageError, model.encode, text[:100_000]))


def test_truncate_reads_only_the_end_of_a_long_text():
    model = load(None)
    spy = model.tokenizer.backend = Recording(model.tokenizer.backend)
    text = repeated("I do not like spinach 🥦. ", 40_000)
    tokens, cut = model.encode(text, truncate=True)
    assert cut and len(tokens) == model.config.n_ctx
    assert sum(spy.lengths) < 5_000, spy.lengths
    spy.lengths.clear()
    tail = text[-3_000:]  # starts at a word: its tokens end the same as the whole text's
    assert [t.id for t in tokens] == [t.id for t in model.tokenizer.encode(tail)][-model.config.n_ctx:]
    assert tokens[0].start == len(text) - 3_000 + model.tokenizer.encode(tail)[-model.config.n_ctx].start
    assert text[tokens[-1].start:tokens[-1].end] == text[-len(tokens[-1].raw or b""):]  # offsets in the whole text


def kept(tokens: list[Token], last: int) -> list[Token]:
    """The whole text's last `last` tokens as a truncated text has them: numbered from 0, words too,
    and the first continues nothing."""
    tail = tokens[-last:]
    return [t._replace(index=i, word=t.word - tail[0].word, continues=t.continues and i > 0)
            for i, t in enumerate(tail)]


def texts() -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(PIECES), min_size=1, max_size=400).map("".join).filter(str.strip)


@settings(max_examples=60, deadline=None)
@given(texts(), st.integers(1, 40), st.booleans())
def test_the_last_tokens_are_the_whole_texts_last_tokens(bundled_model, mlm, text, last, encoder):
    tok: Tokenizer = (mlm if encoder else bundled_model).tokenizer
    whole = tok.encode(text)
    assert tok.encode(text, last=last) == kept(whole, min(last, len(whole)))


@pytest.mark.parametrize("name", ["smollm2", "gemma3-270m", "minilm"])
def test_the_last_tokens_of_a_real_tokenizer_are_its_whole_texts(name):
    from attncli import registry
    from attncli.errors import ModelError

    try:
        registry.resolve(name)
    except ModelError:
        pytest.skip(f"{name} is not pulled (attn models pull {name})")
    tok = load(name).tokenizer
    text = repeated("I do not like spinach 🥦 in a café, 日本 [MASK]. ", 300)
    whole = tok.encode(text)
    for last in (1, 7, 100, 1000):
        assert tok.encode(text, last=last) == kept(whole, last)
