"""Plain dicts for --json of the walkthrough, compare, attribution, rollout and --head all.

Same conventions as render/json.py: masked cells are None (null), every float finite,
the envelope carries schema_version; the numbers are the ones the tables show.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..analysis.attribution import Attribution
from ..analysis.compare import Comparison
from ..analysis.steps import Walkthrough, entropy_bits
from ..analysis.summary import THRESHOLDS, HeadSummary
from ..model import Model, Prediction
from ..tokenizer import Token
from ..trace import Trace
from .json_doc import envelope, floats, masked_floats, predictions_doc, tokens_doc
from ..labels import token_label


def _start(command: str, model: Model, text: str, tokens: list[Token], truncated: bool) -> dict[str, Any]:
    doc = envelope(command, model)
    doc.update({"text": text, "truncated": truncated, "tokens": tokens_doc(tokens)})
    return doc


def steps_doc(model: Model, text: str, tokens: list[Token], w: Walkthrough, preds: list[Prediction],
              truncated: bool = False) -> dict[str, Any]:
    doc = _start("explain-steps", model, text, tokens, truncated)
    L = w.layer
    doc["view"] = {"layer": L, "head": w.head, "kv_head": w.kv_head}
    doc["query"] = {"index": w.position, "label": token_label(tokens[w.position], ignorable=False)}
    visible = int((~w.masked).sum())
    doc["steps"] = {
        "embedding": {"embed": floats(w.embed), "pos_embed": None if w.pos_embed is None else floats(w.pos_embed),
                      **({} if w.type_embed is None else {"type_embed": floats(w.type_embed)}),
                      **({} if w.embed_norm is None else {"embed_norm": floats(w.embed_norm)}),
                      f"blocks.{L}.resid_pre": floats(w.resid_pre),
                      **({} if w.ln1 is None else {f"blocks.{L}.ln1": floats(w.ln1)})},
        "qkv": {f"blocks.{L}.attn.q": floats(w.q), f"blocks.{L}.attn.k": floats(w.k), f"blocks.{L}.attn.v": floats(w.v)},
        "scores": {"dots": masked_floats(np.nan_to_num(w.dots), w.masked), "scale": 1.0 / math.sqrt(w.scale_dim),
                   f"blocks.{L}.attn.scores": masked_floats(w.scores, w.masked), "masked": w.masked.tolist()},
        "softmax": {f"blocks.{L}.attn.weights": masked_floats(w.weights, w.masked), "entropy_bits": w.entropy_bits,
                    "max_entropy_bits": math.log2(visible)},
        "weighted_sum": {f"blocks.{L}.attn.z": floats(w.z), "norm": float(np.linalg.norm(w.z.astype(np.float64)))},
        "output": {f"blocks.{L}.attn.out": floats(w.attn_out), f"blocks.{L}.resid_mid": floats(w.resid_mid)},
    }
    doc["what_if"] = None if w.what_if is None else {
        "temperature": w.what_if.temperature,
        "note": "softmax(scores / temperature): a what-if, the model uses temperature 1",
        "weights": masked_floats(w.what_if.weights, w.masked),
        "entropy_bits": w.what_if.entropy_bits,
        "z": floats(w.what_if.z),
    }
    doc["predictions"] = predictions_doc(preds)
    return doc


def compare_doc(model: Model, texts: tuple[str, str], tokens: tuple[list[Token], list[Token]], c: Comparison,
                k: int, meaning: Any = None, similarity: dict[str, Any] | None = None,
                at: tuple[int, int] | None = (-1, -1)) -> dict[str, Any]:
    doc = envelope("compare", model)
    tok = model.tokenizer
    doc["a"] = {"text": texts[0], "tokens": tokens_doc(tokens[0]), "weights": masked_floats(c.view_a.weights, c.view_a.masked)}
    doc["b"] = {"text": texts[1], "tokens": tokens_doc(tokens[1]), "weights": masked_floats(c.view_b.weights, c.view_b.masked)}
    doc["view"] = {"layer": c.layer, "head": c.head}
    doc["alignment"] = {
        "pairs": [list(p) for p in c.pairs],
        "opcodes": [{"op": op, "a": [a0, a1], "b": [b0, b1]} for op, a0, a1, b0, b1 in c.opcodes],
    }
    doc["weight_diff"] = masked_floats(np.nan_to_num(c.weight_diff), np.isnan(c.weight_diff))
    doc["vectors"] = {"name": c.vectors_name, "metric": "cosine distance (1 - cos)",
                      "cosine_distance": floats(c.cosine_distance)}
    doc["predictions"] = [
        {"id": i, "token": tok.id_to_token(i), "text": tok.display(i), "probability_a": float(pa),
         "probability_b": float(pb), "delta": float(pb - pa)}
        for i, pa, pb in zip(c.prediction_ids, c.prob_a, c.prob_b)
    ]
    doc["predictions_at"] = None if at is None else ("next" if at == (-1, -1) else {"a": at[0], "b": at[1]})
    doc["top_k"] = k
    if meaning is not None:
        layers = [{"name": name, "layer": None if name.endswith("resid_pre") else int(name.split(".")[1]),
                   "distance": float(meaning.distance[j]),
                   "control_distance": None if meaning.control_distance is None else float(meaning.control_distance[j])}
                  for j, name in enumerate(meaning.names)]
        doc["word"] = {"word": meaning.word, "a": meaning.a, "b": meaning.b,
                       "control": None if meaning.control is None else
                       {"word": meaning.control, "a": meaning.control_a, "b": meaning.control_b},
                       "metric": "cosine distance (1 - cos) of the word's vector in A and in B (the mean of its tokens')",
                       "layers": layers}
    if similarity is not None:
        doc["sentence_embedding"] = {"pooling": similarity["pooling"], "normalize": similarity["normalize"],
                                     "from": similarity["from"], "cosine_similarity": similarity["cosine_similarity"]}
    return doc


def attribution_doc(model: Model, text: str, tokens: list[Token], a: Attribution, truncated: bool = False) -> dict[str, Any]:
    doc = _start("explain-attribution", model, text, tokens, truncated)
    doc["measure"] = a.measure
    if a.measure == "embedding":
        from ..analysis.embedding import describe, pooling_of

        doc["method"] = ("leave-one-out: the model is run again without each token; the cosine distance of its "
                         f"sentence embedding ({describe(pooling_of(model.card))}) from the whole text's")
        doc["target"] = None
        doc["ranking"] = [{"rank": r + 1, "index": i, "label": token_label(tokens[i]),
                           "cosine_similarity": float(a.without[i]), "delta": float(a.delta[i])}
                          for r, i in enumerate(a.ranking)]
        return doc
    where = "the top filler of the mask at `position`" if a.position is not None else "the top next-token prediction"
    doc["method"] = f"leave-one-out: the model is run again without each token; the probability of {where}"
    doc["position"] = a.position
    doc["target"] = {"id": a.target, "token": model.tokenizer.id_to_token(a.target),
                     "text": model.tokenizer.display(a.target), "probability": a.probability}
    doc["ranking"] = [
        {"rank": r + 1, "index": i, "label": token_label(tokens[i]), "probability_without": float(a.without[i]),
         "delta": float(a.delta[i])}
        for r, i in enumerate(a.ranking)
    ]
    return doc


def rollout_doc(model: Model, text: str, tokens: list[Token], r: np.ndarray, masked: np.ndarray,
                preds: list[Prediction], truncated: bool = False) -> dict[str, Any]:
    doc = _start("explain-rollout", model, text, tokens, truncated)
    doc["method"] = ("attention rollout (Abnar and Zuidema, 2020): per layer the mean of the heads' weights plus "
                     "the identity, rows renormalized, multiplied across layers")
    doc["rollout"] = masked_floats(r, masked)
    doc["predictions"] = predictions_doc(preds)
    return doc


def heads_doc(model: Model, text: str, tokens: list[Token], trace: Trace, layer: int, truncated: bool = False) -> dict[str, Any]:
    doc = _start("explain-heads", model, text, tokens, truncated)
    weights = trace.block(layer, "attn.weights")  # [H, T, T]
    doc["layer"] = layer
    doc["heads"] = [{"head": h, "weights": masked_floats(weights[h], trace.layer_mask(layer)),
                     "entropy_bits": [entropy_bits(row) for row in weights[h]]}
                    for h in range(weights.shape[0])]
    return doc


def summary_doc(model: Model, text: str, tokens: list[Token], s: HeadSummary, truncated: bool = False) -> dict[str, Any]:
    """--summary: for one query token, every layer and head's row of weights and its strongest key."""
    doc = _start("explain-summary", model, text, tokens, truncated)
    doc["query"] = {"index": s.query, "label": token_label(tokens[s.query])}
    doc["layers"] = [
        {"layer": L, "heads": [
            {"head": h, "top_key": int(s.top_key[i, h]), "top_weight": float(s.top_weight[i, h]),
             "entropy_bits": float(s.entropy_bits[i, h]),
             "weights": masked_floats(s.weights[i, h], s.masked[i]),
             "label": None if s.labels[i][h] is None else {
                 "name": s.labels[i][h].name, "share": s.labels[i][h].share, "queries": s.labels[i][h].queries}}
            for h in range(s.top_key.shape[1])]}
        for i, L in enumerate(s.layers)
    ]
    doc["label_thresholds"] = dict(THRESHOLDS)
    return doc


def lens_doc(model: Model, text: str, tokens: list[Token], lens: Any, truncated: bool = False) -> dict[str, Any]:
    """--lens: per layer, the stream read through the final norm and unembedding at one query token."""
    tok = model.tokenizer
    doc = _start("explain-lens", model, text, tokens, truncated)
    doc["query"] = {"index": lens.query, "label": token_label(tokens[lens.query])}
    doc["target"] = {"id": lens.target, "token": tok.id_to_token(lens.target), "text": tok.display(lens.target)}
    doc["lens"] = [
        {"layer": r.layer, "name": r.name,
         "top": [{"id": i, "text": tok.display(i), "probability": p} for i, p in r.top],
         "target": {"rank": r.target_rank, "probability": r.target_probability}}
        for r in lens.rows]
    return doc


def dla_doc(model: Model, text: str, tokens: list[Token], d: Any, truncated: bool = False) -> dict[str, Any]:
    """--dla: each head's and MLP's direct contribution to the target logit (difference)."""
    tok = model.tokenizer

    def ref(i: int) -> dict[str, Any]:
        return {"id": i, "token": tok.id_to_token(i), "text": tok.display(i)}

    doc = _start("explain-dla", model, text, tokens, truncated)
    doc["query"] = {"index": d.query, "label": token_label(tokens[d.query])}
    doc["target"] = ref(d.target)
    doc["contrast"] = None if d.contrast is None else ref(d.contrast)
    doc["method"] = ("direct logit attribution: each head's attn.z through its rows of W_O, each MLP's output, the "
                     "embeddings and the biases, through the final norm with its scale at this token held fixed, "
                     "dotted with the unembedding of the target (minus the contrast's)")
    doc["heads"] = floats(d.heads)
    doc["mlps"] = floats(d.mlps)
    doc["embeddings"] = d.embed
    doc["biases"] = d.biases
    doc["sum"] = {"total": d.total, "logit": d.logit, "difference": d.total - d.logit,
                  "note": "heads + mlps + embeddings + biases = total, which equals the model's logit (difference) "
                          "up to float32 rounding"}
    return doc


def patch_doc(model: Model, texts: tuple[str, str], tokens: tuple[list[Token], list[Token]], p: Any) -> dict[str, Any]:
    """attn patch: how much of the clean-vs-corrupt logit difference each patch restores."""
    tok = model.tokenizer
    doc = envelope("patch", model)
    doc["clean"] = {"text": texts[0], "tokens": tokens_doc(tokens[0])}
    doc["corrupt"] = {"text": texts[1], "tokens": tokens_doc(tokens[1])}
    doc["target"] = {"id": p.target, "token": tok.id_to_token(p.target), "text": tok.display(p.target)}
    doc["contrast"] = {"id": p.contrast, "token": tok.id_to_token(p.contrast), "text": tok.display(p.contrast)}
    doc["metric"] = {"name": "logit[target] - logit[contrast] at the last token", "clean": p.clean_diff,
                     "corrupt": p.corrupt_diff}
    doc["pairs"] = [list(x) for x in p.pairs]
    doc["resid"] = {"rows": [f"blocks.{L}.resid_pre" for L in range(p.resid.shape[0] - 1)]
                    + [f"blocks.{p.resid.shape[0] - 2}.resid_post"],
                    "restored": masked_floats(np.nan_to_num(p.resid), np.isnan(p.resid)),
                    "metric": masked_floats(np.nan_to_num(p.resid_diff), np.isnan(p.resid_diff))}
    doc["heads"] = {"name": "blocks.L.attn.z[h] patched at every aligned position",
                    "restored": masked_floats(np.nan_to_num(p.heads), np.isnan(p.heads))}
    return doc
