"""The import structure the folder tree promises: no cycle anywhere, lower layers never import higher ones, and the
two doors (the CLI and the web) and the sweeps never reach into one another.

The graph comes from grimp, which resolves relative imports and counts every import statement, those inside
functions included (a function-level import is how a cycle hides). Python also runs every package a module sits in
when it imports that module, so an import of `a.b.c` counts as an import of `a` and `a.b` too.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import grimp
import pytest

PACKAGES = ("detector", "index", "service")

LAYERS = ("detector", "index", "service")
"""Lowest first: the pure scoring core, the registry and its search index, the application and its doors. A layer
imports only from those below it."""

DOORS = ("service.cli", "service.web")
"""How people reach the application: each parses, authorises, calls and renders, and never borrows from the other."""

LAUNCHER = frozenset({"service.web.app", "service.web.settings", "service.web.tls"})
"""What `semblance serve` (a CLI command) imports from the web door to start it: the app factory, its settings and
the self-signed certificate helper. Nothing that handles a request."""

SWEEPS = "service.sweep"


@pytest.fixture(scope="module")
def imports() -> dict[str, set[str]]:
    """Every module of the project and the project modules it imports, its packages' __init__ included."""
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    out: dict[str, set[str]] = {}
    for module in graph.modules:
        own_packages = set(_ancestors(module))
        targets: set[str] = set()
        for imported in graph.find_modules_directly_imported_by(module):
            targets.add(imported)
            targets.update(p for p in _ancestors(imported) if p not in own_packages)
        targets.discard(module)
        out[module] = targets
    return out


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_graph_holds_every_layer(imports: dict[str, set[str]]) -> None:
    for top in PACKAGES:
        assert sum(_within(m, top) for m in imports) > 3, f"grimp found almost nothing under {top}"
    assert "detector.signals" in imports["detector.fusion"], "a plain module-level import was not seen"


def test_no_import_cycle(imports: dict[str, set[str]]) -> None:
    try:
        graphlib.TopologicalSorter(imports).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_cycle_detection_sees_function_level_imports() -> None:
    """The check above would miss nothing a function-level import adds: shown on a graph with one."""
    graph = grimp.ImportGraph()
    for m in ("pkg", "pkg.a", "pkg.b"):
        graph.add_module(m)
    graph.add_import(importer="pkg.a", imported="pkg.b", line_number=1, line_contents="from pkg import b")
    graph.add_import(importer="pkg.b", imported="pkg.a", line_number=9, line_contents="    from pkg import a")
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter(edges).prepare()


def test_layers_only_import_downwards(imports: dict[str, set[str]]) -> None:
    wrong = []
    for module, targets in imports.items():
        level = next(i for i, layer in enumerate(LAYERS) if _within(module, layer))
        higher = LAYERS[level + 1 :]
        wrong += [f"{module} -> {t}" for t in targets if any(_within(t, h) for h in higher)]
    assert not wrong, "a lower layer imports a higher one:\n" + "\n".join(sorted(wrong))


def test_doors_and_sweeps_stay_apart(imports: dict[str, set[str]]) -> None:
    wrong = []
    for module, targets in imports.items():
        for t in targets:
            if _within(module, SWEEPS) and any(_within(t, d) for d in DOORS):
                wrong.append(f"{module} -> {t} (a sweep reaching into a door)")
            if _within(module, "service.web") and _within(t, "service.cli"):
                wrong.append(f"{module} -> {t} (the web door reaching into the CLI)")
            if _within(module, "service.cli") and _within(t, "service.web") and t not in LAUNCHER | {"service.web"}:
                wrong.append(f"{module} -> {t} (the CLI reaching into the web door beyond starting it)")
            if not any(_within(module, d) for d in DOORS) and any(_within(t, d) for d in DOORS):
                wrong.append(f"{module} -> {t} (the application reaching up into a door)")
    assert not wrong, "\n".join(sorted(wrong))


def test_tests_never_import_scripts() -> None:
    """Scripts are commands at the edge: a test runs one as a subprocess, never imports it (nor puts scripts/ on the
    import path), so what a test relies on lives in a package and a script stays free to change its internals."""
    tests = Path(__file__).resolve().parent
    scripts = {p.stem for p in (tests.parent / "scripts").glob("*.py")} | {"scripts"}
    wrong = []
    for path in sorted(tests.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                wrong += [f"{path.name}: imports {a.name}" for a in node.names if a.name.split(".")[0] in scripts]
            elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] in scripts:
                wrong.append(f"{path.name}: imports {node.module}")
            elif (
                isinstance(node, ast.Call)
                and ast.unparse(node.func).startswith("sys.path.")
                and "scripts" in (ast.unparse(node))
            ):
                wrong.append(f"{path.name}: puts scripts/ on sys.path")
    assert not wrong, "\n".join(wrong)
