"""Plain dicts for --json output, built from the same views the tables show.

Masked attention cells become None (JSON null); every float is finite or the CLI's
json.dumps(allow_nan=False) refuses it. Every float is written as the shortest decimal that
reads back to the same float32 (`dump` sees to it): the model's values are float32, and what is
derived from them in float64 (a probability, a perplexity) is rounded to float32 too, whose seven
digits are all that its float32 inputs carry. Only a value beyond float32's range keeps float64's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._version import __version__
from ..model import Model, Prediction
from ..tokenizer import Token
from ..trace import Trace
from ..views import HeadView

SCHEMA_VERSION = "1.0"


F32_MAX = float(np.finfo(np.float32).max)


def floats(a: np.ndarray | list) -> Any:
    """A float array as nested lists of Python floats, each the float32 value's shortest decimal."""
    a = np.asarray(a)
    if a.dtype != np.float32:
        a = a.astype(np.float64)
        if not (np.abs(a[np.isfinite(a)]) <= F32_MAX).all():  # beyond float32's range: float64 keeps them
            return a.tolist()
        a = a.astype(np.float32)
    return a.astype(str).astype(np.float64).tolist()  # float32's shortest repr, read as a double


def short(v: Any) -> Any:
    """`v` with every float in it written as float32's shortest decimal (see floats)."""
    if isinstance(v, float):
        return floats(v) if math.isfinite(v) else v  # NaN and infinity are refused by the writer
    if isinstance(v, (list, tuple)):
        given = [x for x in v if x is not None]
        if given and all(type(x) is float and math.isfinite(x) for x in given):  # a row, None where masked
            written = iter(floats(given))  # one numpy pass
            return [None if x is None else next(written) for x in v]
        return [short(x) for x in v]
    if isinstance(v, dict):
        return {k: short(x) for k, x in v.items()}
    return v


def masked_floats(a: np.ndarray, masked: np.ndarray) -> list:
    """Like floats(), with None where masked (rows of a [.., T, T] matrix)."""
    values = floats(a)

    def walk(v: Any, m: np.ndarray) -> Any:
        if m.ndim == 1:
            return [None if hidden else x for x, hidden in zip(v, m)]
        return [walk(vi, mi) for vi, mi in zip(v, m)]

    return walk(values, np.broadcast_to(masked, a.shape))


class Rows:
    """A float matrix, None where masked, that `dump` writes one row at a time.

    The attention of a long input is millions of cells; as nested lists of Python floats it
    would take gigabytes before a byte is written.
    """

    def __init__(self, a: np.ndarray, masked: np.ndarray | None = None) -> None:
        self.a, self.masked = a, masked  # [n, T], [n, T] bool

    def rows(self):
        for i in range(self.a.shape[0]):
            yield floats(self.a[i]) if self.masked is None else masked_floats(self.a[i], self.masked[i])


def _check_finite(doc: Any) -> None:
    if isinstance(doc, Rows):
        shown = doc.a if doc.masked is None else doc.a[~doc.masked]
        if not np.isfinite(shown).all():
            raise ValueError("Out of range float values are not JSON compliant")
    elif isinstance(doc, dict):
        for v in doc.values():
            _check_finite(v)
    elif isinstance(doc, (list, tuple)):
        for v in doc:
            _check_finite(v)


def dump(doc: Any, write) -> None:
    """Write `doc` as compact-spaced JSON through `write`, streaming any Rows inside it.

    Same text as json.dumps(short(doc), allow_nan=False, ensure_ascii=False) with Rows as lists:
    NaN or Infinity anywhere raises ValueError instead of being written.
    """
    import json

    _check_finite(doc)  # before the first byte: stdout is all of a valid document or nothing

    def enc(v: Any) -> str:
        return json.dumps(v, allow_nan=False, ensure_ascii=False)

    if isinstance(doc, Rows):
        write("[")
        for i, row in enumerate(doc.rows()):  # floats() wrote them as float32's shortest decimals already
            write((", " if i else "") + enc(row))
        write("]")
    elif isinstance(doc, dict):
        write("{")
        for i, (k, v) in enumerate(doc.items()):
            write((", " if i else "") + enc(str(k)) + ": ")
            dump(v, write)
        write("}")
    elif isinstance(doc, (list, tuple)) and any(isinstance(x, (Rows, dict, list)) for x in doc):
        write("[")
        for i, v in enumerate(doc):
            if i:
                write(", ")
            dump(v, write)
        write("]")
    else:
        write(enc(short(doc)))


def attention_kind(model: Model) -> str:
    """encoder (every token sees every other) or causal (each sees the tokens before it)."""
    return "encoder" if model.task.sees_both_sides else "causal"


def kind_sentence(model: Model) -> str:
    """One plain sentence on what kind of model this is, for `attn info`."""
    task = model.task
    if task.next_token:
        return ("A causal language model (like GPT): each token sees only the tokens before it, and the model "
                "predicts the next token.")
    what = "An encoder (like BERT): attention is bidirectional, every token sees every other, before and after it; "
    if task.fills_masks:
        return what + "its masked-language-model head fills in a [MASK]ed word."
    from ..analysis.embedding import describe, pooling_of

    return what + f"it has no vocabulary head: its output is a sentence embedding ({describe(pooling_of(model.card))})."


def model_info(model: Model) -> dict[str, Any]:
    c = model.config
    info: dict[str, Any] = {
        "name": model.name,
        "source": model.source,
        "architecture": c.architecture,
        "parameters": c.n_params,
        "vocab_size": c.vocab_size,
        "context_length": c.n_ctx,
        "n_layer": c.n_layer,
        "n_head": c.n_head,
        "n_kv_head": c.n_kv_head,
        "d_model": c.d_model,
        "d_head": c.d_head,
        "d_mlp": c.d_mlp,
        "norm": c.norm,
        "positions": c.positions,
        "mlp": c.mlp,
        "activation": c.activation,
        "causal": c.causal,
        "kind": attention_kind(model),
        "head": model.task.name,  # what the model's output is: next-token, masked-lm or sentence-embedding
        "tied_embeddings": c.tied_embeddings,
    }
    if model.card:
        info["card"] = model.card
    memory = getattr(model, "memory", None)
    if memory is not None:  # a GGUF model: how its weights are kept, and what each way takes
        info["memory"] = memory.as_dict()
    return info


def model_ref(model: Model) -> dict[str, Any]:
    c = model.config
    return {"name": model.name, "source": model.source, "architecture": c.architecture,
            "kind": attention_kind(model), "n_layer": c.n_layer, "n_head": c.n_head, "n_kv_head": c.n_kv_head,
            "d_model": c.d_model,
            "d_head": c.d_head, "vocab_size": c.vocab_size, "context_length": c.n_ctx}


def tokens_doc(tokens: list[Token]) -> list[dict[str, Any]]:
    return [{"index": t.index, "id": t.id, "token": t.token, "text": t.text, "start": t.start, "end": t.end,
             "word": t.word, "split": t.split, "continues": t.continues, "unknown": t.unknown,
             "bytes": None if t.raw is None else t.raw.hex(), "partial": t.partial, "special": t.special} for t in tokens]


def predictions_doc(preds: list[Prediction]) -> list[dict[str, Any]]:
    return [{"rank": p.rank, "id": p.id, "token": p.token, "text": p.text, "probability": p.probability,
             "logit": p.logit} for p in preds]


def envelope(command: str, model: Model | None) -> dict[str, Any]:
    """What every --json document starts with; `model` is null for a command that loads none."""
    doc = {"schema_version": SCHEMA_VERSION, "attncli_version": __version__, "command": command,
           "model": None if model is None else model_ref(model)}
    if model is not None and model.ablation is not None:  # the numbers are not the model's own: say so first
        heads, mode = model.ablation
        doc["ablation"] = {"heads": [[L, h] for L, h in heads], "mode": mode}
    return doc


def explain_doc(model: Model, text: str, tokens: list[Token], trace: Trace, view: HeadView,
                preds: list[Prediction], truncated: bool = False, stream: bool = False, readout: Any = None,
                masks: list[Any] | None = None) -> dict[str, Any]:
    """The explain document; with `stream`, its attention matrices are Rows for `dump`."""
    matrix = Rows if stream else (lambda a, m: masked_floats(a, m))
    doc = envelope("explain", model)
    doc.update({"text": text, "truncated": truncated, "tokens": tokens_doc(tokens)})
    doc["view"] = {"layer": view.layer, "head": view.head}
    layers = []
    for L in trace.layers:
        scores = trace.block(L, "attn.scores")  # [H, T, T]
        weights = trace.block(L, "attn.weights")  # [H, T, T]
        masked = trace.layer_mask(L)  # [T, T]
        layers.append({
            "layer": L,
            "heads": [
                {"head": h, "scores": matrix(scores[h], masked), "weights": matrix(weights[h], masked)}
                for h in range(scores.shape[0])
            ],
        })
    doc["attention"] = layers
    doc["contextual_vectors"] = {
        "name": view.vectors_name,
        "layer": view.layer,
        "head": view.head,
        "vectors": floats(view.vectors),
        "norms": view.norms.tolist(),
    }
    if readout is not None:
        L = readout.layer
        tok = model.tokenizer
        doc["contextual_vectors"]["turned_degrees"] = {
            "from": f"blocks.{L}.resid_pre", "to": readout.after, "degrees": floats(readout.turned)}
        doc["contextual_vectors"]["reads_like"] = [
            {"index": pos, "name": f"{readout.after} through the final norm (or head) and the unembedding",
             "top": [{"id": i, "token": tok.id_to_token(i), "text": tok.display(i), "probability": p} for i, p in near]}
            for pos, near in zip(readout.positions, readout.nearest)]
    doc["predictions"] = predictions_doc(preds)
    if masks is not None:
        doc["masks"] = masks_doc(masks)
    return doc


def generation_steps(model: Model, tokens: list[Token], steps: list[Any], layer: int, head: int | str) -> list[dict[str, Any]]:
    """--explain: per generated token, its probability, the alternatives, and its attention row in
    `layer` (one head, or the mean of the heads) over the prompt and the tokens generated before it."""
    tok = model.tokenizer
    out = []
    for n, s in enumerate(steps):
        row = s.weights.mean(axis=0) if head == "mean" else s.weights[head]  # [keys]
        keys = [t.index for t in tokens] + [len(tokens) + j for j in range(n)]
        keys = keys[-row.shape[0]:]  # once the window slid, the row covers the last n_ctx positions only
        out.append({
            "id": s.id, "token": tok.id_to_token(s.id), "text": tok.display(s.id), "probability": s.probability,
            "alternatives": [{"id": i, "text": tok.display(i), "probability": p} for i, p in s.alternatives],
            "attention": {"layer": layer, "head": head, "name": f"blocks.{layer}.attn.weights",
                          "keys": keys, "weights": floats(row)},
        })
    return out
def masks_doc(fills: list[Any]) -> list[dict[str, Any]]:
    """A masked-language model's fillers: per mask token, its index and top-k predictions."""
    return [{"index": f.index, "predictions": predictions_doc(f.predictions)} for f in fills]


def predict_doc(model: Model, text: str, tokens: list[Token], preds: list[Prediction], truncated: bool = False,
                generated: dict[str, Any] | None = None, masks: list[Any] | None = None) -> dict[str, Any]:
    """`predictions` are next tokens ([] for an encoder); a masked-language model's are `masks`."""
    doc = envelope("predict", model)
    doc.update({"text": text, "truncated": truncated, "tokens": tokens_doc(tokens), "predictions": predictions_doc(preds)})
    if masks is not None:
        doc["masks"] = masks_doc(masks)
    if generated is not None:
        doc["generated"] = generated
    return doc


def info_doc(model: Model) -> dict[str, Any]:
    doc = envelope("info", model)
    doc["info"] = model_info(model)
    return doc


def eval_doc(model: Model, file: str, result: Any, word_pattern: str) -> dict[str, Any]:
    """attn eval: held-out loss and perplexity (result is an evaluate.EvalResult)."""
    doc = envelope("eval", model)
    doc.update({
        "file": file,
        "tokens_scored": result.tokens,
        "words": result.words,
        "nll": result.nll,
        "loss_per_token": result.loss_token,
        "perplexity_per_token": result.ppl_token,
        "perplexity_per_word": result.ppl_word,
        "context": result.n_ctx,
        "stride": result.stride,
        "word_pattern": word_pattern,
    })
    return doc


def eval_mlm_doc(model: Model, file: str, result: Any, mask_rate: float) -> dict[str, Any]:
    """attn eval --objective mlm: masked-token accuracy (result is a mlm_eval.MaskedResult)."""
    doc = envelope("eval-mlm", model)
    doc.update({
        "file": file,
        "masked_tokens": result.tokens,
        "mask_rate": mask_rate,
        "mask_seed": result.seed,
        "top1_accuracy": result.top1,
        "topk_accuracy": result.topk,
        "k": result.k,
        "loss_per_masked_token": result.loss,
        "context": result.n_ctx,
    })
    return doc
