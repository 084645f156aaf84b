"""Proof of the scaffolding test_families.py relies on (families.py, families_gguf.py), by
transformers alone: its GGUF reader gives back the models the references say the files hold,
the metadata and tensor layout are llama.cpp's, the folders are what they claim, and every
family's features change the numbers, so a loader that ignores one fails."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the reference comparison needs torch (pip install torch==2.13.0)")
transformers = pytest.importorskip("transformers", reason="the reference comparison needs transformers")
gguf = pytest.importorskip("gguf", reason="writing test GGUF files needs the gguf package")
pytest.importorskip("accelerate", reason="transformers needs accelerate to load a GGUF file")

from helpers import families
from helpers.families import FAMILIES, SENTENCES, Reference, assert_close, load_gguf, max_diff

FTYPES = ("f32", "f16", "q8_0")
# transformers rebuilds these configs from GGUF metadata alone. The others it rebuilds only in part:
# it ignores rope_freqs.weight (llama3 rope), qwen3's key_length, gemma3's rope.freq_base_swa and
# phi3's rope.dimension_count, so those load with the reference's config and prove the tensors.
READ_FROM_METADATA = {"llama-tied", "mistral", "qwen2"}


@pytest.fixture(scope="session")
def family(tmp_path_factory):
    return lambda name: families.built(name, tmp_path_factory)


def gguf_fields(path) -> tuple[dict, dict]:
    reader = gguf.GGUFReader(str(path))
    meta = {}
    for key, f in reader.fields.items():
        meta[key] = f.contents()
    return meta, {t.name: t for t in reader.tensors}


_READ: dict[tuple[str, str, bool], Reference] = {}


def through_transformers(b: families.Built, ftype: str, metadata_only: bool = False) -> Reference:
    """transformers' forward on the GGUF file as its own reader loads it (once per session)."""
    key = (b.family.name, ftype, metadata_only)
    if key not in _READ:
        use_meta = metadata_only or b.family.name in READ_FROM_METADATA
        config = None if use_meta else b.gguf_references[ftype].config
        _READ[key] = Reference.run(load_gguf(b.paths[f"gguf-{ftype}"], config), b.ids)
    return _READ[key]


GGUF_CASES = [(f, t) for f in FAMILIES for t in FTYPES]


@pytest.mark.parametrize("name,ftype", GGUF_CASES, ids=[f"{f}-{t}" for f, t in GGUF_CASES])
def test_transformers_reads_the_gguf_as_the_reference(family, name: str, ftype: str) -> None:
    """Its dequantization, Q/K un-permutation and Gemma norm - 1 give the reference's model exactly."""
    b = family(name)
    got = through_transformers(b, ftype)
    ref = b.references[f"gguf-{ftype}"]
    for L, (a, r) in enumerate(zip(got.attentions, ref.attentions, strict=True)):
        assert_close(f"{name} {ftype} layer {L} attention", a, r, 1e-5)
    assert_close(f"{name} {ftype} logits", got.logits, ref.logits, 1e-5)


# How far a rounded file's logits may be from the float32 model's, relative to the largest logit.
# Loose: a random model amplifies rounding from layer to layer (Q8_0 moves logits by up to ~17%);
# the exact check is the one above, on the weights the file stores.
ROUNDING = {"f32": 1e-6, "f16": 2e-2, "q8_0": 0.25}


@pytest.mark.parametrize("name,ftype", GGUF_CASES, ids=[f"{f}-{t}" for f, t in GGUF_CASES])
def test_gguf_logits_are_the_original_models(family, name: str, ftype: str) -> None:
    """The F32 file is the original model (under what a GGUF can state); F16 and Q8_0 are near it."""
    b = family(name)
    original = Reference.run(families.gguf_model(b.model, b.family, "f32"), b.ids)
    if not b.family.gguf_config:
        assert_close(f"{name} original", original.logits, b.references["hf-f32"].logits, 1e-6)
    got = through_transformers(b, ftype)
    scale = float(np.abs(original.logits).max())
    assert_close(f"{name} {ftype} logits", got.logits, original.logits, max(1e-5, ROUNDING[ftype] * scale))


@pytest.mark.parametrize("name", sorted(READ_FROM_METADATA))
def test_metadata_alone_rebuilds_the_model(family, name: str) -> None:
    """For these families transformers needs nothing but the file: the metadata says it all."""
    b = family(name)
    got = through_transformers(b, "f32", metadata_only=True)
    assert_close(f"{name} logits", got.logits, b.references["gguf-f32"].logits, 1e-5)


# ---- metadata and layout, as llama.cpp's converter writes them -----------------------------------------

# Hand-written from each model's config and conversion/*.py, not from families_gguf.py.
EXPECTED = {
    "llama": {"general.architecture": "llama", "llama.vocab_size": 296, "llama.rope.dimension_count": 16,
              "llama.attention.key_length": 16, "llama.attention.head_count": 4, "llama.attention.head_count_kv": 2,
              "llama.rope.freq_base": 10000.0, "llama.block_count": 2, "llama.feed_forward_length": 96,
              "tokenizer.ggml.pre": "llama-bpe", "tokenizer.ggml.bos_token_id": 294, "tokenizer.ggml.eos_token_id": 295,
              "tokenizer.ggml.add_bos_token": True},
    "mistral": {"general.architecture": "llama", "llama.attention.head_count_kv": 1, "llama.rope.freq_base": 1000.0,
                "llama.rope.dimension_count": 16, "tokenizer.ggml.pre": "gpt-2", "tokenizer.ggml.bos_token_id": 1,
                "tokenizer.ggml.add_bos_token": True},
    "qwen2": {"general.architecture": "qwen2", "qwen2.attention.head_count_kv": 2, "qwen2.rope.freq_base": 1000000.0,
              "tokenizer.ggml.pre": "qwen2", "tokenizer.ggml.bos_token_id": 293, "tokenizer.ggml.eos_token_id": 295,
              "tokenizer.ggml.add_bos_token": False},
    "qwen3": {"general.architecture": "qwen3", "qwen3.attention.key_length": 24, "qwen3.attention.value_length": 24,
              "qwen3.embedding_length": 64, "tokenizer.ggml.pre": "qwen2"},
    "gemma3": {"general.architecture": "gemma3", "gemma3.block_count": 6, "gemma3.attention.sliding_window": 4,
               "gemma3.rope.freq_base": 1000000.0, "gemma3.rope.freq_base_swa": 10000.0,
               "gemma3.attention.key_length": 16, "gemma3.attention.head_count_kv": 2,
               "tokenizer.ggml.bos_token_id": 2, "tokenizer.ggml.eos_token_id": 1, "tokenizer.ggml.padding_token_id": 0,
               "tokenizer.ggml.add_bos_token": True},
    "phi3": {"general.architecture": "phi3", "phi3.rope.dimension_count": 12, "phi3.attention.sliding_window": 0,
             "phi3.rope.scaling.original_context_length": 256, "phi3.attention.head_count_kv": 2,
             "tokenizer.ggml.pre": "gpt-2", "tokenizer.ggml.add_bos_token": False},
}
EXPECTED["llama-tied"] = {k: v for k, v in EXPECTED["llama"].items()}
# Keys the converter does not write for these models; a reader must not expect them.
ABSENT = {
    "llama": ["llama.rope.scaling.type", "llama.attention.sliding_window"],  # llama3 rope is a tensor, not a key
    "mistral": ["llama.attention.sliding_window"],  # LlamaModel drops Mistral's sliding window
    "qwen2": ["qwen2.rope.dimension_count", "qwen2.attention.key_length"],
    "qwen3": ["qwen3.rope.dimension_count"],
    "gemma3": ["gemma3.attention.sliding_window_pattern", "gemma3.final_logit_softcapping",
               "gemma3.attn_logit_softcapping", "gemma3.rope.dimension_count", "gemma3.attention.scale"],
    "phi3": ["phi3.attention.key_length", "phi3.rope.scaling.type"],
    "llama-tied": ["llama.rope.scaling.type"],
}
TENSORS = {  # present (+) or absent (-) in every file of the family
    "llama": ["+rope_freqs.weight", "+output.weight"],
    "llama-tied": ["-rope_freqs.weight", "-output.weight"],
    "mistral": ["+output.weight"],
    "qwen2": ["-output.weight", "+blk.0.attn_q.bias", "+blk.0.attn_k.bias", "+blk.0.attn_v.bias", "-blk.0.attn_output.bias"],
    "qwen3": ["+output.weight", "+blk.1.attn_q_norm.weight", "+blk.1.attn_k_norm.weight"],
    "gemma3": ["-output.weight", "+blk.5.post_attention_norm.weight", "+blk.5.post_ffw_norm.weight",
               "+blk.5.attn_q_norm.weight", "+blk.5.ffn_norm.weight"],
    "phi3": ["+blk.0.attn_qkv.weight", "-blk.0.attn_q.weight", "-blk.0.ffn_gate.weight", "+output.weight"],
}


@pytest.mark.parametrize("name", list(FAMILIES))
def test_metadata_is_the_converters(family, name: str) -> None:
    b = family(name)
    vocab = b.model.config.vocab_size
    for ftype in FTYPES:
        meta, tensors = gguf_fields(b.paths[f"gguf-{ftype}"])
        for key, value in EXPECTED[name].items():
            assert meta.get(key) == pytest.approx(value) if isinstance(value, float) else meta.get(key) == value, \
                f"{name} {ftype}: {key} is {meta.get(key)!r}, expected {value!r}"
        for key in ABSENT[name]:
            assert key not in meta, f"{name} {ftype}: {key} is written, the converter does not write it"
        for t in TENSORS[name]:
            assert (t[1:] in tensors) == (t[0] == "+"), f"{name} {ftype}: tensor {t[1:]} {'missing' if t[0] == '+' else 'present'}"
        assert meta["general.file_type"] == {"f32": 0, "f16": 1, "q8_0": 7}[ftype]
        assert meta["tokenizer.ggml.model"] == "gpt2"
        assert len(meta["tokenizer.ggml.tokens"]) == vocab == tensors["token_embd.weight"].shape[1]
        types = meta["tokenizer.ggml.token_type"]
        specials = [b.family.tokenizer.eos] + ([b.family.tokenizer.bos] if b.family.tokenizer.bos else [])
        for s in specials:
            assert types[meta["tokenizer.ggml.tokens"].index(s)] == gguf.TokenType.CONTROL, f"{s} is not CONTROL"
        pads = [i for i, t in enumerate(meta["tokenizer.ggml.tokens"]) if t.startswith("[PAD")]
        assert pads == list(range(b.family.tokenizer.size, vocab)) and all(types[i] == gguf.TokenType.UNUSED for i in pads)
        # norms and vectors stay F32; matrices take the file type (all rows here are whole Q8_0 blocks)
        want = {"f32": "F32", "f16": "F16", "q8_0": "Q8_0"}[ftype]
        for tname, t in tensors.items():
            expected = "F32" if len(t.shape) == 1 else want
            assert t.tensor_type.name == expected, f"{name} {ftype}: {tname} is {t.tensor_type.name}, expected {expected}"


def test_llama3_rope_freqs_are_transformers_inv_freq(family) -> None:
    """rope_freqs.weight holds one divisor per frequency: base frequencies / it = transformers' llama3 inv_freq."""
    b = family("llama")
    _, tensors = gguf_fields(b.paths["gguf-q8_0"])
    factors = np.asarray(tensors["rope_freqs.weight"].data, dtype=np.float64)  # [d_head / 2]
    d, theta = b.model.config.head_dim, b.model.config.rope_parameters["rope_theta"]
    base = 1.0 / theta ** (np.arange(0, d, 2) / d)
    inv_freq = b.model.model.rotary_emb.inv_freq.double().numpy()
    np.testing.assert_allclose(base / factors, inv_freq, rtol=1e-6)
    assert factors[0] == 1.0 and factors[-1] == 4.0 and 1.0 < factors[1] < 4.0  # kept, smoothed, and stretched


def stored(tensors: dict, name: str) -> np.ndarray:
    return np.asarray(tensors[name].data, dtype=np.float32)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_tensor_layout_is_llama_cpps(family, name: str) -> None:
    """Q/K rows permuted for the llama architecture only; Gemma norms + 1; Phi-3's fused tensors kept."""
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    b = family(name)
    sd = {k: v.numpy() for k, v in b.model.state_dict().items()}
    c = b.model.config
    _, tensors = gguf_fields(b.paths["gguf-f32"])
    for L in range(c.num_hidden_layers):
        p, g = f"model.layers.{L}", f"blk.{L}"
        if name == "phi3":
            np.testing.assert_array_equal(stored(tensors, f"{g}.attn_qkv.weight"), sd[f"{p}.self_attn.qkv_proj.weight"])
            np.testing.assert_array_equal(stored(tensors, f"{g}.ffn_up.weight"), sd[f"{p}.mlp.gate_up_proj.weight"])
            continue
        q, k = stored(tensors, f"{g}.attn_q.weight"), stored(tensors, f"{g}.attn_k.weight")
        if GGUF_ARCH[name] == "llama":  # undone with transformers' own code for it
            unpermute = LlamaTensorProcessor()._reverse_permute_weights
            assert not np.array_equal(q, sd[f"{p}.self_attn.q_proj.weight"])
            np.testing.assert_array_equal(unpermute(q, c.num_attention_heads, c.num_attention_heads), sd[f"{p}.self_attn.q_proj.weight"])
            np.testing.assert_array_equal(unpermute(k, c.num_attention_heads, c.num_key_value_heads), sd[f"{p}.self_attn.k_proj.weight"])
        else:  # NEOX rotary: stored as Hugging Face has it
            np.testing.assert_array_equal(q, sd[f"{p}.self_attn.q_proj.weight"])
            np.testing.assert_array_equal(k, sd[f"{p}.self_attn.k_proj.weight"])
    if name == "gemma3":
        norms = [n for n in sd if n.endswith("norm.weight")]
        assert len(norms) == 6 * 6 + 1
        names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA3, c.num_hidden_layers)
        for n in norms:
            np.testing.assert_array_equal(stored(tensors, names.get_name(n, try_suffixes=(".weight",))), sd[n] + np.float32(1.0))


GGUF_ARCH = {f: families.families_gguf.GGUF_ARCH[m] for f, m in
             {"llama": "llama", "llama-tied": "llama", "mistral": "mistral", "qwen2": "qwen2", "qwen3": "qwen3",
              "gemma3": "gemma3_text", "phi3": "phi3"}.items()}


# ---- the folders ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(FAMILIES))
def test_folders_are_what_they_claim(family, name: str) -> None:
    from safetensors import safe_open

    b = family(name)
    f32, bf16, sharded = b.paths["hf-f32"], b.paths["hf-bf16"], b.paths["hf-sharded"]
    with safe_open(str(f32 / "model.safetensors"), framework="pt") as f:
        keys = set(f.keys())
        assert {f.get_tensor(k).dtype for k in keys} == {torch.float32}
    assert ("lm_head.weight" in keys) == (not b.model.config.tie_word_embeddings)
    assert json.loads((bf16 / "config.json").read_text())["dtype"] == "bfloat16"
    with safe_open(str(bf16 / "model.safetensors"), framework="pt") as f:
        names = f.keys()
        assert {f.get_tensor(k).dtype for k in names} == {torch.bfloat16}
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    shards = set(index["weight_map"].values())
    assert len(shards) >= 5 and not (sharded / "model.safetensors").exists()
    assert set(index["weight_map"]) == keys and all((sharded / s).is_file() for s in shards)
    assert_close(f"{name} sharded logits", b.references["hf-sharded"].logits, b.references["hf-f32"].logits, 0.0)
    # the bf16 reference is the f32 model's weights rounded to bfloat16
    rounded = variant(b.model, state_edit=lambda m: [p.copy_(p.to(torch.bfloat16)) for p in m.parameters()])
    assert_close(f"{name} bf16 logits", b.references["hf-bf16"].logits, Reference.run(rounded, b.ids).logits, 1e-5)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_tokenizers_agree(family, name: str) -> None:
    """tokenizer.json itself, transformers on the folder and transformers on the GGUF give the same ids."""
    from tokenizers import Tokenizer

    b = family(name)
    raw = Tokenizer.from_file(str(b.tokenizer_folder / "tokenizer.json"))
    folder = transformers.AutoTokenizer.from_pretrained(b.tokenizer_folder)
    path = b.paths["gguf-f32"]
    from_gguf = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    for text in SENTENCES + [f"the end {b.family.tokenizer.eos} and after"]:
        for specials in (False, True):
            ids = raw.encode(text, add_special_tokens=specials).ids
            assert folder(text, add_special_tokens=specials)["input_ids"] == ids, (text, specials)
            assert from_gguf(text, add_special_tokens=specials)["input_ids"] == ids, (text, specials)
        bos = raw.token_to_id(b.family.tokenizer.bos) if b.family.tokenizer.bos else None
        if b.family.tokenizer.add_bos:
            assert ids[0] == bos == b.ids[0], "with specials, the tokenizer starts with BOS"
        else:
            assert bos not in ids[:1], "this tokenizer adds no BOS"


# ---- every feature moves the numbers ------------------------------------------------------------------------

def variant(model, config_edits: dict | None = None, state_edit=None):
    """The model with its config edited (weights kept), or its weights edited in place on a copy."""
    config = copy.deepcopy(model.config)
    for key, value in (config_edits or {}).items():
        setattr(config, key, value)
    out = type(model)(families.eager(config)).eval()
    out.load_state_dict(model.state_dict())
    if state_edit is not None:
        with torch.no_grad():
            state_edit(out)
    return out


def _zero_biases(m):
    for layer in m.model.layers:
        for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
            proj.bias.zero_()


def _unit_qk_norms(m, fill=1.0):
    for layer in m.model.layers:
        layer.self_attn.q_norm.weight.fill_(fill)
        layer.self_attn.k_norm.weight.fill_(fill)


def _swap_kv_heads(m):
    """KV heads 0 and 1 trade places: query heads 0-1 now read what 2-3 read (a wrong GQA grouping)."""
    for layer in m.model.layers:
        for proj in (layer.self_attn.k_proj, layer.self_attn.v_proj):
            w = proj.weight.view(m.config.num_key_value_heads, -1, proj.weight.shape[1])  # [kv heads, d_head, d]
            w.copy_(w.flip(0))


def _rope(model, **params):
    return {"rope_parameters": {**model.config.rope_parameters, **params}}


FEATURES = {
    "llama": [("llama3 rope scaling", lambda m: variant(m, {"rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}}))],
    "llama-tied": [("GQA grouping", lambda m: variant(m, state_edit=_swap_kv_heads))],
    "mistral": [("sliding window", lambda m: variant(m, {"sliding_window": None}))],
    "qwen2": [("Q/K/V biases", lambda m: variant(m, state_edit=_zero_biases)),
              ("rope base", lambda m: variant(m, _rope(m, rope_theta=10000.0)))],
    "qwen3": [("Q/K norms", lambda m: variant(m, state_edit=_unit_qk_norms))],
    "gemma3": [("sliding window", lambda m: variant(m, {"sliding_window": 64})),
               ("query_pre_attn_scalar", lambda m: variant(m, {"query_pre_attn_scalar": 16})),
               ("local rope base", lambda m: variant(m, {"rope_parameters": {
                   "sliding_attention": {"rope_type": "default", "rope_theta": 1000000.0},
                   "full_attention": {"rope_type": "default", "rope_theta": 1000000.0}}})),
               ("global layer", lambda m: variant(m, {"layer_types": ["sliding_attention"] * 6})),
               ("Q/K norms", lambda m: variant(m, state_edit=lambda x: _unit_qk_norms(x, 0.0)))],
    "phi3": [("partial rotary", lambda m: variant(m, _rope(m, partial_rotary_factor=1.0)))],
}


@pytest.mark.parametrize("name,feature", [(f, d) for f, fs in FEATURES.items() for d, _ in fs],
                         ids=[f"{f}-{d}" for f, fs in FEATURES.items() for d, _ in fs])
def test_feature_changes_the_numbers(family, name: str, feature: str) -> None:
    """A loader that ignores the feature would be off by far more than the tests' tolerance."""
    b = family(name)
    make = dict(FEATURES[name])[feature]
    without = Reference.run(make(b.model), b.ids)
    worst, _ = max_diff(without.logits, b.references["hf-f32"].logits)
    assert worst > 1e-2, f"{name}: without {feature} the logits move by only {worst:.3g}"


def test_ids_outrun_the_sliding_windows(family) -> None:
    assert len(family("gemma3").ids) > 4 * family("gemma3").model.config.sliding_window
    assert len(family("mistral").ids) > 2 * family("mistral").model.config.sliding_window
    assert family("gemma3").ids[0] == 2  # <bos>


# ---- the files test_families.py expects a loader to refuse ------------------------------------------------

REFUSED = [(f, u) for f, us in families.UNSUPPORTED.items() for u in us]


@pytest.mark.parametrize("name,u", REFUSED, ids=[f"{f}-{u.case}" for f, u in REFUSED])
def test_refused_files_carry_the_feature(family, tmp_path_factory, name: str, u: families.Unsupported) -> None:
    """The edited config.json says it, and the converter wrote it into the GGUF file where it can."""
    root = tmp_path_factory.getbasetemp() / "unsupported"
    b = family(name)
    cfg = json.loads((families.unsupported_file(b, u, "hf", root) / "config.json").read_text())
    assert cfg != json.loads((b.paths["hf-f32"] / "config.json").read_text())
    if not u.gguf:
        return
    meta, tensors = gguf_fields(families.unsupported_file(b, u, "gguf", root))
    arch = meta["general.architecture"]
    if u.case == "yarn":
        assert meta[f"{arch}.rope.scaling.type"] == "yarn" and meta[f"{arch}.rope.scaling.factor"] == 4.0
        assert meta[f"{arch}.rope.scaling.original_context_length"] == 64
    else:  # LongRoPE: per-frequency factors as tensors, and an attention factor
        assert {"rope_factors_long.weight", "rope_factors_short.weight"} <= set(tensors)
        assert meta["phi3.rope.scaling.attn_factor"] > 1.0
