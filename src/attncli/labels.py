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


def printable(text: str, newlines: bool = False) -> str:
    """`text` with every control character (C0, DEL, C1), line separator, bidi control and
    lone surrogate written out visibly; with `newlines`, "\\n" stays a line break (prose)."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() or (newlines and ch == "\n"):
            out.append(ch)
        elif ch not in BIDI and unicodedata.category(ch) == "Cf":  # joiners, soft hyphens: harmless, part of emoji
            out.append(ch)
        else:
            out.append(_visible(ch))
    return "".join(out)


def token_label(tok: Token) -> str:
    """The token as the tables show it: without its leading space, '##' before a word's later pieces."""
    text = printable(tok.text)
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
        notes.append(f"piece {pieces.index(tok) + 1} of {len(pieces)} of \"{printable(word)}\"")
    return "; ".join(notes)
