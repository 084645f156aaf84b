"""How tokens read in tables: leading spaces dropped, word pieces marked, duplicates numbered."""

from __future__ import annotations

from .tokenizer import Token

PIECE = "##"  # marks a token that continues the word before it (BERT's convention)


def token_label(tok: Token) -> str:
    text = tok.text.replace("\n", "\\n").replace("\t", "\\t")
    stripped = text.strip(" ") or repr(text)
    return f"{PIECE}{stripped}" if tok.continues else stripped


def token_note(tok: Token, tokens: list[Token]) -> str:
    notes = []
    if tok.special:
        notes.append("special token" + (", added before the text" if tok.start == tok.end == 0 and tok.index == 0 else ""))
    if tok.unknown:
        notes.append("unknown to the tokenizer")
    if tok.split:
        pieces = [t for t in tokens if t.word == tok.word]
        word = "".join(t.text for t in pieces).strip()
        notes.append(f"piece {pieces.index(tok) + 1} of {len(pieces)} of \"{word}\"")
    return "; ".join(notes)
