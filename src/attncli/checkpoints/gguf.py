"""GGUF files of the llama architecture (Llama, SmolLM2, ...): a minimal reader, numpy dequantization.

Follows the GGUF spec of llama.cpp (versions 2 and 3, little-endian). Reads the header,
the metadata and the tensor table with every count bounded by the file's size before
anything is allocated; dequantizes F32, F16, BF16, Q8_0, Q4_0 and Q4_1 to float32 exactly
as ggml and transformers do; undoes llama.cpp's per-head Q/K row permutation so the core's
rotate-half rotary applies; builds the tokenizer from the metadata with `tokenizers`.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ModelConfig
from ..errors import ModelError
from ..model import Model, Params, param_shapes
from ..tokenizer import Tokenizer

MAGIC = b"GGUF"
VERSIONS = (2, 3)  # v1 counted in 32 bits and is gone from the wild
MAX_DIMS = 4  # GGML_MAX_DIMS
DEFAULT_ALIGNMENT = 32

# metadata value types: fixed-size ones as struct formats; 8 is a string, 9 an array
SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
ARRAY_DTYPES = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "<u1", 10: "<u8", 11: "<i8", 12: "<f8"}

# ggml tensor types: id -> (name, elements per block, bytes per block)
GGML_TYPES = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    8: ("Q8_0", 32, 34),
    30: ("BF16", 1, 2),
}


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
        # the hot loop of a 49k-token vocabulary: locals and one unpack per string
        buf, pos, size, unpack = self.buf, self.pos, self.size, struct.unpack_from
        out = []
        append = out.append
        try:
            for _ in range(count):
                if pos + 8 > size:
                    raise self.fail(f"{what} runs past the end of the file")
                (n,) = unpack("<Q", buf, pos)
                pos += 8
                if pos + n > size:
                    raise self.fail(f"{what} runs past the end of the file")
                append(str(buf[pos:pos + n], "utf-8"))
                pos += n
        except UnicodeDecodeError:
            raise self.fail(f"{what} holds a string that is not UTF-8") from None
        self.pos = pos
        return out

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
        raise ModelError(f"{file}: not a GGUF file (it starts with {bytes(buf[:4])!r}, not b'GGUF'); pass a .gguf model file")
    cur.pos = 4
    version = cur.scalar("<I", "the version")
    if version not in VERSIONS:
        hint = " (a big-endian file?)" if version > 0xFFFF else ""
        raise ModelError(f"{file}: GGUF version {version}{hint} is not supported (this attncli reads versions 2 and 3); "
                         "convert the model with a current llama.cpp")
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
        if ttype not in GGML_TYPES:
            known = ", ".join(n for n, _, _ in GGML_TYPES.values())
            raise ModelError(f"{file}: tensor {name} has ggml type {ttype}, which attncli cannot dequantize (it reads {known}); "
                             "use a GGUF file quantized as Q8_0, Q4_1 or F16")
        tname, block, block_bytes = GGML_TYPES[ttype]
        n = 1
        for dim in dims:
            if dim < 1 or dim > cur.size * 2:  # no type packs more than 2 values a byte: bounds the product too
                raise cur.fail(f"tensor {name} has dimension {dim}")
            n *= dim
        if dims[0] % block:
            raise cur.fail(f"tensor {name} is {tname} but its rows of {dims[0]} are not whole blocks of {block}")
        nbytes = n // block * block_bytes
        start = data_start + offset
        if start + nbytes > cur.size:
            raise cur.fail(f"tensor {name} ({nbytes} bytes at offset {start}) lies past the end of the file ({cur.size} bytes)")
        if name in tensors:
            raise cur.fail(f"tensor {name} appears twice")
        tensors[name] = TensorInfo(name, tuple(dims), ttype, start, nbytes)
    return meta, tensors


def dequantize(raw: np.ndarray, ttype: int, shape: tuple[int, ...]) -> np.ndarray:
    """Bytes of one tensor -> float32 values of `shape` (row-major), as ggml computes them.

    Each quantized block is a float16 scale d (and for Q4_1 a float16 minimum m) and 32
    small integers q; a value is d * q (Q8_0), d * (q - 8) (Q4_0) or d * q + m (Q4_1),
    computed in float32 in that order, so the result is bit-identical to ggml's.
    """
    name, block, block_bytes = GGML_TYPES[ttype]
    if name == "F32":
        return raw.view("<f4").reshape(shape).astype(np.float32)  # shape
    if name == "F16":
        return raw.view("<f2").reshape(shape).astype(np.float32)  # shape
    if name == "BF16":
        return (raw.view("<u2").astype(np.uint32) << 16).view(np.float32).reshape(shape)  # shape
    blocks = raw.reshape(-1, block_bytes)  # [n_blocks, block_bytes]
    n_blocks = blocks.shape[0]
    d = blocks[:, 0:2].copy().view("<f2").astype(np.float32)  # [n_blocks, 1]: each block's scale
    out = np.empty((n_blocks, block), dtype=np.float32)  # [n_blocks, 32]
    if name == "Q8_0":
        np.multiply(blocks[:, 2:].view(np.int8), d, out=out)  # [n_blocks, 32]: one pass, float32(q) * d
        return out.reshape(shape)  # shape
    qs = blocks[:, 4:] if name == "Q4_1" else blocks[:, 2:]  # [n_blocks, 16]: value i in the low nibble of byte i, 16+i in the high
    q = np.empty((n_blocks, block), dtype=np.uint8)  # [n_blocks, 32]
    np.bitwise_and(qs, 15, out=q[:, :16])
    np.right_shift(qs, 4, out=q[:, 16:])
    if name == "Q4_0":
        np.subtract(q.view(np.int8), np.int8(8), out=q.view(np.int8))  # [n_blocks, 32]: q - 8, in -8..7
        np.multiply(q.view(np.int8), d, out=out)  # [n_blocks, 32]
    else:
        m = blocks[:, 2:4].copy().view("<f2").astype(np.float32)  # [n_blocks, 1]: each block's minimum
        np.multiply(q, d, out=out)  # [n_blocks, 32]
        out += m  # d * q + m
    return out.reshape(shape)  # shape


def scales_finite(raw: np.ndarray, ttype: int) -> bool:
    """Whether a tensor dequantizes to finite values, checked on its float16 scales for blocks."""
    name, block, block_bytes = GGML_TYPES[ttype]
    if block == 1:
        return True  # plain floats: checked after conversion
    head = raw.reshape(-1, block_bytes)[:, : 4 if name == "Q4_1" else 2]  # [n_blocks, 2 or 4]
    return bool(np.isfinite(head.copy().view("<f2")).all())


def unpermute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undo llama.cpp's convert_hf_to_gguf `permute` of Q/K rows ([out, in]) for its rotary layout.

    llama.cpp interleaves each head's two rotary halves (pairs (i, i + dh/2) become adjacent
    rows); Hugging Face and our core rotate halves, so the rows go back.
    """
    half = w.shape[0] // n_head // 2
    return w.reshape(n_head, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)  # [out, in]


def _meta(meta: dict[str, Any], key: str, file: Path, kind: type = int, default: Any = None) -> Any:
    value = meta.get(key, default)
    if value is None:
        raise ModelError(f"{file}: metadata {key} is missing; the file is not a complete llama-architecture GGUF")
    if kind is int and not (isinstance(value, (int, np.integer)) and not isinstance(value, bool)):
        raise ModelError(f"{file}: metadata {key} is {value!r}, expected an integer")
    if kind is float and not isinstance(value, (int, float, np.floating)):
        raise ModelError(f"{file}: metadata {key} is {value!r}, expected a number")
    return kind(value)


def read_config(meta: dict[str, Any], tensors: dict[str, TensorInfo], file: Path) -> ModelConfig:
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise ModelError(f"{file}: architecture {arch!r} is not supported; attncli reads GGUF files of the llama architecture "
                         "(Llama, SmolLM2, TinyLlama, ...)")
    p = "llama."
    d_model = _meta(meta, p + "embedding_length", file)
    n_head = _meta(meta, p + "attention.head_count", file)
    d_head = _meta(meta, p + "attention.key_length", file, int, d_model // max(n_head, 1))
    rope_dims = _meta(meta, p + "rope.dimension_count", file, int, d_head)
    if rope_dims != d_head:
        raise ModelError(f"{file}: rotary covers {rope_dims} of {d_head} head dimensions; partial rotary is not supported")
    scaling = meta.get(p + "rope.scaling.type", "none")
    if scaling not in ("none", "") and meta.get(p + "rope.scaling.factor", 1.0) not in (0.0, 1.0):
        raise ModelError(f"{file}: rope scaling {scaling!r} is not supported; use a model without it")
    n_layer = _meta(meta, p + "block_count", file)
    if not 1 <= n_layer <= len(tensors) // 9:  # a llama block is 9 tensors: bound before anything loops over layers
        raise ModelError(f"{file}: metadata {p}block_count is {n_layer} but the file holds {len(tensors)} tensors; "
                         "the file is corrupt or not a complete model")
    embd = tensors.get("token_embd.weight")
    if embd is None or len(embd.dims) != 2:
        raise ModelError(f"{file}: tensor token_embd.weight is missing or not a matrix; the file is not a complete model")
    # every metadata read happens before the try: only the config's own checks get the prefix below
    n_kv_head = _meta(meta, p + "attention.head_count_kv", file, int, n_head)
    d_mlp = _meta(meta, p + "feed_forward_length", file)
    n_ctx = _meta(meta, p + "context_length", file)
    norm_eps = _meta(meta, p + "attention.layer_norm_rms_epsilon", file, float)
    rope_theta = _meta(meta, p + "rope.freq_base", file, float, 10000.0)
    try:
        return ModelConfig(
            vocab_size=int(embd.dims[1]), n_layer=n_layer, n_head=n_head, n_kv_head=n_kv_head, d_model=d_model,
            d_head=d_head, d_mlp=d_mlp, n_ctx=n_ctx, norm="rmsnorm", norm_eps=norm_eps, positions="rotary",
            rope_theta=rope_theta, mlp="swiglu", activation="silu", attn_bias=False, mlp_bias=False,
            tied_embeddings="output.weight" not in tensors, architecture="llama",
        )
    except ModelError as e:  # the config's own checks (positive sizes, heads divisible), said about this file
        raise ModelError(f"{file}: the metadata gives an unusable {e}") from None


# our name inside blocks.{L} -> llama.cpp's name inside blk.{L}
GGUF_BLOCK_NAMES = {
    "ln1.w": "attn_norm.weight", "ln2.w": "ffn_norm.weight",
    "attn.W_Q": "attn_q.weight", "attn.W_K": "attn_k.weight", "attn.W_V": "attn_v.weight", "attn.W_O": "attn_output.weight",
    "mlp.W_gate": "ffn_gate.weight", "mlp.W_in": "ffn_up.weight", "mlp.W_out": "ffn_down.weight",
}


def gguf_names(config: ModelConfig) -> dict[str, str]:
    """Our parameter name -> the GGUF tensor name llama.cpp writes."""
    names = {"embed.W_E": "token_embd.weight", "ln_final.w": "output_norm.weight"}
    if not config.tied_embeddings:
        names["unembed.W_U"] = "output.weight"
    for L in range(config.n_layer):
        names.update({f"blocks.{L}.{ours}": f"blk.{L}.{theirs}" for ours, theirs in GGUF_BLOCK_NAMES.items()})
    return names


ROWS_PER_CHUNK = 256  # output rows dequantized at a time: small temporaries, so the heap does not fragment


def check_finite(w: np.ndarray, info: TensorInfo, file: Path) -> None:
    """Plain float tensors have no scales to check (see scales_finite): check their values."""
    if GGML_TYPES[info.type][1] == 1 and not np.isfinite(w).all():
        raise ModelError(f"{file}: tensor {info.name} holds NaN or infinite values; the weights are corrupt, download them again")


def to_in_out(raw: np.ndarray, info: TensorInfo, ours: str, config: ModelConfig, file: Path) -> np.ndarray:
    """A stored [out, in] matrix -> a contiguous float32 [in, out] one, Q/K rows un-permuted.

    Works on a few hundred rows at a time: a whole-matrix [out, in] temporary, freed after the
    transpose, would leave the process's peak memory ~0.5 GB higher on a 135M model.
    """
    n_out, n_in = info.shape
    row_bytes = info.nbytes // n_out
    rows = raw.reshape(n_out, row_bytes)  # [out, row bytes]: a row is whole blocks, so rows can be reordered as bytes
    if ours.endswith("attn.W_Q"):
        rows = unpermute_rows(rows, config.n_head)  # [out, row bytes]
    elif ours.endswith("attn.W_K"):
        rows = unpermute_rows(rows, config.n_kv_head)  # [out, row bytes]
    dest = np.empty((n_in, n_out), dtype=np.float32)  # [in, out]
    for r0 in range(0, n_out, ROWS_PER_CHUNK):
        r1 = min(n_out, r0 + ROWS_PER_CHUNK)
        w = dequantize(np.ascontiguousarray(rows[r0:r1]).reshape(-1), info.type, (r1 - r0, n_in))  # [rows, in]
        check_finite(w, info, file)
        dest[:, r0:r1] = w.T
    return dest


def read_tensors(buf: memoryview, tensors: dict[str, TensorInfo], config: ModelConfig, file: Path) -> Params:
    """Dequantize every parameter to float32 and map it to our name and [in, out] layout.

    Every name and shape is checked first; dequantizing (and transposing to [in, out]) then
    runs on a small thread pool: numpy releases the GIL, and the load time of a
    135M-parameter model halves on two cores.
    """
    from concurrent.futures import ThreadPoolExecutor

    expected = param_shapes(config)
    names = gguf_names(config)
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
        return to_in_out(raw, info, ours, config, file)

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        arrays = list(pool.map(one, jobs))
    return {ours: w for (ours, _, _), w in zip(jobs, arrays)}


def _byte_level_alphabet() -> dict[int, str]:
    """GPT-2's byte -> printable character map (Ġ for a space)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


# pre-tokenizers by tokenizer.ggml.pre: llama.cpp's split regexes, as Hugging Face pre-tokenizers
_DIGIT_THEN_GPT2 = ("smollm", "starcoder", "refact", "codeshell", "command-r")


def read_tokenizer(meta: dict[str, Any], config: ModelConfig, file: Path) -> Tokenizer:
    """A byte-level BPE tokenizer (tokenizer.ggml.model 'gpt2') from the metadata."""
    from tokenizers import AddedToken, Regex, decoders, pre_tokenizers
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers.models import BPE

    model = meta.get("tokenizer.ggml.model")
    if model != "gpt2":
        raise ModelError(f"{file}: tokenizer {model!r} is not supported; attncli reads byte-level BPE ('gpt2') vocabularies")
    tokens, merges = meta.get("tokenizer.ggml.tokens"), meta.get("tokenizer.ggml.merges")
    if not isinstance(tokens, list) or not isinstance(merges, list):
        raise ModelError(f"{file}: tokenizer.ggml.tokens or tokenizer.ggml.merges is missing; the file has no usable tokenizer")
    if len(tokens) > config.vocab_size:
        raise ModelError(f"{file}: {len(tokens)} tokens but the embedding has {config.vocab_size} rows; the file is inconsistent")
    alphabet = set(_byte_level_alphabet().values())
    vocab = {t: i for i, t in enumerate(tokens)}
    pairs = []
    for m in merges:
        a, sep, b = m.partition(" ")
        if not sep:
            raise ModelError(f"{file}: merge {m!r} is not two tokens separated by a space; the tokenizer is corrupt")
        pairs.append((a, b))
    backend = HFTokenizer(BPE(vocab=vocab, merges=pairs, fuse_unk=False))
    pre = meta.get("tokenizer.ggml.pre", "default")
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre in _DIGIT_THEN_GPT2:  # llama.cpp: "\p{N}" isolated, then GPT-2's regex
        backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    elif pre in ("default", "gpt2", "gpt-2"):
        backend.pre_tokenizer = byte_level
    elif pre in ("llama3", "llama-bpe", "llama-v3", "smaug-bpe", "dbrx"):
        backend.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                                       r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        raise ModelError(f"{file}: pre-tokenizer {pre!r} is not supported; attncli knows smollm, gpt2 and llama3 splits")
    backend.decoder = decoders.ByteLevel()
    types = meta.get("tokenizer.ggml.token_type")
    if types is not None and len(types) == len(tokens):
        # CONTROL (3) tokens stay whole as specials, USER_DEFINED (4) as added tokens, as llama.cpp matches them
        special = [AddedToken(t, normalized=False, special=True) for t, k in zip(tokens, types) if k == 3 and set(t) <= alphabet]
        user = [AddedToken(t, normalized=False, special=False) for t, k in zip(tokens, types) if k == 4]
        if special:
            backend.add_special_tokens(special)
        if user:
            backend.add_tokens(user)
    return Tokenizer(backend, source=f"{file} (GGUF metadata)")


def load(path: Path, name: str | None = None) -> Model:
    """Read, validate and dequantize a llama-architecture GGUF file into a Model."""
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
        config = read_config(meta, tensors, path)
        params = read_tensors(buf, tensors, config, path)  # float32 copies: nothing refers to the map after this
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
        "quantization": sorted({GGML_TYPES[t.type][0] for t in tensors.values()}),
        "bos_token_id": meta.get("tokenizer.ggml.bos_token_id"),
        "eos_token_id": meta.get("tokenizer.ggml.eos_token_id"),
    }
    card = {k: v for k, v in card.items() if v is not None}
    return Model(config=config, params=params, tokenizer=tokenizer, name=name or path.stem, source=str(path), card=card)
