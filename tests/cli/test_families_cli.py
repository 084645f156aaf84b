"""Every command and every explain mode on each family's tiny model, from a Hugging Face folder
(bfloat16) and from a GGUF file (Q8_0): exit 0, nothing on stderr, and --json valid against the
schema with the numbers of the trace test_families.py holds to transformers.

The models come from families.py (built once per session with transformers)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch", reason="building the family models needs torch (pip install torch==2.13.0)")
pytest.importorskip("transformers", reason="building the family models needs transformers")
pytest.importorskip("gguf", reason="writing test GGUF files needs the gguf package")

from helpers import families
from helpers.families import FAMILIES
from helpers.run_cli import attn, ok
from helpers.schema import validate

TEXT = "I do not like spinach, we like it there"
FORMATS = ("hf-bf16", "gguf-q8_0")
MODES = {
    "table": [],
    "steps": ["--steps", "--token", "like", "--layer", "-1"],
    "summary": ["--summary", "--token", "like"],
    "attribution": ["--attribution"],
    "rollout": ["--rollout"],
    "heads": ["--head", "all", "--layer", "0"],
    "mean": ["--head", "mean"],
}
CASES = [(f, fmt) for f in FAMILIES for fmt in FORMATS]


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    return lambda name: families.built(name, tmp_path_factory)


@pytest.mark.parametrize("name,fmt", CASES, ids=[f"{f}-{fmt}" for f, fmt in CASES])
def test_every_command_and_mode_runs(family, name: str, fmt: str, tmp_path) -> None:
    b = family(name)
    m = ["-m", str(b.paths[fmt])]
    bos = b.family.tokenizer.add_bos
    for mode, flags in MODES.items():
        text = ok(attn("runner", ["explain", TEXT, *m, *flags])).stdout
        assert text.strip(), mode
        doc = ok(attn("runner", ["explain", TEXT, *m, *flags, "--json"])).json()
        validate(doc)
        assert doc["tokens"][0]["special"] is bos, mode  # BOS first exactly where the family's tokenizer adds it
    doc = ok(attn("runner", ["predict", TEXT, *m, "--json", "-g", "2"])).json()
    validate(doc)
    doc = ok(attn("runner", ["compare", TEXT, "we like it here", *m, "--json"])).json()
    validate(doc)
    assert ok(attn("runner", ["info", *m])).stdout.strip()
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(f"{TEXT}\nwe like it here, and we do not like it there\n", encoding="utf-8")
    census = ["heads", str(corpus), *m, "--workers", "1", "--induction-samples", "2", "--induction-length", "8"]
    doc = ok(attn("runner", [*census, "--json"])).json()
    validate(doc)
    assert doc["corpus"]["texts"] == 2 and doc["options"]["induction_length_used"] == 8
    assert all(h["scores"]["induction"] is not None for h in doc["heads"])
    assert ok(attn("runner", census)).stdout.strip()


@pytest.mark.parametrize("name", list(FAMILIES))
def test_the_json_is_the_trace(family, name: str) -> None:
    """explain --json's weights of every layer are the forward pass's on the same tokens, nulls where masked."""
    from attncli.checkpoints import load

    b = family(name)
    model = load(b.paths["gguf-q8_0"])
    doc = ok(attn("runner", ["explain", TEXT, "-m", str(b.paths["gguf-q8_0"]), "--json"])).json()
    ids = [t["id"] for t in doc["tokens"]]
    trace = model.forward(ids)
    for layer in doc["attention"]:
        L = layer["layer"]
        hidden = trace.layer_mask(L)
        for head in layer["heads"]:
            got = np.array([[np.nan if c is None else c for c in row] for row in head["weights"]])
            np.testing.assert_array_equal(np.isnan(got), hidden)
            np.testing.assert_allclose(got[~hidden], trace[f"blocks.{L}.attn.weights"][head["head"]][~hidden], rtol=1e-6)
