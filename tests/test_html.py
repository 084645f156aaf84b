"""attn explain --html: one self-contained page with the JSON's numbers, checked in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from run_cli import run

TEXT = "I do not like spinach"
ARTIFACTS = Path(__file__).parents[1] / "test-artifacts"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def page(tiny_model_dir, tmp_path_factory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("html") / "view.html"
    code, out, err = run("explain", TEXT, "-m", str(tiny_model_dir), "--html", str(path), "--layer", "1")
    assert code == 0 and out == "" and "wrote" in err
    code, out, err = run("explain", TEXT, "-m", str(tiny_model_dir), "--layer", "1", "--json")
    assert code == 0
    return path, json.loads(out)


def test_the_page_embeds_the_json_and_needs_no_network(page):
    path, doc = page
    text = path.read_text(encoding="utf-8")
    embedded = re.search(r'<script type="application/json" id="attn-data">(.*?)</script>', text, re.S).group(1)
    assert json.loads(embedded) == doc  # the same numbers as `attn explain --json`
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text)
    assert "@import" not in text and "fetch(" not in text and "XMLHttpRequest" not in text


def test_text_cannot_break_out_of_the_script(tiny_model_dir, tmp_path):
    path = tmp_path / "x.html"
    code, _, _ = run("explain", "</script><b>hi</b> & __DATA__", "-m", str(tiny_model_dir), "--html", str(path))
    assert code == 0
    text = path.read_text()
    assert text.count("</script>") == 2 and "<b>hi" not in text


@pytest.mark.parametrize("name", ["view.txt", "missing/view.html"])
def test_bad_html_path(tiny_model_dir, tmp_path, name):
    code, out, err = run("explain", TEXT, "-m", str(tiny_model_dir), "--html", str(tmp_path / name))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "--html" in err


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium chromium-driver)")
def test_in_headless_chromium_hover_changes_what_is_shown(page, tmp_path):
    pytest.importorskip("selenium", reason="selenium is not installed (pip install -r requirements-reference.txt)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    path, doc = page
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
                "--window-size=1200,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(path.as_uri())
        tokens = driver.find_elements(By.CSS_SELECTOR, "#tokens .tok")
        T = len(doc["tokens"])
        assert len(tokens) == T
        detail = driver.find_element(By.ID, "detail")
        before = detail.text
        assert f"blocks.1.attn.weights[0][{T - 1}]" in before  # layer 1 (the view), head 0, the last token's row
        assert len(driver.find_elements(By.CSS_SELECTOR, "#preds li")) == len(doc["predictions"])

        ActionChains(driver).move_to_element(tokens[0]).perform()
        after = driver.find_element(By.ID, "detail").text
        assert after != before
        # the first token sees only itself (causal): all of its attention, and every other key masked
        assert "100.0%" in after and after.count("masked") == T - 1
        assert "query" in driver.find_elements(By.CSS_SELECTOR, "#tokens .tok")[0].get_attribute("class")

        ActionChains(driver).move_to_element(driver.find_elements(By.CSS_SELECTOR, "#tokens .tok")[T - 1]).perform()
        row = driver.find_element(By.ID, "detail").text
        w = doc["attention"][1]["heads"][0]["weights"][T - 1]
        for x in w:
            assert f"{100 * x:.1f}%" in row  # the JSON's numbers, as the page shows them
        Select(driver.find_element(By.ID, "head")).select_by_value("1")
        assert driver.find_element(By.ID, "detail").text != row
        ARTIFACTS.mkdir(exist_ok=True)
        assert driver.save_screenshot(str(ARTIFACTS / "html_view.png"))
        assert (ARTIFACTS / "html_view.png").stat().st_size > 1000
    finally:
        driver.quit()
