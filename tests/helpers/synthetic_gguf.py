"""A GGUF writer for synthetic Llama-architecture models: random quantized blocks (finite, small
scales), written a chunk at a time, so a multi-gigabyte file needs little memory. Used by the
memory tests and by benchmarks/big_gguf.py; no torch, no gguf-py.

The tokenizer is a byte-level "gpt2" BPE: 256 byte tokens and no merges, unless `vocab` gives
the tokenizer.ggml.* metadata of a real file (benchmarks/big_gguf.py copies SmolLM2's).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np

ALIGN = 32
# ggml type: (id, values a block, bytes a block, offset of the float16 d, of dmin or None)
TYPES = {"F32": (0, 1, 4, None, None), "F16": (1, 1, 2, None, None), "Q8_0": (8, 32, 34, 0, None),
         "Q4_K": (12, 256, 144, 0, 2), "Q6_K": (14, 256, 210, 208, None), "Q5_0": (6, 32, 22, 0, None)}
U32, I32, F32, STRING, ARRAY, U64, BOOL = 4, 5, 6, 8, 9, 10, 7


def _str(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _value(v: Any) -> bytes:
    if isinstance(v, bool):
        return struct.pack("<I?", BOOL, v)
    if isinstance(v, int):
        return struct.pack("<II", U32, v)
    if isinstance(v, float):
        return struct.pack("<If", F32, v)
    if isinstance(v, str):
        return struct.pack("<I", STRING) + _str(v)
    if isinstance(v, np.ndarray):
        kind = {np.dtype("int32"): I32, np.dtype("float32"): F32, np.dtype("uint32"): U32}[v.dtype]
        return struct.pack("<IIQ", ARRAY, kind, v.size) + v.astype(v.dtype.newbyteorder("<")).tobytes()
    if isinstance(v, list):
        return struct.pack("<IIQ", ARRAY, STRING, len(v)) + b"".join(_str(s) for s in v)
    raise TypeError(type(v))


def byte_vocab() -> dict[str, Any]:
    """A byte-level BPE vocabulary of the 256 bytes, GPT-2's spelling, no merges."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    tokens = [chr(c) for _, c in sorted(zip(bs, cs))]
    return {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt-2", "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.merges": [], "tokenizer.ggml.token_type": np.ones(256, dtype=np.int32),
            "tokenizer.ggml.bos_token_id": 0, "tokenizer.ggml.eos_token_id": 0, "tokenizer.ggml.add_bos_token": False}


def llama_tensors(n_layer: int, d: int, d_mlp: int, n_head: int, n_kv_head: int, vocab: int, tied: bool,
                  kinds: dict[str, str]) -> list[tuple[str, tuple[int, ...], str]]:
    """(name, GGUF dims [in, out], type) of every tensor of a Llama block stack; `kinds` maps a
    role (embed, output, attn, attn_v, ffn, ffn_down) to a type name."""
    dh = d // n_head
    out = [("token_embd.weight", (d, vocab), kinds["embed"]), ("output_norm.weight", (d,), "F32")]
    if not tied:
        out.append(("output.weight", (d, vocab), kinds["output"]))
    for L in range(n_layer):
        b = f"blk.{L}."
        out += [(b + "attn_norm.weight", (d,), "F32"), (b + "ffn_norm.weight", (d,), "F32"),
                (b + "attn_q.weight", (d, n_head * dh), kinds["attn"]), (b + "attn_k.weight", (d, n_kv_head * dh), kinds["attn"]),
                (b + "attn_v.weight", (d, n_kv_head * dh), kinds["attn_v"]), (b + "attn_output.weight", (n_head * dh, d), kinds["attn"]),
                (b + "ffn_gate.weight", (d, d_mlp), kinds["ffn"]), (b + "ffn_up.weight", (d, d_mlp), kinds["ffn"]),
                (b + "ffn_down.weight", (d_mlp, d), kinds["ffn_down"])]
    return out


def random_blocks(kind: str, n_blocks: int, rng: np.random.Generator, scale: float) -> bytes:
    """n_blocks of random `kind` blocks whose float16 scales are small and finite."""
    type_id, block, size, d_at, m_at = TYPES[kind]
    if kind == "F32":
        return (1.0 + 0.05 * rng.standard_normal(n_blocks)).astype("<f4").tobytes()  # norm gains near 1
    if kind == "F16":  # a matrix of float16 values, about as large as the quantized kinds' values
        return (64 * scale * rng.standard_normal(n_blocks)).astype("<f2").tobytes()
    blocks = rng.integers(0, 256, (n_blocks, size), dtype=np.uint8)
    blocks[:, d_at:d_at + 2] = (scale * rng.uniform(0.5, 1.0, (n_blocks, 1))).astype("<f2").view(np.uint8)
    if m_at is not None:
        blocks[:, m_at:m_at + 2] = (scale * 8 * rng.uniform(0.5, 1.0, (n_blocks, 1))).astype("<f2").view(np.uint8)
    return blocks.tobytes()


def write(path: Path, *, n_layer: int, d: int, d_mlp: int, n_head: int, n_kv_head: int, vocab_size: int, n_ctx: int = 2048,
          tied: bool = True, kinds: dict[str, str] | None = None, vocab: dict[str, Any] | None = None, seed: int = 0,
          scale: float = 0.002, rope_theta: float = 500000.0, architecture: str = "llama") -> Path:
    """A llama-architecture GGUF of these shapes with random weights; returns its path. `architecture`
    names it otherwise (its metadata keys too), e.g. an architecture attncli does not support."""
    kinds = {"embed": "Q4_K", "output": "Q6_K", "attn": "Q4_K", "attn_v": "Q6_K", "ffn": "Q4_K", "ffn_down": "Q6_K",
             **(kinds or {})}
    hparams = {"block_count": n_layer, "embedding_length": d, "feed_forward_length": d_mlp,
               "attention.head_count": n_head, "attention.head_count_kv": n_kv_head, "context_length": n_ctx, "attention.layer_norm_rms_epsilon": 1e-5,
               "rope.freq_base": rope_theta}
    meta: dict[str, Any] = {
        "general.architecture": architecture, "general.name": "synthetic", "general.alignment": ALIGN,
        **{f"{architecture}.{k}": v for k, v in hparams.items()}, **(vocab or byte_vocab()),
    }
    tensors = llama_tensors(n_layer, d, d_mlp, n_head, n_kv_head, vocab_size, tied, kinds)
    head = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta)))
    for k, v in meta.items():
        head += _str(k) + _value(v)
    offset, sizes = 0, []
    for name, dims, kind in tensors:
        type_id, block, size, _, _ = TYPES[kind]
        nbytes = int(np.prod(dims)) // block * size
        head += _str(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
        head += struct.pack("<IQ", type_id, offset)
        sizes.append(nbytes)
        offset += -(-nbytes // ALIGN) * ALIGN
    head += b"\0" * (-len(head) % ALIGN)
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(head)
        for (name, dims, kind), nbytes in zip(tensors, sizes):
            _, block, size, _, _ = TYPES[kind]
            n_blocks = nbytes // size
            step = max(1, (8 << 20) // size)  # 8 MB of blocks at a time
            for b0 in range(0, n_blocks, step):
                f.write(random_blocks(kind, min(step, n_blocks - b0), rng, scale))
            f.write(b"\0" * (-nbytes % ALIGN))
    return path


# a model big enough for quantized blocks in every matrix, small enough to run in a test
SMALL = dict(n_layer=2, d=256, d_mlp=512, n_head=4, n_kv_head=2, vocab_size=1000)
