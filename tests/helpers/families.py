"""Tiny random Llama 3, Mistral, Qwen2, Qwen3, Gemma 3 and Phi-3 models, built with transformers and
saved as Hugging Face folders (float32, bfloat16, sharded) and as GGUF files (F32, F16, Q8_0) written
the way llama.cpp's converter writes them (see families_gguf.py).

Each artifact comes with its reference: transformers' eager float32 forward on the weights the
artifact stores (upcast), under the config the artifact states. test_families.py holds attncli to
these references; test_families_selfcheck.py proves them against transformers' own GGUF reader.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import torch
import transformers
from tokenizers import (
    Regex,
    Tokenizer,
    decoders,
    models,
    pre_tokenizers,
    processors,
    trainers,
)

from helpers import families_gguf

transformers.utils.logging.disable_progress_bar()  # a bar per save and load would bury pytest's output

FORMATS = ("hf-f32", "hf-bf16", "hf-sharded", "gguf-f32", "gguf-f16", "gguf-q8_0")
SHARD_SIZE = "40KB"  # a few tensors a shard: model.safetensors.index.json and several shards appear

# 16 ids under every family's vocabulary size (296); families whose tokenizer adds BOS get it in front.
# 16-17 tokens exceed gemma3's sliding window of 4 and mistral's of 6 several times over.
IDS = [72, 101, 200, 33, 280, 17, 150, 260, 99, 5, 240, 131, 64, 275, 12, 190]

# Texts for the tokenizer checks: already NFC (a GGUF carries no normalizer), with digits,
# apostrophes, runs of spaces and newlines, accents, an emoji, and each family's end token.
SENTENCES = [
    "I do not like spinach.",
    "The cat sat on the mat, then the dog sat 42 times; we've paid $3.50 (about 99%).",
    "Café, naïve, Zürich — ça va? 🤗\n\n  two spaces\tand a tab",
]

CORPUS = [
    "I do not like spinach.", "I do like green eggs and ham.", "We do not like it here, we like it there.",
    "Do you like tea? I like tea and I like coffee.", "The cat sat on the mat and the dog sat on the log.",
    "In 2024, 1234567 people paid $3.50 each (about 99%).", "We've said it's the cat's mat; they'll sit there.",
    "Café, naïve, résumé and Zürich.", "  two spaces\n\nnew lines\tand tabs",
] * 3


# ---- tokenizers ---------------------------------------------------------------------------------------

# Split regexes, as the families' tokenizer.json files and transformers' GGUF reader spell them
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


@dataclass(frozen=True)
class TokenizerSpec:
    pre: str  # tokenizer.ggml.pre: llama.cpp's name for the split below
    split: str | None  # the split regex; None is GPT-2's, inside ByteLevel
    first: tuple[str, ...]  # special tokens at ids 0.. (Mistral, Gemma)
    last: tuple[str, ...]  # special tokens after the merges (Llama 3, Qwen, Phi)
    bos: str | None
    eos: str
    add_bos: bool
    tokenizer_class: str  # phi3's converter reads GPT2Tokenizer here to take the BPE path
    ignore_merges: bool = False  # Llama 3's BPE looks whole words up first
    size: int = 296  # entries in all


LLAMA3_TOK = TokenizerSpec("llama-bpe", LLAMA3_SPLIT, (), ("<|begin_of_text|>", "<|end_of_text|>"),
                           "<|begin_of_text|>", "<|end_of_text|>", True, "PreTrainedTokenizerFast", ignore_merges=True)
MISTRAL_TOK = TokenizerSpec("gpt-2", None, ("<unk>", "<s>", "</s>"), (), "<s>", "</s>", True, "PreTrainedTokenizerFast")
QWEN_TOK = TokenizerSpec("qwen2", QWEN2_SPLIT, (), ("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
                         None, "<|im_end|>", False, "Qwen2Tokenizer")
GEMMA_TOK = TokenizerSpec("gpt-2", None, ("<pad>", "<eos>", "<bos>", "<unk>"), (), "<bos>", "<eos>", True,
                          "PreTrainedTokenizerFast")
PHI_TOK = TokenizerSpec("gpt-2", None, (), ("<|endoftext|>",), "<|endoftext|>", "<|endoftext|>", False, "GPT2Tokenizer")


def train_tokenizer(spec: TokenizerSpec) -> Tokenizer:
    """A byte-level BPE of `spec.size` entries learned from CORPUS, split the family's way."""
    tok = Tokenizer(models.BPE(ignore_merges=spec.ignore_merges))
    if spec.split is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(spec.split), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=spec.size - len(spec.last), min_frequency=2, special_tokens=list(spec.first),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS, trainer=trainer)
    if spec.last:
        tok.add_special_tokens(list(spec.last))
    if tok.get_vocab_size() != spec.size:
        raise AssertionError(f"the trained tokenizer has {tok.get_vocab_size()} entries, not {spec.size}")
    if spec.add_bos:
        bos = tok.token_to_id(spec.bos)
        tok.post_processor = processors.TemplateProcessing(
            single=f"{spec.bos} $A", pair=f"{spec.bos} $A {spec.bos} $B", special_tokens=[(spec.bos, bos)])
    return tok


def write_tokenizer(folder: Path, spec: TokenizerSpec, tok: Tokenizer) -> None:
    tok.save(str(folder / "tokenizer.json"))
    cfg = {"tokenizer_class": spec.tokenizer_class, "bos_token": spec.bos, "eos_token": spec.eos,
           "add_bos_token": spec.add_bos, "add_eos_token": False, "model_max_length": 128}
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")


# ---- the families -------------------------------------------------------------------------------------

def randomize(model: torch.nn.Module, seed: int, gemma_norms: bool = False) -> torch.nn.Module:
    """Every weight, bias and norm gain random: N(0, 0.2), norms 1 + N(0, 0.2) (Gemma stores w of 1 + w)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = 0.2 * torch.randn(p.shape, generator=g)
            p.copy_(noise if gemma_norms or "norm" not in name else 1.0 + noise)
    return model.eval()


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread: on a busy machine torch's pool spins, and a 64 x 96
    matmul took 25 ms instead of microseconds."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def eager(config: transformers.PretrainedConfig) -> transformers.PretrainedConfig:
    config._attn_implementation = "eager"
    return config


def build_llama(vocab_size: int, tied: bool = False) -> transformers.PreTrainedModel:
    """Llama 3: GQA (4 query heads share 2 KV heads); untied, or tied with plain rope."""
    rope: dict[str, Any] = {"rope_type": "default", "rope_theta": 10000.0}
    if not tied:  # llama3 rope that moves the numbers at 16 tokens: wavelengths over 16 are stretched
        rope = {"rope_type": "llama3", "rope_theta": 10000.0, "factor": 4.0, "low_freq_factor": 1.0,
                "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
    # original_max_position_embeddings also at the top level, where converters before the
    # rope_parameters era read it (else 8192, real Llama 3's value): both give the same file
    top = {} if tied else {"original_max_position_embeddings": 64}
    config = transformers.LlamaConfig(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, max_position_embeddings=256, rms_norm_eps=1e-5, rope_parameters=rope,
        tie_word_embeddings=tied, bos_token_id=294, eos_token_id=295, **top)
    return randomize(transformers.LlamaForCausalLM(eager(config)), seed=1 if tied else 0)


def build_mistral(vocab_size: int) -> transformers.PreTrainedModel:
    """Mistral: GQA down to one KV head, and a sliding window of 6 that the HF folders exercise."""
    config = transformers.MistralConfig(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=1, head_dim=16, max_position_embeddings=256, rms_norm_eps=1e-5, sliding_window=6,
        rope_parameters={"rope_type": "default", "rope_theta": 1000.0}, tie_word_embeddings=False,
        bos_token_id=1, eos_token_id=2)
    return randomize(transformers.MistralForCausalLM(eager(config)), seed=2)


def build_qwen2(vocab_size: int) -> transformers.PreTrainedModel:
    """Qwen2: Q/K/V biases, NEOX rotary (no permutation in GGUF), tied embeddings, a padded vocabulary."""
    config = transformers.Qwen2Config(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6, tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, bos_token_id=293, eos_token_id=295)
    return randomize(transformers.Qwen2ForCausalLM(eager(config)), seed=3)


def build_qwen3(vocab_size: int) -> transformers.PreTrainedModel:
    """Qwen3: per-head Q/K RMSNorm, head_dim 24 with d_model 64 and 4 heads (4 x 24 != 64), untied."""
    config = transformers.Qwen3Config(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=24, max_position_embeddings=256, rms_norm_eps=1e-6, tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, bos_token_id=293, eos_token_id=295)
    return randomize(transformers.Qwen3ForCausalLM(eager(config)), seed=4)


def build_gemma3(vocab_size: int) -> transformers.PreTrainedModel:
    """Gemma 3 (text): sqrt(d)-scaled embeddings, (1 + w) RMSNorms before and after attention and MLP,
    GELU-tanh gated MLP, Q/K norms, query_pre_attn_scalar 32 != head_dim 16, five sliding layers
    (window 4, rope base 10k) then one global (rope base 1M): llama.cpp's fixed pattern of 6."""
    config = transformers.Gemma3TextConfig(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=96, num_hidden_layers=6, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=32, sliding_window=4, max_position_embeddings=256,
        rms_norm_eps=1e-6, rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                                            "full_attention": {"rope_type": "default", "rope_theta": 1000000.0}},
        pad_token_id=0, eos_token_id=1, bos_token_id=2, tie_word_embeddings=True)
    config.architectures = ["Gemma3ForCausalLM"]
    assert config.layer_types == ["sliding_attention"] * 5 + ["full_attention"]
    return randomize(transformers.Gemma3ForCausalLM(eager(config)), seed=5, gemma_norms=True)


def build_phi3(vocab_size: int) -> transformers.PreTrainedModel:
    """Phi-3 (Phi-4-mini's shape): fused qkv_proj and gate_up_proj, GQA, rotary on 12 of 16 dims."""
    config = transformers.Phi3Config(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, original_max_position_embeddings=256, rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.75},
        tie_word_embeddings=False, bos_token_id=295, eos_token_id=295, pad_token_id=295)
    return randomize(transformers.Phi3ForCausalLM(eager(config)), seed=6)


@dataclass(frozen=True)
class Family:
    name: str
    build: Callable[[int], transformers.PreTrainedModel]  # vocab size -> random model
    tokenizer: TokenizerSpec
    covers: str
    vocab_pad: int = 0  # embedding rows past the tokenizer (the GGUF vocabulary gets [PADi] tokens)
    # general.name of its GGUF files. llama.cpp reads it: a name holding "phi3" or "phi-3" marks a
    # Phi-3 SentencePiece vocabulary, whose </s> and <unk> it looks up (and fails to load without)
    gguf_name: str = ""
    # What a GGUF file cannot say, so llama.cpp (and the reference) does without it
    gguf_config: dict[str, Any] = field(default_factory=dict)


FAMILIES = {f.name: f for f in [
    Family("llama", build_llama, LLAMA3_TOK, "GQA 4/2, llama3 rope scaling (rope_freqs.weight), untied, Q/K permuted"),
    Family("llama-tied", lambda v: build_llama(v, tied=True), LLAMA3_TOK, "GQA 4/2, plain rope, tied, Q/K permuted"),
    Family("mistral", build_mistral, MISTRAL_TOK, "GQA 4/1, sliding window 6 (HF only), written as llama",
           gguf_config={"sliding_window": None}),
    Family("qwen2", build_qwen2, QWEN_TOK, "Q/K/V biases, NEOX rotary, tied, vocabulary padded by 8", vocab_pad=8),
    Family("qwen3", build_qwen3, QWEN_TOK, "Q/K RMSNorm per head, head_dim 24 != 64/4, untied"),
    Family("gemma3", build_gemma3, GEMMA_TOK, "sqrt(d) embeddings, (1+w) pre/post norms, GELU-tanh, Q/K norms, "
           "query_pre_attn_scalar 32, 5 sliding (window 4) + 1 global layers with their own rope bases, BOS",
           gguf_config={"query_pre_attn_scalar": 16}),
    # named as Phi-4-mini, whose shape and byte-level BPE it has: "tiny-phi3" would make llama.cpp (and
    # attncli, which follows it) look for the </s> of Phi-3's SentencePiece vocabulary, which a BPE lacks
    Family("phi3", build_phi3, PHI_TOK, "fused qkv_proj and gate_up_proj, GQA 4/2, partial rotary 12/16, untied",
           gguf_name="tiny-phi4-mini"),
]}


# ---- saving ------------------------------------------------------------------------------------------

def save_hf(model: transformers.PreTrainedModel, folder: Path, spec: TokenizerSpec, tok: Tokenizer,
            dtype: torch.dtype | None = None, shard: str | None = None) -> Path:
    """config.json, model.safetensors (or shards and their index), tokenizer.json, tokenizer_config.json."""
    folder.mkdir(parents=True, exist_ok=True)
    if dtype is not None:
        model = copy.deepcopy(model).to(dtype)
    kwargs = {"max_shard_size": shard} if shard else {}
    model.save_pretrained(folder, **kwargs)
    write_tokenizer(folder, spec, tok)
    return folder


# ---- references --------------------------------------------------------------------------------------

@dataclass
class Reference:
    logits: np.ndarray  # [T, vocab]
    attentions: list[np.ndarray]  # per layer [n_head, T, T], after softmax

    @classmethod
    def run(cls, model: transformers.PreTrainedModel, ids: list[int]) -> Reference:
        eager(model.config)
        with torch.no_grad(), one_torch_thread():
            out = model(torch.tensor([ids]), output_attentions=True)
        return cls(out.logits[0].float().numpy(), [a[0].float().numpy() for a in out.attentions])


def load_hf(folder: Path) -> transformers.PreTrainedModel:
    """transformers' reading of a saved folder, upcast to float32, eager attention."""
    return transformers.AutoModelForCausalLM.from_pretrained(
        str(folder), dtype=torch.float32, attn_implementation="eager").eval()


def load_gguf(path: Path, config: transformers.PretrainedConfig | None = None) -> transformers.PreTrainedModel:
    """transformers' own GGUF reader (dequantized, Q/K un-permuted, Gemma norms - 1), float32, eager."""
    kwargs = {"config": config} if config is not None else {}
    return transformers.AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32, attn_implementation="eager", **kwargs).eval()


def gguf_model(model: transformers.PreTrainedModel, family: Family, ftype: str) -> transformers.PreTrainedModel:
    """The model a GGUF file means: the config it can state, the weights rounded as it stores them.

    Q8_0 blocks run along a row (the input dimension), so rounding before the converter's row
    permutation or fusion equals rounding after it.
    """
    config = copy.deepcopy(model.config)
    for key, value in family.gguf_config.items():
        setattr(config, key, value)
    out = type(model)(eager(config)).eval()
    state = {}
    for name, t in model.state_dict().items():
        qtype = families_gguf.stored_qtype(name, tuple(t.shape), ftype)
        if qtype != gguf.GGMLQuantizationType.F32:
            data = gguf.quants.quantize(t.numpy(), qtype)
            t = torch.from_numpy(np.asarray(gguf.quants.dequantize(data, qtype), dtype=np.float32).reshape(t.shape))
        state[name] = t
    out.load_state_dict(state, strict=True)
    return out


# ---- everything for one family ------------------------------------------------------------------------

@dataclass
class Built:
    family: Family
    model: transformers.PreTrainedModel  # the original, float32
    ids: list[int]
    paths: dict[str, Path]  # format -> a folder or a .gguf file
    references: dict[str, Reference]  # format -> transformers on that format's stored weights
    gguf_references: dict[str, transformers.PreTrainedModel]  # ftype -> the model the GGUF means
    tokenizer_folder: Path


def build(name: str, root: Path) -> Built:
    """Build family `name` under `root`: the model, its six artifacts and their references."""
    with one_torch_thread():
        return _build(FAMILIES[name], root)


def _build(family: Family, root: Path) -> Built:
    name = family.name
    tok = train_tokenizer(family.tokenizer)
    model = family.build(family.tokenizer.size + family.vocab_pad)
    ids = ([tok.token_to_id(family.tokenizer.bos)] if family.tokenizer.add_bos else []) + IDS
    paths = {
        "hf-f32": save_hf(model, root / "hf-f32", family.tokenizer, tok),
        "hf-bf16": save_hf(model, root / "hf-bf16", family.tokenizer, tok, dtype=torch.bfloat16),
        "hf-sharded": save_hf(model, root / "hf-sharded", family.tokenizer, tok, shard=SHARD_SIZE),
    }
    (root / "gguf").mkdir(exist_ok=True)
    for ftype in ("f32", "f16", "q8_0"):
        out = root / "gguf" / f"tiny-{name}-{ftype}.gguf"
        paths[f"gguf-{ftype}"] = families_gguf.convert(paths["hf-f32"], out, ftype, family.tokenizer.pre,
                                                       family.gguf_name or f"tiny-{name}")
    references = {fmt: Reference.run(load_hf(paths[fmt]), ids) for fmt in ("hf-f32", "hf-bf16", "hf-sharded")}
    gguf_refs = {ftype: gguf_model(model, family, ftype) for ftype in ("f32", "f16", "q8_0")}
    references.update({f"gguf-{ftype}": Reference.run(m, ids) for ftype, m in gguf_refs.items()})
    return Built(family, model, ids, paths, references, gguf_refs, paths["hf-f32"])


def max_diff(a: np.ndarray, b: np.ndarray) -> tuple[float, tuple[int, ...]]:
    """The largest absolute difference and where it is."""
    d = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    at = np.unravel_index(int(np.argmax(d)), d.shape)
    return float(d[at]), tuple(int(i) for i in at)


def assert_close(what: str, ours: Any, ref: np.ndarray, atol: float) -> None:
    """One readable line on failure: the shapes, or the worst difference and where it is."""
    ours = np.asarray(ours)
    if ours.shape != ref.shape:
        raise AssertionError(f"{what}: shape {list(ours.shape)}, expected {list(ref.shape)}")
    if not np.isfinite(ours).all():
        raise AssertionError(f"{what}: holds NaN or infinite values")
    worst, at = max_diff(ours, ref)
    if worst > atol:
        raise AssertionError(f"{what}: differs from transformers by {worst:.3g} at {list(at)} "
                             f"(ours {float(ours[at]):.6g}, transformers {float(ref[at]):.6g}; tolerance {atol:g})")


_BUILT: dict[str, Built] = {}


def built(name: str, tmp_path_factory) -> Built:
    """`build(name)` once per session, shared by every test module that asks (use it from a fixture)."""
    if name not in _BUILT:
        _BUILT[name] = build(name, tmp_path_factory.mktemp(name))
    return _BUILT[name]


# ---- files a loader must refuse --------------------------------------------------------------------------

def _yarn(cfg: dict[str, Any]) -> None:
    rope = cfg["rope_parameters"]
    target = rope.get("full_attention", rope)
    target.update({"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64})


def _longrope(cfg: dict[str, Any]) -> None:
    half = int(cfg["rope_parameters"].get("partial_rotary_factor", 1.0) * cfg["hidden_size"]
               // cfg["num_attention_heads"]) // 2
    cfg["rope_parameters"].update({"rope_type": "longrope", "long_factor": [1.0 + i for i in range(half)],
                                   "short_factor": [1.0] * half})
    cfg["max_position_embeddings"] = 4 * cfg["original_max_position_embeddings"]


@dataclass(frozen=True)
class Unsupported:
    """A config.json edit a loader must refuse with a ModelError of one line holding one of `words`."""
    case: str
    edit: Callable[[dict[str, Any]], None]
    words: tuple[str, ...]
    gguf: bool  # also convert the edited folder: the converter writes the feature into the file


YARN = Unsupported("yarn", _yarn, ("yarn",), gguf=True)
UNSUPPORTED = {
    "llama": [YARN],
    "llama-tied": [YARN],
    "mistral": [YARN, Unsupported("mamba", lambda c: c.update(model_type="mamba"), ("mamba",), gguf=False)],
    "qwen2": [YARN],
    "qwen3": [YARN],
    # the converter asserts Gemma 3 has no attention softcapping, so it exists only as a folder
    "gemma3": [YARN, Unsupported("softcapping", lambda c: c.update(attn_logit_softcapping=50.0),
                                 ("attn_logit_softcapping", "softcap"), gguf=False)],
    # Phi3MiniModel writes no yarn keys (the file would look plain); LongRoPE it writes as tensors
    "phi3": [Unsupported("yarn", _yarn, ("yarn",), gguf=False),
             Unsupported("longrope", _longrope, ("longrope", "rope_factors"), gguf=True)],
}


def unsupported_file(b: Built, u: Unsupported, kind: str, root: Path) -> Path:
    """The family's float32 folder with `u.edit` applied to config.json, or its F32 GGUF conversion."""
    # named by number, so a message quoting the path does not name the feature by accident
    index = [x.case for x in UNSUPPORTED[b.family.name]].index(u.case)
    folder = root / f"{b.family.name}-{index}"
    if not folder.exists():
        shutil.copytree(b.paths["hf-f32"], folder)
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        u.edit(cfg)
        (folder / "config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    if kind == "hf":
        return folder
    out = root / f"{b.family.name}-{index}.gguf"
    if not out.exists():
        families_gguf.convert(folder, out, "f32", b.family.tokenizer.pre, b.family.gguf_name or f"tiny-{b.family.name}")
    return out
