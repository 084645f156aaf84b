"""train(options, callback): corpus -> tokenizer -> model in numpy -> a model directory.

The objective (objectives.py) picks the tokenizer, the model and the loss: causal, a byte-level
BPE and a GPT-2-style decoder (next token); mlm, WordPiece and a BERT-style encoder (masked tokens).

A run goes through explicit phases (Phase): it reads the text; it starts anew or resumes from
the checkpoint in --out, in one place (first_state: the same State either way); it takes its
steps, checkpointing as it goes (checkpoint.py: what is written, when, how, and what a failure
leaves); it scores the held-out text and saves the trained model. What a stop or a Ctrl-C does
depends on the phase it comes in. The directory is what `attn explain --model DIR` loads, plus
the training state that --resume reads. Progress goes to the callback; nothing here prints.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum, auto
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import numpy as np

from ..checkpoints import native
from ..config import ModelConfig
from ..errors import Interrupted, TrainingError, UsageError
from ..model import Model, Params
from ..tokenizer import Tokenizer
from .checkpoint import STATE_FILES, Checkpoints, Snapshot, read_state
from .data import documents, read_text
from .objectives import OBJECTIVES, Objective
from .optim import AdamW, clip_grads, lr_at


@dataclass
class TrainOptions:
    corpus: Path
    out: Path
    valid: Path | None = None
    vocab_size: int = 4096
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 128
    n_ctx: int = 64
    steps: int = 2000
    batch: int = 32
    lr: float = 2e-3  # peak; small models take a larger rate than GPT-2's 6e-4
    seed: int = 0
    lowercase: bool = False
    resume: bool = False
    force: bool = False
    dtype: str = "float32"  # of model.safetensors; training itself is always float32
    warmup: int = 0  # 0: min(200, steps // 10)
    weight_decay: float = 0.1
    clip: float = 1.0  # global gradient norm
    eval_every: int = 0  # 0: steps // 10 (with a valid file)
    checkpoint_every: int = 500
    corpus_license: str = "not stated"
    command: str = ""  # the command line, recorded in the card
    name: str = ""
    objective: str = "causal"  # a key of objectives.OBJECTIVES


@dataclass
class Progress:
    phase: str  # the event: "tokenizer", "encode", "train", "checkpoint", "eval"
    step: int = 0
    steps: int = 0
    loss: float = math.nan
    lr: float = 0.0
    tokens_per_s: float = 0.0
    eta_s: float = 0.0
    valid_loss: float | None = None
    done: int = 0  # for phase "eval": windows scored so far, of `total`
    total: int = 0


@dataclass
class TrainResult:
    out: Path
    steps: int
    loss: float
    wall_time_s: float
    tokens_seen: int
    valid: Any  # evaluate.EvalResult (causal) or mlm_eval.MaskedResult (mlm); None without --valid
    card: dict[str, Any] = field(default_factory=dict)


Callback = Callable[[Progress], None]


def _check_options(o: TrainOptions) -> None:
    flags = {"vocab_size": "--vocab-size", "n_layer": "--layers", "n_head": "--heads", "d_model": "--d-model",
             "n_ctx": "--context", "steps": "--steps", "batch": "--batch", "checkpoint_every": "--checkpoint-every"}
    for name, flag in flags.items():
        v = getattr(o, name)
        if not isinstance(v, int) or v < 1:
            raise UsageError(f"{flag} must be a positive integer, got {v!r}")
    if o.objective not in OBJECTIVES:
        raise UsageError(f"--objective must be one of {', '.join(OBJECTIVES)}, got {o.objective!r}")
    least, why = OBJECTIVES[o.objective].min_vocab
    if o.vocab_size < least:
        raise UsageError(f"--vocab-size must be at least {least} ({why}), got {o.vocab_size}")
    if o.d_model % o.n_head:
        raise UsageError(f"--d-model ({o.d_model}) must be a multiple of --heads ({o.n_head})")
    if not (math.isfinite(o.lr) and o.lr > 0):
        raise UsageError(f"--lr must be a positive number, got {o.lr!r}")
    if o.dtype not in ("float32", "float16"):
        raise UsageError(f"--dtype must be float32 or float16, got {o.dtype!r}")


def _check_out(o: TrainOptions) -> None:
    out = o.out
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a directory; give --out a directory path")
    if o.resume:
        missing = [f for f in STATE_FILES + native.FILES if not (out / f).is_file()]
        if missing:
            raise TrainingError(f"{out}: cannot resume, {missing[0]} is missing; train without --resume")
    elif out.is_dir() and any(out.iterdir()) and not o.force:
        raise UsageError(f"{out} already exists; add --force to overwrite it or --resume to continue training it")


BEFORE = "before the first step"


class Phase(Enum):
    """Where a run is. A stop asked before TRAINING ends the run with nothing written; one asked in
    TRAINING saves the step just done; a KeyboardInterrupt, which cannot wait, says where it came."""

    READING = auto()  # the corpus and the held-out text
    TOKENIZER = auto()  # the tokenizer trained (or the saved one read), the text encoded, the model made (or read)
    TRAINING = auto()  # a step
    SAVING = auto()  # a checkpoint: one due between steps, or the one a stop asks for
    SCORING = auto()  # the held-out text, after the last step
    FINISHING = auto()  # the trained model's checkpoint
    DONE = auto()

    def where(self, step: int) -> str:
        """Where an interruption came, for the message that ends the run."""
        return {Phase.TRAINING: f"during step {step}", Phase.SAVING: "while saving a checkpoint",
                Phase.SCORING: "while the held-out text was scored", Phase.FINISHING: "while saving the trained model",
                Phase.DONE: "after the trained model was saved"}.get(self, BEFORE)

    @property
    def before_first_step(self) -> bool:
        return self in (Phase.READING, Phase.TOKENIZER)


@dataclass
class _Run:
    """A run's phase and step, its checkpoints in --out, and its stop()."""

    out: Path
    checkpoints: Checkpoints
    stop: Callable[[], bool]
    phase: Phase = Phase.READING
    step: int = 0

    def enter(self, phase: Phase, step: int | None = None) -> None:
        self.phase, self.step = phase, self.step if step is None else step

    def check_stop(self) -> None:
        """Between the phases before the first step: a stop ends the run, with nothing written."""
        if self.stop():
            raise Interrupted(f"interrupted {BEFORE}; nothing was written to {self.out}")

    def interrupted(self) -> Interrupted:
        """What a KeyboardInterrupt in this phase says (after checkpoints.clean_up)."""
        made, last = self.checkpoints.made, self.checkpoints.last
        if self.phase.before_first_step and not made and last is None:
            return Interrupted(f"interrupted {BEFORE}; nothing was written to {self.out}")
        return Interrupted(f"interrupted {self.phase.where(self.step)}; {self.checkpoints.kept()}")


def train(o: TrainOptions, callback: Callback | None = None, stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train (or resume) a model as `o` says and write it to o.out; raises UsageError/TrainingError,
    WriteError (a checkpoint could not be written) or Interrupted.

    `stop()` is asked between phases and steps (the CLI's first Ctrl-C, SIGTERM or SIGHUP sets
    it): before the first step nothing is written; after it, the weights of the last whole step
    are checkpointed. A KeyboardInterrupt (a second one) ends the run at once. Either way the
    last complete checkpoint is kept: its files are staged and moved into place with those
    signals deferred, so nothing is ever saved from the middle of an update or of a write. A run that
    ends before its first checkpoint removes the folders it created, and nothing else.
    """
    _check_options(o)
    _check_out(o)
    run = _Run(o.out, Checkpoints(o.out, o.checkpoint_every, name=o.name or o.out.name, dtype=o.dtype),
               stop or (lambda: False))
    try:
        return _train(o, callback or (lambda p: None), run)
    except KeyboardInterrupt:
        run.checkpoints.clean_up()
        raise run.interrupted() from None
    except BaseException:
        run.checkpoints.clean_up()
        raise


def _train(o: TrainOptions, emit: Callback, run: _Run) -> TrainResult:
    obj = OBJECTIVES[o.objective]
    text = _Text(documents(read_text(o.corpus, "corpus")), read_text(o.valid, "validation file") if o.valid else None)
    run.check_stop()
    training = _Training(o, obj, first_state(o, obj, text, emit, run), emit, run)
    training.steps()
    return training.finish(text.valid)


# ---- the first state: a new run, or the one saved in --out ------------------------------------

class _Text(NamedTuple):
    docs: list[str]  # the corpus's documents
    valid: str | None  # the held-out text (--valid)


class Encoded(NamedTuple):
    tok_json: str
    tokenizer: Tokenizer
    config: ModelConfig
    ids: np.ndarray  # [N] the corpus
    valid_ids: np.ndarray | None  # [Nv] the held-out text


@dataclass
class State:
    """What a run starts from, the same whether it is new or resumed from train_state.*; the steps
    move it on (params, opt and rng in place, step and tokens_seen)."""

    text: Encoded
    params: Params
    opt: AdamW
    rng: np.random.Generator
    step: int  # the last step done: 0, or the resumed checkpoint's
    tokens_seen: int
    wall_before: float  # seconds of training in the runs before this one
    lowercase: bool  # as the tokenizer was trained
    command: str  # the commands the weights came from, in order


def first_state(o: TrainOptions, obj: Objective, text: _Text, emit: Callback, run: _Run) -> State:
    """The state a run starts from: a new one, or the checkpoint in --out (--resume)."""
    run.enter(Phase.TOKENIZER)
    return _resume(o, obj, text, emit, run) if o.resume else _start(o, obj, text, emit, run)


def _start(o: TrainOptions, obj: Objective, text: _Text, emit: Callback, run: _Run) -> State:
    """A new run: train the tokenizer, make the model, and create --out just before the first step."""
    emit(Progress("tokenizer"))
    tok_json = obj.train_tokenizer(text.docs, o.vocab_size, o.lowercase)
    run.check_stop()
    encoded = _encode(o, obj, tok_json, text, lambda tokenizer: obj.config(tokenizer, o), emit)
    run.check_stop()
    rng = np.random.default_rng(o.seed)
    opt = AdamW(lr=o.lr, weight_decay=o.weight_decay)
    run.checkpoints.create()
    params = obj.init_params(encoded.config, rng)
    return State(encoded, params, opt, rng, step=0, tokens_seen=0, wall_before=0.0, lowercase=o.lowercase,
                 command=o.command)


def _resume(o: TrainOptions, obj: Objective, text: _Text, emit: Callback, run: _Run) -> State:
    """A resumed run: the weights, AdamW moments, RNG, step, model shape and tokenizer of the
    checkpoint in --out."""
    saved = read_state(o.out)
    doc = saved.doc
    objective = doc["options"].get("objective", "causal")  # states from before --objective are causal
    if objective != o.objective:
        raise UsageError(f"{o.out} was trained with --objective {objective}; resume it with --objective {objective}")
    config = ModelConfig.from_dict(doc["model"], source=str(o.out / STATE_FILES[1]))
    tok_json = (o.out / "tokenizer.json").read_text(encoding="utf-8")
    if o.steps <= doc["step"]:
        raise UsageError(f"{o.out} is already trained for {doc['step']} steps; give --steps more than that to continue")
    run.checkpoints.last = int(doc["step"])
    encoded = _encode(o, obj, tok_json, text, lambda tokenizer: config, emit)
    run.check_stop()
    rng = np.random.default_rng(o.seed)
    rng.bit_generator.state = doc["rng"]
    opt = AdamW(lr=o.lr, weight_decay=o.weight_decay)
    opt.m, opt.v, opt.step = saved.adam_m, saved.adam_v, int(doc["adam_step"])
    before = native.read_config(o.out)[1].get("card", {}).get("training_command")
    command = f"{before} && {o.command}" if before and o.command else (before or o.command)
    return State(encoded, saved.params, opt, rng, step=int(doc["step"]), tokens_seen=int(doc["tokens_seen"]),
                 wall_before=float(doc["wall_time_s"]), lowercase=bool(doc["options"].get("lowercase")),
                 command=command)


def _encode(o: TrainOptions, obj: Objective, tok_json: str, text: _Text,
            config_for: Callable[[Tokenizer], ModelConfig], emit: Callback) -> Encoded:
    """The corpus and the held-out text as ids, each checked to be long enough for a window."""
    tokenizer = Tokenizer.from_str(tok_json)
    emit(Progress("encode"))
    ids = obj.encode(tokenizer, text.docs)  # [N]
    if ids.shape[0] < o.n_ctx + 2:
        raise UsageError(f"{o.corpus}: the corpus gives {ids.shape[0]} tokens, too few for --context {o.n_ctx}; "
                         f"give at least {o.n_ctx + 2} tokens of text or a smaller --context")
    config = config_for(tokenizer)
    valid_ids = obj.encode(tokenizer, documents(text.valid)) if text.valid else None  # [Nv]
    if valid_ids is not None and valid_ids.shape[0] < config.n_ctx + 2:
        raise UsageError(f"{o.valid}: the validation text gives {valid_ids.shape[0]} tokens, too few for --context "
                         f"{config.n_ctx}; give a longer validation text")
    return Encoded(tok_json, tokenizer, config, ids, valid_ids)


# ---- the steps, their checkpoints, and the trained model --------------------------------------

class _Training:
    """The steps of one run, from the state's step to o.steps, with their checkpoints; then the
    held-out scoring and the trained model's checkpoint."""

    def __init__(self, o: TrainOptions, obj: Objective, state: State, emit: Callback, run: _Run) -> None:
        self.o, self.obj, self.s, self.emit, self.run = o, obj, state, emit, run
        t = state.text
        self.warmup = o.warmup or min(200, max(1, o.steps // 10))
        self.eval_every = o.eval_every or max(1, o.steps // 10)
        self.fixed_valid = obj.valid_batch(t.valid_ids, t.config, t.tokenizer) if t.valid_ids is not None else None
        self.card: dict[str, Any] = {"provisional": False, "objective": o.objective, "corpus": o.corpus.name,
                                     "corpus_license": o.corpus_license, "training_command": state.command,
                                     "valid_file": o.valid.name if o.valid else None}
        self.first = state.step  # this run's steps follow it
        self.t0 = time.perf_counter()
        self.run_tokens = 0
        self.loss = self.valid_loss = math.nan

    def wall(self) -> float:
        """Seconds of training so far, the runs before this one's included."""
        return self.s.wall_before + time.perf_counter() - self.t0

    def steps(self) -> None:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is caught by the NaN check
            for step in range(self.s.step + 1, self.o.steps + 1):
                self.run.enter(Phase.TRAINING, step)
                self._step(step)
                if self.run.checkpoints.due(step, self.o.steps):
                    self.run.enter(Phase.SAVING)
                    self._save_now(step)
                if self.run.stop():
                    self._stop()

    def _step(self, step: int) -> None:
        o, s, t = self.o, self.s, self.s.text
        self.loss, grads, n_tokens = self.obj.step(s.params, t.config, t.ids, o.batch, s.rng, t.tokenizer)
        norm = clip_grads(grads, o.clip)
        if not (math.isfinite(self.loss) and math.isfinite(norm)):
            self.run.checkpoints.clean_up()
            raise TrainingError(f"the loss became NaN at step {step}; stopped, "
                                f"{self.run.checkpoints.kept(resume_hint=False)}; lower --lr and train again")
        lr = lr_at(step, o.lr, self.warmup, o.steps)
        s.opt.update(s.params, grads, lr)
        s.step = step
        s.tokens_seen += n_tokens
        self.run_tokens += n_tokens
        if self.fixed_valid is not None and (step % self.eval_every == 0 or step == o.steps):
            self.valid_loss = self.obj.valid_loss(s.params, t.config, self.fixed_valid)
        elapsed = time.perf_counter() - self.t0
        rate, eta = self.run_tokens / elapsed, elapsed / (step - self.first) * (o.steps - step)
        self.emit(Progress("train", step=step, steps=o.steps, loss=self.loss, lr=lr, tokens_per_s=rate, eta_s=eta,
                           valid_loss=None if math.isnan(self.valid_loss) else self.valid_loss))

    def _stop(self) -> NoReturn:
        """A stop asked during a step: save the weights of the last whole step (unless they are saved
        already) and end the run."""
        done = self.s.opt.step  # updates fully applied
        self.run.enter(Phase.SAVING)
        if self.run.checkpoints.last != done:
            self._save_now(done)
        raise Interrupted(f"interrupted at step {done}; the checkpoint is in {self.o.out}, continue with --resume")

    def _state(self, step: int) -> dict[str, Any]:
        """train_state.json's own entries for a checkpoint of `step`."""
        o = self.o
        return {"step": step, "steps": o.steps, "tokens_seen": self.s.tokens_seen, "seed": o.seed,
                "wall_time_s": self.wall(), "corpus": str(o.corpus),
                "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(o).items()}}

    def _save_now(self, step: int) -> None:
        card = dict(self.card, steps=step, tokens_seen=self.s.tokens_seen, wall_time_s=round(self.wall(), 1))
        self._save(step, self._state(step), card)

    def _save(self, step: int, state: dict[str, Any], card: dict[str, Any]) -> None:
        s, t = self.s, self.s.text
        self.emit(Progress("checkpoint", step=step, steps=self.o.steps, loss=self.loss))
        self.run.checkpoints.save(step, Snapshot(t.config, s.params, t.tok_json, s.opt, s.rng, state, card))

    def finish(self, valid_text: str | None) -> TrainResult:
        """After the last step: score the held-out text, then save the trained model."""
        o, s = self.o, self.s
        valid = self._score(valid_text) if valid_text is not None else None
        wall = self.wall()
        describe = self.obj.describe.format(**s.text.config.to_dict())
        card = dict(self.card, description=(describe + f"{' (lowercased input)' if s.lowercase else ''}, "
                                            f"trained in numpy by attn train on {o.corpus.name}"),
                    trained_by="attncli attn train (numpy, hand-written backward pass, AdamW)")
        if o.objective == "causal":
            card.setdefault("valid_loss_token", None)
        card.update(steps=o.steps, tokens_seen=s.tokens_seen, wall_time_s=round(wall, 1))
        self.run.enter(Phase.FINISHING)
        self._save(o.steps, dict(self._state(o.steps), wall_time_s=wall), card)
        self.run.enter(Phase.DONE)
        return TrainResult(out=o.out, steps=o.steps, loss=self.loss, wall_time_s=wall, tokens_seen=s.tokens_seen,
                           valid=valid, card=card)

    def _score(self, valid_text: str) -> Any:
        """The held-out numbers of the weights as they are shipped: rounded to o.dtype, as
        model.safetensors holds them. They go into the card."""
        o, t = self.o, self.s.text
        self.run.enter(Phase.SCORING)
        shipped = {n: p.astype(o.dtype).astype(np.float32) for n, p in self.s.params.items()}
        model = Model(config=t.config, params=shipped, tokenizer=t.tokenizer, name=o.name or o.out.name,
                      source=str(o.out))
        valid = self.obj.evaluate(model, valid_text, lambda d, n: self.emit(Progress("eval", done=d, total=n)))
        self.card.update(self.obj.card(valid))
        return valid
