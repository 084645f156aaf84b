"""The tokenizer of a GGUF file, built from its metadata with `tokenizers`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...config import ModelConfig
from ...errors import ModelError
from ...tokenizer import Tokenizer, byte_level_alphabet

# pre-tokenizers by tokenizer.ggml.pre: llama.cpp's split regexes, as Hugging Face pre-tokenizers
_DIGIT_THEN_GPT2 = ("smollm", "starcoder", "refact", "codeshell", "command-r")


def read_tokenizer(meta: dict[str, Any], config: ModelConfig, file: Path) -> Tokenizer:
    """A byte-level BPE tokenizer (tokenizer.ggml.model 'gpt2') from the metadata."""
    from tokenizers import AddedToken, Regex, decoders, pre_tokenizers
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers.models import BPE

    model = meta.get("tokenizer.ggml.model")
    if model != "gpt2":
        raise ModelError(f"{file}: tokenizer {model!r} is not supported; attncli reads byte-level BPE ('gpt2') vocabularies")
    tokens, merges = meta.get("tokenizer.ggml.tokens"), meta.get("tokenizer.ggml.merges")
    if not isinstance(tokens, list) or not isinstance(merges, list):
        raise ModelError(f"{file}: tokenizer.ggml.tokens or tokenizer.ggml.merges is missing; the file has no usable tokenizer")
    if len(tokens) > config.vocab_size:
        raise ModelError(f"{file}: {len(tokens)} tokens but the embedding has {config.vocab_size} rows; the file is inconsistent")
    alphabet = set(byte_level_alphabet().values())
    vocab = {t: i for i, t in enumerate(tokens)}
    pairs = []
    for m in merges:
        a, sep, b = m.partition(" ")
        if not sep:
            raise ModelError(f"{file}: merge {m!r} is not two tokens separated by a space; the tokenizer is corrupt")
        pairs.append((a, b))
    backend = HFTokenizer(BPE(vocab=vocab, merges=pairs, fuse_unk=False))
    pre = meta.get("tokenizer.ggml.pre", "default")
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre in _DIGIT_THEN_GPT2:  # llama.cpp: "\p{N}" isolated, then GPT-2's regex
        backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    elif pre in ("default", "gpt2", "gpt-2"):
        backend.pre_tokenizer = byte_level
    elif pre in ("llama3", "llama-bpe", "llama-v3", "smaug-bpe", "dbrx"):
        backend.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                                       r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        raise ModelError(f"{file}: pre-tokenizer {pre!r} is not supported; attncli knows smollm, gpt2 and llama3 splits")
    backend.decoder = decoders.ByteLevel()
    types = meta.get("tokenizer.ggml.token_type")
    if types is not None and len(types) == len(tokens):
        # CONTROL (3) tokens stay whole as specials, USER_DEFINED (4) as added tokens, as llama.cpp matches them
        special = [AddedToken(t, normalized=False, special=True) for t, k in zip(tokens, types) if k == 3 and set(t) <= alphabet]
        user = [AddedToken(t, normalized=False, special=False) for t, k in zip(tokens, types) if k == 4]
        if special:
            backend.add_special_tokens(special)
        if user:
            backend.add_tokens(user)
    return Tokenizer(backend, source=f"{file} (GGUF metadata)")
