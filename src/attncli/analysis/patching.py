"""Activation patching: which layer, position and head carry the difference between two inputs.

Run a clean text and a corrupted one (e.g. "I do not like spinach" and "I do like spinach").
The metric is the logit difference between a target token and a contrast token at the last
position. Then, one at a time, copy one piece of the clean run into the corrupted run and see
how much of the clean-vs-corrupt difference comes back (1 = all of it, 0 = none):
- the residual stream entering block L at one position (and the stream after the last block);
- one head's output (blocks.L.attn.z[h]) at every aligned position.
A patch at layer L starts from the corrupted run's own cached stream there and recomputes only
layers L onward. What patching shows depends on the corruption chosen: it finds what carries
the difference between these two texts, not everything the model uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..errors import UsageError
from ..model import Model, attends, block
from ..readout import head_input, logit_direction, logits
from ..trace import Hook, Recorder, Trace, block_output
from .compare import align


class Patching(NamedTuple):
    target: int
    contrast: int
    clean_diff: float  # logit[target] - logit[contrast] at the clean run's last position
    corrupt_diff: float
    pairs: list[tuple[int, int]]  # (clean position, corrupted position) of the aligned tokens
    resid: np.ndarray  # [n_layer + 1, T_corrupt]: restored fraction, NaN at unaligned positions
    resid_diff: np.ndarray  # [n_layer + 1, T_corrupt]: the patched run's logit difference
    heads: np.ndarray  # [n_layer, H]: restored fraction when the head's output is patched in


class Metric:
    """logit[target] - logit[contrast] of final stream vectors, computed the same way for every run and
    row by row (the final norm per row, then one fixed-order sum per row), so a patch that restores the
    clean vector restores the clean metric to the last bit."""

    def __init__(self, model: Model, target: int, contrast: int) -> None:
        self.model = model
        self.direction, self.bias = logit_direction(model, target, contrast)  # [d], float

    def __call__(self, x_last: np.ndarray) -> np.ndarray:
        """Final stream vectors [..., 1, d] -> the metric [...]."""
        rows = x_last.reshape(-1, x_last.shape[-1])  # [n, d]
        h = head_input(self.model, rows).astype(np.float64)  # [n, d]
        d = np.einsum("nd,d->n", h, self.direction, optimize=False) + self.bias  # [n]
        return d.reshape(x_last.shape[:-2])


def run_from(model: Model, x: np.ndarray, start: int, metric: Metric, hooks: dict[str, Hook] | None = None) -> np.ndarray:
    """The metric at the last position after running blocks start.. on streams x ([..., T, d]) entering
    block `start`; a batch of runs (leading axes) goes through together."""
    c = model.config
    rec = Recorder(keep=set(), hooks=hooks)
    at = attends(c, x.shape[-2], x.dtype, rec)
    for L in range(start, c.n_layer):
        x = block(model.params, c, L, x, at[L], rec)  # [..., T, d]
    return metric(x[..., -1:, :])  # [...]


def pair_positions(clean: list[int], corrupt: list[int]) -> list[tuple[int, int]]:
    """Aligned positions: all of them for texts of the same length, else compare's alignment; the last
    positions must align (the metric is read there)."""
    if len(clean) == len(corrupt):
        return [(i, i) for i in range(len(clean))]
    pairs, _ = align(clean, corrupt)
    if not pairs or pairs[-1] != (len(clean) - 1, len(corrupt) - 1):
        raise UsageError("the two texts cannot be aligned at their last token, where the prediction is read; give texts "
                         "of the same length, or that end the same way")
    return pairs


def patch(model: Model, clean_ids: list[int], corrupt_ids: list[int], target: int | None = None,
          contrast: int | None = None, progress: Callable[[int, int], None] | None = None) -> Patching:
    """Patch each layer's stream at each aligned position, then each head's output, from the clean
    run into the corrupted one; `progress(done, 2 * n_layer + 1)` is told after each layer of each."""
    model.task.require(model, "attn patch", "next_token")
    c = model.config
    pairs = pair_positions(clean_ids, corrupt_ids)
    total = 2 * c.n_layer + 1  # the stream entering each block and after the last, then each block's heads

    def done(n: int) -> None:
        if progress is not None:
            progress(n, total)

    done(0)  # the two runs first
    clean: Trace = model.forward(clean_ids)
    corrupt: Trace = model.forward(corrupt_ids)
    last = block_output(c, c.n_layer - 1)
    clean_logits = logits(model, clean[last][-1:])[0]  # [V]
    corrupt_logits = logits(model, corrupt[last][-1:])[0]
    if target is None:
        target = int(np.argmax(clean_logits))
    if contrast is None:  # what the corrupted text prefers instead, else the clean run's runner-up
        contrast = int(np.argmax(corrupt_logits))
        if contrast == target:
            contrast = int(np.argsort(-clean_logits, kind="stable")[1])
    if contrast == target:
        raise UsageError("--contrast is the same token as --target; give another word")

    metric = Metric(model, target, contrast)
    clean_diff, corrupt_diff = float(metric(clean[last][-1:])), float(metric(corrupt[last][-1:]))
    span = clean_diff - corrupt_diff

    def restored(d: float) -> float:
        return (d - corrupt_diff) / span if span != 0 else float("nan")

    T = len(corrupt_ids)
    resid = np.full((c.n_layer + 1, T), np.nan)
    resid_diff = np.full((c.n_layer + 1, T), np.nan)
    src = np.array([i for i, _ in pairs])  # [P] clean positions
    dst = np.array([j for _, j in pairs])  # [P] corrupted positions
    runs = np.arange(len(pairs))  # one run per aligned position, all through the layers together
    for L in range(c.n_layer + 1):
        name = f"blocks.{L}.resid_pre" if L < c.n_layer else last
        x = np.repeat(corrupt[name][None], len(pairs), axis=0)  # [P, T, d]: the corrupted run's cached stream
        x[runs, dst] = clean[name][src]  # run p gets the clean vector at its position
        diffs = run_from(model, x, L, metric) if L < c.n_layer else metric(x[:, -1:])  # [P]
        for p, j in enumerate(dst):
            d = float(diffs[p])
            resid_diff[L, j], resid[L, j] = d, restored(d)
        done(L + 1)
    heads = np.full((c.n_layer, c.n_head), np.nan)
    for L in range(c.n_layer):
        z_clean = clean[f"blocks.{L}.attn.z"]  # [H, T_clean, dh]
        H = c.n_head

        def swap(z: np.ndarray) -> np.ndarray:  # [H(runs), H, T, dh]: run h patches head h
            z = z.copy()
            for h in range(H):
                z[h, h, dst] = z_clean[h, src]
            return z

        x = np.repeat(corrupt[f"blocks.{L}.resid_pre"][None], H, axis=0)  # [H, T, d]
        heads[L] = [restored(float(d)) for d in run_from(model, x, L, metric, {f"blocks.{L}.attn.z": swap})]  # [H]
        done(c.n_layer + 2 + L)
    return Patching(target, contrast, clean_diff, corrupt_diff, pairs, resid, resid_diff, heads)
