"""A FIFO, a socket or a device where a model file should be (given to -m, or as a member of a model
folder, or behind a link) is refused in one line that says what it is: a FIFO is never opened, so
nothing waits for a writer that never comes.

While attn runs, a watchdog opens every FIFO of the case for writing whenever a reader is waiting on
it (a non-blocking open succeeds only then) and closes it at once: a loader that opens one gets an
empty read instead of hanging, and the test fails on the record that it did.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from attncli.errors import ExitCode
from helpers.known_models import hf_llama_files, write_files
from helpers.run_cli import HOWS, assert_one_error_line, attn


@contextmanager
def watchdog(fifos: list[Path]) -> Iterator[list[Path]]:
    """Releases any reader blocked on one of `fifos`; yields the list of those it had to release."""
    released: list[Path] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.05):
            for fifo in fifos:
                try:
                    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO unless a reader has it open
                except OSError:
                    continue
                os.close(fd)
                released.append(fifo)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield released
    finally:
        stop.set()
        thread.join()


def fifo(path: Path) -> Path:
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    return path


def unix_socket(path: Path) -> Path:
    path.unlink(missing_ok=True)
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))  # the socket file stays after the socket closes
    return path


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A folder with a short path: a UNIX socket's path must fit in 108 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="attn-sp-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder)


# case -> (make(tmp, model folders) -> (the -m argument, the special file the message names), what it is)
Maker = Callable[[Path, dict[str, Path]], tuple[Path, Path]]


def member(kind: str, name: str, make: Callable[[Path], Path] = fifo) -> Maker:
    """A copy of the `kind` model folder whose member `name` is special."""
    def build(tmp: Path, folders: dict[str, Path]) -> tuple[Path, Path]:
        folder = tmp / kind
        shutil.copytree(folders[kind], folder)
        return folder, make(folder / name)
    return build


def gpt2_vocab(tmp: Path, folders: dict[str, Path]) -> tuple[Path, Path]:
    """A Hugging Face folder without tokenizer.json, whose vocab.json (GPT-2's BPE files) is a FIFO."""
    folder = tmp / "bpe"
    shutil.copytree(folders["hf"], folder)
    (folder / "tokenizer.json").unlink()
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return folder, fifo(folder / "vocab.json")


def shard(tmp: Path, folders: dict[str, Path]) -> tuple[Path, Path]:
    """A sharded folder (model.safetensors.index.json) whose one shard is a FIFO."""
    folder = tmp / "sharded"
    shutil.copytree(folders["hf"], folder)
    (folder / "model.safetensors").unlink()
    keys = ["model.embed_tokens.weight"]
    (folder / "model.safetensors.index.json").write_text('{"weight_map": {"%s": "part-1.safetensors"}}' % keys[0])
    return folder, fifo(folder / "part-1.safetensors")


def linked(target: Callable[[Path], Path], name: str) -> Maker:
    def build(tmp: Path, folders: dict[str, Path]) -> tuple[Path, Path]:
        link = tmp / name
        link.symlink_to(target(tmp))
        return link, link
    return build


CASES: dict[str, tuple[Maker, str]] = {
    "a FIFO": (lambda tmp, f: (fifo(tmp / "model"),) * 2, "a FIFO (named pipe)"),
    "a FIFO named .gguf": (lambda tmp, f: (fifo(tmp / "model.gguf"),) * 2, "a FIFO (named pipe)"),
    "a link to a FIFO": (linked(lambda tmp: fifo(tmp / "pipe"), "model.gguf"), "a FIFO (named pipe)"),
    "a socket": (lambda tmp, f: (unix_socket(tmp / "sock"),) * 2, "a socket"),
    "/dev/zero": (lambda tmp, f: (Path("/dev/zero"),) * 2, "a character device"),
    "a .gguf link to /dev/zero": (linked(lambda tmp: Path("/dev/zero"), "zero.gguf"), "a character device"),
    "attncli config.json": (member("native", "config.json"), "a FIFO (named pipe)"),
    "attncli tokenizer.json": (member("native", "tokenizer.json"), "a FIFO (named pipe)"),
    "attncli model.safetensors": (member("native", "model.safetensors"), "a FIFO (named pipe)"),
    "attncli model.safetensors, a socket": (member("native", "model.safetensors", unix_socket), "a socket"),
    "Hugging Face config.json": (member("hf", "config.json"), "a FIFO (named pipe)"),
    "Hugging Face model.safetensors": (member("hf", "model.safetensors"), "a FIFO (named pipe)"),
    "Hugging Face tokenizer.json": (member("hf", "tokenizer.json"), "a FIFO (named pipe)"),
    "Hugging Face tokenizer_config.json": (member("hf", "tokenizer_config.json"), "a FIFO (named pipe)"),
    "Hugging Face modules.json": (member("bert", "modules.json"), "a FIFO (named pipe)"),
    "Hugging Face 1_Pooling/config.json": (member("bert", "1_Pooling/config.json"), "a FIFO (named pipe)"),
    "Hugging Face vocab.json": (gpt2_vocab, "a FIFO (named pipe)"),
    "Hugging Face shard": (shard, "a FIFO (named pipe)"),
}


@pytest.fixture(scope="module")
def folders(make_model_dir, tmp_path_factory, tokenizer_json, tokenizer_vocab_size) -> dict[str, Path]:
    hf = write_files(tmp_path_factory.mktemp("hf") / "m", hf_llama_files(tokenizer_json, tokenizer_vocab_size))
    return {"native": make_model_dir(name="special-files"), "hf": hf, "bert": sentence_encoder(tmp_path_factory)}


def sentence_encoder(tmp_path_factory) -> Path:
    """A bare BERT saved as sentence-transformers saves one: modules.json and 1_Pooling/config.json."""
    pytest.importorskip("transformers", reason="building a BERT folder needs transformers")
    from helpers import encoders

    folder = tmp_path_factory.mktemp("st") / "bert"
    shutil.copytree(encoders.built("bert", tmp_path_factory).bare, folder)
    (folder / "modules.json").write_text('[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.'
                                         'Transformer"}, {"idx": 1, "name": "1", "path": "1_Pooling", "type": '
                                         '"sentence_transformers.models.Pooling"}]')
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    return folder


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("case", list(CASES))
def test_a_special_file_is_refused_in_one_line(folders, short_tmp, case, how):
    make, kind = CASES[case]
    arg, special = make(short_tmp, folders)
    fifos = [p for p in short_tmp.rglob("*") if p.is_fifo()]
    with watchdog(fifos) as released:
        run = attn(how, ["predict", "I do", "-m", str(arg)])
    assert released == [], f"attn opened {released} and waited for a writer"
    msg = assert_one_error_line(run)
    assert run.code == ExitCode.ERROR and run.stdout == ""
    assert f"{special}: is {kind}, not a regular file" in msg, msg


def test_the_folders_load(folders):
    for folder in folders.values():
        run = attn("runner", ["info", "-m", str(folder)])
        assert run.code == 0, run.stderr
