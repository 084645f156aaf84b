"""attn heads' census (analysis/heads.py) against a naive reading of the issue's definitions: every text
through `attn explain`'s tokenization and the full trace, then loops over layers, heads and positions in
float64. On the bundled (causal) model and the bundled masked-language model (an encoder)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attncli.analysis import heads
from helpers.census import TEXTS, TOL, naive


@pytest.fixture(scope="module")
def mlm_model():
    from attncli.checkpoints import load

    return load("bundled-mlm")


@pytest.mark.parametrize("which", ["bundled", "encoder"])
def test_corpus_scores_equal_the_naive_loops(which, bundled_model, mlm_model):
    model = bundled_model if which == "bundled" else mlm_model
    result = heads.census(model, TEXTS, heads.Options(induction_samples=2))
    expected = naive(model, TEXTS)
    for name in heads.CORPUS_SCORES:
        np.testing.assert_allclose(result.scores[name], expected[name], atol=TOL, rtol=0, err_msg=name)
    assert result.texts == len(TEXTS)
    assert result.positions == sum(len(model.encode(t)[0]) - 1 for t in TEXTS)
    assert result.tokens == sum(len(model.encode(t)[0]) for t in TEXTS)


def test_an_encoder_has_no_induction_and_says_so(mlm_model):
    result = heads.census(mlm_model, TEXTS[:2], heads.Options(induction_samples=2))
    assert "induction" not in result.scores and "duplicate" not in result.scores
    assert any("encoder" in n for n in result.notes)
    assert result.encoder and result.samples == 0


def naive_repeat(model, ids: list[int], length: int) -> tuple[np.ndarray, np.ndarray]:
    c = model.config
    trace = model.forward(ids)
    p = len(ids) - 2 * length
    ind, dup = np.zeros((c.n_layer, c.n_head)), np.zeros((c.n_layer, c.n_head))
    for L in range(c.n_layer):
        w = trace.block(L, "attn.weights").astype(np.float64)
        for h in range(c.n_head):
            queries = range(p + length, p + 2 * length)
            ind[L, h] = sum(w[h, j, j - length + 1] for j in queries) / length
            dup[L, h] = sum(w[h, j, j - length] for j in queries) / length
    return ind, dup


def test_induction_and_duplicate_equal_the_naive_loops(bundled_model):
    tok = bundled_model.tokenizer
    words = ["the", "cat", "sat", "on", "mat", "she", "was", "happy", "girl", "park", "ball", "tree", "bird", "dog"]
    copy = [tok.word_id(w)[0] for w in words]
    ids = [*tok.before, *copy, *copy]
    got = heads.repeat_scores(bundled_model, ids, len(copy))
    ind, dup = naive_repeat(bundled_model, ids, len(copy))
    np.testing.assert_allclose(got[0], ind, atol=TOL, rtol=0)
    np.testing.assert_allclose(got[1], dup, atol=TOL, rtol=0)


def test_the_repeated_sequences_are_ordinary_words_twice(bundled_model):
    model = bundled_model
    counter = heads.Census(model, heads.Options())
    length = heads.repeat_length(model, 40)
    assert length == (model.config.n_ctx - len(model.tokenizer.before)) // 2  # 40 twice does not fit in 64
    seqs = [heads.repeat_ids(model, counter.candidates, 0, s, length) for s in range(5)]
    for ids in seqs:
        p = len(model.tokenizer.before)
        first, second = ids[p:p + length], ids[p + length:]
        assert first == second and len(first) == length
        for i in first:
            text = model.tokenizer.decode([i]).strip()
            assert text.isascii() and text.isalpha() and len(text) >= 2, text
            assert i not in model.tokenizer.special_ids
    assert seqs[0] != seqs[1]  # each sample its own
    assert seqs[0] == heads.repeat_ids(model, counter.candidates, 0, 0, length)  # the seed decides


def test_the_sums_of_any_split_merge_to_the_same_numbers(bundled_model):
    options = heads.Options(induction_samples=3)
    counter = heads.Census(bundled_model, options)
    items = list(heads.numbered(TEXTS))
    whole = counter.count_repeats(range(3), counter.count_texts(items))
    a = counter.count_repeats([2], counter.count_texts(items[:2]))
    b = counter.count_repeats([0, 1], counter.count_texts(items[2:]))
    merged = b.merge(a)
    one, two = heads.finish(whole, bundled_model, options), heads.finish(merged, bundled_model, options)
    for name in heads.SCORES:
        np.testing.assert_allclose(one.scores[name], two.scores[name], atol=1e-12, rtol=0)
        np.testing.assert_allclose(one.ci[name], two.ci[name], atol=1e-12, rtol=0)
    assert one.examples == two.examples and one.roles == two.roles


def test_what_is_kept_does_not_grow_with_the_corpus(bundled_model):
    counter = heads.Census(bundled_model, heads.Options())
    small = counter.count_texts(heads.numbered(TEXTS * 2))
    large = counter.count_texts(heads.numbered(TEXTS * 20))
    assert large.texts == 10 * small.texts
    assert len(large.best_text) <= 3 * bundled_model.config.n_layer * bundled_model.config.n_head
    assert len(pickle.dumps(large)) <= len(pickle.dumps(small)) + 4096


def test_max_tokens_cuts_and_counts(bundled_model):
    result = heads.census(bundled_model, TEXTS, heads.Options(max_tokens=5, induction_samples=1))
    long = sum(len(bundled_model.encode(t)[0]) > 5 for t in TEXTS)
    assert result.cut == long > 0
    assert result.tokens == sum(min(5, len(bundled_model.encode(t)[0])) for t in TEXTS)
    assert any(f"{long} of the {len(TEXTS)} texts were cut" in n for n in result.notes)


def test_a_corpus_with_nothing_to_measure_is_refused(bundled_model):
    from attncli.errors import UsageError

    with pytest.raises(UsageError, match="nothing to measure"):
        heads.census(bundled_model, ["hi", "yes"], heads.Options(induction_samples=1))


WORDS = ["the", "a", "cat", "dog", "sat", "ran", "on", "in", "mat", "park", "she", "he", "was", "happy", "big",
         "little", "tree", ".", ",", "and"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.sampled_from(WORDS), min_size=2, max_size=12).map(" ".join), min_size=1, max_size=4),
       st.integers(0, 2**32 - 1))
def test_scores_and_intervals_are_in_range(bundled_model, texts, seed):
    result = heads.census(bundled_model, texts, heads.Options(induction_samples=2, seed=seed, bootstrap=50))
    for name, s in result.scores.items():
        assert ((0 <= s) & (s <= 1)).all(), name
        low, high = result.ci[name][..., 0], result.ci[name][..., 1]
        assert ((low <= s) & (s <= high)).all(), name
        assert ((0 <= low) & (high <= 1)).all(), name
    for L in range(result.n_layer):
        for h in range(result.n_head):
            for role in result.roles[L][h]:
                score, floor = heads.ROLES[role]
                assert result.ci[score][L, h, 0] >= floor


def test_the_intervals_are_the_documented_bootstrap(bundled_model):
    """README: each text gets a Poisson(1) weight in each of 200 replicates, from a generator seeded by
    (seed, 0, the text's index); the corpus score's interval is the replicates' 2.5 and 97.5 percentiles
    of the weighted pooled mean (widened to hold the estimate). Recomputed here position by position."""
    seed = 7
    result = heads.census(bundled_model, TEXTS, heads.Options(induction_samples=2, seed=seed))
    c = bundled_model.config
    per_text = []  # (sum of A[i, i-1] over the text's positions [L, H], positions)
    for text in TEXTS:
        tokens, _ = bundled_model.encode(text)
        trace = bundled_model.forward([t.id for t in tokens])
        T = len(tokens)
        s = np.zeros((c.n_layer, c.n_head))
        for L in range(c.n_layer):
            w = trace.block(L, "attn.weights").astype(np.float64)
            for i in range(1, T):
                s[L] += w[:, i, i - 1]
        per_text.append((s, T - 1))
    replicates = []
    for b in range(200):
        num, den = np.zeros((c.n_layer, c.n_head)), 0.0
        for index, (s, n) in enumerate(per_text):
            k = np.random.default_rng([seed, 0, index]).poisson(1.0, 200)[b]
            num, den = num + k * s, den + k * n
        if den > 0:
            replicates.append(num / den)
    low, high = np.percentile(np.stack(replicates), [2.5, 97.5], axis=0)
    est = result.scores["previous"]
    np.testing.assert_allclose(result.ci["previous"][..., 0], np.minimum(low, est), atol=TOL, rtol=0)
    np.testing.assert_allclose(result.ci["previous"][..., 1], np.maximum(high, est), atol=TOL, rtol=0)


@pytest.mark.parametrize("which", ["bundled", "encoder"])
def test_the_census_tokenizes_as_explain(which, bundled_model, mlm_model):
    model = bundled_model if which == "bundled" else mlm_model
    for text in [*TEXTS, "I do not [MASK] spinach.", "caf\u00e9 \U0001f966 na\u00efve", "  spaced   out  "]:
        ids, cut = heads.text_ids(model, text, model.config.n_ctx)
        assert ids == [t.id for t in model.encode(text)[0]] and not cut, text
    assert heads.text_ids(model, "   ", 64) is None
