"""Running `attn` the ways a user can: in-process, as the installed program, on a terminal.

Every CLI behaviour is checked twice (`HOWS`): in-process through Typer's CliRunner
(stdout, stderr and exit code kept apart) and as the installed `attn` entry point in a
subprocess. Each run starts without the colour and terminal switches a shell may set.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from attncli.cli import app

# Colour and terminal switches a developer's shell or CI may set; every run starts without them.
TERMINAL_ENV = ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CLICOLOR_FORCE", "COLUMNS", "ATTN_DEBUG")

HOWS = ("runner", "process")  # parametrize every CLI test over both


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


def run(*args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `attn ARGS` in-process: the short form for one-off runs."""
    r = attn("runner", list(args))
    return r.code, r.stdout, r.stderr


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


def attn_on_a_pty(args: list[str], env: dict[str, str], stream: str = "stdout") -> tuple[str, str, int]:
    """Run the installed attn with stdout (or, with stream="stderr", stderr) on a pseudo-terminal:
    a real terminal, not a forced one; the other goes to a pipe. Returns (stdout, stderr, exit code)."""
    import threading

    master, slave = os.openpty()
    full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE")}
    full_env.update({"TERM": "xterm-256color", "COLUMNS": "150", **env})
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, stream: slave}
    proc = subprocess.Popen([attn_executable(), *args], **streams, stdin=subprocess.DEVNULL, env=full_env)
    os.close(slave)
    piped = proc.stderr if stream == "stdout" else proc.stdout
    assert piped is not None
    rest: list[bytes] = []
    reader = threading.Thread(target=lambda: rest.append(piped.read()))  # a full pipe must not block the child
    reader.start()
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    reader.join(timeout=60)
    piped.close()
    code = proc.wait(timeout=60)
    terminal, other = b"".join(chunks).decode(), b"".join(rest).decode()
    return (terminal, other, code) if stream == "stdout" else (other, terminal, code)


# ---- what every run must honour --------------------------------------------------------------

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
