"""Every command and every explain mode on every kind of model attncli loads: each combination
runs, or refuses in one line that says why (an encoder has no next token); never an internal
error, a traceback or a silent wrong kind of output.

The kinds: the bundled causal and masked models, a GPT-2 folder, tiny Llama/Mistral/Qwen2/Qwen3/
Gemma 3/Phi-3 folders, GGUF as F32, F16 and Q8_0, a K-quant GGUF kept quantized in place, a BERT
folder, and SmolLM2, Gemma 3 270M and MiniLM when pulled (CI pulls them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import encoders, families, synthetic_gguf
from helpers.run_cli import attn, strict_json
from helpers.schema import validate

TEXT = "I do not like it"
OTHER = "I do like it"

# name -> (the -m argument, extra options every command gets) made once per session
KINDS: dict[str, Callable[[pytest.TempPathFactory], tuple[str, list[str]]]] = {
    "bundled": lambda _: ("bundled", []),
    "bundled-mlm": lambda _: ("bundled-mlm", []),
    "gpt2-folder": lambda f: (str(_gpt2(f)), []),
    **{f"{name}-folder": (lambda f, name=name: (str(families.built(name, f).paths["hf-f32"]), []))
       for name in ("llama", "mistral", "qwen2", "qwen3", "gemma3", "phi3")},
    **{f"gguf-{ftype}": (lambda f, ftype=ftype: (str(families.built("llama", f).paths[f"gguf-{ftype}"]), []))
       for ftype in ("f32", "f16", "q8_0")},
    "gguf-k-quant-in-place": lambda f: (str(synthetic_gguf.write(
        f.mktemp("kq") / "k.gguf", n_layer=2, d=256, d_mlp=512, n_head=4, n_kv_head=2, vocab_size=300)),
        ["--max-memory", "1K"]),
    "bert-folder": lambda f: (str(encoders.built("bert", f).mlm), []),
    "smollm2": lambda _: (_pulled("smollm2"), []),
    "gemma3-270m": lambda _: (_pulled("gemma3-270m"), ["--max-memory", "100M"]),  # the big tied embedding in place
    "minilm": lambda _: (_pulled("minilm"), []),
}

def _explain_modes() -> dict[str, list[str]]:
    """Every explain mode in the registry, with what selects it (a one-head mode gets head 0), alone and --json."""
    from attncli import modes

    out: dict[str, list[str]] = {}
    for name, mode in modes.MODES.items():
        if mode.flag is None:
            continue  # the default tables and --head all are listed below
        args = ["explain", TEXT, mode.flag.flag, *(["--head", "0"] if mode.one_head else [])]
        out[f"explain {mode.flag.flag}"] = args
        out[f"explain {mode.flag.flag} --json"] = [*args, "--json"]
    return out


# Every command, and every explain mode with the options that make it one; {out} is a fresh file.
COMMANDS: dict[str, list[str]] = {
    "explain": ["explain", TEXT],
    "explain --json": ["explain", TEXT, "--json"],
    "explain --html": ["explain", TEXT, "--html", "{out}.html"],
    "explain --head all": ["explain", TEXT, "--head", "all"],
    "explain --head mean": ["explain", TEXT, "--head", "mean"],
    "explain --scores": ["explain", TEXT, "--scores"],
    "explain --window": ["explain", TEXT, "--window", "0:2"],
    **_explain_modes(),
    "compare": ["compare", TEXT, OTHER],
    "patch": ["patch", TEXT, OTHER],
    "predict": ["predict", TEXT],
    "predict -g 3 --explain": ["predict", TEXT, "-g", "3", "--explain"],
    "info": ["info"],
    "heads": ["heads", "{corpus}", "--workers", "1", "--induction-samples", "2", "--induction-length", "8"],
    "heads --json": ["heads", "{corpus}", "--json", "--workers", "1", "--induction-samples", "2",
                     "--induction-length", "8"],
}

# What an encoder may refuse: what needs a next token (or, without a [MASK], a word to fill in).
ENCODERS = {"bundled-mlm", "bert-folder", "minilm"}
ENCODER_REFUSES = {"predict", "predict -g 3 --explain", "explain --lens", "explain --lens --json", "explain --dla",
                   "explain --dla --json", "explain --attribution", "explain --attribution --json", "patch"}


def _gpt2(factory: pytest.TempPathFactory) -> Path:
    from helpers.gpt2 import make_gpt2

    folder = factory.mktemp("gpt2")
    make_gpt2(folder)
    return folder


def _pulled(name: str) -> str:
    from attncli import registry
    from attncli.errors import ModelError

    try:
        registry.resolve(name)
    except ModelError:
        pytest.skip(f"{name} is not pulled (run: attn models pull {name}; CI pulls it)")
    return name


_MADE: dict[str, tuple[str, list[str]]] = {}


@pytest.fixture
def kind(request, tmp_path_factory) -> tuple[str, str, list[str]]:
    name = request.param
    if name not in _MADE:
        _MADE[name] = KINDS[name](tmp_path_factory)
    return (name, *_MADE[name])


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("kind", sorted(KINDS), indirect=True)
def test_every_command_on_every_kind_of_model_runs_or_refuses_in_one_line(kind, command, tmp_path):
    name, spec, extra = kind
    corpus = tmp_path / "corpus.txt"  # attn heads' texts, one a line
    corpus.write_text(f"{TEXT}\n{OTHER}\n", encoding="utf-8")
    args = [a.replace("{out}", str(tmp_path / "out")).replace("{corpus}", str(corpus)) for a in COMMANDS[command]]
    run = attn("runner", [*args, "-m", spec, *extra])
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, (name, command, run.stderr)
    if run.code == 0:
        if "--json" in args:
            doc = strict_json(run.stdout)
            validate(doc)
        elif "--html" in args:
            assert Path(args[args.index("--html") + 1]).stat().st_size > 0
        else:
            assert run.stdout.strip(), (name, command, "exit 0 with nothing on stdout")
        return
    lines = run.stderr.splitlines()
    assert run.code in (1, 2), (name, command, run.code, run.stderr)
    assert [ln for ln in lines if ln.startswith("attn: error: ")] == lines[-1:], (name, command, run.stderr)
    assert run.stdout == "" or "--json" not in args, (name, command, "a refusal wrote to stdout")
    # a refusal must be one a user can act on: only the combinations that make no sense are refused
    assert name in ENCODERS and command in ENCODER_REFUSES, (name, command, f"refused: {lines[-1]}")


# ---- attn view: every page of the side panel, through Textual's pilot -------------------------

@pytest.mark.parametrize("kind", sorted(KINDS), indirect=True)
def test_every_page_of_attn_view_on_every_kind_of_model(kind):
    from attncli.commands.common import load_model
    from attncli.tui.panels import PAGES
    from helpers.view_helpers import make_app

    name, spec, extra = kind
    max_memory = None
    if "--max-memory" in extra:
        from attncli.commands.common import parse_size

        max_memory = parse_size(extra[extra.index("--max-memory") + 1])
    model = load_model(spec, max_memory=max_memory)
    app = make_app(model, TEXT, layer=0, head=0)
    pages: list[tuple[str, str]] = []

    async def go() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            for _ in PAGES:
                await pilot.pause()
                pages.append((app.sel.section, app.panel("side")))
                await pilot.press("p")

    asyncio.run(go())
    assert [p for p, _ in pages] == list(PAGES)
    for page, shown in pages:
        assert shown.strip(), (name, page, "an empty page")
        assert "Traceback" not in shown and "Error" not in shown.split("\n", 1)[0], (name, page, shown[:300])

