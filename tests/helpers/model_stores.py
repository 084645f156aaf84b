"""Model stores laid out as Ollama, LM Studio and huggingface_hub lay them out, in a temporary folder:
the folders, file names and JSON each program writes, with small real GGUF files (synthetic_gguf.py)
as weights; and `snapshot` to check that reading a store left every byte and time in it as it was."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from helpers import synthetic_gguf

REVISION = "0123456789abcdef0123456789abcdef01234567"


def tiny_gguf(path: Path, seed: int = 0, architecture: str = "llama", tokenizer: dict | None = None) -> Path:
    """A 2-layer model with Q8_0 matrices and a byte vocabulary (about 100 KB) that attncli loads in
    milliseconds (or, with another `architecture`, or `tokenizer` metadata changed, refuses)."""
    kinds = {"embed": "Q8_0", "output": "Q8_0", "attn": "Q8_0", "attn_v": "Q8_0", "ffn": "Q8_0", "ffn_down": "Q8_0"}
    return synthetic_gguf.write(path, n_layer=2, d=64, d_mlp=128, n_head=4, n_kv_head=2, vocab_size=256, n_ctx=64,
                                kinds=kinds, seed=seed, scale=0.02, architecture=architecture,
                                vocab={**synthetic_gguf.byte_vocab(), **(tokenizer or {})})


# ---- Ollama ---------------------------------------------------------------------------------------

def _ollama_blob(root: Path, data: bytes, media_type: str) -> dict:
    """A layer: its bytes under blobs/sha256-HEX, as Ollama names a blob by its digest."""
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / f"sha256-{digest}").write_bytes(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def ollama_pull(root: Path, name: str, gguf: Path | None, layers: list[dict] | None = None) -> Path:
    """What `ollama pull NAME` leaves in the store at `root`: the model's GGUF (`gguf`; None for a
    manifest without one), its template, license and parameters as blobs, a config blob, and the
    manifest (Go's json.Encoder output: compact, one line) at manifests/HOST/NAMESPACE/MODEL/TAG,
    the defaults registry.ollama.ai, library and latest filled in. Returns the manifest's path."""
    rest, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "latest")
    parts = rest.split("/")
    host, namespace = (parts[0], parts[1]) if len(parts) == 3 else ("registry.ollama.ai", parts[0] if len(parts) == 2
                                                                      else "library")
    if layers is None:
        layers = [] if gguf is None else [_ollama_blob(root, gguf.read_bytes(), "application/vnd.ollama.image.model")]
        layers += [_ollama_blob(root, b"{{ .Prompt }}", "application/vnd.ollama.image.template"),
                   _ollama_blob(root, b"Apache License 2.0", "application/vnd.ollama.image.license"),
                   _ollama_blob(root, b'{"stop":["<|im_end|>"]}', "application/vnd.ollama.image.params")]
    config = _ollama_blob(root, json.dumps({"model_format": "gguf", "model_family": "llama", "file_type": "Q8_0",
                                            "architecture": "amd64", "os": "linux"}).encode(),
                          "application/vnd.docker.container.image.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": config, "layers": layers}
    path = root / "manifests" / host / namespace / parts[-1] / tag
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, separators=(",", ":")) + "\n")
    return path


def model_blob(root: Path, manifest: Path) -> Path:
    """The blob a manifest names as its model layer, read here without attncli."""
    layers = json.loads(manifest.read_text())["layers"]
    (digest,) = [layer["digest"] for layer in layers if layer["mediaType"] == "application/vnd.ollama.image.model"]
    return root / "blobs" / digest.replace(":", "-")


# ---- LM Studio ------------------------------------------------------------------------------------

def lmstudio_download(models: Path, repo: str, files: dict[str, Path | bytes]) -> Path:
    """A download in LM Studio's models folder: MODELS/PUBLISHER/REPO/FILE for each file."""
    folder = models / repo
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if isinstance(data, Path):
            shutil.copyfile(data, folder / name)
        else:
            (folder / name).write_bytes(data)
    return folder


# ---- the Hugging Face cache ----------------------------------------------------------------------

def cache_model(hub: Path, repo: str, files: dict[str, bytes], revision: str = REVISION, main: bool = True) -> Path:
    """Lay `files` out as huggingface_hub does: blobs, a snapshot of symlinks to them, refs/main."""
    folder = hub / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (folder / "blobs").mkdir(exist_ok=True)
    for i, (name, data) in enumerate(files.items()):
        blob = folder / "blobs" / f"{revision[:8]}{i:032x}"
        blob.write_bytes(data)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    if main:
        (folder / "refs").mkdir(exist_ok=True)
        (folder / "refs" / "main").write_text(revision)
    return snapshot


# ---- nothing written -----------------------------------------------------------------------------

def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under `folder` (not following links): its kind, modification time (ns) and, for a
    file, the sha256 of its bytes; a folder's time changes when an entry is added or removed."""
    state: dict[str, tuple] = {}
    for top, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(top) / name
            st = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() and not path.is_symlink() else None
            state[str(path.relative_to(folder))] = (st.st_mode, st.st_mtime_ns, st.st_size, digest)
    return state
