"""The real `attn view` on a real terminal: the installed program started in tmux at 80 × 24,
keys sent as a user types them, the screen read back with capture-pane. Each test runs its own
tmux server (a socket in its tmp_path) and stops only that server."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from helpers.run_cli import TERMINAL_ENV, attn_executable
from helpers.view_helpers import overflow_final_norm

TMUX = shutil.which("tmux") or ("/usr/bin/tmux" if os.path.exists("/usr/bin/tmux") else None)
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")

TEXT = "I do not like spinach"


class Terminal:
    """One tmux server with one 80 × 24 window running a shell command."""

    def __init__(self, socket: Path, command: str, env: dict[str, str] | None = None,
                 size: tuple[int, int] = (80, 24)) -> None:
        self.socket = str(socket)
        penv = {k: v for k, v in os.environ.items() if k not in TERMINAL_ENV and k != "TMUX"}
        penv.update({"TERM": "xterm-256color", **(env or {})})
        # the command's exit code is printed when it ends, and the window stays to be read
        shell = f"{command}; code=$?; echo; echo \"exit code $code\"; sleep 600"
        self._tmux("new-session", "-d", "-x", str(size[0]), "-y", str(size[1]), "sh", "-c", shell, env=penv)

    def _tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        return subprocess.run([TMUX, "-S", self.socket, *args], capture_output=True, text=True, check=True,
                              env=env, timeout=30).stdout

    def screen(self, escapes: bool = False) -> str:
        return self._tmux("capture-pane", "-p", "-J", *(["-e"] if escapes else []))  # -J: wrapped lines joined

    def keys(self, *keys: str) -> None:
        for key in keys:
            self._tmux("send-keys", key)
            time.sleep(0.15)

    def wait_for(self, *texts: str, timeout: float = 30.0) -> str:
        """The screen once every one of `texts` is on it at the same time (a frame can be caught half drawn)."""
        end = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if all(text in shown for text in texts):
                return shown
            if time.monotonic() > end:
                raise AssertionError(f"{texts!r} did not all appear on the screen:\n{shown}")
            time.sleep(0.1)

    def close(self) -> None:
        subprocess.run([TMUX, "-S", self.socket, "kill-server"], capture_output=True, timeout=30)


@pytest.fixture
def terminal(tmp_path):
    opened: list[Terminal] = []

    def start(args: list[str], env: dict[str, str] | None = None, before: str = "", after: str = "") -> Terminal:
        """attn ARGS in a new terminal; `before` and `after` are shell text around it (a pipe, a redirect)."""
        command = f"{before}{shlex.join([attn_executable(), *args])}{after}"
        t = Terminal(tmp_path / f"tmux{len(opened)}", command, env)
        opened.append(t)
        return t

    yield start
    for t in opened:
        t.close()


def test_keys_move_the_view_and_q_quits(terminal):
    t = terminal(["view", TEXT])
    shown = t.wait_for('query 5 "##ach"', "layer 1 · head 3", "i do not like spin ##ach", "←→ query")
    assert "layer 1 · head 3" in shown and "i do not like spin ##ach" in shown
    assert shown.splitlines()[-1].strip().startswith("←→ query")  # the keys' line is the last of 24
    t.keys("Left")
    assert "▶ 4 spin" in t.wait_for('query 4 "spin"', "▶ 4 spin")
    t.keys("Up")
    t.wait_for("layer 0 · head 3")
    t.keys("]")  # after the last head, the mean of heads
    t.wait_for("layer 0 · mean of heads")
    t.keys("[")
    t.wait_for("layer 0 · head 3")
    t.keys("m")
    t.wait_for("layer 0 · mean of heads")
    t.keys("p")
    assert "' again'" in t.wait_for("next token after 'i do not", "' again'")  # the bundled model's likeliest
    t.keys("?")
    t.wait_for("attn view: keys")
    t.keys("Escape")
    t.wait_for("next token after")
    t.keys("q")
    shown = t.wait_for("exit code")
    assert "exit code 0" in shown and "layer 0" not in shown  # the terminal is given back as it was


def test_without_color_the_screen_has_no_color(terminal):
    t = terminal(["view", TEXT, "--token", "not"], env={"NO_COLOR": "1"})
    t.wait_for('query 2 "not"', "i do not like spin ##ach")
    raw = t.screen(escapes=True)
    sgr = re.findall(r"\x1b\[([0-9;]*)m", raw)
    assert sgr, "tmux reports the attributes it shows"
    colored = [s for s in sgr if re.search(r"(^|;)(3[0-8]|4[0-8]|9[0-7]|10[0-7])(;|$)", s)]
    assert not colored, colored[:5]  # 39 and 49, the default colors, are no color
    strip_heat = t.screen().splitlines()[3]  # under "i do not like spin ##ach": the shades of "not"'s weights
    assert set(strip_heat.strip("│ ")) <= set(" ░▒▓█·"), strip_heat
    assert "·" in strip_heat  # the keys after "not" are masked, and say so without color
    t.keys("q")
    assert "exit code 0" in t.wait_for("exit code")


def test_stepping_through_a_generation(terminal):
    t = terminal(["view", TEXT, "-g", "3"])
    t.wait_for("step 1/3")
    t.keys("n")
    shown = t.wait_for("step 2/3", 'query 6 "."', "step 2 of 3 · greedy")
    assert 'query 6 "."' in shown and "step 2 of 3 · greedy" in shown
    t.keys("q")
    assert "exit code 0" in t.wait_for("exit code")


def test_a_wrong_option_is_one_line_on_the_terminal(terminal):
    t = terminal(["view", TEXT, "--layer", "9"])
    shown = t.wait_for("exit code")
    assert "exit code 2" in shown
    lines = [line for line in shown.splitlines() if line.strip() and "exit code" not in line]
    assert lines == ["attn: error: --layer 9 is out of range: this model has 2 layers (0 to 1)"]


def test_text_piped_in_and_keys_from_the_terminal(terminal):
    t = terminal(["view"], before=f"echo {shlex.quote(TEXT)} | ")
    t.wait_for('query 5 "##ach"')
    t.keys("Home")
    t.wait_for('query 0 "i"')
    t.keys("q")
    assert "exit code 0" in t.wait_for("exit code")


def test_stdout_redirected_is_refused_in_one_line(terminal, tmp_path):
    t = terminal(["view", TEXT], after=f" > {shlex.quote(str(tmp_path / 'out.txt'))}")
    shown = t.wait_for("exit code")
    assert "exit code 2" in shown
    lines = [line for line in shown.splitlines() if line.strip() and "exit code" not in line]
    assert len(lines) == 1 and "stdout is not one" in lines[0] and "attn explain" in lines[0], lines
    assert (tmp_path / "out.txt").read_text() == ""


def test_a_failed_analysis_stays_in_its_panel_and_q_still_quits(terminal, make_model_dir):
    model = overflow_final_norm(make_model_dir(seed=7, name="overflowing"))  # its logits overflow float32
    t = terminal(["view", TEXT, "-m", str(model)])
    t.wait_for("layer", "entropy")
    t.keys("p")  # the next-token predictions: the logits overflow, so the page cannot be drawn
    shown = t.wait_for("predictions", "overflow", "another page")
    assert "Traceback" not in shown and "locals" not in shown and "▶" in shown  # the heatmap is drawn as ever
    t.keys("p")
    t.wait_for("lens")
    t.keys("q")
    shown = t.wait_for("exit code")
    assert "exit code 0" in shown and "Traceback" not in shown


def test_no_text_at_a_terminal_says_how_to_give_one_to_view(terminal):
    t = terminal(["view"])
    shown = t.wait_for("exit code")
    assert "exit code 2" in shown
    lines = [line for line in shown.splitlines() if line.strip() and "exit code" not in line]
    assert len(lines) == 1 and "| attn view" in lines[0] and "attn explain" not in lines[0], lines


def test_when_the_app_cannot_go_on_the_terminal_gets_one_line_and_a_non_zero_code(terminal, tmp_path):
    # the first frame's timings (for the benchmarks) cannot be written: the app stops, outside any panel
    t = terminal(["view", TEXT], env={"ATTN_VIEW_TIMINGS": str(tmp_path / "missing" / "timings.json")})
    shown = t.wait_for("exit code")
    assert "exit code 1" in shown and "Traceback" not in shown
    lines = [line for line in shown.splitlines() if line.strip() and "exit code" not in line]
    assert len(lines) == 1 and lines[0].startswith("attn: error: attn view stopped: internal error: FileNotFoundError")
