"""BERT, DistilBERT, RoBERTa and XLM-RoBERTa folders, with their masked-LM head and without it:
attncli's tokens (the model's own [CLS] ... [SEP] or <s> ... </s>, [MASK] read as <mask>), every
attention matrix, every layer's hidden states and the MLM logits against transformers' eager
float32 forward on the same folder (encoders.py builds them).
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="the reference comparison needs torch (pip install torch==2.13.0)")
transformers = pytest.importorskip("transformers", reason="the reference comparison needs transformers")

from attncli.checkpoints import load
from helpers import encoders
from helpers.encoders import ENCODERS, TEXTS, max_abs

WEIGHTS_ATOL = 1e-5  # attention weights are in [0, 1]
HIDDEN_ATOL = 1e-4  # LayerNormed vectors of size ~1
LOGITS_ATOL = 1e-4

CASES = [(name, head) for name in ENCODERS for head in ("mlm", "bare")]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return lambda name: encoders.built(name, tmp_path_factory)


def folder_and_reference(b: encoders.Built, head: str):
    return (b.mlm, b.model) if head == "mlm" else (b.bare, getattr(b.model, b.encoder.base))


@pytest.mark.parametrize("name,head", CASES, ids=[f"{n}-{h}" for n, h in CASES])
def test_tokens_match_transformers_with_the_models_special_tokens(encoder, name: str, head: str) -> None:
    b = encoder(name)
    folder, _ = folder_and_reference(b, head)
    model = load(folder)
    ref = transformers.AutoTokenizer.from_pretrained(folder)
    for text in TEXTS + ["[MASK] at the start", "two [MASK] [MASK] masks", "Café, naïve — ça va? 🤗"]:
        tokens, _ = model.encode(text)
        expected = ref(text.replace("[MASK]", ref.mask_token))["input_ids"]  # [MASK]: an alias of the model's own
        assert [t.id for t in tokens] == expected, f"{name}: {text!r}"
        assert tokens[0].special and tokens[-1].special and tokens[0].id == ref.cls_token_id
        assert tokens[-1].id == ref.sep_token_id and tokens[-1].start == tokens[-1].end == tokens[-2].end
        for t in tokens:
            if t.id == ref.mask_token_id:  # the alias's characters, not the model's spelling of it
                assert text[t.start:t.end].strip() == "[MASK]", (text, t)


@pytest.mark.parametrize("name,head", CASES, ids=[f"{n}-{h}" for n, h in CASES])
def test_attention_hidden_states_and_logits_match_transformers(encoder, name: str, head: str) -> None:
    b = encoder(name)
    folder, hf = folder_and_reference(b, head)
    model = load(folder)
    c = model.config
    assert c.is_encoder and c.head == ("mlm" if head == "mlm" else "none") and c.activation == "gelu"
    for text in TEXTS:
        ids = [t.id for t in model.encode(text)[0]]
        trace = model.forward(ids)
        logits, attentions, hidden = encoders.reference(hf, ids)
        assert len(attentions) == c.n_layer
        assert "mask" not in trace  # bidirectional: nothing is masked
        assert max_abs(trace["embed_norm"], hidden[0]) <= HIDDEN_ATOL, f"{name} embeddings"
        for L in range(c.n_layer):
            worst = max_abs(trace[f"blocks.{L}.attn.weights"], attentions[L])
            assert worst <= WEIGHTS_ATOL, f"{name} {head} blocks.{L}.attn.weights differ by {worst:.3g}"
            worst = max_abs(trace[f"blocks.{L}.ln_out"], hidden[L + 1])  # a post-norm block's output
            assert worst <= HIDDEN_ATOL, f"{name} {head} blocks.{L}.ln_out differs by {worst:.3g}"
        if head == "mlm":
            worst = max_abs(trace["logits"], logits)
            assert worst <= LOGITS_ATOL, f"{name} logits differ by {worst:.3g}"
        else:
            assert "logits" not in trace


def test_a_missing_layer_tensor_is_one_line(encoder, tmp_path) -> None:
    import shutil

    from safetensors.numpy import load_file, save_file

    from attncli.errors import ModelError

    b = encoder("bert")
    folder = tmp_path / "broken"
    shutil.copytree(b.mlm, folder)
    tensors = load_file(str(folder / "model.safetensors"))
    del tensors["bert.encoder.layer.1.output.dense.weight"]
    save_file(tensors, str(folder / "model.safetensors"))
    with pytest.raises(ModelError) as e:
        load(folder)
    assert "\n" not in str(e.value) and "bert.encoder.layer.1.output.dense.weight" in str(e.value)


def test_relative_positions_are_refused(encoder, tmp_path) -> None:
    import json
    import shutil

    from attncli.errors import ModelError

    folder = tmp_path / "relative"
    shutil.copytree(encoder("bert").mlm, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["position_embedding_type"] = "relative_key"
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="relative position embeddings"):
        load(folder)
