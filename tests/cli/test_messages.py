"""Messages that say what is wrong rather than what follows from it: heads that do not divide the width,
a size missing from a config, a config of neither format, and a text of several words given unquoted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attncli.errors import ExitCode
from helpers.known_models import edit_config, hf_llama_files, write_files
from helpers.run_cli import HOWS, assert_one_error_line, attn


def refused(how: str, path: Path, code: ExitCode = ExitCode.ERROR) -> str:
    run = attn(how, ["info", "-m", str(path)])
    msg = assert_one_error_line(run)
    assert run.code == code and run.stdout == ""
    return msg


def hf_folder(tmp_path: Path, tokenizer_json: str, vocab_size: int, drop: str = "", **config) -> Path:
    folder = write_files(tmp_path / "hf", hf_llama_files(tokenizer_json, vocab_size, **config))
    if drop:
        edit_config(folder, lambda doc: doc.pop(drop))
    return folder


@pytest.mark.parametrize("how", HOWS)
def test_heads_that_do_not_divide_a_hugging_face_width(how, tmp_path, tokenizer_json, tokenizer_vocab_size):
    folder = hf_folder(tmp_path, tokenizer_json, tokenizer_vocab_size, num_attention_heads=7)  # hidden_size 16
    msg = refused(how, folder)
    assert "hidden_size 16 is not divisible by num_attention_heads 7" in msg and "implies" not in msg, msg


@pytest.mark.parametrize("how", HOWS)
def test_heads_that_do_not_divide_a_gguf_width(how, tmp_path):
    pytest.importorskip("gguf", reason="writing test GGUF files needs the gguf package")
    from helpers.gguf_files import write_gguf

    # embedding 16, rotary over 8 dimensions: this said "rotary covers 8 of 2 head dimensions"
    msg = refused(how, write_gguf(tmp_path / "m.gguf", meta={"llama.attention.head_count": 7,
                                                             "llama.rope.dimension_count": 8}))
    assert "llama.embedding_length 16 is not divisible by llama.attention.head_count 7" in msg, msg
    assert "rotary" not in msg, msg


@pytest.mark.parametrize("how", HOWS)
def test_heads_that_do_not_divide_attnclis_own_width(how, make_model_dir):
    path = make_model_dir(name="heads")  # d_model 16
    edit_config(path, lambda doc: (doc["model"].pop("d_head"), doc["model"].update(n_head=3)))
    assert "d_model 16 is not divisible by n_head 3" in refused(how, path)


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("key", ["hidden_size", "num_hidden_layers", "vocab_size"])
def test_a_size_missing_from_a_hugging_face_config(how, tmp_path, tokenizer_json, tokenizer_vocab_size, key):
    msg = refused(how, hf_folder(tmp_path, tokenizer_json, tokenizer_vocab_size, drop=key))
    assert f"config.json: {key} is missing" in msg, msg


def test_a_size_missing_from_a_bert_config(tmp_path_factory):
    pytest.importorskip("transformers", reason="building a BERT folder needs transformers")
    import shutil

    from helpers import encoders

    folder = tmp_path_factory.mktemp("bert") / "bert"
    shutil.copytree(encoders.built("bert", tmp_path_factory).mlm, folder)
    edit_config(folder, lambda doc: doc.pop("hidden_size"))  # transformers' default would be 768
    assert "config.json: hidden_size is missing" in refused("runner", folder)


@pytest.mark.parametrize("how", HOWS)
def test_a_config_of_neither_format(how, tmp_path, tokenizer_json, tokenizer_vocab_size):
    folder = hf_folder(tmp_path, tokenizer_json, tokenizer_vocab_size, drop="model_type")
    msg = refused(how, folder)
    assert "neither format_version" in msg and "model_type" in msg and "None" not in msg, msg


UNQUOTED = {  # arguments -> the hint the message ends with
    ("explain", "hello", "world"): 'in quotes: attn explain "hello world"',
    ("predict", "I", "do", "not"): 'in quotes: attn predict "I do not"',
    ("view", "hello", "world"): 'in quotes: attn view "hello world"',
    ("explain", "it's", "$HOME"): "in quotes: attn explain 'it'\"'\"'s $HOME'",  # the shell would expand "$HOME"
    ("compare", "I", "do", "not"): 'e.g. attn compare "I do not like spinach" "I do like spinach"',
    ("patch", "a", "b", "c"): 'e.g. attn patch "I do not like spinach" "I do like spinach"',
}


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("args", list(UNQUOTED), ids=[" ".join(a) for a in UNQUOTED])
def test_unquoted_words_suggest_quoting_the_text(how, args):
    run = attn(how, list(args))
    msg = assert_one_error_line(run)
    assert run.code == ExitCode.USAGE and run.stdout == ""
    assert "unexpected extra argument" in msg and msg.endswith(UNQUOTED[args]), msg


@pytest.mark.parametrize("how", HOWS)
def test_extra_words_that_are_no_text_keep_the_help_pointer(how):
    run = attn(how, ["models", "pull", "smollm2", "minilm"])
    msg = assert_one_error_line(run)
    assert msg.endswith("(see 'attn models pull --help')") and "quotes" not in msg, msg


def test_the_folders_load_as_they_are(tmp_path, tokenizer_json, tokenizer_vocab_size):
    folder = hf_folder(tmp_path, tokenizer_json, tokenizer_vocab_size)
    assert json.loads((folder / "config.json").read_text())["num_attention_heads"] == 2
    assert attn("runner", ["info", "-m", str(folder)]).code == 0
