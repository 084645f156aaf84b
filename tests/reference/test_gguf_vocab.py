"""GGUF vocabularies against llama.cpp: every reference case of every ggml-vocab file that
llama.cpp ships (read from the llama-cpp-python sdist, see llamacpp_data.py) must give
exactly llama.cpp's ids; what build_vocab cannot reproduce it must refuse in one line."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from attncli.checkpoints.gguf import vocab as gguf_vocab
from attncli.checkpoints.gguf.vocab import PRE_TYPES, build_vocab
from attncli.errors import ModelError
from attncli.tokenizer import byte_level_alphabet
from helpers import llamacpp_data as data
from helpers.llamacpp_data import meta_of

# Every vocabulary in the sdist: None if build_vocab must reproduce it, else what its refusal names.
VOCABS: dict[str, str | None] = {
    "aquila": None, "baichuan": None, "bert-bge": "'bert'", "command-r": None, "deepseek-coder": None,
    "deepseek-llm": None, "falcon": None, "gemma-4": None, "gpt-2": None, "gpt-neox": None, "llama-bpe": None,
    "llama-spm": None, "mpt": None, "nomic-bert-moe": "'t5'", "phi-3": None, "qwen2": None, "qwen35": None,
    "refact": None, "starcoder": None,
}
SUPPORTED = [name for name, refusal in VOCABS.items() if refusal is None]
WITHOUT_CASES = {"aquila", "baichuan", "gpt-neox", "nomic-bert-moe"}  # the sdist has no .inp/.out for these


_vocabs: dict[str, gguf_vocab.GGUFVocab] = {}



def vocab_of(name: str) -> gguf_vocab.GGUFVocab:
    if name not in _vocabs:
        _vocabs[name] = build_vocab(meta_of(name), f"ggml-vocab-{name}.gguf")
    return _vocabs[name]


def encode(v: gguf_vocab.GGUFVocab, text: str) -> list[int]:
    return v.backend.encode(text, add_special_tokens=False).ids


def decode(v: gguf_vocab.GGUFVocab, ids: list[int]) -> str:
    return v.backend.decode(ids, skip_special_tokens=False)


def one_line_error(meta: dict[str, Any], source: str = "model.gguf") -> str:
    with pytest.raises(ModelError) as e:
        build_vocab(meta, source)
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{source}: "), message
    return message


# ---- llama.cpp's own reference cases -------------------------------------------------------------

def test_the_sdist_ships_the_vocabularies_listed_here() -> None:
    assert data.vocab_names() == sorted(VOCABS)


@pytest.mark.parametrize("name", [n for n in SUPPORTED if n not in WITHOUT_CASES])
def test_every_reference_case_gives_llama_cpps_ids(name: str, record_property: Any) -> None:
    # llama.cpp's test-tokenizer-0 encodes with parse_special=false, build_vocab's tokenizer as
    # parse_special=true: the two agree because no case holds a control token's text
    v = vocab_of(name)
    cases = data.cases(name)
    wrong = [(text, encode(v, text), ids) for text, ids in cases if encode(v, text) != ids]
    record_property("agreement", f"{len(cases) - len(wrong)}/{len(cases)}")
    print(f"ggml-vocab-{name}: {len(cases) - len(wrong)}/{len(cases)} cases give llama.cpp's ids")
    assert not wrong, f"{len(wrong)} of {len(cases)} cases differ, e.g. " + "; ".join(
        f"{text!r}: got {got}, llama.cpp {ids}" for text, got, ids in wrong[:3])


@pytest.mark.parametrize("name", [n for n, refusal in VOCABS.items() if refusal])
def test_what_cannot_be_reproduced_is_refused_in_one_line(name: str) -> None:
    message = one_line_error(meta_of(name), f"ggml-vocab-{name}.gguf")
    assert VOCABS[name] in message and "not supported" in message


@pytest.mark.parametrize("name", SUPPORTED)
def test_decoding_gives_the_text_back(name: str) -> None:
    v = vocab_of(name)
    for text, _ in data.cases("qwen35")[:50]:  # the longest list; the texts hold no special-token text
        assert decode(v, encode(v, text)) == text


# ---- the pieces, one at a time -------------------------------------------------------------------

def test_llama3_takes_a_word_that_is_a_token_whole() -> None:
    # Llama 3 sets ignore_merges: " Việt" is a token, so merging from bytes (which reaches
    # other pieces) is skipped; attncli's old tokenizer split it into three
    v = vocab_of("llama-bpe")
    tokens = meta_of("llama-bpe")["tokenizer.ggml.tokens"]
    ids = encode(v, "Cửa Việt")
    assert [tokens[i] for i in ids] == ["C", "á»Ńa", "ĠViá»ĩt"]
    assert ids == [34, 91163, 101798]
    merged = build_vocab({**meta_of("llama-bpe"), "tokenizer.ggml.pre": "dbrx"}, "x")  # same regex, merges only
    assert encode(merged, "Cửa Việt") != ids


def test_each_token_decodes_to_what_it_reads() -> None:
    bpe, spm, deepseek = vocab_of("llama-bpe"), vocab_of("llama-spm"), vocab_of("deepseek-llm")
    assert decode(bpe, encode(bpe, " world")) == " world" and len(encode(bpe, " world")) == 1
    assert decode(bpe, [128000]) == "<|begin_of_text|>"
    assert decode(spm, encode(spm, "world")) == "world"  # "▁world": the prefix space llama.cpp adds is dropped
    assert decode(spm, [spm.backend.token_to_id("<0x0A>")]) == "\n"
    oe = deepseek.backend.token_to_id("ø")  # a user-defined token spelled like GPT-2's byte 0xF8
    assert encode(deepseek, "ø") == [oe] and decode(deepseek, [oe]) == "ø"


def test_special_tokens_are_cut_out_of_the_text_first() -> None:
    qwen = vocab_of("qwen2")
    start = qwen.backend.token_to_id("<|im_start|>")
    assert encode(qwen, "<|im_start|>user") == [start] + encode(qwen, "user")
    phi = vocab_of("phi-3")
    user = phi.backend.token_to_id("<|user|>")
    # Phi-3's specials strip the spaces after them; SentencePiece then puts its space back
    assert encode(phi, "<|user|>  \thi") == [user] + encode(phi, "hi")
    assert encode(phi, "<s>hi") == [1] + encode(phi, "hi") == [1, 7251]


@pytest.mark.xfail(strict=True, reason="tokenizers matches special tokens leftmost-longest, llama.cpp longest first")
def test_overlapping_special_tokens() -> None:
    falcon = vocab_of("falcon")
    eot = falcon.backend.token_to_id("<|endoftext|>")
    assert encode(falcon, ">>ABSTRACT<<|endoftext|>") == encode(falcon, ">>ABSTRACT<") + [eot]


@pytest.mark.xfail(strict=True, reason="tokenizers' rstrip takes Unicode whitespace, llama.cpp's ASCII only")
def test_phi3_keeps_a_no_break_space_after_a_special_token() -> None:
    phi = vocab_of("phi-3")
    assert encode(phi, "<|user|>\u00a0hi") == [phi.backend.token_to_id("<|user|>")] + encode(phi, "\u00a0hi")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_byte_level_bpe_loses_nothing(text: str) -> None:
    v = vocab_of("llama-bpe")
    assume("<|" not in text)
    assert decode(v, encode(v, text)) == text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\u2581<"), max_size=40))
def test_sentencepiece_loses_nothing_but_its_space_marker(text: str) -> None:
    v = vocab_of("llama-spm")
    assert decode(v, encode(v, text)) == text


# ---- ids and flags from the metadata, with llama.cpp's defaults ---------------------------------

@pytest.mark.parametrize("name, expected", [
    ("llama-bpe", {"bos_id": 128000, "eos_id": 128001, "unk_id": None, "add_bos": True, "add_eos": False}),  # llama3's default
    ("llama-spm", {"bos_id": 1, "eos_id": 2, "unk_id": 0, "add_bos": True, "add_eos": False}),
    ("command-r", {"bos_id": 5, "eos_id": 255001, "pad_id": 0, "add_bos": True}),
    ("qwen2", {"bos_id": 151643, "eos_id": 151643, "pad_id": 151643, "add_bos": False}),
    ("falcon", {"bos_id": 11, "eos_id": 11, "add_bos": False}),
    ("gemma-4", {"bos_id": 2, "eos_id": 1, "unk_id": 3, "pad_id": 0, "mask_id": 4, "add_bos": True, "model": "gemma4", "pre": "gemma4"}),
    ("phi-3", {"bos_id": 1, "eos_id": 32000, "pad_id": 32000, "model": "llama", "pre": "default"}),
])
def test_special_ids_come_from_the_metadata(name: str, expected: dict[str, Any]) -> None:
    v = vocab_of(name)
    assert {k: getattr(v, k) for k in expected} == expected


def test_missing_ids_fall_back_to_llama_cpps_defaults() -> None:
    keys = [k for k in meta_of("llama-spm") if k.endswith("_token_id") or k.startswith("tokenizer.ggml.add_")]
    spm = build_vocab({k: v for k, v in meta_of("llama-spm").items() if k not in keys}, "x")
    assert (spm.bos_id, spm.eos_id, spm.unk_id, spm.add_bos, spm.add_eos) == (1, 2, 0, True, False)
    out_of_range = build_vocab({**meta_of("llama-spm"), "tokenizer.ggml.bos_token_id": 10**6}, "x")
    assert out_of_range.bos_id == 1  # llama.cpp warns and keeps the default
    gpt2 = build_vocab(tiny_gpt2(), "x")
    assert (gpt2.bos_id, gpt2.eos_id, gpt2.unk_id, gpt2.add_bos) == (11, 11, None, False)
    assert build_vocab(tiny_gpt2(**{"tokenizer.ggml.pre": "chatglm-bpe"}), "x").bos_id is None
    assert build_vocab(tiny_gpt2(**{"tokenizer.ggml.pre": "llama3"}), "x").add_bos is True
    no_bos = tiny_gpt2(**{"tokenizer.ggml.pre": "llama3", "tokenizer.ggml.add_bos_token": False})
    assert build_vocab(no_bos, "x").add_bos is False
    gemma = build_vocab({**tiny_gemma4(), "tokenizer.ggml.add_bos_token": False}, "x")
    assert (gemma.add_bos, gemma.bos_id, gemma.eos_id) == (True, None, None)  # llama.cpp insists for Gemma 4


# ---- gguf_vocab's tables against llama.cpp's sources --------------------------------------------

def test_the_pre_type_table_is_llama_cpps() -> None:
    in_source = data.pre_types()
    for name, pre in PRE_TYPES.items():
        kind, regexes, flags = in_source[name]
        assert list(pre.regexes) == regexes, name
        assert (pre.ignore_merges, pre.add_bos, pre.no_bos, pre.spm_spaces) == (
            flags["ignore_merges"], flags["add_bos"], flags["no_bos"], flags["spm_spaces"]), name
        assert pre.newlines_whole == pre.force_bos == (kind == "GEMMA4"), name


def test_every_other_pre_type_is_refused_by_name() -> None:
    others = sorted(set(data.pre_types()) - set(PRE_TYPES))
    assert others  # llama.cpp's hand-written splitters (kimi-k2, afmoe, ...) are not rebuilt
    for name in others + ["no-such-pre"]:
        message = one_line_error({**meta_of("gpt-2"), "tokenizer.ggml.pre": name})
        assert f"pre-type {name!r} is not supported" in message and "llama-bpe" in message


def test_character_classes_are_llama_cpps() -> None:
    """Each \\p{..} and \\s, as _onig() hands it to Oniguruma, holds exactly the codepoints
    llama.cpp's unicode-data.cpp puts in that class, whatever Unicode tokenizers knows."""
    from tokenizers import Regex, pre_tokenizers

    flags, space = data.unicode_flags()
    codepoints = np.array([c for c in range(0x110000) if not 0xD800 <= c < 0xE000])  # [n]
    text = "".join(map(chr, codepoints))
    for pattern, expected in [(r"\p{L}", flags & 0x04), (r"\p{N}", flags & 0x02), (r"\p{M}", flags & 0x10),
                              (r"\p{P}", flags & 0x20), (r"\p{S}", flags & 0x40), (r"\p{Lu}", flags & 0x04),
                              (r"\s", space)]:
        matched = np.ones(len(codepoints), dtype=bool)  # [n]
        split = pre_tokenizers.Split(Regex(gguf_vocab._onig(pattern)), behavior="removed")
        for _, (start, end) in split.pre_tokenize_str(text):
            matched[start:end] = False  # what is left is what did not match
        differ = codepoints[matched != expected[codepoints].astype(bool)]
        assert differ.size == 0, f"{pattern}: {differ.size} codepoints differ from llama.cpp, e.g. " + \
            ", ".join(f"U+{c:04X}" for c in differ[:8])


# ---- metadata that is wrong or incomplete --------------------------------------------------------

def tiny_gpt2(**changes: Any) -> dict[str, Any]:
    """A byte-level BPE with the 256 byte tokens and three merges that make " the"."""
    alphabet = byte_level_alphabet()
    tokens = [alphabet[b] for b in range(256)] + ["Ġt", "he", "Ġthe", "<|endoftext|>"]
    meta = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt-2", "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.token_type": np.array([1] * 259 + [3], dtype=np.int32),
            "tokenizer.ggml.merges": ["Ġ t", "h e", "Ġt he"]}
    meta.update(changes)
    return {k: v for k, v in meta.items() if v is not None}


def tiny_gemma4() -> dict[str, Any]:
    """Gemma 4's kind of BPE: raw UTF-8 with "▁" for spaces, byte tokens for the rest."""
    tokens = [f"<0x{b:02X}>" for b in range(256)] + ["▁", "a", "▁a", "\n", "\n\n"]
    return {"tokenizer.ggml.model": "gemma4", "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.token_type": np.array([6] * 256 + [1] * 5, dtype=np.int32),
            "tokenizer.ggml.merges": ["▁ a", "\n \n"]}


def test_tiny_vocabularies_work() -> None:
    v = build_vocab(tiny_gpt2(), "x")
    assert encode(v, " the<|endoftext|>") == [258, 259] and decode(v, [258, 259]) == " the<|endoftext|>"
    g = build_vocab(tiny_gemma4(), "x")
    assert encode(g, "a a\n\nb") == [257, 258, 260, 0x62] and decode(g, encode(g, "a a\n\nb")) == "a a\n\nb"


@pytest.mark.parametrize("changes, says", [
    (dict(**{"tokenizer.ggml.tokens": None}), "tokenizer.ggml.tokens is missing"),
    (dict(**{"tokenizer.ggml.tokens": "abc"}), "tokenizer.ggml.tokens is missing or not a list"),
    (dict(**{"tokenizer.ggml.merges": None}), "tokenizer.ggml.merges is missing"),
    (dict(**{"tokenizer.ggml.merges": ["Ġ t", "he"]}), "merge 'he' is not two tokens separated by a space"),
    (dict(**{"tokenizer.ggml.merges": ["Ġ t", "t h"]}), "merge 't h' joins or makes a string that is not a token"),
    (dict(**{"tokenizer.ggml.token_type": np.ones(5, dtype=np.int32)}), "token_type has 5 entries for 260 tokens"),
    (dict(**{"tokenizer.ggml.model": None}), "tokenizer.ggml.model is missing"),
    (dict(**{"tokenizer.ggml.model": "rwkv"}), "tokenizer model 'rwkv' is not supported"),
    (dict(**{"tokenizer.ggml.pre": "xyz"}), "tokenizer pre-type 'xyz' is not supported; attncli knows: "),
    (dict(**{"tokenizer.ggml.add_bos_token": "yes"}), "tokenizer.ggml.add_bos_token is 'yes', not true or false"),
    (dict(**{"tokenizer.ggml.eos_token_id": -1}), "tokenizer.ggml.eos_token_id is -1, not a token id"),
])
def test_broken_metadata_is_one_line(changes: dict[str, Any], says: str) -> None:
    assert says in one_line_error(tiny_gpt2(**changes))


def test_a_token_given_twice_is_refused() -> None:
    tokens = tiny_gpt2()["tokenizer.ggml.tokens"]
    assert "token 'he' appears twice" in one_line_error(tiny_gpt2(**{"tokenizer.ggml.tokens": tokens + ["he"]}))


def test_broken_sentencepiece_metadata_is_one_line() -> None:
    spm = meta_of("llama-spm")
    short = spm["tokenizer.ggml.scores"][:100]
    assert "tokenizer.ggml.scores has 100 entries for 32000 tokens" in one_line_error({**spm, "tokenizer.ggml.scores": short})
    assert "tokenizer.ggml.scores is missing" in one_line_error({k: v for k, v in spm.items() if k != "tokenizer.ggml.scores"})
    no_bytes = [t if t != "<0x41>" else "<0x41>?" for t in spm["tokenizer.ggml.tokens"]]
    assert "lacks byte token <0x41>" in one_line_error({**spm, "tokenizer.ggml.tokens": no_bytes})
    renamed = {**spm, "general.name": "Phi-3 mini"}  # Phi-3 by name, but no <|endoftext|>: llama.cpp fails to load it
    assert "a Phi-3 vocabulary without <|endoftext|>" in one_line_error(renamed)
