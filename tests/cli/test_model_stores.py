"""`-m ollama:NAME[:TAG]` and `-m lmstudio:PUBLISHER/REPO[/FILE]`: models in Ollama's store and LM
Studio's folder, laid out as those programs lay them out (model_stores.py), loaded where they are and
never written; every way a store can be missing or broken is one stderr line that says what to do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attncli.checkpoints import lmstudio, load, ollama, store_model
from attncli.errors import ModelError, UsageError
from helpers.model_stores import lmstudio_download, model_blob, ollama_pull, snapshot, tiny_gguf
from helpers.run_cli import HOWS, assert_one_error_line, attn, ok

STORE_VARS = ("OLLAMA_MODELS", "LMSTUDIO_MODELS", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME")


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    """Two small models that differ in their weights, and one of an architecture attncli does not compute."""
    d = tmp_path_factory.mktemp("weights")
    return {"a": tiny_gguf(d / "a.gguf", seed=1), "b": tiny_gguf(d / "b.gguf", seed=2),
            "gemma": tiny_gguf(d / "gemma.gguf", seed=3, architecture="gemma")}


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty home, no store variables and no Linux service store: each test lays out what it needs."""
    for var in STORE_VARS:
        monkeypatch.delenv(var, raising=False)
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.setattr(ollama, "SERVICE_STORE", tmp_path / "no-service")
    return folder


@pytest.fixture
def store(home, weights, monkeypatch) -> Path:
    """An Ollama store ($OLLAMA_MODELS) holding a:latest, a:q8 under another namespace and registry, and b."""
    root = home / "ollama-models"
    ollama_pull(root, "tiny", weights["a"])
    ollama_pull(root, "tiny:q8", weights["b"])
    ollama_pull(root, "someone/tiny:v1", weights["b"])
    ollama_pull(root, "example.com:5000/team/tiny:v2", weights["a"])
    monkeypatch.setenv("OLLAMA_MODELS", str(root))
    return root


def logits(spec: str) -> np.ndarray:
    return load(spec).forward([1, 2, 3])["logits"]


# ---- Ollama: names as Ollama reads them --------------------------------------------------------------

@pytest.mark.parametrize("name,weights_of", [
    ("tiny", "a"), ("tiny:latest", "a"), ("library/tiny", "a"), ("registry.ollama.ai/library/tiny:latest", "a"),
    ("tiny:q8", "b"), ("someone/tiny:v1", "b"), ("example.com:5000/team/tiny:v2", "a"),
    ("TINY:Q8", "b"), ("Someone/Tiny:V1", "b"),  # Ollama matches names without regard to case
])
def test_ollama_names_find_the_blob_ollama_would(store, weights, name, weights_of):
    found = store_model(f"ollama:{name}")
    assert found is not None and found.notes == ()
    assert found.path.parent == store / "blobs" and found.path.read_bytes() == weights[weights_of].read_bytes()
    np.testing.assert_array_equal(logits(f"ollama:{name}"), logits(str(weights[weights_of])))


@pytest.mark.parametrize("how", HOWS)
def test_an_ollama_model_runs_as_its_file_does(store, weights, how):
    before = snapshot(store)
    run = ok(attn(how, ["predict", "-m", "ollama:tiny:q8", "hello", "--json"]))
    direct = ok(attn(how, ["predict", "-m", str(weights["b"]), "hello", "--json"]))
    doc = run.json()
    blob = model_blob(store, store / "manifests" / "registry.ollama.ai" / "library" / "tiny" / "q8")
    assert doc["model"]["name"] == "ollama:tiny:q8" and doc["model"]["source"] == str(blob)
    assert doc["predictions"] == direct.json()["predictions"]
    assert snapshot(store) == before  # read in place: not a byte, a time or an entry changed


def test_the_store_is_where_ollama_keeps_it(home, weights, tmp_path, monkeypatch):
    """$OLLAMA_MODELS (trimmed of spaces and quotes, as Ollama trims it), else ~/.ollama/models, else the
    Linux service's store, and only when the user has none of their own."""
    service = tmp_path / "usr-share-ollama" / ".ollama" / "models"
    monkeypatch.setattr(ollama, "SERVICE_STORE", service)
    assert ollama.store() == (home / ".ollama" / "models", "")  # none anywhere: the user's, for the message
    ollama_pull(service, "tiny", weights["b"])
    assert ollama.store() == (service, "the Linux service's store")
    np.testing.assert_array_equal(logits("ollama:tiny"), logits(str(weights["b"])))
    ollama_pull(home / ".ollama" / "models", "tiny", weights["a"])  # the user's own store wins
    assert ollama.store() == (home / ".ollama" / "models", "")
    np.testing.assert_array_equal(logits("ollama:tiny"), logits(str(weights["a"])))
    monkeypatch.setenv("OLLAMA_MODELS", f" '{tmp_path / 'elsewhere'}' ")
    assert ollama.store() == (tmp_path / "elsewhere", "$OLLAMA_MODELS")


# ---- LM Studio ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", HOWS)
def test_an_lmstudio_model_loads_and_its_projector_is_passed_over(home, weights, how, monkeypatch):
    models = home / ".lmstudio" / "models"
    lmstudio_download(models, "lmstudio-community/Tiny-GGUF", {"Tiny-Q8_0.gguf": weights["a"],
                                                               "mmproj-Tiny-F16.gguf": weights["b"]})
    before = snapshot(models)
    run = attn(how, ["predict", "-m", "lmstudio:lmstudio-community/Tiny-GGUF", "hello", "--json"])
    assert run.code == 0 and run.stderr == ("attn: lmstudio:lmstudio-community/Tiny-GGUF: skipped "
                                            "mmproj-Tiny-F16.gguf, a vision projector (mmproj), not a model\n")
    direct = ok(attn(how, ["predict", "-m", str(weights["a"]), "hello", "--json"]))
    assert run.json()["predictions"] == direct.json()["predictions"]
    assert run.json()["model"]["source"] == str(models / "lmstudio-community" / "Tiny-GGUF" / "Tiny-Q8_0.gguf")
    assert snapshot(models) == before


def test_one_file_of_several_is_named(home, weights):
    repo = lmstudio_download(home / ".lmstudio" / "models", "bartowski/Tiny-GGUF",
                             {"Tiny-Q8_0.gguf": weights["a"], "Tiny-Q4_K_M.gguf": weights["b"]})
    with pytest.raises(ModelError, match=r"2 model files \(Tiny-Q4_K_M.gguf, Tiny-Q8_0.gguf\); pass one: "
                                         r"-m lmstudio:bartowski/Tiny-GGUF/FILE"):
        store_model("lmstudio:bartowski/Tiny-GGUF")
    assert store_model("lmstudio:bartowski/Tiny-GGUF/Tiny-Q4_K_M.gguf") == (repo / "Tiny-Q4_K_M.gguf", ())
    np.testing.assert_array_equal(logits("lmstudio:bartowski/tiny-gguf/tiny-q8_0.gguf"), logits(str(weights["a"])))


def test_the_folder_is_where_lm_studio_keeps_it(home, weights, tmp_path, monkeypatch):
    """$LMSTUDIO_MODELS, else models/ of the home that ~/.lmstudio-home-pointer names, else of
    ~/.cache/lm-studio if it exists, else of ~/.lmstudio: as LM Studio finds its home."""
    assert lmstudio.models_dir() == (home / ".lmstudio" / "models", "")
    (home / ".cache" / "lm-studio").mkdir(parents=True)
    assert lmstudio.models_dir() == (home / ".cache" / "lm-studio" / "models", "")
    moved = tmp_path / "big-disk" / "lmstudio"
    (home / ".lmstudio-home-pointer").write_text(f"{moved}\n")
    assert lmstudio.models_dir() == (moved / "models", "~/.lmstudio-home-pointer")
    lmstudio_download(moved / "models", "org/Tiny-GGUF", {"tiny.gguf": weights["b"]})
    np.testing.assert_array_equal(logits("lmstudio:org/Tiny-GGUF"), logits(str(weights["b"])))
    monkeypatch.setenv("LMSTUDIO_MODELS", str(tmp_path / "mine"))
    assert lmstudio.models_dir() == (tmp_path / "mine", "$LMSTUDIO_MODELS")


# ---- every way it can go wrong: one line, what to do, no traceback ----------------------------------

def _break(store: Path, how: str) -> None:
    """Damage the store at `store` one way."""
    manifests = store / "manifests" / "registry.ollama.ai" / "library"
    if how == "no model layer":
        ollama_pull(store, "embed", None)
    elif how == "missing blob":
        model_blob(store, ollama_pull(store, "gone", tiny_gguf(store.parent / "gone.gguf", seed=7))).unlink()
    elif how == "truncated blob":
        blob = model_blob(store, ollama_pull(store, "cut", tiny_gguf(store.parent / "cut.gguf", seed=8)))
        blob.write_bytes(blob.read_bytes()[:5000])
    elif how == "bad json":
        (manifests / "bad").mkdir()
        (manifests / "bad" / "latest").write_text('{"schemaVersion":2,"layers":[{"mediaType":')
    elif how == "huge manifest":
        (manifests / "huge").mkdir()
        (manifests / "huge" / "latest").write_bytes(b"[" * (3 << 20))
    elif how == "manifests not a folder":
        (store / "manifests").rename(store / "elsewhere")
        (store / "manifests").write_text("")
    elif how == "bad digest":
        ollama_pull(store, "evil", None, layers=[{"mediaType": ollama.MODEL_LAYER, "digest": "../../../etc/passwd",
                                                  "size": 1}])


OLLAMA_ERRORS = {  # -m value, damage, exit code, what the line says
    "no tag": ("ollama:tiny:7b", None, 1, "tiny has no tag 7b in the Ollama store ({store}); its tags: latest, q8; "
                                          "pull it with `ollama pull tiny:7b`"),
    "no model": ("ollama:qwen2.5", None, 1, "no model qwen2.5:latest in the Ollama store ({store}); it holds "
                                            "example.com:5000/team/tiny:v2, someone/tiny:v1, tiny:latest, tiny:q8; "
                                            "pull it with `ollama pull qwen2.5:latest`"),
    "no model layer": ("ollama:embed", "no model layer", 1, "no model layer (application/vnd.ollama.image.model); "
                                                            "its layers: license, params, template; attncli reads"),
    "missing blob": ("ollama:gone", "missing blob", 1, "is missing from the store (an interrupted pull, or a removed "
                                                       "blob); run `ollama pull gone:latest`"),
    "truncated blob": ("ollama:cut", "truncated blob", 1, "5,000 bytes where the manifest of cut:latest says"),
    "bad json": ("ollama:bad", "bad json", 1, "the manifest is not valid JSON (Expecting value); run `ollama pull "
                                              "bad:latest` to fetch it again"),
    "huge manifest": ("ollama:huge", "huge manifest", 1, "more than 1024 KiB, where an Ollama manifest is a few "
                                                         "hundred bytes"),
    "unreadable store": ("ollama:tiny", "manifests not a folder", 1, "manifests: cannot read the Ollama store (Not "
                                                                    "a directory)"),
    "bad digest": ("ollama:evil", "bad digest", 1, "the model layer's digest '../../../etc/passwd' is not sha256:HEX"),
    "traversal": ("ollama:../../etc/passwd", None, 2, "not an Ollama model name (4 parts); write ollama:NAME[:TAG], "),
    "traversal as a host": ("ollama:../etc/passwd", None, 2, "not an Ollama model name (the host '..')"),
    "traversal after a tag": ("ollama:tiny:../../x", None, 2, "not an Ollama model name (the namespace '..')"),
    "empty tag": ("ollama:tiny:", None, 2, "not an Ollama model name (an empty tag)"),
}


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("case", OLLAMA_ERRORS)
def test_ollama_errors_are_one_line(store, how, case):
    spec, damage, code, says = OLLAMA_ERRORS[case]
    if damage:
        _break(store, damage)
    before = snapshot(store)
    run = attn(how, ["predict", "-m", spec, "hello"])
    assert run.code == code and run.stdout == ""
    assert says.format(store=store) in assert_one_error_line(run)
    assert snapshot(store) == before


@pytest.mark.parametrize("how", HOWS)
def test_a_missing_store_says_where_it_looked(home, tmp_path, how):
    run = attn(how, ["info", "-m", "ollama:tiny"], env={"OLLAMA_MODELS": str(tmp_path / "nowhere")})
    assert run.code == 1 and run.stdout == ""
    assert assert_one_error_line(run) == (f"ollama:tiny: no Ollama store at {tmp_path / 'nowhere'} (from "
                                          "$OLLAMA_MODELS); pull a model with Ollama (`ollama pull NAME`), or set "
                                          "OLLAMA_MODELS to the folder Ollama keeps its models in (the one that holds "
                                          "manifests/ and blobs/)")
    run = attn(how, ["info", "-m", "lmstudio:org/model"])  # HOME has no LM Studio
    assert run.code == 1 and f"no LM Studio models folder at {tmp_path / 'home' / '.lmstudio' / 'models'}; " \
        "download the model in LM Studio, or set LMSTUDIO_MODELS" in assert_one_error_line(run)


def test_case_alone_never_picks_between_two_models(store, weights):
    ollama_pull(store, "Tiny:Q8", weights["a"])  # beside tiny:q8, on a case-sensitive file system
    with pytest.raises(ModelError, match=r"2 models in the Ollama store .* differ from it only in case \(Tiny:Q8, "
                                         r"tiny:q8\)"):
        store_model("ollama:TINY:q8")
    assert store_model("ollama:Tiny:Q8").path.read_bytes() == weights["a"].read_bytes()  # as written: that one


LMSTUDIO_ERRORS = {
    "no repo": ("lmstudio:org/other", 1, "no folder org/other in LM Studio's models folder ({models}); it holds "
                                         "org/Mlx-Model, org/Tiny-GGUF, org/Two-GGUF"),
    "no file": ("lmstudio:org/Two-GGUF/nope.gguf", 1, "no nope.gguf in {models}/org/Two-GGUF; its model files: "
                                                      "a.gguf, b.gguf"),
    "projector": ("lmstudio:org/Tiny-GGUF/mmproj-f16.gguf", 1, "a vision projector (mmproj), not a model; its model "
                                                               "files: tiny.gguf"),
    "several": ("lmstudio:org/Two-GGUF", 1, "2 model files (a.gguf, b.gguf); pass one: -m lmstudio:org/Two-GGUF/FILE"),
    "mlx": ("lmstudio:org/Mlx-Model", 1, "no .gguf model file; attncli reads GGUF files (an MLX model's folder of "
                                         ".safetensors is not one)"),
    "traversal": ("lmstudio:../../etc", 2, "not a model in LM Studio's folder; write lmstudio:PUBLISHER/REPO"),
    "absolute": ("lmstudio:/etc/passwd", 2, "not a model in LM Studio's folder"),
    "deep traversal": ("lmstudio:org/Tiny-GGUF/../../../x.gguf", 2, "not a model in LM Studio's folder"),
    "not gguf": ("lmstudio:org/Tiny-GGUF/config.json", 2, "config.json is not a .gguf file"),
}


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("case", LMSTUDIO_ERRORS)
def test_lmstudio_errors_are_one_line(home, weights, how, case):
    models = home / ".lmstudio" / "models"
    lmstudio_download(models, "org/Tiny-GGUF", {"tiny.gguf": weights["a"], "mmproj-f16.gguf": b"GGUF"})
    lmstudio_download(models, "org/Two-GGUF", {"a.gguf": weights["a"], "b.gguf": weights["b"]})
    lmstudio_download(models, "org/Mlx-Model", {"config.json": b"{}", "model.safetensors": b"\0" * 8})
    spec, code, says = LMSTUDIO_ERRORS[case]
    before = snapshot(models)
    run = attn(how, ["explain", "-m", spec, "hello"])
    assert run.code == code and run.stdout == ""
    assert says.format(models=models) in assert_one_error_line(run)
    assert snapshot(models) == before


def test_a_path_that_exists_wins_over_a_store(store, weights, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("ollama:tiny").write_bytes(weights["b"].read_bytes())
    assert store_model("ollama:tiny") is None
    np.testing.assert_array_equal(logits("ollama:tiny"), logits(str(weights["b"])))


def test_a_name_is_parsed_as_ollama_parses_it():
    assert ollama.parse("qwen2.5") == ("registry.ollama.ai", "library", "qwen2.5", "latest")
    assert ollama.parse("qwen2.5:0.5b-instruct-q4_K_M").tag == "0.5b-instruct-q4_K_M"
    assert ollama.parse("hf.co/bartowski/Qwen2.5-0.5B-GGUF:Q4_K_M") == ("hf.co", "bartowski", "Qwen2.5-0.5B-GGUF",
                                                                       "Q4_K_M")
    assert ollama.parse("localhost:5000/ns/m") == ("localhost:5000", "ns", "m", "latest")
    hf = "hf.co/bartowski/Qwen2.5-0.5B-GGUF:Q4_K_M"
    assert ollama.parse(hf).short() == hf
    assert ollama.parse("REGISTRY.ollama.ai/Library/m").short() == "m:latest"
    for bad in ("", ":", "a/b/c/d", "a//b", "/m", "m/", ".hidden", "ns.with.dots/m", "m:t/x", "a" * 81, "m:" + "t" * 81,
                "m:ta:g", "m@sha256", "m\0x", "-m"):
        with pytest.raises(UsageError, match="not an Ollama model name"):
            ollama.parse(bad)


def test_manifest_is_read_with_its_size_capped(store, monkeypatch):
    """A manifest is read up to MAX_MANIFEST + 1 bytes, never whole: a huge file costs nothing."""
    path = store / "manifests" / "registry.ollama.ai" / "library" / "huge" / "latest"
    path.parent.mkdir()
    with open(path, "wb") as f:
        f.truncate(1 << 40)  # a sparse terabyte
    read = []
    real_open = open

    def watching(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if Path(file) == path:
            real_read = handle.read
            handle.read = lambda n=-1: read.append(n) or real_read(n)  # type: ignore[method-assign]
        return handle

    monkeypatch.setattr("builtins.open", watching)
    with pytest.raises(ModelError, match="more than 1024 KiB"):
        store_model("ollama:huge")
    assert read == [ollama.MAX_MANIFEST + 1]  # one read, of a bounded size
