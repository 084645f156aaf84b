"""GGUF files written with gguf-py (skipped without it): a one-layer random Llama (`write_gguf`), and a file
with some of its metadata changed (`rewrite_gguf`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

D, M, H, HKV, DH = 16, 24, 2, 1, 8  # write_gguf's sizes: width, MLP, heads, KV heads, head width


def write_gguf(path: Path, meta: dict[str, Any] | None = None, extra: dict[str, np.ndarray] | None = None,
               drop: tuple[str, ...] = (), tokenizer: str = "gpt2") -> Path:
    """A one-layer random llama-architecture GGUF (F32), `meta` keys added, `extra` tensors added, `drop` left out."""
    gguf = pytest.importorskip("gguf", reason="writing test GGUF files needs the gguf package")
    from attncli.tokenizer import byte_level_alphabet

    tokens = [c for _, c in sorted(byte_level_alphabet().items())] + ["Ġt", "<|endoftext|>"]
    rng = np.random.default_rng(0)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    w.add_context_length(32)
    w.add_embedding_length(D)
    w.add_feed_forward_length(M)
    w.add_head_count(H)
    w.add_head_count_kv(HKV)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model(tokenizer)
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types([1] * (len(tokens) - 1) + [3])
    w.add_token_merges(["Ġ t"])
    for key, value in (meta or {}).items():
        (w.add_string if isinstance(value, str) else w.add_float32 if isinstance(value, float) else w.add_uint32)(key, value)
    shapes = {"token_embd.weight": (len(tokens), D), "output_norm.weight": (D,), "blk.0.attn_norm.weight": (D,),
              "blk.0.ffn_norm.weight": (D,), "blk.0.attn_q.weight": (H * DH, D), "blk.0.attn_k.weight": (HKV * DH, D),
              "blk.0.attn_v.weight": (HKV * DH, D), "blk.0.attn_output.weight": (D, H * DH),
              "blk.0.ffn_gate.weight": (M, D), "blk.0.ffn_up.weight": (M, D), "blk.0.ffn_down.weight": (D, M)}
    tensors = {n: (0.3 * rng.standard_normal(s)).astype(np.float32) for n, s in shapes.items() if n not in drop}
    for name, arr in {**tensors, **(extra or {})}.items():
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def rewrite_gguf(src: Path, dst: Path, changes: dict[str, Any]) -> Path:
    """`src` with metadata keys set to `changes`' values (a 32-bit unsigned integer, a signed one if negative,
    a 32-bit float), the rest as it was."""
    gguf = pytest.importorskip("gguf", reason="writing test GGUF files needs the gguf package")
    reader = gguf.GGUFReader(str(src))
    arch = reader.fields["general.architecture"].contents()
    w = gguf.GGUFWriter(str(dst), arch)
    for key, f in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture" or key in changes:
            continue
        vtype = gguf.GGUFValueType(f.types[0])
        w.add_key_value(key, f.contents(), vtype, gguf.GGUFValueType(f.types[1]) if len(f.types) > 1 else None)
    for key, value in changes.items():
        kind = gguf.GGUFValueType.FLOAT32 if isinstance(value, float) else \
            gguf.GGUFValueType.INT32 if value < 0 else gguf.GGUFValueType.UINT32
        w.add_key_value(key, value, kind)
    for t in reader.tensors:
        w.add_tensor(t.name, np.array(t.data), raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return dst
