"""`attn train` and `attn eval`: thin CLI layers over train.trainer.train and train.evaluate.evaluate.

Progress goes to a Rich progress bar on stderr, results to stdout; errors are raised as
attncli.errors types and become one stderr line at cli.py's boundary.
"""

from __future__ import annotations

import math
import os
import shlex
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import typer

from .common import ColorOpt, MaxMemoryOpt, ModelOpt, echo, emit_json, is_stderr_terminal, load_model, stderr_console


def _progress_bar():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    # Off a terminal (a log, a pipe, a test) a bar prints only its last frame: show none there,
    # whatever --color says.
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                    TimeElapsedColumn(), console=stderr_console(), disable=not is_stderr_terminal())


def count(n: int, noun: str) -> str:
    """'1 token', '2,048 tokens'."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _fmt_eta(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Stop:
    """Asked by train() between phases and steps: has a stop signal come (Ctrl-C, SIGTERM, SIGHUP)?
    `signum` is the first one, None before any."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self) -> bool:
        return self.signum is not None


@contextmanager
def signals_stop_between_steps() -> Iterator[Stop]:
    """The first Ctrl-C, SIGTERM or SIGHUP asks training to stop after the step it is in (and
    checkpoint it), or, before the first step, to stop with nothing written; a second one of
    them interrupts at once (KeyboardInterrupt), keeping the last complete checkpoint."""
    from ..atomic import STOP_SIGNALS

    stop = Stop()

    def at_once(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    def first(signum: int, frame: Any) -> None:
        stop.signum = signum
        for s in STOP_SIGNALS:
            signal.signal(s, at_once)

    try:
        previous = {s: signal.signal(s, first) for s in STOP_SIGNALS}
    except ValueError:  # not the main thread: the signals keep their plain meaning
        yield stop
        return
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def command_line(corpus: Path, options: dict[str, Any]) -> str:
    """The command that reproduces a run, every option explicit (recorded in the model card).

    A BLAS thread count set in the environment is kept too: it changes the order of sums,
    so the last bits of the weights.
    """
    threads = os.environ.get("OPENBLAS_NUM_THREADS")
    parts = ([f"OPENBLAS_NUM_THREADS={threads}"] if threads else []) + ["attn", "train", str(corpus)]
    for flag, value in options.items():
        if value is None or value is False:
            continue
        parts.append(flag) if value is True else parts.extend([flag, str(value)])
    return shlex.join(parts)


def train_command(
    corpus: Path = typer.Argument(..., help="A UTF-8 text file; blank lines separate documents (stories)."),
    out: Path = typer.Option(..., "--out", "-o", help="The model directory to write (what attn explain --model reads)."),
    valid: Optional[Path] = typer.Option(None, "--valid", help="A held-out text: loss at intervals and perplexity at the end."),
    vocab_size: int = typer.Option(4096, "--vocab-size", help="Entries of the byte-level BPE vocabulary."),
    layers: int = typer.Option(2, "--layers", help="Transformer blocks."),
    heads: int = typer.Option(4, "--heads", help="Attention heads per block."),
    d_model: int = typer.Option(128, "--d-model", help="Width of the residual stream."),
    context: int = typer.Option(64, "--context", help="Tokens per training window: the model's context."),
    steps: int = typer.Option(2000, "--steps", help="Optimizer steps in all (with --resume: the new total)."),
    batch: int = typer.Option(32, "--batch", help="Windows per step."),
    lr: float = typer.Option(2e-3, "--lr", help="Peak learning rate (linear warmup, then cosine to a tenth)."),
    seed: int = typer.Option(0, "--seed", help="Seeds initialisation and batch sampling: same seed, same weights."),
    lowercase: bool = typer.Option(False, "--lowercase", help="Lowercase all text (the tokenizer lowercases its input too)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the training saved in --out at its step (its model shape and tokenizer are kept)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing --out."),
    dtype: str = typer.Option("float32", "--dtype", help="float32 or float16 for model.safetensors (training is float32)."),
    corpus_license: str = typer.Option("not stated", "--corpus-license", help="The corpus's license, for the model card."),
    checkpoint_every: int = typer.Option(500, "--checkpoint-every", help="Save weights and optimizer state every N steps."),
    objective: str = typer.Option("causal", "--objective", metavar="causal|mlm",
                                  help="causal: a byte-level BPE and a GPT-2-style model that predicts the next token; "
                                       "mlm: a WordPiece vocabulary and a BERT-style encoder that predicts masked tokens."),
    color: str = ColorOpt,
) -> None:
    """Train a tokenizer and a model on a text, in numpy, into a model directory: GPT-2-style (next token) or BERT-style (--objective mlm)."""
    with signals_stop_between_steps() as stop:  # first: a signal while the trainer loads is not lost
        from ..train.trainer import TrainOptions

        flags = {"--objective": objective if objective != "causal" else None, "--out": out, "--valid": valid, "--vocab-size": vocab_size, "--layers": layers, "--heads": heads,
                 "--d-model": d_model, "--context": context, "--steps": steps, "--batch": batch, "--lr": lr, "--seed": seed,
                 "--lowercase": lowercase, "--resume": resume, "--dtype": dtype, "--corpus-license": corpus_license}
        opts = TrainOptions(corpus=corpus, out=out, valid=valid, vocab_size=vocab_size, n_layer=layers, n_head=heads,
                            d_model=d_model, n_ctx=context, steps=steps, batch=batch, lr=lr, seed=seed, lowercase=lowercase,
                            resume=resume, force=force, dtype=dtype, corpus_license=corpus_license,
                            checkpoint_every=checkpoint_every, command=command_line(corpus, flags), name=out.name,
                            objective=objective)
        result = _train_with_progress(opts, stop)
    lines = [f"wrote {result.out}: {result.steps} steps, {result.tokens_seen:,} tokens, {result.wall_time_s:.0f} s, "
             f"last training loss {result.loss:.4f}"]
    if result.valid is not None and objective == "mlm":
        v = result.valid
        lines.append(f"held-out {opts.valid}: masked-token top-1 {v.top1:.2%}, top-{v.k} {v.topk:.2%}, loss {v.loss:.4f} "
                     f"({count(v.tokens, 'masked token')}, mask seed {v.seed})")
    elif result.valid is not None:
        v = result.valid
        lines.append(f"held-out {opts.valid}: loss/token {v.loss_token:.4f}, perplexity per token {v.ppl_token:.2f}, "
                     f"per word {v.ppl_word:.2f} ({v.tokens:,} tokens, {v.words:,} words)")
    echo("\n".join(lines))


def _train_with_progress(opts, stop: Stop):
    """train() with a progress bar on stderr (on a terminal); the bar is gone before any message."""
    from ..errors import Interrupted
    from ..train.trainer import train

    bar = _progress_bar()
    task = ev = None

    def on_progress(p) -> None:  # the bar starts with the first event, after the input was checked
        nonlocal task, ev
        if task is None:
            bar.start()
            task = bar.add_task("train", total=opts.steps, info="")
        if p.phase == "train":
            valid_txt = f"  valid {p.valid_loss:.3f} (ppl/token {math.exp(p.valid_loss):.1f})" if p.valid_loss is not None else ""
            bar.update(task, completed=p.step, info=f"loss {p.loss:.3f}{valid_txt}  {p.tokens_per_s:,.0f} tok/s  eta {_fmt_eta(p.eta_s)}")
        elif p.phase == "eval":
            if ev is None:
                ev = bar.add_task("eval", total=p.total, info="held-out perplexity")
            bar.update(ev, completed=p.done)
        elif p.phase in ("tokenizer", "encode"):
            bar.update(task, info={"tokenizer": "training the tokenizer", "encode": "encoding the corpus"}[p.phase])

    try:
        return train(opts, on_progress, stop)
    except Interrupted as e:
        e.line_is_clear = task is not None and not bar.disable  # the bar's last frame, drawn below, ends its line
        if stop.signum is not None and stop.signum != signal.SIGINT:
            raise e.by(stop.signum) from None
        raise
    finally:
        if task is not None:
            bar.stop()

def eval_command(
    file: Path = typer.Argument(..., help="A UTF-8 text to score; '-' reads it from stdin."),
    model_spec: Optional[str] = ModelOpt,
    max_memory: Optional[str] = MaxMemoryOpt,
    as_json: bool = typer.Option(False, "--json", help="Write one JSON document to stdout and nothing else."),
    objective: Optional[str] = typer.Option(None, "--objective", metavar="causal|mlm",
                                            help="causal: loss and perplexity of the next token; mlm: top-1 and top-5 "
                                                 "accuracy on masked tokens. Default: what the model was made for."),
    color: str = ColorOpt,
) -> None:
    """Held-out loss and perplexity per token and per word of a model on a text (a masked-LM: top-1 and top-5 accuracy on masked tokens)."""
    from ..train.data import read_text
    from ..train.evaluate import WORD_PATTERN, evaluate

    from ..errors import UsageError

    if objective not in (None, "causal", "mlm"):
        raise UsageError(f"--objective must be one of causal, mlm, got {objective!r}")
    if str(file) == "-":
        from .common import read_stdin_text

        text, file = read_stdin_text("text to score", "attn eval - < story.txt"), "<stdin>"
    else:
        text = read_text(file, "text to score")
    model = load_model(model_spec, max_memory=max_memory)
    mlm = model.task.fills_masks
    objective = objective or ("mlm" if mlm else "causal")
    if objective == "causal" and not model.task.next_token:
        raise UsageError(f"{model.name} is an encoder: it does not predict the next token; "
                         "measure it on masked tokens with --objective mlm" if mlm else
                         f"{model.name} is an encoder without a language-model head; attn eval cannot score it")
    if objective == "mlm":
        return _eval_mlm(model, file, text, as_json)
    result = _with_eval_bar(evaluate, model, text, "")
    if as_json:
        from ..render.json_doc import eval_doc

        emit_json(eval_doc(model, str(file), result, WORD_PATTERN))
        return
    echo(f"{model.name} on {file}: {count(result.tokens, 'token')}, {count(result.words, 'word')} "
         f"(context {result.n_ctx}, stride {result.stride})\n"
               f"loss per token   {result.loss_token:.4f}\n"
               f"perplexity/token {result.ppl_token:.2f}\n"
               f"perplexity/word  {result.ppl_word:.2f}")


def _with_eval_bar(score: Callable[..., Any], model, text: str, info: str) -> Any:
    """score(model, text, progress=...) with the progress bar on stderr (on a terminal)."""
    with _progress_bar() as bar:
        task = bar.add_task("eval", total=None, info=info)
        return score(model, text, progress=lambda done, total: bar.update(task, completed=done, total=total))


def _eval_mlm(model, file: Path, text: str, as_json: bool) -> None:
    from ..train.mlm import MASK_RATE
    from ..train.mlm_eval import evaluate_mlm

    result = _with_eval_bar(evaluate_mlm, model, text, "masked tokens")
    if as_json:
        from ..render.json_doc import eval_mlm_doc

        emit_json(eval_mlm_doc(model, str(file), result, MASK_RATE))
        return
    echo(f"{model.name} on {file}: {count(result.tokens, 'masked token')} ({MASK_RATE:.0%} of the tokens, "
         f"all [MASK], seed {result.seed}; context {result.n_ctx})\n"
         f"top-1 accuracy   {result.top1:.2%}\n"
         f"top-{result.k} accuracy   {result.topk:.2%}\n"
         f"loss per masked  {result.loss:.4f}")
