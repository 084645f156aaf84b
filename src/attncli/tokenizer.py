"""Text -> tokens -> ids and back, over a Hugging Face `tokenizers` tokenizer.

Adds what a reader needs to see: each token as it reads (byte-level markers made
spaces), which word it belongs to, whether that word was split into pieces or the token is
the tokenizer's unknown token, and whether it is a special token (BOS, EOS, control tokens).
A tokenizer that says so (add_bos) has its BOS token put before the text's: `with_bos`, which
Model.encode calls; `encode` itself gives the text's tokens only.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from .errors import ModelError, UsageError


def byte_level_alphabet() -> dict[int, str]:
    """GPT-2's byte -> printable character map (Ġ for a space), which byte-level BPE vocabularies spell tokens in."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class Token(NamedTuple):
    index: int  # position in the input
    id: int
    token: str  # the vocabulary entry, e.g. "Ġlike"
    text: str  # what it reads as, e.g. " like"
    start: int  # character span in the (normalized) input text
    end: int
    word: int  # index of the word it belongs to
    split: bool  # its word was cut into several tokens
    continues: bool  # it is not the first piece of its word
    unknown: bool  # the tokenizer did not know it
    special: bool = False  # a special token (BOS, EOS, a control token), not a piece of a word


def post_processor_bos(backend) -> int | None:
    """The token a tokenizer's post-processor puts before every text (BOS), or None."""
    try:
        bare = backend.encode("a", add_special_tokens=False).ids
        full = backend.encode("a", add_special_tokens=True).ids
    except Exception:  # a post-processor that cannot run on one text adds nothing usable
        return None
    return full[0] if len(full) > len(bare) and full[1:1 + len(bare)] == bare else None


def marked_words(tokens: list[str], special: list[bool]) -> list[int]:
    """Word indices where a space is "▁": a token that starts with it, or a special token, starts a word."""
    words, w = [], -1
    for i, (tok, sp) in enumerate(zip(tokens, special)):
        if i == 0 or sp or special[i - 1] or tok.startswith("\u2581"):
            w += 1
        words.append(w)
    return words


class Tokenizer:
    def __init__(self, backend, source: str = "tokenizer.json", bos_id: int | None = None,
                 add_bos: bool = False) -> None:  # backend: tokenizers.Tokenizer
        self.backend = backend
        self.source = source
        self.bos_id = bos_id
        self.add_bos = add_bos and bos_id is not None  # the model expects bos_id before every text (Gemma needs it)
        self._unk = None
        model = getattr(backend, "model", None)
        unk_token = getattr(model, "unk_token", None)
        if unk_token:
            self._unk = backend.token_to_id(unk_token)
        self._display_cache: dict[int, str] = {}
        self._special: set[int] | None = None

    @classmethod
    def from_file(cls, path: Path) -> "Tokenizer":
        from tokenizers import Tokenizer as HFTokenizer

        try:
            return cls(HFTokenizer.from_file(str(path)), str(path))
        except Exception as e:  # the Rust side raises a bare Exception on bad JSON
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ModelError(f"{path}: not a valid tokenizers file ({first}); re-export tokenizer.json") from None

    @classmethod
    def from_str(cls, json_text: str, source: str = "tokenizer.json") -> "Tokenizer":
        from tokenizers import Tokenizer as HFTokenizer

        return cls(HFTokenizer.from_str(json_text), source)

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def id_to_token(self, i: int) -> str:
        tok = self.backend.id_to_token(i)
        return tok if tok is not None else f"<{i}>"

    def display(self, i: int) -> str:
        """How token `i` reads on its own: byte-level BPE's 'Ġ' becomes a space."""
        s = self._display_cache.get(i)
        if s is None:
            s = self.backend.decode([i], skip_special_tokens=False)
            if s == "" or "\ufffd" in s:  # a lone byte of a multi-byte character, or a special
                s = self.id_to_token(i)
            self._display_cache[i] = s
        return s

    @property
    def spaces_marked(self) -> bool:
        """SentencePiece-style: spaces become "▁" before any split, so the words are not the
        pre-tokenizer's (a GGUF 'llama' vocabulary has none: the whole text would be one word)."""
        return "\u2581" in str(self.backend.normalizer)

    @property
    def special_ids(self) -> set[int]:
        """The ids of the tokenizer's special tokens (its added tokens marked special), and BOS."""
        if self._special is None:
            added = self.backend.get_added_tokens_decoder()
            self._special = {i for i, t in added.items() if t.special} | ({self.bos_id} if self.bos_id is not None else set())
        return self._special

    def with_bos(self, tokens: list[Token]) -> list[Token]:
        """`tokens` after the BOS token if this tokenizer adds one (the rest renumbered), else as they are."""
        if not self.add_bos:
            return tokens
        bos = Token(index=0, id=self.bos_id, token=self.id_to_token(self.bos_id), text=self.display(self.bos_id),
                    start=0, end=0, word=0, split=False, continues=False, unknown=False, special=True)
        return [bos] + [t._replace(index=t.index + 1, word=t.word + 1) for t in tokens]

    def encode(self, text: str) -> list[Token]:
        if not text.strip():
            raise UsageError("the text is empty; give a sentence, e.g. attn explain \"I do not like spinach\"")
        enc = self.backend.encode(text, add_special_tokens=False)
        if not enc.ids:
            raise UsageError("the text gives no tokens for this model's tokenizer; give a sentence")
        if self.spaces_marked:
            words = marked_words(enc.tokens, [tid in self.special_ids for tid in enc.ids])
        else:
            words = [w if w is not None else i for i, w in enumerate(enc.word_ids)]
        counts: dict[int, int] = {}
        for w in words:
            counts[w] = counts.get(w, 0) + 1
        tokens = []
        for i, (tid, tok, (start, end)) in enumerate(zip(enc.ids, enc.tokens, enc.offsets)):
            tokens.append(
                Token(
                    index=i,
                    id=tid,
                    token=tok,
                    text=self.display(tid),
                    start=start,
                    end=end,
                    word=words[i],
                    split=counts[words[i]] > 1,
                    continues=i > 0 and words[i - 1] == words[i],
                    unknown=self._unk is not None and tid == self._unk,
                    special=tid in self.special_ids,
                )
            )
        return tokens

    def decode(self, ids: list[int]) -> str:
        return self.backend.decode(list(ids), skip_special_tokens=False)
