"""Metadata out of range is not taken silently. A rotary base, a norm's epsilon or a scaling factor that
is not a positive number (NaN, infinity, 0, negative), a negative sliding window or window pattern: refused
in one line naming the key. A special token id past the vocabulary: as llama.cpp does, the default is
kept, and a warning line on stderr says so (llama.cpp logs "bad special token"); the run goes on."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from attncli.errors import ExitCode
from helpers.known_models import edit_config, hf_llama_files, write_files
from helpers.run_cli import HOWS, Run, assert_one_error_line, attn

gguf = pytest.importorskip("gguf", reason="writing test GGUF files needs the gguf package")

from helpers.gguf_files import write_gguf  # noqa: E402

BAD_NUMBERS = {"infinite": math.inf, "NaN": math.nan, "zero": 0.0, "negative": -2.0}


def refusal(how: str, path: Path, key: str) -> str:
    run = attn(how, ["info", "-m", str(path)])
    msg = assert_one_error_line(run)
    assert run.code == ExitCode.ERROR and run.stdout == "", run.stdout
    assert key in msg, msg
    return msg


def warned(how: str, path: Path) -> tuple[Run, str]:
    """A run that goes on with one warning line on stderr: (the run, the warning)."""
    run = attn(how, ["predict", "I do", "-m", str(path), "--json", "--top-k", "1"])
    assert run.code == 0, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("attn: warning: "), lines
    run.json()  # stdout is still the result
    return run, lines[0]


# ---- GGUF ------------------------------------------------------------------------------------------------

GGUF_NUMBERS = ["llama.rope.freq_base", "llama.attention.layer_norm_rms_epsilon", "llama.rope.scaling.factor"]


# a scaling factor of 0 means none, as llama.cpp reads it (tested below)
GGUF_CASES = [(key, bad) for key in GGUF_NUMBERS for bad in BAD_NUMBERS
              if not (key.endswith("scaling.factor") and bad == "zero")]


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("key,bad", GGUF_CASES, ids=[f"{k}-{b}" for k, b in GGUF_CASES])
def test_a_gguf_number_that_is_not_positive_is_refused(tmp_path, key, bad, how):
    path = write_gguf(tmp_path / "m.gguf", meta={key: BAD_NUMBERS[bad]})
    assert "the file is corrupt" in refusal(how, path, key)


def test_a_gguf_scaling_factor_of_zero_means_none(tmp_path):
    from attncli.checkpoints import load

    scaled = load(write_gguf(tmp_path / "m.gguf", meta={"llama.rope.scaling.factor": 0.0}))
    assert scaled.config.rope_freq_factors == ()


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("which", ["bos", "eos", "unknown", "padding"])
def test_a_gguf_special_id_past_the_vocabulary_keeps_llama_cpps_default_and_says_so(tmp_path, which, how):
    key = f"tokenizer.ggml.{which}_token_id"
    path = write_gguf(tmp_path / "m.gguf", meta={key: 999})  # 258 tokens
    _, warning = warned(how, path)
    from attncli.tokenizer import byte_level_alphabet

    # llama.cpp's defaults for a gpt2 vocabulary: BOS and EOS 11 (write_gguf's tokens are the 256 bytes first)
    default = f"token 11 ({byte_level_alphabet()[11]!r})" if which in ("bos", "eos") else "none"
    assert f"{key} is 999, past the vocabulary's 258 tokens" in warning and warning.endswith(default), warning


@pytest.fixture(scope="module")
def gemma3_gguf(tmp_path_factory) -> Path:
    pytest.importorskip("torch", reason="building the family models needs torch (pip install torch==2.13.0)")
    from helpers import families

    return families.built("gemma3", tmp_path_factory).paths["gguf-f32"]


GEMMA3 = {  # metadata change -> the key the refusal names
    "negative window pattern": ({"gemma3.attention.sliding_window_pattern": -3}, "sliding_window_pattern is -3"),
    "negative window": ({"gemma3.attention.sliding_window": -4}, "sliding_window is -4"),
    "infinite local base": ({"gemma3.rope.freq_base_swa": math.inf}, "rope.freq_base_swa"),
    "zero local base": ({"gemma3.rope.freq_base_swa": 0.0}, "rope.freq_base_swa"),
}


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("case", list(GEMMA3))
def test_gemma3_window_metadata_out_of_range_is_refused(gemma3_gguf, tmp_path, case, how):
    from helpers.gguf_files import rewrite_gguf

    changes, said = GEMMA3[case]
    refusal(how, rewrite_gguf(gemma3_gguf, tmp_path / "g.gguf", changes), said)


# ---- Hugging Face folders ----------------------------------------------------------------------------------

def folder(tmp_path: Path, tokenizer_json: str, vocab_size: int, **config: Any) -> Path:
    return write_files(tmp_path / "hf", hf_llama_files(tokenizer_json, vocab_size, **config))


HF = {  # config.json change -> the key the refusal names
    **{f"rope_theta {bad}": ({"rope_theta": value}, "rope_theta") for bad, value in BAD_NUMBERS.items()},
    **{f"rms_norm_eps {bad}": ({"rms_norm_eps": value}, "rms_norm_eps") for bad, value in BAD_NUMBERS.items()},
    "rms_norm_eps null": ({"rms_norm_eps": None}, "rms_norm_eps"),
    "rope_theta a string": ({"rope_theta": "1e4"}, "rope_theta"),
    "linear factor negative": ({"rope_scaling": {"rope_type": "linear", "factor": -2.0}}, "factor"),
    "linear factor infinite": ({"rope_scaling": {"rope_type": "linear", "factor": math.inf}}, "factor"),
    "llama3 high = low": ({"rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 2.0,
                                            "high_freq_factor": 2.0, "original_max_position_embeddings": 16}},
                          "high_freq_factor 2 is not more than low_freq_factor 2"),
    "rope_scaling a list": ({"rope_scaling": [1, 2]}, "rope_scaling"),
    "window pattern 0": ({"model_type": "gemma3_text", "head_dim": 8, "sliding_window": 4,
                          "sliding_window_pattern": 0}, "sliding_window_pattern is 0"),
    "window pattern negative": ({"model_type": "gemma3_text", "head_dim": 8, "sliding_window": 4,
                                 "sliding_window_pattern": -3}, "sliding_window_pattern is -3"),
    "local base infinite": ({"model_type": "gemma3_text", "head_dim": 8, "sliding_window": 4,
                             "rope_local_base_freq": math.inf}, "rope_local_base_freq"),
    "partial rotary past 1": ({"model_type": "phi3", "partial_rotary_factor": 1e9}, "partial_rotary_factor"),
    "partial rotary 0": ({"model_type": "phi3", "partial_rotary_factor": 0.0}, "partial_rotary_factor"),
    "max_window_layers a string": ({"model_type": "qwen2", "use_sliding_window": True, "sliding_window": 4,
                                   "max_window_layers": "all"}, "max_window_layers"),
}


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("case", list(HF))
def test_a_hugging_face_number_out_of_range_is_refused(tmp_path, tokenizer_json, tokenizer_vocab_size, case, how):
    change, said = HF[case]
    refusal(how, folder(tmp_path, tokenizer_json, tokenizer_vocab_size, **change), said)


@pytest.mark.parametrize("how", HOWS)
def test_a_hugging_face_special_id_past_the_vocabulary_is_said(tmp_path, tokenizer_json, tokenizer_vocab_size, how):
    path = folder(tmp_path, tokenizer_json, tokenizer_vocab_size, eos_token_id=[2, 99999], pad_token_id=-1)
    _, warning = warned(how, path)  # -1 is the usual way to say "none": not warned about
    assert f"eos_token_id is 99999, past the vocabulary's {tokenizer_vocab_size} tokens" in warning, warning


def test_a_bert_norm_epsilon_out_of_range_is_refused(tmp_path_factory):
    pytest.importorskip("transformers", reason="building a BERT folder needs transformers")
    from helpers import encoders

    path = tmp_path_factory.mktemp("bert") / "bert"
    shutil.copytree(encoders.built("bert", tmp_path_factory).mlm, path)
    edit_config(path, lambda doc: doc.update(layer_norm_eps=-1e-12))
    refusal("runner", path, "layer_norm_eps is -1e-12")


# ---- attncli's own format -------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("key", ["norm_eps", "rope_theta"])
def test_an_attncli_number_that_is_not_finite_is_refused(make_model_dir, key, how):
    path = make_model_dir(name=f"inf-{key}")
    edit_config(path, lambda doc: doc["model"].update({key: math.inf}))
    assert json.loads((path / "config.json").read_text())["model"][key] == math.inf
    refusal(how, path, f"{key} must be a positive number, got inf")


def test_the_unchanged_files_load_without_a_word(tmp_path, tokenizer_json, tokenizer_vocab_size):
    for path in (write_gguf(tmp_path / "m.gguf"), folder(tmp_path, tokenizer_json, tokenizer_vocab_size)):
        run = attn("runner", ["predict", "I do", "-m", str(path)])
        assert run.code == 0 and run.stderr == "", run.stderr
