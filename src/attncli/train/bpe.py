"""Train a byte-level BPE tokenizer (GPT-2's scheme) with the `tokenizers` trainer."""

from __future__ import annotations

from collections.abc import Iterable

EOT = "<|endoftext|>"  # separates documents in training, as in GPT-2
CURLY = {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'}


def train_bpe(lines: Iterable[str], vocab_size: int, lowercase: bool) -> str:
    """Return tokenizer.json text for a byte-level BPE of `vocab_size` entries learned from `lines`."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    # Curly quotes become straight ones, so the model reads the text the word counter counts.
    norms: list[normalizers.Normalizer] = [normalizers.NFC()] + [normalizers.Replace(c, s) for c, s in CURLY.items()]
    if lowercase:
        norms.append(normalizers.Lowercase())
    tok.normalizer = normalizers.Sequence(norms)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(lines, trainer=trainer)
    return tok.to_str()
