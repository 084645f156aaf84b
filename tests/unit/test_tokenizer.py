"""The tokenizer wrapper: ids, how tokens read, which words were split, and bad input."""

from __future__ import annotations

import pytest

from attncli.errors import ExitCode, UsageError
from attncli.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def tok(tiny_model) -> Tokenizer:
    return tiny_model.tokenizer  # the trained byte-level BPE, loaded from the saved tokenizer.json


def test_tokens_carry_ids(tok):
    text = "I do not like spinach"
    tokens = tok.encode(text)
    assert [t.index for t in tokens] == list(range(len(tokens)))
    assert [t.id for t in tokens] == tok.backend.encode(text, add_special_tokens=False).ids
    for t in tokens:
        assert tok.backend.token_to_id(t.token) == t.id
        assert tok.id_to_token(t.id) == t.token
    assert tok.decode([t.id for t in tokens]) == text


def test_spans_cover_the_text(tok):
    text = "We like tea and coffee"
    tokens = tok.encode(text)
    assert tokens[0].start == 0 and tokens[-1].end == len(text)
    assert "".join(text[t.start:t.end] for t in tokens) == text
    assert all(a.end == b.start for a, b in zip(tokens, tokens[1:]))


def test_byte_level_tokens_display_with_spaces(tok):
    tokens = tok.encode("I do not like spinach")
    like = next(t for t in tokens if t.token == "\u0120like")  # byte-level BPE writes the space as 'Ġ'
    assert like.text == " like"
    assert tok.display(like.id) == " like"
    assert all("\u0120" not in t.text for t in tokens)
    assert "".join(t.text for t in tokens) == "I do not like spinach"


def test_bytes_of_one_character_display_as_something_readable(tok):
    tokens = tok.encode("I like \U0001F642")  # an emoji is 4 bytes, none merged in this small vocab
    assert all(t.text and "\ufffd" not in t.text for t in tokens)
    assert tok.decode([t.id for t in tokens]) == "I like \U0001F642"


def test_a_word_split_into_pieces_is_marked(tok):
    tokens = tok.encode("I like spinachology")
    whole = [t for t in tokens if t.token in ("I", "\u0120like")]
    assert len(whole) == 2 and not any(t.split or t.continues for t in whole)
    pieces = [t for t in tokens if t.word == tokens[-1].word]
    assert len(pieces) > 2  # spinachology is not in the vocabulary
    assert all(t.split for t in pieces)
    assert not pieces[0].continues and all(t.continues for t in pieces[1:])
    assert "".join(t.text for t in pieces) == " spinachology"
    assert not any(t.unknown for t in tokens)  # byte-level BPE knows every byte


def test_unknown_tokens_are_marked():
    from tokenizers import Tokenizer as HF
    from tokenizers import models, pre_tokenizers

    backend = HF(models.WordLevel({"[UNK]": 0, "i": 1, "like": 2, "tea": 3}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokens = Tokenizer(backend).encode("i like spinach")
    assert [t.id for t in tokens] == [1, 2, 0]
    assert [t.unknown for t in tokens] == [False, False, True]
    assert not any(t.split for t in tokens)


def test_sentencepiece_words_start_at_the_space_mark():
    """A SentencePiece vocabulary (a GGUF 'llama' one: spaces made "▁", no pre-tokenizer) is one
    'word' to tokenizers; words start at "▁" and at special tokens instead."""
    from tokenizers import AddedToken, normalizers
    from tokenizers import Tokenizer as HF
    from tokenizers.models import BPE

    pieces = ["<s>", "\u2581", "I", "\u2581do", "\u2581sp", "in", "ach", "\u2581like"] + list("dospinachlke")
    vocab = {t: i for i, t in enumerate(dict.fromkeys(pieces))}
    merges = [("\u2581", "d"), ("\u2581d", "o"), ("\u2581", "s"), ("\u2581s", "p"), ("i", "n"), ("a", "c"),
              ("ac", "h"), ("\u2581", "l"), ("\u2581l", "i"), ("\u2581li", "k"), ("\u2581lik", "e")]
    vocab.update({a + b: len(vocab) + i for i, (a, b) in enumerate(merges) if a + b not in vocab})
    backend = HF(BPE(vocab=vocab, merges=merges))
    backend.normalizer = normalizers.Replace(" ", "\u2581")
    backend.add_special_tokens([AddedToken("<s>", special=True)])
    tok = Tokenizer(backend)
    tokens = tok.encode("I do <s> spinach like")
    assert [t.token for t in tokens] == ["I", "\u2581do", "\u2581", "<s>", "\u2581sp", "in", "ach", "\u2581like"]
    assert [t.word for t in tokens] == [0, 1, 2, 3, 4, 4, 4, 5]
    assert [t.special for t in tokens] == [False, False, False, True, False, False, False, False]
    assert [t.continues for t in tokens] == [False] * 5 + [True, True, False]


@pytest.mark.parametrize("text", ["", " ", "   ", "\n", "\t \n  \r\n"])
def test_empty_or_whitespace_text_is_a_usage_error(tok, text):
    with pytest.raises(UsageError, match="empty") as info:
        tok.encode(text)
    assert info.value.exit_code == ExitCode.USAGE
    assert "\n" not in str(info.value)


def test_from_file_and_from_str_agree(tiny_model_dir, tokenizer_json):
    a = Tokenizer.from_file(tiny_model_dir / "tokenizer.json")
    b = Tokenizer.from_str(tokenizer_json)
    assert a.vocab_size == b.vocab_size
    assert [t.id for t in a.encode("the cat sat")] == [t.id for t in b.encode("the cat sat")]
