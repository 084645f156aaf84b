"""How text from outside reads on a terminal: tokens in tables (spaces dropped, word pieces
marked), and any string from the input, a tokenizer or a model file made safe to print.

Such text may hold control characters (an ESC can recolor, retitle or garble a terminal);
`printable` shows each one visibly, the way Python writes it in a string (\\x1b, \\n), so it
is seen, never obeyed. JSON keeps the exact text; only what reaches a terminal is escaped.
"""

from __future__ import annotations

import unicodedata

from .tokenizer import Token

PIECE = "##"  # marks a token that continues the word before it (BERT's convention)

# Invisible characters that reorder the text around them (the "Trojan Source" ones): shown too.
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _visible(ch: str) -> str:
    if ch in NAMED:
        return NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


# Unicode's Default_Ignorable_Code_Point outside category Cf (DerivedCoreProperties.txt): characters that
# draw nothing either: the combining grapheme joiner, Hangul fillers, Khmer inherent vowels, Mongolian free
# variation selectors, variation selectors (FE00..FE0F, E0100..E01EF), shorthand format controls, musical
# beams, and the rest of the tag/ignorable plane block.
IGNORABLE_RANGES = ((0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x3164, 0x3164),
                    (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
                    (0xE0000, 0xE0FFF))


def invisible(ch: str) -> bool:
    """A character that draws nothing: a format character (Cf: joiners, zero-width spaces, bidi marks, the
    BOM, tags, U+180E) or one of Unicode's other default-ignorable code points (variation selectors, ...)."""
    if unicodedata.category(ch) == "Cf":
        return True
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in IGNORABLE_RANGES)


def printable(text: str, newlines: bool = False, ignorable: bool = False) -> str:
    """`text` with every control character (C0, DEL, C1), line separator, bidi control and
    lone surrogate written out visibly; with `newlines`, "\\n" stays a line break (prose).
    With `ignorable` (a token on its own), every character that draws nothing is written out
    too: joiners and variation selectors hold an emoji together in a sentence, but a token
    made of one would look empty and shift the columns after it."""
    if text.isprintable() and not (ignorable and any(map(invisible, text))):
        return text
    out = []
    for ch in text:
        if ignorable and invisible(ch):
            out.append(_visible(ch))
        elif (ch.isprintable() or (newlines and ch == "\n")
              or ch not in BIDI and unicodedata.category(ch) == "Cf"):  # joiners, soft hyphens: part of emoji
            out.append(ch)
        else:
            out.append(_visible(ch))
    return "".join(out)


def token_text(text: str) -> str:
    """A token's text (or a predicted one's) for a terminal: every character that draws nothing escaped."""
    return printable(text, ignorable=True)


def token_repr(text: str) -> str:
    """A token's text quoted as Python writes it (repr escapes control characters and most format
    characters), with the invisible characters repr leaves raw (variation selectors, ...) escaped too."""
    return "".join(_visible(ch) if invisible(ch) else ch for ch in repr(text))


def token_label(tok: Token, ignorable: bool = True) -> str:
    """The token as the tables show it: without its leading space, '##' before a word's later pieces.
    `ignorable=False` keeps what draws nothing as it is (the --json documents' labels, as they were)."""
    text = printable(tok.text, ignorable=ignorable)
    stripped = text.strip(" ") or repr(text)
    return f"{PIECE}{stripped}" if tok.continues else stripped


def token_note(tok: Token, tokens: list[Token]) -> str:
    notes = []
    if tok.special:
        added = tok.start == tok.end and (tok.index == 0 or tok.index == len(tokens) - 1)
        where = ", added before the text" if added and tok.index == 0 else ", added after the text" if added else ""
        notes.append("special token" + where)
    if tok.special and tok.token.strip("[]<> \u0120\u2581").lower() == "mask":
        notes.append("the mask: a word the model fills in")
    if tok.unknown:
        notes.append("unknown to the tokenizer")
    if tok.split:
        pieces = [t for t in tokens if t.word == tok.word]
        word = tok.word_text or "".join(t.text for t in pieces).strip()
        notes.append(f"piece {pieces.index(tok) + 1} of {len(pieces)} of \"{token_text(word)}\"")
    return "; ".join(notes)
