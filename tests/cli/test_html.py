"""attn explain --html: one self-contained page with the JSON's numbers, driven in headless Chromium.

What the page embeds (the --json document, trimmed to a stated number of cells) is checked in
Python; what it shows is checked in a real browser through Selenium: clicks, keys, hover and
touch change the view, nothing is fetched, nothing is logged as an error, hostile text stays text.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

from attncli.render import html as rhtml
from helpers import ROOT
from helpers.run_cli import run

TEXT = "I do not like spinach"
ARTIFACTS = ROOT / "test-artifacts"
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
LONG = " ".join(["the cat sat on the mat and the dog sat on the log"] * 2)  # 26 tokens of the test tokenizer


def _load_screenshots():
    spec = importlib.util.spec_from_file_location("screenshots", ROOT / "docs" / "screenshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


screenshots = _load_screenshots()


def embedded(text: str, name: str = "attn-data") -> dict:
    return json.loads(re.search(rf'<script type="application/json" id="{name}">(.*?)</script>', text, re.S).group(1))


def label(token: dict) -> str:
    """A token as the tables (and the page) name it."""
    return ("##" if token["continues"] else "") + token["text"].strip(" ")


def explain_json(model_dir: Path, text: str, *args: str) -> dict:
    code, out, err = run("explain", text, "-m", str(model_dir), "--json", *args)
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def wide_model_dir(make_model_dir) -> Path:
    """The tiny model with room for 128 tokens: hostile and long texts are many bytes, so many tokens."""
    return make_model_dir(seed=1234, name="tiny-gpt2", n_ctx=128)


@pytest.fixture(scope="module")
def page(tiny_model_dir, tmp_path_factory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("html") / "view.html"
    code, out, err = run("explain", TEXT, "-m", str(tiny_model_dir), "--html", str(path), "--layer", "1")
    assert code == 0 and out == "" and "wrote" in err
    return path, explain_json(tiny_model_dir, TEXT, "--layer", "1")


# ---- what the file holds ---------------------------------------------------------------------

def test_the_page_embeds_the_json_and_needs_no_network(page):
    path, doc = page
    text = path.read_text(encoding="utf-8")
    assert embedded(text) == doc  # under the limit: the same numbers as `attn explain --json`, every layer
    meta = embedded(text, "attn-page")
    assert meta["layers"] == [0, 1] and meta["left_out_layers"] == [] and meta["first_query"] == 0
    assert meta["limit_cells"] == rhtml.PAGE_CELLS and meta["notes"][0].startswith("Every layer's attention")
    assert f'http-equiv="Content-Security-Policy" content="{CSP}"' in text
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text)
    assert "@import" not in text and "fetch(" not in text and "XMLHttpRequest" not in text and "innerHTML" not in text


def test_text_cannot_break_out_of_the_script(wide_model_dir, tmp_path):
    path = tmp_path / "x.html"
    code, _, _ = run("explain", "</script><b>hi</b> & __DATA__ __PAGE__ __JS__ __CSS__", "-m", str(wide_model_dir), "--html", str(path))
    assert code == 0
    text = path.read_text()
    assert text.count("</script>") == 3 and "<b>hi" not in text and embedded(text)["text"].startswith("</script><b>hi</b>")


@pytest.mark.parametrize("name", ["view.txt", "missing/view.html"])
def test_bad_html_path(tiny_model_dir, tmp_path, name):
    code, out, err = run("explain", TEXT, "-m", str(tiny_model_dir), "--html", str(tmp_path / name))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "--html" in err


def test_fit_keeps_the_viewed_layer_first_and_draws_the_rest_as_an_overview(tiny_model_dir):
    doc = explain_json(tiny_model_dir, TEXT, "--layer", "1")
    T, H = len(doc["tokens"]), doc["model"]["n_head"]
    shown, meta = rhtml.fit(doc, limit=H * T * T)  # room for one layer
    assert [a["layer"] for a in shown["attention"]] == [1] and shown["attention"][0] == doc["attention"][1]
    assert meta["left_out_layers"] == [0] and "Left out to stay under that limit: layer 0." in meta["notes"][1]
    for h, b64 in enumerate(meta["overview"]["layers"][0]["heads"]):
        squares = np.frombuffer(base64.b64decode(b64), np.uint8).reshape(T, T)  # T < OVERVIEW_BINS: one cell a square
        w = doc["attention"][0]["heads"][h]["weights"]
        for i in range(T):
            for j in range(T):
                assert squares[i, j] == (rhtml.MASKED_BIN if w[i][j] is None else round(w[i][j] * 254))
    assert rhtml.fit(doc, limit=2 * H * T * T)[1]["layers"] == [0, 1]


def test_fit_over_one_layer_keeps_its_last_rows(wide_model_dir):
    doc = explain_json(wide_model_dir, LONG, "--layer", "0")
    T, H = len(doc["tokens"]), doc["model"]["n_head"]
    shown, meta = rhtml.fit(doc, limit=10 * H * T)  # ten rows of one layer
    assert meta["first_query"] == T - 10 and meta["layers"] == [0] and meta["left_out_layers"] == [1]
    for got, full in zip(shown["attention"][0]["heads"], doc["attention"][0]["heads"]):
        assert got["weights"] == full["weights"][T - 10:] and got["scores"] == full["scores"][T - 10:]
    assert shown["contextual_vectors"]["vectors"] == doc["contextual_vectors"]["vectors"][T - 10:]
    assert f"Only the last 10 queries (tokens {T - 10} to {T - 1}) of layer 0" in " ".join(meta["notes"])


def test_the_cli_page_streams_the_same_numbers_under_a_small_limit(wide_model_dir, tmp_path, monkeypatch):
    doc = explain_json(wide_model_dir, LONG)
    T, H = len(doc["tokens"]), doc["model"]["n_head"]
    monkeypatch.setattr(rhtml, "PAGE_CELLS", 10 * H * T)
    code, _, err = run("explain", LONG, "-m", str(wide_model_dir), "--html", str(tmp_path / "long.html"))
    assert code == 0, err
    text = (tmp_path / "long.html").read_text()
    shown, meta = rhtml.fit(doc, limit=10 * H * T)
    assert embedded(text) == shown and embedded(text, "attn-page") == meta  # Rows streamed = lists trimmed


# ---- in headless Chromium --------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if screenshots.CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium chromium-driver)")
    pytest.importorskip("selenium", reason="selenium is not installed (pip install -r requirements-reference.txt)")
    driver = screenshots.chromium(tmp_path_factory.mktemp("profile"), 1280, 1000)
    yield driver
    driver.quit()


def open_page(driver, path: Path) -> None:
    """Load the page and wait until its script has drawn it; what an earlier page logged is not this page's."""
    driver.get(path.as_uri())
    settled(driver, lambda d: d.execute_script(
        "return document.readyState === 'complete' && document.querySelectorAll('#strip .tok').length > 0"), True)
    driver.get_log("browser")


ANY = object()  # settled() with no expected value: whatever the page settles on


def settled(driver, read, expected=ANY, timeout: float = 20.0):
    """What `read(driver)` finds once the page has settled: equal to `expected` if one is given, else the same
    answer twice in a row. `read` finds its elements afresh each time, and a reading that meets an element the
    page redrew meanwhile (a hover after a scroll redraws without being asked) is taken again, not failed."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    seen: list = []

    def done(d) -> bool:
        value = read(d)
        ok = value == expected if expected is not ANY else bool(seen) and seen[-1] == value
        seen.append(value)
        return ok

    try:
        WebDriverWait(driver, timeout, poll_frequency=0.05,
                      ignored_exceptions=(StaleElementReferenceException,)).until(done)
    except TimeoutException:
        shown = seen[-1] if seen else "(no reading: every element went stale)"
        wanted = "one state" if expected is ANY else repr(expected)
        raise AssertionError(f"the page did not settle on {wanted}; it last showed {shown!r}") from None
    return seen[-1]


def act(driver, find, do=lambda e: e.click(), timeout: float = 20.0) -> None:
    """do(find(driver)), the element found again if the page redrew it between finding and using it."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    def once(d) -> bool:
        do(find(d))
        return True

    WebDriverWait(driver, timeout, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,)).until(once)


def by_id(name: str):
    return lambda d: d.find_element("id", name)


def by_css(selector: str, index: int = 0):
    return lambda d: d.find_elements("css selector", selector)[index]


def text_of(name: str):
    return lambda d: d.find_element("id", name).text


def attribute(find, name: str):
    return lambda d: find(d).get_attribute(name)


def texts(selector: str):
    return lambda d: [e.text for e in d.find_elements("css selector", selector)]


def focused(name: str):
    return lambda d: d.switch_to.active_element.get_attribute(name)


def errors(driver) -> list:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def lines(driver) -> list[tuple[int, int, int]]:
    """The head view's lines as (head, query, key)."""
    return [tuple(x) for x in driver.execute_script(
        "return [...document.querySelectorAll('#hv-lines line')].map(l => ['head','q','k'].map(a => +l.dataset[a]))")]


def shows_lines(driver, expected: set[tuple[int, int, int]]) -> None:
    settled(driver, lambda d: set(lines(d)), expected)


def expected_lines(doc: dict, layer: int, heads, queries, key: int | None = None) -> set[tuple[int, int, int]]:
    att = next(a for a in doc["attention"] if a["layer"] == layer)
    return {(h, i, j) for h in heads for i in queries for j, w in enumerate(att["heads"][h]["weights"][i])
            if w is not None and w >= 1 / 255 and (key is None or j == key)}


def query_token(i: int):
    return by_css("#hv-q .tok", i)


def steps_rows(driver) -> list[str]:
    return settled(driver, texts("#step-table tbody tr"))


def test_the_page_loads_with_no_error_and_no_request(browser, page):
    path, doc = page
    open_page(browser, path)
    T = len(doc["tokens"])
    assert errors(browser) == []
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert browser.execute_script("return performance.getEntriesByType('navigation').map(e => e.name)") == [path.as_uri()]
    assert settled(browser, text_of("model")).startswith("tiny-gpt2 (2 layers × 2 heads)")
    settled(browser, text_of("sentence"), TEXT)
    settled(browser, lambda d: len(d.find_elements("css selector", "#strip .tok")), T)
    settled(browser, lambda d: len(d.find_elements("css selector", "#hv-q .tok")), T)
    settled(browser, lambda d: len(d.find_elements("css selector", "#mv canvas.thumb")), 2 * 2)
    settled(browser, lambda d: len(d.find_elements("css selector", "#preds li")), len(doc["predictions"]))
    settled(browser, lambda d: [bool(d.find_element("id", n).get_attribute("hidden")) for n in ("lens", "generation")],
            [True, True])
    # opened on the view: layer 1, every head overlaid, every query's lines; the steps for the last token
    shows_lines(browser, expected_lines(doc, 1, [0, 1], range(T)))
    settled(browser, text_of("steps-title"), f'Query {T - 1} "{label(doc["tokens"][-1])}", layer 1, head 0')
    w = doc["attention"][1]["heads"][0]["weights"][T - 1]
    settled(browser, lambda d: [r.split()[-1] for r in texts("#step-table tbody tr")(d)], [f"{100 * x:.1f}%" for x in w])
    # the CSP is in force: a request the page did not make is refused before it leaves
    refused = browser.execute_async_script("""const done = arguments[0];
        document.addEventListener('securitypolicyviolation', e => done(e.violatedDirective), {once: true});
        fetch('https://example.com/x').catch(() => {});""")
    assert refused.startswith("connect-src")
    ARTIFACTS.mkdir(exist_ok=True)
    screenshots.full_page(browser, ARTIFACTS / "html_view.png")
    assert (ARTIFACTS / "html_view.png").stat().st_size > 10_000
    browser.set_window_size(1280, 1000)


def test_toggling_a_head_hides_its_lines(browser, page):
    from selenium.webdriver.common.keys import Keys

    path, doc = page
    open_page(browser, path)
    T = len(doc["tokens"])
    chip = by_css('#heads [data-h="1"]')
    act(browser, chip)
    settled(browser, attribute(chip, "aria-pressed"), "false")
    shows_lines(browser, expected_lines(doc, 1, [0], range(T)))  # head 1's lines are gone, head 0's stay
    act(browser, chip)
    shows_lines(browser, expected_lines(doc, 1, [0, 1], range(T)))
    act(browser, chip, lambda e: e.send_keys(Keys.ARROW_LEFT))  # the keyboard: arrows move between the heads
    settled(browser, focused("data-h"), "0")
    act(browser, lambda d: d.switch_to.active_element, lambda e: e.send_keys(Keys.SPACE))  # Space toggles one
    shows_lines(browser, expected_lines(doc, 1, [1], range(T)))
    act(browser, by_id("no-heads"))
    shows_lines(browser, set())
    assert errors(browser) == []


def test_the_model_view_opens_a_head_by_click_and_by_keys(browser, page):
    from selenium.webdriver.common.keys import Keys

    path, doc = page
    open_page(browser, path)
    T = len(doc["tokens"])
    act(browser, by_css('#mv canvas[data-l="0"][data-h="1"]'))
    settled(browser, attribute(by_id("layer"), "value"), "0")
    settled(browser, lambda d: [c.get_attribute("aria-pressed") for c in d.find_elements("css selector", "#heads .chip")],
            ["false", "true"])
    shows_lines(browser, expected_lines(doc, 0, [1], range(T)))
    assert settled(browser, text_of("steps-title")).endswith("layer 0, head 1")
    w = doc["attention"][0]["heads"][1]["weights"][T - 1]
    settled(browser, lambda d: [r.split()[-1] for r in texts("#step-table tbody tr")(d)], [f"{100 * x:.1f}%" for x in w])
    settled(browser, focused("data-l"), "0")  # the click left the focus on the square it opened
    act(browser, lambda d: d.switch_to.active_element, lambda e: e.send_keys(Keys.ARROW_DOWN))
    settled(browser, lambda d: (focused("data-l")(d), focused("data-h")(d)), ("1", "1"))
    act(browser, lambda d: d.switch_to.active_element, lambda e: e.send_keys(Keys.ARROW_LEFT))
    settled(browser, lambda d: (focused("data-l")(d), focused("data-h")(d)), ("1", "0"))
    act(browser, lambda d: d.switch_to.active_element, lambda e: e.send_keys(Keys.ENTER))
    settled(browser, attribute(by_id("layer"), "value"), "1")
    shows_lines(browser, expected_lines(doc, 1, [0], range(T)))
    assert "cur" in settled(browser, attribute(by_css('#mv canvas[data-l="1"][data-h="0"]'), "class"))
    assert errors(browser) == []


def test_keys_move_the_query_and_focus_is_visible(browser, page):
    from selenium.webdriver.common.keys import Keys

    path, doc = page
    open_page(browser, path)
    T = len(doc["tokens"])
    active = lambda d: d.switch_to.active_element
    act(browser, lambda d: d.find_element("tag name", "body"), lambda e: e.send_keys(Keys.TAB))
    # the first stop: the sentence's selected token, its focus drawn
    settled(browser, lambda d: (focused("data-i")(d), active(d).value_of_css_property("outline-style")),
            (str(T - 1), "solid"))
    act(browser, active, lambda e: e.send_keys(Keys.ARROW_LEFT))
    settled(browser, focused("data-i"), str(T - 2))
    assert settled(browser, text_of("steps-title")).startswith(f"Query {T - 2} ")
    for _ in range(12):  # on through the controls to the head view's queries
        act(browser, active, lambda e: e.send_keys(Keys.TAB))
        if browser.execute_script("return document.activeElement.closest('#hv-q') !== null"):
            break
    else:
        pytest.fail("Tab never reached the head view's queries")
    shows_lines(browser, expected_lines(doc, 1, [0, 1], [T - 2]))  # focused: only its lines
    act(browser, active, lambda e: e.send_keys(Keys.ARROW_UP))
    settled(browser, focused("data-i"), str(T - 3))
    shows_lines(browser, expected_lines(doc, 1, [0, 1], [T - 3]))
    act(browser, active, lambda e: e.send_keys(Keys.HOME))
    shows_lines(browser, expected_lines(doc, 1, [0, 1], [0]))
    # the first token sees only itself (causal): all of its attention, every other key masked
    rows = steps_rows(browser)
    assert rows[0].endswith("100.0%") and sum("masked" in r for r in rows) == T - 1
    act(browser, active, lambda e: e.send_keys(Keys.ESCAPE))
    act(browser, lambda d: d.find_element("tag name", "body"))  # focus leaves the queries: every line again
    shows_lines(browser, expected_lines(doc, 1, [0, 1], range(T)))
    assert errors(browser) == []


def test_hover_and_touch_show_one_token_s_lines(browser, page):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    path, doc = page
    open_page(browser, path)
    T = len(doc["tokens"])
    hover = lambda e: ActionChains(browser).move_to_element(e).perform()
    act(browser, query_token(2), hover)
    shows_lines(browser, expected_lines(doc, 1, [0, 1], [2]))
    act(browser, by_css("#hv-k .tok", 1), hover)
    shows_lines(browser, expected_lines(doc, 1, [0, 1], range(T), key=1))
    act(browser, by_id("predictions"), hover)
    shows_lines(browser, expected_lines(doc, 1, [0, 1], range(T)))

    def tap(target) -> None:
        finger = ActionBuilder(browser, mouse=PointerInput(interaction.POINTER_TOUCH, "finger"))
        finger.pointer_action.move_to(target).pointer_down().pointer_up()
        finger.perform()

    act(browser, query_token(3), tap)
    shows_lines(browser, expected_lines(doc, 1, [0, 1], [3]))  # a tap pins the query
    settled(browser, attribute(by_id("only"), "aria-pressed"), "true")
    assert settled(browser, text_of("steps-title")).startswith("Query 3 ")
    act(browser, query_token(3))  # clicking the pinned query again lets go of it
    act(browser, by_id("predictions"), hover)
    shows_lines(browser, expected_lines(doc, 1, [0, 1], range(T)))
    assert errors(browser) == []


def test_hostile_text_shows_as_text_and_does_not_run(browser, wide_model_dir, tmp_path):
    hostile = '</script><img src=x onerror="window.pwned=1"><script>window.pwned=2</script>\x07\x1b[31m & __DATA__'
    path = tmp_path / "hostile.html"
    code, _, err = run("explain", hostile, "-m", str(wide_model_dir), "--html", str(path))
    assert code == 0, err
    open_page(browser, path)
    assert browser.execute_script("return window.pwned === undefined && document.images.length === 0")
    assert browser.execute_script("return document.scripts.length") == 3
    shown = settled(browser, text_of("sentence"))
    assert shown.startswith('</script><img src=x onerror="window.pwned=1">') and "\\x07\\x1b[31m" in shown
    assert "\x1b" not in browser.title and browser.title.startswith("attn explain: </script>")
    assert errors(browser) == []


def test_generation_and_lens_show_when_the_document_has_them(browser, page, tmp_path):
    from selenium.webdriver.common.keys import Keys

    _, doc = page
    T = len(doc["tokens"])
    doc = dict(doc)
    doc["generation"] = {"layer": 1, "head": 0, "steps": [
        {"text": " a", "probability": 0.5, "alternatives": [{"text": " b", "probability": 0.2}], "weights": [1 / T] * T},
        {"text": " c", "probability": 0.25, "alternatives": [], "weights": [0.0] * T + [1.0]}]}
    doc["lens"] = {"name": "blocks.L.resid_post through ln_final and the unembedding", "layers": [
        {"layer": L, "positions": [{"index": i, "top": [{"text": f"<{L}:{i}>", "probability": 0.5}]} for i in range(T)]}
        for L in range(2)]}
    path = tmp_path / "more.html"
    path.write_text(rhtml.page(doc), encoding="utf-8")
    open_page(browser, path)
    settled(browser, attribute(by_id("generation"), "hidden"), None)
    assert settled(browser, text_of("gen-title")).startswith(
        'Generated " a" with probability 50.0%; the alternatives: " b" 20.0%.')
    settled(browser, lambda d: len(d.find_elements("css selector", "#gen-strip .tok")), T)
    act(browser, by_id("gen-next"))
    settled(browser, text_of("gen-pos"), "token 2 of 2")
    strip = settled(browser, texts("#gen-strip .tok"))
    assert len(strip) == T + 1 and strip[-1] == "a"  # the token generated before is a key now
    assert settled(browser, text_of("gen-top")).startswith(f'Attended most: {T} "a" 100.0%')
    settled(browser, texts("#lens-table tr"), [f"layer {L} \"<{L}:{T - 1}>\" 50.0%" for L in range(2)])
    act(browser, query_token(1))
    act(browser, query_token(1), lambda e: e.send_keys(Keys.ARROW_UP))  # the lens follows the query
    assert settled(browser, texts("#lens-table tr"))[0] == 'layer 0 "<0:0>" 50.0%'
    assert errors(browser) == []


def test_a_redraw_between_finding_and_reading_is_read_again(browser, page, tmp_path):
    """What failed once on a loaded machine, made to happen: a hover (here a pointerover from a mouse,
    as Chromium sends after a scroll moves the page under a still pointer) redraws the lens table
    between finding its rows and reading them. Read from the rows found before, it is a stale element;
    settled() finds them again and reads the redrawn table."""
    from selenium.common.exceptions import StaleElementReferenceException

    _, doc = page
    T = len(doc["tokens"])
    doc = dict(doc, lens={"name": "blocks.L.resid_post through ln_final and the unembedding", "layers": [
        {"layer": L, "positions": [{"index": i, "top": [{"text": f"<{L}:{i}>", "probability": 0.5}]} for i in range(T)]}
        for L in range(2)]})
    path = tmp_path / "lens.html"
    path.write_text(rhtml.page(doc), encoding="utf-8")
    open_page(browser, path)
    rows = browser.find_elements("css selector", "#lens-table tr")
    browser.execute_script("""document.querySelector('#hv-q .tok[data-i="1"]').dispatchEvent(
        new PointerEvent('pointerover', {bubbles: true, pointerType: 'mouse'}))""")
    with pytest.raises(StaleElementReferenceException):
        rows[0].text  # noqa: B018 - reading it is the point
    assert settled(browser, texts("#lens-table tr"))[0] == 'layer 0 "<0:1>" 50.0%'
    assert errors(browser) == []


def test_a_long_input_over_the_limit_says_what_was_left_out(browser, wide_model_dir, tmp_path, monkeypatch):
    doc = explain_json(wide_model_dir, LONG)
    T, H = len(doc["tokens"]), doc["model"]["n_head"]
    monkeypatch.setattr(rhtml, "PAGE_CELLS", 10 * H * T)
    path = tmp_path / "long.html"
    assert run("explain", LONG, "-m", str(wide_model_dir), "--html", str(path), "--layer", "0")[0] == 0
    open_page(browser, path)
    notes = settled(browser, text_of("note-list"))
    assert "Left out to stay under that limit: layer 1." in notes and f"Only the last 10 queries (tokens {T - 10} to" in notes
    settled(browser, lambda d: ["out" in t.get_attribute("class") for t in d.find_elements("css selector", "#hv-q .tok")],
            [i < T - 10 for i in range(T)])
    act(browser, query_token(0))  # not in the page: nothing changes
    assert settled(browser, text_of("steps-title")).startswith(f"Query {T - 1} ")
    wraps = "return new Set([...document.querySelectorAll('#strip .tok')].map(t => t.offsetTop)).size"
    no_sideways = "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    assert browser.execute_script(wraps) > 1 and browser.execute_script(no_sideways)  # the tokens wrap
    browser.set_window_size(420, 900)  # a phone's width: the parts stack, nothing runs off the side
    try:
        assert settled(browser, lambda d: d.execute_script(wraps)) > 2 and browser.execute_script(no_sideways)
    finally:
        browser.set_window_size(1280, 1000)
    left_out = by_css('#mv canvas[data-l="1"][data-h="0"]')
    assert "overview" in settled(browser, attribute(left_out, "aria-label"))
    act(browser, left_out)
    assert "only as an overview" in settled(browser, text_of("status"))
    settled(browser, attribute(by_id("layer"), "value"), "0")
    assert errors(browser) == []


def test_the_readme_screenshot_script_renders_the_page(browser, tmp_path):
    out = tmp_path / "shot.png"
    screenshots.render(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
