"""Train a WordPiece tokenizer (BERT's scheme) with the `tokenizers` trainer, for a masked-LM.

BERT's pieces: [PAD] [UNK] [CLS] [SEP] [MASK] as ids 0-4, a post-processor that puts every
text between [CLS] and [SEP] (so a loader's special-token template finds them), whole words
where the corpus has them and ##pieces for the rest ("spinach" -> "spin", "##ach").
"""

from __future__ import annotations

import string
from collections.abc import Iterable

from .bpe import CURLY

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIALS = (PAD, UNK, CLS, SEP, MASK)  # ids 0..4, in this order
# TinyStories holds curly quotes as UTF-8 read as cp1252 ("didnâ€™t", 2,700 times in the train
# slice, also in the validation text): read back as the quote they stand for, then straightened.
MOJIBAKE = {"â€™": "'", "â€˜": "'", "â€œ": '"', "â€\x9d": '"', "â€“": "-", "â€”": "-", "â€": '"'}


def train_wordpiece(lines: Iterable[str], vocab_size: int, lowercase: bool) -> str:
    """Return tokenizer.json text for a WordPiece vocabulary of `vocab_size` entries learned from `lines`."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token=UNK, max_input_chars_per_word=100))
    fixes = list(MOJIBAKE.items()) + list(CURLY.items())  # the mojibake first: it contains a curly-quote byte
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFC()] + [normalizers.Replace(bad, good) for bad, good in fixes]
        + [normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=lowercase)])
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()  # words and single punctuation marks
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIALS),
        # every printable ASCII character is a token, seen in the corpus or not: "[", "#" or "@" is never [UNK]
        initial_alphabet=sorted(set(string.printable.lower() if lowercase else string.printable) - set(string.whitespace)),
        show_progress=False,
    )
    tok.train_from_iterator(lines, trainer=trainer)
    cls, sep = tok.token_to_id(CLS), tok.token_to_id(SEP)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}", pair=f"{CLS} $A {SEP} $B:1 {SEP}:1", special_tokens=[(CLS, cls), (SEP, sep)])
    return tok.to_str()
