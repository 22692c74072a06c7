"""Layers point one way (docs/architecture.md): every import of a thermospu module, at module
level or inside a function, is checked against the allowed directions.

    rtl.spec  <-  rtl.gateware  <-  rtl.sim
    rtl.spec  <-  driver  <-  host_kfac          rtl.gateware  <-  boards
    host_kfac.cli sits on top; nothing imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Layer -> the layers it may import (besides itself).
ALLOWED = {
    "rtl": set(),                      # the package's own __init__ (docstring only)
    "rtl.spec": set(),
    "rtl.gateware": {"rtl.spec"},
    "rtl.sim": {"rtl.spec", "rtl.gateware"},
    "driver": {"rtl.spec", "rtl.sim"},
    "boards": {"rtl.spec", "rtl.gateware", "rtl.sim"},
    "host_kfac": {"rtl.spec", "rtl.gateware", "rtl.sim", "driver", "boards"},
    "host_kfac.cli": {"rtl.spec", "rtl.gateware", "rtl.sim", "driver", "boards", "host_kfac"},
}


def layer_of(dotted: str) -> str:
    """'rtl.spec.golden' -> 'rtl.spec'; 'host_kfac.cli.demo' -> 'host_kfac.cli'."""
    return max((name for name in ALLOWED if dotted == name or dotted.startswith(name + ".")),
               key=len)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_thermospu_modules(path: Path, own: str):
    """Dotted names (without 'thermospu.') of every thermospu module ``path`` imports."""
    return _imports_of_source(path.read_text(), own, is_package=path.name == "__init__.py")


def _imports_of_source(source: str, own: str, *, is_package: bool):
    package = own if is_package else own.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                names = [".".join(base + ([node.module] if node.module else []))]
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            if name.startswith("thermospu."):
                yield name.removeprefix("thermospu.")
            elif node.__class__ is ast.ImportFrom and node.level:
                yield name


SOURCES = [p for folder in ("rtl", "driver", "host_kfac", "boards")
           for p in sorted((ROOT / folder).rglob("*.py"))]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down_the_layers(path):
    own = module_name(path)
    mine = layer_of(own)
    bad = sorted({target for target in imported_thermospu_modules(path, own)
                  if layer_of(target) != mine and layer_of(target) not in ALLOWED[mine]})
    assert not bad, f"{own} ({mine}) imports {bad}; allowed: {sorted(ALLOWED[mine]) or 'nothing'}"


def test_a_wrong_way_import_is_seen():
    """The checker itself: an upward import in a driver module is found, relative or absolute."""
    source = "from thermospu.host_kfac import train\nfrom ..host_kfac import solvers\n"
    found = list(_imports_of_source(source, "driver.fake", is_package=False))
    assert found == ["host_kfac", "host_kfac"]
    assert all(layer_of(name) not in ALLOWED["driver"] for name in found)


#: Size limits of the installed code (docs/architecture.md): a function a reader can hold in
#: mind, a module a reader can survey.
MAX_FUNCTION_LINES = 150
MAX_MODULE_LINES = 600


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_functions_and_modules_stay_small(path):
    source = path.read_text()
    assert source.count("\n") <= MAX_MODULE_LINES, f"{path.name} is over {MAX_MODULE_LINES} lines"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines in {path.name}: {long}"


def test_the_layer_table_sees_every_source_folder():
    assert len(SOURCES) > 40
    assert {layer_of(module_name(p)) for p in SOURCES} == set(ALLOWED)
