"""Render the picture of `attn view "I do not like spinach" --token like` on the bundled model that
README and docs/guides/pictures.md show: the app that command opens, run headless by Textual at 100 x 30,
saved as Textual's SVG screenshot. Deterministic (no clock, no randomness in it), so rerunning it on an unchanged
checkout rewrites the same bytes; tests/unit/tui/test_view_snapshots.py checks docs/view.svg is current.

Usage: python docs/view_screenshot.py [--out docs/view.svg] [--check]
(from a clean clone: pip install -e . first, or run it as is: it puts the checkout's src/ first)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "view.svg"
TEXT = "I do not like spinach"
TOKEN = "like"
SIZE = (100, 30)


def render(text: str = TEXT, token: str = TOKEN, size: tuple[int, int] = SIZE) -> str:
    """The SVG of attn view's first screen for `text`, as the command would open it."""
    sys.path.insert(0, str(ROOT / "src"))
    from attncli.analysis.steps import resolve_token
    from attncli.checkpoints import load
    from attncli.commands.common import default_view
    from attncli.tui.app import ViewApp
    from attncli.tui.explorer import Explorer

    model = load(None)
    tokens, truncated = model.encode(text)
    explorer = Explorer(model, text, tokens, model.forward([t.id for t in tokens]), truncated)
    layer, head = default_view(model)
    app = ViewApp(explorer, explorer.start(layer, head, resolve_token(token, tokens)))

    async def shoot() -> str:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            return app.export_screenshot(title=f'attn view "{text}" --token {token}')

    return asyncio.run(shoot())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="only say whether --out is current (exit 1 if not)")
    args = ap.parse_args()
    svg = render()
    if args.check:
        current = args.out.is_file() and args.out.read_text(encoding="utf-8") == svg
        print(f"{args.out}: {'current' if current else 'out of date; rerun python docs/view_screenshot.py'}")
        sys.exit(0 if current else 1)
    args.out.write_text(svg, encoding="utf-8")
    print(f"wrote {args.out} ({len(svg):,} bytes)")


if __name__ == "__main__":
    main()
