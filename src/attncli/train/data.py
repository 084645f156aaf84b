"""Corpus -> tokenizer and token ids, and seeded random training windows."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..tokenizer import Tokenizer
from .bpe import EOT

BLANK_LINES = re.compile(r"\n[ \t\r\f\v]*\n\s*")


def read_text(path: Path, what: str = "corpus") -> str:
    """A UTF-8 text file's contents; a typed error for a missing, unreadable, non-UTF-8 or empty file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file; give the path of the {what}, a UTF-8 text file") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder; give the path of the {what}, a UTF-8 text file") from None
    except PermissionError:
        raise UsageError(f"{path}: no permission to read it; "
                         f"give a {what} you can read, or change its permissions") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read it ({e.strerror or e}); "
                         f"give the path of the {what}, a UTF-8 text file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 (byte {e.start} is 0x{raw[e.start]:02x}); "
                         f"convert the {what} to UTF-8") from None
    if not text.strip():
        raise UsageError(f"{path}: the {what} is empty; give a text file with some stories or paragraphs")
    return text.lstrip("\ufeff")


def documents(text: str) -> list[str]:
    """Blank-line-separated blocks of text, stripped, empty ones dropped."""
    return [d for d in (b.strip() for b in BLANK_LINES.split(text.replace("\r\n", "\n"))) if d]


def encode_documents(tokenizer: Tokenizer, docs: list[str]) -> np.ndarray:
    """Token ids of the documents, each preceded by <|endoftext|> (as GPT-2 separates documents)."""
    eot = tokenizer.backend.token_to_id(EOT)
    encs = tokenizer.backend.encode_batch(docs, add_special_tokens=False)
    pieces = []
    for enc in encs:
        pieces.append(np.array([eot] + enc.ids, dtype=np.int64))  # [1 + n]
    ids = np.concatenate(pieces)  # [N]
    return ids.astype(np.uint16 if tokenizer.vocab_size <= 65536 else np.int32)  # [N]


def windows_at(ids: np.ndarray, starts: np.ndarray, n_ctx: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows of n_ctx + 1 tokens at `starts` [B]: inputs [B, T] and next-token targets [B, T]."""
    win = ids[starts[:, None] + np.arange(n_ctx + 1)].astype(np.int64)  # [B, T+1]
    return win[:, :-1], win[:, 1:]  # [B, T], [B, T]


def sample_batch(ids: np.ndarray, batch: int, n_ctx: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`batch` random windows: inputs [B, T] and next-token targets [B, T]."""
    return windows_at(ids, rng.integers(0, ids.shape[0] - n_ctx, size=batch), n_ctx)  # [B, T], [B, T]
