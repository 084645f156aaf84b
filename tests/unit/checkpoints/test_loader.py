"""The native loader: a save/load round trip, and one clear ModelError per corrupt file.

Every corrupt case goes through the public `checkpoints.load` and checks that the one-line
message names the file, the tensor (when there is one) and what was expected.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from attncli.checkpoints import load, native
from attncli.config import FORMAT_VERSION, ModelConfig, param_shapes
from attncli.errors import ExitCode, ModelError
from helpers.known_models import TINY_GPT2, edit_config, rewrite_tensors


def load_error(path) -> str:
    with pytest.raises(ModelError) as info:
        load(path)
    msg = str(info.value)
    assert "\n" not in msg, "a loader error is one line"
    assert info.value.exit_code == ExitCode.ERROR
    return msg


def write_raw_safetensors(file: Path, entries: dict[str, tuple[str, list[int], bytes]]) -> None:
    """A safetensors file written from its spec (8-byte little-endian header length, JSON header,
    data), for dtypes numpy cannot save, e.g. BF16."""
    header, blobs, offset = {}, [], 0
    for name, (dtype, shape, data) in entries.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    file.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# --- round trip ---------------------------------------------------------------------------

def _saved(tmp_path, tokenizer_json, tokenizer_vocab_size, make_params, dtype, **over):
    config = ModelConfig(vocab_size=tokenizer_vocab_size, **{**TINY_GPT2, **over})
    params = make_params(config, seed=5)
    native.save(tmp_path / "m", config, params, tokenizer_json, name="roundtrip", card={"source": "test"}, dtype=dtype)
    return config, params, tmp_path / "m"


# every family variant at once (format version 2; 4 for sandwich_norms, version 2's post_norms renamed): Gemma 3's
# blocks, Qwen2's biases, partial and scaled rope
VARIANTS = dict(norm="rmsnorm", positions="rotary", mlp="swiglu", activation="gelu_tanh", n_kv_head=1, attn_bias=True,
                attn_out_bias=False, mlp_bias=False, qk_norm=True, norm_plus_one=True, sandwich_norms=True, scale_embed=True,
                query_pre_attn_scalar=12.0, rope_dims=4, rope_freq_factors=(1.0, 2.5), sliding_window=3,
                sliding_layers=(0,), rope_local_theta=100.0)


@pytest.mark.parametrize("over,version", [
    ({}, 1),
    (dict(norm="rmsnorm", positions="rotary", mlp="swiglu", activation="silu", n_kv_head=1, attn_bias=False,
          mlp_bias=False, tied_embeddings=False, causal=False), 1),
    (VARIANTS, 4), ({k: v for k, v in VARIANTS.items() if k != "sandwich_norms"}, 2)],
    ids=["gpt2", "llama", "variants", "variants-but-sandwich"])
def test_round_trip_float32_is_exact(tmp_path, tokenizer_json, tokenizer_vocab_size, make_params, over, version):
    config, params, path = _saved(tmp_path, tokenizer_json, tokenizer_vocab_size, make_params, "float32", **over)
    assert json.loads((path / "config.json").read_text())["format_version"] == version  # the lowest that states it
    model = load(path)
    assert model.config == config
    assert set(model.params) == set(params)
    for name, arr in params.items():
        assert model.params[name].dtype == np.float32
        np.testing.assert_array_equal(model.params[name], arr, err_msg=name)
    assert model.name == "roundtrip" and model.card == {"source": "test"} and model.source == str(path)
    assert model.tokenizer.vocab_size == tokenizer_vocab_size
    assert model.tokenizer.decode([t.id for t in model.tokenizer.encode("I do not like spinach")]) == "I do not like spinach"


def test_round_trip_float16_within_half_precision(tmp_path, tokenizer_json, tokenizer_vocab_size, make_params):
    config, params, path = _saved(tmp_path, tokenizer_json, tokenizer_vocab_size, make_params, "float16")
    assert load_file(str(path / "model.safetensors"))["embed.W_E"].dtype == np.float16  # really stored as half
    model = load(path)
    for name, arr in params.items():
        got = model.params[name]
        assert got.dtype == np.float32  # widened for the forward pass
        # float16 keeps 11 significant bits: relative error at most 2^-11 for normal numbers
        np.testing.assert_allclose(got, arr, rtol=2.0**-11, atol=2.0**-24, err_msg=name)
        np.testing.assert_array_equal(got, arr.astype(np.float16).astype(np.float32), err_msg=name)
    assert json.loads((path / "config.json").read_text())["format_version"] == 1  # GPT-2 needs no version-2 field


def test_loaded_model_runs(tiny_model):
    trace = tiny_model.forward([t.id for t in tiny_model.tokenizer.encode("I do not like")])
    preds = tiny_model.predict(trace, 3)
    assert [p.rank for p in preds] == [1, 2, 3]
    assert all(0 < p.probability < 1 for p in preds)
    assert preds[0].probability >= preds[1].probability >= preds[2].probability


def test_param_shapes_count_gpt2_small():
    """GPT-2 small has 124,439,808 parameters (tied unembedding): a number from outside attncli."""
    gpt2 = ModelConfig(vocab_size=50257, n_layer=12, n_head=12, d_model=768, n_ctx=1024)
    assert gpt2.n_params == 124_439_808
    assert param_shapes(gpt2)["blocks.11.attn.W_Q"] == (768, 768)


# --- directories and files ----------------------------------------------------------------

def test_missing_directory(tmp_path):
    msg = load_error(tmp_path / "nope")
    assert str(tmp_path / "nope") in msg and "no such file or directory" in msg and "--model" in msg


def test_a_file_is_not_a_model_directory(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"hi")
    msg = load_error(tmp_path / "x.bin")
    assert str(tmp_path / "x.bin") in msg and "not a model directory" in msg


@pytest.mark.parametrize("fname", ["config.json", "model.safetensors", "tokenizer.json"])
def test_missing_file(make_model_dir, fname):
    path = make_model_dir()
    (path / fname).unlink()
    msg = load_error(path)
    assert str(path) in msg and f"missing {fname}" in msg
    assert all(f in msg for f in native.FILES)  # says what a model directory needs


# --- config.json --------------------------------------------------------------------------

def test_config_not_json(make_model_dir):
    path = make_model_dir()
    (path / "config.json").write_text('{"format_version": 1, "model": {')
    msg = load_error(path)
    assert str(path / "config.json") in msg and "not valid JSON" in msg


def test_config_not_an_object(make_model_dir):
    path = make_model_dir()
    (path / "config.json").write_text("[1, 2]")
    msg = load_error(path)
    assert str(path / "config.json") in msg and "JSON object" in msg


@pytest.mark.parametrize("version", [FORMAT_VERSION + 1, 0, "1", None])
def test_unknown_format_version(make_model_dir, version):
    path = make_model_dir()
    cfg = edit_config(path, lambda d: d.update(format_version=version))
    msg = load_error(path)
    assert str(cfg) in msg and f"format_version {version!r}" in msg and f"versions 1 to {FORMAT_VERSION}" in msg


def test_an_encoder_saves_as_version_4_and_loads_back(make_model_dir):
    path = make_model_dir(causal=False, block_norm="post", embed_norm=True, type_vocab_size=2, head="mlm",
                          activation="gelu")
    doc = json.loads((path / "config.json").read_text())
    assert doc["format_version"] == 4 and doc["model"]["block_norm"] == "post"  # block_norm is version 4's name
    model = load(path)
    assert model.config.head == "mlm" and model.config.is_encoder
    edit_config(path, lambda d: d.update(format_version=3))
    assert "block_norm needs format_version 4, but the file says 3" in load_error(path)


def test_a_version_2_field_in_a_version_1_file_is_refused(make_model_dir):
    """An attncli that predates the field would ignore it and compute another model: the file is inconsistent."""
    path = make_model_dir()
    cfg = edit_config(path, lambda d: d["model"].update(scale_embed=True))
    msg = load_error(path)
    assert str(cfg) in msg and "scale_embed needs format_version 2" in msg


def test_config_missing_hyperparameter(make_model_dir):
    path = make_model_dir()
    cfg = edit_config(path, lambda d: d["model"].pop("d_model"))
    msg = load_error(path)
    assert str(cfg) in msg and "d_model" in msg


@pytest.mark.parametrize("field,value", [("n_layer", "two"), ("n_layer", 0), ("norm", "batchnorm"), ("norm_eps", "x")])
def test_config_bad_value_names_file_and_field(make_model_dir, field, value):
    """Was a bug: validation said 'config: ...' without the path, and a string norm_eps gave a bare TypeError."""
    path = make_model_dir()
    cfg = edit_config(path, lambda d: d["model"].update({field: value}))
    msg = load_error(path)
    assert str(cfg) in msg and field in msg


# --- model.safetensors --------------------------------------------------------------------

def test_missing_tensor(make_model_dir):
    path = make_model_dir()
    rewrite_tensors(path, lambda t: t.pop("blocks.1.attn.W_K"))
    msg = load_error(path)
    assert str(path / "model.safetensors") in msg and "blocks.1.attn.W_K" in msg and "missing" in msg
    assert "config.json" in msg  # what it was expected from


def test_extra_tensor(make_model_dir):
    path = make_model_dir()
    rewrite_tensors(path, lambda t: t.update({"blocks.7.attn.W_Q": np.zeros((16, 16), np.float32)}))
    msg = load_error(path)
    assert str(path / "model.safetensors") in msg and "blocks.7.attn.W_Q" in msg and "unexpected" in msg


def test_wrong_shape(make_model_dir):
    path = make_model_dir()
    rewrite_tensors(path, lambda t: t.update({"blocks.0.mlp.W_in": np.zeros((16, 63), np.float32)}))
    msg = load_error(path)
    assert str(path / "model.safetensors") in msg and "blocks.0.mlp.W_in" in msg
    assert "[16, 63]" in msg and "[16, 64]" in msg  # what it has and what config.json implies


def test_transposed_weight_is_a_wrong_shape(make_model_dir):
    path = make_model_dir()
    rewrite_tensors(path, lambda t: t.update({"blocks.0.mlp.W_out": np.ascontiguousarray(t["blocks.0.mlp.W_out"].T)}))
    msg = load_error(path)
    assert "blocks.0.mlp.W_out" in msg and "[16, 64]" in msg and "[64, 16]" in msg


@pytest.mark.parametrize("dtype,code", [(np.int32, "I32"), (np.int64, "I64"), (np.float64, "F64")])
def test_non_float32_16_dtype(make_model_dir, dtype, code):
    path = make_model_dir()
    rewrite_tensors(path, lambda t: t.update({"ln_final.w": t["ln_final.w"].astype(dtype)}))
    msg = load_error(path)
    assert str(path / "model.safetensors") in msg and "ln_final.w" in msg and code in msg
    assert "float16 or float32" in msg


def test_bfloat16_is_rejected_by_name(make_model_dir):
    path = make_model_dir()
    tensors = load_file(str(path / "model.safetensors"))
    entries = {n: ("F32", list(a.shape), a.tobytes()) for n, a in tensors.items()}
    entries["embed.W_E"] = ("BF16", list(tensors["embed.W_E"].shape), b"\0\0" * tensors["embed.W_E"].size)
    write_raw_safetensors(path / "model.safetensors", entries)
    msg = load_error(path)
    assert "embed.W_E" in msg and "BF16" in msg and "float16 or float32" in msg


def test_raw_writer_makes_loadable_files(make_model_dir):
    """The hand-made safetensors writer above is right: unchanged tensors load back."""
    path = make_model_dir()
    tensors = load_file(str(path / "model.safetensors"))
    write_raw_safetensors(path / "model.safetensors", {n: ("F32", list(a.shape), a.tobytes()) for n, a in tensors.items()})
    np.testing.assert_array_equal(load(path).params["embed.W_E"], tensors["embed.W_E"])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_non_finite_weights(make_model_dir, bad, dtype):
    path = make_model_dir(dtype=dtype)

    def poison(t):
        t["blocks.1.ln2.b"][3] = bad

    rewrite_tensors(path, poison)
    msg = load_error(path)
    assert str(path / "model.safetensors") in msg and "blocks.1.ln2.b" in msg and "NaN or infinite" in msg


def _header_len(file: Path) -> int:
    return struct.unpack("<Q", file.read_bytes()[:8])[0]


@pytest.mark.parametrize("where", ["half", "inside_header", "inside_length", "last_byte", "empty"])
def test_truncated_safetensors(make_model_dir, where):
    path = make_model_dir()
    file = path / "model.safetensors"
    data = file.read_bytes()
    n = _header_len(file)
    assert n > 40  # the header is long enough to cut inside it
    cut = {"half": len(data) // 2, "inside_header": 8 + n // 2, "inside_length": 5, "last_byte": len(data) - 1, "empty": 0}[where]
    file.write_bytes(data[:cut])
    msg = load_error(path)
    assert str(file) in msg and "truncated or corrupt" in msg


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_garbage_bytes(make_model_dir, seed):
    path = make_model_dir()
    rng = np.random.default_rng(seed)
    (path / "model.safetensors").write_bytes(rng.bytes(4096))
    msg = load_error(path)
    assert str(path / "model.safetensors") in msg and "truncated or corrupt" in msg


def test_garbage_after_a_plausible_header_length(make_model_dir):
    path = make_model_dir()
    (path / "model.safetensors").write_bytes(struct.pack("<Q", 64) + os.urandom(200))
    msg = load_error(path)
    assert str(path / "model.safetensors") in msg and "truncated or corrupt" in msg


# --- tokenizer.json -----------------------------------------------------------------------

@pytest.mark.parametrize("text", ['{"model": {', '{"model": {"type": "BPE"}}', "", "\x00\x01garbage"])
def test_corrupt_tokenizer(make_model_dir, text):
    path = make_model_dir()
    (path / "tokenizer.json").write_text(text)
    msg = load_error(path)
    assert str(path / "tokenizer.json") in msg and "not a valid tokenizers file" in msg


def test_tokenizer_larger_than_vocab_size(make_model_dir, tokenizer_vocab_size):
    path = make_model_dir(vocab_size=tokenizer_vocab_size - 10)
    msg = load_error(path)
    assert str(path / "tokenizer.json") in msg
    assert str(tokenizer_vocab_size) in msg and f"vocab_size {tokenizer_vocab_size - 10}" in msg


def test_tokenizer_smaller_than_vocab_size_is_fine(make_model_dir, tokenizer_vocab_size):
    """A padded embedding (more rows than tokens) is common and must load."""
    assert load(make_model_dir(vocab_size=tokenizer_vocab_size + 4)).config.vocab_size == tokenizer_vocab_size + 4


# --- save ---------------------------------------------------------------------------------

def test_save_refuses_params_that_do_not_match_the_config(tmp_path, tokenizer_json, make_params):
    config = ModelConfig(vocab_size=300, **TINY_GPT2)
    params = make_params(config)
    params.pop("ln_final.b")
    with pytest.raises(ModelError, match="ln_final.b"):
        native.save(tmp_path / "m", config, params, tokenizer_json, name="x")
    assert not (tmp_path / "m").exists()


def test_save_float16_refuses_values_out_of_half_range(tmp_path, tokenizer_json, tokenizer_vocab_size, make_params):
    """Was a bug: save(dtype='float16') wrote inf for |x| > 65504, making a directory load then rejected."""
    config = ModelConfig(vocab_size=tokenizer_vocab_size, **TINY_GPT2)
    params = make_params(config)
    params["blocks.0.mlp.W_in"][0, 0] = 1e5  # fine in float32, inf in float16
    with pytest.raises(ModelError) as info:
        native.save(tmp_path / "m", config, params, tokenizer_json, name="x", dtype="float16")
    assert "blocks.0.mlp.W_in" in str(info.value) and "float16" in str(info.value)
    assert not (tmp_path / "m").exists()
    native.save(tmp_path / "m", config, params, tokenizer_json, name="x", dtype="float32")  # float32 holds it
    assert load(tmp_path / "m").params["blocks.0.mlp.W_in"][0, 0] == 1e5
