"""AdamW with decoupled weight decay, a warmup-then-cosine learning rate, global-norm clipping.

Weight decay applies to the blocks' matrices (W_Q, W_K, W_V, W_O, W_in, W_out) only: not to
norms and biases (decaying a gain toward 0 fights the norm), and not to the token and
position embeddings (with tied embeddings W_E is also the output layer; rare tokens' rows
would shrink toward 0 between their few updates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..model import Params

DECAYED = ("W_Q", "W_K", "W_V", "W_O", "W_in", "W_out")


def decays(name: str) -> bool:
    return name.startswith("blocks.") and name.rsplit(".", 1)[1] in DECAYED


def lr_at(step: int, peak: float, warmup: int, total: int, floor: float = 0.1) -> float:
    """Learning rate for 1-based `step`: linear warmup to `peak`, then cosine down to floor * peak."""
    if step <= warmup:
        return peak * step / max(warmup, 1)
    progress = min(1.0, (step - warmup) / max(total - warmup, 1))
    return peak * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def global_norm(grads: Params) -> float:
    return math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))


def clip_grads(grads: Params, max_norm: float) -> float:
    """Scale all gradients together so their global L2 norm is at most max_norm; returns the norm before."""
    norm = global_norm(grads)
    if max_norm > 0 and norm > max_norm:
        s = np.float32(max_norm / (norm + 1e-6))
        for g in grads.values():
            g *= s.astype(g.dtype)
    return norm


@dataclass
class AdamW:
    lr: float
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 0.1
    step: int = 0  # updates applied so far
    m: Params = field(default_factory=dict)  # first moments, one per parameter
    v: Params = field(default_factory=dict)  # second moments

    def update(self, params: Params, grads: Params, lr: float) -> None:
        """One AdamW step in place: p -= lr * (m_hat / (sqrt(v_hat) + eps) + wd * p)."""
        self.step += 1
        b1, b2 = self.betas
        c1, c2 = 1.0 - b1**self.step, 1.0 - b2**self.step
        for name, p in params.items():
            g = grads[name]
            if name not in self.m:
                self.m[name] = np.zeros_like(p)  # same shape as p
                self.v[name] = np.zeros_like(p)  # same shape as p
            m, v = self.m[name], self.v[name]
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            if decays(name):
                p *= 1.0 - lr * self.weight_decay
            p -= (lr / c1) * m / (np.sqrt(v / c2) + self.eps)
