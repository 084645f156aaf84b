"""What `attn train --objective` changes, one entry per objective: the tokenizer, the model,
the batches and their loss, and the held-out numbers. The loop in trainer.py is shared.

causal  next-token prediction: byte-level BPE, a GPT-2-style decoder (train/gpt.py)
mlm     masked-token prediction: WordPiece, a BERT-style encoder with an MLM head (train/mlm.py)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ..config import ModelConfig
from ..model import Model, Params
from ..tokenizer import Tokenizer
from . import gpt, mlm
from .data import encode_documents, sample_batch, windows_at

Step = Callable[[Params, ModelConfig, np.ndarray, int, np.random.Generator, Tokenizer], tuple[float, Params, int]]


class Objective(NamedTuple):
    name: str
    min_vocab: tuple[int, str]  # the smallest --vocab-size, and why
    train_tokenizer: Callable[[list[str], int, bool], str]  # docs, vocab_size, lowercase -> tokenizer.json
    encode: Callable[[Tokenizer, list[str]], np.ndarray]  # the corpus as one stream of ids [N]
    config: Callable[[Tokenizer, Any], ModelConfig]  # from the tokenizer and TrainOptions
    init_params: Callable[[ModelConfig, np.random.Generator], Params]
    step: Step  # one batch: (mean loss, gradients, tokens read)
    valid_batch: Callable[[np.ndarray, ModelConfig, Tokenizer], Any]  # a fixed held-out batch
    valid_loss: Callable[[Params, ModelConfig, Any], float]  # mean loss per scored token on it
    evaluate: Callable[..., Any]  # (Model, text, progress) -> EvalResult or MaskedResult
    card: Callable[[Any], dict[str, Any]]  # the held-out numbers for the model card
    describe: str  # "{...}" fields: config and vocabulary


# ---- causal: next token ------------------------------------------------------------------------

def _causal_config(tokenizer: Tokenizer, o: Any) -> ModelConfig:
    return ModelConfig(vocab_size=tokenizer.vocab_size, n_layer=o.n_layer, n_head=o.n_head, d_model=o.d_model,
                       n_ctx=o.n_ctx)


def _causal_step(params: Params, config: ModelConfig, ids: np.ndarray, batch: int, rng: np.random.Generator,
                 tokenizer: Tokenizer) -> tuple[float, Params, int]:
    x, y = sample_batch(ids, batch, config.n_ctx, rng)  # [B, T], [B, T]
    loss, grads = gpt.loss_and_grads(params, config, x, y)
    return loss, grads, x.size


def _causal_valid_batch(ids: np.ndarray, config: ModelConfig, tokenizer: Tokenizer,
                        n: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Up to n windows spread evenly over the validation ids: a cheap, fixed held-out loss."""
    last = ids.shape[0] - config.n_ctx - 1
    starts = np.unique(np.linspace(0, max(last, 0), num=n).astype(np.int64))  # [n]
    return windows_at(ids, starts, config.n_ctx)  # [n, T], [n, T]


def _causal_valid_loss(params: Params, config: ModelConfig, fixed: tuple[np.ndarray, np.ndarray],
                       batch: int = 32) -> float:
    xv, yv = fixed
    total = 0.0
    for i in range(0, xv.shape[0], batch):
        x, y = xv[i:i + batch], yv[i:i + batch]  # [B, T] each
        total += gpt.nll_sum(params, config, x, y, np.ones(y.shape, dtype=bool))  # every target scored
    return total / yv.size


def _causal_evaluate(model: Model, text: str, progress: Callable[[int, int], None]) -> Any:
    from .evaluate import evaluate

    return evaluate(model, text, progress=progress)


def _causal_card(v: Any) -> dict[str, Any]:
    return {"valid_loss_token": round(v.loss_token, 4), "valid_ppl_token": round(v.ppl_token, 2),
            "valid_ppl_word": round(v.ppl_word, 2)}


def _train_bpe(docs: list[str], vocab_size: int, lowercase: bool) -> str:
    from .bpe import train_bpe

    return train_bpe(docs, vocab_size, lowercase)


CAUSAL = Objective(
    name="causal", min_vocab=(257, "256 bytes + <|endoftext|>"), train_tokenizer=_train_bpe, encode=encode_documents,
    config=_causal_config, init_params=gpt.init_params, step=_causal_step, valid_batch=_causal_valid_batch,
    valid_loss=_causal_valid_loss, evaluate=_causal_evaluate, card=_causal_card,
    describe="GPT-2-style model, {n_layer} layers, {n_head} heads, d_model {d_model}, context {n_ctx}, "
             "{vocab_size}-token byte-level BPE")


# ---- mlm: masked tokens -----------------------------------------------------------------------

def _mlm_config(tokenizer: Tokenizer, o: Any) -> ModelConfig:
    return mlm.encoder_config(vocab_size=tokenizer.vocab_size, n_layer=o.n_layer, n_head=o.n_head, d_model=o.d_model,
                              n_ctx=o.n_ctx)


def _mlm_step(params: Params, config: ModelConfig, ids: np.ndarray, batch: int, rng: np.random.Generator,
              tokenizer: Tokenizer) -> tuple[float, Params, int]:
    from .mlm_data import sample_windows, specials

    sp = specials(tokenizer)
    x = sample_windows(ids, batch, config.n_ctx, sp.cls, rng)  # [B, T]
    m = mlm.mask_batch(x, config.vocab_size, sp.n_special, sp.mask, rng)
    loss, grads = mlm.loss_and_grads(params, config, m.ids, m.positions, m.targets)
    return loss, grads, x.size


def _mlm_valid_batch(ids: np.ndarray, config: ModelConfig, tokenizer: Tokenizer, n: int = 128) -> mlm.Masked:
    """Up to n windows spread evenly over the validation ids, masked once with a fixed seed (not the
    training RNG's): the same tokens are hidden at every evaluation."""
    from .mlm_data import specials
    from .mlm_data import windows_at as mlm_windows_at

    sp = specials(tokenizer)
    starts = np.unique(np.linspace(0, max(ids.shape[0] - config.n_ctx + 1, 0), num=n).astype(np.int64))  # [n]
    x = mlm_windows_at(ids, starts, config.n_ctx, sp.cls)  # [n, T]
    return mlm.mask_batch(x, config.vocab_size, sp.n_special, sp.mask, np.random.default_rng(0), split=(1.0, 0.0))


def _mlm_valid_loss(params: Params, config: ModelConfig, fixed: mlm.Masked, batch: int = 32) -> float:
    T = fixed.ids.shape[1]
    total = 0.0
    for i in range(0, fixed.ids.shape[0], batch):
        sel = (fixed.positions >= i * T) & (fixed.positions < (i + batch) * T)
        total += mlm.nll_sum(params, config, fixed.ids[i:i + batch], fixed.positions[sel] - i * T, fixed.targets[sel])
    return total / fixed.targets.shape[0]


def _mlm_evaluate(model: Model, text: str, progress: Callable[[int, int], None]) -> Any:
    from .mlm_eval import evaluate_mlm

    return evaluate_mlm(model, text, progress=progress)


def _mlm_card(v: Any) -> dict[str, Any]:
    return {"valid_loss_masked": round(v.loss, 4), "valid_top1": round(v.top1, 4), f"valid_top{v.k}": round(v.topk, 4),
            "valid_masked_tokens": v.tokens, "valid_mask_seed": v.seed}


def _mlm_encode(tokenizer: Tokenizer, docs: list[str]) -> np.ndarray:
    from .mlm_data import encode_stream, specials

    specials(tokenizer)  # a resumed run's tokenizer must be a masked-LM one
    return encode_stream(tokenizer, docs)


def _train_wordpiece(docs: list[str], vocab_size: int, lowercase: bool) -> str:
    from .wordpiece import train_wordpiece

    return train_wordpiece(docs, vocab_size, lowercase)


MLM = Objective(
    name="mlm", min_vocab=(128, "5 special tokens + the printable ASCII characters"), train_tokenizer=_train_wordpiece,
    encode=_mlm_encode, config=_mlm_config, init_params=mlm.init_params, step=_mlm_step, valid_batch=_mlm_valid_batch,
    valid_loss=_mlm_valid_loss, evaluate=_mlm_evaluate, card=_mlm_card,
    describe="BERT-style masked-language model (post-norm blocks, MLM head), {n_layer} layers, {n_head} heads, "
             "d_model {d_model}, context {n_ctx}, {vocab_size}-token WordPiece")

OBJECTIVES = {o.name: o for o in (CAUSAL, MLM)}
