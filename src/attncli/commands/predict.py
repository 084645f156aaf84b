"""`attn predict [TEXT]`: the next tokens and their probabilities (a masked-language model: the
fillers of each [MASK]); with no TEXT, one text per line of stdin."""

from __future__ import annotations

import sys
from typing import Any, NamedTuple, Optional

import typer

from ..errors import AttnError, UsageError
from .common import (
    AblateModeOpt,
    AblateOpt,
    ColorOpt,
    MaxMemoryOpt,
    ModelOpt,
    TopKOpt,
    TruncateOpt,
    check_sampling,
    emit_json,
    error_line,
    load_model,
    note_line,
    noted,
    progress,
    show,
    stdout_console,
)


class Watch(NamedTuple):
    """--explain: which layer and head's attention each generated token is shown with, and --html."""

    layer: int
    head: int | str
    html: Optional[str]


def _predict_one(model, text: str, top_k: int, truncate: bool, generate_n: int, temperature: Optional[float],
                 seed: Optional[int], as_json: bool, watch: Optional[Watch] = None, where: str = "") -> None:
    """Predict (and generate) after one text; `where` ("stdin line 3: ") starts its notes on stderr."""
    from ..render import json_doc

    tokens, truncated = model.encode(text, truncate)
    ids = [t.id for t in tokens]
    task = model.task
    if task.fills_masks:
        task.require_masks(model, tokens)
        fills = task.fills(model, model.forward(ids, layers=[]), tokens, top_k)
        if as_json:
            emit_json(json_doc.predict_doc(model, text, tokens, [], truncated, masks=fills))
            return
        from ..render import table as rt

        show(rt.mask_tables(fills, tokens, text))
        return
    generated = steps = None
    if not generate_n:
        preds = model.predict(model.forward(ids, layers=[]), top_k)
    else:
        from ..generate import generate_steps

        with progress() as tick:
            made = generate_steps(model, ids, generate_n, temperature, seed, watch.layer if watch else None, k=top_k,
                                  progress=lambda done, total: tick("generating", done, total))
        preds = model.predict(made.prompt, top_k)  # the forward generation started from: the prompt's, once
        steps = made.steps
        new_ids = [s.id for s in steps]
        generated = {
            "text": model.tokenizer.decode(new_ids),
            "ids": new_ids,
            "sampling": "greedy" if not temperature else "temperature",
            "temperature": temperature or 0.0,
            "seed": seed,
            **generation_ends(model, len(ids), generate_n, made, where),
        }
        if watch is not None:
            generated["steps"] = json_doc.generation_steps(model, tokens, steps, watch.layer, watch.head)
    if watch is not None and watch.html:
        _write_page(model, text, tokens, truncated, watch, generated, top_k, watch.html)
    if as_json:
        emit_json(json_doc.predict_doc(model, text, tokens, preds, truncated, generated))
        return
    if watch is not None and watch.html:
        return
    from rich.console import Group

    from ..render import table as rt

    console = stdout_console()
    parts: list[Any] = []
    if generated is not None:
        parts.append(rt.generated_text(text, generated["text"]))
    if generated is not None and watch is not None:  # generated["steps"] is there when watch is
        parts.append(rt.generation_table(generated["steps"], watch.layer, watch.head, tokens, console.width))
    parts.append(rt.predictions_table(preds, after=text))
    show(noted(model, Group(*parts)), console)


def generation_ends(model, prompt: int, n: int, made, where: str) -> dict[str, Any]:
    """How a generation ended and whether its window slid, for --json; each also said on stderr."""
    tok, n_ctx = model.tokenizer, model.config.n_ctx
    out: dict[str, Any] = {"stop_reason": "length", "end_of_text": None, "context_window": None}
    if made.slid_at is not None:
        dropped = prompt + len(made.steps) - 1 - n_ctx  # tokens the last step no longer saw
        out["context_window"] = {"n_ctx": n_ctx, "slid_at_step": made.slid_at, "dropped": dropped}
        note_line(f"{where}the text filled the model's context of {n_ctx} tokens: from generated token "
                  f"{made.slid_at + 1} on, each token was chosen from the last {n_ctx} tokens only "
                  f"(the first {dropped} were out of sight by the end)")
    if made.end is not None:
        out.update(stop_reason="end_of_text", end_of_text={"id": made.end, "token": tok.id_to_token(made.end)})
        note_line(f"{where}generation stopped after {len(made.steps)} of {n} tokens: the model chose the end-of-text "
                  f"token {tok.display(made.end)}")
    return out


def _write_page(model, text, tokens, truncated, watch: Watch, generated, top_k: int, path: str) -> None:
    """--html with --explain: the prompt's explain page, with a generation section to step through,
    written to `path` (watch.html)."""
    from .. import modes
    from ..render import html as rhtml
    from ..render.files import write

    trace = model.forward([t.id for t in tokens])
    head = 0 if watch.head == "mean" else watch.head
    table = modes.MODES["table"]
    view_ctx = modes.Context(model=model, text=text, tokens=tokens, trace=trace, layer=watch.layer, head=head,
                             truncated=truncated, options=dict(modes.defaults(), top_k=top_k))
    doc = table.json(table.run(view_ctx), view_ctx)
    if generated is not None:
        doc["generation"] = {"layer": watch.layer, "head": watch.head, "steps": [
            {"text": s["text"], "probability": s["probability"],
             "alternatives": [{"text": a["text"], "probability": a["probability"]} for a in s["alternatives"]],
             # the page reads a row by position: keys out of sight after the window slid are null
             "weights": [None] * s["attention"]["keys"][0] + s["attention"]["weights"]} for s in generated["steps"]]}
    write(path, rhtml.page(doc), "--html")
    typer.echo(f"attn: wrote {path} (open it in a browser; it needs no network)", err=True)


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
    text: Optional[str] = typer.Argument(None,
                                         help="The text to continue (for a masked-language model: with [MASK] where "
                                              "a word is missing). Without it, reads one text per line from stdin."),
    model_spec: Optional[str] = ModelOpt,
    max_memory: Optional[int] = MaxMemoryOpt,
    top_k: int = TopKOpt,
    generate_n: int = typer.Option(0, "--generate", "-g", min=0, help="Also continue the text by N tokens."),
    temperature: Optional[float] = typer.Option(None, "--temperature", "-t",
                                                help="Sample the continuation at this temperature "
                                                     "(0 or unset: greedy)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for sampling, for a repeatable continuation."),
    truncate: bool = TruncateOpt,
    explain: bool = typer.Option(False, "--explain",
                                 help="With -g: for every generated token, its probability, the alternatives, "
                                      "and the keys it attended to most."),
    layer: Optional[int] = typer.Option(None, "--layer", "-l",
                                        help="With --explain: the layer whose attention is shown "
                                             "(default: the model's suggested one)."),
    head: Optional[str] = typer.Option(None, "--head",
                                       help="With --explain: a head number, or 'mean' "
                                            "(default: the model's suggested one)."),
    html: Optional[str] = typer.Option(None, "--html",
                                       help="With --explain: write a page to step through the generation "
                                            "instead of the tables."),
    ablate: Optional[str] = AblateOpt,
    ablate_mode: str = AblateModeOpt,
    as_json: bool = typer.Option(False, "--json", help="Write one JSON document to stdout and nothing else; "
                                 "with texts from stdin, one document a line (JSON Lines)."),
    color: str = ColorOpt,
) -> None:
    """Show what comes next: the top-k next tokens and their probabilities
    (a masked-language model: the top-k fillers of each [MASK])."""
    check_sampling(generate_n, temperature, seed)
    if explain and not generate_n:
        raise UsageError("--explain shows the attention of generated tokens; add -g N")
    if not explain and (layer is not None or head is not None or html is not None):
        raise UsageError("--layer, --head and --html go with --explain (-g N --explain)")
    if html is not None:
        from ..render.files import check_path

        check_path(html, ("html", "htm"), "--html")
        if text is None:
            raise UsageError("--html writes one page, for one text: give the text as an argument")
    model = load_model(model_spec, ablate, ablate_mode, max_memory=max_memory)
    model.task.require(model, "attn predict", "words")
    if generate_n:
        model.task.require(model, "--generate", "next_token")
    watch = None
    if explain:
        from ..views import resolve_head, resolve_layer
        from .common import default_view

        d_layer, d_head = default_view(model)
        watch = Watch(resolve_layer(layer, model.config.n_layer, d_layer),
                      resolve_head(head, model.config.n_head, d_head), html)
    if text is not None:
        _predict_one(model, text, top_k, truncate, generate_n, temperature, seed, as_json, watch)
        return
    first_error: Optional[AttnError] = None
    texts = 0
    for n, line in stdin_lines():
        if isinstance(line, AttnError):
            error_line(str(line))
            first_error = first_error or line
            continue
        if not line.strip():
            continue  # blank lines separate nothing; skip them
        texts += 1
        try:
            _predict_one(model, line, top_k, truncate, generate_n, temperature, seed, as_json, watch,
                         f"stdin line {n}: ")
        except AttnError as e:  # one bad line is reported; the others are still answered
            error_line(f"stdin line {n}: {e}")
            first_error = first_error or e
        sys.stdout.flush()
    if first_error is not None:
        raise typer.Exit(int(first_error.exit_code))
    if not texts:
        raise UsageError("no text was given: stdin held no line of text; give the text as an argument, "
                         "or pipe lines in: echo \"once upon a time\" | attn predict")
