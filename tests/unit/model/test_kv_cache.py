"""One forward pass, with an optional KV cache: a pass given the cache runs only the new tokens, and
gives them what a pass over the whole text gives its last positions (the same names, the same masks
bit for bit, the same numbers within float32 rounding); the masks and rotary angles of the new
positions come from the one set-up the whole text's pass uses (attends)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attncli.config import ModelConfig
from attncli.errors import UsageError
from attncli.model import KVCache, attends, forward
from attncli.trace import Recorder
from helpers.known_models import (
    CONFIGS,  # a GPT-2, a GQA Llama, a Gemma-like with sliding layers, a partial rotary
    random_params,
)
from helpers.tolerances import array_tolerance, assert_within, final_stream, logits_tolerance, trace_weights_tolerance


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_a_cached_pass_gives_the_new_positions_what_the_whole_text_gives_them(name):
    config = ModelConfig(vocab_size=30, **CONFIGS[name])
    params = random_params(config, seed=11)
    ids = [3, 14, 15, 9, 2, 6, 5, 3, 5, 8, 9, 7]
    cache = KVCache(config.n_layer)
    unembed = params["embed.W_E"].T if config.tied_embeddings else params["unembed.W_U"]  # [d, V]
    for start, stop in ((0, 5), (5, 6), (6, 7), (7, 10), (10, 12)):  # a prompt, single tokens, a few at once
        assert cache.length == start
        step = forward(params, config, ids[start:stop], cache=cache)
        whole = forward(params, config, ids[:stop])
        assert set(step) == set(whole)  # the same names
        for name_ in step:
            got, want = step[name_], whole[name_]
            if name_.endswith("mask"):  # the new rows of the masks, exactly
                np.testing.assert_array_equal(got, want[start:stop], err_msg=name_)
                continue
            if name_.startswith("blocks.") and name_.split(".")[-2] == "attn" and want.ndim == 3:
                want = want[:, start:stop]  # [H, new positions, ...]
            else:
                want = want[start:stop]
            if name_ == "logits":
                bound = logits_tolerance(config, final_stream(whole, config)[start:stop], unembed)
            elif name_.endswith("attn.weights"):
                bound = trace_weights_tolerance(config, whole, int(name_.split(".")[1]))[:, start:stop]
            else:
                bound = array_tolerance(config, stop, want)
            assert_within(got, want, bound, name_)  # rounding alone: the bound float32 allows (tolerances.py)
        last = logits_tolerance(config, final_stream(whole, config)[-1:], unembed)[0]
        assert_within(step.row("logits", -1), whole["logits"][-1], last, "logits")
    assert cache.length == len(ids)


def test_a_cached_pass_beyond_the_learned_positions_is_refused():
    config = ModelConfig(vocab_size=30, **CONFIGS["gpt2"])
    params = random_params(config)
    cache = KVCache(config.n_layer)
    forward(params, config, list(range(1, 21)) * 2, cache=cache)  # the whole context of 40
    with pytest.raises(UsageError, match="position 40 is past this model's context of 40"):
        forward(params, config, [1], cache=cache)


@settings(max_examples=60, deadline=None)
@given(start=st.integers(0, 12), n=st.integers(1, 6), window=st.integers(1, 5), causal=st.booleans(),
       rotary=st.booleans(), local=st.booleans())
def test_the_new_positions_masks_and_angles_are_the_whole_text_s_rows(start, n, window, causal, rotary, local):
    """attends for n positions after `start` cached ones gives rows start.. of what it gives the whole
    text: every layer's mask (the sliding window's too) and rotary angles, bit for bit."""
    sliding = dict(sliding_window=window, sliding_layers=(0,)) if causal else {}
    config = ModelConfig(vocab_size=5, n_layer=2, n_head=2, d_model=8, n_ctx=32, causal=causal,
                         positions="rotary" if rotary else "learned",
                         **sliding, **(dict(rope_local_theta=50.0) if rotary and local and causal else {}))
    part = attends(config, n, np.dtype(np.float32), Recorder(), start)
    whole = attends(config, start + n, np.dtype(np.float32), Recorder())
    for p, w in zip(part, whole, strict=True):
        if w.mask is None:
            assert p.mask is None
        else:
            np.testing.assert_array_equal(p.mask, w.mask[start:])
        if w.rope is None:
            assert p.rope is None
        else:
            np.testing.assert_array_equal(p.rope[0], w.rope[0][start:])
            np.testing.assert_array_equal(p.rope[1], w.rope[1][start:])
