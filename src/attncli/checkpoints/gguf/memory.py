"""How much memory a GGUF model's weights take, and which way they are kept. Every matrix starts
quantized in the memory-mapped file, its products computed from its blocks (Quantized). On the
float32 path (when the float32 model fits the budget) a matrix used more than COPY_AFTER times
is dequantized once and kept: a prediction or an explanation never makes the copies, generation
does after its second token. Quantized in place (when it does not fit), no copy is ever made.

The budget is --max-memory, else half of the memory available now (MemAvailable). Even on the
float32 path the token embedding never gets a copy when the model has its own unembedding (the
embedding is then only looked up, row by row), and gets one only if the whole float32 model fits
when the embedding is most of the model (Gemma's 262k-entry vocabulary).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ...config import ModelConfig
from . import products
from .archs import GGUFFile

# Uses of a matrix (one a forward; a pass over the vocabulary for the unembedding) before it gets a
# float32 copy: `attn explain` makes two of the vocabulary (the prediction, and what each token reads
# like), so it stays at the file's size; generating makes one a token, and the copies then turn
# each token's products into float32 ones (about twice as fast as from the blocks).
COPY_AFTER = 2


class MemoryPlan(NamedTuple):
    parameters: int
    file_bytes: int
    float32_bytes: int  # every parameter dequantized to float32
    fast_bytes: int  # the fast path as taken: float32, except an embedding left quantized
    in_place_bytes: int  # estimated, with every matrix left in the file: its bytes, the float32 vectors,
    #                      and the tiles products work in
    budget: int | None  # bytes; None when the available memory cannot be read (no limit)
    path: str  # "float32" or "quantized in place"
    in_place: frozenset[str]  # the parameters planned to stay quantized (the embedding: see vocab_copy_after)
    copy_after: int | None  # a matrix not in_place gets its float32 copy after this many uses (None: never)
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
    largest = max((j.info.shape[0] * j.info.shape[1] for j in matrices), default=0)
    in_place_bytes = quantized + vectors + products.scratch_bytes(largest)
    embed = next(j for j in jobs if j.parts[0] == "embed.W_E")
    embed_f32 = 4 * config.vocab_size * config.d_model
    keep_embed = not config.tied_embeddings or 2 * embed_f32 > f32
    fast = f32 - embed_f32 + embed.info.nbytes if keep_embed else f32
    copy_after = vocab_copy_after = None
    if budget is None or fast <= budget:
        path, in_place, copy_after = "float32", frozenset({"embed.W_E"} if keep_embed else ()), COPY_AFTER
        if not keep_embed or (config.tied_embeddings and (budget is None or f32 <= budget)):
            vocab_copy_after = COPY_AFTER
    else:
        path, in_place = "quantized in place", frozenset(p for j in matrices for p in j.parts)
    return MemoryPlan(config.n_params, gf.data.size, f32, fast, in_place_bytes, budget, path, in_place, copy_after,
                      vocab_copy_after)
