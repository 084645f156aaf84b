"""`attn models list` over Ollama's store, LM Studio's folder and the Hugging Face cache, laid out as
those programs lay them out (model_stores.py): every model with its architecture, size and whether
attncli loads it, a model it cannot load listed with the reason (the loader's own), read from headers
alone and never written; the table at 80 columns and the JSON against the schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from attncli.checkpoints import ollama
from helpers.known_models import hf_llama_files
from helpers.model_stores import cache_model, lmstudio_download, model_blob, ollama_pull, snapshot, tiny_gguf
from helpers.run_cli import HOWS, attn, attn_executable, ok
from helpers.schema import validate

STORE_VARS = ("OLLAMA_MODELS", "LMSTUDIO_MODELS", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME")
UNSUPPORTED = "architecture 'gemma' is not supported; attncli reads GGUF files of the llama, qwen2, qwen3, gemma3, phi3"


@pytest.fixture
def stores(tmp_path, monkeypatch, tokenizer_json, tokenizer_vocab_size) -> dict[str, Path]:
    """The three stores, each with a model attncli loads, one it cannot, and one broken; HOME empty."""
    for var in STORE_VARS:
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("ATTN_CACHE", str(tmp_path / "attncli-cache"))
    monkeypatch.setattr(ollama, "SERVICE_STORE", tmp_path / "no-service")
    w = tmp_path / "weights"
    w.mkdir()
    a, b, gemma = tiny_gguf(w / "a.gguf", seed=1), tiny_gguf(w / "b.gguf", seed=2), tiny_gguf(w / "g.gguf", 3, "gemma")

    root = home / ".ollama" / "models"  # found by default
    ollama_pull(root, "tiny", a)
    ollama_pull(root, "hf.co/someone/Tiny-GGUF:Q8_0", b)
    ollama_pull(root, "gemma:2b", gemma)
    model_blob(root, ollama_pull(root, "gone:7b", tiny_gguf(w / "gone.gguf", seed=4))).unlink()

    models = tmp_path / "lms-home" / "models"  # found through LM Studio's pointer
    (home / ".lmstudio-home-pointer").write_text(str(models.parent))
    lmstudio_download(models, "lmstudio-community/Tiny-GGUF", {"Tiny-Q8_0.gguf": a, "mmproj-Tiny-F16.gguf": b})
    lmstudio_download(models, "bartowski/Two-GGUF", {"Two-Q8_0.gguf": a, "Two-Gemma.gguf": gemma})
    lmstudio_download(models, "mlx-community/Tiny-4bit", {"config.json": b"{}", "model.safetensors": b"\0" * 64})
    bert = tiny_gguf(w / "bert.gguf", seed=5, tokenizer={"tokenizer.ggml.model": "bert"})  # a vocabulary not rebuilt
    lmstudio_download(models, "org/Bert-Vocab-GGUF", {"bert-vocab.gguf": bert})

    hub = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    cache_model(hub, "tiny-org/tiny-llama", hf_llama_files(tokenizer_json, tokenizer_vocab_size))
    cache_model(hub, "tiny-org/tiny-mamba", hf_llama_files(tokenizer_json, tokenizer_vocab_size, model_type="mamba"))
    cache_model(hub, "gguf-org/tiny-gguf", {"tiny-q8_0.gguf": a.read_bytes()}, revision="f" * 40)
    return {"ollama": root, "lmstudio": models, "huggingface": hub, "a": a, "b": b, "gemma": gemma}


def _rows(doc: dict) -> dict[str, dict]:
    return {m["spec"]: m for store in doc["stores"] for m in store["models"]}


@pytest.mark.parametrize("how", HOWS)
def test_the_json_lists_every_store_as_the_loader_sees_it(stores, how):
    before = {name: snapshot(stores[name]) for name in ("ollama", "lmstudio", "huggingface")}
    doc = ok(attn(how, ["models", "list", "--json"])).json()
    validate(doc)
    assert [(s["name"], s["path"], s["present"]) for s in doc["stores"]] == [
        ("ollama", str(stores["ollama"]), True), ("lmstudio", str(stores["lmstudio"]), True),
        ("huggingface", str(stores["huggingface"]), True)]
    rows = _rows(doc)
    size = stores["a"].stat().st_size
    assert list(rows) == [  # each store's models by name, in the stores' order
        "ollama:gemma:2b", "ollama:gone:7b", "ollama:hf.co/someone/Tiny-GGUF:Q8_0", "ollama:tiny:latest",
        "lmstudio:bartowski/Two-GGUF/Two-Gemma.gguf", "lmstudio:bartowski/Two-GGUF/Two-Q8_0.gguf",
        "lmstudio:lmstudio-community/Tiny-GGUF", "lmstudio:mlx-community/Tiny-4bit", "lmstudio:org/Bert-Vocab-GGUF",
        "gguf-org/tiny-gguf", "tiny-org/tiny-llama", "tiny-org/tiny-mamba"]
    blob = model_blob(stores["ollama"], stores["ollama"] / "manifests" / "registry.ollama.ai/library/tiny/latest")
    assert rows["ollama:tiny:latest"] == {"spec": "ollama:tiny:latest", "path": str(blob), "format": "gguf",
                                          "architecture": "llama", "quantization": ["F32", "Q8_0"],
                                          "size_bytes": size, "loads": True, "reason": None}
    for spec in ("ollama:hf.co/someone/Tiny-GGUF:Q8_0", "lmstudio:bartowski/Two-GGUF/Two-Q8_0.gguf",
                 "lmstudio:lmstudio-community/Tiny-GGUF", "gguf-org/tiny-gguf"):
        assert (rows[spec]["loads"], rows[spec]["architecture"], rows[spec]["size_bytes"]) == (True, "llama", size)
    for spec in ("ollama:gemma:2b", "lmstudio:bartowski/Two-GGUF/Two-Gemma.gguf"):  # listed, with the loader's reason
        assert (rows[spec]["loads"], rows[spec]["architecture"]) == (False, "gemma")
        assert rows[spec]["reason"].startswith(UNSUPPORTED)
    gone = rows["ollama:gone:7b"]
    assert (gone["path"], gone["loads"], gone["architecture"]) == (None, False, None)
    assert gone["reason"].startswith("the model layer of gone:7b is missing from the store")
    vocab = rows["lmstudio:org/Bert-Vocab-GGUF"]
    assert (vocab["loads"], vocab["architecture"]) == (False, "llama")
    assert vocab["reason"].startswith("tokenizer model 'bert' is not supported: its WordPiece normalization")
    mlx = rows["lmstudio:mlx-community/Tiny-4bit"]
    assert (mlx["loads"], mlx["format"], mlx["size_bytes"]) == (False, None, 2 + 64)
    assert mlx["reason"].startswith("no .gguf model file; attncli reads GGUF files")
    llama = rows["tiny-org/tiny-llama"]
    snap = stores["huggingface"] / "models--tiny-org--tiny-llama" / "snapshots"
    assert (llama["loads"], llama["format"], llama["architecture"], llama["reason"]) == (True, "huggingface", "llama",
                                                                                         None)
    assert llama["size_bytes"] == sum(f.stat().st_size for f in next(snap.iterdir()).iterdir())
    mamba = rows["tiny-org/tiny-mamba"]
    assert (mamba["loads"], mamba["architecture"]) == (False, "mamba")
    assert mamba["reason"].startswith("model_type 'mamba' is not supported in a Hugging Face directory")
    assert {name: snapshot(stores[name]) for name in before} == before  # nothing in any store written or touched


@pytest.mark.parametrize("how", HOWS)
def test_what_it_lists_loads_as_listed(stores, how):
    """Every -m the list gives for a model that loads, loads; every one it says does not, fails saying why."""
    doc = ok(attn(how, ["models", "list", "--json"])).json()
    for spec, row in _rows(doc).items():
        run = attn(how, ["info", "-m", spec, "--json"])
        if row["loads"]:
            assert run.code == 0 and run.json()["model"]["name"] == spec, (spec, run.stderr)
        else:
            assert run.code == 1 and row["reason"] in run.stderr, (spec, run.stderr)


@pytest.mark.parametrize("how", HOWS)
def test_the_table_at_80_columns(stores, how):
    doc = ok(attn(how, ["models", "list", "--json"])).json()
    lines = ok(attn(how, ["models", "list"], env={"COLUMNS": "80"})).stdout.splitlines()
    for store, title in zip(doc["stores"], ("Ollama", "LM Studio (~/.lmstudio-home-pointer)", "Hugging Face cache")):
        start = lines.index(f"{title}: {store['path']}")
        assert lines[start + 1].split() == ["architecture", "size", "loads", "-m"]
        for model in store["models"]:  # a row each, its -m last and whole; under it, why it does not load
            (at,) = [i for i, line in enumerate(lines) if line.endswith(f"  {model['spec']}")]
            arch, *_, loads, spec = lines[at].split()  # the size between: one word or two
            assert (arch, loads, spec) == (model["architecture"] or "-", "yes" if model["loads"] else "no",
                                           model["spec"])
            if model["reason"]:
                under = []
                for line in lines[at + 1:]:
                    if not line.startswith("    "):
                        break
                    under.append(line.strip())
                assert " ".join(under) == model["reason"]
    specs = tuple(f"  {m['spec']}" for store in doc["stores"] for m in store["models"])
    long = [line for line in lines if len(line) > 80]
    assert all(line.endswith(specs) or ": /" in line for line in long), long  # a -m value or a folder, whole
    assert all(line == line.rstrip() for line in lines)


@pytest.mark.parametrize("how", HOWS)
def test_stores_that_are_not_there_say_how_to_point_at_them(tmp_path, monkeypatch, how):
    for var in STORE_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ATTN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "ollama"))
    (tmp_path / ".lmstudio" / "models").mkdir(parents=True)  # there, and empty
    lines = ok(attn(how, ["models", "list"], env={"COLUMNS": "80"})).stdout.splitlines()
    at = lines.index(f"Ollama ($OLLAMA_MODELS): {tmp_path / 'ollama'}")
    assert lines[at + 1] == "  not there; set OLLAMA_MODELS to the folder Ollama keeps its models in"
    at = lines.index(f"LM Studio: {tmp_path / '.lmstudio' / 'models'}")
    assert lines[at + 1] == "  no models"
    at = lines.index(f"Hugging Face cache: {tmp_path / '.cache' / 'huggingface' / 'hub'}")
    assert lines[at + 1] == "  not there; set HF_HUB_CACHE to the folder huggingface_hub downloads into"
    doc = ok(attn(how, ["models", "list", "--json"])).json()
    validate(doc)
    assert [(s["present"], s["models"]) for s in doc["stores"]] == [(False, []), (True, []), (False, [])]


@pytest.mark.parametrize("how", HOWS)
def test_a_store_that_cannot_be_read_says_so_and_the_others_still_list(stores, how):
    (stores["ollama"] / "manifests").rename(stores["ollama"] / "moved")
    (stores["ollama"] / "manifests").write_text("")  # its manifests/ a file: listing it fails as a locked one would
    (stores["huggingface"] / "models--org--half").mkdir()  # a download that never got as far as a snapshot
    doc = ok(attn(how, ["models", "list", "--json"])).json()
    validate(doc)
    first = doc["stores"][0]
    assert (first["name"], first["present"], first["models"]) == ("ollama", True, [])
    assert first["reason"] == "cannot read the Ollama store (Not a directory)"
    assert [s["reason"] for s in doc["stores"][1:]] == [None, None] and len(_rows(doc)) == 5 + 4
    half = _rows(doc)["org/half"]
    assert (half["path"], half["loads"]) == (None, False)
    assert half["reason"] == ("the cache holds no snapshot of it (a download that did not finish); "
                              "download it with `huggingface-cli download org/half`")
    lines = ok(attn(how, ["models", "list"], env={"COLUMNS": "80"})).stdout.splitlines()
    at = lines.index(f"Ollama: {stores['ollama']}")
    assert lines[at + 1:at + 3] == ["  cannot read the Ollama store (Not a directory)", ""]


def test_a_big_blob_is_listed_from_its_header(stores):
    """An 8 GiB model file (sparse: the header and tensors, then zeros) is listed from its first pages:
    the listing process's peak memory stays far below the file's size."""
    big = lmstudio_download(stores["lmstudio"], "big/Big-GGUF", {"big.gguf": stores["a"]}) / "big.gguf"
    with open(big, "r+b") as f:
        f.truncate(8 << 30)
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True); "
             "sys.stdout.buffer.write(r.stdout); sys.stderr.buffer.write(r.stderr); "
             "sys.exit(f'{r.returncode} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}')")
    run = subprocess.run([sys.executable, "-c", probe, attn_executable(), "models", "list", "--json"],
                         capture_output=True, timeout=120, check=False)
    code, peak_kib = map(int, run.stderr.decode().split())  # the one line the probe adds: exit code and peak
    assert code == 0
    row = _rows(json.loads(run.stdout))["lmstudio:big/Big-GGUF"]
    assert (row["size_bytes"], row["loads"], row["architecture"]) == (8 << 30, True, "llama")
    assert peak_kib < 512 << 10  # KiB: reading the file would take 8 GiB
