"""Typed errors: the core raises these with a message that says how to fix the problem;
only the CLI turns them into one stderr line and an exit code."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """The documented exit statuses of `attn`."""

    OK = 0
    ERROR = 1  # the model, its files, or the run failed
    USAGE = 2  # the command line or the input text is wrong
    HANGUP = 129  # SIGHUP (the terminal closed) stopped it: 128 + 1, as shells report a signal
    INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT's 2
    TERMINATED = 143  # SIGTERM (kill, docker stop): 128 + 15


class AttnError(Exception):
    """Base of every error attncli reports to a user."""

    exit_code: ExitCode = ExitCode.ERROR


class UsageError(AttnError):
    """A bad option value or bad input text (empty, too long, not UTF-8)."""

    exit_code = ExitCode.USAGE


class ModelError(AttnError):
    """A model directory or file that cannot be used: missing, corrupt, wrong shape, NaN."""


class TrainingError(AttnError):
    """Training could not go on (NaN loss, corpus too small, output exists)."""


class OutputError(AttnError):
    """stdout could not be written (a full disk, a device error); a closed pipe is not one."""


class MissingExtraError(AttnError):
    """An optional feature whose extra is not installed (e.g. matplotlib for --save)."""


class WriteError(AttnError):
    """A file could not be written (a full disk, a read-only folder); the previous file is kept."""


class Interrupted(AttnError):
    """Ctrl-C: the message starts with "interrupted" and says what was kept or written.

    `line_is_clear` says a progress display was redrawn after the Ctrl-C, so the terminal's
    echoed ^C is gone and the message needs no newline before it.
    """

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, message: str = "interrupted", line_is_clear: bool = False) -> None:
        super().__init__(message)
        self.line_is_clear = line_is_clear

    def by(self, signum: int) -> "Interrupted":
        """The same interruption, asked for by another signal than Ctrl-C's (SIGTERM, SIGHUP): its
        name in the message, and the status shells give it, 128 + its number."""
        import signal

        e = Interrupted(f"interrupted by {signal.Signals(signum).name}{str(self).removeprefix('interrupted')}",
                        self.line_is_clear)
        e.exit_code = ExitCode(128 + signum)
        return e
