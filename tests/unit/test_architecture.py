"""The structure docs/architecture.md ("How it is built") describes, checked on the source itself.

No import cycle anywhere in src/attncli, counting imports inside functions, neither between
modules nor between the packages they live in; the causal mask is read from the trace, never
rebuilt from -inf scores; trace names come from one table; only the core reads the weights.
"""

from __future__ import annotations

import ast
from pathlib import Path

import attncli

SRC = Path(attncli.__file__).resolve().parent
PACKAGE = "attncli"


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every attncli module that `name` imports, at the top or inside a function."""
    is_package = path.name == "__init__.py"
    here = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            # `from pkg import sub` imports the submodule pkg.sub when there is one
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        found.update(t for t in targets if t == PACKAGE or t.startswith(PACKAGE + "."))
    found.discard(name)
    return found & known


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(name, path, set(mods)) for name, path in mods.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def unit(name: str) -> str:
    """The top-level part of attncli a module belongs to: attncli.render.table -> attncli.render."""
    return ".".join(name.split(".")[:2])


def test_the_graph_sees_imports_inside_functions_and_relative_ones():
    g = graph()
    assert "attncli.checkpoints.native" in g["attncli.checkpoints"]  # imported inside load()
    assert "attncli.render.json_doc" in g["attncli.commands.common"]  # `from ..render.json_doc import dump` in a function
    assert "attncli.trace" in g["attncli.model"]
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]  # the detector itself finds one


def test_no_import_cycle_between_modules():
    assert cycles(graph()) == []


def test_no_import_cycle_between_packages():
    g: dict[str, set[str]] = {}
    for name, targets in graph().items():
        # a package's own __init__ importing its modules is how packages work, not a cycle
        g.setdefault(unit(name), set()).update(unit(t) for t in targets if unit(t) != unit(name))
    assert cycles(g) == []


def test_the_mask_is_read_from_the_trace_not_rebuilt():
    offenders = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                 if "isneginf" in p.read_text(encoding="utf-8") and p.name != "trace.py"]
    assert offenders == []


def test_trace_names_come_from_one_table():
    from attncli import trace

    table = [name for name, _, _ in trace.NAMES]
    assert all(f"    {name} " in trace.__doc__ for name in table)
    assert trace.BLOCK_NAMES == tuple(n.removeprefix("blocks.{L}.") for n in table if n.startswith("blocks.{L}."))
    # the forward pass records no name outside the table
    from attncli.config import ModelConfig
    from attncli.model import forward
    from helpers.known_models import random_params

    for kw in ({}, {"causal": False, "positions": "none"}):
        config = ModelConfig(vocab_size=7, n_ctx=8, n_layer=2, n_head=2, d_model=4, **kw)
        t = forward(random_params(config), config, [1, 2, 3])
        generic = {k if not k.startswith("blocks.") else "blocks.{L}." + k.split(".", 2)[2] for k in t}
        assert generic <= set(table)


# ---- weights are read one way -------------------------------------------------------------------
# A parameter may be a float32 array or a matrix kept quantized in place (weights.py): code that indexes
# `params` itself breaks on the forms it did not expect (issue 18: --dla and patch on Gemma 3 270M). Only
# the core reads them; every analysis goes through readout.py.
READS_PARAMS = ("attncli.model", "attncli.weights", "attncli.readout", "attncli.checkpoints", "attncli.train")


def _is_params(node: ast.AST) -> bool:
    """`params` or `anything.params`, but click's `ctx.params` (a command's parsed arguments)."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ctx":
        return False
    return (isinstance(node, ast.Name) and node.id == "params") or (isinstance(node, ast.Attribute)
                                                                     and node.attr == "params")


def params_reads(source: str) -> list[int]:
    """Lines where the source reads parameters itself: indexes `params` or `x.params` (`[...]`), calls a
    method of it (`.get`, `.items`, ...), or keeps `x.params` under another name (`p = model.params`).
    Handing it on whole (`Model(config, model.params, ...)`, `block(model.params, ...)`) is not reading it."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Subscript, ast.Attribute)) and _is_params(node.value):
            lines.append(node.lineno)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
            if any(isinstance(v, ast.Attribute) and v.attr == "params" for v in values):
                lines.append(node.lineno)
    return lines


def test_the_params_check_sees_each_way_of_reading_them():
    assert params_reads("w = model.params['blocks.0.attn.W_O'].T") == [1]
    assert params_reads("b = params.get('unembed.b')") == [1]
    assert params_reads("p, c = model.params, model.config\nx = 1") == [1]
    assert params_reads("for n, w in self.model.params.items():\n    pass") == [1]
    assert params_reads("other = Model(model.config, model.params, model.tokenizer)") == []
    assert params_reads("x = block(model.params, c, L, x, at[L], rec)") == []
    assert params_reads("text = ctx.params.get('text')") == []  # click's parsed arguments, not weights


def test_only_the_core_reads_the_weights():
    def core(name: str) -> bool:
        return any(name == m or name.startswith(m + ".") for m in READS_PARAMS)

    offenders = [f"{name}:{line}" for name, path in modules().items() if not core(name)
                 for line in params_reads(path.read_text(encoding="utf-8"))]
    assert offenders == [], "read weights through attncli.readout (or weights.py), not model.params"
