"""train(options, callback): corpus -> tokenizer -> model in numpy -> a model directory.

The objective (objectives.py) picks the tokenizer, the model and the loss: causal, a byte-level
BPE and a GPT-2-style decoder (next token); mlm, WordPiece and a BERT-style encoder (masked tokens).

The directory is what `attn explain --model DIR` loads (checkpoints.native), plus the training
state that --resume continues from (checkpoint.py writes both). Progress goes to the callback;
nothing here prints.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

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
    phase: str  # "tokenizer", "encode", "train", "checkpoint", "eval"
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


@dataclass
class _Run:
    """Where a run is, for the message of a Ctrl-C that cannot wait, and its checkpoints."""

    checkpoints: Checkpoints
    doing: str = BEFORE  # "during step 7", ...


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
    emit = callback or (lambda p: None)
    _check_options(o)
    _check_out(o)
    run = _Run(Checkpoints(o.out, o.checkpoint_every, name=o.name or o.out.name, dtype=o.dtype))
    ckpt = run.checkpoints
    try:
        return _train(o, emit, stop or (lambda: False), run)
    except KeyboardInterrupt:
        ckpt.clean_up()
        if run.doing == BEFORE and not ckpt.made and ckpt.last is None:
            raise Interrupted(f"interrupted {BEFORE}; nothing was written to {o.out}") from None
        raise Interrupted(f"interrupted {run.doing}; {ckpt.kept()}") from None
    except BaseException:
        ckpt.clean_up()
        raise


def _train(o: TrainOptions, emit: Callback, stop: Callable[[], bool], run: _Run) -> TrainResult:
    def stop_before_the_first_step() -> None:  # Ctrl-C while the corpus was read, the tokenizer trained...
        if stop():
            raise Interrupted(f"interrupted {BEFORE}; nothing was written to {o.out}")

    obj: Objective = OBJECTIVES[o.objective]
    docs = documents(read_text(o.corpus, "corpus"))
    valid_text = read_text(o.valid, "validation file") if o.valid else None
    stop_before_the_first_step()

    if o.resume:
        state, params, m, v = read_state(o.out)
        saved = state["options"].get("objective", "causal")  # states from before --objective are causal
        if saved != o.objective:
            raise UsageError(f"{o.out} was trained with --objective {saved}; resume it with --objective {saved}")
        config = ModelConfig.from_dict(state["model"], source=str(o.out / STATE_FILES[1]))
        tok_json = (o.out / "tokenizer.json").read_text(encoding="utf-8")
        if o.steps <= state["step"]:
            raise UsageError(f"{o.out} is already trained for {state['step']} steps; give --steps more than that to continue")
        run.checkpoints.last = int(state["step"])
    else:
        emit(Progress("tokenizer"))
        tok_json = obj.train_tokenizer(docs, o.vocab_size, o.lowercase)
        stop_before_the_first_step()
    tokenizer = Tokenizer.from_str(tok_json)
    emit(Progress("encode"))
    ids = obj.encode(tokenizer, docs)  # [N]
    if ids.shape[0] < o.n_ctx + 2:
        raise UsageError(f"{o.corpus}: the corpus gives {ids.shape[0]} tokens, too few for --context {o.n_ctx}; "
                         f"give at least {o.n_ctx + 2} tokens of text or a smaller --context")
    if not o.resume:
        config = obj.config(tokenizer, o)
    valid_ids = obj.encode(tokenizer, documents(valid_text)) if valid_text else None  # [Nv]
    if valid_ids is not None and valid_ids.shape[0] < config.n_ctx + 2:
        raise UsageError(f"{o.valid}: the validation text gives {valid_ids.shape[0]} tokens, too few for --context "
                         f"{config.n_ctx}; give a longer validation text")
    stop_before_the_first_step()

    rng = np.random.default_rng(o.seed)
    opt = AdamW(lr=o.lr, weight_decay=o.weight_decay)
    if o.resume:
        rng.bit_generator.state = state["rng"]
        opt.m, opt.v, opt.step = m, v, int(state["adam_step"])
        start, tokens_seen, wall_before = int(state["step"]), int(state["tokens_seen"]), float(state["wall_time_s"])
        lowercase = bool(state["options"].get("lowercase"))
    else:
        run.checkpoints.create()
        params = obj.init_params(config, rng)
        start, tokens_seen, wall_before = 0, 0, 0.0
        lowercase = o.lowercase

    warmup = o.warmup or min(200, max(1, o.steps // 10))
    eval_every = o.eval_every or max(1, o.steps // 10)
    fixed_valid = obj.valid_batch(valid_ids, config, tokenizer) if valid_ids is not None else None
    command = o.command
    if o.resume:  # the card keeps every command the weights came from, in order
        before = native.read_config(o.out)[1].get("card", {}).get("training_command")
        command = f"{before} && {o.command}" if before and o.command else (before or o.command)
    card = {"provisional": False, "objective": o.objective, "corpus": o.corpus.name, "corpus_license": o.corpus_license,
            "training_command": command, "valid_file": o.valid.name if o.valid else None}
    t0 = time.perf_counter()
    run_tokens = 0
    loss = valid_loss = math.nan

    def state_doc(step: int) -> dict[str, Any]:
        return {"step": step, "steps": o.steps, "tokens_seen": tokens_seen, "seed": o.seed,
                "wall_time_s": wall_before + time.perf_counter() - t0, "corpus": str(o.corpus),
                "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(o).items()}}

    def checkpoint(step: int, state: dict[str, Any], card: dict[str, Any]) -> None:
        emit(Progress("checkpoint", step=step, steps=o.steps, loss=loss))
        run.checkpoints.save(step, Snapshot(config, params, tok_json, opt, rng, state, card))

    def checkpoint_now(step: int) -> None:
        checkpoint(step, state_doc(step), dict(card, steps=step, tokens_seen=tokens_seen,
                                               wall_time_s=round(wall_before + time.perf_counter() - t0, 1)))

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is caught by the NaN check
        for step in range(start + 1, o.steps + 1):
            run.doing = f"during step {step}"
            loss, grads, n_tokens = obj.step(params, config, ids, o.batch, rng, tokenizer)
            norm = clip_grads(grads, o.clip)
            if not (math.isfinite(loss) and math.isfinite(norm)):
                run.checkpoints.clean_up()
                raise TrainingError(f"the loss became NaN at step {step}; stopped, {run.checkpoints.kept(resume_hint=False)}; "
                                    "lower --lr and train again")
            lr = lr_at(step, o.lr, warmup, o.steps)
            opt.update(params, grads, lr)
            tokens_seen += n_tokens
            run_tokens += n_tokens
            if fixed_valid is not None and (step % eval_every == 0 or step == o.steps):
                valid_loss = obj.valid_loss(params, config, fixed_valid)
            elapsed = time.perf_counter() - t0
            emit(Progress("train", step=step, steps=o.steps, loss=loss, lr=lr, tokens_per_s=run_tokens / elapsed,
                          eta_s=elapsed / (step - start) * (o.steps - step),
                          valid_loss=None if math.isnan(valid_loss) else valid_loss))
            if run.checkpoints.due(step, o.steps):
                run.doing = "while saving a checkpoint"
                checkpoint_now(step)
            if stop():
                done = opt.step  # updates fully applied
                run.doing = "while saving a checkpoint"
                if run.checkpoints.last != done:
                    checkpoint_now(done)
                raise Interrupted(f"interrupted at step {done}; the checkpoint is in {o.out}, continue with --resume")

    valid = None
    if valid_text is not None:
        run.doing = "while the held-out text was scored"
        # Score the weights as they are shipped: rounded to o.dtype, as model.safetensors holds them.
        shipped = {n: p.astype(o.dtype).astype(np.float32) for n, p in params.items()}
        model = Model(config=config, params=shipped, tokenizer=tokenizer, name=o.name or o.out.name, source=str(o.out))
        valid = obj.evaluate(model, valid_text, lambda d, t: emit(Progress("eval", done=d, total=t)))
        card.update(obj.card(valid))
    wall = wall_before + time.perf_counter() - t0
    card = dict(card, description=(obj.describe.format(**config.to_dict())
                                   + f"{' (lowercased input)' if lowercase else ''}, trained in numpy by attn train on {o.corpus.name}"),
                trained_by="attncli attn train (numpy, hand-written backward pass, AdamW)")
    if o.objective == "causal":
        card.setdefault("valid_loss_token", None)
    card.update(steps=o.steps, tokens_seen=tokens_seen, wall_time_s=round(wall, 1))
    run.doing = "while saving the trained model"
    checkpoint(o.steps, dict(state_doc(o.steps), wall_time_s=wall), card)
    return TrainResult(out=o.out, steps=o.steps, loss=loss, wall_time_s=wall, tokens_seen=tokens_seen, valid=valid, card=card)
