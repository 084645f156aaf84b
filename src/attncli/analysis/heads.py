"""A census of attention heads: what every head does, measured over a corpus (`attn heads`).

For every layer and head, over the query positions i >= 1 of every text (pooled: each position of
each text counts once; position 0 sees only itself in a causal model, so every score would be 1 there):

- previous: the mean of A[i, i-1];
- first: the mean of A[i, 0] (the attention sink; the model's BOS or [CLS] where it adds one);
- self: the mean of A[i, i];
- entropy: the mean of the row's entropy over log(the keys row i may see): i + 1 in a causal layer,
  at most its window in a sliding-window one, every position in an encoder's (1 = spread evenly);

and on `samples` sequences of `length` random ordinary tokens (a word of at least two ASCII letters,
never a special or byte token) repeated twice, after the model's BOS if it adds one, for the queries
j of the second copy:

- induction: the mean of A[j, j-L+1] (the token after the earlier copy of the query's token);
- duplicate: the mean of A[j, j-L] (the earlier copy of the query's token).

Streaming: each text's attention is reduced to sums as its forward pass makes it (a hook on
blocks.L.attn.weights; no layer's matrices are kept), and the sums of many texts add up to a
`Partial` whose size depends on the model only. Partials of any split of the texts merge into the
same numbers: a confidence interval's bootstrap gives each text a Poisson(1) weight in each of
BOOTSTRAP replicates, drawn from a generator seeded by (seed, the text's index in the corpus), so a
text's weights do not depend on which process counted it (a streaming, or Poisson, bootstrap).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UsageError

if TYPE_CHECKING:
    from ..model import Model

CORPUS_SCORES = ("previous", "first", "self", "entropy")
REPEAT_SCORES = ("induction", "duplicate")
SCORES = CORPUS_SCORES + REPEAT_SCORES
EXAMPLE_SCORES = CORPUS_SCORES[:3]  # each head keeps the text where it scores highest on these

# role -> (the score it reads, the threshold the lower end of the score's 95% interval must reach)
ROLES: dict[str, tuple[str, float]] = {
    "previous": ("previous", 0.4),
    "sink": ("first", 0.5),
    "self": ("self", 0.4),
    "induction": ("induction", 0.3),
    "duplicate": ("duplicate", 0.3),
    "broad": ("entropy", 0.8),
}
BOOTSTRAP = 200  # replicates of every interval
TINY = np.float32(1e-30)  # added to a weight before its log: log(0) is -inf, and 0 * -inf is not 0
LEVEL = 0.95
WORD = re.compile(r"[A-Za-z]{2,}")
BYTE_PIECE = re.compile(r"<0x[0-9A-Fa-f]{2}>")
TEXT_STREAM, REPEAT_STREAM, RESAMPLE_STREAM = 0, 1, 2  # the seeds' second word: independent draws per purpose


@dataclass(frozen=True)
class Options:
    induction_length: int = 40
    induction_samples: int = 20
    seed: int = 0
    max_tokens: int | None = None  # None: the model's context
    bootstrap: int = BOOTSTRAP


@dataclass
class Partial:
    """The running sums of some texts (and some repeated sequences): all a census keeps, its size set
    by the model and the options, never by the corpus. `merge` adds another's."""

    n_layer: int
    n_head: int
    bootstrap: int = BOOTSTRAP
    texts: int = 0  # texts counted
    skipped: int = 0  # texts that gave no tokens (not counted)
    cut: int = 0  # of them, cut to --max-tokens
    tokens: int = 0  # tokens counted, specials included
    positions: int = 0  # query positions counted (i >= 1)
    sums: np.ndarray = field(init=False)  # [4, L, H]: CORPUS_SCORES
    boot_sums: np.ndarray = field(init=False)  # [B, 4, L, H]
    boot_n: np.ndarray = field(init=False)  # [B]: weighted positions
    best_value: np.ndarray = field(init=False)  # [3, L, H]: EXAMPLE_SCORES
    best_index: np.ndarray = field(init=False)  # [3, L, H]: that text's index
    best_text: dict[int, str] = field(default_factory=dict)  # only the texts some head points at
    repeats: dict[int, np.ndarray] = field(default_factory=dict)  # sample -> [2, L, H]: its REPEAT_SCORES

    def __post_init__(self) -> None:
        shape = (self.n_layer, self.n_head)
        self.sums = np.zeros((len(CORPUS_SCORES), *shape))
        self.boot_sums = np.zeros((self.bootstrap, len(CORPUS_SCORES), *shape))
        self.boot_n = np.zeros(self.bootstrap)
        self.best_value = np.full((len(EXAMPLE_SCORES), *shape), -np.inf)
        self.best_index = np.full((len(EXAMPLE_SCORES), *shape), -1, dtype=np.int64)

    def add_text(self, index: int, text: str, sums: np.ndarray, n: int, tokens: int, cut: bool, seed: int) -> None:
        """One text's sums [4, L, H] over its n query positions."""
        self.texts += 1
        self.cut += int(cut)
        self.tokens += tokens
        if n == 0:
            return
        self.positions += n
        self.sums += sums
        weights = text_weights(seed, index, self.bootstrap)  # [B]
        self.boot_sums += weights[:, None, None, None] * sums[None]
        self.boot_n += weights * n
        self._offer(sums[:len(EXAMPLE_SCORES)] / n, np.full(self.best_index.shape, index), {index: text})

    def _offer(self, values: np.ndarray, index: np.ndarray, texts: dict[int, str]) -> None:
        """Keep, per score and head, the higher value (on a tie the earlier text), and only the texts kept."""
        better = (values > self.best_value) | ((values == self.best_value) & (index < self.best_index))
        if not better.any():
            return
        self.best_value = np.where(better, values, self.best_value)
        self.best_index = np.where(better, index, self.best_index)
        pool = {**self.best_text, **texts}
        self.best_text = {int(i): pool[int(i)] for i in np.unique(self.best_index) if i >= 0}

    @property
    def nbytes(self) -> int:
        """The bytes its arrays hold (the texts an example keeps aside)."""
        return sum(a.nbytes for a in (self.sums, self.boot_sums, self.boot_n, self.best_value, self.best_index))

    def merge(self, other: Partial) -> Partial:
        self.texts += other.texts
        self.skipped += other.skipped
        self.cut += other.cut
        self.tokens += other.tokens
        self.positions += other.positions
        self.sums += other.sums
        self.boot_sums += other.boot_sums
        self.boot_n += other.boot_n
        self._offer(other.best_value, other.best_index, other.best_text)
        self.repeats.update(other.repeats)
        return self


def text_weights(seed: int, index: int, bootstrap: int) -> np.ndarray:
    """Text `index`'s Poisson(1) weight in each bootstrap replicate: the same in whichever process counts it."""
    return np.random.default_rng([seed, TEXT_STREAM, index]).poisson(1.0, bootstrap).astype(np.float64)  # [B]


# ---- what one pass reduces to ------------------------------------------------------------------

def visible_keys(model: Model, layer: int, T: int) -> np.ndarray:
    """[T] how many keys each query of `layer` may see."""
    c = model.config
    if model.task.sees_both_sides:  # an encoder: every query sees every key
        return np.full(T, T)
    seen = np.arange(1, T + 1)
    return np.minimum(seen, c.sliding_window) if c.sliding_layers and c.is_sliding(layer) else seen


def reduce_weights(w: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """One layer's weights [H, T, T] -> the sums over queries i >= 1 of CORPUS_SCORES, [4, H] float64."""
    rows = w[:, 1:, :]  # [H, T-1, T]
    logs = np.log(rows + TINY)  # [H, T-1, T]; a weight of 0 adds 0 * log(TINY) = 0
    entropy = -np.einsum("hqk,hqk->hq", rows, logs, dtype=np.float64)  # [H, T-1]
    k = visible[1:].astype(np.float64)  # [T-1]
    scale = np.where(k > 1, np.log(np.maximum(k, 2.0)), np.inf)  # a query that sees one key: entropy 0
    return np.stack([
        w.diagonal(-1, 1, 2).sum(axis=-1, dtype=np.float64),  # A[i, i-1], i >= 1
        rows[..., 0].sum(axis=-1, dtype=np.float64),
        w.diagonal(0, 1, 2)[:, 1:].sum(axis=-1, dtype=np.float64),
        np.clip(entropy / scale, 0.0, 1.0).sum(axis=-1),  # float32 rounding may step past 0 or 1
    ])  # [4, H]


def attention_sums(model: Model, ids: list[int]) -> np.ndarray:
    """The model's forward pass on `ids`, each layer's weights reduced as they are made: [4, L, H]."""
    c = model.config
    T = len(ids)
    out = np.zeros((len(CORPUS_SCORES), c.n_layer, c.n_head))

    def hook(layer: int):
        def reduce(w: np.ndarray) -> np.ndarray:
            out[:, layer] = reduce_weights(w, visible_keys(model, layer, T))
            return w
        return reduce

    model.forward(ids, layers=[], hooks={f"blocks.{L}.attn.weights": hook(L) for L in range(c.n_layer)})
    return out


def repeat_scores(model: Model, ids: list[int], length: int) -> np.ndarray:
    """[2, L, H]: REPEAT_SCORES of one sequence `ids` = BOS (if any) + a copy + the same copy."""
    c = model.config
    p = len(ids) - 2 * length  # the tokens before the first copy (BOS)
    j = np.arange(p + length, p + 2 * length)  # the second copy's queries
    out = np.zeros((len(REPEAT_SCORES), c.n_layer, c.n_head))

    def hook(layer: int):
        def reduce(w: np.ndarray) -> np.ndarray:
            out[0, layer] = w[:, j, j - length + 1].mean(axis=-1, dtype=np.float64)
            out[1, layer] = w[:, j, j - length].mean(axis=-1, dtype=np.float64)
            return w
        return reduce

    model.forward(ids, layers=[], hooks={f"blocks.{L}.attn.weights": hook(L) for L in range(c.n_layer)})
    return out


# ---- the inputs --------------------------------------------------------------------------------

def token_limit(model: Model, max_tokens: int | None) -> int:
    """How many tokens of a text are counted, besides the model's specials (BOS, [CLS], [SEP])."""
    n_ctx, special = model.config.n_ctx, model.tokenizer.n_special
    total = n_ctx if max_tokens is None else min(max_tokens, n_ctx)
    if total <= special + 1:
        raise UsageError(f"--max-tokens {max_tokens} leaves no room for two tokens besides this model's "
                         f"{special} special token(s); give at least {special + 2}")
    return total - special


def text_ids(model: Model, text: str, limit: int) -> tuple[list[int], bool] | None:
    """The ids of `text` as `attn explain` makes them (in the model's template), its first `limit` tokens
    if it has more (then True); None for a text that gives no tokens."""
    tok = model.tokenizer
    try:
        ids = tok.ids(text)
    except UsageError:  # no tokens for this tokenizer
        return None
    cut = len(ids) > limit
    return [*tok.before, *ids[:limit], *tok.after], cut


def ordinary_tokens(model: Model) -> np.ndarray:
    """The ids of the vocabulary's ordinary tokens: a word of at least two ASCII letters (after a space
    at most), never a special token or a byte (<0x41>, or one byte of byte-level BPE's alphabet)."""
    tok = model.tokenizer
    specials = tok.special_ids
    out = []
    for i in range(model.config.vocab_size):
        if i in specials or BYTE_PIECE.fullmatch(tok.id_to_token(i)):
            continue
        raw = tok.token_bytes(i)
        if raw is None:
            continue
        text = raw.decode("utf-8", errors="replace")
        word = text.strip()
        if WORD.fullmatch(word) and text in (word, " " + word) and tok.display(i).strip() == word:
            out.append(i)
    return np.asarray(out, dtype=np.int64)


def repeat_length(model: Model, length: int) -> int:
    """--induction-length as it fits twice in the model's context after its BOS."""
    if length < 2:
        raise UsageError(f"--induction-length must be at least 2, got {length}")
    return min(length, (model.config.n_ctx - len(model.tokenizer.before)) // 2)


def repeat_ids(model: Model, candidates: np.ndarray, seed: int, sample: int, length: int) -> list[int]:
    """Sample `sample`'s sequence: BOS (if the model adds one), `length` random ordinary tokens, them again."""
    rng = np.random.default_rng([seed, REPEAT_STREAM, sample])
    copy = rng.choice(candidates, size=length, replace=candidates.size < length).tolist()
    return [*model.tokenizer.before, *copy, *copy]


# ---- counting ----------------------------------------------------------------------------------

class Census:
    """Counts texts (and repeated sequences) into a Partial; one per process."""

    def __init__(self, model: Model, options: Options) -> None:
        self.model, self.options = model, options
        self.limit = token_limit(model, options.max_tokens)
        self._candidates: np.ndarray | None = None

    def new_partial(self) -> Partial:
        return Partial(self.model.config.n_layer, self.model.config.n_head, self.options.bootstrap)

    def count_text(self, part: Partial, index: int, text: str) -> bool:
        """Add text `index` to `part`; False if it gives no tokens (then it is not counted)."""
        made = text_ids(self.model, text, self.limit)
        if made is None:
            part.skipped += 1
            return False
        ids, cut = made
        T = len(ids)
        sums = attention_sums(self.model, ids) if T > 1 else np.zeros_like(part.sums)
        part.add_text(index, text, sums, T - 1, T, cut, self.options.seed)
        return True

    def count_texts(self, items: Iterable[tuple[int, str]], part: Partial | None = None) -> Partial:
        part = part or self.new_partial()
        for index, text in items:
            self.count_text(part, index, text)
        return part

    @property
    def candidates(self) -> np.ndarray:
        if self._candidates is None:
            self._candidates = ordinary_tokens(self.model)
        return self._candidates

    def count_repeats(self, samples: Iterable[int], part: Partial | None = None) -> Partial:
        part = part or self.new_partial()
        if self.model.task.sees_both_sides:  # an encoder: no induction or duplicate to measure
            return part
        length = repeat_length(self.model, self.options.induction_length)
        if self.candidates.size < 2:  # nothing to repeat: finish() says so
            return part
        for s in samples:
            part.repeats[s] = repeat_scores(self.model, repeat_ids(self.model, self.candidates, self.options.seed,
                                                                   s, length), length)
        return part


# ---- the result --------------------------------------------------------------------------------

@dataclass
class HeadsResult:
    n_layer: int
    n_head: int
    scores: dict[str, np.ndarray]  # score -> [L, H]; induction and duplicate absent for an encoder
    ci: dict[str, np.ndarray]  # score -> [L, H, 2]: the 95% interval
    roles: list[list[list[str]]]  # [L][H] -> the roles in ROLES' order
    texts: int
    cut: int
    skipped: int  # texts that gave no tokens
    tokens: int
    positions: int
    options: Options
    induction_length: int  # as used (it must fit twice in the context)
    samples: int  # repeated sequences measured
    encoder: bool
    examples: list[list[dict[str, dict[str, Any]]]]  # [L][H] -> score -> {"index", "text", "value"}
    notes: list[str]


def interval(estimate: np.ndarray, replicates: np.ndarray) -> np.ndarray:
    """[..., 2]: the replicates' central LEVEL (percentiles), widened to hold the estimate if it falls
    outside (which only very few texts or samples can make happen)."""
    tail = 100 * (1 - LEVEL) / 2
    lo, hi = np.nanpercentile(replicates, [tail, 100 - tail], axis=0)
    return np.stack([np.minimum(lo, estimate), np.maximum(hi, estimate)], axis=-1)


def finish(part: Partial, model: Model, options: Options) -> HeadsResult:
    """The scores, intervals, roles and examples of everything counted into `part`."""
    if part.texts == 0:
        raise UsageError("the corpus has no text that gives tokens for this model; give one text per line")
    if part.positions == 0:
        raise UsageError("the corpus has no text of two tokens or more: there is nothing to measure; "
                         "give texts of a few words, one per line")
    c = model.config
    scores: dict[str, np.ndarray] = {}
    ci: dict[str, np.ndarray] = {}
    kept = part.boot_n > 0  # a replicate that drew no text at all has no estimate
    reps = part.boot_sums[kept] / part.boot_n[kept][:, None, None, None]  # [B', 4, L, H]
    for k, name in enumerate(CORPUS_SCORES):
        scores[name] = part.sums[k] / part.positions
        ci[name] = interval(scores[name], reps[:, k] if reps.size else np.full((1, c.n_layer, c.n_head), np.nan))
    notes = []
    length = repeat_length(model, options.induction_length) if not model.task.sees_both_sides else 0
    if model.task.sees_both_sides:
        notes.append("induction and duplicate are not measured in an encoder: every token sees the whole sequence, "
                     "so the copy's tokens are visible to both copies")
    elif not part.repeats and options.induction_samples:
        notes.append("induction and duplicate are not measured: this model's vocabulary has fewer than two ordinary "
                     "tokens (words of two or more letters) to repeat")
    elif part.repeats:
        order = sorted(part.repeats)
        per = np.stack([part.repeats[s] for s in order])  # [N, 2, L, H]
        rng = np.random.default_rng([options.seed, RESAMPLE_STREAM])
        draws = rng.integers(0, len(order), size=(options.bootstrap, len(order)))  # [B, N]
        boot = per[draws].mean(axis=1)  # [B, 2, L, H]
        for k, name in enumerate(REPEAT_SCORES):
            scores[name] = per[:, k].mean(axis=0)
            ci[name] = interval(scores[name], boot[:, k])
        if length < options.induction_length and part.repeats:
            notes.append(f"the repeated sequences are {length} tokens long, not {options.induction_length}: "
                         f"twice that is what fits in this model's context of {c.n_ctx}")
    if part.skipped:
        notes.append(f"{part.skipped} text(s) gave no tokens for this model's tokenizer and were not counted")
    if part.cut:
        limit = token_limit(model, options.max_tokens)
        notes.append(f"{part.cut} of the {part.texts} texts were cut to their first {limit} tokens")
    roles = [[[role for role, (score, floor) in ROLES.items() if score in ci and ci[score][L, h, 0] >= floor]
              for h in range(c.n_head)] for L in range(c.n_layer)]
    examples = [[{name: {"index": int(part.best_index[k, L, h]), "text": part.best_text[int(part.best_index[k, L, h])],
                         "value": float(part.best_value[k, L, h])}
                  for k, name in enumerate(EXAMPLE_SCORES) if part.best_index[k, L, h] >= 0}
                 for h in range(c.n_head)] for L in range(c.n_layer)]
    return HeadsResult(n_layer=c.n_layer, n_head=c.n_head, scores=scores, ci=ci, roles=roles, texts=part.texts,
                       cut=part.cut, skipped=part.skipped, tokens=part.tokens, positions=part.positions,
                       options=options,
                       induction_length=length, samples=len(part.repeats), encoder=model.task.sees_both_sides,
                       examples=examples,
                       notes=notes)


def census(model: Model, texts: Iterable[str], options: Options = Options()) -> HeadsResult:
    """Every text of `texts` and options.induction_samples repeated sequences counted in this process."""
    counter = Census(model, options)
    part = counter.count_texts(enumerate(texts))
    counter.count_repeats(range(options.induction_samples), part)
    return finish(part, model, options)


@dataclass
class CensusRoles:
    """The roles an `attn heads --json` document gives each head of a model (explain --summary --census)."""

    corpus: str
    roles: dict[tuple[int, int], list[str]]  # (layer, head) -> roles


def census_roles(doc: Any, model: Model, where: str) -> CensusRoles:
    """The roles of `doc` (a parsed `attn heads --json` document), refused unless it is a census of `model`."""
    if not isinstance(doc, dict) or doc.get("command") != "heads" or not isinstance(doc.get("heads"), list):
        raise UsageError(f"--census {where}: not an attn heads --json document; make one with "
                         f"attn heads CORPUS -m MODEL --json > {where}")
    c, ref = model.config, doc.get("model") or {}
    mine = (model.name, c.n_layer, c.n_head)
    theirs = (ref.get("name"), ref.get("n_layer"), ref.get("n_head"))
    if theirs != mine:
        raise UsageError(f"--census {where} is a census of {theirs[0]} ({theirs[1]} layers x {theirs[2]} heads), "
                         f"not of this model, {mine[0]} ({mine[1]} x {mine[2]}); run attn heads on this model")
    try:
        roles = {(int(h["layer"]), int(h["head"])): [str(r) for r in h["roles"]] for h in doc["heads"]}
        corpus = str(doc["corpus"]["name"])
    except (KeyError, TypeError, ValueError):
        raise UsageError(f"--census {where}: a head or the corpus is missing its fields; "
                         "make the document again with attn heads --json") from None
    return CensusRoles(corpus, roles)


def numbered(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """The corpus's texts (its non-blank lines, without their line breaks) with their index among them."""
    index = 0
    for line in lines:
        text = line.rstrip("\r\n")
        if text.strip():
            yield index, text
            index += 1
