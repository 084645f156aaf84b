"""The GGUF reader: dequantization by hand, a tiny random Llama written as GGUF (with llama.cpp's
Q/K permutation) compared with transformers, and malformed files that must fail in one line."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from attncli.checkpoints import load
from attncli.checkpoints.gguf.archs import unpermute_rows
from attncli.checkpoints.gguf.quants import dequantize
from attncli.checkpoints.gguf.reader import read_header
from attncli.errors import ModelError
from helpers.references import need, transformers_from_gguf, transformers_run
from helpers.tolerances import assert_within, logits_tolerance, trace_weights_tolerance, unembedding

TEXT = "the cat sat on the mat 42 times"


# ---- dequantization, against blocks computed by hand --------------------------------------------

def f16_bytes(x: float) -> bytes:
    return np.float16(x).tobytes()


def test_q8_0_block_by_hand() -> None:
    q = np.arange(-16, 16, dtype=np.int8)  # 32 values
    raw = np.frombuffer(f16_bytes(0.5) + q.tobytes(), dtype=np.uint8)
    out = dequantize(raw, 8, (1, 32))
    np.testing.assert_array_equal(out[0], q.astype(np.float32) * np.float32(0.5))


def test_q4_1_block_by_hand() -> None:
    # byte i holds value i in its low nibble and value 16+i in its high nibble
    lo, hi = np.arange(16, dtype=np.uint8), (15 - np.arange(16)).astype(np.uint8)
    raw = np.frombuffer(f16_bytes(0.25) + f16_bytes(-1.0) + (lo | (hi << 4)).tobytes(), dtype=np.uint8)
    out = dequantize(raw, 3, (1, 32))[0]
    expected = np.concatenate([lo, hi]).astype(np.float32) * np.float32(0.25) + np.float32(-1.0)
    np.testing.assert_array_equal(out, expected)
    assert out[0] == -1.0 and out[15] == 2.75 and out[16] == 2.75 and out[31] == -1.0


def test_q4_0_block_by_hand() -> None:
    lo, hi = np.arange(16, dtype=np.uint8), np.full(16, 8, dtype=np.uint8)
    raw = np.frombuffer(f16_bytes(2.0) + (lo | (hi << 4)).tobytes(), dtype=np.uint8)
    out = dequantize(raw, 2, (1, 32))[0]
    np.testing.assert_array_equal(out[:16], (np.arange(16) - 8) * 2.0)
    np.testing.assert_array_equal(out[16:], 0.0)


@pytest.mark.parametrize("qtype", ["Q4_0", "Q4_1", "Q8_0", "F16", "BF16"])
def test_dequantize_matches_gguf_package(qtype: str) -> None:
    gguf = pytest.importorskip("gguf", reason="the comparison needs the gguf package")
    t = getattr(gguf.GGMLQuantizationType, qtype)
    x = np.random.default_rng(0).normal(size=(8, 64)).astype(np.float32)  # [rows, in]
    data = gguf.quants.quantize(x, t)
    expected = gguf.quants.dequantize(data, t)
    ours = dequantize(data.reshape(-1).view(np.uint8), int(t), (8, 64))
    np.testing.assert_array_equal(ours, expected)


def test_unpermute_inverts_llama_cpp_permute() -> None:
    w = np.random.default_rng(1).normal(size=(4 * 8, 5)).astype(np.float32)  # [n_head * d_head, in]
    np.testing.assert_array_equal(unpermute_rows(permute(w, 4), 4), w)


# ---- a tiny random Llama, written as GGUF -------------------------------------------------------

torch = need("torch")
transformers = need("transformers")
gguf = pytest.importorskip("gguf", reason="writing test GGUF files needs the gguf package")


def permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp convert_hf_to_gguf.py's reordering of Q/K rows, [out, in]."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def byte_vocab() -> tuple[list[str], list[str], list[int]]:
    """tokens, merges, token types: 3 control tokens, the 256 byte symbols, a few merges."""
    from attncli.tokenizer import byte_level_alphabet

    tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + [c for _, c in sorted(byte_level_alphabet().items())]
    merges = ["t h", "Ġ th", "Ġth e", "a t", "Ġ c", "Ġc at", "Ġ s", "Ġs at", "o n", "Ġ m", "Ġm at"]
    for m in merges:
        tokens.append(m.replace(" ", ""))
    types = [3, 3, 3] + [1] * (len(tokens) - 3)
    return tokens, merges, types


def make_llama(tied: bool = True, seed: int = 0):
    tokens, _, _ = byte_vocab()
    config = transformers.LlamaConfig(
        vocab_size=len(tokens), hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, max_position_embeddings=128, rms_norm_eps=1e-5, rope_theta=10000.0,
        tie_word_embeddings=tied, initializer_range=0.2, bos_token_id=0, eos_token_id=0, pad_token_id=0)
    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(1.0 + 0.2 * torch.randn_like(p) if "norm" in name else 0.2 * torch.randn_like(p))
    return model


def write_gguf(model, path: Path, types: dict[str, str] | None = None) -> Path:
    """Write `model` as llama.cpp would: Q/K rows permuted, each tensor as `types[kind]` (default F32)."""
    types = types or {}
    c = model.config
    tokens, merges, token_types = byte_vocab()
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(c.num_hidden_layers)
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    w.add_rope_freq_base(c.rope_theta if hasattr(c, "rope_theta") else c.rope_parameters["rope_theta"])
    w.add_rope_dimension_count(c.head_dim)
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types(token_types)
    w.add_token_merges(merges)
    w.add_bos_token_id(0)
    w.add_eos_token_id(0)
    w.add_add_bos_token(False)

    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}

    def put(name: str, arr: np.ndarray, kind: str) -> None:
        qtype = types.get(kind, "F32") if arr.ndim == 2 else "F32"
        if qtype == "F32":
            w.add_tensor(name, arr.astype(np.float32))
        elif qtype == "F16":
            w.add_tensor(name, arr.astype(np.float16))
        else:
            t = getattr(gguf.GGMLQuantizationType, qtype)
            data = gguf.quants.quantize(arr.astype(np.float32), t)
            w.add_tensor(name, data, raw_shape=data.shape, raw_dtype=t)

    put("token_embd.weight", sd["model.embed_tokens.weight"], "embed")
    for L in range(c.num_hidden_layers):
        p, g = f"model.layers.{L}", f"blk.{L}"
        put(f"{g}.attn_norm.weight", sd[f"{p}.input_layernorm.weight"], "norm")
        put(f"{g}.attn_q.weight", permute(sd[f"{p}.self_attn.q_proj.weight"], c.num_attention_heads), "attn")
        put(f"{g}.attn_k.weight", permute(sd[f"{p}.self_attn.k_proj.weight"], c.num_key_value_heads), "attn")
        put(f"{g}.attn_v.weight", sd[f"{p}.self_attn.v_proj.weight"], "attn")
        put(f"{g}.attn_output.weight", sd[f"{p}.self_attn.o_proj.weight"], "attn")
        put(f"{g}.ffn_norm.weight", sd[f"{p}.post_attention_layernorm.weight"], "norm")
        put(f"{g}.ffn_gate.weight", sd[f"{p}.mlp.gate_proj.weight"], "mlp")
        put(f"{g}.ffn_up.weight", sd[f"{p}.mlp.up_proj.weight"], "mlp")
        put(f"{g}.ffn_down.weight", sd[f"{p}.mlp.down_proj.weight"], "mlp")
    put("output_norm.weight", sd["model.norm.weight"], "norm")
    if not c.tie_word_embeddings:
        put("output.weight", sd["lm_head.weight"], "embed")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def assert_same(ours, trace, out) -> None:
    """Attention and logits equal transformers' eager float32 within what float32 rounding allows
    two computations of the same sums (tolerances.py)."""
    for L in range(ours.config.n_layer):
        assert_within(trace[f"blocks.{L}.attn.weights"], out.attentions[L][0].numpy(),
                      trace_weights_tolerance(ours.config, trace, L), f"layer {L}'s weights")
    bound = logits_tolerance(ours.config, trace["ln_final"], unembedding(ours))
    assert_within(trace["logits"], out.logits[0].numpy(), bound, "logits")


@pytest.mark.parametrize("tied", [True, False])
def test_f32_gguf_matches_the_original_transformers_model(tmp_path: Path, tied: bool) -> None:
    model = make_llama(tied=tied)
    ours = load(write_gguf(model, tmp_path / "tiny.gguf"))
    assert ours.config.n_kv_head == 2 and ours.config.tied_embeddings == tied
    ids = [t.id for t in ours.tokenizer.encode(TEXT)]
    assert_same(ours, ours.forward(ids), transformers_run(model, ids))


def test_quantized_gguf_matches_transformers_loading_it(tmp_path: Path) -> None:
    need("accelerate")
    model = make_llama()
    path = write_gguf(model, tmp_path / "tiny-q.gguf", {"embed": "Q8_0", "attn": "Q4_1", "mlp": "F16"})
    ours = load(path)
    assert ours.card["quantization"] == ["F16", "F32", "Q4_1", "Q8_0"]
    ref, tok = transformers_from_gguf(path)
    for text in (TEXT, "<|im_start|>the cat\n\n sat 2025<|im_end|> héllo 🐈"):
        assert [t.id for t in ours.tokenizer.encode(text)] == tok(text, add_special_tokens=False)["input_ids"]
    ids = [t.id for t in ours.tokenizer.encode(TEXT)]
    assert_same(ours, ours.forward(ids), transformers_run(ref, ids))


def test_layers_option_keeps_one_layer_with_the_same_numbers(tmp_path: Path) -> None:
    ours = load(write_gguf(make_llama(), tmp_path / "tiny.gguf"))
    ids = [t.id for t in ours.tokenizer.encode(TEXT)]
    full, one = ours.forward(ids), ours.forward(ids, layers=[1])
    assert one.layers == [1]
    np.testing.assert_array_equal(one["blocks.1.attn.weights"], full["blocks.1.attn.weights"])
    np.testing.assert_array_equal(one["logits"], full["logits"])


# ---- malformed files: one line, a ModelError, no crash, no huge allocation ------------------------

@pytest.fixture(scope="module")
def good(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("good") / "tiny.gguf"
    write_gguf(make_llama(), path, {"embed": "Q8_0", "attn": "Q4_1"})
    return path.read_bytes()


def header_end(data: bytes) -> int:
    """Offset of the tensor table: after magic, version, counts and all metadata."""
    meta, tensors = read_header(memoryview(data), Path("x"))
    return min(t.offset for t in tensors.values())


def first_tensor_info_offset(data: bytes, name: bytes) -> int:
    i = data.index(struct.pack("<Q", len(name)) + name)
    return i + 8 + len(name)  # at n_dims


def corrupt(good: bytes, case: str) -> bytes:
    b = bytearray(good)
    if case == "empty":
        return b""
    if case == "truncated header":
        return bytes(b[:100])
    if case == "truncated metadata":
        return bytes(b[:2000])
    if case == "truncated data":
        return bytes(b[: len(b) - 1000])
    if case == "bad magic":
        b[:4] = b"GGUX"
    elif case == "version 1":
        b[4:8] = struct.pack("<I", 1)
    elif case == "version 99":
        b[4:8] = struct.pack("<I", 99)
    elif case == "big-endian":
        b[4:8] = struct.pack(">I", 3)
    elif case == "absurd tensor count":
        b[8:16] = struct.pack("<Q", 2**62)
    elif case == "absurd metadata count":
        b[16:24] = struct.pack("<Q", 2**40)
    elif case == "absurd layer count":
        key = b"llama.block_count"
        at = good.index(struct.pack("<Q", len(key)) + key) + 8 + len(key)  # value type u32, then the value
        assert struct.unpack_from("<I", b, at)[0] == 4
        b[at + 4:at + 8] = struct.pack("<I", 2**31)
    else:
        at = first_tensor_info_offset(good, b"blk.0.attn_q.weight")  # n_dims u32, dims u64 x n, type u32, offset u64
        n_dims = struct.unpack_from("<I", b, at)[0]
        if case == "absurd dims":
            b[at + 4:at + 12] = struct.pack("<Q", 2**60)
        elif case == "too many dims":
            b[at:at + 4] = struct.pack("<I", 4096)
        elif case == "unknown quantization":
            b[at + 4 + 8 * n_dims:at + 8 + 8 * n_dims] = struct.pack("<I", 12345)
        elif case == "offset past the end":
            b[at + 8 + 8 * n_dims:at + 16 + 8 * n_dims] = struct.pack("<Q", len(good) * 4)
        else:
            raise AssertionError(case)
    return bytes(b)


CASES = {
    "empty": "empty",
    "truncated header": "more than the file can hold",
    "truncated metadata": "past the end",
    "truncated data": "past the end",
    "bad magic": "not a GGUF file",
    "version 1": "version 1 is not supported",
    "version 99": "version 99 is not supported",
    "big-endian": "big-endian",
    "absurd tensor count": "more than the file can hold",
    "absurd metadata count": "more than the file can hold",
    "absurd layer count": "block_count is 2147483648",
    "absurd dims": "dimension",
    "too many dims": "dimensions",
    "unknown quantization": "ggml type 12345",
    "offset past the end": "past the end",
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_gguf_is_one_line_model_error(tmp_path: Path, good: bytes, case: str) -> None:
    import tracemalloc

    path = tmp_path / "bad.gguf"
    path.write_bytes(corrupt(good, case))
    tracemalloc.start()
    try:
        with pytest.raises(ModelError) as e:
            load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    msg = str(e.value)
    assert "\n" not in msg, msg
    assert CASES[case] in msg, msg
    assert str(path) in msg
    assert peak < 50 * 2**20, f"{case}: {peak} bytes allocated"


def test_nan_weight_is_one_line_model_error(tmp_path: Path) -> None:
    model = make_llama()
    with torch.no_grad():
        model.model.layers[1].post_attention_layernorm.weight[3] = float("nan")
    path = write_gguf(model, tmp_path / "nan.gguf")
    with pytest.raises(ModelError) as e:
        load(path)
    assert "blk.1.ffn_norm.weight holds NaN" in str(e.value) and "\n" not in str(e.value)


def test_not_llama_architecture_is_refused(tmp_path: Path) -> None:
    w = gguf.GGUFWriter(str(tmp_path / "g.gguf"), "gpt2")
    w.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(ModelError, match="architecture 'gpt2' is not supported"):
        load(tmp_path / "g.gguf")
