"""Text from the input, a tokenizer or a model file never reaches the terminal raw.

Control characters (C0, DEL, C1), line separators and bidi overrides are shown visibly
(\\x1b, \\u202e); JSON keeps the exact text. Words that a byte-level tokenizer cut inside a
character are named honestly ("🥦 byte 1/4"), never as mojibake.
"""

from __future__ import annotations

import re

import pytest

from helpers.run_cli import HOWS, Call, assert_one_error_line, attn, attn_all, ok
from helpers.schema import validate

HOSTILE = "I do \x1b[31m not \x07like \x9b2J spin\u202each\x7f"
SGR = re.compile(r"\x1b\[[0-9;]*m")  # what Rich itself writes for color, and nothing else


def raw_controls(text: str, color: bool = False) -> list[str]:
    """Characters a terminal would obey: C0 but newline, DEL, C1, bidi controls, line separators."""
    if color:
        text = SGR.sub("", text)
    bad = [ch for ch in text if (ord(ch) < 0x20 and ch != "\n") or 0x7F <= ord(ch) <= 0x9F
           or ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029"]
    return bad


@pytest.fixture(scope="module")
def hostile_model(make_model_dir):
    """A model whose name and card values hold control characters, as a downloaded file might."""
    path = make_model_dir(name="evil\x1b]0;pwned\x07name", card={"description": "x\x1b[2Jy", "license": "a\x9bb"})
    return path


@pytest.fixture(scope="module")
def runs(hostile_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("safety")
    m = ["-m", str(hostile_model)]
    calls = {
        "table": Call(["explain", HOSTILE, *m]),
        "table-color": Call(["explain", HOSTILE, *m, "--color", "always"]),
        "steps": Call(["explain", HOSTILE, *m, "--steps", "--token", "2"]),
        "summary": Call(["explain", HOSTILE, *m, "--summary"]),
        "rollout": Call(["explain", HOSTILE, *m, "--rollout"]),
        "attribution": Call(["explain", HOSTILE, *m, "--attribution"]),
        "heads": Call(["explain", HOSTILE, *m, "--head", "all"]),
        "compare": Call(["compare", HOSTILE, "I do like spinach", *m]),
        "predict": Call(["predict", HOSTILE, *m, "-g", "4"]),
        "info": Call(["info", *m]),
        "models": Call(["models", "list"], env={"ATTN_CACHE": str(tmp / "cache\x1b[31m")}),
        "html": Call(["explain", "hi", *m, "--html", str(tmp / "page\x1b[31m.html")]),
        "error-path": Call(["explain", "hi", "-m", str(tmp / "no\x1b]0;x\x07such")]),
        "error-token": Call(["explain", "hi", *m, "--steps", "--token", "x\x1b[31m"]),
        "json": Call(["explain", HOSTILE, *m, "--json"]),
    }
    return {how: attn_all(how, calls) for how in HOWS}


@pytest.mark.parametrize("how", HOWS)
def test_no_control_character_reaches_the_terminal(runs, how):
    for name, run in runs[how].items():
        if name == "json":
            continue
        color = name.endswith("-color")
        assert raw_controls(run.stdout, color) == [], (name, "stdout", run.stdout[:300])
        assert raw_controls(run.stderr) == [], (name, "stderr", run.stderr)
        if name.startswith("error"):
            assert_one_error_line(run)
        else:
            assert run.code == 0, (name, run.stderr)


@pytest.mark.parametrize("how", HOWS)
def test_control_characters_are_shown_not_dropped(runs, how):
    r = runs[how]
    assert "\\x1b" in r["table"].stdout and "\\x07" in r["table"].stdout  # in the labels, visibly
    assert "\\x1b" in r["info"].stdout  # the model's name and card
    assert "\\x1b" in r["error-path"].stderr and "\\x1b" in r["html"].stderr


@pytest.mark.parametrize("how", HOWS)
def test_json_keeps_the_exact_text(runs, how):
    doc = runs[how]["json"].json()
    validate(doc)
    assert doc["text"] == HOSTILE
    assert "\x1b" in "".join(t["text"] for t in doc["tokens"])
    assert doc["model"]["name"] == "evil\x1b]0;pwned\x07name"


# ---- honest labels for text a byte-level tokenizer cuts inside characters -------------------

EMOJI = "I do not like 🥦 spinach 😀"


@pytest.mark.parametrize("how", HOWS)
def test_a_cut_character_is_named_by_its_bytes(how):
    run = ok(attn(how, ["explain", EMOJI, "--json"]))
    doc = run.json()
    validate(doc)
    toks = doc["tokens"]
    broccoli = [t for t in toks if t["start"] <= EMOJI.index("🥦") < t["end"] and t["partial"]]
    assert [t["text"] for t in broccoli] == [f"🥦 byte {i}/4" for i in range(1, 5)]
    # the bytes are exact, and together they are the character
    assert b"".join(bytes.fromhex(t["bytes"]) for t in broccoli) == "🥦".encode()
    assert all(not t["partial"] and bytes.fromhex(t["bytes"]).decode() == t["text"] for t in toks if not t["partial"])
    table = ok(attn(how, ["explain", EMOJI])).stdout
    assert "ð" not in table and "Ł" not in table  # no mojibake anywhere
    assert "🥦 byte 1/4" in table and 'of "🥦"' in table  # labels, and the word as the input spells it


@pytest.mark.parametrize("how", HOWS)
def test_chinese_words_read_in_their_own_characters(how):
    text = "我不喜欢菠菜"
    table = ok(attn(how, ["explain", text, "--head", "0"])).stdout
    assert f'of "{text}"' in table
    assert "我 byte 1/3" in table and "æ" not in table


def test_a_predicted_byte_reads_as_its_byte(bundled_model):
    tok = bundled_model.tokenizer
    lone = tok.backend.token_to_id("ð")  # GPT-2's spelling of the byte 0xF0: half of nothing
    assert tok.display(lone) == "<F0>"
    assert tok.display(tok.backend.token_to_id("Ġlike")) == " like"


def test_printable_escapes_what_a_terminal_obeys():
    from attncli.labels import printable

    assert printable("a\x1b[31mb") == "a\\x1b[31mb"
    assert printable("x\x9by\x7fz") == "x\\x9by\\x7fz"
    assert printable("l\u202er") == "l\\u202er"
    assert printable("line\nbreak") == "line\\nbreak" and printable("line\nbreak", newlines=True) == "line\nbreak"
    family = "👨\u200d👩\u200d👧"  # joiners hold an emoji together: they stay
    assert printable(family) == family
    assert printable("naïve 🥦 我") == "naïve 🥦 我"



# Characters that draw nothing: a token made of one looked empty and shifted the columns after it.
INVISIBLE = ["\u200d", "\ufe0f", "\u200b", "\u200c", "\u200e", "\u200f", "\u2060", "\u2061", "\u2064", "\ufe00",
             "\U000e0100", "\U000e01ef", "\u180e", "\ufeff", "\u034f", "\u00ad", "\U000e0041", "\u3164"]


@pytest.mark.parametrize("ch", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
def test_a_token_that_draws_nothing_is_shown_as_an_escape(ch):
    from attncli.labels import token_label, token_repr, token_text
    from attncli.tokenizer import Token

    code = ord(ch)  # written as Python writes it in a string
    escape = f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    for text in (ch, f" {ch}", f"❤{ch}"):
        tok = Token(index=0, id=1, token=text, text=text, start=0, end=len(text), word=0, split=False,
                    continues=False, unknown=False)
        label = token_label(tok)
        assert escape in label and ch not in label, (text, label)
        assert escape in token_text(text) and ch not in token_repr(text) and escape in token_repr(text)
    assert token_label(tok) == "❤" + escape  # what draws stays as it is


def test_in_a_sentence_an_emoji_keeps_its_joiners():
    from attncli.labels import printable

    assert printable("👨\u200d👩\u200d👧 ❤\ufe0f") == "👨\u200d👩\u200d👧 ❤\ufe0f"


@pytest.mark.parametrize("how", HOWS)
def test_joiner_and_variation_selector_tokens_are_escaped_in_the_tables(how, tiny_model_dir):
    # the test tokenizer is byte-level: each of these characters is tokens of its own bytes, labelled by it
    r = attn(how, ["explain", "a \u200d b \ufe0f c", "-m", str(tiny_model_dir)], env={"COLUMNS": "200"})
    assert r.code == 0, r.stderr
    tables = "\n".join(line for line in r.stdout.splitlines() if not line.startswith("Next-token predictions after"))
    assert "\u200d" not in tables and "\ufe0f" not in tables  # (the text itself, quoted, is not a label)
    assert "##\\u200d byte 1/3" in tables and "##\\ufe0f byte 1/3" in tables and 'of 4 of "\\ufe0f"' in tables
