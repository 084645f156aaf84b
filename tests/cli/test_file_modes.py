"""Files attncli writes get the mode any newly created file gets, 0666 less the umask (0644
under the usual 022): trained weights and optimizer state, config, tokenizer, pulled models,
--html pages and --save pictures alike, never the 0600 of a temporary file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from attncli import registry
from helpers.fake_registry import fake_index
from helpers.run_cli import HOWS, attn, ok
from helpers.train_helpers import TINY_FLAGS, write_corpus


@pytest.fixture(params=[0o022, 0o027], ids=["umask022", "umask027"])
def umask(request):
    """Run the test under this umask (the installed program inherits it)."""
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("how", HOWS)
def test_trained_model_files(tmp_path, how, umask):
    corpus, out = write_corpus(tmp_path), tmp_path / "m"
    ok(attn(how, ["train", str(corpus), "--out", str(out), "--steps", "3", "--checkpoint-every", "1", *TINY_FLAGS]))
    files = {p.name: mode(p) for p in out.iterdir()}
    assert files == {name: 0o666 & ~umask for name in ("config.json", "model.safetensors", "tokenizer.json",
                                                        "train_state.safetensors", "train_state.json")}


@pytest.mark.parametrize("how", HOWS)
def test_html_and_save(tmp_path, tiny_model_dir, how, umask):
    outputs = [("--html", "view.html")]
    try:
        import matplotlib  # noqa: F401

        outputs += [("--save", "heads.png"), ("--save", "heads.svg")]
    except ImportError:  # the plot extra is optional; the page is still checked
        pass
    for option, name in outputs:
        path = tmp_path / name
        run = attn(how, ["explain", "I do not like spinach", "-m", str(tiny_model_dir), option, str(path)])
        assert run.code == 0, run.stderr
        assert mode(path) == 0o666 & ~umask, (option, oct(mode(path)))


def test_pulled_model(tmp_path, monkeypatch, umask):
    entry = fake_index(tmp_path, b"GGUF" + b"\1" * 4096)
    monkeypatch.setitem(registry.KNOWN, "fake", entry)
    ok_ = attn("runner", ["models", "pull", "fake"], env={"ATTN_CACHE": str(tmp_path / "cache")})
    assert ok_.code == 0, ok_.stderr
    assert mode(tmp_path / "cache" / "models" / "fake" / "model.gguf") == 0o666 & ~umask
