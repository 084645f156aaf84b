"""Keep the examples true, README.md's and every docs page's: every code block that starts with
`$ attn ...` is a real run.

A block whose first line is a `$ ` command holds commands and, after each, its output. This
script runs every command (through bash, from a scratch folder, at 100 columns, without color)
and rewrites the outputs in place; with --check it only says which blocks differ (the test in
tests/cli/test_readme.py runs it so). A block preceded by the line `<!-- excerpt -->` shows only part
of its output and is left as written. A command whose program or model is missing is skipped,
saying why.

The files are README.md and docs/**/*.md (files() below); --file limits it to one of them.

Usage: python docs/readme_examples.py [--check] [--only SUBSTRING] [--file PATH]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
WIDTH = "100"
EXCERPT = "<!-- excerpt -->"


def blocks(text: str) -> list[tuple[int, int]]:
    """(first, last) line numbers of the fenced blocks whose first line is a `$ ` command, with no excerpt mark."""
    lines = text.split("\n")
    out, i = [], 0
    while i < len(lines):
        if lines[i].startswith("```"):
            j = i + 1
            while j < len(lines) and lines[j] != "```":
                j += 1
            if i + 1 < j and lines[i + 1].startswith("$ ") and (i == 0 or lines[i - 1].strip() != EXCERPT):
                out.append((i + 1, j))
            i = j + 1
        else:
            i += 1
    return out


def missing(command: str) -> str | None:
    """Why a command cannot run here, or None."""
    for prog in re.findall(r"(?:^|\|\s*)([a-z][\w-]*)", command):
        if shutil.which(prog) is None:
            return f"{prog} is not installed"
    m = re.search(r"-m\s+(\S+)", command)
    if m and not Path(m.group(1)).exists():
        from attncli import registry

        if m.group(1) in registry.KNOWN and not registry.is_pulled(registry.KNOWN[m.group(1)]):
            return f"model {m.group(1)} is not pulled (attn models pull {m.group(1)})"
    return None


def files() -> list[Path]:
    """README.md, then every Markdown page of the docs, in a stable order."""
    return [README, *sorted((ROOT / "docs").rglob("*.md"))]


def run(command: str, cwd: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "ATTN_DEBUG")}
    env.update(COLUMNS=WIDTH, OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run(["bash", "-c", command], check=False, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)
    out = (proc.stderr + proc.stdout) if proc.stderr.startswith("attn: wrote") else proc.stdout
    return "\n".join(line.rstrip() for line in out.rstrip("\n").split("\n"))


def update(path: Path, cwd: str, only: str = "") -> tuple[str, list[str], list[str]]:
    """The file's text with every example's output as the command prints it now, the blocks that
    differed (by their first command) and those skipped (saying why)."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    differ, skipped = [], []
    for first, last in reversed(blocks(text)):
        body = lines[first:last]
        commands = [(k, ln[2:]) for k, ln in enumerate(body) if ln.startswith("$ ")]
        if only and not any(only in c for _, c in commands):
            continue
        why = next((w for _, c in commands if (w := missing(c))), None)
        if why:
            skipped.append(f"{commands[0][1]}: {why}")
            continue
        new: list[str] = []
        for _, c in commands:
            new.append(f"$ {c}")
            out = run(c, cwd)
            if out:
                new.extend(out.split("\n"))
        old = [ln.rstrip() for ln in body]
        if new != old:
            differ.append(commands[0][1])
            lines[first:last] = new
    return "\n".join(lines), differ, skipped


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="only report blocks whose output differs")
    ap.add_argument("--only", default="", help="only blocks whose commands contain this text")
    ap.add_argument("--file", default="", help="only this file (README.md or a docs page)")
    args = ap.parse_args()
    chosen = [p for p in files() if not args.file or p.resolve() == Path(args.file).resolve()]
    if not chosen:
        print(f"no such file among the examples' files: {args.file}", file=sys.stderr)
        return 2
    failed = False
    with tempfile.TemporaryDirectory() as cwd:
        for path in chosen:
            name = path.relative_to(ROOT)
            text, differ, skipped = update(path, cwd, args.only)
            for s in skipped:
                print(f"skipped: {name}: {s}", file=sys.stderr)
            if args.check:
                for d in differ:
                    print(f"differs: {name}: {d}")
                failed = failed or bool(differ)
            elif differ:
                path.write_text(text, encoding="utf-8")
                for d in differ:
                    print(f"updated: {name}: {d}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
