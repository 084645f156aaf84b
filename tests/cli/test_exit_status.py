"""Every error: its exit status (2 usage, 1 model or file), one stderr line, no traceback, empty stdout.

Each case runs as written and again with --json (errors still go to stderr; stdout stays
empty), in-process and as the installed program. --debug alone brings back the traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from helpers.known_models import edit_config, rewrite_tensors
from helpers.run_cli import HOWS, Call, Run, assert_one_error_line, attn_all

LONG = " ".join(["I do not like spinach"] * 4)  # over the known model's 16 tokens
USAGE, MODEL = 2, 1


@dataclass
class Case:
    args: list  # "{known}" and "{broken:NAME}" are filled in with model directories
    code: int
    says: tuple[str, ...] = ()  # what the message must mention
    input: bytes | None = None
    json: bool = True  # the command takes --json


CASES: dict[str, Case] = {
    # usage: the text
    "explain-empty": Case(["explain", "", "-m", "{known}"], USAGE, ("empty",)),
    "explain-whitespace": Case(["explain", "  \t ", "-m", "{known}"], USAGE, ("empty",)),
    "predict-empty": Case(["predict", "", "-m", "{known}"], USAGE, ("empty",)),
    "predict-whitespace": Case(["predict", "   ", "-m", "{known}"], USAGE, ("empty",)),
    "explain-too-long": Case(["explain", LONG, "-m", "{known}"], USAGE, ("16", "--truncate")),
    "predict-too-long": Case(["predict", LONG, "-m", "{known}"], USAGE, ("16", "--truncate")),
    "explain-argv-not-utf8": Case(["explain", b"caf\xe9 au lait", "-m", "{known}"], USAGE, ("UTF-8",)),
    "predict-argv-not-utf8": Case(["predict", b"\xff\xfe", "-m", "{known}"], USAGE, ("UTF-8",)),
    "predict-stdin-not-utf8": Case(["predict", "-m", "{known}"], USAGE, ("UTF-8", "line 1"), input=b"caf\xe9\n"),
    # usage: options
    "layer-too-high": Case(["explain", "hi", "-m", "{known}", "--layer", "2"], USAGE, ("--layer", "2 layers")),
    "layer-too-low": Case(["explain", "hi", "-m", "{known}", "--layer", "-3"], USAGE, ("--layer", "2 layers")),
    "layer-not-a-number": Case(["explain", "hi", "-m", "{known}", "--layer", "two"], USAGE, ("--layer",)),
    "head-too-high": Case(["explain", "hi", "-m", "{known}", "--head", "2"], USAGE, ("--head", "2 heads")),
    "head-too-low": Case(["explain", "hi", "-m", "{known}", "--head", "-3"], USAGE, ("--head", "2 heads")),
    "head-not-a-number": Case(["explain", "hi", "-m", "{known}", "--head", "x"], USAGE, ("--head", "mean")),
    "head-fraction": Case(["explain", "hi", "-m", "{known}", "--head", "1.5"], USAGE, ("--head",)),
    "explain-top-k-0": Case(["explain", "hi", "-m", "{known}", "--top-k", "0"], USAGE, ("--top-k",)),
    "predict-top-k-0": Case(["predict", "hi", "-m", "{known}", "--top-k", "0"], USAGE, ("--top-k",)),
    "dims-0": Case(["explain", "hi", "-m", "{known}", "--dims", "0"], USAGE, ("--dims",)),
    "generate-negative": Case(["predict", "hi", "-m", "{known}", "--generate", "-1"], USAGE, ("--generate",)),
    # the same mistake is worded the same way by predict and explain (not in Typer's range words)
    "temperature-negative": Case(["predict", "hi", "-m", "{known}", "-g", "2", "--temperature", "-1"], USAGE,
                                 ("--temperature must be 0 (greedy) or a positive number, got -1",)),
    "explain-temperature-negative": Case(["explain", "hi", "-m", "{known}", "--steps", "--temperature", "-1"], USAGE,
                                         ("--temperature must be a positive number, got -1",)),
    "temperature-nan": Case(["predict", "hi", "-m", "{known}", "-g", "2", "--temperature", "nan"], USAGE, ("--temperature", "positive number, got nan")),
    "temperature-inf": Case(["predict", "hi", "-m", "{known}", "-g", "2", "--temperature", "inf"], USAGE, ("--temperature", "positive number, got inf")),
    "bad-option": Case(["explain", "hi", "--bogus"], USAGE, ("--bogus",)),
    "unknown-command": Case(["frobnicate"], USAGE, ("frobnicate",), json=False),
    "missing-text": Case(["explain", "-m", "{known}"], USAGE, ("text",)),
    # model and files
    "no-such-model": Case(["explain", "hi", "-m", "{missing}"], MODEL, ("{missing}", "no such")),
    "model-is-a-file": Case(["predict", "hi", "-m", "{broken:file}/config.json"], MODEL, ("config.json",)),
    "no-config": Case(["explain", "hi", "-m", "{broken:no-config}"], MODEL, ("config.json", "missing")),
    "no-safetensors": Case(["explain", "hi", "-m", "{broken:no-safetensors}"], MODEL, ("model.safetensors", "missing")),
    "no-tokenizer": Case(["predict", "hi", "-m", "{broken:no-tokenizer}"], MODEL, ("tokenizer.json", "missing")),
    "truncated-safetensors": Case(["explain", "hi", "-m", "{broken:truncated}"], MODEL, ("model.safetensors",)),
    "truncated-header": Case(["explain", "hi", "-m", "{broken:truncated-header}"], MODEL, ("model.safetensors",)),
    "wrong-shape": Case(["explain", "hi", "-m", "{broken:wrong-shape}"], MODEL, ("blocks.0.attn.W_Q", "[16, 8]", "[16, 16]")),
    "nan-weights": Case(["predict", "hi", "-m", "{broken:nan}"], MODEL, ("blocks.1.mlp.W_out", "NaN")),
    "unknown-format-version": Case(["info", "-m", "{broken:format-99}"], MODEL, ("format_version", "99")),
    "no-format-version": Case(["info", "-m", "{broken:no-format}"], MODEL, ("format_version",)),
    "config-not-json": Case(["info", "-m", "{broken:config-not-json}"], MODEL, ("config.json", "JSON")),
    "tokenizer-corrupt": Case(["explain", "hi", "-m", "{broken:bad-tokenizer}"], MODEL, ("tokenizer.json",)),
}


def _nan(t):
    t["blocks.1.mlp.W_out"][0, 0] = np.nan


BREAK = {
    "file": lambda p: None,
    "no-config": lambda p: (p / "config.json").unlink(),
    "no-safetensors": lambda p: (p / "model.safetensors").unlink(),
    "no-tokenizer": lambda p: (p / "tokenizer.json").unlink(),
    "truncated": lambda p: (p / "model.safetensors").write_bytes((p / "model.safetensors").read_bytes()[: (p / "model.safetensors").stat().st_size // 2]),
    "truncated-header": lambda p: (p / "model.safetensors").write_bytes((p / "model.safetensors").read_bytes()[:5]),
    "wrong-shape": lambda p: rewrite_tensors(p, lambda t: t.update({"blocks.0.attn.W_Q": np.zeros((16, 8), np.float32)})),
    "nan": lambda p: rewrite_tensors(p, _nan),
    "format-99": lambda p: edit_config(p, lambda d: d.update(format_version=99)),
    "no-format": lambda p: edit_config(p, lambda d: d.pop("format_version")),
    "config-not-json": lambda p: (p / "config.json").write_text('{"format_version": 1, "model": '),
    "bad-tokenizer": lambda p: (p / "tokenizer.json").write_text('{"version": "1.0", "model": 42}'),
}


@pytest.fixture(scope="module")
def dirs(known, make_model_dir, tmp_path_factory) -> dict[str, str]:
    """{known}, {missing} and a freshly broken model directory for each {broken:NAME}."""
    out = {"known": str(known.path), "missing": str(tmp_path_factory.mktemp("gone") / "no-model-here")}
    for name, breaker in BREAK.items():
        path = make_model_dir(name=name)
        breaker(path)
        out[f"broken:{name}"] = str(path)
    return out


def fill(arg, dirs: dict[str, str]):
    if isinstance(arg, bytes):
        return arg
    for key, value in dirs.items():
        arg = arg.replace("{" + key + "}", value)
    return arg


# A whole process per case is slow: the installed program runs every case, and the --json
# variant of one case per kind of error (the text, stdin, option parsing, a view option, the
# loader); in-process runs cover the --json variant of every case.
PROCESS_JSON = {"explain-empty", "predict-stdin-not-utf8", "bad-option", "head-too-high", "wrong-shape"}


def case_calls(dirs, how: str) -> dict[str, Call]:
    calls = {}
    for name, case in CASES.items():
        args = [fill(a, dirs) for a in case.args]
        calls[name] = Call(args, input=case.input)
        if case.json and (how == "runner" or name in PROCESS_JSON):
            calls[f"{name} --json"] = Call([*args, "--json"], input=case.input)
    return calls


@pytest.fixture(scope="module")
def runs(dirs) -> dict[str, dict[str, Run]]:
    """how -> call name -> Run, for every call of case_calls."""
    return {how: attn_all(how, case_calls(dirs, how)) for how in HOWS}


def _ids() -> list:
    out = []
    for how in HOWS:
        for name, case in CASES.items():
            out.append(pytest.param(how, name, False, id=f"{how}-{name}"))
            if case.json and (how == "runner" or name in PROCESS_JSON):
                out.append(pytest.param(how, name, True, id=f"{how}-{name}-json"))
    return out


@pytest.mark.parametrize("how, name, as_json", _ids())
def test_error(runs, dirs, how, name, as_json):
    case = CASES[name]
    run = runs[how][f"{name} --json" if as_json else name]
    assert run.code == case.code, (run.how, run.stderr)
    message = assert_one_error_line(run)
    for needle in case.says:
        assert fill(needle, dirs) in message, message
    assert run.stdout == ""


@pytest.mark.parametrize("how", HOWS)
def test_usage_errors_point_to_help(runs, how):
    assert "--help" in assert_one_error_line(runs[how]["bad-option"])


@pytest.mark.parametrize("how", HOWS)
def test_debug_shows_the_traceback_for_a_model_error(dirs, how):
    path = dirs["broken:nan"]
    got = attn_all(how, {
        "after": Call(["predict", "hi", "-m", path, "--debug"]),
        "before": Call(["--debug", "predict", "hi", "-m", path]),
        "env": Call(["predict", "hi", "-m", path], env={"ATTN_DEBUG": "1"}),
    })
    for where, run in got.items():
        assert run.code == MODEL, (how, where)
        assert "Traceback (most recent call last)" in run.stderr, (how, where, run.stderr)
        assert "ModelError" in run.stderr
        last = run.stderr.splitlines()[-1]
        assert last.startswith("attn: error: ") and "blocks.1.mlp.W_out" in last
        assert run.stdout == ""
