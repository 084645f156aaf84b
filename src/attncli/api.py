"""attncli as a library: load a model, run it on a text, and read every number the CLI shows.

    import attncli
    model = attncli.load("smollm2")            # any -m spec; max_memory= as --max-memory
    run = model.run("I do not like spinach")   # one forward pass: a Run
    run.attention(layer=1, head=3)             # [T, T] weights; run.attention(layer=1) is [heads, T, T]
    run["blocks.1.attn.scores"]                # any intermediate by its trace name (attncli.trace.NAMES)
    run.predictions(k=5)                       # what comes next (a masked LM: each [MASK]'s fillers)

The CLI is a layer over the same functions; errors are the typed errors of attncli.errors, which
the CLI turns into its exit codes. Nothing here prints.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .analysis.attribution import Attribution
    from .analysis.dla import DLA
    from .analysis.heads import HeadsResult
    from .analysis.lens import Lens
    from .analysis.qk import QKAttribution
    from .analysis.steps import Walkthrough
    from .model import Model
    from .tokenizer import Token


def _size(max_memory: int | str | None) -> int | None:
    if max_memory is None or isinstance(max_memory, int):
        return max_memory
    from .units import parse_size

    return parse_size(max_memory, "max_memory")


class LoadedModel:
    """A loaded model as the library hands it out: the core Model (every attribute of it: config,
    tokenizer, params, forward, encode, ...) with the library's verbs added."""

    def __init__(self, model: Model) -> None:
        self.core = model

    def __getattr__(self, name: str) -> Any:
        return getattr(self.core, name)

    def run(self, text: str, truncate: bool = False) -> Run:
        """One forward pass over `text`, every intermediate kept (truncate: cut the text's start to fit)."""
        return Run(self.core, text, truncate)

    def generate(self, text: str, n: int = 12, **options: Any) -> Any:
        """Continue `text` by `n` tokens (see attncli.api.generate for the options)."""
        return generate(self.core, text, n, **options)

    def __repr__(self) -> str:
        c = self.core.config
        return f"<attncli model {self.core.name}: {c.n_layer} layers, {c.n_head} heads, d_model {c.d_model}>"


def _core(model: Model | LoadedModel) -> Model:
    return model.core if isinstance(model, LoadedModel) else model


def load(spec: str | None = None, *, max_memory: int | str | None = None) -> LoadedModel:
    """The model `spec` names, as `-m` takes it: None or "bundled", "bundled-mlm", a pulled name
    (`attn models list`), a folder or file path, "ollama:NAME[:TAG]", "lmstudio:PUB/REPO", or a
    Hugging Face cache's "org/name". `max_memory` (bytes, or "500M" as --max-memory takes it)
    keeps big matrices quantized in place beyond it. What the CLI would warn about is a
    UserWarning."""
    from .checkpoints import load as load_checkpoint

    model = load_checkpoint(spec, max_memory=_size(max_memory))
    for message in getattr(model, "warnings", ()):
        warnings.warn(message, UserWarning, stacklevel=2)
    return LoadedModel(model)


class Run:
    """One forward pass of a model over a text, with every intermediate kept (run.names)."""

    def __init__(self, model: Model | LoadedModel, text: str, truncate: bool = False) -> None:
        if not isinstance(text, str) or not text.strip():
            raise UsageError("the text is empty: give a sentence")
        model = _core(model)
        self.model, self.text = model, text
        self.token_objects, self.truncated = model.encode(text, truncate)  # list[Token], cut at the start?
        self.trace = model.forward([t.id for t in self.token_objects])

    # ---- what the pass made ---------------------------------------------------------------
    @property
    def tokens(self) -> list[dict[str, Any]]:
        """The tokens as `attn explain --json` lists them: index, id, text, ..."""
        from .render.json_doc import tokens_doc

        return tokens_doc(self.token_objects)

    @property
    def names(self) -> list[str]:
        """Every intermediate's canonical name, in the order the pass makes them."""
        return list(self.trace)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.trace[name]

    def attention(self, layer: int, head: int | None = None) -> np.ndarray:
        """Layer `layer`'s attention weights (after softmax): [T, T] for one head, else [heads, T, T]."""
        from .views import resolve_head, resolve_layer

        L = resolve_layer(layer, self.model.config.n_layer, 0)
        weights = self.trace[f"blocks.{L}.attn.weights"]  # [H, T, T]
        if head is None:
            return weights
        h = resolve_head(str(head), self.model.config.n_head, 0)
        return weights[int(h)]  # [T, T]

    def predictions(self, k: int = 5) -> list[dict[str, Any]]:
        """The top-k next tokens (text, id, probability, logit); for a masked LM, each [MASK]'s top-k
        fillers ({"index", "predictions": [...]}, as predict --json lists them)."""
        from .render.json_doc import masks_doc, predictions_doc

        task = self.model.task
        task.require(self.model, "predictions", "words")
        fills = task.fills(self.model, self.trace, self.token_objects, k)
        if fills is not None:
            return masks_doc(fills)
        return predictions_doc(task.next_tokens(self.model, self.trace, k))

    # ---- the analyses -----------------------------------------------------------------------
    def _query(self, token: str | int | None) -> int:
        from .analysis.steps import resolve_token

        spec = None if token is None else str(token)
        return resolve_token(spec, self.token_objects, self.model.task.default_query(self.model, self.token_objects))

    def _word(self, word: str | None) -> int | None:
        """A word's token id as --target takes it (a word of several tokens: its first, with a warning)."""
        if word is None:
            return None
        i, note = self.model.tokenizer.word_id(word)
        if note:
            warnings.warn(note, UserWarning, stacklevel=3)
        return i

    def steps(self, token: str | int | None = None, layer: int = 0, head: int = 0,
              temperature: float = 1.0) -> Walkthrough:
        """The walkthrough of one query token through one head: Q, K, V, scores, softmax, weighted sum."""
        from .analysis.steps import walkthrough

        return walkthrough(self.trace, layer, head, self._query(token), temperature)

    def lens(self, token: str | int | None = None, target: str | None = None, k: int = 5) -> Lens:
        """The logit lens at one query token: every layer's stream through the final norm and unembedding."""
        from .analysis.lens import logit_lens

        return logit_lens(self.model, self.trace, self._query(token), k, target=self._word(target))

    def dla(self, token: str | int | None = None, target: str | None = None, contrast: str | None = None) -> DLA:
        """Direct logit attribution: what each head and MLP adds to the target's logit at one query."""
        from .analysis.dla import direct_logit_attribution

        return direct_logit_attribution(self.model, self.trace, self._query(token),
                                        target=self._word(target), contrast=self._word(contrast))

    def attribution(self) -> Attribution:
        """Each input token ranked by how much leaving it out lowers what the model predicts: the top
        next token, a masked LM's first [MASK] filler, or an encoder's sentence embedding (as
        explain --attribution does it)."""
        from . import modes

        result: Attribution = modes.MODES["attribution"].run(self._context())
        return result

    def rollout(self) -> np.ndarray:
        """Attention rollout across all layers (Abnar and Zuidema, 2020): [T, T]."""
        from .analysis.rollout import rollout

        return rollout(self.trace)

    def qk(self, layer: int, head: int, token: str | int | None = None, key: str | int | None = None) -> QKAttribution:
        """One head's score from `token` to `key` taken apart into query part x key part (explain --qk)."""
        from .analysis.qk import qk_attribution
        from .analysis.steps import resolve_token

        query = self._query(token)
        k = None if key is None else resolve_token(str(key), self.token_objects, option="key")
        return qk_attribution(self.model, self.trace, layer, head, query, k)

    # ---- as the CLI shows it -------------------------------------------------------------------
    def _context(self, layer: int | None = None, head: int | str | None = None) -> Any:
        from . import modes
        from .views import resolve_head, resolve_layer

        view = self.model.card.get("default_view") or {}
        L = resolve_layer(layer, self.model.config.n_layer, int(view.get("layer", 0)))
        h = resolve_head(None if head is None else str(head), self.model.config.n_head, view.get("head", 0),
                         allowed=("mean",))
        return modes.Context(model=self.model, text=self.text, tokens=self.token_objects, trace=self.trace,
                             layer=L, head=h, truncated=self.truncated, options=modes.defaults())

    def to_json(self, layer: int | None = None, head: int | str | None = None) -> dict[str, Any]:
        """The document `attn explain --json` writes, as a dict (json.dumps it with allow_nan=False)."""
        import json

        from . import modes
        from .render.json_doc import dump

        c = self._context(layer, head)
        doc = modes.MODES["table"].json(modes.MODES["table"].run(c), c)
        parts: list[str] = []
        dump(doc, parts.append)  # the writer's own rounding and null cells: the same bytes as the CLI's
        return json.loads("".join(parts))

    def _repr_html_(self) -> str:
        """In Jupyter: the interactive page `attn explain --html` writes, offline, in an iframe."""
        import html as _html

        from . import modes
        from .render import html as rhtml

        c = self._context(head=None if self._context().head != "mean" else 0)
        page = rhtml.page(modes.MODES["table"].json(modes.MODES["table"].run(c), c))
        return (f'<iframe srcdoc="{_html.escape(page, quote=True)}" style="width:100%;height:640px;border:0" '
                f'sandbox="allow-scripts"></iframe>')

    def __rich__(self) -> Any:
        """In a terminal or IPython with Rich: the tables `attn explain` prints."""
        from . import modes

        c = self._context()
        return modes.MODES["table"].rich(modes.MODES["table"].run(c), c, 120)

    def __repr__(self) -> str:
        return f"<attncli.Run of {self.model.name} on {len(self.token_objects)} tokens: {self.text[:40]!r}>"


def run(model: Model | LoadedModel, text: str, truncate: bool = False) -> Run:
    """model.run(text): one forward pass of `model` over `text`."""
    return Run(model, text, truncate)


def compare(model: Model | LoadedModel, a: str, b: str, layer: int = 0, head: int | str = 0, k: int = 5) -> Any:
    """Two sentences side by side, as `attn compare` shows them: aligned tokens, the change in
    attention, in contextual vectors and in predictions."""
    from .analysis.compare import compare as compare_traces

    ra, rb = Run(model, a), Run(model, b)
    return compare_traces(ra.trace, rb.trace, layer, head, k)


def patch(model: Model | LoadedModel, clean: str, corrupt: str, target: str | None = None) -> Any:
    """Activation patching from `clean` into `corrupt` (attn patch): each layer's stream at each
    position, and each head's output."""
    from .analysis.patching import patch as patch_ids

    rc, rr = Run(model, clean), Run(model, corrupt)
    return patch_ids(_core(model), [t.id for t in rc.token_objects], [t.id for t in rr.token_objects],
                     target=rc._word(target))


def generate(model: Model | LoadedModel, text: str, n: int = 12, explain: bool = False, layer: int | None = None,
             temperature: float | None = None, seed: int | None = None) -> Any:
    """Continue `text` by up to `n` tokens (greedy, or sampled at `temperature` with `seed`); each step
    has its token, probability and alternatives. With `explain` (predict -g N --explain), each step
    also has its attention row at `layer` (default: the model's suggested layer, else 0)."""
    from .generate import generate_steps

    model = _core(model)
    model.task.require(model, "generate", "next_token")
    tokens, _ = model.encode(text)
    if explain and layer is None:
        layer = int((model.card.get("default_view") or {}).get("layer", 0))
    return generate_steps(model, [t.id for t in tokens], n, layer=layer if explain or layer is not None else None,
                          temperature=temperature, seed=seed)


def heads(model: Model | LoadedModel, texts: Iterable[str] | None = None, *, induction_length: int = 40,
          induction_samples: int = 20, seed: int = 0, max_tokens: int | None = None) -> HeadsResult:
    """What every head does over a corpus, as `attn heads` measures it in one process: scores
    (previous, first, self, entropy, induction, duplicate) [layers, heads], their 95% intervals and
    the roles they give. `texts` None: the built-in corpus."""
    from .analysis.heads import Options, census

    if texts is None:
        from .corpus import open_corpus

        texts = [text for _, text in open_corpus(None).texts()]
    options = Options(induction_length=induction_length, induction_samples=induction_samples, seed=seed,
                      max_tokens=max_tokens)
    return census(_core(model), texts, options)


def token_list(run: Run) -> list[Token]:
    """The Token objects of a run (text, id, offsets), for code that wants more than the JSON fields."""
    return run.token_objects
