"""Training tokens per second: attncli's numpy trainer vs the same model, batch and optimizer in PyTorch.

    python benchmarks/train_speed.py [--threads 1] [--steps 20] [--d-model 192 --heads 6 --vocab 4096 --batch 32]

Both sides run in this process on the same machine with the same thread count (OpenBLAS
for numpy, torch.set_num_threads for torch); a step is forward + backward + clipping +
AdamW. Needs torch==2.13.0 (CPU).
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--d-model", type=int, default=192)
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    a = ap.parse_args()
    # Thread counts must be set before numpy loads OpenBLAS.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(a.threads)

    import numpy as np
    import torch

    from attncli.config import ModelConfig
    from attncli.train import gpt
    from attncli.train.optim import AdamW, clip_grads

    torch.set_num_threads(a.threads)
    config = ModelConfig(vocab_size=a.vocab, n_layer=a.layers, n_head=a.heads, d_model=a.d_model, n_ctx=a.context)
    rng = np.random.default_rng(0)
    params = gpt.init_params(config, rng)
    data = rng.integers(0, a.vocab, size=(a.steps + 3, a.batch, a.context + 1))  # [S, B, T+1]
    tokens = a.batch * a.context

    def numpy_run() -> float:
        p = {k: v.copy() for k, v in params.items()}
        opt = AdamW(lr=1e-3)
        for i in range(a.steps + 3):
            if i == 3:  # 3 warm-up steps
                t0 = time.perf_counter()
            _, grads = gpt.loss_and_grads(p, config, data[i, :, :-1], data[i, :, 1:])
            clip_grads(grads, 1.0)
            opt.update(p, grads, 1e-3)
        return a.steps * tokens / (time.perf_counter() - t0)

    def torch_run() -> float:
        F = torch.nn.functional
        P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
        opt = torch.optim.AdamW(P.values(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
        B, T, H, d = a.batch, a.context, a.heads, a.d_model
        dh = d // H

        def loss_fn(ids, tgt):
            x = P["embed.W_E"][ids] + P["pos_embed.W_pos"][:T]
            for L in range(a.layers):
                p = lambda n, L=L: P[f"blocks.{L}.{n}"]  # noqa: E731
                h = F.layer_norm(x, (d,), p("ln1.w"), p("ln1.b"), 1e-5)
                W = torch.cat([p("attn.W_Q"), p("attn.W_K"), p("attn.W_V")], dim=1)
                bias = torch.cat([p("attn.b_Q"), p("attn.b_K"), p("attn.b_V")])
                q, k, v = (h @ W + bias).view(B, T, 3, H, dh).permute(2, 0, 3, 1, 4)
                z = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, d)
                x = x + z @ p("attn.W_O") + p("attn.b_O")
                h = F.layer_norm(x, (d,), p("ln2.w"), p("ln2.b"), 1e-5)
                x = x + F.gelu(h @ p("mlp.W_in") + p("mlp.b_in"), approximate="tanh") @ p("mlp.W_out") + p("mlp.b_out")
            logits = F.layer_norm(x, (d,), P["ln_final.w"], P["ln_final.b"], 1e-5) @ P["embed.W_E"].T
            return F.cross_entropy(logits.reshape(B * T, -1), tgt.reshape(-1))

        tdata = torch.tensor(data)
        for i in range(a.steps + 3):
            if i == 3:
                t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss_fn(tdata[i, :, :-1], tdata[i, :, 1:]).backward()
            torch.nn.utils.clip_grad_norm_(P.values(), 1.0)
            opt.step()
        return a.steps * tokens / (time.perf_counter() - t0)

    # Alternate the two, twice, and keep each side's best: other load on the machine hits both alike.
    n1, t1, n2, t2 = numpy_run(), torch_run(), numpy_run(), torch_run()
    nps, tps = max(n1, n2), max(t1, t2)
    print(f"model: {a.layers} layers, {a.heads} heads, d_model {a.d_model}, vocab {a.vocab}, context {a.context}, "
          f"batch {a.batch}; {a.threads} thread(s) each; "
          f"torch {torch.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}")
    print(f"numpy trainer: {nps:,.0f} tokens/s   (runs: {n1:,.0f}, {n2:,.0f})")
    print(f"torch:         {tps:,.0f} tokens/s   (runs: {t1:,.0f}, {t2:,.0f})")
    print(f"ratio numpy/torch: {nps / tps:.2f}")


if __name__ == "__main__":
    main()
