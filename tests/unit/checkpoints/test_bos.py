"""BOS and special tokens: a model whose tokenizer adds BOS (tokenizer_config.json's add_bos_token,
else tokenizer.json's post-processor, else a GGUF's add_bos_token) has it first in every text it
reads, the forward pass sees it, and every token says whether it is special, in the tables and in
--json (validated by the schema). The tokenizer's own encode gives the text's tokens only."""

from __future__ import annotations

import json

import pytest

from attncli.checkpoints import load
from helpers.known_models import hf_llama_files, write_files
from helpers.run_cli import HOWS, Call, attn_all, ok
from helpers.schema import validate
from helpers.scrape import table_lines_after, token_rows

TEXT = "I do not like spinach"
BOS = "<|endoftext|>"  # the trained tokenizer's one special token


def with_bos(add: bool | None) -> dict[str, bytes]:
    """tokenizer_config.json saying add_bos_token (None: no such key)."""
    cfg = {"bos_token": BOS} if add is None else {"bos_token": BOS, "add_bos_token": add}
    return {"tokenizer_config.json": json.dumps(cfg).encode()}


@pytest.fixture(scope="module")
def bos_dir(tmp_path_factory, tokenizer_json, tokenizer_vocab_size):
    files = hf_llama_files(tokenizer_json, tokenizer_vocab_size)
    return write_files(tmp_path_factory.mktemp("bos"), {**files, **with_bos(True)})


def test_the_model_puts_bos_first_and_the_tokenizer_does_not(bos_dir):
    model = load(bos_dir)
    bos = model.tokenizer.backend.token_to_id(BOS)
    assert model.tokenizer.add_bos and model.tokenizer.bos_id == bos and model.card["bos_token_id"] == bos
    plain = model.tokenizer.encode(TEXT)
    tokens, cut = model.encode(TEXT)
    assert not cut and [t.id for t in tokens] == [bos] + [t.id for t in plain]
    first = tokens[0]
    assert first.special and (first.index, first.start, first.end, first.word) == (0, 0, 0, 0)
    assert [t.index for t in tokens] == list(range(len(tokens)))
    assert not any(t.special for t in tokens[1:]) and not any(t.special for t in plain)
    assert [t.word for t in tokens[1:]] == [t.word + 1 for t in plain]  # the text's words, after BOS's


def test_truncation_keeps_bos_and_the_last_tokens(bos_dir):
    model = load(bos_dir)
    long = " ".join([TEXT] * 20)
    tokens, cut = model.encode(long, truncate=True)
    plain = model.tokenizer.encode(long)
    assert cut and len(tokens) == model.config.n_ctx
    assert tokens[0].special and [t.id for t in tokens[1:]] == [t.id for t in plain[-(model.config.n_ctx - 1):]]
    assert not tokens[1].continues  # the first kept token has no piece before it any more


@pytest.mark.parametrize("add,expect", [(False, False), (None, False), (True, True)])
def test_tokenizer_config_decides_else_the_post_processor(tmp_path, tokenizer_json, tokenizer_vocab_size, add, expect):
    """A tokenizer.json whose post-processor adds nothing gets BOS only when tokenizer_config.json asks."""
    folder = write_files(tmp_path, {**hf_llama_files(tokenizer_json, tokenizer_vocab_size), **with_bos(add)})
    assert load(folder).tokenizer.add_bos is expect


@pytest.mark.parametrize("add,expect", [(None, True), (False, False)])
def test_a_post_processor_that_adds_bos_is_followed(tmp_path, tokenizer_json, tokenizer_vocab_size, add, expect):
    doc = json.loads(tokenizer_json)
    bos = next(t["id"] for t in doc["added_tokens"] if t["content"] == BOS)
    doc["post_processor"] = {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": BOS, "type_id": 0}},
                                                                    {"Sequence": {"id": "A", "type_id": 0}}],
                             "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                             "special_tokens": {BOS: {"id": BOS, "ids": [bos], "tokens": [BOS]}}}
    files = {**hf_llama_files(json.dumps(doc), tokenizer_vocab_size), **with_bos(add)}
    if add is None:
        files["tokenizer_config.json"] = b"{}"
    tok = load(write_files(tmp_path, files)).tokenizer
    assert tok.add_bos is expect and (tok.bos_id == bos if expect else True)


@pytest.fixture(scope="module", params=HOWS)
def runs(request, bos_dir):
    m = ["-m", str(bos_dir)]
    return attn_all(request.param, {
        "explain": Call(["explain", TEXT, *m, "--json"]),
        "predict": Call(["predict", TEXT, *m, "--json"]),
        "table": Call(["explain", TEXT, *m]),
        "bundled": Call(["explain", f"I do {BOS} like", "--json"]),
    })


def test_json_tokens_say_which_are_special(runs):
    for name in ("explain", "predict"):
        doc = ok(runs[name]).json()
        validate(doc)
        assert [t["special"] for t in doc["tokens"]] == [True] + [False] * (len(doc["tokens"]) - 1), name
        assert doc["tokens"][0]["token"] == BOS and doc["tokens"][0]["start"] == doc["tokens"][0]["end"] == 0
    explain = runs["explain"].json()
    assert len(explain["attention"][0]["heads"][0]["weights"]) == len(explain["tokens"])  # BOS is attended to


def test_a_special_token_typed_in_the_text_is_marked(runs):
    doc = ok(runs["bundled"]).json()
    validate(doc)
    assert [t["token"] for t in doc["tokens"] if t["special"]] == [BOS]
    assert doc["tokens"][0]["token"] == "i"  # the bundled model adds no BOS


def test_the_tokens_table_notes_bos(runs):
    stdout = ok(runs["table"]).stdout
    index, shown, tid = token_rows(stdout)[0]
    assert (index, tid) == (0, json.loads(runs["explain"].stdout)["tokens"][0]["id"]) and BOS in shown
    first = table_lines_after(stdout, "Tokens")[2]  # title, header, then BOS's row
    assert first.rstrip().endswith("special token, added before the text")
