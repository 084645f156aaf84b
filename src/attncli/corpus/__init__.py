"""The texts `attn heads` counts: a file with one text per line (blank lines skipped), stdin, or the
built-in corpus.

The built-in corpus, simple_english.txt, is 194 plain English sentences written for attncli by its
authors (everyday scenes in the words of children's stories, so that the bundled model, trained on
TinyStories, knows nearly all of them); it is part of attncli and under its MIT license.

A file is read twice, a line at a time, never whole: once to check that it is UTF-8 and to count its
texts (the progress bar's total), then while it is counted. stdin is read once, as it comes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import BinaryIO

from ..errors import UsageError

BUILTIN = "simple_english.txt"
BUILTIN_SOURCE = ("attncli's built-in corpus: 194 plain English sentences written for attncli by its authors "
                  "(MIT license, as attncli)")


@dataclass
class Corpus:
    name: str  # what the output calls it: a path, "stdin", or "built-in"
    path: Path | None  # a file read line by line; None for stdin
    total: int | None  # its texts, when known before counting (a file, the built-in corpus)

    def texts(self) -> Iterator[tuple[int, str]]:
        """(index, text) of every text, in order."""
        if self.path is None:
            import sys

            yield from _texts(sys.stdin.buffer, self.name)
            return
        with _open(self.path, self.name) as f:
            yield from _texts(f, self.name)


def _open(path: Path, name: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise UsageError(f"{name}: no such file; give a text file with one text per line, '-' for stdin, "
                         "or nothing for the built-in corpus") from None
    except IsADirectoryError:
        raise UsageError(f"{name} is a folder; give a text file with one text per line") from None
    except PermissionError:
        raise UsageError(f"{name}: no permission to read it; give a corpus you can read") from None
    except OSError as e:
        raise UsageError(f"{name}: cannot read it ({e.strerror or e})") from None


def _texts(stream: BinaryIO, name: str) -> Iterator[tuple[int, str]]:
    index = 0
    for n, raw in enumerate(stream, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise UsageError(f"{name}: line {n} is not UTF-8 (byte {e.start + 1} of the line is 0x{raw[e.start]:02x}); "
                             "convert the corpus, e.g. with iconv -t UTF-8") from None
        if n == 1:
            line = line.lstrip("\ufeff")
        text = line.rstrip("\r\n")
        if text.strip():
            yield index, text
            index += 1


def builtin_path() -> Path:
    return Path(str(resources.files(__package__).joinpath(BUILTIN)))


def open_corpus(spec: str | None) -> Corpus:
    """The corpus a command line names, checked: a file's every line is UTF-8 and it has some text."""
    if spec == "-":
        return Corpus("stdin", None, None)
    path = builtin_path() if spec is None else Path(spec).expanduser()
    name = "built-in" if spec is None else spec
    corpus = Corpus(name, path, None)
    if path.is_file() or spec is None:
        corpus.total = sum(1 for _ in corpus.texts())
    else:
        with _open(path, name):  # a missing file or a folder says so; a FIFO or a device is read once, as it comes
            pass
    if corpus.total == 0:
        raise UsageError(f"{name}: the corpus has no text (every line is blank); give one text per line")
    return corpus
