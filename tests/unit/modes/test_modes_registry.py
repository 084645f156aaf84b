"""Each explain mode is one module that declares every part of the contract (modes/base.py), and
`attn explain`'s options are exactly COMMON plus what the registry declares: nothing listed twice."""

from __future__ import annotations

import dataclasses
import inspect
import pkgutil
import typing
from pathlib import Path
from typing import Any

import pytest
import typer.main

from attncli import modes
from attncli.cli import build_app
from attncli.commands import explain as explain_command
from attncli.modes.base import Mode, Option, Page

HELPERS = {"base", "shared"}  # modules of modes/ that are not modes
MODULES = sorted(m.name for m in pkgutil.iter_modules([str(Path(modes.__file__).parent)]) if m.name not in HELPERS)


def problems(module_name: str) -> list[str]:
    """What a mode module lacks of the contract; [] when it declares every part."""
    import importlib

    module = importlib.import_module(f"attncli.modes.{module_name}")
    out = []
    if not (module.__doc__ or "").strip():
        out.append("no module docstring saying what the mode shows")
    mode = getattr(module, "MODE", None)
    if not isinstance(mode, Mode):
        return out + ["no MODE = Mode(...)"]
    if mode.name != module_name:
        out.append(f"MODE.name {mode.name!r} is not the module's name")
    if not (dataclasses.is_dataclass(mode.result) and isinstance(mode.result, type)):
        out.append("its result is not a dataclass")
    hints = typing.get_type_hints(mode.run, vars(module))
    if hints.get("return") is not mode.result:
        out.append(f"run() is not annotated to return {getattr(mode.result, '__name__', mode.result)}")
    for part, n in (("run", 1), ("rich", 3), ("json", 2)):
        fn = getattr(mode, part)
        required = [p for p in inspect.signature(fn).parameters.values() if p.default is inspect.Parameter.empty]
        if not callable(fn) or len(required) != n:
            out.append(f"{part} does not take {n} argument(s)")
    if mode.flag is None and mode.name != "table" and (mode.called is None or mode.chosen is None):
        out.append("no flag, and no `called`/`chosen` saying how it is picked")
    if mode.flag is not None and (mode.flag.type is not bool or mode.flag.default is not False):
        out.append("its flag is not a bool option that is off by default")
    if not all(isinstance(o, Option) and o.help and o.flag.startswith("--") for o in mode.options):
        out.append("an option that is not an Option with a flag and help")
    if mode.page is not None and not (isinstance(mode.page, Page) and callable(mode.page.draw)):
        out.append("a page that is not a Page")
    return out


@pytest.mark.parametrize("name", MODULES)
def test_every_mode_module_declares_each_part(name: str) -> None:
    assert problems(name) == []


def test_every_mode_module_is_registered_once() -> None:
    assert sorted(modes.NAMES) == MODULES
    assert len(set(modes.NAMES)) == len(modes.NAMES)


def test_a_module_without_a_part_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: take parts away from a real mode and it names each."""
    from attncli.modes import rollout

    monkeypatch.setattr(rollout, "MODE", dataclasses.replace(rollout.MODE, result=dict, flag=None))
    found = problems("rollout")
    assert any("not a dataclass" in p for p in found) and any("how it is picked" in p for p in found)
    monkeypatch.delattr(rollout, "MODE")
    assert problems("rollout") == ["no MODE = Mode(...)"]


def explain_params() -> dict[str, Any]:
    """explain's click parameters by name (Typer may vendor click, so they are not typed here)."""
    command: Any = typer.main.get_command(build_app("explain"))
    return {p.name: p for p in command.commands["explain"].params if p.name}


def test_explain_options_are_common_plus_the_registrys() -> None:
    params = explain_params()
    declared = {o.name: o for o in modes.options()}
    common = {name for _, name, _, _ in explain_command.COMMON}
    assert set(params) == common | set(declared)
    assert not common & set(declared)
    for name, o in declared.items():
        assert sorted(params[name].opts + params[name].secondary_opts) == sorted(o.decls), name
        assert params[name].default == o.default, name
        assert params[name].help == o.help, name


def test_explain_help_lists_options_in_declared_order() -> None:
    order = {name: n for n, name, _, _ in explain_command.COMMON} | {o.name: o.order for o in modes.options()}
    names = list(explain_params())
    assert names == sorted(names, key=order.__getitem__)
    assert len(set(order.values())) == len(order)  # no two options claim one place


def test_an_option_is_declared_once() -> None:
    """Two modes that take --token take the same Option, not two copies that could drift."""
    seen: dict[str, Option] = {}
    for m in modes.MODES.values():
        for o in (m.flag, *m.options):
            if o is not None:
                assert seen.setdefault(o.name, o) is o, o.name


def test_the_views_pages_are_the_registrys() -> None:
    """attn view's side panel keeps no list of its own: its pages are the modes' pages, in tab order."""
    from attncli.tui import panels
    from attncli.tui.explorer import SECTIONS

    registered = [m.page for m in modes.MODES.values() if m.page is not None]
    in_order = sorted(registered, key=lambda p: p.order)
    assert list(SECTIONS) == [p.name for p in in_order]
    assert list(panels.PAGES.values()) == in_order
    assert len({p.name for p in registered}) == len({p.order for p in registered}) == len(registered)
