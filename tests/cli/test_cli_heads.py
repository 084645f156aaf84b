"""`attn heads` as a user runs it: the installed program and Typer's CliRunner, stdout, stderr and the
exit code apart; the numbers of --json against the naive loops of test_heads.py, and --workers 2
against one worker."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers.census import TEXTS, TOL, naive
from helpers.run_cli import HOWS, attn
from helpers.schema import validate
from helpers.scrape import ANSI

FAST = ["--induction-samples", "2", "--workers", "1"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "texts.txt"
    path.write_text("\n".join(TEXTS[:3]) + "\n\n   \n" + "\n".join(TEXTS[3:]) + "\n", encoding="utf-8")
    return path


def by_head(doc, score):
    n_layer, n_head = doc["model"]["n_layer"], doc["model"]["n_head"]
    out = np.full((n_layer, n_head), np.nan)
    for h in doc["heads"]:
        out[h["layer"], h["head"]] = np.nan if h["scores"][score] is None else h["scores"][score]
    return out


@pytest.mark.parametrize("how", HOWS)
def test_json_is_the_schema_and_the_naive_numbers(how, corpus, bundled_model):
    r = attn(how, ["heads", str(corpus), "--json", *FAST])
    assert r.code == 0 and r.stderr == ""
    doc = r.json()
    validate(doc)
    assert doc["command"] == "heads" and doc["corpus"]["texts"] == len(TEXTS) and doc["corpus"]["name"] == str(corpus)
    expected = naive(bundled_model, TEXTS)
    for score in ("previous", "first", "self", "entropy"):
        np.testing.assert_allclose(by_head(doc, score), expected[score], atol=TOL, rtol=0, err_msg=score)
    for h in doc["heads"]:
        for score, (low, high) in h["ci"].items():
            assert low <= h["scores"][score] <= high
        for role in h["roles"]:
            rule = doc["thresholds"][role]
            assert h["ci"][rule["score"]][0] >= rule["min"]


@pytest.mark.parametrize("how", HOWS)
def test_the_terminal_output_reads_without_color(how, corpus):
    r = attn(how, ["heads", str(corpus), *FAST])
    assert r.code == 0 and r.stderr == ""
    assert not ANSI.search(r.stdout)
    for score in ("previous", "first", "self", "entropy", "induction", "duplicate"):
        assert f"\n{score}: " in r.stdout
    assert "Heads with a clear role" in r.stdout and "sink (first interval's low end >= 0.5)" in r.stdout
    assert "layer    h0    h1    h2    h3" in r.stdout  # the bundled model: 4 heads
    assert f"over {corpus}: {len(TEXTS)} texts" in r.stdout


def test_stdin_and_the_file_give_the_same_document(corpus):
    from_file = attn("process", ["heads", str(corpus), "--json", *FAST]).json()
    from_stdin = attn("process", ["heads", "-", "--json", *FAST], input=corpus.read_bytes()).json()
    assert from_stdin["corpus"]["name"] == "stdin"
    assert from_stdin["heads"] == from_file["heads"]


def test_two_workers_give_one_workers_numbers(tmp_path):
    path = tmp_path / "many.txt"
    path.write_text("\n".join(TEXTS * 6), encoding="utf-8")  # several batches for each worker
    one = attn("process", ["heads", str(path), "--json", "--induction-samples", "3", "--workers", "1"]).json()
    two = attn("process", ["heads", str(path), "--json", "--induction-samples", "3", "--workers", "2"]).json()
    assert one["corpus"] == two["corpus"]
    for a, b in zip(one["heads"], two["heads"]):
        for score in a["scores"]:
            assert abs(a["scores"][score] - b["scores"][score]) <= 1e-6
            assert np.abs(np.subtract(a["ci"][score], b["ci"][score])).max() <= 1e-6
        assert a["roles"] == b["roles"]


def test_an_encoder_has_no_induction(corpus):
    r = attn("process", ["heads", str(corpus), "-m", "bundled-mlm", "--json", *FAST])
    doc = r.json()
    validate(doc)
    assert all(h["scores"]["induction"] is None and h["ci"]["duplicate"] is None for h in doc["heads"])
    assert any("encoder" in n for n in doc["notes"])
    text = attn("process", ["heads", str(corpus), "-m", "bundled-mlm", *FAST]).stdout
    assert "\ninduction: " not in text and "note: induction and duplicate are not measured in an encoder" in text


def test_max_tokens_says_how_many_texts_were_cut(corpus, bundled_model):
    r = attn("process", ["heads", str(corpus), "--max-tokens", "6", *FAST])
    cut = sum(len(bundled_model.encode(t)[0]) > 6 for t in TEXTS)
    assert r.code == 0 and f"{cut} of the {len(TEXTS)} texts were cut to their first 6 tokens" in r.stdout


def test_the_built_in_corpus_is_used_without_one():
    doc = attn("process", ["heads", "--json", "--induction-samples", "1"]).json()
    assert doc["corpus"]["name"] == "built-in" and doc["corpus"]["texts"] == 194 and doc["corpus"]["skipped"] == 0


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("case,content,expect", [
    ("empty", b"\n  \n\n", "the corpus has no text"),
    ("latin1", "good line\ncaf\u00e9 au lait\n".encode("latin-1"), "line 2 is not UTF-8"),
    ("missing", None, "no such file"),
    ("folder", "dir", "is a folder"),
])
def test_a_bad_corpus_is_one_line(how, tmp_path, case, content, expect):
    path = tmp_path / "c.txt"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    r = attn(how, ["heads", str(path), *FAST])
    assert r.code == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("attn: error: ") and expect in r.stderr, r.stderr


@pytest.mark.parametrize("how", HOWS)
def test_empty_stdin_is_one_line(how):
    r = attn(how, ["heads", "-", *FAST], input=b"")
    assert r.code == 2 and r.stdout == "" and r.stderr.count("\n") == 1 and "no text" in r.stderr


@pytest.mark.parametrize("args,expect", [
    (["--induction-length", "1"], "--induction-length must be at least 2"),
    (["--max-tokens", "1"], "--max-tokens 1 leaves no room"),
    (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "give one of them"),
    (["--html", "out.png"], "must end in .html or .htm"),
])
def test_bad_options_are_one_line(args, expect, corpus):
    r = attn("process", ["heads", str(corpus), *[a for a in FAST if a not in ("--workers", "1")], *args])
    assert r.code == 2 and r.stdout == "" and r.stderr.count("\n") == 1 and expect in r.stderr, r.stderr


def test_json_is_json_and_nothing_else(corpus):
    r = attn("process", ["heads", str(corpus), "--json", *FAST])
    json.loads(r.stdout)
    assert r.stdout.endswith("}\n") and r.stdout.count("\n") == 1


def test_explain_summary_shows_the_census_roles(corpus, tmp_path):
    census = tmp_path / "census.json"
    doc = attn("process", ["heads", str(corpus), "--json", *FAST]).json()
    census.write_text(json.dumps(doc), encoding="utf-8")
    roles = {(h["layer"], h["head"]): h["roles"] for h in doc["heads"]}
    r = attn("process", ["explain", "the cat sat on the mat.", "--summary", "--census", str(census), "--json"])
    assert r.code == 0 and r.stderr == ""
    summary = r.json()
    validate(summary)
    assert summary["census"] == {"corpus": str(corpus)}
    assert {(L["layer"], h["head"]): h["census_roles"] for L in summary["layers"] for h in L["heads"]} == roles
    text = attn("process", ["explain", "the cat sat on the mat.", "--summary", "--census", str(census)]).stdout
    assert f"Roles from the census over {corpus}" in text
    broad = [f"{L}.{h}" for (L, h), rs in sorted(roles.items()) if "broad" in rs]
    assert f"broad: {', '.join(broad) if broad else 'none'}" in text


@pytest.mark.parametrize("args,expect", [
    (["--census", "MISSING"], "no such file"),
    (["--census", "OTHER"], "not of this model"),
    (["--census", "NOTJSON"], "cannot read it"),
    (["--census", "EXPLAIN"], "not an attn heads --json document"),
])
def test_a_census_of_another_model_or_no_census_is_one_line(corpus, tmp_path, args, expect):
    files = {"OTHER": tmp_path / "other.json", "NOTJSON": tmp_path / "x.json", "EXPLAIN": tmp_path / "e.json",
             "MISSING": tmp_path / "missing.json"}
    other = attn("process", ["heads", str(corpus), "-m", "bundled-mlm", "--json", *FAST]).stdout
    files["OTHER"].write_text(other, encoding="utf-8")
    files["NOTJSON"].write_text("{", encoding="utf-8")
    files["EXPLAIN"].write_text(attn("process", ["explain", "hi", "--json"]).stdout, encoding="utf-8")
    r = attn("process", ["explain", "the cat sat.", "--summary", "--census", str(files[args[1]])])
    assert r.code == 2 and r.stdout == "" and r.stderr.count("\n") == 1 and expect in r.stderr, r.stderr


def test_census_goes_with_summary_only(corpus):
    r = attn("process", ["explain", "the cat sat.", "--census", "x.json"])
    assert r.code == 2 and "--census has no effect on the default tables" in r.stderr and "--summary" in r.stderr


def test_attn_view_shows_each_head_s_roles_from_a_census(corpus, tmp_path):
    from helpers.view_helpers import TEXT, drive

    from attncli.analysis.heads import census_roles
    from attncli.checkpoints import load
    from attncli.tui.app import ViewApp
    from attncli.tui.explorer import Explorer

    census = tmp_path / "census.json"
    doc = attn("process", ["heads", str(corpus), "--json", "--induction-samples", "3", "--workers", "1"]).json()
    census.write_text(json.dumps(doc), encoding="utf-8")
    model = load(None)
    roles = census_roles(doc, model, str(census))
    tokens, _ = model.encode(TEXT)
    ex = Explorer(model, TEXT, tokens, model.forward([t.id for t in tokens]), roles=roles)
    want = {(h["layer"], h["head"]): h["roles"] for h in doc["heads"]}
    for layer, head in [(0, 0), (1, 3)]:
        title = drive(ViewApp(ex, ex.start(layer, head, ex.T - 1), color=False), [],
                      then=lambda app, pilot: _title(app))["then"]
        assert title.endswith("roles: " + (", ".join(want[layer, head]) or "none")), title
    r = attn("process", ["view", TEXT, "--census", str(tmp_path / "missing.json")])
    assert r.code == 2 and r.stdout == "" and "--census" in r.stderr and "no such file" in r.stderr


async def _title(app) -> str:
    from attncli.tui import panels

    return panels.heatmap_title(app.ex, app.sel)
