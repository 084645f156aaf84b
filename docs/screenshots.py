"""Render the docs' picture of the --html page (docs/guides/pictures.md): `attn explain "I do not like
spinach" --html` on the bundled model, opened in headless Chromium, the query "like" selected, saved whole.

Needs selenium (pip install -r requirements-reference.txt) and Debian's chromium and
chromium-driver. tests/cli/test_html.py drives the page with the same `chromium()`.

Usage: python docs/screenshots.py [--out docs/html_view.png]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TEXT = "I do not like spinach"
OUT = Path(__file__).resolve().parent / "html_view.png"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# What a headless Chromium needs in a container, and what keeps it from calling home.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars")


def chromium(profile: Path, width: int = 1280, height: int = 900):
    """A headless Chromium driven by Selenium, with a fresh profile and the browser log kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def full_page(driver, path: Path, width: int = 1280) -> None:
    """A screenshot of the whole page, not only the window."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, height + 20)
    driver.save_screenshot(str(path))


def render(out: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "view.html"
        subprocess.run(["attn", "explain", TEXT, "--html", str(page)], check=True)
        driver = chromium(Path(tmp) / "profile")
        try:
            driver.get(page.as_uri())
            like = next(t for t in driver.find_elements(By.CSS_SELECTOR, "#hv-q .tok") if t.text == "like")
            like.click()  # the query "like": the steps show its row
            like.click()  # a second click lets go of it: the head view shows every query's lines again
            ActionChains(driver).move_to_element(driver.find_element(By.TAG_NAME, "h1")).perform()  # no hover left
            driver.execute_script("document.activeElement.blur()")
            full_page(driver, out)
        finally:
            driver.quit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if CHROMIUM is None:
        print("chromium is not installed (apt-get install chromium chromium-driver)", file=sys.stderr)
        return 1
    render(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
