"""The shipped sample_weights/mlm/ (-m bundled-mlm): it loads as an encoder with a masked-LM head,
runs through the core forward as the trainer's forward does, is small, records how it was
trained and measured, and fills a [MASK] as English would. CI checks these files; it does not
retrain them."""

from __future__ import annotations

import numpy as np
import pytest

from attncli.checkpoints import load
from attncli.train import mlm
from helpers import ROOT

SAMPLE = ROOT / "sample_weights"
FILES = ["config.json", "model.safetensors", "tokenizer.json"]


@pytest.fixture(scope="module")
def model():
    return load("bundled-mlm")


def fill(model, text: str, k: int = 5) -> list[tuple[str, float]]:
    """The k likeliest tokens for the one [MASK] in `text`, read between [CLS] and [SEP] as in training."""
    ids = model.tokenizer.backend.encode(text).ids  # [CLS] ... [SEP], the tokenizer's own template
    mask = model.tokenizer.backend.token_to_id("[MASK]")
    trace = model.forward(ids)
    return [(p.text.strip(), p.probability) for p in model.predict(trace, k, position=ids.index(mask))]


def test_files_sizes_and_card(model):
    assert sorted(p.name for p in (SAMPLE / "mlm").iterdir()) == FILES  # no training state shipped
    both = sum((d / n).stat().st_size for d in (SAMPLE, SAMPLE / "mlm") for n in FILES)
    assert both < 8_000_000  # the causal model and this one together
    card = model.card
    assert card["provisional"] is False and card["objective"] == "mlm"
    assert card["training_command"].startswith("OPENBLAS_NUM_THREADS=1 attn train ")
    assert "--objective mlm" in card["training_command"] and "--lowercase" in card["training_command"]
    assert "CDLA-Sharing-1.0" in card["corpus_license"] and card["corpus"] == "tinystories-train.txt"
    assert card["steps"] > 0 and card["wall_time_s"] > 0
    base = card["count_baseline"]  # benchmarks/mlm_accuracy.py, on the same masks
    assert card["valid_top1"] - base["top1"] >= 0.08
    assert card["valid_top5"] > base["top5"]


def test_it_is_an_encoder_and_the_default_stays_causal(model):
    assert model.name == "bundled-mlm" and model.config.is_encoder and model.config.head == "mlm"
    assert model.config.block_norm == "post" and model.config.embed_norm and mlm.supported(model.config)
    assert load(None).config.causal


def test_once_upon_a_mask_is_time(model):
    assert fill(model, "once upon a [MASK]")[0][0] == "time"
    assert fill(model, "Once upon a [MASK].")[0][0] == "time"  # the tokenizer lowercases its input


def test_i_do_not_mask_spinach_has_like_in_its_top_5(model):
    words = [w for w, _ in fill(model, "I do not [MASK] spinach")]
    assert "like" in words, words


def test_the_trainer_forward_equals_the_core_forward_on_the_shipped_weights(model):
    ids = np.array([model.tokenizer.backend.encode("the little dog [MASK] to the park and played with a ball.").ids])
    T = ids.shape[1]
    logits, _ = mlm.forward(model.params, model.config, ids, np.arange(T))  # [T, V]
    core = model.forward(ids[0])["logits"]  # [T, V]
    np.testing.assert_allclose(logits, core, rtol=0, atol=1e-4 * np.abs(core).max())
    assert (logits.argmax(axis=1) == core.argmax(axis=1)).all()


def test_float16_weights_are_finite_and_exact_in_float32(model):
    for name, arr in model.params.items():
        assert np.isfinite(arr).all(), name
        assert np.array_equal(arr.astype(np.float16).astype(np.float32), arr), name  # shipped as float16
