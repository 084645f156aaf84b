"""The weights format's versions come from the config's fields: each field after version 1 says the
version that added it, and FORMAT_VERSION, the version a model is written as (the lowest that states
it) and the fields a file of each version may hold all follow from that, not from field order."""

from __future__ import annotations

import json
from dataclasses import Field, fields, make_dataclass
from typing import Any

import numpy as np
import pytest

from attncli.checkpoints import load
from attncli.config import FIELD_VERSIONS, FORMAT_VERSION, READABLE_VERSIONS, ModelConfig, field_version, since
from attncli.errors import ModelError
from helpers import ROOT
from helpers.references import naive_forward, read_model

# What a version-1 config.json holds, as attncli 1 wrote it: fixed for good.
VERSION_1 = ("vocab_size", "n_layer", "n_head", "d_model", "n_ctx", "d_mlp", "n_kv_head", "d_head", "norm", "norm_eps",
             "positions", "rope_theta", "mlp", "activation", "attn_bias", "mlp_bias", "tied_embeddings", "causal",
             "architecture")
SMALL = dict(vocab_size=7, n_layer=2, n_head=2, d_model=8, n_ctx=8)


def undeclared(cls: type) -> list[str]:
    """The fields of a config class that are not version 1's and do not say which version added them."""
    return [f.name for f in fields(cls) if f.name not in VERSION_1 and "since" not in f.metadata]


def test_every_field_after_version_1_says_its_version():
    assert undeclared(ModelConfig) == []
    assert all(FIELD_VERSIONS[name] == 1 for name in VERSION_1)
    assert all(2 <= FIELD_VERSIONS[f.name] <= FORMAT_VERSION for f in fields(ModelConfig) if f.name not in VERSION_1)


def test_a_field_appended_without_its_version_is_caught():
    """The check above fails on a config grown by a field that names no version (field order says nothing)."""
    grown = make_dataclass("Grown", [("new_variant", bool, False)], bases=(ModelConfig,), frozen=True)
    assert undeclared(grown) == ["new_variant"]
    declared = make_dataclass("Declared", [("new_variant", bool, since(FORMAT_VERSION + 1, False))],
                              bases=(ModelConfig,), frozen=True)
    assert undeclared(declared) == []
    assert field_version(next(f for f in fields(declared) if f.name == "new_variant")) == FORMAT_VERSION + 1


def test_the_format_version_is_the_newest_field_version():
    assert FORMAT_VERSION == max(field_version(f) for f in fields(ModelConfig)) >= 3
    assert READABLE_VERSIONS == tuple(range(1, FORMAT_VERSION + 1))


def non_default(f: Field[Any]) -> Any:
    """A valid value of field `f` other than its default, with what it needs of the rest."""
    values: dict[str, dict[str, Any]] = {
        "attn_out_bias": dict(attn_out_bias=False), "qk_norm": dict(qk_norm=True, norm="rmsnorm"),
        "norm_plus_one": dict(norm_plus_one=True, norm="rmsnorm"), "scale_embed": dict(scale_embed=True),
        "query_pre_attn_scalar": dict(query_pre_attn_scalar=3.0), "rope_dims": dict(rope_dims=2, positions="rotary"),
        "rope_freq_factors": dict(rope_freq_factors=(1.0, 2.0), positions="rotary"),
        "sliding_window": dict(sliding_window=2, sliding_layers=(0,)),
        "sliding_layers": dict(sliding_window=2, sliding_layers=(1,)),
        "rope_local_theta": dict(rope_local_theta=100.0, positions="rotary", sliding_window=2, sliding_layers=(0,)),
        "embed_norm": dict(embed_norm=True), "type_vocab_size": dict(type_vocab_size=2),
        "position_offset": dict(position_offset=2), "head": dict(head="none"), "block_norm": dict(block_norm="post"),
    }
    return values.get(f.name, {f.name: not f.default} if isinstance(f.default, bool) else None)


LATER = [f for f in fields(ModelConfig) if f.name not in VERSION_1]


@pytest.mark.parametrize("f", LATER, ids=[f.name for f in LATER])
def test_a_config_is_written_as_the_version_of_its_newest_field(f):
    over = non_default(f)
    assert over is not None, f"say how {f.name} takes a value other than its default"
    config = ModelConfig(**SMALL, **over)
    version = config.format_version
    assert version == max(FIELD_VERSIONS[k] for k in over)
    written = config.to_dict()
    assert set(written) == {k for k, v in FIELD_VERSIONS.items() if v <= version}  # the fields of that version
    assert ModelConfig.from_dict(written, version=version) == config


@pytest.mark.parametrize("f", LATER, ids=[f.name for f in LATER])
def test_a_file_older_than_a_field_it_holds_is_refused(f):
    """An attncli of that older version would ignore the field and compute another model."""
    written = ModelConfig(**SMALL).to_dict() | {f.name: f.default}
    older = field_version(f) - 1
    refused = f"{f.name} needs format_version {field_version(f)}, but the file says {older}"
    with pytest.raises(ModelError, match=refused):
        ModelConfig.from_dict(written, version=older)
    assert ModelConfig.from_dict(written, version=field_version(f)) == ModelConfig(**SMALL)


def test_a_plain_config_is_version_1():
    assert ModelConfig(**SMALL).format_version == 1 and set(ModelConfig(**SMALL).to_dict()) == set(VERSION_1)


# ---- format 4's renames: post_norm (BERT's post-norm blocks) and post_norms (Gemma 3's sandwich norms) ----

@pytest.mark.parametrize("old, value, new", [("post_norm", True, ("block_norm", "post")),
                                             ("post_norm", False, ("block_norm", "pre")),
                                             ("post_norms", True, ("sandwich_norms", True))])
def test_the_old_names_read_as_what_they_meant(old, value, new):
    written = ModelConfig(**SMALL).to_dict() | {old: value}
    got = ModelConfig.from_dict(written, version=3)
    assert getattr(got, new[0]) == new[1]
    assert old not in got.to_dict() and (new[1] in (False, "pre") or got.to_dict()[new[0]] == new[1])


def test_an_old_name_is_refused_where_it_was_not_yet_a_field_or_beside_its_new_name():
    base = ModelConfig(**SMALL).to_dict()
    with pytest.raises(ModelError, match="post_norms needs format_version 2, but the file says 1"):
        ModelConfig.from_dict(base | {"post_norms": True}, version=1)
    with pytest.raises(ModelError, match="post_norm needs format_version 3, but the file says 2"):
        ModelConfig.from_dict(base | {"post_norm": True}, version=2)
    with pytest.raises(ModelError, match="post_norm is the older name of block_norm; give block_norm only"):
        ModelConfig.from_dict(base | {"post_norm": True, "block_norm": "post"})
    with pytest.raises(ModelError, match="post_norms must be true or false"):
        ModelConfig.from_dict(base | {"post_norms": "yes"}, version=2)


def test_the_bundled_models_load_as_they_are_saved():
    """The bundled masked-LM model is saved as format 3, with post_norm (and post_norms false): it loads as
    the post-norm encoder it is, and its logits are still the naive reference's reading of that file."""
    folder = ROOT / "sample_weights" / "mlm"
    doc = json.loads((folder / "config.json").read_text())
    assert doc["format_version"] == 3 and doc["model"]["post_norm"] is True and "block_norm" not in doc["model"]
    model = load(folder)
    assert model.config.block_norm == "post" and not model.config.sandwich_norms
    hp, params = read_model(folder)
    ids = [t.id for t in model.encode("the cat [MASK] on the mat")[0]]
    ref = naive_forward(hp, params, ids)
    np.testing.assert_allclose(model.forward(ids)["logits"], ref.logits, rtol=1e-4, atol=1e-4)
    causal = load(folder.parent)
    assert json.loads((folder.parent / "config.json").read_text())["format_version"] == 1
    assert causal.config.block_norm == "pre" and causal.config.format_version == 1
