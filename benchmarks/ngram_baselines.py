"""Word n-gram baselines on the same word units as `attn eval`'s per-word perplexity.

    python benchmarks/ngram_baselines.py [TRAIN.txt] [VALID.txt]

Words are attncli.train.evaluate.words (WORD_PATTERN on lowercased text, curly quotes straight).
Each file is one stream of words. Unigram: add-one. Bigram and trigram: interpolated
Kneser-Ney (Chen and Goodman 1999) with one discount per order, D = n1 / (n1 + 2 n2),
continuation counts for the lower orders, and a uniform floor over the training words
plus <unk> (held-out words never seen in training are <unk>).
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import Path

from attncli.train.evaluate import words

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
UNK = "<unk>"


def discount(counts: Counter) -> float:
    n1 = sum(1 for c in counts.values() if c == 1)
    n2 = sum(1 for c in counts.values() if c == 2)
    return n1 / (n1 + 2 * n2)


class KneserNey:
    def __init__(self, train: list[str], order: int) -> None:
        self.order = order
        self.vocab = set(train) | {UNK}
        self.tri = Counter(zip(train, train[1:], train[2:], strict=False)) if order == 3 else Counter()
        self.bi = Counter(zip(train, train[1:], strict=False))
        # The order below the top uses continuation counts: in how many contexts a word or pair appears.
        self.bi_cont = Counter((v, w) for (_, v, w) in self.tri) if order == 3 else None
        self.uni_cont = Counter(w for (_, w) in self.bi)
        self.n_bi_types = len(self.bi)

        def ctx_stats(grams):
            total, types = Counter(), Counter()
            for g, c in grams.items():
                total[g[:-1]] += c
                types[g[:-1]] += 1
            return total, types

        if order == 3:
            self.D3 = discount(self.tri)
            self.tri_total, self.tri_types = ctx_stats(self.tri)
            self.D2 = discount(self.bi_cont)
            self.bi_total, self.bi_types = ctx_stats(self.bi_cont)
        else:
            self.D2 = discount(self.bi)
            self.bi_total, self.bi_types = ctx_stats(self.bi)
        self.bi_grams = self.bi_cont if order == 3 else self.bi
        self.D1 = discount(self.uni_cont)

    def p_uni(self, w: str) -> float:
        c = self.uni_cont.get(w, 0)
        floor = 1.0 / len(self.vocab)
        return max(c - self.D1, 0) / self.n_bi_types + self.D1 * len(self.uni_cont) / self.n_bi_types * floor

    def p_bi(self, v: str, w: str) -> float:
        total = self.bi_total.get((v,), 0)
        if total == 0:
            return self.p_uni(w)
        c = self.bi_grams.get((v, w), 0)
        return max(c - self.D2, 0) / total + self.D2 * self.bi_types[(v,)] / total * self.p_uni(w)

    def p(self, history: tuple[str, ...], w: str) -> float:
        if self.order == 2:
            return self.p_bi(history[-1], w)
        total = self.tri_total.get(history, 0)
        if total == 0:
            return self.p_bi(history[-1], w)
        c = self.tri.get(history + (w,), 0)
        return max(c - self.D3, 0) / total + self.D3 * self.tri_types[history] / total * self.p_bi(history[-1], w)


def main() -> None:
    train_path = Path(sys.argv[1]) if len(sys.argv) > 1 else CORPORA / "tinystories-train.txt"
    valid_path = Path(sys.argv[2]) if len(sys.argv) > 2 else CORPORA / "tinystories-valid.txt"
    train = words(train_path.read_text(encoding="utf-8"))
    known = set(train)
    valid = [w if w in known else UNK for w in words(valid_path.read_text(encoding="utf-8"))]
    n_unk = sum(w == UNK for w in valid)
    print(f"train {train_path.name}: {len(train):,} words, {len(known):,} types; "
          f"valid {valid_path.name}: {len(valid):,} words, {n_unk:,} ({100 * n_unk / len(valid):.2f}%) unseen -> <unk>")

    counts = Counter(train)
    V = len(known) + 1
    nll = -sum(math.log((counts.get(w, 0) + 1) / (len(train) + V)) for w in valid)
    print(f"unigram (add-one):    {math.exp(nll / len(valid)):8.1f}")
    for order, name in ((2, "bigram (Kneser-Ney): "), (3, "trigram (Kneser-Ney):")):
        lm = KneserNey(train, order)
        # the first word(s) of the valid stream are scored with the shorter history available
        nll = -math.log(lm.p_uni(valid[0]))
        nll -= sum(math.log(lm.p_bi(valid[i - 1], valid[i])) for i in range(1, min(order - 1, len(valid))))
        nll -= sum(math.log(lm.p(tuple(valid[i - order + 1:i]), valid[i])) for i in range(order - 1, len(valid)))
        print(f"{name} {math.exp(nll / len(valid)):8.1f}")


if __name__ == "__main__":
    main()
