"""Progress on stderr for work that can take seconds (attn patch, --attribution, --lens, -g N,
loading a large model): drawn when stderr is a terminal, and then stdout is what it is without
it; nothing at all on stderr when it is not a terminal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import synthetic_gguf
from helpers.run_cli import attn, attn_on_a_pty, ok

ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

CASES = {
    "patch": (["patch", "I do not like spinach", "I do like spinach"], "patching each layer, then each head"),
    "attribution": (["explain", "I do not like spinach", "--attribution"], "leaving out each token"),
    "lens": (["explain", "I do not like spinach", "--lens"], "reading each layer's stream through the vocabulary"),
    "explain-json": (["explain", "I do not like spinach", "--attribution", "--json"], "leaving out each token"),
    "generate": (["predict", "once upon a time", "-g", "5", "--explain"], "generating"),
}


def shown(stderr: str) -> str:
    """What a terminal would show of the progress display's frames: the text without escape codes."""
    return ESCAPES.sub("", stderr)


@pytest.mark.parametrize("case", CASES)
def test_progress_is_drawn_on_a_terminal_and_leaves_stdout_as_it_is(case: str) -> None:
    args, label = CASES[case]
    out, err, code = attn_on_a_pty(args, {}, stream="stderr")
    assert code == 0, err
    frames = shown(err)
    assert label in frames
    total = {"patch": 2 * 2 + 1, "generate": 5}.get(case)  # the bundled model's 2 layers; 5 tokens
    if total is not None:
        assert f"{total}/{total}" in frames  # counted to the end
    plain = ok(attn("process", args, env={"COLUMNS": "150"}))  # stderr not a terminal: nothing on it
    assert out == plain.stdout


@pytest.fixture(scope="module")
def big_gguf(tmp_path_factory) -> Path:
    """A GGUF over the 32 MiB at which loading is shown (a float32 embedding of 16,384 x 512)."""
    path = synthetic_gguf.write(tmp_path_factory.mktemp("big") / "big.gguf", n_layer=1, d=512, d_mlp=512, n_head=4,
                                n_kv_head=4, vocab_size=16384, n_ctx=64, kinds={"embed": "F32"})
    assert path.stat().st_size > 32 << 20
    return path


def test_loading_a_large_model_is_shown(big_gguf: Path, tmp_path: Path) -> None:
    out, err, code = attn_on_a_pty(["info", "-m", str(big_gguf)], {}, stream="stderr")
    assert code == 0
    size = big_gguf.stat().st_size / 2**20
    assert f"loading {big_gguf} ({size:.1f} MiB)" in shown(err)
    plain = ok(attn("process", ["info", "-m", str(big_gguf)], env={"COLUMNS": "150"})).stdout

    def steady(card: str) -> list[str]:  # the budget is half the memory available now, which moves
        return [line for line in card.splitlines() if not line.startswith("memory.budget")]

    assert steady(out) == steady(plain) and len(steady(out)) > 10
    small = synthetic_gguf.write(tmp_path / "small.gguf", n_layer=1, d=256, d_mlp=256, n_head=2, n_kv_head=1,
                                 vocab_size=256, n_ctx=64)
    out, err, code = attn_on_a_pty(["info", "-m", str(small)], {}, stream="stderr")
    assert code == 0 and err == ""  # a small model loads at once: no display
