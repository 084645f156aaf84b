"""A GGUF header's string arrays (a vocabulary's tokens, its merges) read in one decode: the same
strings as one decode per string, and the same refusals (reader.py's _Cursor.strings)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attncli.checkpoints.gguf.reader import _Cursor
from attncli.errors import ModelError


def packed(items: list[bytes], tail: bytes = b"") -> memoryview:
    return memoryview(b"HEAD" + b"".join(struct.pack("<Q", len(b)) + b for b in items) + tail)


def read(buf: memoryview, count: int) -> list[str]:
    cur = _Cursor(buf, Path("x.gguf"))
    cur.pos = 4
    return cur.strings(count, "tokenizer.ggml.tokens")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=12), max_size=40))
def test_the_strings_as_written(texts: list[str]) -> None:
    buf = packed([t.encode("utf-8") for t in texts], tail=b"\x07rest")
    cur = _Cursor(buf, Path("x.gguf"))
    cur.pos = 4
    assert cur.strings(len(texts), "tokens") == texts
    assert bytes(buf[cur.pos:]) == b"\x07rest"  # nothing after them was read


def test_a_character_split_between_two_strings_is_refused() -> None:
    """b"\\xc3" + b"\\xa9" decode together ("é") but neither alone: llama.cpp's strings are each UTF-8."""
    with pytest.raises(ModelError, match="not UTF-8"):
        read(packed([b"a", b"\xc3", b"\xa9"]), 3)


@pytest.mark.parametrize("texts", [["a\0b", "", "\0", "é\0€"], ["\0"], ["x", "y\0"]])
def test_strings_that_hold_nuls(texts: list[str]) -> None:
    """A NUL inside a string: the text is cut by character counts instead of at NULs."""
    assert read(packed([t.encode() for t in texts], tail=b"\x07"), len(texts)) == texts


def test_a_character_split_between_strings_that_hold_nuls_is_refused() -> None:
    with pytest.raises(ModelError, match="not UTF-8"):
        read(packed([b"\0a", b"\xc3", b"\xa9"]), 3)


def test_invalid_bytes_and_a_cut_off_character_are_refused() -> None:
    with pytest.raises(ModelError, match="not UTF-8"):
        read(packed([b"ok", b"\xff"]), 2)
    with pytest.raises(ModelError, match="not UTF-8"):
        read(packed([b"ok", b"\xe2\x82"]), 2)  # the last string ends inside a character


@pytest.mark.parametrize("count", [3, 1000])
def test_more_strings_than_the_file_holds(count: int) -> None:
    with pytest.raises(ModelError, match="runs past the end"):
        read(packed([b"a", b"bc"]), count)


def test_a_length_past_the_end() -> None:
    buf = memoryview(b"HEAD" + struct.pack("<Q", 2) + b"ab" + struct.pack("<Q", 1 << 40) + b"xyz")
    with pytest.raises(ModelError, match="runs past the end"):
        read(buf, 2)
