"""How much memory a GGUF model's weights take, and which way they are kept: dequantized to
float32 at load (the fast path) when that fits the budget, else left quantized in the
memory-mapped file and dequantized a matrix at a time when used (Quantized).

The budget is --max-memory, else half of the memory available now (MemAvailable). Even on the
fast path the token embedding stays quantized, read row by row, when that is cheaper: when the
model has its own unembedding (the embedding is then only ever looked up), or when the
embedding is most of the model (Gemma's 262k-entry vocabulary: a float32 copy would cost most
of the load time and memory, and a forward reads it once, in chunks; read more often, it gets
the copy after all, see COPY_AFTER).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ...config import ModelConfig
from ...weights import vocab_chunk
from .archs import GGUFFile

# Passes over a tied embedding left quantized before it gets a float32 copy: `attn explain` makes two
# (the prediction, and what each token reads like), so it stays at the file's size; generating, or
# leaving each token out in turn, makes one a forward, and the copy then saves a dequantization each.
COPY_AFTER = 2


class MemoryPlan(NamedTuple):
    parameters: int
    file_bytes: int
    float32_bytes: int  # every parameter dequantized to float32
    fast_bytes: int  # the fast path as taken: float32, except an embedding left quantized
    in_place_bytes: int  # estimated, with every matrix left in the file: its bytes, the float32 vectors,
    #                      one matrix dequantized at a time and one chunk of the vocabulary
    budget: int | None  # bytes; None when the available memory cannot be read (no limit)
    path: str  # "float32" or "quantized in place"
    in_place: frozenset[str]  # the parameters left quantized
    vocab_copy_after: int | None  # an embedding kept quantized on the fast path gets a float32 copy after this
    #                               many passes over it (one a forward), when the whole float32 model fits

    def as_dict(self) -> dict[str, Any]:
        d = self._asdict()
        d["in_place"] = sorted(self.in_place)
        return d


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo, in bytes (None where there is no such file)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def default_budget() -> int | None:
    avail = available_memory()
    return None if avail is None else avail // 2


def plan_memory(gf: GGUFFile, config: ModelConfig, jobs: list, max_memory: int | None) -> MemoryPlan:
    """Which way to keep the weights, and the memory each way takes; `jobs` is gguf.plan's."""
    budget = max_memory if max_memory is not None else default_budget()
    f32 = 4 * config.n_params
    matrices = [j for j in jobs if len(j.info.shape) == 2]
    quantized = sum(j.info.nbytes for j in matrices)
    vectors = 4 * sum(j.info.shape[0] for j in jobs if len(j.info.shape) == 1)
    vocab = {"embed.W_E", "unembed.W_U"}
    largest = max((n_in * size for j in matrices if j.parts[0] not in vocab
                   for n_in, size in ((j.info.shape[1], s) for s in j.sizes)), default=0)
    chunk = vocab_chunk(config.vocab_size, config.d_model) * config.d_model
    in_place_bytes = quantized + vectors + 4 * (largest + chunk)
    embed = next(j for j in jobs if j.parts[0] == "embed.W_E")
    embed_f32 = 4 * config.vocab_size * config.d_model
    keep_embed = not config.tied_embeddings or 2 * embed_f32 > f32
    fast = f32 - embed_f32 + embed.info.nbytes if keep_embed else f32
    copy_after = None
    if budget is None or fast <= budget:
        path, in_place = "float32", frozenset({"embed.W_E"} if keep_embed else ())
        if keep_embed and config.tied_embeddings and (budget is None or f32 <= budget):
            copy_after = COPY_AFTER
    else:
        path, in_place = "quantized in place", frozenset(p for j in matrices for p in j.parts)
    return MemoryPlan(config.n_params, gf.data.size, f32, fast, in_place_bytes, budget, path, in_place, copy_after)
