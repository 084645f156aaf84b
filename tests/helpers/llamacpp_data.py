"""llama.cpp's tokenizer reference data, read from the llama-cpp-python sdist on PyPI (MIT).

The sdist vendors llama.cpp: `models/ggml-vocab-*.gguf` vocabularies, each with `.inp`
texts and the `.out` ids llama.cpp's tests/test-tokenizer-0 expects for them, and the
sources those ids come from (`src/llama-vocab.cpp`, `src/unicode-data.cpp`). It is fetched
once with pip into $ATTN_TEST_CACHE (default ~/.cache/attncli/test-data), checked against
the sha256 recorded here, and read straight from the tarball.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attncli.checkpoints.gguf.reader import read_header

SDIST_VERSION = "0.3.36"
SDIST_NAME = f"llama_cpp_python-{SDIST_VERSION}.tar.gz"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"  # as downloaded from PyPI
ROOT = f"llama_cpp_python-{SDIST_VERSION}/vendor/llama.cpp/"
SOURCES = ("src/llama-vocab.cpp", "src/unicode-data.cpp")
CASE_SEPARATOR = "\n__ggml_vocab_test__\n"  # tests/test-tokenizer-0.cpp


def cache_dir() -> Path:
    return Path(os.environ.get("ATTN_TEST_CACHE") or Path.home() / ".cache" / "attncli" / "test-data")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def _fetch() -> Path | str:
    """The sdist in the cache, downloaded with pip on first use, or why it cannot be had."""
    path = cache_dir() / SDIST_NAME
    if path.exists() and _sha256(path) != SDIST_SHA256:
        path.unlink()  # a partial or stale download: fetch it again
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               f"llama-cpp-python=={SDIST_VERSION}", "-d", str(path.parent)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"cannot fetch llama.cpp's tokenizer test data ({e}); run: {' '.join(cmd)}"
        if done.returncode or not path.exists():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return (f"cannot fetch llama.cpp's tokenizer test data with pip ({last}); "
                    f"put {SDIST_NAME} in {path.parent} or set ATTN_TEST_CACHE")
    return path


def sdist() -> Path:
    """The sdist, checked against SDIST_SHA256; skips the calling test when it cannot be fetched."""
    path = _fetch()
    if isinstance(path, str):
        pytest.skip(path)
    digest = _sha256(path)
    if digest != SDIST_SHA256:
        pytest.fail(f"{path} has sha256 {digest}, not the recorded {SDIST_SHA256}: the reference data is not what "
                    "these tests were written against; delete the file to fetch it again")
    return path


@functools.lru_cache(maxsize=1)
def files() -> dict[str, bytes]:
    """Path under llama.cpp/ -> content, for the vocab files and SOURCES: one pass over the tarball."""
    out = {}
    with tarfile.open(sdist(), "r:gz") as tar:
        for member in tar:
            name = member.name[len(ROOT):] if member.name.startswith(ROOT) else None
            if name and member.isfile() and (name.startswith("models/ggml-vocab-") or name in SOURCES):
                out[name] = tar.extractfile(member).read()
    return out


def vocab_names() -> list[str]:
    """The vocabularies the sdist ships: "gpt-2" for models/ggml-vocab-gpt-2.gguf, ..."""
    return sorted(n[len("models/ggml-vocab-"):-len(".gguf")] for n in files() if n.endswith(".gguf"))


def vocab(name: str) -> bytes:
    return files()[f"models/ggml-vocab-{name}.gguf"]


def source(name: str) -> str:
    return files()[name].decode("utf-8")


def cases(name: str) -> list[tuple[str, list[int]]] | None:
    """(text, expected ids) pairs as test-tokenizer-0.cpp reads them, or None if the vocab has none.

    It splits the .inp at CASE_SEPARATOR and takes one stripped .out line per case; it keeps
    the cases in a std::map, so a text given twice counts once, with its last ids.
    """
    inp = files().get(f"models/ggml-vocab-{name}.gguf.inp")
    out = files().get(f"models/ggml-vocab-{name}.gguf.out")
    if inp is None or out is None:
        return None
    raw = inp.decode("utf-8")
    texts = raw.split(CASE_SEPARATOR)
    if raw.endswith(CASE_SEPARATOR):
        texts.pop()  # the C++ loop stops at the end instead of reading an empty last case
    lines = out.decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # std::getline reads no line after the final newline
    if len(texts) != len(lines):
        raise AssertionError(f"ggml-vocab-{name}: {len(texts)} texts but {len(lines)} id lines")
    by_text = {t: [int(x) for x in line.split()] for t, line in zip(texts, lines)}
    return list(by_text.items())


# ---- what llama.cpp's sources say, for checking gguf_vocab's tables against them --------------

def _cpp_strings(block: str) -> list[str]:
    """The string literals of a C++ block, comment lines skipped, escapes undone."""
    out = []
    for line in block.splitlines():
        if line.strip().startswith("//"):
            continue
        for lit in re.findall(r'"((?:[^"\\]|\\.)*)"', line):
            out.append(re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(m.group(1), m.group(1)), lit))
    return out


def pre_types() -> dict[str, tuple[str, list[str], dict[str, bool]]]:
    """tokenizer.ggml.pre -> (LLAMA_VOCAB_PRE_TYPE_ name, regexes, flags) as src/llama-vocab.cpp sets them up.

    The regexes come from llm_tokenizer_bpe's switch over LLAMA_VOCAB_PRE_TYPE_*; the name ->
    type map and the flags from the `tokenizer_pre == "..."` chain in llama_vocab::impl::load.
    """
    src = source("src/llama-vocab.cpp")
    ctor = src.split("struct llm_tokenizer_bpe : llm_tokenizer {")[1].split("std::vector<std::string> regex_exprs;")[0]
    regexes = {}
    for labels, body in re.findall(r"((?:\s*(?:case LLAMA_VOCAB_PRE_TYPE_\w+|default):)+)(.*?)break;", ctor, re.DOTALL):
        exprs = _cpp_strings(body.split("regex_exprs = {")[1].split("};")[0])
        for kind, _ in re.findall(r"LLAMA_VOCAB_PRE_TYPE_(\w+)|(default)", labels):
            regexes[kind or "DEFAULT"] = exprs
    load = src.split("void llama_vocab::impl::load(")[1].split("} else if (type == LLAMA_VOCAB_TYPE_SPM)")[0]
    out = {}
    chain = r'((?:tokenizer_pre\s*==\s*"[^"]+"\s*\|\|\s*)*tokenizer_pre\s*==\s*"[^"]+")\s*\)\s*\{([^{}]*)\}'
    for cond, body in re.findall(chain, load):
        kind = re.search(r"pre_type = LLAMA_VOCAB_PRE_TYPE_(\w+);", body).group(1)
        flags = {"ignore_merges": "ignore_merges = true" in body, "add_bos": "add_bos = true" in body,
                 "no_bos": "special_bos_id = LLAMA_TOKEN_NULL" in body,
                 "spm_spaces": "escape_whitespaces = true" in body}
        for name in re.findall(r'"([^"]+)"', cond):
            out[name] = (kind, regexes[kind], flags)
    return out


def unicode_flags() -> tuple[np.ndarray, np.ndarray]:
    """Per codepoint: llama.cpp's category flags (unicode_cpt_flags) and its whitespace set."""
    src = source("src/unicode-data.cpp")
    body = src.split("unicode_ranges_flags = {")[1].split("};")[0]
    starts = [(int(a, 16), int(b, 16)) for a, b in re.findall(r"\{0x([0-9A-F]+), 0x([0-9A-F]+)\}", body)]
    flags = np.zeros(0x110000, dtype=np.uint16)
    for (start, f), (end, _) in itertools.pairwise(starts):
        flags[start:end] = f
    space = np.zeros(0x110000, dtype=bool)
    space[[int(x, 16) for x in re.findall(r"0x([0-9A-F]+)", src.split("unicode_set_whitespace = {")[1].split("};")[0])]] = True
    return flags, space


_metas: dict[str, dict[str, Any]] = {}


def meta_of(name: str) -> dict[str, Any]:
    """The metadata of the sdist's ggml-vocab-NAME.gguf (read once)."""
    if name not in _metas:
        _metas[name] = read_header(memoryview(vocab(name)), Path(f"ggml-vocab-{name}.gguf"))[0]
    return _metas[name]
