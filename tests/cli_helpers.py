"""Shared by the CLI tests: run `attn` two ways, a naive GPT-2 forward, a model whose answers are known.

Every CLI behaviour is checked twice: in-process through Typer's CliRunner (stdout, stderr
and exit code kept apart) and as the installed `attn` entry point in a subprocess. The
reference numbers come from `naive_forward`, a loop-per-position GPT-2 written from the
paper's description and reading model.safetensors itself, so it shares no code with attncli.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from attncli.cli import app

# Colour and terminal switches a developer's shell or CI may set; every run starts without them.
TERMINAL_ENV = ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CLICOLOR_FORCE", "COLUMNS", "ATTN_DEBUG")

HOWS = ("runner", "process")  # parametrize every CLI test over both

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# An SGR sequence that sets a colour: 30-37/90-97 fg, 40-47/100-107 bg, 38;.. / 48;.. extended.
COLOR_SGR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|4[0-8]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")


def attn_executable() -> str:
    """The venv's installed `attn` entry point (next to this interpreter, else on PATH)."""
    here = Path(sys.executable).parent / "attn"
    found = str(here) if here.is_file() else shutil.which("attn")
    assert found, "the attn entry point is not installed; pip install -e . in the venv"
    return found


@dataclass
class Run:
    stdout: str
    stderr: str
    code: int
    how: str

    def json(self) -> Any:
        return strict_json(self.stdout)

    def json_lines(self) -> list[Any]:
        return [strict_json(line) for line in self.stdout.splitlines() if line.strip()]


def _env(overrides: dict[str, str | None] | None) -> dict[str, str | None]:
    env: dict[str, str | None] = {k: None for k in TERMINAL_ENV}
    env.update(overrides or {})
    return env


def attn(how: str, args: list[str | bytes], input: bytes | str | None = None, env: dict[str, str | None] | None = None) -> Run:
    """Run `attn args...` in-process (how="runner") or as the installed program (how="process")."""
    env = _env(env)
    if how == "runner":
        str_args = [a.decode("utf-8", "surrogateescape") if isinstance(a, bytes) else a for a in args]
        res = CliRunner().invoke(app, str_args, input=input, env=env)
        # CliRunner turns an exception that escaped the app into exit code 1; the app must not let one out.
        assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
        return Run(res.stdout, res.stderr, res.exit_code, how)
    penv = {k: v for k, v in os.environ.items()}
    for k, v in env.items():
        if v is None:
            penv.pop(k, None)
        else:
            penv[k] = v
    data = input.encode("utf-8") if isinstance(input, str) else input
    argv = [attn_executable().encode(), *[a if isinstance(a, bytes) else a.encode("utf-8") for a in args]]
    proc = subprocess.run(argv, input=data if data is not None else b"", capture_output=True, env=penv, timeout=60)
    return Run(proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8"), proc.returncode, how)


@dataclass
class Call:
    """One invocation of attn: its arguments, stdin and environment changes."""

    args: list
    input: bytes | str | None = None
    env: dict[str, str | None] | None = None


def attn_all(how: str, calls: dict[str, Call]) -> dict[str, Run]:
    """Run many invocations; the installed program's run side by side, since each is a whole process."""
    if how == "runner":  # CliRunner swaps sys.stdout: one at a time
        return {name: attn(how, c.args, c.input, c.env) for name, c in calls.items()}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = {name: pool.submit(attn, how, c.args, c.input, c.env) for name, c in calls.items()}
        return {name: f.result() for name, f in futures.items()}


def ok(run: Run) -> Run:
    """A successful run: exit 0 and nothing on stderr."""
    assert run.code == 0, (run.how, run.stderr)
    assert run.stderr == "", (run.how, run.stderr)
    return run


def strict_json(text: str) -> Any:
    """json.loads that refuses NaN and Infinity, as the output promises never to hold them."""

    def refuse(name: str) -> Any:
        raise AssertionError(f"non-finite number {name} in JSON output")

    return json.loads(text, parse_constant=refuse)


def assert_one_error_line(run: Run) -> str:
    """The error contract: one stderr line 'attn: error: ...', no traceback. Returns the message."""
    assert "Traceback" not in run.stderr, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {lines!r}"
    assert lines[0].startswith("attn: error: "), lines[0]
    assert run.stderr.endswith("\n")
    return lines[0][len("attn: error: "):]


def schema() -> dict[str, Any]:
    import attncli

    path = Path(attncli.__file__).parent / "schemas" / "output.schema.json"
    return json.loads(path.read_text(encoding="utf-8"))


def validate(doc: Any) -> None:
    from jsonschema import Draft202012Validator

    Draft202012Validator(schema()).validate(doc)


# ---- a naive GPT-2 reference -----------------------------------------------------------------

def read_model(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """config.json's hyperparameters and the float64 tensors of model.safetensors, read directly."""
    from safetensors.numpy import load_file

    hp = json.loads((path / "config.json").read_text(encoding="utf-8"))["model"]
    tensors = {k: v.astype(np.float64) for k, v in load_file(str(path / "model.safetensors")).items()}
    return hp, tensors


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = sum(x) / len(x)
    var = sum((xi - mu) ** 2 for xi in x) / len(x)
    return (x - mu) / math.sqrt(var + eps) * w + b


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


@dataclass
class Reference:
    logits: np.ndarray  # [T, V]
    scores: list[np.ndarray]  # per layer [H, T, T], NaN where masked
    weights: list[np.ndarray]  # per layer [H, T, T], NaN where masked
    z: list[np.ndarray]  # per layer [H, T, dh]
    attn_out: list[np.ndarray]  # per layer [T, d]


def naive_forward(path: Path, ids: list[int]) -> Reference:
    """GPT-2, one position and one head at a time, in float64 (learned positions, tied unembedding)."""
    hp, P = read_model(path)
    d, H, eps = hp["d_model"], hp["n_head"], hp["norm_eps"]
    dh = d // H
    T = len(ids)
    x = [P["embed.W_E"][i] + P["pos_embed.W_pos"][t] for t, i in enumerate(ids)]
    ref = Reference(np.zeros(0), [], [], [], [])
    for L in range(hp["n_layer"]):
        p = lambda n: P[f"blocks.{L}.{n}"]  # noqa: E731
        h = [_layer_norm(xt, p("ln1.w"), p("ln1.b"), eps) for xt in x]
        q = [ht @ p("attn.W_Q") + p("attn.b_Q") for ht in h]
        k = [ht @ p("attn.W_K") + p("attn.b_K") for ht in h]
        v = [ht @ p("attn.W_V") + p("attn.b_V") for ht in h]
        S = np.full((H, T, T), np.nan)
        W = np.full((H, T, T), np.nan)
        Z = np.zeros((H, T, dh))
        for hd in range(H):
            sl = slice(hd * dh, (hd + 1) * dh)
            for i in range(T):
                row = [float(np.dot(q[i][sl], k[j][sl])) / math.sqrt(dh) for j in range(i + 1)]  # keys 0..i only
                top = max(row)
                e = [math.exp(s - top) for s in row]
                for j in range(i + 1):
                    S[hd, i, j] = row[j]
                    W[hd, i, j] = e[j] / sum(e)
                    Z[hd, i] += W[hd, i, j] * v[j][sl]
        out = [np.concatenate([Z[hd, t] for hd in range(H)]) @ p("attn.W_O") + p("attn.b_O") for t in range(T)]
        x = [xt + ot for xt, ot in zip(x, out)]
        h2 = [_layer_norm(xt, p("ln2.w"), p("ln2.b"), eps) for xt in x]
        x = [xt + _gelu_tanh(ht @ p("mlp.W_in") + p("mlp.b_in")) @ p("mlp.W_out") + p("mlp.b_out") for xt, ht in zip(x, h2)]
        ref.scores.append(S)
        ref.weights.append(W)
        ref.z.append(Z)
        ref.attn_out.append(np.array(out))
    ref.logits = np.array([_layer_norm(xt, P["ln_final.w"], P["ln_final.b"], eps) @ P["embed.W_E"].T for xt in x])
    return ref


def softmax64(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def hf_encode(path: Path, text: str) -> tuple[list[int], list[str]]:
    """The ids and token strings of the model's own tokenizer.json, through `tokenizers` directly."""
    from tokenizers import Tokenizer

    enc = Tokenizer.from_file(str(path / "tokenizer.json")).encode(text, add_special_tokens=False)
    return list(enc.ids), list(enc.tokens)


def hf_decode(path: Path, ids: list[int]) -> str:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path / "tokenizer.json")).decode(ids, skip_special_tokens=False)


# ---- a model whose every answer is known -----------------------------------------------------

SQRT8 = math.sqrt(8)


@dataclass
class Known:
    """What the known model must show, worked out by hand from how its weights are set."""

    path: Path
    n_ctx: int
    target: int  # the id that gets nearly all probability (" like")
    runner_up: int  # the next (" not")
    logits: np.ndarray  # [V] the same at every position
    scores: dict[tuple[int, int], float]  # (layer, head) -> the one score every visible cell has
    z_rows: dict[int, np.ndarray]  # head -> the contextual vector every token gets
    attn_out: dict[int, np.ndarray]  # layer -> every token's attn.out (the 'mean' view's vectors)


def make_known_model(path: Path, tokenizer_json: str, n_ctx: int = 16, card: dict | None = None) -> Known:
    """A 2-layer, 2-head, d_model 16 GPT-2 with weights set so the answers are known.

    - W_Q = W_K = W_V = 0: q, k, v are their biases, the same for every token, so each score
      of a (layer, head) is b_Q.b_K/sqrt(8) and each row of weights is uniform: 1/(q+1).
    - each head's output (its contextual vector) is then its slice of b_V; attn.out is b_O.
    - W_in = 0, b_in = 0: the MLP adds gelu(0) @ W_out = 0.
    - ln_final.w = 0, ln_final.b = 40*e0: every position's logits are 40 * W_E[:, 0], and only
      " like" (1.0) and " not" (0.9) have a non-zero W_E[:, 0].
    """
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tokenizer_json)
    V = tok.get_vocab_size(with_added_tokens=True)
    target, runner_up = tok.token_to_id("Ġlike"), tok.token_to_id("Ġnot")
    d, H, dh, m = 16, 2, 8, 64
    rng = np.random.default_rng(7)
    W_E = 0.3 * rng.standard_normal((V, d))
    W_E[:, 0] = 0.0
    W_E[target, 0], W_E[runner_up, 0] = 1.0, 0.9
    t: dict[str, np.ndarray] = {"embed.W_E": W_E, "pos_embed.W_pos": 0.3 * rng.standard_normal((n_ctx, d))}
    b_Q = {0: np.r_[np.full(dh, 2.0), np.full(dh, 1.0)], 1: np.r_[np.full(dh, -1.0), np.full(dh, 0.25)]}
    b_K = {0: np.full(d, 0.5), 1: np.full(d, 1.0)}
    b_V = 0.1 * np.arange(d)
    b_O = {0: 0.05 * np.arange(d) - 0.3, 1: np.linspace(1.0, -1.0, d)}
    for L in range(2):
        b = f"blocks.{L}"
        t.update({
            f"{b}.ln1.w": np.ones(d), f"{b}.ln1.b": np.zeros(d),
            f"{b}.attn.W_Q": np.zeros((d, d)), f"{b}.attn.W_K": np.zeros((d, d)), f"{b}.attn.W_V": np.zeros((d, d)),
            f"{b}.attn.W_O": np.zeros((d, d)),
            f"{b}.attn.b_Q": b_Q[L], f"{b}.attn.b_K": b_K[L], f"{b}.attn.b_V": b_V, f"{b}.attn.b_O": b_O[L],
            f"{b}.ln2.w": np.ones(d), f"{b}.ln2.b": np.zeros(d),
            f"{b}.mlp.W_in": np.zeros((d, m)), f"{b}.mlp.b_in": np.zeros(m),
            f"{b}.mlp.W_out": rng.standard_normal((m, d)), f"{b}.mlp.b_out": np.zeros(d),
        })
    b_f = np.zeros(d)
    b_f[0] = 40.0
    t.update({"ln_final.w": np.zeros(d), "ln_final.b": b_f})
    path.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in t.items()}, str(path / "model.safetensors"))
    config = {
        "format_version": 1,
        "name": "known",
        "dtype": "float32",
        "model": {"vocab_size": V, "n_layer": 2, "n_head": H, "d_model": d, "n_ctx": n_ctx, "d_mlp": m,
                  "architecture": "gpt2"},
        "card": card if card is not None else {"description": "weights set by hand for tests"},
    }
    (path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (path / "tokenizer.json").write_text(tokenizer_json, encoding="utf-8")
    scores = {(L, hd): float(b_Q[L][hd * dh:(hd + 1) * dh] @ b_K[L][hd * dh:(hd + 1) * dh]) / SQRT8
              for L in range(2) for hd in range(H)}
    return Known(path=path, n_ctx=n_ctx, target=target, runner_up=runner_up,
                 logits=40.0 * W_E[:, 0].astype(np.float32).astype(np.float64), scores=scores,
                 z_rows={hd: b_V[hd * dh:(hd + 1) * dh] for hd in range(H)}, attn_out=b_O)


# ---- reading the Rich tables back ------------------------------------------------------------

def attention_rows(stdout: str) -> list[list[str]]:
    """The body cells of the attention table, one list per query row, first cell the row label."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Attention "))
    rows = []
    in_body = False
    for line in lines[start + 1:]:
        if line.startswith("┡"):
            in_body = True
            continue
        if line.startswith("└"):
            break
        if in_body and line.startswith("│"):
            rows.append([c.strip() for c in line.strip("│").split("│")])
    return rows


def table_lines_after(stdout: str, title_start: str) -> list[str]:
    lines = stdout.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(title_start))
    return lines[i:]


# ---- fixtures (import the ones a test file uses) ---------------------------------------------


@pytest.fixture(scope="session")
def known(tmp_path_factory, tokenizer_json) -> Known:
    """The hand-set model of make_known_model, context 16."""
    return make_known_model(tmp_path_factory.mktemp("known"), tokenizer_json)
