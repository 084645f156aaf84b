"""A multimodal Gemma 3 folder (model_type gemma3, the text model's config under text_config, its
tensors under the language model's prefix beside a vision tower) loads as its text model: the
same numbers as the text-only folder of the same weights, which test_families.py holds to
transformers."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("torch", reason="building the family models needs torch (pip install torch==2.13.0)")
pytest.importorskip("transformers", reason="building the family models needs transformers")
pytest.importorskip("gguf", reason="writing test GGUF files needs the gguf package")

from safetensors.numpy import load_file, save_file

from attncli.checkpoints import load
from helpers import families

# transformers 5 saves Gemma3ForConditionalGeneration's text model under model.language_model.;
# the folders on the Hub (saved by transformers 4) under language_model.model.
PREFIXES = {"transformers-5": "model.language_model.", "hub": "language_model.model."}


@pytest.mark.parametrize("layout", list(PREFIXES))
def test_the_language_model_of_a_multimodal_folder_loads(tmp_path_factory, tmp_path, layout):
    b = families.built("gemma3", tmp_path_factory)
    text_only = b.paths["hf-f32"]
    folder = tmp_path / "gemma3-mm"
    shutil.copytree(text_only, folder)
    text = json.loads((folder / "config.json").read_text())
    outer = {"model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"], "text_config": text,
             "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 8}, "mm_tokens_per_image": 4}
    (folder / "config.json").write_text(json.dumps(outer))
    tensors = load_file(str(folder / "model.safetensors"))
    moved = {PREFIXES[layout] + k.removeprefix("model."): v for k, v in tensors.items()}
    moved["vision_tower.vision_model.embeddings.patch_embedding.weight"] = np.zeros((8, 3, 2, 2), np.float32)
    moved["multi_modal_projector.mm_input_projection_weight"] = np.zeros((8, 64), np.float32)
    save_file(moved, str(folder / "model.safetensors"))

    ours, plain = load(folder), load(text_only)
    assert ours.config == plain.config and ours.card["format"] == "huggingface-gemma3"
    np.testing.assert_array_equal(ours.forward(b.ids)["logits"], plain.forward(b.ids)["logits"])
