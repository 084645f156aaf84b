"""The GGUF container (llama.cpp's spec, versions 2 and 3, little-endian): header, metadata
and tensor table, with every count and offset bounded by the file's size before anything
is allocated. Reads only; what the tensors mean is archs.py's, how they decode quants.py's.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ModelError
from .quants import QUANT_TYPES

MAGIC = b"GGUF"
VERSIONS = (2, 3)  # v1 counted in 32 bits and is gone from the wild
MAX_DIMS = 4  # GGML_MAX_DIMS
DEFAULT_ALIGNMENT = 32

# metadata value types: fixed-size ones as struct formats; 8 is a string, 9 an array
SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
U64 = struct.Struct("<Q")
ARRAY_DTYPES = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "<u1", 10: "<u8", 11: "<i8",
                12: "<f8"}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dims: tuple[int, ...]  # as GGUF lists them: ne0 (contiguous, the input dim) first
    type: int
    offset: int  # absolute, in the file
    nbytes: int

    @property
    def shape(self) -> tuple[int, ...]:
        """The numpy (row-major) shape: GGUF's dims reversed, e.g. [out, in] for a matrix."""
        return tuple(reversed(self.dims))


class _Cursor:
    """Reads little-endian values from a buffer, refusing to run past its end."""

    def __init__(self, buf: memoryview, file: Path) -> None:
        self.buf, self.pos, self.file, self.size = buf, 0, file, len(buf)

    def fail(self, what: str) -> ModelError:
        return ModelError(f"{self.file}: {what}; the GGUF file is truncated or corrupt, download it again")

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise self.fail(f"{what} runs past the end of the file (offset {self.pos}, {n} bytes)")

    def scalar(self, fmt: str, what: str) -> Any:
        n = struct.calcsize(fmt)
        self.need(n, what)
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return value

    def string(self, what: str) -> str:
        n = self.scalar("<Q", what)
        self.need(n, what)
        raw = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not UTF-8") from None

    def strings(self, count: int, what: str) -> list[str]:
        """`count` length-prefixed strings (a vocabulary's 262k tokens): one loop finds where each
        starts, then numpy turns each 8-byte length into one NUL and the text decodes and splits in
        two calls. A NUL between them makes a string that is not UTF-8 on its own fail the decode,
        as it would alone; strings that hold NULs themselves are cut at each one's first character."""
        buf, pos, size = self.buf, self.pos, self.size
        unpack = U64.unpack_from
        ends_at: list[int] = []  # where each string's bytes end
        append = ends_at.append
        try:
            for _ in range(count):  # the one sequential part: each offset depends on the lengths before it
                pos += 8 + unpack(buf, pos)[0]
                append(pos)
        except struct.error:  # fewer than 8 bytes left for a length
            raise self.fail(f"{what} runs past the end of the file") from None
        if pos > size:
            raise self.fail(f"{what} runs past the end of the file")
        if not count:
            return []
        stops = np.array(ends_at, dtype=np.int64)  # [count]
        lengths = np.diff(stops, prepend=self.pos) - 8  # [count]
        prefixes = stops - lengths - 8 - self.pos  # [count]: where each length starts in the region
        region = np.frombuffer(buf, dtype=np.uint8, count=pos - self.pos, offset=self.pos)  # [bytes], no copy
        keep = np.ones(region.size, dtype=bool)  # [bytes]: False on all but the first byte of each length
        keep[prefixes[:, None] + np.arange(1, 8)] = False
        text = region[keep]  # [count + sum of lengths]: each string after one byte of its length
        text[prefixes - 7 * np.arange(count)] = 0  # that byte a NUL
        self.pos = pos
        if np.count_nonzero(text) == text.size - count:  # no string holds a NUL: split at them
            try:
                return text.tobytes().decode("utf-8").split("\0")[1:]
            except UnicodeDecodeError:
                raise self.fail(f"{what} holds a string that is not UTF-8") from None
        return self._cut(text, lengths + 1, what)

    def _cut(self, text: np.ndarray, spans: np.ndarray, what: str) -> list[str]:
        """Strings that hold NULs: the text [bytes] decoded whole (the NUL before each string still
        fails a string that is not UTF-8 alone) and cut after each span [count] (a NUL and a string)."""
        try:
            joined = text.tobytes().decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} holds a string that is not UTF-8") from None
        ends = np.cumsum(spans)  # [count]: where each span ends, in bytes
        inside = np.flatnonzero((text & 0xC0) == 0x80)  # [continuation bytes]: not characters of their own
        chars = (ends - np.searchsorted(inside, ends)).tolist()  # [count]: where each span ends, in characters
        return [joined[a + 1:b] for a, b in zip([0] + chars[:-1], chars, strict=True)]

    def value(self, vtype: int, what: str) -> Any:
        if vtype in SCALARS:
            return self.scalar(SCALARS[vtype], what)
        if vtype == STRING:
            return self.string(what)
        if vtype == ARRAY:
            itype = self.scalar("<I", what)
            count = self.scalar("<Q", what)
            if itype in ARRAY_DTYPES:
                width = np.dtype(ARRAY_DTYPES[itype]).itemsize
                self.need(count * width, what)
                arr = np.frombuffer(self.buf, dtype=ARRAY_DTYPES[itype], count=count, offset=self.pos)  # [count]
                self.pos += count * width
                return arr.astype(bool) if itype == 7 else arr.copy()  # [count]
            if itype == STRING:
                self.need(count * 8, what)  # each string has at least its 8-byte length
                return self.strings(count, what)
            raise self.fail(f"{what} has array item type {itype}, which is unknown or a nested array")
        raise self.fail(f"{what} has unknown value type {vtype}")


def read_header(buf: memoryview, file: Path) -> tuple[dict[str, Any], dict[str, TensorInfo]]:
    """Parse metadata and the tensor table; every offset and size checked against the file."""
    cur = _Cursor(buf, file)
    cur.need(4, "the magic number")
    if bytes(buf[:4]) != MAGIC:
        raise ModelError(f"{file}: not a GGUF file (it starts with {bytes(buf[:4])!r}, not b'GGUF'); "
                         "pass a .gguf model file")
    cur.pos = 4
    version = cur.scalar("<I", "the version")
    if version not in VERSIONS:
        hint = " (a big-endian file?)" if version > 0xFFFF else ""
        raise ModelError(f"{file}: GGUF version {version}{hint} is not supported (this attncli reads versions 2 and "
                         "3); convert the model with a current llama.cpp")
    n_tensors = cur.scalar("<Q", "the tensor count")
    n_kv = cur.scalar("<Q", "the metadata count")
    # the smallest metadata entry is 13 bytes, the smallest tensor entry 24: bound before looping
    if n_kv * 13 + n_tensors * 24 > cur.size - cur.pos:
        raise cur.fail(f"it claims {n_kv} metadata entries and {n_tensors} tensors, more than the file can hold")
    meta: dict[str, Any] = {"GGUF.version": version}
    for _ in range(n_kv):
        key = cur.string("a metadata key")
        vtype = cur.scalar("<I", f"the type of {key}")
        meta[key] = cur.value(vtype, f"metadata {key}")
    infos = []
    for _ in range(n_tensors):
        name = cur.string("a tensor name")
        n_dims = cur.scalar("<I", f"tensor {name}")
        if not 1 <= n_dims <= MAX_DIMS:
            raise cur.fail(f"tensor {name} has {n_dims} dimensions (at most {MAX_DIMS})")
        cur.need(8 * n_dims, f"tensor {name}")
        dims = struct.unpack_from(f"<{n_dims}Q", buf, cur.pos)
        cur.pos += 8 * n_dims
        ttype = cur.scalar("<I", f"tensor {name}")
        offset = cur.scalar("<Q", f"tensor {name}")
        infos.append((name, dims, ttype, offset))
    alignment = meta.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment < 1 or alignment & (alignment - 1):
        raise cur.fail(f"general.alignment is {alignment!r}, not a power of two")
    data_start = -(-cur.pos // alignment) * alignment
    tensors: dict[str, TensorInfo] = {}
    for name, dims, ttype, offset in infos:
        if ttype not in QUANT_TYPES:
            known = ", ".join(q.name for q in QUANT_TYPES.values())
            raise ModelError(f"{file}: tensor {name} has ggml type {ttype}, "
                             f"which attncli cannot dequantize (it reads {known}); "
                             "use a GGUF file quantized as Q8_0, Q4_1 or F16")
        qt = QUANT_TYPES[ttype]
        n = 1
        for dim in dims:
            if dim < 1 or dim > cur.size * 2:  # no type packs more than 2 values a byte: bounds the product too
                raise cur.fail(f"tensor {name} has dimension {dim}")
            n *= dim
        if dims[0] % qt.block_size:
            raise cur.fail(f"tensor {name} is {qt.name} but its rows of {dims[0]} are not whole blocks of "
                           f"{qt.block_size}")
        nbytes = n // qt.block_size * qt.type_size
        start = data_start + offset
        if start + nbytes > cur.size:
            raise cur.fail(f"tensor {name} ({nbytes} bytes at offset {start}) lies past the end of the file "
                           f"({cur.size} bytes)")
        if name in tensors:
            raise cur.fail(f"tensor {name} appears twice")
        tensors[name] = TensorInfo(name, tuple(dims), ttype, start, nbytes)
    return meta, tensors
