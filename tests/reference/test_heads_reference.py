"""attn heads' scores against references: transformers' eager attention on a tiny random Llama-family
model and on SmolLM2 (its GGUF read by transformers), and TransformerLens's head-detector definitions
(its previous_token_head and induction_head detection patterns and its "mul" score, reimplemented
here) where they overlap with the census's."""

from __future__ import annotations

import numpy as np
import pytest

from attncli.analysis import heads
from helpers.census import TEXTS, TOL

torch = pytest.importorskip("torch", reason="torch is the reference (pip install -r requirements-reference.txt)")
pytest.importorskip("transformers", reason="transformers is the reference (pip install -r requirements-reference.txt)")


def pooled(attentions: list[list[np.ndarray]]) -> dict[str, np.ndarray]:
    """previous, first, self, entropy from causal attention matrices: per text, a list of [H, T, T] per layer."""
    n_layer, n_head = len(attentions[0]), attentions[0][0].shape[0]
    sums = {k: np.zeros((n_layer, n_head)) for k in heads.CORPUS_SCORES}
    n = 0
    for layers in attentions:
        T = layers[0].shape[-1]
        n += T - 1
        for L, w in enumerate(layers):
            w = w.astype(np.float64)
            for i in range(1, T):
                sums["previous"][L] += w[:, i, i - 1]
                sums["first"][L] += w[:, i, 0]
                sums["self"][L] += w[:, i, i]
                row = w[:, i, :i + 1]
                sums["entropy"][L] += -(row * np.log(np.where(row > 0, row, 1))).sum(-1) / np.log(i + 1)
    return {k: v / n for k, v in sums.items()}


def repeated(attentions: list[np.ndarray], length: int) -> tuple[np.ndarray, np.ndarray]:
    """(induction, duplicate) [L, H] of one repeated sequence's attention (a [H, T, T] per layer)."""
    T = attentions[0].shape[-1]
    j = np.arange(T - length, T)
    return (np.stack([w[:, j, j - length + 1].astype(np.float64).mean(-1) for w in attentions]),
            np.stack([w[:, j, j - length].astype(np.float64).mean(-1) for w in attentions]))


def hf_attentions(model, ids: list[int]) -> list[np.ndarray]:
    model.config._attn_implementation = "eager"
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_attentions=True)
    return [a[0].float().numpy() for a in out.attentions]


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    from attncli.checkpoints import load
    from helpers.families import FAMILIES, one_torch_thread, save_hf, train_tokenizer

    family = FAMILIES["llama"]
    with one_torch_thread():
        tok = train_tokenizer(family.tokenizer)
        model = family.build(family.tokenizer.size + family.vocab_pad)
        folder = save_hf(model, tmp_path_factory.mktemp("llama"), family.tokenizer, tok)
    return load(folder), model


def weight_bounds(model, ids: list[int]) -> list[np.ndarray]:
    """Per layer, the bound [H, T, T] on each attention weight of two float32 passes differing by rounding."""
    from helpers.tolerances import trace_weights_tolerance

    trace = model.forward(ids)
    return [trace_weights_tolerance(model.config, trace, L) for L in range(model.config.n_layer)]


def test_a_tiny_llama_scores_as_transformers_attends(tiny_llama):
    """Each score is a mean of weights, so its bound is the mean of the weights' float32 bounds
    (tests/tolerances.py); an entropy's, sum_k bound_k (|log w_k| + 1) / log(i + 1)."""
    from helpers.families import one_torch_thread
    from helpers.tolerances import assert_within

    ours, reference = tiny_llama
    assert ours.tokenizer.before  # Llama 3 adds its BOS: position 0 is the sink candidate
    options = heads.Options(induction_length=12, induction_samples=3)
    result = heads.census(ours, TEXTS[:4], options)
    counter = heads.Census(ours, options)
    texts = [heads.text_ids(ours, t, counter.limit)[0] for t in TEXTS[:4]]
    seqs = [heads.repeat_ids(ours, counter.candidates, 0, s, 12) for s in range(3)]
    with one_torch_thread():
        expected = pooled([hf_attentions(reference, ids) for ids in texts])
        ind, dup = zip(*(repeated(hf_attentions(reference, ids), 12) for ids in seqs), strict=True)
    bounds = {k: np.zeros((ours.config.n_layer, ours.config.n_head)) for k in heads.CORPUS_SCORES}
    n = 0
    for ids in texts:
        T = len(ids)
        n += T - 1
        i = np.arange(1, T)
        weights = ours.forward(ids)
        for L, tol in enumerate(weight_bounds(ours, ids)):
            w = weights.block(L, "attn.weights").astype(np.float64)
            bounds["previous"][L] += tol[:, i, i - 1].sum(-1)
            bounds["first"][L] += tol[:, i, 0].sum(-1)
            bounds["self"][L] += tol[:, i, i].sum(-1)
            spread = (tol * (np.abs(np.log(np.where(w > 0, w, 1.0))) + 1))[:, 1:].sum(-1)  # [H, T-1]
            bounds["entropy"][L] += (spread / np.log(i + 1)).sum(-1)
    for name in heads.CORPUS_SCORES:
        assert_within(result.scores[name], expected[name], bounds[name] / n, name)
    j = np.arange(len(seqs[0]) - 12, len(seqs[0]))
    seq_bounds = [np.stack([t[:, j, j - 12 + 1].mean(-1) for t in weight_bounds(ours, ids)]) for ids in seqs]
    dup_bounds = [np.stack([t[:, j, j - 12].mean(-1) for t in weight_bounds(ours, ids)]) for ids in seqs]
    assert_within(result.scores["induction"], np.mean(ind, axis=0), np.mean(seq_bounds, axis=0), "induction")
    assert_within(result.scores["duplicate"], np.mean(dup, axis=0), np.mean(dup_bounds, axis=0), "duplicate")


# ---- TransformerLens's definitions, as its head_detector.py states them ------------------------------

def tl_previous_pattern(tokens: np.ndarray) -> np.ndarray:
    T = tokens.shape[-1]
    p = np.zeros((T, T))
    p[1:, :-1] = np.eye(T - 1)  # a diagonal of ones below the main one
    return np.tril(p)


def tl_duplicate_pattern(tokens: np.ndarray) -> np.ndarray:
    same = (tokens[None, :] == tokens[:, None]).astype(float)
    np.fill_diagonal(same, 0)
    return np.tril(same)


def tl_induction_pattern(tokens: np.ndarray) -> np.ndarray:
    shifted = np.roll(tl_duplicate_pattern(tokens), 1, axis=1)  # each duplicate's next token
    shifted[:, 0] = 0
    return np.tril(shifted)


def tl_score(attention: np.ndarray, pattern: np.ndarray) -> float:
    """compute_head_attention_similarity_score with error_measure="mul", nothing excluded."""
    return float((attention * pattern).sum() / attention.sum())


def test_transformer_lens_previous_token_and_induction_scores_are_ours_rescaled(bundled_model):
    """TransformerLens divides by every row's weight (T rows of 1); the census averages over the rows
    that are measured: T - 1 for previous (position 0 has no previous token), L for induction."""
    model = bundled_model
    text = TEXTS[1]
    ids = np.asarray(heads.text_ids(model, text, model.config.n_ctx)[0])
    T = ids.size
    trace = model.forward(ids)
    ours = heads.census(model, [text], heads.Options(induction_samples=1)).scores["previous"]
    counter = heads.Census(model, heads.Options())
    L = heads.repeat_length(model, 40)
    seq = np.asarray(heads.repeat_ids(model, counter.candidates, 0, 0, L))
    assert len(set(seq[:L].tolist())) == L  # no token twice in a copy: TransformerLens's pattern is then exactly ours
    induction = heads.repeat_scores(model, seq.tolist(), L)[0]
    rep = model.forward(seq)
    for layer in range(model.config.n_layer):
        w = trace.block(layer, "attn.weights").astype(np.float64)
        r = rep.block(layer, "attn.weights").astype(np.float64)
        for h in range(model.config.n_head):
            tl = tl_score(w[h], tl_previous_pattern(ids))
            assert ours[layer, h] == pytest.approx(tl * T / (T - 1), abs=TOL)
            tl_ind = tl_score(r[h], tl_induction_pattern(seq))
            assert induction[layer, h] == pytest.approx(tl_ind * seq.size / L, abs=TOL)


# ---- SmolLM2 against transformers on the same GGUF ------------------------------------------------------

def test_smollm2_scores_as_transformers_attends(smollm2_model, smollm2_transformers):
    _, reference, _ = smollm2_transformers
    options = heads.Options(induction_length=20, induction_samples=3)
    texts = TEXTS[:3]
    result = heads.census(smollm2_model, texts, options)
    counter = heads.Census(smollm2_model, options)
    expected = pooled([hf_attentions(reference, heads.text_ids(smollm2_model, t, counter.limit)[0]) for t in texts])
    for name in ("previous", "first", "self"):
        assert np.abs(result.scores[name] - expected[name]).max() <= 0.01, name
    seqs = [heads.repeat_ids(smollm2_model, counter.candidates, 0, s, 20) for s in range(3)]
    ind = np.mean([repeated(hf_attentions(reference, ids), 20)[0] for ids in seqs], axis=0)
    ours = result.scores["induction"]
    assert np.corrcoef(ours.ravel(), ind.ravel())[0, 1] >= 0.97
    strongest = [set(np.argsort(-a.ravel(), kind="stable")[:3].tolist()) for a in (ours, ind)]
    assert strongest[0] == strongest[1]
