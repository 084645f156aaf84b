"""A config that states absurd sizes (a billion layers, a billion heads, a billion-wide model, context or
vocabulary) is refused in one line, in every loader, before anything is built per layer or allocated:
the sizes are checked against the tensors the file actually holds.

Each case is a model that loads, with one size of its config.json (or GGUF metadata) made absurd. Every
load runs under a memory limit (RLIMIT_AS), in a forked child or a subprocess, so a loader that starts
building a billion layers fails the test instead of eating the machine.
"""

from __future__ import annotations

import json
import os
import resource
import select
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch", reason="building the family models needs torch (pip install torch==2.13.0)")
pytest.importorskip("transformers", reason="building the family models needs transformers")
pytest.importorskip("gguf", reason="writing test GGUF files needs the gguf package")

from safetensors.numpy import load_file, save_file  # noqa: E402

from attncli.errors import ExitCode  # noqa: E402
from helpers import encoders, families  # noqa: E402
from helpers.gguf_files import rewrite_gguf  # noqa: E402
from helpers.run_cli import HOWS, Run, assert_one_error_line, attn, attn_executable  # noqa: E402

ABSURD = 10**9
HEADROOM = 1536 << 20  # bytes a load may take beyond what the process has mapped already: ample for these models

# loader -> the size keys of its config.json (or GGUF metadata, after the architecture's prefix)
NATIVE = ("n_layer", "d_model", "n_head", "n_kv_head", "d_head", "d_mlp", "vocab_size", "n_ctx")
GPT2 = ("n_layer", "n_embd", "n_head", "n_inner", "vocab_size", "n_positions")
LLAMA = ("num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim",
         "intermediate_size", "vocab_size", "max_position_embeddings")
BERT = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size", "vocab_size",
        "max_position_embeddings", "type_vocab_size")
DISTILBERT = ("n_layers", "dim", "n_heads", "hidden_dim", "vocab_size", "max_position_embeddings")
GGUF = ("block_count", "embedding_length", "attention.head_count", "attention.head_count_kv", "attention.key_length",
        "feed_forward_length", "context_length", "rope.dimension_count")

LOADERS: dict[str, tuple[str, ...]] = {
    "attncli": NATIVE, "gpt2": GPT2,
    **{f"hf-{name}": LLAMA for name in ("llama", "mistral", "qwen2", "qwen3", "gemma3_text", "gemma3", "phi3")},
    "bert": BERT, "roberta": BERT, "xlm-roberta": BERT, "distilbert": DISTILBERT,
    **{f"gguf-{arch}": GGUF for arch in ("llama", "qwen2", "qwen3", "gemma3", "phi3")},
}
LAYERS = {loader: fields[0] for loader, fields in LOADERS.items()}  # each list starts with its layer count
# A rotary model's context length bounds no tensor and sizes nothing attncli builds (transformers takes it as
# given too): a billion is stated, not refused. Every other size is checked against the file's tensors.
ROTARY_CONTEXT = {"max_position_embeddings", "context_length"}
CASES = [(loader, key) for loader, fields in LOADERS.items() for key in fields
         if not (key in ROTARY_CONTEXT and loader.startswith(("hf-", "gguf-")))]
ROTARY = [loader for loader in LOADERS if loader.startswith(("hf-", "gguf-"))]


# ---- the models that load -----------------------------------------------------------------------------

def multimodal(text_only: Path, folder: Path) -> Path:
    """A gemma3 folder as Gemma3ForConditionalGeneration saves it: text_config, tensors under the language model."""
    shutil.copytree(text_only, folder)
    text = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({"model_type": "gemma3", "text_config": text,
                                                    "vision_config": {"hidden_size": 8}}))
    tensors = load_file(str(folder / "model.safetensors"))
    moved = {"model.language_model." + k.removeprefix("model."): v for k, v in tensors.items()}
    moved["vision_tower.vision_model.encoder.layers.40.mlp.fc1.weight"] = np.zeros((8, 8), np.float32)
    save_file(moved, str(folder / "model.safetensors"))
    return folder


@pytest.fixture(scope="module")
def bases(tmp_path_factory, make_model_dir) -> dict[str, Path]:
    from helpers.gpt2 import make_gpt2

    root = tmp_path_factory.mktemp("bases")
    gpt2 = root / "gpt2"
    gpt2.mkdir()
    make_gpt2(gpt2)
    fam = {name: families.built(name, tmp_path_factory) for name in ("llama", "mistral", "qwen2", "qwen3", "gemma3",
                                                                      "phi3")}
    out = {"attncli": make_model_dir(name="absurd-base"), "gpt2": gpt2,
           **{f"hf-{n}": fam[n].paths["hf-f32"] for n in ("llama", "mistral", "qwen2", "qwen3", "phi3")},
           "hf-gemma3_text": fam["gemma3"].paths["hf-f32"],
           "hf-gemma3": multimodal(fam["gemma3"].paths["hf-f32"], root / "gemma3-mm"),
           **{name: encoders.built(name, tmp_path_factory).mlm for name in ("bert", "roberta", "xlm-roberta",
                                                                            "distilbert")},
           **{f"gguf-{n}": fam[n].paths["gguf-f32"] for n in ("llama", "qwen2", "qwen3", "gemma3", "phi3")}}
    assert set(out) == set(LOADERS)
    return out



def absurd(bases: dict[str, Path], loader: str, key: str, root: Path, value: int = ABSURD) -> Path:
    """The loader's model with `key` set to `value`, in a new file or folder under `root`."""
    base = bases[loader]
    if loader.startswith("gguf-"):
        arch = loader.removeprefix("gguf-")
        return rewrite_gguf(base, root / f"{loader}.gguf", {f"{arch}.{key}": value})
    folder = root / loader
    shutil.copytree(base, folder)
    doc = json.loads((folder / "config.json").read_text())
    target = doc["model"] if loader == "attncli" else doc["text_config"] if loader == "hf-gemma3" else doc
    target[key] = value
    (folder / "config.json").write_text(json.dumps(doc))
    return folder


# ---- running under a memory limit -----------------------------------------------------------------------

def mapped() -> int:
    """The bytes this process has mapped now (VmSize)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))


def in_child(fn: Callable[[], Any], timeout: float = 300) -> Any:
    """fn() in a forked child allowed HEADROOM more bytes than this process has mapped; its result
    comes back as JSON. A child that runs out of time is killed, and the test fails."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 0
        try:
            os.close(r)
            limit = mapped() + HEADROOM
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            data = json.dumps(fn()).encode()
        except BaseException as e:  # noqa: BLE001 - whatever it is, the parent reports it
            data = json.dumps({"child raised": f"{type(e).__name__}: {e}"}).encode()
            status = 1
        with os.fdopen(w, "wb") as out:
            out.write(data)
        os._exit(status)
    os.close(w)
    chunks = []
    with os.fdopen(r, "rb") as pipe:
        while True:
            ready, _, _ = select.select([pipe], [], [], timeout)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError(f"the child ran more than {timeout} s")
            chunk = os.read(pipe.fileno(), 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    os.waitpid(pid, 0)
    return json.loads(b"".join(chunks))


def limited_process(args: list[str]) -> Run:
    """The installed attn under RLIMIT_AS = HEADROOM: a whole process, as a user runs it."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (HEADROOM, HEADROOM))

    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "ATTN_DEBUG")}
    proc = subprocess.run([attn_executable(), *args], capture_output=True, env=env, timeout=300, preexec_fn=limit)
    return Run(proc.stdout.decode(), proc.stderr.decode(), proc.returncode, "process")


def limited_attn(how: str, args: list[str]) -> Run:
    if how == "process":
        return limited_process(args)
    got = in_child(lambda: vars(attn("runner", args)))
    assert "child raised" not in got, got
    return Run(**got)


def load_in_child(path: Path) -> dict[str, Any]:
    """{"error": type, "message": text} of load(path) in a forked, memory-limited child; {} if it loads."""
    def run() -> dict[str, Any]:
        from attncli.checkpoints import load
        from attncli.errors import AttnError

        try:
            load(path)
        except AttnError as e:
            return {"error": type(e).__name__, "message": str(e)}
        return {}

    return in_child(run)


# ---- the tests ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("loader", list(LOADERS))
def test_each_base_model_loads_under_the_limit(bases, loader):
    assert load_in_child(bases[loader]) == {}


@pytest.mark.parametrize("loader,key", CASES, ids=[f"{loader}-{key}" for loader, key in CASES])
def test_an_absurd_size_is_refused_in_one_line(bases, tmp_path, loader, key):
    path = absurd(bases, loader, key, tmp_path)
    got = load_in_child(path)
    assert got.get("error") == "ModelError", got
    msg = got["message"]
    assert "\n" not in msg and str(path) in msg, msg
    assert str(ABSURD) in msg, msg  # it names the value it refuses


@pytest.mark.parametrize("loader", ROTARY)
def test_a_billion_positions_of_a_rotary_model_builds_nothing(bases, tmp_path, loader):
    key = "context_length" if loader.startswith("gguf-") else "max_position_embeddings"
    path = absurd(bases, loader, key, tmp_path)
    run = limited_attn("process", ["predict", "I do not", "-m", str(path), "--json", "--top-k", "1"])
    assert run.code == 0 and run.stderr == "", run.stderr
    assert run.json()["model"]["context_length"] == ABSURD


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("loader", list(LOADERS))
def test_a_billion_layers_is_one_line_from_the_command(bases, tmp_path, loader, how):
    path = absurd(bases, loader, LAYERS[loader], tmp_path)
    run = limited_attn(how, ["info", "-m", str(path)])
    msg = assert_one_error_line(run)
    assert run.code == ExitCode.ERROR and run.stdout == "", (run.code, run.stdout)
    assert LAYERS[loader] in msg and str(ABSURD) in msg, msg
    assert "layer" in msg.replace(LAYERS[loader], ""), msg  # and says what the file holds
