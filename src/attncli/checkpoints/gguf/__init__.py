"""GGUF files: reader.py parses the container, quants.py dequantizes each ggml type,
archs.py maps an architecture's metadata and tensors onto attncli's, vocab.py builds the
tokenizer. `load` puts them together into a validated Model of float32 weights.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np

from ...config import ModelConfig, param_shapes
from ...errors import ModelError
from ...model import Model, Params
from .archs import Arch, arch_of, tensor_names, unpermute_rows
from .quants import QUANT_TYPES, dequantize, scales_finite
from .reader import MAGIC, TensorInfo, read_header
from .vocab import read_tokenizer

__all__ = ["MAGIC", "detect", "load", "read_header"]

ROWS_PER_CHUNK = 256  # output rows dequantized at a time: small temporaries, so the heap does not fragment


def detect(path: Path) -> bool:
    """A file that starts with GGUF's magic number, or is named .gguf (and then must be one)."""
    if path.suffix.lower() == ".gguf":
        return True
    try:
        with open(path, "rb") as f:
            return f.read(4) == MAGIC
    except OSError:
        return False


def check_finite(w: np.ndarray, info: TensorInfo, file: Path) -> None:
    """Plain float tensors have no scales to check (see scales_finite): check their values."""
    if QUANT_TYPES[info.type].scales is None and not np.isfinite(w).all():
        raise ModelError(f"{file}: tensor {info.name} holds NaN or infinite values; the weights are corrupt, download them again")


def to_in_out(raw: np.ndarray, info: TensorInfo, ours: str, config: ModelConfig, arch: Arch, file: Path) -> np.ndarray:
    """A stored [out, in] matrix -> a contiguous float32 [in, out] one, Q/K rows un-permuted if the arch says so.

    Works on a few hundred rows at a time: a whole-matrix [out, in] temporary, freed after the
    transpose, would leave the process's peak memory ~0.5 GB higher on a 135M model.
    """
    n_out, n_in = info.shape
    row_bytes = info.nbytes // n_out
    rows = raw.reshape(n_out, row_bytes)  # [out, row bytes]: a row is whole blocks, so rows can be reordered as bytes
    if arch.unpermute_qk and ours.endswith("attn.W_Q"):
        rows = unpermute_rows(rows, config.n_head)  # [out, row bytes]
    elif arch.unpermute_qk and ours.endswith("attn.W_K"):
        rows = unpermute_rows(rows, config.n_kv_head)  # [out, row bytes]
    dest = np.empty((n_in, n_out), dtype=np.float32)  # [in, out]
    for r0 in range(0, n_out, ROWS_PER_CHUNK):
        r1 = min(n_out, r0 + ROWS_PER_CHUNK)
        w = dequantize(np.ascontiguousarray(rows[r0:r1]).reshape(-1), info.type, (r1 - r0, n_in))  # [rows, in]
        check_finite(w, info, file)
        dest[:, r0:r1] = w.T
    return dest


def read_tensors(buf: memoryview, tensors: dict[str, TensorInfo], config: ModelConfig, arch: Arch, file: Path) -> Params:
    """Dequantize every parameter to float32 and map it to our name and [in, out] layout.

    Every name and shape is checked first; dequantizing (and transposing to [in, out]) then
    runs on a small thread pool: numpy releases the GIL, and the load time of a
    135M-parameter model halves on two cores.
    """
    from concurrent.futures import ThreadPoolExecutor

    expected = param_shapes(config)
    names = tensor_names(arch, config)
    data = np.frombuffer(buf, dtype=np.uint8)  # [file bytes], no copy
    jobs: list[tuple[str, TensorInfo, np.ndarray]] = []
    for ours, shape in expected.items():
        info = tensors.get(names[ours])
        if info is None:
            raise ModelError(f"{file}: tensor {names[ours]} is missing; the file is not a complete {config.n_layer}-layer model")
        # matrices are stored [out, in] row-major (GGUF dims [in, out]); the embedding is [vocab, d]
        want = shape if ours == "embed.W_E" or len(shape) == 1 else shape[::-1]
        if info.shape != want:
            raise ModelError(f"{file}: tensor {info.name} has GGUF dims {list(info.dims)}; the metadata implies {list(want[::-1])}")
        raw = data[info.offset:info.offset + info.nbytes]  # [nbytes]
        if not scales_finite(raw, info.type):
            raise ModelError(f"{file}: tensor {info.name} has NaN or infinite scales; the weights are corrupt, download them again")
        jobs.append((ours, info, raw))

    def one(job: tuple[str, TensorInfo, np.ndarray]) -> np.ndarray:
        ours, info, raw = job
        if len(info.shape) == 1 or ours == "embed.W_E":  # vectors, and the [vocab, d] embedding, as stored
            w = dequantize(raw, info.type, info.shape)  # [d] or [vocab, d]
            check_finite(w, info, file)
            return w
        return to_in_out(raw, info, ours, config, arch, file)

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        arrays = list(pool.map(one, jobs))
    return {ours: w for (ours, _, _), w in zip(jobs, arrays)}


def load(path: Path, name: str | None = None) -> Model:
    """Read, validate and dequantize a GGUF file into a Model."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            if size == 0:
                raise ModelError(f"{path}: the file is empty; download it again")
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as e:
        raise ModelError(f"{path}: cannot read it ({e.strerror or e}); check the path and its permissions") from None
    buf = memoryview(mm)
    try:
        meta, tensors = read_header(buf, path)
        arch = arch_of(meta, path)
        config = arch.config(arch, meta, tensors, path)
        params = read_tensors(buf, tensors, config, arch, path)  # float32 copies: nothing refers to the map after this
    finally:
        try:
            buf.release()
            mm.close()
        except BufferError:  # on an error path a traceback frame may still hold a view; the GC closes the map
            pass
    tokenizer = read_tokenizer(meta, config, path)
    card = {
        "format": "gguf",
        "gguf_version": meta["GGUF.version"],
        "name": meta.get("general.name"),
        "license": meta.get("general.license"),
        "quantization": sorted({QUANT_TYPES[t.type].name for t in tensors.values()}),
        "bos_token_id": meta.get("tokenizer.ggml.bos_token_id"),
        "eos_token_id": meta.get("tokenizer.ggml.eos_token_id"),
    }
    card = {k: v for k, v in card.items() if v is not None}
    return Model(config=config, params=params, tokenizer=tokenizer, name=name or path.stem, source=str(path), card=card)
