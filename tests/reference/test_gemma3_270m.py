"""Gemma 3 270M (Q4_K_M GGUF) against transformers loading the same file: the same tokens (BOS
first), logits within 1e-4, every attention weight within 1e-5, the same top-5.

Runs once the model is in the registry and pulled (`attn models pull gemma3-270m`), or on the
file $ATTN_GEMMA3_GGUF names; transformers takes minutes to load it."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.pulled import gemma3_path
from helpers.references import need, transformers_from_gguf, transformers_run

TEXTS = ["I do not like spinach", "The capital of France is", "Café, naïve, Zürich — ça va? 🤗\n\n  two spaces"]



@pytest.fixture(scope="module")
def ours():
    from attncli.checkpoints import load

    return load(gemma3_path())


@pytest.fixture(scope="module")
def reference():
    torch = need("torch")
    need("transformers")
    need("accelerate")
    torch.set_num_threads(1)
    return (torch, *transformers_from_gguf(gemma3_path()))


def test_config_is_gemma3_270m(ours) -> None:
    c = ours.config
    assert (c.n_layer, c.n_head, c.n_kv_head, c.d_head, c.d_model, c.d_mlp) == (18, 4, 1, 256, 640, 2048)
    assert c.sliding_window == 512 and c.sliding_layers == tuple(L for L in range(18) if L % 6 != 5)
    assert (c.rope_theta, c.rope_local_theta, c.query_pre_attn_scalar) == (1e6, 1e4, 256.0)
    assert c.scale_embed and c.sandwich_norms and c.qk_norm and c.activation == "gelu_tanh" and c.tied_embeddings


@pytest.mark.parametrize("text", TEXTS)
def test_tokens_logits_attention_and_top5_match_transformers(ours, reference, text: str) -> None:
    torch, model, tokenizer = reference
    tokens, _ = ours.encode(text)
    ids = [t.id for t in tokens]
    assert ids == tokenizer(text)["input_ids"] and tokens[0].special  # BOS first, as Gemma needs
    out = transformers_run(model, ids)
    trace = ours.forward(ids)
    assert np.abs(trace["logits"] - out.logits[0].numpy()).max() < 1e-4
    for L in range(ours.config.n_layer):
        assert np.abs(trace[f"blocks.{L}.attn.weights"] - out.attentions[L][0].numpy()).max() < 1e-5, f"layer {L}"
    assert [p.id for p in ours.predict(trace, 5)] == torch.topk(out.logits[0, -1], 5).indices.tolist()
