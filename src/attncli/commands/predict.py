"""`attn predict [TEXT]`: the next tokens and their probabilities (a masked-language model: the
fillers of each [MASK]); with no TEXT, one text per line of stdin."""

from __future__ import annotations

import sys
from typing import Any, Optional

import typer

from ..errors import AttnError, UsageError
from .common import ColorOpt, JsonOpt, ModelOpt, TopKOpt, TruncateOpt, emit_json, error_line, load_model, show


def _predict_one(model, text: str, top_k: int, truncate: bool, generate_n: int, temperature: Optional[float],
                 seed: Optional[int], as_json: bool) -> None:
    from ..analysis import masked
    from ..render import json_doc

    tokens, truncated = model.encode(text, truncate)
    ids = [t.id for t in tokens]
    if masked.fills_masks(model):
        masked.require_masks(model, tokens)
        fills = masked.fill(model, model.forward(ids, layers=[]), tokens, top_k)
        if as_json:
            emit_json(json_doc.predict_doc(model, text, tokens, [], truncated, masks=fills))
            return
        from ..render import table as rt

        show(rt.mask_tables(fills, tokens, text))
        return
    trace = model.forward(ids, layers=[])
    preds = model.predict(trace, top_k)
    generated = None
    if generate_n:
        from ..generate import generate

        new_ids = generate(model, ids, generate_n, temperature, seed)
        generated = {
            "text": model.tokenizer.decode(new_ids),
            "ids": new_ids,
            "sampling": "greedy" if not temperature else "temperature",
            "temperature": temperature or 0.0,
            "seed": seed,
        }
    if as_json:
        emit_json(json_doc.predict_doc(model, text, tokens, preds, truncated, generated))
        return
    from rich.console import Group

    from ..render import table as rt

    parts: list[Any] = []
    if generated is not None:
        parts.append(rt.generated_text(text, generated["text"]))
    parts.append(rt.predictions_table(preds, after=text))
    show(Group(*parts))


def stdin_lines():
    """Lines of stdin, decoded one by one so a bad line is reported, not fatal to the rest."""
    stream = typer.get_binary_stream("stdin")
    interactive = stream.isatty()
    n = 0
    while True:
        if interactive:
            typer.echo("text> ", nl=False, err=True)
        raw = stream.readline()
        if not raw:
            if interactive:
                typer.echo("", err=True)
            return
        n += 1
        try:
            yield n, raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            yield n, UsageError(f"stdin line {n} is not valid UTF-8; convert the input, e.g. with iconv -t UTF-8")


def predict(
    text: Optional[str] = typer.Argument(None, help="The text to continue (for a masked-language model: with [MASK] where a word is missing). Without it, reads one text per line from stdin."),
    model_spec: Optional[str] = ModelOpt,
    top_k: int = TopKOpt,
    generate_n: int = typer.Option(0, "--generate", "-g", min=0, help="Also continue the text by N tokens."),
    temperature: Optional[float] = typer.Option(None, "--temperature", "-t", help="Sample the continuation at this temperature (0 or unset: greedy)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for sampling, for a repeatable continuation."),
    truncate: bool = TruncateOpt,
    as_json: bool = JsonOpt,
    color: str = ColorOpt,
) -> None:
    """Show what comes next: the top-k next tokens and their probabilities (a masked-language model: the top-k fillers of each [MASK])."""
    from ..analysis.masked import check_predicts

    if temperature is not None and not 0 <= temperature < float("inf"):  # NaN fails it too
        raise UsageError(f"--temperature must be 0 (greedy) or a positive number, got {temperature:g}")
    model = load_model(model_spec)
    check_predicts(model, generate_n)
    if text is not None:
        _predict_one(model, text, top_k, truncate, generate_n, temperature, seed, as_json)
        return
    first_error: Optional[AttnError] = None
    for n, line in stdin_lines():
        if isinstance(line, AttnError):
            error_line(str(line))
            first_error = first_error or line
            continue
        if not line.strip():
            continue  # blank lines separate nothing; skip them
        try:
            _predict_one(model, line, top_k, truncate, generate_n, temperature, seed, as_json)
        except AttnError as e:  # one bad line is reported; the others are still answered
            error_line(f"stdin line {n}: {e}")
            first_error = first_error or e
        sys.stdout.flush()
    if first_error is not None:
        raise typer.Exit(int(first_error.exit_code))
