"""The shipped sample_weights/: it loads, is small, was trained (not provisional), and its
predictions and attention read as English. CI checks these files; it does not retrain them."""

from __future__ import annotations

import numpy as np
import pytest

from attncli.checkpoints import native
from helpers import ROOT

BUNDLED = ROOT / "sample_weights"

# Broad, hand-written word classes: what a reader would accept after each prompt.
VERBS = set("""play be go eat get do make help share leave stop see have sleep talk give take come lose fight hurt say
tell swim climb run wait listen clean try look sit stay touch move use wear read keep fly jump break miss walk throw
let put find bring open ride sing dance draw wake cry drink cook buy fall hide work learn feel think know want""".split())
NOUNS = set("""ground grass road wall floor fence couch bed mat chair table roof window tree rock porch step steps bench
sofa box swing swings carpet rug hill branch log shelf pillow blanket sand beach boat car street ledge edge top side
door stairs house garden park field lawn yard dog cat ball toy""".split())
LIKE_OBJECTS = {"it", "you", "to", "the", "that", "this", "him", "her", "them", "being", "when", "my", "your", "a"}


@pytest.fixture(scope="module")
def model():
    return native.load(BUNDLED)


def top(model, text: str, k: int = 5) -> list[tuple[str, float]]:
    tokens = model.tokenizer.encode(text)
    trace = model.forward([t.id for t in tokens])
    return [(p.text.strip(), p.probability) for p in model.predict(trace, k)]


def test_files_and_card():
    names = sorted(p.name for p in BUNDLED.iterdir() if p.is_file())
    assert names == ["config.json", "model.safetensors", "tokenizer.json"]  # no training state shipped
    assert [p.name for p in BUNDLED.iterdir() if p.is_dir()] == ["mlm"]  # the masked-LM: test_bundled_mlm.py
    assert sum((BUNDLED / n).stat().st_size for n in names) < 4 * 1024 * 1024
    card = native.load(BUNDLED).card
    assert card["provisional"] is False
    assert card["training_command"].startswith("OPENBLAS_NUM_THREADS=1 attn train ")
    assert "CDLA-Sharing-1.0" in card["corpus_license"]
    assert card["valid_ppl_word"] <= 24


def test_once_upon_a_time(model):
    word, p = top(model, "once upon a")[0]
    assert word == "time" and p >= 0.9


def test_verbs_after_did_not_want_to(model):
    preds = top(model, "she did not want to", 3)
    assert all(w in VERBS for w, _ in preds), preds


def test_nouns_after_sat_on_the(model):
    preds = top(model, "the cat sat on the", 5)
    assert preds[0][0] in NOUNS, preds
    assert sum(w in NOUNS for w, _ in preds) >= 4, preds  # an adjective ("big") may come in between


def test_objects_after_i_do_not_like(model):
    preds = top(model, "I do not like", 5)
    assert preds[0][0] in LIKE_OBJECTS, preds
    assert len({w for w, _ in preds} & {"it", "you", "to"}) >= 2, preds


def test_a_head_links_like_to_not(model):
    tokens = model.tokenizer.encode("i do not like spinach")
    words = [t.text.strip() for t in tokens]
    like, neg = words.index("like"), words.index("not")
    trace = model.forward([t.id for t in tokens])
    best = max(float(trace[f"blocks.{L}.attn.weights"][h, like, neg])
               for L in range(model.config.n_layer) for h in range(model.config.n_head))
    assert best >= 0.3


def test_float16_weights_are_finite_and_exact_in_float32(model):
    for name, arr in model.params.items():
        assert np.isfinite(arr).all(), name
        assert np.array_equal(arr.astype(np.float16).astype(np.float32), arr), name  # shipped as float16
