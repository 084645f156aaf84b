"""Tiny random BERT, DistilBERT, RoBERTa and XLM-RoBERTa masked-LMs, built with transformers and
saved as Hugging Face folders with their own tokenizers: a WordPiece with [CLS] ... [SEP] (BERT,
DistilBERT), a byte-level BPE with <s> ... </s> and <mask> (RoBERTa), a SentencePiece-style
Unigram (XLM-RoBERTa). Each is saved twice: the *ForMaskedLM folder (head "mlm") and its bare
encoder (BertModel and the like: head "none", as a sentence-transformers folder holds).

The reference is transformers' eager float32 forward; test_encoders.py holds attncli to it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from helpers.families import CORPUS, eager, one_torch_thread, randomize

VOCAB = 120


def wordpiece() -> Tokenizer:
    """BERT's tokenizer, trained small: lowercasing normalizer, WordPiece, [CLS] $A [SEP]."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=VOCAB, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
                                        show_progress=False)
    tok.train_from_iterator(CORPUS, trainer=trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tok


def byte_bpe() -> Tokenizer:
    """RoBERTa's tokenizer, trained small: byte-level BPE, <s> $A </s> (RobertaProcessing), <mask> that takes the space before it."""
    from tokenizers import AddedToken

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB + 256, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS, trainer=trainer)
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")),
                                                      trim_offsets=True, add_prefix_space=False)
    return tok


def unigram() -> Tokenizer:
    """XLM-RoBERTa's kind of tokenizer: SentencePiece-style Unigram with "▁" for spaces, <s> $A </s>,
    and <mask> last, taking the space before it (as xlm-roberta-base's tokenizer.json has it)."""
    from tokenizers import AddedToken

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.Replace(" ", "\u2581"), normalizers.Prepend("\u2581")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="never")
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=VOCAB, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                      unk_token="<unk>", show_progress=False)
    tok.train_from_iterator(CORPUS, trainer=trainer)
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
    s, e = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
                                                       special_tokens=[("<s>", s), ("</s>", e)])
    return tok


def build_bert(v: int) -> transformers.PreTrainedModel:
    """BERT: token types (2), erf GELU, LayerNorm eps 1e-12, untied decoder bias."""
    config = transformers.BertConfig(vocab_size=v, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=48, max_position_embeddings=64, type_vocab_size=2, pad_token_id=0)
    return randomize(transformers.BertForMaskedLM(eager(config)), seed=11)


def build_distilbert(v: int) -> transformers.PreTrainedModel:
    """DistilBERT: no token types, its own names (q_lin, sa_layer_norm, vocab_projector)."""
    config = transformers.DistilBertConfig(vocab_size=v, dim=32, n_layers=2, n_heads=4, hidden_dim=48,
                                           max_position_embeddings=64, pad_token_id=0)
    return randomize(transformers.DistilBertForMaskedLM(eager(config)), seed=12)


def build_roberta(v: int, pad: int = 1, cls=transformers.RobertaForMaskedLM,
                  config_cls=transformers.RobertaConfig) -> transformers.PreTrainedModel:
    """RoBERTa: positions from pad_token_id + 1 (row 2 for the first token), one token type, eps 1e-5."""
    config = config_cls(vocab_size=v, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
                        max_position_embeddings=66, type_vocab_size=1, pad_token_id=pad, bos_token_id=0, eos_token_id=2,
                        layer_norm_eps=1e-5)
    return randomize(cls(eager(config)), seed=13)


def build_xlm_roberta(v: int) -> transformers.PreTrainedModel:
    return build_roberta(v, cls=transformers.XLMRobertaForMaskedLM, config_cls=transformers.XLMRobertaConfig)


@dataclass(frozen=True)
class Encoder:
    name: str
    build: Callable[[int], transformers.PreTrainedModel]
    tokenizer: Callable[[], Tokenizer]
    tokenizer_class: str
    specials: dict[str, str]  # tokenizer_config.json's special tokens
    base: str  # the attribute of the *ForMaskedLM that is the bare encoder


BERT_SPECIALS = {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]",
                 "mask_token": "[MASK]"}
ROBERTA_SPECIALS = {"bos_token": "<s>", "eos_token": "</s>", "cls_token": "<s>", "sep_token": "</s>",
                    "pad_token": "<pad>", "unk_token": "<unk>", "mask_token": "<mask>"}

ENCODERS = {e.name: e for e in [
    Encoder("bert", build_bert, wordpiece, "BertTokenizer", BERT_SPECIALS, "bert"),
    Encoder("distilbert", build_distilbert, wordpiece, "DistilBertTokenizer", BERT_SPECIALS, "distilbert"),
    Encoder("roberta", build_roberta, byte_bpe, "RobertaTokenizer", ROBERTA_SPECIALS, "roberta"),
    Encoder("xlm-roberta", build_xlm_roberta, unigram, "XLMRobertaTokenizer", ROBERTA_SPECIALS, "roberta"),
]}

TEXTS = ["I do not [MASK] spinach.", "The cat sat on the [MASK], then the dog sat.", "We do like tea and coffee"]


@dataclass
class Built:
    encoder: Encoder
    model: transformers.PreTrainedModel  # the *ForMaskedLM, float32, eager
    mlm: Path  # its folder
    bare: Path  # the bare encoder's folder (no head)


def save(model: transformers.PreTrainedModel, folder: Path, e: Encoder, tok: Tokenizer) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tok.save(str(folder / "tokenizer.json"))
    cfg = {"tokenizer_class": e.tokenizer_class, **e.specials, "model_max_length": 64}
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    # saved again by transformers, whose tokenizer classes rebuild their own pipeline around the
    # vocabulary: the tokenizer.json a real folder of the family has
    transformers.AutoTokenizer.from_pretrained(folder).save_pretrained(folder)
    return folder


def build(name: str, root: Path) -> Built:
    e = ENCODERS[name]
    with one_torch_thread():
        tok = e.tokenizer()
        model = e.build(tok.get_vocab_size())
        mlm = save(model, root / "mlm", e, tok)
        bare = save(getattr(model, e.base), root / "bare", e, tok)
    return Built(e, model, mlm, bare)


_BUILT: dict[str, Built] = {}


def built(name: str, tmp_path_factory) -> Built:
    if name not in _BUILT:
        _BUILT[name] = build(name, tmp_path_factory.mktemp(name))
    return _BUILT[name]


def reference(model: transformers.PreTrainedModel, ids: list[int]):
    """transformers' eager forward: logits (None for a bare encoder), attentions and hidden states."""
    eager(model.config)
    with torch.no_grad(), one_torch_thread():
        out = model(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    logits = out.logits[0].numpy() if hasattr(out, "logits") else None
    return logits, [a[0].numpy() for a in out.attentions], [h[0].numpy() for h in out.hidden_states]


def max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())
