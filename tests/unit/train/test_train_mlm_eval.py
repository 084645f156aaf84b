"""The masked-LM's pieces outside the network: its WordPiece tokenizer, its [CLS]/[SEP] windows,
the fixed-seed masks of `attn eval --objective mlm`, and the count baseline, on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from attncli.errors import TrainingError, UsageError
from attncli.model import Model
from attncli.tokenizer import Tokenizer
from attncli.train import mlm, mlm_eval
from attncli.train.mlm_data import encode_stream, specials, tiling, windows_at
from attncli.train.mlm_eval import CountBaseline, MaskedSet, evaluate_mlm, mask_text, score
from attncli.train.wordpiece import train_wordpiece
from helpers.known_models import random_params
from helpers.train_helpers import story_text


@pytest.fixture(scope="module")
def wordpiece() -> Tokenizer:
    return Tokenizer.from_str(train_wordpiece(story_text().split("\n\n"), 200, lowercase=True))


@pytest.fixture(scope="module")
def encoder(wordpiece) -> Model:
    config = mlm.encoder_config(vocab_size=wordpiece.vocab_size, n_layer=2, n_head=2, d_model=16, n_ctx=16)
    return Model(config=config, params=random_params(config, seed=1), tokenizer=wordpiece, name="tiny-mlm", source="test")


# ---- the tokenizer -------------------------------------------------------------------------------

def test_specials_come_first_and_every_text_goes_between_cls_and_sep(wordpiece):
    sp = specials(wordpiece)
    assert [wordpiece.id_to_token(i) for i in range(5)] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert (sp.cls, sp.sep, sp.mask, sp.n_special) == (2, 3, 4, 5)
    enc = wordpiece.backend.encode("The cat saw a ball.")
    assert enc.tokens == ["[CLS]", "the", "cat", "saw", "a", "ball", ".", "[SEP]"]  # lowercased, as the corpus
    assert wordpiece.backend.encode("The cat", add_special_tokens=False).tokens == ["the", "cat"]


def test_mask_is_one_token_in_any_case_of_the_text(wordpiece):
    assert wordpiece.backend.encode("Once upon a [MASK].", add_special_tokens=False).tokens == ["once", "upon", "a", "[MASK]", "."]


def test_unseen_words_are_pieces_and_ascii_is_never_unknown(wordpiece):
    toks = wordpiece.backend.encode("spinach [x] #1 @tom", add_special_tokens=False).tokens
    assert "[UNK]" not in toks and any(t.startswith("##") for t in toks)


def test_curly_quotes_and_their_mojibake_read_as_straight_quotes(wordpiece):
    straight = wordpiece.backend.encode("tom didn't say \"hi\"", add_special_tokens=False).ids
    assert wordpiece.backend.encode("tom didn\u2019t say \u201chi\u201d", add_special_tokens=False).ids == straight
    assert wordpiece.backend.encode("tom didn\u00e2\u20ac\u2122t say \u00e2\u20ac\u0153hi\u00e2\u20ac\x9d",
                                    add_special_tokens=False).ids == straight


def test_a_vocabulary_without_the_specials_is_refused(tokenizer_json):
    with pytest.raises(TrainingError, match=r"\[PAD\].*ids 0 to 4"):
        specials(Tokenizer.from_str(tokenizer_json))


# ---- windows ---------------------------------------------------------------------------------------

def test_documents_end_with_sep_and_windows_start_with_cls(wordpiece):
    ids = encode_stream(wordpiece, ["the cat.", "a dog."])
    assert wordpiece.decode(ids.tolist()) == "the cat. [SEP] a dog. [SEP]"
    w = windows_at(ids, np.array([0, 2]), 4, cls=2)
    assert w.tolist() == [[2, *ids[0:3]], [2, *ids[2:5]]]


def test_tiling_puts_every_token_in_one_window():
    ids = np.arange(10, 33)  # 23 tokens, windows of 1 + 7
    groups = tiling(ids, 8, cls=2)
    assert [g.shape for g in groups] == [(3, 8), (1, 3)]
    assert (np.concatenate([g[:, 0] for g in groups]) == 2).all()
    assert np.concatenate([g[:, 1:].reshape(-1) for g in groups]).tolist() == ids.tolist()


# ---- fixed masks -----------------------------------------------------------------------------------

def test_eval_masks_are_fixed_and_are_all_mask_tokens(encoder):
    text = story_text(n_stories=12, seed=3)
    a, b, c = mask_text(encoder, text), mask_text(encoder, text), mask_text(encoder, text, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a.positions, b.positions))
    assert any(not np.array_equal(x, y) for x, y in zip(a.positions, c.positions))
    for orig, inp, pos in zip(a.original, a.masked, a.positions):
        assert (inp.reshape(-1)[pos] == 4).all() and (orig.reshape(-1)[pos] >= 5).all()
        np.testing.assert_array_equal(np.delete(inp.reshape(-1), pos), np.delete(orig.reshape(-1), pos))
        n_ordinary = (orig >= 5).sum(axis=1)
        np.testing.assert_array_equal(np.bincount(pos // orig.shape[1], minlength=orig.shape[0]),
                                      np.minimum(n_ordinary, np.maximum(1, np.rint(0.15 * n_ordinary))))


def test_batched_scores_equal_model_forward_one_window_at_a_time(encoder):
    """score() (the batched trainer forward) against the core model.forward, run here window by
    window, with the top-k and the loss counted here with plain argsort and log-sum-exp."""
    data = mask_text(encoder, story_text(n_stories=12, seed=3))
    batched = score(encoder, data, batch=3)
    hits1 = hits5 = n = 0
    nll = 0.0
    for inp, orig, pos in zip(data.masked, data.original, data.positions):
        T = inp.shape[1]
        for p in pos.tolist():
            logits = encoder.forward(inp[p // T])["logits"][p % T].astype(np.float64)  # [V]
            target = int(orig.reshape(-1)[p])
            order = np.argsort(-logits, kind="stable")
            hits1 += int(order[0] == target)
            hits5 += int(target in order[:5])
            nll -= logits[target] - logits.max() - np.log(np.exp(logits - logits.max()).sum())
            n += 1
    assert batched.tokens == n == data.targets.shape[0] > 0
    assert (batched.top1, batched.topk) == (hits1 / n, hits5 / n)
    assert batched.loss == pytest.approx(nll / n, rel=1e-5)
    assert 0 <= batched.top1 <= batched.topk <= 1


def test_top_k_is_ranked_best_first_with_ties_by_id():
    logits = np.array([[0.0, 3.0, 1.0, 3.0, 2.0, -1.0]])
    assert mlm_eval.ranked(logits, 4).tolist() == [[1, 3, 4, 2]]


def test_a_model_without_an_mlm_head_is_refused(tiny_model):
    with pytest.raises(UsageError, match="no masked-LM head"):
        evaluate_mlm(tiny_model, "once upon a time")


# ---- the count baseline ----------------------------------------------------------------------------

STREAM = np.array([5, 6, 7, 3, 5, 6, 7, 3, 5, 9, 7, 3, 8, 9, 3])  # 3 is [SEP]; 0-4 are special


def test_baseline_counts_by_hand():
    b = CountBaseline(STREAM, n_special=5)
    assert b.pair[(5, 7)] == {6: 2, 9: 1} and b.left[8] == {9: 1} and b.right[3] == {7: 3, 9: 1}
    assert b.unigram == {5: 2, 6: 2, 7: 3, 8: 1, 9: 2}  # the middles of the triples; [SEP] never one


def test_baseline_backs_off_pair_then_one_side_then_unigram():
    b = CountBaseline(STREAM, n_special=5)
    uni = [t for t, _ in sorted(b.unigram.items(), key=lambda kv: (-kv[1], kv[0]))]
    assert b.predict(5, 7) == [6, 9] + [t for t in uni if t not in (6, 9)][:3]  # the pair, then its sides agree
    assert b.predict(5, 3)[:3] == [6, 9, 7]  # pair never seen: left (6, 9), then right (7)
    assert b.predict(None, 7)[:2] == [6, 9]  # left unknown: the right side
    assert b.predict(8, None)[0] == 9
    assert b.predict(None, None) == uni[:5]
    assert b.predict(42, 43) == uni[:5]  # neighbours never seen at all


def test_baseline_reads_the_masked_windows_as_the_model_does():
    orig = np.array([[2, 5, 6, 7, 3, 8]])  # [CLS] 5 6 7 [SEP] 8
    data = MaskedSet(original=[orig], masked=[np.array([[2, 5, 4, 4, 3, 8]])], positions=[np.array([2, 3])],
                     specials=specials_stub(), seed=0)
    seen = []

    class Spy(CountBaseline):
        def predict(self, prev, nxt, k=5):
            seen.append((prev, nxt))
            return [6]

    spy = Spy(STREAM, n_special=5)
    r = spy.evaluate(data)
    assert seen == [(5, None), (None, 3)]  # a masked neighbour is unknown
    assert (r.tokens, r.top1) == (2, 0.5)
    seen.clear()
    spy.evaluate(data, see_masked_neighbours=True)
    assert seen == [(5, 7), (6, 3)]
    seen.clear()
    spy.evaluate(data, see_masked_neighbours=True, right=False)
    assert seen == [(5, None), (6, None)]


def specials_stub():
    from attncli.train.mlm_data import Specials

    return Specials(cls=2, sep=3, mask=4, n_special=5)
