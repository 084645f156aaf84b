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


CONTINUES = 0xF0000  # plane 15, private use: where a character that continues a word is moved


def _marked(word: str) -> str:
    """A word with every character after its first moved to the private-use plane: "cat" -> "c" + 2 marks."""
    return word[0] + "".join(chr(CONTINUES + ord(c)) if ord(c) < 0x10000 else c for c in word[1:])


def _unmarked(piece: str) -> str:
    """A learned piece as WordPiece spells it: "c" + marks -> "cat"; marks alone -> "##at"."""
    plain = "".join(chr(ord(c) - CONTINUES) if ord(c) >= CONTINUES else c for c in piece)
    return plain if ord(piece[0]) < CONTINUES else "##" + plain


def train_wordpiece(lines: Iterable[str], vocab_size: int, lowercase: bool) -> str:
    """Return tokenizer.json text for a WordPiece vocabulary of about `vocab_size` entries learned from `lines`.

    The pieces are learned by the `tokenizers` BPE trainer on the words with every character
    after the first marked (moved to the private-use plane): a marked piece is a "##" piece.
    tokenizers' own WordPieceTrainer numbers the "##" characters in hash-map order, so two runs
    give two vocabularies; the BPE trainer's alphabet is sorted, so the same text always gives
    the same one, and the same --seed the same weights.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece({s: i for i, s in enumerate(SPECIALS)}, unk_token=UNK,
                                     max_input_chars_per_word=100))
    fixes = list(MOJIBAKE.items()) + list(CURLY.items())  # the mojibake first: it contains a curly-quote byte
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFC()] + [normalizers.Replace(bad, good) for bad, good in fixes]
        + [normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False,
                                      lowercase=lowercase)])
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()  # words and single punctuation marks

    def marked_lines() -> Iterable[str]:
        for line in lines:
            words = tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(line))
            yield " ".join(_marked(w) for w, _ in words)

    # every printable ASCII character is a token, first or continuing, seen in the corpus or not:
    # "[", "#" or "@" is never [UNK]
    ascii_ = sorted(set(string.printable.lower() if lowercase else string.printable) - set(string.whitespace))
    pieces = Tokenizer(models.BPE())
    pieces.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    pieces.train_from_iterator(marked_lines(), trainer=trainers.BpeTrainer(
        vocab_size=max(vocab_size - len(SPECIALS), 1), min_frequency=2, show_progress=False,
        initial_alphabet=ascii_ + [chr(CONTINUES + ord(c)) for c in ascii_]))
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for piece, _ in sorted(pieces.get_vocab().items(), key=lambda kv: kv[1]):
        vocab.setdefault(_unmarked(piece), len(vocab))
    tok.model = models.WordPiece(vocab, unk_token=UNK, max_input_chars_per_word=100)
    tok.add_special_tokens(list(SPECIALS))
    tok.decoder = decoders.WordPiece()
    cls, sep = tok.token_to_id(CLS), tok.token_to_id(SEP)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}", pair=f"{CLS} $A {SEP} $B:1 {SEP}:1", special_tokens=[(CLS, cls), (SEP, sep)])
    return tok.to_str()
