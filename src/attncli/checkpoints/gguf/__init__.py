"""GGUF files: reader.py parses the container, quants.py dequantizes each ggml type,
archs.py maps an architecture's metadata and tensors onto attncli's, vocab.py builds the
tokenizer. `load` puts them together into a validated Model whose matrices stay quantized
(inplace.py, products.py) until their float32 copy pays for itself.
"""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ...config import ModelConfig, param_shapes
from ...errors import ModelError
from ...model import Model, Params
from ..common import regular
from . import memory
from .archs import Arch, GGUFFile, arch_of, check_sizes, tensor_names, unpermute_rows
from .inplace import COMPILED_MODEL_VALUES, Quantized
from .quants import QUANT_TYPES, dequantize, scales_finite
from .reader import MAGIC, TensorInfo, read_header
from .vocab import read_tokenizer

__all__ = ["MAGIC", "detect", "load", "read_header"]


def detect(path: Path) -> bool:
    """A file that starts with GGUF's magic number, or is named .gguf (and then must be one)."""
    if path.suffix.lower() == ".gguf":
        return True
    if not path.is_file():  # a FIFO would wait for a writer; load_path refuses what is not a regular file
        return False
    try:
        with open(path, "rb") as f:
            return f.read(4) == MAGIC
    except OSError:
        return False


def check_finite(w: np.ndarray, info: TensorInfo, file: Path) -> None:
    """Plain float tensors have no scales to check (see scales_finite): check their values."""
    if QUANT_TYPES[info.type].scales is None and not np.isfinite(w).all():
        raise ModelError(f"{file}: tensor {info.name} holds NaN or infinite values; "
                         "the weights are corrupt, download them again")


class Job(NamedTuple):
    """One stored tensor and our parameters it holds: one, or several of a fused tensor, by output rows."""

    info: TensorInfo
    parts: tuple[str, ...]
    sizes: tuple[int, ...]  # each part's output rows (a vector's elements), in order
    unpermute: int  # heads to un-permute the rows over (llama.cpp's Q/K layout), 0 for none


def plan(gf: GGUFFile, config: ModelConfig, arch: Arch) -> list[Job]:
    """Which stored tensor gives each parameter, every name and shape checked, and nothing left over.

    A fused tensor the file holds gives its parts; the others come from their own names. A
    tensor the block does not use is refused: llama.cpp refuses it too, and it would mean a
    feature (LongRoPE factors, experts, MLP biases, ...) that attncli would silently leave out.
    """
    expected = param_shapes(config)
    names = tensor_names(arch, config)
    used = {"rope_freqs.weight"} if arch.rope_freqs else set()  # read into the config
    jobs: list[Job] = []
    given: set[str] = set()

    def add(name: str, parts: tuple[str, ...]) -> None:
        info = gf.tensors[name]
        shapes = [expected[p] for p in parts]  # ours: [in, out] matrices, or vectors
        sizes = tuple(s[-1] for s in shapes)  # each part's outputs
        if parts[0] == "embed.W_E":
            want = shapes[0]  # [vocab, d], as stored
        elif len(shapes[0]) == 1:
            want = (sum(sizes),)  # a vector, or fused vectors end to end
        else:
            want = (sum(sizes), shapes[0][0])  # stored [out, in] row-major (GGUF dims [in, out]), parts stacked
        if info.shape != want:
            raise ModelError(f"{gf.path}: tensor {name} has GGUF dims {list(info.dims)}; "
                             f"the metadata implies {list(want[::-1])}")
        n_heads = 0
        rotated = ("attn.W_Q", "attn.b_Q", "attn.W_K", "attn.b_K")
        if arch.unpermute_qk and len(parts) == 1 and parts[0].endswith(rotated):
            n_heads = config.n_head if parts[0][-1] == "Q" else config.n_kv_head
        jobs.append(Job(info, parts, sizes, n_heads))
        used.add(name)
        given.update(parts)

    for L in range(config.n_layer):
        for fused, parts in arch.fused.items():
            ours_parts = tuple(f"blocks.{L}.{p}" for p in parts)
            if f"blk.{L}.{fused}" in gf.tensors and all(p in expected for p in ours_parts):
                if arch.unpermute_qk and "attn.W_Q" in parts[0]:
                    raise ModelError(f"{gf.path}: tensor blk.{L}.{fused} fuses Q/K rows whose rotary layout "
                                     f"attncli cannot un-permute in a {arch.name} file")
                add(f"blk.{L}.{fused}", ours_parts)
    for ours in expected:
        if ours in given:
            continue
        theirs = names.get(ours)
        if theirs is None or theirs not in gf.tensors:
            missing = theirs or ours
            raise ModelError(f"{gf.path}: tensor {missing} is missing; the file is not a complete "
                             f"{config.n_layer}-layer model")
        add(theirs, (ours,))
    left = sorted(set(gf.tensors) - used)
    if left:
        raise ModelError(f"{gf.path}: tensor {left[0]}{f' and {len(left) - 1} more' if len(left) > 1 else ''} is not "
                         f"part of the {arch.name} block attncli computes (a feature it does not support); "
                         "the file cannot be computed exactly")
    return jobs


def read_tensors(gf: GGUFFile, config: ModelConfig, arch: Arch, in_place: frozenset[str] = frozenset(),
                 copy_after: int | None = None, vocab_copy_after: int | None = None) -> Params:
    """Map every parameter to our name and layout. Vectors (norms, biases) are dequantized to float32
    now; every matrix stays in the file as a Quantized (products from its blocks), checked when first
    used. One not `in_place` keeps a float32 copy once used more than `copy_after` times; the
    embedding, once read whole more than `vocab_copy_after` times (None: never).

    Every name and shape is checked first (plan); nothing here reads a matrix's pages.
    """
    params: Params = {}
    jobs = plan(gf, config, arch)
    vocab = ("embed.W_E", "unembed.W_U")  # one product a forward, of one row: it alone does not repay numba's import
    values = sum(int(np.prod(job.info.shape)) for job in jobs if len(job.info.shape) == 2 and job.parts[0] not in vocab)
    compiled_after = 0 if values >= COMPILED_MODEL_VALUES else 1  # see inplace.py
    for job in jobs:
        info = job.info
        raw = gf.data[info.offset:info.offset + info.nbytes]  # [nbytes], no copy
        if len(info.shape) == 1:  # vectors: always float32 (they are small)
            if not scales_finite(raw, info.type):
                raise ModelError(f"{gf.path}: tensor {info.name} has NaN or infinite scales; the weights are corrupt, "
                                 "download them again")
            w = dequantize(raw, info.type, info.shape)  # [n]
            check_finite(w, info, gf.path)
            if job.unpermute:
                w = unpermute_rows(w, job.unpermute)  # [n]
            params.update(zip(job.parts, np.split(w, np.cumsum(job.sizes)[:-1]) if len(job.parts) > 1 else [w],
                              strict=True))
            continue
        n_out, n_in = info.shape
        rows = raw.reshape(n_out, info.nbytes // n_out)  # [out, row bytes]: whole blocks a row
        if job.unpermute:
            rows = unpermute_rows(rows, job.unpermute)  # [out, row bytes], a copy of the quantized bytes
        bounds = [0, n_out] if job.parts[0] == "embed.W_E" else np.concatenate([[0], np.cumsum(job.sizes)])
        # W_E (always a part of its own) is [vocab, d] as stored, the rest [in, out]
        for part, r0, r1 in zip(job.parts, bounds[:-1], bounds[1:], strict=True):
            after = vocab_copy_after if part == "embed.W_E" else None if part in in_place else copy_after
            params[part] = Quantized(info.name, rows[int(r0):int(r1)], info.type, n_in, part != "embed.W_E", after,
                                     gf.path, 1 if part in vocab else compiled_after)
    return params


def load(path: Path, name: str | None = None, max_memory: int | None = None) -> Model:
    """Read and validate a GGUF file into a Model whose matrices stay quantized in the memory-mapped
    file, multiplied from their blocks; each gets a float32 copy once used more than twice when the
    whole float32 model fits the memory budget (`max_memory` bytes; default half of the memory
    available), and never otherwise (see memory.py)."""
    regular(path)
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
        gf = GGUFFile(path, meta, tensors, np.frombuffer(buf, dtype=np.uint8))
        check_sizes(arch, gf)
        config = arch.config(arch, gf)
        plan_ = memory.plan_memory(gf, config, plan(gf, config, arch), max_memory)
        params = read_tensors(gf, config, arch, plan_.in_place, plan_.copy_after, plan_.vocab_copy_after)
        tokenizer, warnings = read_tokenizer(meta, config, path)
        del gf
    finally:
        try:  # with nothing left in place, nothing refers to the map any more and it closes now
            buf.release()
            mm.close()
        except BufferError:  # a Quantized (or, on an error path, a traceback frame) still reads it: the GC closes it
            pass
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
    model = Model(config=config, params=params, tokenizer=tokenizer, name=name or path.stem, source=str(path),
                  card=card)
    model.memory = plan_
    model.warnings = warnings
    return model
