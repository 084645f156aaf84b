"""Text -> tokens -> ids and back, over a Hugging Face `tokenizers` tokenizer.

Adds what a reader needs to see: each token as it reads (byte-level markers made
spaces), which word it belongs to, whether that word was split into pieces or the token is
the tokenizer's unknown token, and whether it is a special token (BOS, EOS, [CLS], [SEP], control tokens).
A model's special-token template (`before`, `after`: GPT-style BOS, BERT's [CLS] ... [SEP],
RoBERTa's <s> ... </s>) is put around the text's tokens by `with_specials`, which Model.encode
calls; `encode` itself gives the text's tokens only. An encoder's tokenizer also reads `[MASK]`
as its own mask token (RoBERTa's `<mask>`), so one spelling works for every masked-LM.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NamedTuple

from .errors import ModelError, UsageError

if TYPE_CHECKING:
    from tokenizers import Encoding


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
    return dict(zip(bs, map(chr, cs), strict=True))


BYTE_OF = {ch: b for b, ch in byte_level_alphabet().items()}  # GPT-2's printable character -> its byte


class Token(NamedTuple):
    # position in the input; the name shadows tuple.index, which mypy refuses, but every reader of tokens uses it
    index: int  # type: ignore[assignment]
    id: int
    token: str  # the vocabulary entry, e.g. "Ġlike"
    text: str  # what it reads as, e.g. " like"; for part of a character, e.g. "🥦 byte 1/4"
    start: int  # character span in the input text
    end: int
    word: int  # index of the word it belongs to
    split: bool  # its word was cut into several tokens
    continues: bool  # it is not the first piece of its word
    unknown: bool  # the tokenizer did not know it
    raw: bytes | None = None  # the UTF-8 bytes it stands for; None for a special token, which stands for none
    partial: bool = False  # it holds only part of a character's UTF-8 bytes
    word_text: str = ""  # its word as the input spells it (from the offsets)
    special: bool = False  # a special token (BOS, EOS, a control token), not a piece of a word


def _byte_labels(pieces: list[bytes | None]) -> list[tuple[str, bool]]:
    """(text, partial) of each token from the bytes it stands for, in order; one pass over the bytes.

    A byte-level tokenizer may cut a character's UTF-8 bytes between tokens (🥦 is four
    bytes, and may be four tokens). Such a token is named by the character and the bytes of
    it that it holds, "🥦 byte 1/4", instead of the mojibake its bytes make on their own.
    """
    stream = b"".join(p for p in pieces if p)
    starts: list[int] = []  # byte offset where each character of the stream begins
    pos = 0
    while pos < len(stream):
        starts.append(pos)
        lead = stream[pos]
        pos += 1 if lead < 0xC0 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    starts.append(len(stream))
    out: list[tuple[str, bool]] = []
    u = 0
    c = 0  # the first character that ends after u: pieces come in order, so it only moves forward
    for piece in pieces:
        if piece is None:
            out.append(("", False))
            continue
        v = u + len(piece)
        while c + 1 < len(starts) and starts[c + 1] <= u:
            c += 1
        parts = []
        partial = False
        k = c
        while k + 1 < len(starts) and starts[k] < v:  # the characters this piece's bytes overlap
            a, b = starts[k], starts[k + 1]
            k += 1
            char = stream[a:b].decode("utf-8", errors="replace")
            if u <= a and b <= v:
                parts.append(char)
            else:
                partial = True
                lo, hi = max(a, u) - a + 1, min(b, v) - a
                which = f"byte {lo}" if lo == hi else f"bytes {lo}-{hi}"
                parts.append(f"{char} {which}/{b - a}")
        out.append(("".join(parts) if not partial else " + ".join(_merge(parts)), partial))
        u = v
    return out


def _starts_a_character(raw: bytes | None) -> bool:
    """Whether a token's bytes start a character (a token may hold the middle of one; a special token none)."""
    if not raw:
        return False
    return not 0x80 <= raw[0] < 0xC0


def _merge(parts: list[str]) -> list[str]:
    """Whole characters next to each other read as one run: ["a", "b", "🥦 byte 1/4"] -> ["ab", "🥦 byte 1/4"]."""
    out: list[str] = []
    for p in parts:
        if out and "/" not in p and "/" not in out[-1]:
            out[-1] += p
        else:
            out.append(p)
    return out


# A text far longer than the context is tokenized in part (Tokenizer._window): tokens this near a cut in
# the text may differ from the whole text's, so they are never kept or counted as sure; the first part is
# this many characters per token wanted, a guess that errs short (it grows fourfold until it holds enough).
MARGIN = 16
CHARS_PER_TOKEN = 4
_CUT = re.compile(r"(?<=\S)\s")  # where a run of whitespace begins after a word: where a part may be cut

MASK_ALIAS = "[MASK]"  # what a user types for the mask token of any masked-LM (RoBERTa's is <mask>)


def post_processor_template(backend) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The ids a tokenizer's post-processor puts (before, after) every single text, whichever kind
    it is (TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel): read off by running it
    on one text with and without special tokens. ((), ()) when it adds none or cannot run."""
    try:
        bare = backend.encode("a", add_special_tokens=False).ids
        full = backend.encode("a", add_special_tokens=True).ids
    except Exception:  # a post-processor that cannot run on one text adds nothing usable
        return (), ()
    for i in range(len(full) - len(bare) + 1):
        if full[i:i + len(bare)] == bare:
            return tuple(full[:i]), tuple(full[i + len(bare):])
    return (), ()


def post_processor_bos(backend) -> int | None:
    """The token a tokenizer's post-processor puts before every text (BOS), or None."""
    before, _ = post_processor_template(backend)
    return before[0] if len(before) == 1 else None


def find_mask(backend) -> int | None:
    """The id of the tokenizer's mask token: its special added token [MASK] or <mask> (by name)."""
    for i, t in sorted(backend.get_added_tokens_decoder().items()):
        if t.special and t.content.strip("[]<>").lower() == "mask":
            return i
    return None


def marked_words(tokens: list[str], special: list[bool]) -> list[int]:
    """Word indices where a space is "▁": a token that starts with it, or a special token, starts a word."""
    words, w = [], -1
    for i, (tok, sp) in enumerate(zip(tokens, special, strict=True)):
        if i == 0 or sp or special[i - 1] or tok.startswith("\u2581"):
            w += 1
        words.append(w)
    return words


class Tokenizer:
    def __init__(self, backend, source: str = "tokenizer.json", bos_id: int | None = None,
                 add_bos: bool = False, after: tuple[int, ...] = (), mask_alias: bool = False) -> None:
        # backend: tokenizers.Tokenizer. Its own padding and truncation are off: a text is as many
        # tokens as it is (a tokenizer.json may pad every text to 128 [PAD]s), --truncate cuts it.
        backend.no_padding()
        backend.no_truncation()
        self.backend = backend
        self.source = source
        self.bos_id = bos_id
        self.add_bos = add_bos and bos_id is not None  # the model expects bos_id before every text (Gemma needs it)
        # the special-token template: ids put before the text (BOS, [CLS], <s>) and after it ([SEP], </s>)
        self.before: tuple[int, ...] = (bos_id,) if self.add_bos and bos_id is not None else ()
        self.after = tuple(after)
        self.mask_id = find_mask(backend)
        # an encoder reads MASK_ALIAS as its own mask token; a causal model reads it as text, as ever
        self.mask_alias = mask_alias and self.mask_id is not None
        self._unk = None
        model = getattr(backend, "model", None)
        unk_token = getattr(model, "unk_token", None)
        if unk_token:
            self._unk = backend.token_to_id(unk_token)
        self._whole: tuple[str, Encoding] | None = None  # the last text _window read whole, and its tokens
        self._display_cache: dict[int, str] = {}
        self._bytes_cache: dict[int, bytes | None] = {}
        self._specials = {i for i, t in backend.get_added_tokens_decoder().items() if t.special}
        decoder = getattr(backend, "decoder", None)
        spec = decoder.__getstate__() if decoder is not None else b""
        # how a vocabulary entry spells its bytes: GPT-2's byte alphabet, SentencePiece's <0xXX>, or plain text
        self._byte_level = b'"ByteLevel"' in spec
        self._byte_fallback = b'"ByteFallback"' in spec
        # WordPiece (BERT) marks a piece that continues a word with a prefix ("##ach"): it stands for "ach"
        self._piece_prefix = getattr(decoder, "prefix", "##") if b'"WordPiece"' in spec else ""

    @classmethod
    def from_file(cls, path: Path) -> "Tokenizer":
        from tokenizers import Tokenizer as HFTokenizer

        try:
            return cls(HFTokenizer.from_file(str(path)), str(path))
        except Exception as e:  # the Rust side raises a bare Exception on bad JSON
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ModelError(f"{path}: not a valid tokenizers file ({first}); re-export tokenizer.json") from None

    def for_encoder(self) -> "Tokenizer":
        """This tokenizer with its post-processor's template around every text ([CLS] ... [SEP],
        <s> ... </s>) and [MASK] read as its mask token: what a bidirectional encoder was trained on."""
        before, after = post_processor_template(self.backend)
        tok = Tokenizer(self.backend, self.source, bos_id=before[0] if before else None, add_bos=bool(before),
                        after=after, mask_alias=True)
        tok.before = before
        return tok

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

    def token_bytes(self, i: int) -> bytes | None:
        """The UTF-8 bytes token `i` stands for; None for a special token (<|endoftext|>, [CLS], ...)."""
        if i in self._bytes_cache:
            return self._bytes_cache[i]
        tok = self.id_to_token(i)
        raw: bytes | None
        if i in self._specials:
            raw = None
        elif self._byte_level and all(c in BYTE_OF for c in tok):
            raw = bytes(BYTE_OF[c] for c in tok)
        elif self._byte_fallback and len(tok) == 6 and tok.startswith("<0x") and tok.endswith(">"):
            raw = bytes([int(tok[3:5], 16)])
        elif self._byte_fallback:
            raw = tok.replace("\u2581", " ").encode("utf-8")  # SentencePiece's ▁ is a space
        elif self._piece_prefix and tok.startswith(self._piece_prefix) and len(tok) > len(self._piece_prefix):
            raw = tok[len(self._piece_prefix):].encode("utf-8")
        else:
            raw = self.backend.decode([i], skip_special_tokens=False).encode("utf-8")
        self._bytes_cache[i] = raw
        return raw

    def display(self, i: int) -> str:
        """How token `i` reads on its own: byte-level BPE's 'Ġ' becomes a space; a token that is
        only part of a character's bytes reads as those bytes, e.g. '<F0 9F>'."""
        s = self._display_cache.get(i)
        if s is None:
            raw = self.token_bytes(i)
            if self._piece_prefix and self.id_to_token(i).startswith(self._piece_prefix):
                s = self.id_to_token(i)  # on its own, a WordPiece continuation reads as one: "##ach"
            elif raw is None:
                s = self.id_to_token(i)
            else:
                try:
                    s = raw.decode("utf-8")
                except UnicodeDecodeError:
                    s = "<" + " ".join(f"{b:02X}" for b in raw) + ">"
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
        bos = {self.bos_id} if self.bos_id is not None else set()
        return self._specials | bos | set(self.before) | set(self.after)

    @property
    def n_special(self) -> int:
        """How many places of the context the template takes."""
        return len(self.before) + len(self.after)

    @property
    def mask_token(self) -> str | None:
        return None if self.mask_id is None else self.id_to_token(self.mask_id)

    def _special(self, i: int, id: int, at: int, word: int) -> Token:
        return Token(index=i, id=id, token=self.id_to_token(id), text=self.display(id), start=at, end=at, word=word,
                     split=False, continues=False, unknown=False, special=True)

    def with_specials(self, tokens: list[Token]) -> list[Token]:
        """`tokens` inside the template: the `before` ids first (at offset 0), the rest renumbered,
        and the `after` ids last (at the text's end offset); as they are without a template."""
        if not self.before and not self.after:
            return tokens
        n = len(self.before)
        out = [self._special(i, tid, 0, i) for i, tid in enumerate(self.before)]
        out += [t._replace(index=t.index + n, word=t.word + n) for t in tokens]
        end = tokens[-1].end if tokens else 0
        word = (out[-1].word + 1) if out else 0
        out += [self._special(len(out) + j, tid, end, word + j) for j, tid in enumerate(self.after)]
        return out

    def _aliased(self, text: str) -> tuple[str, Callable[[int], int] | None]:
        """`text` with each MASK_ALIAS spelled as this model's mask token, and the function that takes
        an offset in the new text back to the same place in the original (None when nothing changed)."""
        mask = self.mask_token
        if not self.mask_alias or mask is None or mask == MASK_ALIAS or MASK_ALIAS not in text:
            return text, None
        parts = text.split(MASK_ALIAS)
        starts: list[int] = []  # where each mask token starts in the new text
        at = 0
        for part in parts[:-1]:
            at += len(part)
            starts.append(at)
            at += len(mask)
        grow = len(mask) - len(MASK_ALIAS)  # each alias makes the text this much longer

        def back(pos: int) -> int:
            j = bisect_left(starts, pos)  # the mask tokens that start before pos
            if j and pos < starts[j - 1] + len(mask):  # inside a mask token: its alias's start
                return starts[j - 1] - (j - 1) * grow
            return pos - j * grow

        return mask.join(parts), back

    def _window(self, text: str, need: int, from_end: bool) -> tuple[Encoding, int, bool]:
        """The tokens of enough of `text`, from its start or from its end, to hold `need` tokens and
        MARGIN more: (the encoding, where that part starts in `text`, whether it is the whole text).

        The part is cut where a run of whitespace begins, where the tokenizers split words, so its
        tokens away from the cut are the whole text's; it grows fourfold until it holds enough, so
        the work is the part's, never the whole of a text far longer than the context."""
        if self._whole is not None and self._whole[0] is text:  # count() has just read all of it
            return self._whole[1], 0, True
        size = CHARS_PER_TOKEN * (need + MARGIN)
        while size < len(text):
            if from_end:
                found = _CUT.search(text, len(text) - size)
                cut = found.start() if found else 0
            else:
                cut = max((m.start() for m in _CUT.finditer(text, 0, size + 1)), default=0)
            if cut:  # else no whitespace to cut at in this part: a larger one
                part = text[cut:] if from_end else text[:cut]
                enc = self.backend.encode(part, add_special_tokens=False)
                if len(enc.ids) > need + MARGIN:
                    return enc, cut if from_end else 0, False
            size *= 4
        enc = self.backend.encode(text, add_special_tokens=False)
        self._whole = (text, enc)
        return enc, 0, True

    def _prepared(self, text: str) -> tuple[str, Callable[[int], int] | None]:
        if not text.strip():
            raise UsageError("the text is empty; give a sentence, e.g. attn explain \"I do not like spinach\"")
        return self._aliased(text)

    def count(self, text: str, limit: int) -> tuple[int, bool]:
        """How many tokens `text` is, counted only as far as it takes to know it is more than `limit`:
        (the count, whether it is exact). Not exact, it is what the text's first part has, MARGIN less:
        more than `limit`, and fewer than the whole text has."""
        enc, _, whole = self._window(self._prepared(text)[0], limit, from_end=False)
        return (len(enc.ids), True) if whole else (len(enc.ids) - MARGIN, False)

    def encode(self, text: str, last: int | None = None) -> list[Token]:
        """The tokens of `text`; with `last`, only its last `last` tokens (the first of them then
        continues no word), and the work is about as much as theirs, not the whole text's."""
        aliased, back = self._prepared(text)
        if last is None:
            enc, at = self.backend.encode(aliased, add_special_tokens=False), 0
        else:
            enc, at, _ = self._window(aliased, last, from_end=True)
        ids, pieces = enc.ids, enc.tokens  # each read of enc.ids copies the whole list out of Rust: read once
        n = len(ids)
        if not n:
            raise UsageError("the text gives no tokens for this model's tokenizer; give a sentence")
        specials = self.special_ids
        if self.spaces_marked:
            words = marked_words(pieces, [tid in specials for tid in ids])
        else:
            words = [w if w is not None else i for i, w in enumerate(enc.word_ids)]
        first = 0 if last is None else max(0, n - last)  # the first token kept
        head = first  # the first piece of the first kept token's word
        while head and words[head - 1] == words[first]:
            head -= 1
        lo = first  # the work starts at the token whose bytes start the character the first kept token's are in
        while lo and not _starts_a_character(self.token_bytes(ids[lo])):
            lo -= 1
        every = enc.offsets
        offsets = [(a + at, b + at) for a, b in every[lo:]]
        if back is not None:
            offsets = [(back(a), back(b)) for a, b in offsets]
        counts: dict[int, int] = {}
        spans: dict[int, tuple[int, int]] = {}  # word -> its character span in the input
        for w, (start, end) in zip(words[lo:], offsets, strict=True):
            counts[w] = counts.get(w, 0) + 1
            a, b = spans.get(w, (start, end))
            spans[w] = (min(a, start), max(b, end))
        if head < lo:  # the first kept word began further back: its pieces there count, and its span starts there
            w, start = words[first], every[head][0] + at
            counts[w] += lo - head
            spans[w] = (back(start) if back is not None else start, spans[w][1])
        raws = [self.token_bytes(tid) for tid in ids[lo:]]
        labels = _byte_labels(raws)
        word_texts = {w: text[a:b].strip() for w, (a, b) in spans.items()}  # once per word, however long it is
        tokens = []
        for i in range(first, n):
            j = i - lo
            tid, (start, end), word = ids[i], offsets[j], words[i]
            label, partial = labels[j]
            tokens.append(
                Token(
                    index=i - first,
                    id=tid,
                    token=pieces[i],
                    text=label if raws[j] is not None else self.display(tid),
                    start=start,
                    end=end,
                    word=word - words[first],
                    split=counts[word] > 1,
                    continues=i > first and words[i - 1] == word,
                    unknown=self._unk is not None and tid == self._unk,
                    raw=raws[j],
                    partial=partial,
                    word_text=word_texts[word],
                    special=tid in specials,
                )
            )
        return tokens

    def word_id(self, word: str) -> tuple[int, str]:
        """The token a word is as the next word of a text: ' word' when the vocabulary has it whole,
        else 'word', else the first token of ' word' (and a note saying so)."""
        w = word.strip()
        if not w:
            raise UsageError("the word is empty; give a word, e.g. --target hate")
        for candidate in (" " + w, w):
            ids = self.backend.encode(candidate, add_special_tokens=False).ids
            if len(ids) == 1:
                return ids[0], ""
        ids = self.backend.encode(" " + w, add_special_tokens=False).ids
        if not ids:
            raise UsageError(f"{w!r} gives no token for this model's tokenizer; give another word")
        return ids[0], f"{w!r} is {len(ids)} tokens for this model; its first, {self.display(ids[0])!r}, is used"

    def decode(self, ids: list[int]) -> str:
        return self.backend.decode(list(ids), skip_special_tokens=False)
