"""Hugging Face GPT-2 directories: a tiny random GPT-2 made offline with transformers must give
the same logits and every attention matrix as transformers' eager float32 forward."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from attncli.checkpoints import load
from attncli.errors import ModelError
from helpers.gpt2 import make_gpt2
from helpers.references import need, transformers_run

torch = need("torch")
transformers = need("transformers")

TEXT = "the cat sat on the mat, then the dog sat"



@pytest.mark.parametrize("prefix,tied", [(True, True), (False, True), (True, False)])
def test_logits_and_attention_match_transformers(tmp_path: Path, prefix: bool, tied: bool) -> None:
    make_gpt2(tmp_path, prefix=prefix, tied=tied)
    ours = load(tmp_path)
    ids = [t.id for t in ours.tokenizer.encode(TEXT)]
    cls = transformers.GPT2LMHeadModel if prefix else transformers.GPT2Model
    ref = cls.from_pretrained(tmp_path, attn_implementation="eager", dtype=torch.float32).eval()
    out = transformers_run(ref, ids, output_hidden_states=True)
    trace = ours.forward(ids)
    for L in range(ours.config.n_layer):
        np.testing.assert_allclose(trace[f"blocks.{L}.attn.weights"], out.attentions[L][0].numpy(), atol=1e-5, rtol=0)
    if prefix:
        np.testing.assert_allclose(trace["logits"], out.logits[0].numpy(), atol=1e-5, rtol=0)
    else:  # a bare GPT2Model has no head: compare the final hidden state, and the tied logits
        np.testing.assert_allclose(trace["ln_final"], out.last_hidden_state[0].numpy(), atol=1e-5, rtol=0)
        logits = out.last_hidden_state[0].numpy() @ ref.wte.weight.detach().numpy().T
        np.testing.assert_allclose(trace["logits"], logits, atol=1e-5, rtol=0)


def test_keys_are_prefixed_and_lm_head_absent(tmp_path: Path) -> None:
    """What transformers writes, so the prefix and tied cases above are the real ones."""
    from safetensors import safe_open

    make_gpt2(tmp_path)
    with safe_open(str(tmp_path / "model.safetensors"), framework="np") as f:
        keys = set(f.keys())
    assert "transformer.h.0.attn.c_proj.weight" in keys
    assert not any(k.startswith("lm_head") for k in keys)


def test_tokenizer_json_and_vocab_merges_agree_with_transformers(tmp_path: Path) -> None:
    make_gpt2(tmp_path)
    from_files = load(tmp_path).tokenizer
    ref = transformers.AutoTokenizer.from_pretrained(tmp_path)
    ref.backend_tokenizer.save(str(tmp_path / "tokenizer.json"))
    from_json = load(tmp_path).tokenizer
    for text in (TEXT, "  two spaces\nand a newline, 123 <|endoftext|> café"):
        expected = ref(text, add_special_tokens=False)["input_ids"]
        assert [t.id for t in from_files.encode(text)] == expected
        assert [t.id for t in from_json.encode(text)] == expected
    # byte-level markers read as spaces
    cat = [t for t in from_files.encode(TEXT) if t.token == "Ġcat"][0]
    assert cat.text == " cat"


def test_wrong_shape_is_one_line_model_error(tmp_path: Path) -> None:
    make_gpt2(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["n_embd"] = 48
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError) as e:
        load(tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "model.safetensors" in msg and "wte.weight" in msg and "[" in msg


def test_missing_tensor_and_nan_are_model_errors(tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    make_gpt2(tmp_path)
    tensors = load_file(str(tmp_path / "model.safetensors"))
    bad = dict(tensors)
    bad["transformer.h.1.attn.c_proj.weight"] = np.full_like(bad["transformer.h.1.attn.c_proj.weight"], np.nan)
    save_file(bad, str(tmp_path / "model.safetensors"))
    with pytest.raises(ModelError, match="NaN"):
        load(tmp_path)
    del tensors["transformer.h.1.mlp.c_fc.bias"]
    save_file(tensors, str(tmp_path / "model.safetensors"))
    with pytest.raises(ModelError, match="h.1.mlp.c_fc.bias is missing"):
        load(tmp_path)


def test_unsupported_model_type_says_what_to_do(tmp_path: Path) -> None:
    make_gpt2(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["model_type"] = "mamba"  # llama, this test's first choice, is now supported
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="model_type 'mamba' is not supported.*GGUF"):
        load(tmp_path)
