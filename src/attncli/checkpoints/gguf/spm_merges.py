"""The merges of a SentencePiece vocabulary rebuilt as BPE (vocab.py's _spm), found with numpy and
kept in the cache: for Gemma's 262k tokens the pure-Python search was most of the model's load.

Every split of a token into two tokens is a merge, ranked by the joined token's score (llama.cpp
joins the best-scoring pair), ties by the longer left part, then by id (vocab._score_merges says
why). Splits are found by hashing every prefix and suffix of every token (64-bit polynomial
hashes, vectorized) and looking them up among the tokens' hashes; each match is then confirmed
on the strings themselves, so a hash collision can only cost a merge's check, never add one.

The result, int32 (left id, right id) pairs in rank order, is cached under the sha256 of the
vocabulary and scores (the cache folder's tokenizers/, see registry.cache_dir), written whole or
not at all: the first load of a vocabulary searches, later ones read 4 MB.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

B = np.uint64(0x9E3779B97F4A7C15)  # odd, so invertible modulo 2**64
B_INV = np.uint64(pow(int(B), -1, 1 << 64))
LEN_MIX = np.uint64(0x632BE59BD9B4E019)  # mixes a substring's length into its hash


def vocab_key(tokens: list[str], scores: np.ndarray) -> str:
    h = hashlib.sha256("\0".join(tokens).encode("utf-8", "surrogatepass"))
    h.update(np.ascontiguousarray(scores, dtype="<f4").tobytes())
    return h.hexdigest()


def find(tokens: list[str], scores: np.ndarray) -> np.ndarray:
    """int32 [n_merges, 2]: (left id, right id) of every split of a token into two tokens, in rank order."""
    n_tok = len(tokens)
    lens = np.fromiter(map(len, tokens), dtype=np.int64, count=n_tok)  # [V]
    starts = np.zeros(n_tok, dtype=np.int64)  # [V]: where each token's code points begin in `codes`
    np.cumsum(lens[:-1], out=starts[1:])
    codes = np.frombuffer("".join(tokens).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)  # [sum(lens)]
    n = codes.size
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps modulo 2**64, as a hash should
        inv_pow = np.full(n + 1, B_INV, dtype=np.uint64)
        inv_pow[0] = 1
        np.cumprod(inv_pow, out=inv_pow)  # [n + 1]: B**-i
        pow_ = np.full(n + 1, B, dtype=np.uint64)
        pow_[0] = 1
        np.cumprod(pow_, out=pow_)  # [n + 1]: B**i
        prefix = np.zeros(n + 1, dtype=np.uint64)  # [n + 1]: sum of (c + 1) * B**-i over the first i codes
        np.cumsum((codes.astype(np.uint64) + np.uint64(1)) * inv_pow[:n], out=prefix[1:])

        def hash_of(i: np.ndarray, k: np.ndarray) -> np.ndarray:  # codes[i:i + k], for arrays of i and k
            return (prefix[i + k] - prefix[i]) * pow_[i] + k.astype(np.uint64) * LEN_MIX

        whole = hash_of(starts, lens)  # [V]
        order = np.argsort(whole)
        table = whole[order]  # [V] sorted
        multi = np.flatnonzero(lens >= 2)
        per = lens[multi] - 1  # splits of each token
        tok = np.repeat(multi, per)  # [S]: the token of each split
        first = np.repeat(np.cumsum(per) - per, per)  # [S]
        k = np.arange(tok.size, dtype=np.int64) - first + 1  # [S]: the left part's length
        left_h, right_h = hash_of(starts[tok], k), hash_of(starts[tok] + k, lens[tok] - k)  # [S] each

    def lookup(h: np.ndarray) -> np.ndarray:  # the token id with hash h, or -1
        j = np.minimum(np.searchsorted(table, h), n_tok - 1)
        return np.where(table[j] == h, order[j], -1)

    left, right = lookup(left_h), lookup(right_h)  # [S] each
    hit = (left >= 0) & (right >= 0)
    tok, k, left, right = tok[hit], k[hit], left[hit], right[hit]
    rank = np.lexsort((tok, -k, -np.asarray(scores, dtype=np.float64)[tok]))  # best score, longer left, lower id
    tok, k, left, right = tok[rank], k[rank], left[rank], right[rank]
    objs = np.array(tokens, dtype=object)  # [V]
    same = (objs[left] + objs[right]) == objs[tok]  # the strings themselves, not just their hashes
    same &= lens[left] == k
    return np.stack([left[same], right[same]], axis=1).astype(np.int32)  # [M, 2]


def cache_file(key: str) -> Path:
    from ...registry import cache_dir

    return cache_dir() / "tokenizers" / f"spm-merges-{key[:40]}.npy"


def cached(tokens: list[str], scores: np.ndarray) -> np.ndarray:
    """find()'s pairs, from the cache when they are there (checked), else found and stored."""
    path = cache_file(vocab_key(tokens, scores))
    try:
        pairs = np.load(path, allow_pickle=False)
        if pairs.dtype == np.int32 and pairs.ndim == 2 and pairs.shape[1] == 2 and \
                (pairs.size == 0 or (pairs.min() >= 0 and pairs.max() < len(tokens))):
            return pairs
    except (OSError, ValueError):
        pass
    pairs = find(tokens, scores)
    try:  # a cache that cannot be written (read-only home, full disk) only costs the next load this search
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".merges-", suffix=".npy", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, pairs, allow_pickle=False)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass
    return pairs


def merges(tokens: list[str], scores: Any) -> list[tuple[str, str]]:
    """The BPE merges of a SentencePiece vocabulary (`tokens` in id order), best first, as strings."""
    pairs = cached(tokens, np.asarray(scores, dtype=np.float32)[:len(tokens)])
    objs = np.array(tokens, dtype=object)
    return list(zip(objs[pairs[:, 0]].tolist(), objs[pairs[:, 1]].tolist()))
