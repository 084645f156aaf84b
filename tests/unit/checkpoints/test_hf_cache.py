"""`-m org/name`: a model in the local Hugging Face cache, found as huggingface_hub lays it out
(models--org--name/refs/main, snapshots/<revision>/ of symlinks into blobs/), with no network;
a name that is not there is one line that says how to get it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attncli.checkpoints import hf_cache, load
from attncli.errors import ModelError
from helpers.known_models import hf_llama_files, write_files
from helpers.model_stores import cache_model
from helpers.run_cli import HOWS, attn


@pytest.fixture(scope="module")
def files(tokenizer_json, tokenizer_vocab_size) -> dict[str, bytes]:
    return hf_llama_files(tokenizer_json, tokenizer_vocab_size)


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    """An empty hub cache that HF_HUB_CACHE points at (and nothing else that could)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "hub"
    path.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(path))
    return path


def test_a_cached_model_loads_by_name_as_its_snapshot_does(hub, files, tmp_path):
    snapshot = cache_model(hub, "tiny-org/tiny-llama", files)
    model = load("tiny-org/tiny-llama")
    assert model.name == "tiny-org/tiny-llama" and model.source == str(snapshot)
    assert model.config.architecture == "llama" and model.config.n_kv_head == 1
    plain = write_files(tmp_path / "plain", files)
    np.testing.assert_array_equal(model.forward([1, 2, 3])["logits"], load(plain).forward([1, 2, 3])["logits"])


def test_refs_main_picks_the_snapshot(hub, files):
    cache_model(hub, "org/m", {**files, "config.json": b"{not json"}, revision="1" * 40, main=False)  # an old one
    good = cache_model(hub, "org/m", files)
    assert hf_cache.resolve("org/m") == good
    assert load("org/m").source == str(good)


def test_without_refs_main_one_snapshot_is_taken_and_two_are_refused(hub, files):
    only = cache_model(hub, "org/m", files, main=False)
    assert hf_cache.resolve("org/m") == only
    cache_model(hub, "org/m", files, revision="f" * 40, main=False)
    with pytest.raises(ModelError, match="2 snapshots and no refs/main"):
        hf_cache.resolve("org/m")


@pytest.mark.parametrize("var,sub", [("HF_HOME", "hub"), ("XDG_CACHE_HOME", "huggingface/hub")])
def test_the_cache_is_found_where_huggingface_hub_puts_it(tmp_path, monkeypatch, files, var, sub):
    for v in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv(var, str(tmp_path / "base"))
    cache_model(tmp_path / "base" / sub, "org/m", files)
    assert hf_cache.hub_cache() == tmp_path / "base" / sub
    assert load("org/m").config.n_layer == 1


def test_home_is_the_default(tmp_path, monkeypatch):
    for v in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert hf_cache.hub_cache() == tmp_path / ".cache" / "huggingface" / "hub"


def test_a_name_not_in_the_cache_says_how_to_get_it(hub):
    with pytest.raises(ModelError) as e:
        load("nobody/nothing")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("nobody/nothing: ")
    assert "huggingface-cli download nobody/nothing" in msg and str(hub) in msg


def test_a_snapshot_without_a_model_says_so(hub, files):
    cache_model(hub, "org/m", {"README.md": b"hello"})
    with pytest.raises(ModelError, match="no config.json and no .gguf file"):
        load("org/m")


def test_an_existing_path_wins_over_the_cache(hub, files, tmp_path, monkeypatch):
    cache_model(hub, "org/m", files)
    write_files(tmp_path / "org" / "m", files)
    monkeypatch.chdir(tmp_path)
    assert load("org/m").source == "org/m"


@pytest.mark.parametrize("spec", ["a/b/c", "/abs/path", "./org/m", "org/..", "just-a-name"])
def test_only_repo_ids_are_looked_up(spec):
    assert not hf_cache.is_repo_id(spec)


@pytest.mark.parametrize("how", HOWS)
def test_the_cli_takes_a_cached_name_and_refuses_a_missing_one(how, hub, files):
    cache_model(hub, "org/tiny", files)
    env = {"HF_HUB_CACHE": str(hub)}
    r = attn(how, ["predict", "-m", "org/tiny", "I do not like", "-k", "2", "--json"], env=env)
    assert r.code == 0 and r.stderr == "", r.stderr
    assert r.json()["model"]["name"] == "org/tiny" and len(r.json()["predictions"]) == 2
    r = attn(how, ["predict", "-m", "org/absent", "I do"], env=env)
    assert r.code == 1 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "huggingface-cli download org/absent" in r.stderr
