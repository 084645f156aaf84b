"""The docs' generated parts, written at build time from the code itself, never copied by hand.

mkdocs.yml names this file under `hooks:`; MkDocs then calls `on_page_markdown` for every page, and
each line `<!-- generated: NAME -->` in a page is replaced by GENERATORS[NAME]():

- `cli`: every command of the Typer app (`attncli.cli.app`, walked as the click commands Typer builds),
  its usage, help, arguments and options with their defaults;
- `trace`: the trace names, from `attncli.trace.NAMES`;
- `schema`: each `--json` document's fields, from `src/attncli/schemas/output.schema.json`;
- `results`: each file in `benchmarks/results/`, with the command, machine, load and versions it records;
- `changelog`: CHANGELOG.md at the root of the repository.

Each generator is a plain function returning Markdown, so tests can call it too
(tests/cli/test_docs.py). Run as a script it prints one: `python docs/hooks.py cli`.
"""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "src" / "attncli" / "schemas" / "output.schema.json"
RESULTS = ROOT / "benchmarks" / "results"
MARK = re.compile(r"^<!-- generated: ([a-z]+) -->$", re.MULTILINE)


def cell(text: Any) -> str:
    """Text as one Markdown table cell, shown as written: no markup, no HTML, no column break."""
    out = html.escape(" ".join(str(text).split()), quote=False)
    out = re.sub(r"([\\`*_\[\]{}#+!|])", r"\\\1", out)
    return out or " "


def code(text: str) -> str:
    """Inline code that holds any text (a backtick inside gets a longer fence)."""
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}" if text else ""


# ---------------------------------------------------------------------------------------------- cli


def commands() -> list[tuple[str, Any, Any]]:
    """(the command line that runs it, the click command, its context) for the app and every command in it,
    groups before their commands, in the app's help order."""
    import typer

    from attncli import cli

    root = typer.main.get_command(cli.app)
    out: list[tuple[str, Any, Any]] = []

    def walk(cmd: Any, path: str, parent: Any) -> None:
        ctx = cmd.context_class(cmd, info_name=path.rsplit(" ", 1)[-1], parent=parent)
        out.append((path, cmd, ctx))
        for name, sub in getattr(cmd, "commands", {}).items():
            if not getattr(sub, "hidden", False):
                walk(sub, f"{path} {name}", ctx)

    walk(root, "attn", None)
    return out


def _type_name(t: Any) -> str:
    low, high = getattr(t, "min", None), getattr(t, "max", None)
    names = {"int range": "integer", "int": "integer", "float range": "number", "float": "number", "str": "text"}
    base = names.get(t.name, t.name)
    bounds = [f">= {low}" if low is not None else "", f"<= {high}" if high is not None else ""]
    return " ".join([base, *[b for b in bounds if b]])


def _unrich(text: str) -> str:
    """Help text as printed: Typer's Rich markup escapes a bracket as \\[."""
    return text.replace("\\[", "[")


def param_row(p: Any, ctx: Any) -> str:
    if p.param_type_name == "argument":
        name = code(p.human_readable_name)
        kind = "argument" + ("" if p.required else ", optional")
    else:
        name = ", ".join(code(o) for o in [*p.opts, *p.secondary_opts])
        kind = "flag" if p.is_flag else p.metavar or _type_name(p.type)
    default = p.default
    shown = "" if default is None or callable(default) or default is False or p.required else code(str(default))
    return f"| {name} | {cell(kind)} | {shown} | {cell(_unrich(getattr(p, 'help', None) or ''))} |"


def cli_markdown() -> str:
    parts = []
    for path, cmd, ctx in commands():
        depth = path.count(" ")
        heading = "#" * (3 + depth)  # under the page's "Every command and option"
        usage = " ".join([path, *cmd.collect_usage_pieces(ctx)])
        parts.append(f"{heading} `{path}`\n")
        parts.append(f"```\n{usage}\n```\n")
        help_text = _unrich(cmd.help or "").strip()
        if help_text:
            parts.extend(p.strip() + "\n" for p in help_text.split("\n\n") if p.strip())
        subs = [n for n, c in getattr(cmd, "commands", {}).items() if not getattr(c, "hidden", False)]
        if subs:
            parts.append("Commands: " + ", ".join(f"`{path} {n}`" for n in subs) + ".\n")
        rows = [param_row(p, ctx) for p in cmd.params if not getattr(p, "hidden", False)]
        rows.append("| `-h`, `--help` | flag | | Show the help and exit. |")
        parts.append("| argument or option | takes | default | meaning |\n|---|---|---|---|\n" + "\n".join(rows) + "\n")
    return "\n".join(parts)


# -------------------------------------------------------------------------------------------- trace


def trace_markdown() -> str:
    from attncli.trace import NAMES

    rows = [f"| {code(name.replace('{L}', 'L'))} | [{', '.join(shape)}] | {cell(what)} |"
            for name, shape, what in NAMES]
    return "| name | shape | what |\n|---|---|---|\n" + "\n".join(rows) + "\n"


# ------------------------------------------------------------------------------------------- schema


def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA.read_text(encoding="utf-8"))


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _type_of(node: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in node:
        name = _ref_name(node["$ref"])
        target = defs[name]
        if name in SHARED:
            return f"[{name}](#def-{name})"
        return _type_of(target, defs)
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return " or ".join(json.dumps(v) for v in node["enum"])
    for key in ("oneOf", "anyOf"):
        if key in node:
            return " or ".join(_type_of(n, defs) for n in node[key])
    kind = node.get("type", "any")
    kinds = kind if isinstance(kind, list) else [kind]
    words = []
    for k in kinds:
        if k == "array" and "items" in node:
            words.append(f"array of {_type_of(node['items'], defs)}")
        else:
            words.append(k)
    return " or ".join(words)


def _type_cell(text: str) -> str:
    """A type as a cell, its links to the shared definitions kept as links."""
    return cell(text).replace("\\[", "[").replace("\\]", "]").replace("(\\#", "(#")


def _description(node: dict[str, Any], defs: dict[str, Any]) -> str:
    if "description" in node:
        return str(node["description"])
    if "$ref" in node:
        return str(defs[_ref_name(node["$ref"])].get("description", ""))
    return ""


def _fields(node: dict[str, Any], defs: dict[str, Any], prefix: str, rows: list[str], depth: int = 0) -> None:
    """A row per property of an object node (its allOf parts merged), nested objects and arrays of objects
    under their dotted names; a shared definition is linked, not repeated."""
    props: dict[str, Any] = {}
    required: set[str] = set()
    for part in [*(defs[_ref_name(a["$ref"])] if "$ref" in a else a for a in node.get("allOf", [])), node]:
        props.update(part.get("properties", {}))
        required.update(part.get("required", []))
    for name, sub in props.items():
        path = f"{prefix}{name}"
        shown = sub
        if "$ref" in sub and _ref_name(sub["$ref"]) not in SHARED:
            shown = defs[_ref_name(sub["$ref"])]
        rows.append(f"| {code(path)} | {_type_cell(_type_of(sub, defs))} | {'yes' if name in required else ''} "
                    f"| {cell(_description(sub, defs))} |")
        if depth < 4:
            nested = _object_part(shown, defs)
            if nested is not None:
                inner, suffix = nested
                _fields(inner, defs, f"{path}{suffix}.", rows, depth + 1)


def _object_part(node: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """The object inside a node to list fields of (itself, or its array's items), and the suffix its
    fields' names get ("" or "[]"); None for a leaf or a shared definition."""
    if "$ref" in node:
        return None
    if "properties" in node or "allOf" in node:
        return node, ""
    items = node.get("items")
    if isinstance(items, dict):
        inner = _object_part(items, defs)
        if inner is not None:
            return inner[0], "[]" + inner[1]
    return None


SHARED = ("model", "token", "tokens", "prediction", "predictions", "masks", "matrix", "row", "vector", "vectors",
          "count", "head_index", "compare_side")


def _table(node: dict[str, Any], defs: dict[str, Any]) -> str:
    rows: list[str] = []
    _fields(node, defs, "", rows)
    return "| field | type | required | what |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"


def schema_markdown() -> str:
    s = _schema()
    defs = s["$defs"]
    intro = (f"Every document (`{SCHEMA.relative_to(ROOT)}`, JSON Schema {s['$schema'].split('/')[-2]}): "
             f"{cell(s.get('description', ''))}\n")
    parts = [intro, "### The envelope\n", _table(s, defs)]
    by_command: dict[str, str] = {}
    for rule in s.get("allOf", []):
        cond = rule.get("if", {}).get("properties", {}).get("command", {})
        ref = rule.get("then", {}).get("$ref")
        if "const" in cond and ref:
            by_command[cond["const"]] = _ref_name(ref)
    for command in s["properties"]["command"]["enum"]:
        name = by_command.get(command)
        parts.append(f"### `{command}`\n")
        if name is None:
            parts.append("The envelope only.\n")
            continue
        node = defs[name]
        if node.get("description"):
            parts.append(cell(node["description"]) + "\n")
        parts.append(_table(node, defs))
    parts.append("### Shared definitions\n")
    for name in SHARED:
        node = defs[name]
        parts.append(f"#### {name} {{#def-{name}}}\n")
        what = _description(node, defs)
        parts.append(f"{_type_cell(_type_of({k: v for k, v in node.items() if k != 'description'}, defs))}"
                     f"{': ' + cell(what) if what else ''}\n")
        inner = _object_part(node, defs)
        if inner is not None:
            rows: list[str] = []
            _fields(inner[0], defs, inner[1] + "." if inner[1] else "", rows)
            parts.append("| field | type | required | what |\n|---|---|---|---|\n" + "\n".join(rows) + "\n")
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------ results


def _figures(figures: Any, prefix: str = "", out: list[tuple[str, Any]] | None = None) -> list[tuple[str, Any]]:
    """The scalar figures of a results file, by dotted path (lists of numbers left out: they are the runs
    a median was taken of)."""
    out = [] if out is None else out
    if isinstance(figures, dict):
        for k, v in figures.items():
            _figures(v, f"{prefix}{k}.", out)
    elif isinstance(figures, list):
        if figures and all(isinstance(v, dict) for v in figures):
            for i, v in enumerate(figures):
                _figures(v, f"{prefix}{i}.", out)
    else:
        out.append((prefix.rstrip("."), figures))
    return out


def _number(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def results_markdown() -> str:
    parts = []
    for path in sorted(RESULTS.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        m = doc.get("machine", {})
        load = m.get("load_average", [None])[0]
        end = (doc.get("load_average_end") or [None])[0]
        script = doc.get("benchmark", path.stem).split("_")[0]
        script = next((s.name for s in sorted((ROOT / "benchmarks").glob("*.py"))
                       if doc.get("benchmark", "").startswith(s.stem)), f"{script}.py")
        argv = " ".join(str(a) for a in doc.get("argv", []))
        parts.append(f"### `benchmarks/results/{path.name}`\n")
        parts.append(f"`python benchmarks/{script} {argv}`".replace(" `", "`") + "\n")
        versions = ", ".join(f"{k} {v}" for k, v in doc.get("versions", {}).items())
        parts.append(f"Machine: {cell(m.get('cpu', '?'))}, {m.get('cores', '?')} cores, {m.get('machine', '')}, "
                     f"kernel {cell(m.get('kernel', '?'))}, Python {m.get('python', '?')}; load average (1 minute) "
                     f"{_number(load)} at the start, {_number(end)} at the end. Versions: {cell(versions)}.\n")
        figures = _figures(doc.get("figures", {}))
        shown = figures[:60]
        rows = "\n".join(f"| {code(k)} | {cell(_number(v))} |" for k, v in shown)
        more = f"\n\n… and {len(figures) - len(shown)} more in the file." if len(figures) > len(shown) else ""
        table = "| figure | value |\n|---|---|\n" + rows + more
        indented = "\n".join("    " + line for line in table.split("\n"))
        parts.append(f'??? note "the figures it holds"\n\n{indented}\n')
    return "\n".join(parts) if parts else "No results are recorded yet.\n"


# ---------------------------------------------------------------------------------------- changelog


def changelog_markdown() -> str:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    return text[text.index("\n## "):] if "\n## " in text else text  # the page has its own title and intro


GENERATORS = {"cli": cli_markdown, "trace": trace_markdown, "schema": schema_markdown, "results": results_markdown,
              "changelog": changelog_markdown}


def on_page_markdown(markdown: str, page: Any = None, config: Any = None, files: Any = None) -> str:
    def fill(m: re.Match[str]) -> str:
        if m.group(1) not in GENERATORS:
            raise ValueError(f"{getattr(page, 'file', page)}: no generator named {m.group(1)!r}")
        return GENERATORS[m.group(1)]()

    return MARK.sub(fill, markdown)


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in GENERATORS:
        sys.exit(f"usage: python docs/hooks.py {'|'.join(GENERATORS)}")
    print(GENERATORS[sys.argv[1]]())
