"""The module graph of ``gutbrain``: no import cycles, and ``pl`` sits above the science.

How the graph is built (read from the source with :mod:`ast`, nothing is imported):

* a node is a module under ``src/gutbrain`` (a package is its ``__init__``);
* an edge ``A → B`` is any ``import``/``from … import`` in ``A`` — at module level *and*
  inside functions, methods, ``try`` blocks — except under ``if TYPE_CHECKING:`` (never
  executed).  Relative imports are resolved; ``from P import name`` is an edge to the
  submodule ``P.name`` when that module exists, else to ``P``.

Rules:

1. **No cycles.**  The one allowed shape is a package ``__init__`` importing its own
   descendants to re-export them (``gutbrain.tl`` → ``gutbrain.tl._da``): that edge is not a
   dependency of the package's code, so it is left out.  Importing a package ``P`` from
   outside it (``from ..pp import relative``) does depend on everything ``P.__init__``
   re-exports, so such an edge also counts as an edge to each of those modules — a cycle
   that runs through a package ``__init__`` is still found.  A function-level (lazy) import
   counts like a module-level one: it hides a cycle, it does not remove it.
2. **Layers.**  The science layers (``io pp tl ml sim kb taxonomy get datasets parallel
   testing`` and the top-level private modules ``gutbrain._*``) import none of the
   presentation / application layers ``pl report workflow web cli``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
LOWER = frozenset({"io", "pp", "tl", "ml", "sim", "kb", "taxonomy", "get", "datasets", "parallel", "testing"})
UPPER = frozenset({"pl", "report", "workflow", "web", "cli"})


# ------------------------------------------------------------------ the checker


def discover(src: Path, top: str = "gutbrain") -> dict[str, tuple[Path, bool]]:
    """``{module name: (file, is_package)}`` for every module of ``top`` under ``src``."""
    mods: dict[str, tuple[Path, bool]] = {}
    for path in sorted((src / top).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        mods[".".join(parts)] = (path, is_pkg)
    return mods


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def module_imports(name: str, path: Path, is_pkg: bool, mods: Mapping[str, object], top: str) -> set[str]:
    """Every module of ``top`` imported anywhere in one file (see the module docstring)."""
    package = name if is_pkg else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for stmt in child.orelse:
                    visit(stmt)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    origin = ".".join(base + ([child.module] if child.module else []))
                else:
                    origin = child.module or ""
                for alias in child.names:
                    sub = f"{origin}.{alias.name}"
                    found.add(sub if sub in mods else origin)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    out = set()
    for target in found:
        if target.split(".")[0] != top:
            continue
        while target not in mods and "." in target:  # ``import gutbrain.tl._da.x`` → the module
            target = target.rpartition(".")[0]
        if target in mods and target != name:
            out.add(target)
    return out


def import_graph(src: Path = SRC, top: str = "gutbrain") -> tuple[dict[str, set[str]], set[str]]:
    """``(edges, packages)`` of the package ``top`` under ``src``."""
    mods = discover(src, top)
    edges = {name: module_imports(name, path, is_pkg, mods, top) for name, (path, is_pkg) in mods.items()}
    return edges, {name for name, (_, is_pkg) in mods.items() if is_pkg}


def _inside(module: str, package: str) -> bool:
    return module.startswith(package + ".")


def dependency_graph(edges: Mapping[str, Iterable[str]], packages: Iterable[str]) -> dict[str, set[str]]:
    """Apply rule 1: drop re-export edges, expand imports of a package to what it re-exports."""
    packages = set(packages)
    reexports = {p: {m for m in edges.get(p, ()) if _inside(m, p)} for p in packages}

    def reexported(p: str, seen: set[str]) -> set[str]:
        out: set[str] = set()
        for m in reexports.get(p, ()):
            if m not in seen:
                seen.add(m)
                out.add(m)
                if m in packages:
                    out |= reexported(m, seen)
        return out

    deps: dict[str, set[str]] = {}
    for a, targets in edges.items():
        d: set[str] = set()
        for b in targets:
            if a in packages and _inside(b, a):
                continue  # the package re-exports its own child
            d.add(b)
            if b in packages:  # importing a package: its API, i.e. every module it re-exports
                d |= reexported(b, set())
        d.discard(a)
        deps[a] = d
    return deps


def find_cycles(deps: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comps: list[list[str]] = []
    counter = 0
    for root in sorted(deps):
        if root in index:
            continue
        work = [(root, iter(sorted(deps.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(deps.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        comps.append(sorted(comp))
    return sorted(comps)


def layer_violations(edges: Mapping[str, Iterable[str]], top: str = "gutbrain") -> list[str]:
    """``"A imports B"`` for every science-layer module importing a presentation layer (rule 2)."""
    def layer(m: str) -> str:
        parts = m.split(".")
        return parts[1] if len(parts) > 1 else ""

    bad = []
    for a, targets in sorted(edges.items()):
        la = layer(a)
        if la in LOWER or (la.startswith("_") and a.count(".") == 1):
            bad += [f"{a} imports {b}" for b in sorted(targets) if layer(b) in UPPER]
    return bad


# ------------------------------------------------------------------ the checker checks itself


def test_checker_finds_a_plain_and_a_lazy_cycle(tmp_path):
    pkg = tmp_path / "demo"
    (pkg / "tl").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import pl\n")
    (pkg / "tl" / "__init__.py").write_text("from ._a import f\nfrom ._b import g\n")
    (pkg / "tl" / "_a.py").write_text("from ._b import g\n")
    (pkg / "tl" / "_b.py").write_text("def g():\n    from . import _a\n    return _a\n")  # lazy: still a cycle
    (pkg / "pl.py").write_text("from .tl import f\n")
    edges, packages = import_graph(tmp_path, "demo")
    assert edges["demo"] == set()  # TYPE_CHECKING imports never run
    assert edges["demo.tl._b"] == {"demo.tl._a"}  # ``from . import _a`` is the submodule
    assert edges["demo.pl"] == {"demo.tl"}
    deps = dependency_graph(edges, packages)
    assert deps["demo.tl"] == set()  # a package re-exporting its children is not a dependency
    assert deps["demo.pl"] == {"demo.tl", "demo.tl._a", "demo.tl._b"}
    assert find_cycles(deps) == [["demo.tl._a", "demo.tl._b"]]


def test_checker_sees_a_cycle_through_a_package_init():
    edges = {"g": set(), "g.pp": {"g.pp._x"}, "g.pp._x": {"g.tl._y"},
             "g.tl": {"g.tl._y"}, "g.tl._y": {"g.pp"}}
    assert find_cycles(dependency_graph(edges, {"g", "g.pp", "g.tl"})) == [["g.pp._x", "g.tl._y"]]
    # without the way back there is no cycle, and a re-export alone is never one
    edges["g.tl._y"] = set()
    assert find_cycles(dependency_graph(edges, {"g", "g.pp", "g.tl"})) == []


def test_checker_flags_science_importing_plots():
    edges = {"g.tl._da": {"g.pl._da", "g.pp._f"}, "g._core": {"g.report"}, "g.report._s": {"g.pl"},
             "g.cli._x": {"g.workflow"}}
    assert layer_violations(edges, "g") == ["g._core imports g.report", "g.tl._da imports g.pl._da"]


# ------------------------------------------------------------------ gutbrain itself


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_graph_covers_the_package(graph):
    edges, packages = graph
    assert {"gutbrain", "gutbrain.tl", "gutbrain.pl", "gutbrain.workflow"} <= packages
    assert "gutbrain.tl._da_common" in edges["gutbrain.tl._da_methods"]
    assert "gutbrain.tl._da_methods" in edges["gutbrain.tl._da"]  # a lazy import is an edge


def test_no_import_cycles(graph):
    edges, packages = graph
    cycles = find_cycles(dependency_graph(edges, packages))
    assert not cycles, "import cycles (move the shared code into a lower module): " + "; ".join(
        " ↔ ".join(c) for c in cycles)


def test_plots_and_reports_sit_above_the_science(graph):
    edges, _ = graph
    bad = layer_violations(edges)
    assert not bad, "science layers importing pl/report/workflow/web/cli: " + "; ".join(bad)
