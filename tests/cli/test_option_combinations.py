"""No option is ever silently ignored: a combination either does what it says or is refused in
one usage line that says what goes with what. And explain reads its text from stdin like predict."""

from __future__ import annotations

import pytest

from helpers.run_cli import HOWS, assert_one_error_line, attn, ok

TEXT = "I do not like spinach"

REFUSED = {
    "html-steps": (["--html", "{tmp}/p.html", "--steps"], "--html cannot be combined with --steps"),
    "save-rollout": (["--save", "{tmp}/p.png", "--rollout"], "--save cannot be combined with --rollout"),
    "save-attribution": (["--save", "{tmp}/p.png", "--attribution"], "--save cannot be combined with --attribution"),
    "html-summary": (["--html", "{tmp}/p.html", "--summary"], "--html cannot be combined with --summary"),
    "save-head-mean": (["--save", "{tmp}/p.png", "--head", "mean"], "--save draws every head"),
    "save-head-2": (["--save", "{tmp}/p.png", "--head", "2"], "--save draws every head"),
    "html-head-mean": (["--html", "{tmp}/p.html", "--head", "mean"], "cannot show the mean of heads"),
    "html-scores": (["--html", "{tmp}/p.html", "--scores"], "--scores has no effect with --html"),
    "save-dims": (["--save", "{tmp}/p.png", "--dims", "3"], "--dims has no effect with --save"),
    "rollout-layer": (["--rollout", "--layer", "1"], "--layer has no effect with --rollout"),
    "summary-top-k": (["--summary", "-k", "3"], "--top-k has no effect with --summary"),
    "attribution-head": (["--attribution", "--head", "1"], "--head has no effect with --attribution"),
    "steps-scores": (["--steps", "--scores"], "--scores has no effect with --steps"),
    "heads-dims": (["--head", "all", "--dims", "3"], "--dims has no effect with --head all"),
    "token-rollout": (["--rollout", "--token", "like"], "--token picks the query token of the default tables, --steps"),
    "window-steps": (["--steps", "--window", "0:3"], "--window has no effect with --steps"),
    "temperature-alone": (["--temperature", "0.5"], "--temperature is a what-if of --steps"),
}


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_combination_that_would_be_ignored_is_refused(how, case, tmp_path):
    args, words = REFUSED[case]
    run = attn(how, ["explain", TEXT, *[a.format(tmp=tmp_path) for a in args]])
    assert run.code == 2 and run.stdout == ""
    assert words in assert_one_error_line(run)
    assert list(tmp_path.iterdir()) == []  # refused before any file was written


@pytest.mark.parametrize("how", HOWS)
def test_combinations_that_make_sense_still_work(how, tmp_path):
    for args in (["--html", str(tmp_path / "p.html"), "--head", "2"],  # the page opens on head 2
                 ["--save", str(tmp_path / "p.svg"), "--head", "all"],
                 ["--html", str(tmp_path / "q.html"), "--scores", "--json"]):  # the JSON has the scores
        run = attn(how, ["explain", TEXT, *args])
        assert run.code == 0 and run.stderr.startswith("attn: wrote "), run.stderr
    ok(attn(how, ["explain", TEXT, "--steps", "--token", "like", "--temperature", "0.5", "--dims", "3"]))


@pytest.mark.parametrize("how", HOWS)
def test_head_that_is_not_a_head_says_what_is_accepted(how):
    msg = assert_one_error_line(attn(how, ["explain", TEXT, "--head", "foo"]))
    assert "0 to 3" in msg and "negative counts from the end" in msg and "'mean'" in msg and "'all'" in msg


@pytest.mark.parametrize("how", HOWS)
def test_explain_reads_its_text_from_stdin(how):
    argument = ok(attn(how, ["explain", TEXT, "--json"])).json()
    for args in (["explain", "--json"], ["explain", "-", "--json"]):
        piped = ok(attn(how, args, input=TEXT + "\n")).json()
        assert piped["text"] == TEXT and piped["tokens"] == argument["tokens"]
        assert piped["predictions"] == argument["predictions"]
    bad = attn(how, ["explain"], input=b"I do \xff not")
    assert bad.code == 2 and "not valid UTF-8" in assert_one_error_line(bad)
    empty = attn(how, ["explain", "-"], input="")
    assert empty.code == 2 and "empty" in assert_one_error_line(empty)
