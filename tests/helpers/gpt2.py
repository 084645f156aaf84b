"""A tiny random GPT-2 saved by transformers (a Hugging Face folder with vocab.json and merges.txt)."""

from __future__ import annotations

import json
from pathlib import Path

from helpers.references import need


def byte_alphabet() -> list[str]:
    from attncli.tokenizer import byte_level_alphabet

    return [ch for _, ch in sorted(byte_level_alphabet().items())]


def write_vocab(path: Path) -> int:
    """A byte-level BPE vocabulary: the 256 byte symbols, a few merges, <|endoftext|>."""
    vocab = {ch: i for i, ch in enumerate(byte_alphabet())}
    merges = ["t h", "th e", "Ġ th", "Ġth e", "a t", "Ġ s", "Ġs at", "Ġ c", "Ġc at", "o n", "Ġ d", "o g"]
    for m in merges:
        vocab.setdefault(m.replace(" ", ""), len(vocab))
    vocab["<|endoftext|>"] = len(vocab)
    (path / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return len(vocab)


def make_gpt2(path: Path, *, prefix: bool = True, tied: bool = True, seed: int = 0):
    """Save a random 2-layer GPT-2 with transformers; every weight, bias and norm is random."""
    torch = need("torch")
    transformers = need("transformers")
    n_vocab = write_vocab(path)
    config = transformers.GPT2Config(vocab_size=n_vocab + 3, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                                     initializer_range=0.2, tie_word_embeddings=tied, activation_function="gelu_new")
    torch.manual_seed(seed)
    cls = transformers.GPT2LMHeadModel if prefix else transformers.GPT2Model
    model = cls(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "ln" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(0.2 * torch.randn_like(p))
    model.save_pretrained(path, safe_serialization=True)
    return model
