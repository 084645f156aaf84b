"""Tokenizers built from GGUF metadata that split text into the same ids as llama.cpp, and
`read_tokenizer`, which wraps one as the Tokenizer of a GGUF Model (with its BOS if added).

Follows llama.cpp's `src/llama-vocab.cpp` and `src/unicode.cpp` as vendored in
llama-cpp-python 0.3.36: `llama_tokenize(text, add_special=false, parse_special=true)`.
Three tokenizer models are rebuilt with Hugging Face `tokenizers`:

- "gpt2": byte-level BPE over llama.cpp's pre-tokenizer regexes for `tokenizer.ggml.pre`;
- "llama": SentencePiece BPE, merging by token score, "▁" for spaces, bytes as `<0xXX>`;
- "gemma4": BPE over raw UTF-8 with "▁" for spaces, split only at newlines.

Anything else ("bert" WordPiece, "t5" Unigram, "rwkv", pre-tokenizers llama.cpp splits with
hand-written code) is refused with a ModelError, never approximated. Known gaps, both needing
special-token text in the input: `tokenizers` matches special tokens leftmost-longest where
llama.cpp takes the longest token first, which differs only when two of them overlap (Falcon's
">>ABSTRACT<<" running into "<|endoftext|>"); and the specials that strip whitespace beside them
(Phi-3's, a few "<mask>"s) strip Unicode whitespace, where llama.cpp strips ASCII only.
Decoding gives the text back without llama_detokenize's clean-up of spaces before punctuation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...errors import ModelError
from .spm import ScoreMerges

if TYPE_CHECKING:
    from pathlib import Path

    from ...config import ModelConfig
    from ...tokenizer import Tokenizer

# llama_token_type values in tokenizer.ggml.token_type, and llama_token_attr bits
UNDEFINED_T, NORMAL_T, UNKNOWN_T, CONTROL_T, USER_DEFINED_T, UNUSED_T, BYTE_T = range(7)
UNKNOWN, UNUSED, NORMAL, CONTROL, USER_DEFINED, BYTE = 1, 2, 4, 8, 16, 32
LSTRIP, RSTRIP = 128, 256
ATTR_OF_TYPE = {NORMAL_T: NORMAL, UNKNOWN_T: UNKNOWN, CONTROL_T: CONTROL, USER_DEFINED_T: USER_DEFINED,
                UNUSED_T: UNUSED, BYTE_T: BYTE}
SPECIAL = CONTROL | USER_DEFINED | UNKNOWN  # llama.cpp's cache_special_tokens: cut out of the text first

SPACE = "\u2581"  # "▁", SentencePiece's space


@dataclass
class GGUFVocab:
    backend: Any  # tokenizers.Tokenizer; encodes like llama_tokenize(text, add_special=False, parse_special=True)
    bos_id: int | None
    eos_id: int | None
    unk_id: int | None
    pad_id: int | None
    mask_id: int | None
    add_bos: bool  # llama.cpp puts bos_id first when asked for special tokens
    add_eos: bool
    model: str  # tokenizer.ggml.model
    pre: str  # tokenizer.ggml.pre ("default" when absent)
    warnings: list[str] = field(default_factory=list)  # what was accepted with a default, as llama.cpp logs it


# ---------------------------------------------------------------------------------------------
# Pre-tokenizer regexes, verbatim from llm_tokenizer_bpe's constructor (C++ escapes undone).
# `tokenizers` runs them with Oniguruma; _onig() gives them llama.cpp's character classes.

GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
CONTRACTIONS = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
LLAMA3 = CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2 = CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN35 = (CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+"
          r"|\s+(?!\S)|\s+")
UPPER_LOWER = r"((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+"  # tekken's and gpt-4o's cased words
LOWER_UPPER = r"((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*"
TEKKEN = (r"[^\r\n\p{L}\p{N}]?" + UPPER_LOWER + r"|[^\r\n\p{L}\p{N}]?" + LOWER_UPPER
          + r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
SEED_CODER = (CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)"
              r"|\s+")
BAILING = (r"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
           r"|\s*[\r\n]|\s+(?!\S)|\s+")
EXAONE_MOE = (CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?"
              r"|\s*[\r\n]|\s+(?!\S)|\s+")
CASED = r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]"  # all letters and marks to llama.cpp (see _CATEGORY)
CASED_LOWER = r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"
YOUTU_MAIN = (r"[^\r\n\p{L}\p{N}]?" + CASED + "*" + CASED_LOWER + "+" + CONTRACTIONS + r"?|[^\r\n\p{L}\p{N}]?" + CASED
              + "+" + CASED_LOWER + "*" + CONTRACTIONS + r"?|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
MARKED = r"((?=[\p{L}\p{M}])([^a-z]))*((?=[\p{L}\p{M}])([^A-Z]))+"  # UPPER_LOWER with marks
MARKED_LOWER = r"((?=[\p{L}\p{M}])([^a-z]))+((?=[\p{L}\p{M}])([^A-Z]))*"
GRANITE_EMB = (r"[^\r\n\p{L}\p{N}]?" + MARKED + CONTRACTIONS + r"?|[^\r\n\p{L}\p{N}]?" + MARKED_LOWER + CONTRACTIONS
               + r"?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
GPT4O = (r"[^\r\n\p{L}\p{N}]?" + UPPER_LOWER + CONTRACTIONS + r"?|[^\r\n\p{L}\p{N}]?" + LOWER_UPPER + CONTRACTIONS
         + r"?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# deepseek's and poro's classes list non-ASCII characters; escaped here so none is mistaken for a look-alike
DEEPSEEK_LATIN = (
    "\\s?[A-Za-z\xb5\xc0-\xd6\xd8-\xf6\xf8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373"
    "\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481"
    "\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b"
    "\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b"
    "\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb"
    "\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128"
    "\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4"
    "\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf"
    "\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3"
    "\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+"
)
DEEPSEEK_PUNCT = "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+"
CJK_HANGUL = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"
CJK_KANA = "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"
DEEPSEEK3_MAIN = ("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
                  "| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+")
SPARK_MAIN = ("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
              "| ?[\\p{P}\\p{S}]+|[\r\n]|\\s+(?!\\S)|\\s+")
YOUTU_CJK = ("[\uac00-\ud7a3\u3131-\u318e]+|[\uff01\u2026\u201c\u201d\u2018\u2019\u2014\uff1a\uff1b\uff0c\u3001-\u303f"
             "\ufe30-\ufe4f]+|[\u3105-\u312f]+|[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+")
NEWLINES = "[^\\n]+|[\\n]+"  # llama.cpp splits these with its own code, not std::regex
PORO = " ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+"
JAIS2 = (CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
         + "".join(rf"|\s{{{n}}}(?!\S)" for n in (512, 256, 128, 64, 32, 16, 8, 4)) + r"|\s{1,2}(?!\S)|\s{1}")


@dataclass(frozen=True)
class PreType:
    regexes: tuple[str, ...]  # applied in order, each to the pieces the previous one left
    ignore_merges: bool = False  # a piece that is itself a token is not merged up from characters
    add_bos: bool = False  # llama.cpp's default when tokenizer.ggml.add_bos_token is absent
    no_bos: bool = False  # llama.cpp clears the default bos id
    # SentencePiece-style BPE (gemma4, sarvam-moe): no byte-level alphabet; spaces are "▁"
    # and a character without a token is spelled in <0xXX> byte tokens
    spm_spaces: bool = False
    newlines_whole: bool = False  # a run of newlines that is a token is taken whole (Gemma 4)
    force_bos: bool = False  # add_bos is true whatever the metadata says (Gemma 4)


DEFAULT = PreType((r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"))
PRE_TYPES: dict[str, PreType] = {"default": DEFAULT}


def _register(names: str, pre: PreType) -> None:
    for name in names.split():
        PRE_TYPES[name] = pre


# tokenizer.ggml.pre -> llama.cpp's LLAMA_VOCAB_PRE_TYPE_*, as in llama_vocab::impl::load
_register("llama3 llama-v3 llama-bpe falcon3 falcon-h1 pixtral midm-2.0 lfm2 jina-v5-nano",
          PreType((LLAMA3,), ignore_merges=True, add_bos=True))
_register("dbrx smaug-bpe", PreType((LLAMA3,)))
_register("chatglm-bpe", PreType((LLAMA3,), no_bos=True))
_register("glm4 glm5", PreType((LLAMA3,), ignore_merges=True, no_bos=True))
_register("minicpm5", PreType((r"\p{N}{1,3}", CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+"
                               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"), ignore_merges=True))
_register("jais-2", PreType((JAIS2,)))
_register("deepseek-llm", PreType(("[\r\n]", DEEPSEEK_LATIN, DEEPSEEK_PUNCT, "\\s+$", CJK_HANGUL,
                                   r"\p{N}+")))
_register("deepseek-coder", PreType(("[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", CJK_HANGUL, r"\p{N}")))
_register("deepseek-v3 hunyuan-dense joyai-llm hy_v4", PreType((r"\p{N}{1,3}", CJK_KANA, DEEPSEEK3_MAIN)))
_register("falcon", PreType((r"[\p{P}\$\+<=>\^~\|`]+", GPT2, "[0-9][0-9][0-9]")))
_register("starcoder refact command-r smollm codeshell exaone minerva-7b mellum2", PreType((r"\p{N}", GPT2)))
_register("gpt-2 phi-2 jina-es jina-de gigachat jina-v2-es jina-v2-de a.x-4.0 mellum modern-bert jina-v1-en "
          "jina-v2-code roberta-bpe exaone4 mpt olmo jais trillion granite-docling", PreType((GPT2,)))
_register("qwen2 deepseek-r1-qwen kormo f2llmv2 megrez stablelm2 hunyuan solar-open grok-2", PreType((QWEN2,)))
_register("qwen35", PreType((QWEN35,)))
_register("laguna", PreType((NEWLINES, QWEN2)))
_register("poro-chat bloom gpt3-finnish", PreType((PORO,)))
_register("viking", PreType((PORO, r"\p{N}")))
_register("tekken", PreType((TEKKEN,), ignore_merges=True, add_bos=True))
_register("gpt-4o llama4 kanana2 talkie minimax-m2", PreType((GPT4O,)))
_register("chameleon", PreType(("<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )",
                                r"\p{N}", r"[\p{P}!-/:-@\[-`{-~]", GPT2), add_bos=True))
_register("seed-coder", PreType((SEED_CODER,)))
_register("bailingmoe bailingmoe2 llada-moe", PreType((BAILING,)))
_register("ufakzeka", PreType((QWEN2[len(CONTRACTIONS) + 1:],)))  # qwen2's without the contractions
_register("spark2_5", PreType((r"\p{N}{1,3}", CJK_KANA, SPARK_MAIN, r"\p{N}")))
_register("youtu", PreType((YOUTU_CJK, YOUTU_MAIN), ignore_merges=True))
_register("granite-embed-multi-97m", PreType((GRANITE_EMB,), ignore_merges=True))
_register("gemma4 granite-embed-multi-311m", PreType((NEWLINES,), spm_spaces=True, newlines_whole=True, force_bos=True))
_register("sarvam-moe", PreType((NEWLINES,), spm_spaces=True))
_register("exaone-moe", PreType((EXAONE_MOE,)))

# Codepoints the regex engine of `tokenizers` (Unicode 16) puts in a category while
# llama.cpp's tables (unicode-data.cpp, Unicode 15) leave them unassigned: taken out of
# every \p{..} so both agree. tests/reference/test_gguf_vocab.py checks every codepoint against
# llama.cpp's own table.
LLAMA_UNASSIGNED = (
    r"\x{897}\x{1B4E}-\x{1B4F}\x{1B7F}\x{1C89}-\x{1C8A}\x{2427}-\x{2429}\x{31E4}-\x{31E5}\x{A7CB}-\x{A7CD}"
    r"\x{A7DA}-\x{A7DC}\x{105C0}-\x{105F3}\x{10D40}-\x{10D65}\x{10D69}-\x{10D85}\x{10D8E}-\x{10D8F}"
    r"\x{10EC2}-\x{10EC4}\x{10EFC}\x{11380}-\x{11389}\x{1138B}\x{1138E}\x{11390}-\x{113B5}\x{113B7}-\x{113C0}"
    r"\x{113C2}\x{113C5}\x{113C7}-\x{113CA}\x{113CC}-\x{113D5}\x{113D7}-\x{113D8}\x{113E1}-\x{113E2}"
    r"\x{116D0}-\x{116E3}\x{11BC0}-\x{11BE1}\x{11BF0}-\x{11BF9}\x{11F5A}\x{13460}-\x{143FA}\x{16100}-\x{16139}"
    r"\x{16D40}-\x{16D79}\x{18CFF}\x{1CC00}-\x{1CCF9}\x{1CD00}-\x{1CEB3}\x{1E5D0}-\x{1E5FA}\x{1E5FF}"
    r"\x{1F8B2}-\x{1F8BB}\x{1F8C0}-\x{1F8C1}\x{1FA89}\x{1FA8F}\x{1FABE}\x{1FAC6}\x{1FADC}\x{1FADF}\x{1FAE9}"
    r"\x{1FBCB}-\x{1FBEF}"
)
# llama.cpp turns whitespace above ASCII into "\v" before std::regex sees it, so a bracket
# class of a regex without \p{..} (deepseek's CJK ranges, "　-。") never matches it
NON_ASCII_SPACE = r"\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}"
# llama.cpp's categories: \p{Lu}, \p{Ll}, ... all mean "letter" (one collapsed byte per category)
_CATEGORY = {"N": "N", "L": "L", "P": "P", "M": "M", "S": "S", "Lu": "L", "Ll": "L", "Lt": "L", "Lm": "L", "Lo": "L"}
_PROPERTY = re.compile(r"\\p\{(\w+)\}")


def _onig(regex: str) -> str:
    """A llama.cpp pre-tokenizer regex -> the Oniguruma regex that splits text the same way."""
    if regex == NEWLINES:
        return regex
    uses_categories = bool(_PROPERTY.search(regex))
    out, i, depth = [], 0, 0
    while i < len(regex):
        c = regex[i]
        if c == "\\":
            m = _PROPERTY.match(regex, i)
            if m and m.group(1) in _CATEGORY:
                out.append(rf"[\p{{{_CATEGORY[m.group(1)]}}}&&[^{LLAMA_UNASSIGNED}]]")
                i = m.end()
                continue
            out.append(regex[i:i + 2])
            i += 2
            continue
        if c == "[":
            depth += 1
            out.append("[[" if depth == 1 and not uses_categories else "[")
        elif c == "]" and depth:
            depth -= 1
            out.append(f"]&&[^{NON_ASCII_SPACE}]]" if depth == 0 and not uses_categories else "]")
        elif c == "$" and not depth:
            out.append(r"\z")  # ECMAScript's end of input; Oniguruma's $ is an end of line
        else:
            out.append(c)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Metadata: token attributes and special ids, as llama_vocab::impl::load derives them

EOG_TEXTS = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
             "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
             "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
             "<｜end▁of▁sentence｜>", "[e~["}
FIM_TEXTS = {  # guessed by text when tokenizer.ggml.fim_*_token_id is absent
    "pre": ("<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
            "<|code_prefix|>", "<|prefix|>"),
    "suf": ("<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
            "<|code_suffix|>", "<|suffix|>"),
    "mid": ("<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
            "<|code_middle|>", "<|middle|>"),
    "pad": ("<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"),
    "rep": ("<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"),
    "sep": ("<|file_sep|>",),
}
FIM_KEYS = {"pre": ("fim_pre", "prefix"), "suf": ("fim_suf", "suffix"), "mid": ("fim_mid", "middle"),
            "pad": ("fim_pad",), "rep": ("fim_rep",), "sep": ("fim_sep",)}
ALWAYS_USER_DEFINED = ("<|channel|>", "<|message|>", "<|start|>", "<|constrain|>")  # gpt-oss

# llama.cpp's default special ids per tokenizer model, before tokenizer.ggml.*_token_id
DEFAULT_IDS = {
    "llama": {"bos": 1, "eos": 2, "unk": 0},
    "gpt2": {"bos": 11, "eos": 11},
    "gemma4": {},
}
ID_KEYS = {"bos": "bos", "eos": "eos", "eot": "eot", "eom": "eom", "unk": "unknown", "sep": "seperator",
           "pad": "padding", "mask": "mask"}


def _ids(meta: Mapping[str, Any], model: str, tokens: list[str], pre: PreType | None, source: str,
         warnings: list[str]) -> dict[str, int | None]:
    """The special ids as llama.cpp takes them; an id past the vocabulary keeps the default, and (as
    llama.cpp logs "bad special token") a line saying so is added to `warnings`."""
    n = len(tokens)
    ids: dict[str, int | None] = {k: DEFAULT_IDS[model].get(k) for k in ID_KEYS}
    if pre is not None and pre.no_bos:
        ids["bos"] = None
    for k, v in ids.items():
        if v is not None and v >= n:
            ids[k] = None  # llama.cpp: "default special token out of vocab range, disabling"
    for k, key in ID_KEYS.items():
        value = _int(meta, f"tokenizer.ggml.{key}_token_id", source)
        if value is not None and value < n:
            ids[k] = value
        elif value is not None:
            kept = ids[k]
            default = "none" if kept is None else f"token {kept} ({tokens[kept]!r})"
            warnings.append(f"{source}: tokenizer.ggml.{key}_token_id is {value}, past the vocabulary's {n} tokens; "
                            f"as llama.cpp does, its default is used instead: {default}")
    return ids


def _int(meta: Mapping[str, Any], key: str, source: str) -> int | None:
    value = meta.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not hasattr(value, "__index__") or value < 0:
        raise ModelError(f"{source}: metadata {key} is {value!r}, not a token id; the tokenizer metadata is corrupt")
    return int(value)


def _bool(meta: Mapping[str, Any], key: str, default: bool, source: str) -> bool:
    value = meta.get(key, default)
    if not isinstance(value, (bool, int)) or isinstance(value, int) and value not in (0, 1):
        raise ModelError(f"{source}: metadata {key} is {value!r}, not true or false; the tokenizer metadata is corrupt")
    return bool(value)


def _attrs(meta: Mapping[str, Any], tokens: list[str], ids: dict[str, int | None], source: str,
           index: dict[str, int] | None = None) -> list[int]:
    """Each token's llama_token_attr bits: its type, then llama.cpp's by-name corrections; `index`
    is token -> id when the caller has it (a 262k vocabulary takes a while to index)."""
    n = len(tokens)
    types = meta.get("tokenizer.ggml.token_type")
    if types is None:
        attrs = [NORMAL] * n
    else:
        if len(types) < n:
            raise ModelError(f"{source}: tokenizer.ggml.token_type has {len(types)} entries for {n} tokens; "
                             "the tokenizer metadata is corrupt")
        import numpy as np

        kinds = np.asarray(types[:n]).astype(np.int64)  # [n]
        table = np.array([ATTR_OF_TYPE.get(k, 0) for k in range(8)])  # [8]: type -> attr, 0 for unknown types
        attrs = np.where((kinds >= 0) & (kinds < 8), table[np.clip(kinds, 0, 7)], 0).tolist()
    if index is None:
        index = {t: i for i, t in enumerate(tokens)}
    eog = {index[t] for t in EOG_TEXTS if t in index}
    for i in eog:
        attrs[i] |= CONTROL  # "control-looking token ... its type will be overridden"
    for what, texts in FIM_TEXTS.items():
        given = [j for k in FIM_KEYS[what] if (j := _int(meta, f"tokenizer.ggml.{k}_token_id", source)) is not None
                 and j < n]
        # by text, llama.cpp takes the first match in hash order; several matches are rare, all count here
        found = given or [index[t] for t in texts if t in index]
        if not given:
            for i in found:
                attrs[i] |= CONTROL
        if what in ("pad", "rep", "sep"):
            eog.update(found)  # fill-in-the-middle pads and separators end generation
    eog |= {j for j in (ids["eos"], ids["eot"], ids["eom"]) if j is not None}
    for t in ALWAYS_USER_DEFINED:
        if t in index:
            attrs[index[t]] = USER_DEFINED
    eog_texts = {tokens[i] for i in eog}
    calls = "<|call|>" in eog_texts or "<|calls|>" in eog_texts
    if "<|end|>" in eog_texts and calls and ("<|return|>" in eog_texts or "<|flush|>" in eog_texts):
        attrs[index["<|end|>"]] = USER_DEFINED  # o200k_harmony, solar-open: <|end|> is not an end
    if "</s>" in eog_texts and ("<|tool_response>" in eog_texts or "<|plamo:eos|>" in eog_texts):
        attrs[index["</s>"]] = NORMAL  # gemma4, plamo: </s> is text
    # per-model strip attributes, chosen by name (llama_vocab::impl::load, "Handle per token attributes")
    name = str(meta.get("general.name", "")).lower()
    pre = str(meta.get("tokenizer.ggml.pre", ""))
    arch = str(meta.get("general.architecture", ""))
    if any(p in pre for p in ("jina-v2-de", "jina-v2-es", "jina-v2-code")) or \
            any(a in arch for a in ("nomic-bert-moe", "jina-bert-v3")):
        if "<mask>" in index:
            attrs[index["<mask>"]] |= LSTRIP
    elif "phi-3" in name or "phi3" in name:
        missing = [t for t in ("</s>", "<unk>", "<s>", "<|endoftext|>") if t not in index]
        if missing:  # llama.cpp's lookup throws and the model does not load
            raise ModelError(f"{source}: a Phi-3 vocabulary without {missing[0]}; llama.cpp cannot load it either")
        for i, a in enumerate(attrs):
            if a & SPECIAL:
                attrs[i] |= RSTRIP
        attrs[index["</s>"]] |= RSTRIP
        for t in ("<unk>", "<s>", "<|endoftext|>"):
            attrs[index[t]] &= ~RSTRIP
    elif "modern-bert" in name and "[MASK]" in index:
        attrs[index["[MASK]"]] |= LSTRIP
    return attrs


# ---------------------------------------------------------------------------------------------
# Building the tokenizers


def _merges(meta: Mapping[str, Any], vocab: dict[str, int], source: str) -> list[tuple[str, str]]:
    """The merges as pairs, each cut where llama.cpp cuts it (at the first space after the first
    character), each join checked to be a token: `tokenizers` panics on one that is not (it checks
    the parts themselves, and _bpe then names the merge). New strings' hashing is most of the time
    here: 151k merges."""
    merges = meta.get("tokenizer.ggml.merges")
    if not isinstance(merges, list):
        raise ModelError(f"{source}: tokenizer.ggml.merges is missing; the file has no usable BPE tokenizer")
    pairs: list[tuple[str, str]] = []
    append = pairs.append
    for m in merges:
        cut = m.find(" ", 1)
        a, b = m[:cut], m[cut + 1:]
        if cut < 0 or a + b not in vocab:
            _check_merges(merges, vocab, source)
        append((a, b))
    return pairs


def _check_merges(merges: list[str], vocab: dict[str, int], source: str) -> None:
    """Raise a ModelError that names the first merge that is not two tokens making a third."""
    for m in merges:
        cut = m.find(" ", 1)
        if cut < 0:
            raise ModelError(f"{source}: merge {m!r} is not two tokens separated by a space; the tokenizer is corrupt")
        a, b = m[:cut], m[cut + 1:]
        if a not in vocab or b not in vocab or a + b not in vocab:
            raise ModelError(f"{source}: merge {m!r} joins or makes a string that is not a token; "
                             "the tokenizer is corrupt")


def _specials(tokens: list[str], attrs: list[int]) -> tuple[list[str], list[int]]:
    """The special tokens (control, user-defined, unknown) and their attributes, found by numpy:
    a handful of a vocabulary's 151k entries, which the steps below then loop over alone."""
    import numpy as np

    at = np.flatnonzero(np.bitwise_and(np.array(attrs, dtype=np.int64), SPECIAL)).tolist()  # [specials]
    return [tokens[i] for i in at], [attrs[i] for i in at]


def _added(backend: Any, tokens: list[str], attrs: list[int]) -> None:
    """llama.cpp's special tokens (control, user-defined, unknown) are cut out of the raw text
    before any other step; `tokenizers` does the same with added tokens that skip normalization."""
    from tokenizers import AddedToken

    special: list[AddedToken] = []
    user: list[AddedToken] = []
    for t, a in zip(tokens, attrs, strict=True):  # the special tokens alone (build_vocab's _specials)
        if a & SPECIAL:
            tok = AddedToken(t, special=not a & USER_DEFINED, normalized=False,
                             lstrip=bool(a & LSTRIP), rstrip=bool(a & RSTRIP), single_word=False)
            (user if a & USER_DEFINED else special).append(tok)
    if special:
        backend.add_special_tokens(special)
    if user:
        backend.add_tokens(user)


def _bpe(meta: Mapping[str, Any], vocab: dict[str, int], pre: PreType, source: str) -> Any:
    """llm_tokenizer_bpe: split with the pre-type's regexes, then merge by rank within each piece."""
    from tokenizers import Regex, normalizers, pre_tokenizers
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers.models import BPE

    merges = _merges(meta, vocab, source)
    if pre.spm_spaces:
        _needs_bytes(vocab, source)
    try:
        model = BPE(vocab=vocab, merges=merges, fuse_unk=False, ignore_merges=pre.ignore_merges,
                    byte_fallback=pre.spm_spaces)
    except Exception:  # a part of a merge is not a token (`tokenizers` says which): name the merge
        _check_merges(meta["tokenizer.ggml.merges"], vocab, source)
        raise
    backend = HFTokenizer(model)
    splits = [pre_tokenizers.Split(Regex(_onig(r)), behavior="isolated") for r in pre.regexes]
    if not pre.spm_spaces:
        backend.pre_tokenizer = pre_tokenizers.Sequence(splits + [pre_tokenizers.ByteLevel(add_prefix_space=False,
                                                                                            use_regex=False)])
        return backend  # its decoder needs the special tokens: _byte_level_decoder
    if pre.newlines_whole:  # llama.cpp takes such a run whole; merging must reach the same token
        for k in range(1, 257):
            run = "\n" * k
            if run in vocab and [t.id for t in model.tokenize(run)] != [vocab[run]]:
                raise ModelError(f"{source}: the merges do not rebuild the token for {k} newlines, which llama.cpp "
                                 "takes whole; attncli cannot reproduce this tokenizer")
    backend.normalizer = normalizers.Replace(" ", SPACE)
    backend.pre_tokenizer = pre_tokenizers.Sequence(splits)
    backend.decoder = _spm_decoder(_bool(meta, "tokenizer.ggml.add_space_prefix", False, source))
    return backend


def _byte_level_decoder(tokens: list[str], attrs: list[int]) -> Any:
    """GPT-2's byte-level decoder, except that special tokens read as their own text.

    llama.cpp stores control and user-defined tokens as plain text ("<|im_start|>", deepseek's
    "ø"); the ByteLevel decoder would turn such a token's "ø" into the lone byte 0xF8. A
    Replace first spells those tokens in byte-level characters, so they decode to their text.
    """
    from tokenizers import decoders

    from ...tokenizer import BYTE_OF as byte_of
    from ...tokenizer import byte_level_alphabet

    alphabet = byte_level_alphabet()  # byte -> its printable character
    fixes = []
    for t, a in zip(tokens, attrs, strict=True):
        if a & SPECIAL and all(c in byte_of for c in t) and bytes(byte_of[c] for c in t) != t.encode():
            fixes.append((t, "".join(alphabet[b] for b in t.encode())))
    fixes.sort(key=lambda f: -len(f[0]))
    decoder = decoders.Sequence([decoders.Replace(t, spelled) for t, spelled in fixes] + [decoders.ByteLevel()])
    if all(decoder.decode([t]) == t for t, _ in fixes):
        return decoder
    return decoders.ByteLevel()  # the fixes would garble each other: special tokens show as bytes


def _needs_bytes(vocab: dict[str, int], source: str) -> None:
    missing = [f"<0x{b:02X}>" for b in range(256) if f"<0x{b:02X}>" not in vocab]
    if missing:
        raise ModelError(f"{source}: the vocabulary lacks byte token {missing[0]} ({len(missing)} of 256 missing); "
                         "attncli needs all 256 to spell unknown characters as llama.cpp does")


def _spm(meta: Mapping[str, Any], tokens: list[str], vocab: dict[str, int], source: str) -> Any:
    """llm_tokenizer_spm: spm.py's ScoreMerges joins the best-scoring adjacent pair as llama.cpp does,
    on the text itself; a BPE with no merges (ignore_merges: each piece is a token) behind it only
    maps pieces to ids and spells characters the vocabulary lacks as bytes."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import normalizers, pre_tokenizers
    from tokenizers.models import BPE

    scores = meta.get("tokenizer.ggml.scores")
    if scores is None or len(scores) < len(tokens):
        have = "is missing" if scores is None else f"has {len(scores)} entries for {len(tokens)} tokens"
        raise ModelError(f"{source}: tokenizer.ggml.scores {have}; "
                         "a SentencePiece vocabulary needs one score per token")
    _needs_bytes(vocab, source)
    backend = HFTokenizer(BPE(vocab=vocab, merges=[], fuse_unk=False, byte_fallback=True, ignore_merges=True))
    score_list = [float(x) for x in scores[:len(tokens)]] if isinstance(scores, list) else \
        scores[:len(tokens)].astype(float).tolist()
    backend.pre_tokenizer = pre_tokenizers.PreTokenizer.custom(ScoreMerges(vocab, score_list))
    # llama.cpp puts a space before the text and after every special token: `tokenizers`
    # normalizes each stretch between added tokens separately, so Prepend does both
    add_space_prefix = _bool(meta, "tokenizer.ggml.add_space_prefix", True, source)
    steps = [normalizers.Prepend(SPACE)] if add_space_prefix else []
    backend.normalizer = normalizers.Sequence(steps + [normalizers.Replace(" ", SPACE)])
    backend.decoder = _spm_decoder(add_space_prefix)
    return backend


def _spm_decoder(strip_prefix: bool) -> Any:
    from tokenizers import decoders

    steps = [decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    return decoders.Sequence(steps + ([decoders.Strip(" ", 1, 0)] if strip_prefix else []))


SUPPORTED_MODELS = ("gpt2", "llama", "gemma4")
REFUSED_MODELS = {
    "bert": "its WordPiece normalization (llama.cpp's own one-codepoint NFD table and lowercasing) "
            "has no exact counterpart in tokenizers",
    "t5": "llama.cpp's Unigram (UGM) tokenizer with its precompiled character map is not rebuilt here",
    "rwkv": "the RWKV world tokenizer is not rebuilt here",
    "plamo2": "the PLaMo-2 tokenizer is not rebuilt here",
    "no_vocab": "the file has no vocabulary",
    "none": "the file has no vocabulary",
}


def build_vocab(meta: Mapping[str, Any], source: str) -> GGUFVocab:
    """A tokenizer from a GGUF file's metadata (as read_header returns it) that encodes like llama.cpp."""
    import tokenizers

    if tuple(int(x) for x in re.findall(r"\d+", tokenizers.__version__)[:2]) < (0, 19):
        raise ModelError(f"{source}: tokenizers {tokenizers.__version__} is too old to rebuild a GGUF vocabulary "
                         "(BPE's ignore_merges came in 0.19); pip install -U 'tokenizers>=0.19'")
    model = meta.get("tokenizer.ggml.model")
    if model is None:
        raise ModelError(f"{source}: metadata tokenizer.ggml.model is missing; the file has no tokenizer")
    if model not in SUPPORTED_MODELS:
        why = REFUSED_MODELS.get(model, "it is unknown")
        raise ModelError(f"{source}: tokenizer model {model!r} is not supported: {why}; "
                         f"attncli knows {', '.join(SUPPORTED_MODELS)}")
    pre_name = "gemma4" if model == "gemma4" else meta.get("tokenizer.ggml.pre") or "default"
    pre: PreType | None = None
    if model != "llama":
        pre = PRE_TYPES.get(pre_name)
        if pre is None:
            raise ModelError(f"{source}: tokenizer pre-type {pre_name!r} is not supported; attncli knows: "
                             f"{', '.join(sorted(PRE_TYPES))}")
    tokens = meta.get("tokenizer.ggml.tokens")
    if not isinstance(tokens, list) or not tokens or set(map(type, tokens)) != {str}:
        raise ModelError(f"{source}: tokenizer.ggml.tokens is missing or not a list of strings; "
                         "the file has no tokenizer")
    if "" in tokens:
        tokens = [t or f"[EMPTY_{i}]" for i, t in enumerate(tokens)]  # as llama.cpp renames empty tokens
    vocab = dict(zip(tokens, range(len(tokens)), strict=True))
    if len(vocab) != len(tokens):
        dup = next(t for i, t in enumerate(tokens) if vocab[t] != i)
        raise ModelError(f"{source}: token {dup!r} appears twice in tokenizer.ggml.tokens; the tokenizer is corrupt")
    warnings: list[str] = []
    ids = _ids(meta, model, tokens, pre, source, warnings)
    attrs = _attrs(meta, tokens, ids, source, vocab)
    try:
        if pre is None:
            backend = _spm(meta, tokens, vocab, source)
        else:
            backend = _bpe(meta, vocab, pre, source)
        special_tokens, special_attrs = _specials(tokens, attrs)
        _added(backend, special_tokens, special_attrs)
        if pre is not None and not pre.spm_spaces:
            backend.decoder = _byte_level_decoder(special_tokens, special_attrs)
    except ModelError:
        raise
    except Exception as e:  # the Rust side raises bare Exceptions
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelError(f"{source}: cannot build the {model} tokenizer ({first}); "
                         "the tokenizer metadata is corrupt") from None
    add_bos = _bool(meta, "tokenizer.ggml.add_bos_token", pre is None or pre.add_bos, source)
    add_eos = _bool(meta, "tokenizer.ggml.add_eos_token", False, source)
    if pre is not None and pre.force_bos:
        add_bos = True
    return GGUFVocab(backend=backend, bos_id=ids["bos"], eos_id=ids["eos"], unk_id=ids["unk"], pad_id=ids["pad"],
                     mask_id=ids["mask"], add_bos=add_bos, add_eos=add_eos, model=model, pre=pre_name,
                     warnings=warnings)


def read_tokenizer(meta: Mapping[str, Any], config: "ModelConfig", file: "Path") -> tuple["Tokenizer", list[str]]:
    """The Tokenizer of a GGUF model: build_vocab's, with BOS before every text when add_bos says so; and
    the warnings of building it."""
    from ...tokenizer import Tokenizer

    v = build_vocab(meta, str(file))
    n = len(meta["tokenizer.ggml.tokens"])
    if n > config.vocab_size:
        raise ModelError(f"{file}: {n} tokens but the embedding has {config.vocab_size} rows; the file is inconsistent")
    return Tokenizer(v.backend, source=f"{file} (GGUF metadata)", bos_id=v.bos_id, add_bos=v.add_bos), v.warnings
