"""Hugging Face folder -> GGUF, the way llama.cpp's convert_hf_to_gguf.py writes the six families.

A mirror of the converter's steps for llama (Llama 3, Mistral), qwen2, qwen3, gemma3 and phi3,
kept to what these families use, so a test makes the GGUF of a tiny model in a fraction of a second.
It reads the folder as the converter does (config.json as `hparams`, the safetensors shards,
the tokenizer through transformers and gguf-py's SpecialVocab) and names tensors with gguf-py's
own TensorNameMap. Where each step comes from, in ggml-org/llama.cpp:

  conversion/base.py   TextModel.set_gguf_parameters (the shared keys), prepare_tensors (which
                       tensors stay F32, Q8_0 falling back to F16), get_vocab_base, _set_vocab_gpt2
  conversion/llama.py  LlamaModel: Q/K row permutation, vocab_size, rope_freqs.weight for llama3 rope;
                       MistralForCausalLM is registered there, so Mistral is written as `llama`
  conversion/qwen.py   Qwen2Model, Qwen3Model: the shared keys only, no permutation
  conversion/gemma.py  Gemma3Model: norm weights + 1, sliding_window, rope.freq_base_swa
  conversion/phi.py    Phi3MiniModel: its own keys, rope.dimension_count from partial_rotary_factor;
                       qkv_proj and gate_up_proj stay fused (attn_qkv, ffn_up)

One deliberate difference: the converter names the pre-tokenizer by hashing the tokens of a probe
text, and a tiny trained vocabulary matches no known hash (it raises NotImplementedError), so the
caller states the name whose split regex its tokenizer.json uses.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import torch

# transformers model_type -> GGUF architecture (what ModelBase.register maps each HF class to)
GGUF_ARCH = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "gemma3_text": "gemma3", "phi3": "phi3"}
FILE_TYPES = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}
QTYPES = {"f32": gguf.GGMLQuantizationType.F32, "f16": gguf.GGMLQuantizationType.F16, "q8_0": gguf.GGMLQuantizationType.Q8_0}


def read_hparams(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "config.json").read_text(encoding="utf-8"))


def rope_parameters(hparams: dict[str, Any]) -> dict[str, Any]:
    """TextModel.__init__: rope_parameters (or the older rope_scaling), with the top-level values mirrored in."""
    rope = dict(hparams.get("rope_parameters", hparams.get("rope_scaling")) or {})
    if "full_attention" not in rope and "sliding_attention" not in rope:
        if (local := hparams.get("rope_local_base_freq")) is not None:
            rope["sliding_attention"] = {"rope_theta": local}
        if "rope_theta" not in rope and hparams.get("rope_theta") is not None:
            rope["rope_theta"] = hparams["rope_theta"]
        if "rope_type" not in rope and rope.get("type") is not None:
            rope["rope_type"] = rope["type"]
        if "partial_rotary_factor" not in rope and hparams.get("partial_rotary_factor") is not None:
            rope["partial_rotary_factor"] = hparams["partial_rotary_factor"]
        if "original_max_position_embeddings" not in rope and hparams.get("original_max_position_embeddings") is not None:
            rope["original_max_position_embeddings"] = hparams["original_max_position_embeddings"]
    return rope


def read_tensors(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor of model.safetensors or of the shards model.safetensors.index.json lists, in file order."""
    from safetensors.torch import load_file

    index = folder / "model.safetensors.index.json"
    parts = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.is_file() else ["model.safetensors"]
    tensors: dict[str, torch.Tensor] = {}
    for part in parts:
        tensors.update(load_file(str(folder / part)))
    return tensors


# ---- metadata -------------------------------------------------------------------------------------

def add_text_model_keys(w: gguf.GGUFWriter, hp: dict[str, Any], rope: dict[str, Any], ftype: gguf.LlamaFileType) -> None:
    """TextModel.set_gguf_parameters, for the keys these families have."""
    w.add_block_count(hp["num_hidden_layers"])
    w.add_context_length(hp["max_position_embeddings"])
    w.add_embedding_length(hp["hidden_size"])
    w.add_feed_forward_length(hp["intermediate_size"])
    w.add_head_count(hp["num_attention_heads"])
    w.add_head_count_kv(hp["num_key_value_heads"])
    params = rope.get("full_attention", rope)
    rope_type = params.get("rope_type")
    if rope_type == "linear" and params.get("factor") is not None:
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(params["factor"])
    elif rope_type == "yarn" and params.get("factor") is not None:
        w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        w.add_rope_scaling_factor(params["factor"])
        w.add_rope_scaling_orig_ctx_len(params["original_max_position_embeddings"])
    # "llama3" is written as the rope_freqs.weight tensor (see rope_freqs); "default" writes nothing
    if params.get("rope_theta") is not None:
        w.add_rope_freq_base(params["rope_theta"])
    if (local := rope.get("sliding_attention", {}).get("rope_theta")) is not None:
        w.add_rope_freq_base_swa(local)
    w.add_layer_norm_rms_eps(hp["rms_norm_eps"])
    if hp.get("head_dim") is not None:
        w.add_key_length(hp["head_dim"])
        w.add_value_length(hp["head_dim"])
    w.add_file_type(ftype)


def add_family_keys(w: gguf.GGUFWriter, hp: dict[str, Any], rope: dict[str, Any], ftype: gguf.LlamaFileType) -> None:
    model_type = hp["model_type"]
    if model_type == "phi3":  # Phi3MiniModel.set_gguf_parameters: its own list, not TextModel's
        n_embd, n_head = hp["hidden_size"], hp["num_attention_heads"]
        rot_pct = rope.get("partial_rotary_factor", 1.0)
        w.add_context_length(hp["max_position_embeddings"])
        w.add_rope_scaling_orig_ctx_len(rope["original_max_position_embeddings"])
        w.add_embedding_length(n_embd)
        w.add_feed_forward_length(hp["intermediate_size"])
        w.add_block_count(hp["num_hidden_layers"])
        w.add_head_count(n_head)
        w.add_head_count_kv(hp["num_key_value_heads"])
        w.add_layer_norm_rms_eps(hp["rms_norm_eps"])
        w.add_rope_dimension_count(int(rot_pct * n_embd) // n_head)
        w.add_rope_freq_base(rope.get("full_attention", rope)["rope_theta"])
        w.add_file_type(ftype)
        w.add_sliding_window(hp.get("sliding_window") or 0)  # 0 marks "not Phi-4" to llama.cpp
        return
    add_text_model_keys(w, hp, rope, ftype)
    if model_type in ("llama", "mistral"):  # LlamaModel.set_gguf_parameters
        w.add_vocab_size(hp["vocab_size"])
        w.add_rope_dimension_count(hp.get("head_dim") or hp["hidden_size"] // hp["num_attention_heads"])
    elif model_type == "gemma3_text":  # Gemma3Model.set_gguf_parameters (re-adding a key overwrites it)
        w.add_context_length(hp.get("max_position_embeddings", 131072))
        w.add_head_count(hp.get("num_attention_heads", 8))
        w.add_layer_norm_rms_eps(hp.get("rms_norm_eps", 1e-6))
        w.add_key_length(hp.get("head_dim", 256))
        w.add_value_length(hp.get("head_dim", 256))
        w.add_rope_freq_base(rope.get("full_attention", rope).get("rope_theta", 1_000_000.0))
        if hp.get("attn_logit_softcapping") is not None:
            raise ValueError("gemma3: the converter asserts attn_logit_softcapping is None")
        if hp.get("final_logit_softcapping"):
            w.add_final_logit_softcapping(hp["final_logit_softcapping"])
        if hp.get("sliding_window_pattern") != 1:
            w.add_sliding_window(hp["sliding_window"])
        w.add_head_count_kv(hp.get("num_key_value_heads", 4))
        # Not written, so llama.cpp does without them: query_pre_attn_scalar (src/models/gemma3.cpp
        # scales by 1/sqrt(head_dim), or hidden/heads for the 62-layer 27B) and the layer pattern
        # (load_swa_pattern(ml, 6): every 6th layer global, unless the file says otherwise).


# ---- tokenizer -------------------------------------------------------------------------------------

def looks_special(token: str) -> bool:
    """TextModel.does_token_look_special: added tokens some models fail to mark special."""
    return (token in ("<pad>", "<mask>", "<2mass>", "[@BOS@]") or (token.startswith("<|") and token.endswith("|>"))
            or (token.startswith("<\uff5c") and token.endswith("\uff5c>")) or (token.startswith("<unused") and token.endswith(">")))


def add_vocab(w: gguf.GGUFWriter, folder: Path, hp: dict[str, Any], pre: str) -> None:
    """_set_vocab_gpt2 with get_vocab_base: tokens padded to vocab_size with [PADi], their types, merges, specials."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    vocab_size = hp.get("vocab_size", len(tokenizer.vocab))
    reverse = {i: t for t, i in tokenizer.vocab.items()}
    added = tokenizer.get_added_vocab()
    decoder = tokenizer.added_tokens_decoder
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in reverse:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
            continue
        token = reverse[i]
        if token in added:
            if not decoder[i].normalized:
                token = tokenizer.decode(tokenizer.encode(token, add_special_tokens=False))
            if decoder[i].special or looks_special(token):
                types.append(gguf.TokenType.CONTROL)
            else:
                token = token.replace("\u2581", " ")  # user-defined spaces pre-normalized
                types.append(gguf.TokenType.USER_DEFINED)
        else:
            types.append(gguf.TokenType.NORMAL)
        tokens.append(token)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    gguf.SpecialVocab(folder, load_merges=True).add_to_gguf(w, quiet=True)


# ---- tensors ---------------------------------------------------------------------------------------

def permute(w: torch.Tensor, n_head: int, n_head_kv: int | None) -> torch.Tensor:
    """LlamaModel.permute: each head's rotary halves interleaved, for llama.cpp's NORM rope."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def rope_freqs(hp: dict[str, Any], rope: dict[str, Any]) -> torch.Tensor | None:
    """LlamaModel.generate_extra_tensors: llama3 rope as one divisor per frequency (rope_freqs.weight)."""
    params = rope.get("full_attention", rope)
    if params.get("rope_type", "").lower() != "llama3":
        return None
    base = params.get("rope_theta", 10000.0)
    dim = hp.get("head_dim") or hp["hidden_size"] // hp["num_attention_heads"]
    freqs = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    factor = params.get("factor", 8.0)
    low, high = params.get("low_freq_factor", 1.0), params.get("high_freq_factor", 4.0)
    old_context_len = params.get("original_max_position_embeddings", 8192)
    low_wavelen, high_wavelen = old_context_len / low, old_context_len / high
    factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            factors.append(1)
        elif wavelen > low_wavelen:
            factors.append(factor)
        else:
            smooth = (old_context_len / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return torch.tensor(factors, dtype=torch.float32)


def phi3_rope_factors(w: gguf.GGUFWriter, hp: dict[str, Any], rope: dict[str, Any]) -> list[tuple[str, torch.Tensor]]:
    """Phi3MiniModel.generate_extra_tensors: LongRoPE as rope_factors_long/short and an attention factor."""
    long_factors, short_factors = rope.get("long_factor"), rope.get("short_factor")
    if not long_factors:
        return []
    orig = rope["original_max_position_embeddings"]
    scale = hp["max_position_embeddings"] / orig
    rope_type = rope.get("rope_type", "").lower()
    if rope_type in ("su", "longrope"):
        attn_factor = math.sqrt(1 + math.log(scale) / math.log(orig)) if scale > 1.0 else 1.0
    elif rope_type == "yarn":
        attn_factor = 0.1 * math.log(scale) + 1.0 if scale > 1.0 else 1.0
    else:
        raise NotImplementedError(f"the converter does not support rope scaling {rope_type!r}")
    w.add_rope_scaling_attn_factors(attn_factor)
    return [(gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FACTORS_LONG] + ".weight", torch.tensor(long_factors, dtype=torch.float32)),
            (gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FACTORS_SHORT] + ".weight", torch.tensor(short_factors, dtype=torch.float32))]


def modify(name: str, t: torch.Tensor, hp: dict[str, Any], n_vocab_real: int) -> torch.Tensor:
    """The per-family modify_tensors steps, on HF names."""
    model_type = hp["model_type"]
    if model_type in ("llama", "mistral"):  # LlamaModel.undo_permute = True
        n_head, n_kv = hp["num_attention_heads"], hp["num_key_value_heads"]
        if name.endswith(("q_proj.weight", "q_proj.bias")):
            t = permute(t, n_head, n_head)
        if name.endswith(("k_proj.weight", "k_proj.bias")):
            t = permute(t, n_head, n_kv)
    elif model_type == "gemma3_text":
        if "embed_tokens.weight" in name:  # rows past the tokenizer's vocabulary are dropped
            t = t[:n_vocab_real]
        if name.endswith("norm.weight"):  # Gemma3RMSNorm computes x * (1 + w); llama.cpp multiplies by the stored w
            t = t + 1.0
    return t


def tensor_qtype(new_name: str, data: np.ndarray, ftype: str) -> gguf.GGMLQuantizationType:
    """prepare_tensors: vectors and norms stay F32, everything else takes the file type."""
    if data.ndim <= 1 or new_name.endswith("_norm.weight") or not new_name.endswith(".weight"):
        return gguf.GGMLQuantizationType.F32
    return QTYPES[ftype]


def stored_qtype(hf_name: str, shape: tuple[int, ...], ftype: str) -> gguf.GGMLQuantizationType:
    """The type a HF tensor ends up stored as (for references that round weights the same way)."""
    if len(shape) <= 1 or hf_name.endswith("norm.weight"):
        return gguf.GGMLQuantizationType.F32
    qtype = QTYPES[ftype]
    if qtype == gguf.GGMLQuantizationType.Q8_0 and shape[-1] % 32:
        return gguf.GGMLQuantizationType.F16  # the converter's QuantError fallback
    return qtype


def add_tensors(w: gguf.GGUFWriter, folder: Path, hp: dict[str, Any], rope: dict[str, Any], ftype: str) -> None:
    arch = next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == GGUF_ARCH[hp["model_type"]])
    names = gguf.get_tensor_name_map(arch, hp["num_hidden_layers"])
    items: list[tuple[str, torch.Tensor]] = []  # generate_extra_tensors come first
    if (freqs := rope_freqs(hp, rope)) is not None:
        items.append((gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight", freqs))
    if hp["model_type"] == "phi3":
        items += phi3_rope_factors(w, hp, rope)
    extra = {name for name, _ in items}
    items += list(read_tensors(folder).items())
    tok = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    n_vocab_real = len(tok["model"]["vocab"]) + len(tok["added_tokens"])  # as Gemma3Model counts them
    for name, t in items:
        if name.endswith((".attention.masked_bias", ".attention.bias", ".rotary_emb.inv_freq")):
            continue
        if t.dtype not in (torch.float16, torch.float32):
            t = t.to(torch.float32)
        if name in extra:
            new_name = name
        else:
            t = modify(name, t, hp, n_vocab_real)
            new_name = names.get_name(name, try_suffixes=(".weight", ".bias"))
            if new_name is None:
                raise ValueError(f"the converter cannot map tensor {name!r}")
        data = t.numpy()
        qtype = tensor_qtype(new_name, data, ftype)
        try:
            data = gguf.quants.quantize(data, qtype)
        except gguf.QuantError:
            qtype = gguf.GGMLQuantizationType.F16
            data = gguf.quants.quantize(data, qtype)
        w.add_tensor(new_name, data, raw_dtype=qtype)


# ---- the file ---------------------------------------------------------------------------------------

def convert(folder: Path, out: Path, ftype: str, pre: str, name: str) -> Path:
    """Write `folder` (a saved float32 HF model) as the GGUF file `out`; `ftype` is f32, f16 or q8_0."""
    hp = read_hparams(folder)
    rope = rope_parameters(hp)
    w = gguf.GGUFWriter(str(out), GGUF_ARCH[hp["model_type"]])
    add_tensors(w, folder, hp, rope, ftype)  # ModelBase.write: prepare_tensors, then prepare_metadata
    w.add_type(gguf.GGUFType.MODEL)
    w.add_name(name)
    add_family_keys(w, hp, rope, FILE_TYPES[ftype])
    add_vocab(w, folder, hp, pre)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out
