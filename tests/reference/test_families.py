"""Llama 3, Mistral, Qwen2, Qwen3, Gemma 3 and Phi-3, from Hugging Face folders (float32, bfloat16,
sharded) and from GGUF files (F32, F16, Q8_0): attncli's logits and every attention matrix against
transformers' eager float32 forward on the same stored weights, its tokenizer against transformers',
and the features it cannot compute refused in one line.

The models, files and references come from families.py; test_families_selfcheck.py proves them.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the reference comparison needs torch (pip install torch==2.13.0)")
transformers = pytest.importorskip("transformers", reason="the reference comparison needs transformers")
pytest.importorskip("gguf", reason="writing test GGUF files needs the gguf package")

from attncli.checkpoints import load
from attncli.errors import ModelError
from helpers import families
from helpers.families import FAMILIES, FORMATS, SENTENCES, UNSUPPORTED, assert_close

LOGITS_ATOL = 1e-4  # float32 numpy against float32 torch, logits of size ~10
WEIGHTS_ATOL = 1e-5  # attention weights are in [0, 1]

CASES = [(f, fmt) for f in FAMILIES for fmt in FORMATS]


@pytest.fixture(scope="session")
def family(tmp_path_factory):
    """family(name) -> families.Built, each family built once per session."""
    return lambda name: families.built(name, tmp_path_factory)


@pytest.mark.parametrize("name,fmt", CASES, ids=[f"{f}-{fmt}" for f, fmt in CASES])
def test_logits_and_attention_match_transformers(family, name: str, fmt: str) -> None:
    b = family(name)
    ours = load(b.paths[fmt])
    ref = b.references[fmt]
    trace = ours.forward(b.ids)
    n_layer = len(ref.attentions)
    assert ours.config.n_layer == n_layer, f"{n_layer} layers expected, the loader read {ours.config.n_layer}"
    for L in range(n_layer):
        assert_close(f"{name} {fmt} blocks.{L}.attn.weights", trace[f"blocks.{L}.attn.weights"], ref.attentions[L], WEIGHTS_ATOL)
    assert_close(f"{name} {fmt} logits", trace["logits"], ref.logits, LOGITS_ATOL)


@pytest.mark.parametrize("name,fmt", CASES, ids=[f"{f}-{fmt}" for f, fmt in CASES])
def test_tokenizer_matches_transformers(family, name: str, fmt: str) -> None:
    b = family(name)
    ours = load(b.paths[fmt]).tokenizer
    # the folder's tokenizer for every format: the self-check shows transformers reads the GGUF's the same
    ref = transformers.AutoTokenizer.from_pretrained(b.tokenizer_folder)
    for text in SENTENCES + [f"the end {b.family.tokenizer.eos} and after"]:
        expected = ref(text, add_special_tokens=False)["input_ids"]
        got = [t.id for t in ours.encode(text)]
        assert got == expected, f"{name} {fmt}: {text!r} gives {got}, transformers {expected}"


BOS_CASES = [(f, fmt) for f, fam in FAMILIES.items() if fam.tokenizer.add_bos for fmt in FORMATS]


@pytest.mark.parametrize("name,fmt", BOS_CASES, ids=[f"{f}-{fmt}" for f, fmt in BOS_CASES])
def test_bos_token_id_is_in_the_card(family, name: str, fmt: str) -> None:
    """Families whose tokenizer prepends BOS (Gemma 3 needs it): the card says which id it is,
    as the GGUF loader's card already does."""
    b = family(name)
    card = load(b.paths[fmt]).card
    assert card.get("bos_token_id") == b.ids[0], f"{name} {fmt}: card bos_token_id is {card.get('bos_token_id')!r}"


REFUSED = [(f, u, kind) for f, us in UNSUPPORTED.items() for u in us for kind in (("hf", "gguf") if u.gguf else ("hf",))]


@pytest.mark.parametrize("name,u,kind", REFUSED, ids=[f"{f}-{u.case}-{kind}" for f, u, kind in REFUSED])
def test_unsupported_feature_is_one_line_model_error(family, tmp_path_factory, name: str, u: families.Unsupported,
                                                     kind: str) -> None:
    path = families.unsupported_file(family(name), u, kind, tmp_path_factory.getbasetemp() / "unsupported")
    with pytest.raises(ModelError) as e:
        load(path)
    msg = str(e.value)
    assert "\n" not in msg, msg
    said = msg.replace(str(path), "").lower()  # the feature named in the message, not in the file's path
    assert any(w in said for w in u.words), f"the message does not name {' or '.join(u.words)}: {msg}"
