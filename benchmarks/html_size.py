"""How big the --html page gets, and what writing it costs: the size table in docs/guides/pictures.md.

For each input: `attn explain TEXT --html` under /usr/bin/time (peak memory, seconds), the page's
size and the cells of attention it embeds; with --browser, how long headless Chromium takes to
open it. The long text is the first 1,000 SmolLM2 tokens of TinyStories' validation set (the
corpus the bundled model was trained on; see --corpus). SmolLM2 rows are skipped if it is not pulled.

Usage: python benchmarks/html_size.py [--corpus FILE] [--browser]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHORT = "I do not like spinach"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "tinystories-valid.txt"


def first_tokens(text: str, n: int) -> str:
    """The shortest prefix of `text` that SmolLM2 reads as n tokens."""
    from attncli.commands.common import load_model

    model = load_model("smollm2")
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi) // 2
        if len(model.encode(text[:mid], True)[0]) < n:
            lo = mid + 1
        else:
            hi = mid
    return text[:lo]


def measure(args: list[str], out: Path) -> dict:
    proc = subprocess.run(["/usr/bin/time", "-f", "%M %e", "attn", "explain", *args, "--html", str(out)],
                          capture_output=True, text=True, check=True)
    kb, seconds = proc.stderr.strip().splitlines()[-1].split()
    meta = json.loads(re.search(r'id="attn-page">(.*?)</script>', out.read_text(encoding="utf-8"), re.S).group(1))
    return {"bytes": out.stat().st_size, "cells": meta["cells"], "layers": meta["layers"],
            "first_query": meta["first_query"], "peak_mb": round(int(kb) / 1024), "seconds": float(seconds)}


def browser(profile: Path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs"))
    from screenshots import chromium

    driver = chromium(profile)
    driver.get("about:blank")  # the browser's own start is not the page's
    return driver


def open_time(driver, page: Path) -> float:
    start = time.perf_counter()
    driver.get(page.as_uri())  # returns once the page has loaded and its script has run
    return round(time.perf_counter() - start, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--browser", action="store_true", help="also time headless Chromium opening each page")
    args = parser.parse_args()
    from attncli import registry

    smollm2 = registry.is_pulled(registry.KNOWN["smollm2"])
    long_text = first_tokens(args.corpus.read_text(encoding="utf-8")[:20000], 1000) if smollm2 else None
    cases = {"short, bundled": [SHORT]}
    if long_text:
        cases["1,000 tokens, bundled (--truncate: 64)"] = [long_text, "--truncate"]
        cases["short, SmolLM2"] = [SHORT, "-m", "smollm2"]
        cases["1,000 tokens, SmolLM2"] = [long_text, "-m", "smollm2"]
    else:
        print("SmolLM2 is not pulled (attn models pull smollm2): its rows and the 1,000-token text are skipped",
              file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        driver = browser(Path(tmp) / "profile") if args.browser else None
        try:
            for i, (name, argv) in enumerate(cases.items()):
                page = Path(tmp) / f"{i}.html"
                row = measure(argv, page)
                if driver:
                    row["open_seconds"] = open_time(driver, page)
                print(json.dumps({"input": name, **row}))
        finally:
            if driver:
                driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
