"""What attncli cannot compute exactly it refuses: one ModelError line naming the feature, never
a model that runs with the feature left out. Each case takes a model that loads and adds one
feature to its config.json (a Hugging Face folder) or to its metadata or tensors (a GGUF file).
(test_families.py refuses yarn, softcapping, LongRoPE and an unknown model_type on real
transformers models; these need neither torch nor transformers.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attncli.checkpoints import load
from attncli.errors import ModelError
from helpers.gguf_files import DH, HKV, D, H, M, write_gguf
from helpers.known_models import hf_llama_files, write_files
from helpers.run_cli import HOWS, assert_one_error_line, attn


def refusal(path: Path) -> str:
    with pytest.raises(ModelError) as e:
        load(path)
    msg = str(e.value)
    assert "\n" not in msg, msg
    return msg.replace(str(path), "")  # what the message says, not what the path happens to hold


# ---- Hugging Face folders ---------------------------------------------------------------------------

HF = {  # config.json changes -> a word the message must hold
    "yarn": ({"rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16}}, "'yarn'"),
    "dynamic": ({"rope_scaling": {"type": "dynamic", "factor": 2.0}}, "'dynamic'"),
    "longrope": ({"rope_parameters": {"rope_type": "longrope", "rope_theta": 1e4}}, "'longrope'"),
    "unknown model_type": ({"model_type": "mamba"}, "'mamba'"),
    "attention softcapping": ({"attn_logit_softcapping": 50.0}, "attn_logit_softcapping"),
    "final softcapping": ({"final_logit_softcapping": 30.0}, "final_logit_softcapping"),
    "bidirectional": ({"use_bidirectional_attention": True}, "bidirectional"),
    "mlp bias": ({"mlp_bias": True}, "mlp_bias"),
    "partial rotary": ({"partial_rotary_factor": 0.5}, "partial rotary"),
    "activation": ({"hidden_act": "relu"}, "'relu'"),
    "layer type": ({"model_type": "qwen2", "use_sliding_window": True, "sliding_window": 4,
                    "layer_types": ["chunked_attention"]}, "'chunked_attention'"),
    "gemma3 without text_config": ({"model_type": "gemma3"}, "text_config"),
    "sliding rope scaled": ({"model_type": "gemma3_text", "layer_types": ["sliding_attention"], "sliding_window": 4,
                             "rope_parameters": {"full_attention": {"rope_theta": 1e6},
                                                 "sliding_attention": {"rope_type": "linear", "factor": 2.0}}},
                            "sliding layers"),
}


@pytest.mark.parametrize("case", list(HF))
def test_a_folder_with_an_unsupported_feature_is_refused(tmp_path, tokenizer_json, tokenizer_vocab_size, case):
    edit, word = HF[case]
    folder = write_files(tmp_path / "m", hf_llama_files(tokenizer_json, tokenizer_vocab_size, **edit))
    assert word in refusal(folder)


def test_the_folder_loads_without_them(tmp_path, tokenizer_json, tokenizer_vocab_size):
    assert load(write_files(tmp_path / "m", hf_llama_files(tokenizer_json, tokenizer_vocab_size))).config.n_layer == 1


# ---- GGUF files -----------------------------------------------------------------------------------------

pytest.importorskip("gguf", reason="writing test GGUF files needs the gguf package")


GGUF = {  # write_gguf arguments -> a word the message must hold
    "yarn": (dict(meta={"llama.rope.scaling.type": "yarn", "llama.rope.scaling.factor": 4.0}), "'yarn'"),
    "experts": (dict(meta={"llama.expert_count": 8}), "mixture of experts"),
    "attention softcapping": (dict(meta={"llama.attn_logit_softcapping": 50.0}), "softcapping"),
    "partial rotary in llama": (dict(meta={"llama.rope.dimension_count": DH // 2}), "rotary covers 4 of 8"),
    "value heads": (dict(meta={"llama.attention.value_length": DH * 2}), "value heads"),
    "LongRoPE factors": (dict(extra={"rope_factors_long.weight": np.ones(DH // 2, np.float32)}), "rope_factors_long"),
    "MLP bias": (dict(extra={"blk.0.ffn_up.bias": np.zeros(M, np.float32)}), "blk.0.ffn_up.bias"),
    "fused Q/K in llama": (dict(extra={"blk.0.attn_qkv.weight": np.zeros(((H + 2 * HKV) * DH, D), np.float32)},
                                drop=("blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight")), "un-permute"),
    "WordPiece vocabulary": (dict(tokenizer="bert"), "'bert'"),
    "a rope_freqs of the wrong size": (dict(extra={"rope_freqs.weight": np.ones(DH, np.float32)}), "rope_freqs.weight"),
}


@pytest.mark.parametrize("case", list(GGUF))
def test_a_gguf_with_an_unsupported_feature_is_refused(tmp_path, case):
    kwargs, word = GGUF[case]
    assert word in refusal(write_gguf(tmp_path / "m.gguf", **kwargs))


def test_the_gguf_loads_without_them_and_with_rope_freqs(tmp_path):
    plain = load(write_gguf(tmp_path / "plain.gguf"))
    assert plain.config.rope_freq_factors == ()
    factors = np.array([1.0, 1.5, 3.0, 4.0], np.float32)
    scaled = load(write_gguf(tmp_path / "scaled.gguf", extra={"rope_freqs.weight": factors}))
    assert scaled.config.rope_freq_factors == tuple(factors.tolist())
    ids = [5, 9, 2, 7, 1]
    assert not np.allclose(plain.forward(ids)["logits"], scaled.forward(ids)["logits"])  # no longer ignored
    np.testing.assert_allclose(plain.forward(ids[:1])["logits"], scaled.forward(ids[:1])["logits"], atol=1e-6)  # position 0: no turn


def test_logits_that_overflow_float32_are_one_line_not_an_internal_error(make_model_dir):
    from helpers.view_helpers import overflow_final_norm

    folder = overflow_final_norm(make_model_dir(seed=7, name="overflowing"))  # finite weights near float32's limit
    for how in HOWS:
        run = attn(how, ["predict", "I do not like spinach", "-m", str(folder)])
        assert run.code == 1 and run.stdout == ""
        assert "logits overflow float32" in assert_one_error_line(run)
