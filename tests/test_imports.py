"""The package's import structure, read from the source with ``ast`` (nothing is imported):

- no import cycles between modules, nor between the top-level packages (``costmodel.latency`` ...);
- no package imports one above it in the data flow (``LAYERS``), and nothing inside imports the facade;
- the figures are drawn in ``costmodel.plots``, without pyplot.

Imports inside functions count (they are deferred, not absent); imports under ``if TYPE_CHECKING:`` do not.
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "costmodel"

# What each top-level unit of costmodel may import (besides itself), following the data flow
# spec -> graph -> ops/analysis -> hardware + latency -> report/plots -> cli, with design, bridges, calibration
# and sweep beside them. ``api`` (the facade) and ``cli`` sit on top; nothing below imports them.
# resources: where the shipped zoo and profiles are (importlib.resources); layout: text fitted to a width;
# limits: the bounds on work one input may ask for; validation: pydantic errors in the user's words;
# yamlio: the one safe, bounded YAML reader; units: the one duration formatter (s, ms, µs, ns); jsonable: the one
# conversion of results to JSON data for every --format json.
BASE = {"vocab", "errors", "fileio", "resources", "layout", "version", "limits", "validation", "yamlio", "units",
        "jsonable"}
ALLOWED: dict[str, set[str]] = {
    "vocab": set(),
    "errors": set(),
    "fileio": set(),
    "resources": set(),
    "version": set(),
    "layout": set(),
    "limits": set(),
    "units": set(),
    "jsonable": set(),
    "validation": {"errors"},
    "yamlio": {"errors", "limits"},
    "ops": {"vocab", "errors", "limits", "validation"},
    "spec": {"vocab", "errors", "resources", "limits", "validation", "yamlio"},
    "graph": BASE | {"spec", "ops"},
    "analysis": BASE | {"spec", "graph", "ops"},
    "hardware": BASE,
    "latency": BASE | {"spec", "graph", "ops", "analysis", "hardware"},
    "calibration": BASE | {"spec", "graph", "ops", "analysis", "hardware", "latency"},
    "plots": BASE | {"spec", "graph", "ops", "analysis", "hardware", "latency", "calibration"},
    "report": BASE | {"spec", "graph", "ops", "analysis", "hardware", "latency", "plots"},
    "bridges": BASE | {"spec", "graph", "ops", "analysis", "hardware", "latency"},
    "design": BASE | {"spec", "graph", "ops", "analysis", "hardware", "latency", "plots"},
    "sweep": BASE | {"spec", "graph", "ops", "analysis", "hardware", "latency", "design"},
    # the facade returns counts and latency in one result (report.result), so it sits above latency and report
    "api": BASE | {"spec", "graph", "ops", "analysis", "hardware", "latency", "report"},
    "cli": BASE | {"spec", "graph", "ops", "analysis", "hardware", "latency", "calibration", "plots", "report",
                   "bridges", "design", "sweep"},
    "__init__": {"api", "errors", "vocab", "version"},
    "__main__": {"cli"},  # python -m costmodel
}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    """Every node below ``node`` except the bodies of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for orelse in child.orelse:
                yield orelse
                yield from _walk(orelse)
            continue
        yield child
        yield from _walk(child)


def imports_of(source: str, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """The costmodel modules that the module ``name`` imports (a package import counts as its ``__init__``)."""
    here = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _walk(ast.parse(source)):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # ``from pkg import submodule`` depends on the submodule; ``from pkg import name`` on the package
            subs = [f"{stem}.{alias.name}" for alias in node.names]
            targets = [t for t in subs if t in modules] if all(t in modules for t in subs) else [stem, *subs]
        for target in targets:
            if target in modules:
                found.add(target)
    found.discard(name)
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    files = {module_name(p, package): p for p in package.rglob("*.py")}
    modules = set(files)
    return {name: imports_of(path.read_text(encoding="utf-8"), name, path.name == "__init__.py", modules)
            for name, path in files.items()}


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def cycles(graph: dict[str, set[str]]) -> list[str]:
    """One cycle (as text) if the graph has one, else []."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        return [" -> ".join(exc.args[1])]
    return []


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for module, targets in graph.items():
        out.setdefault(unit_of(module), set()).update(unit_of(t) for t in targets if unit_of(t) != unit_of(module))
    return out


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in sorted(graph.items()):
        unit = unit_of(module)
        for target in sorted(targets):
            other = unit_of(target)
            if other != unit and other not in ALLOWED.get(unit, set()):
                bad.append(f"{module} imports {target}")
    return bad


def check(package: Path = PACKAGE) -> list[str]:
    graph = import_graph(package)
    within = {m: {t for t in ts if not _is_parent(t, m)} for m, ts in graph.items()}
    return cycles(within) + cycles(package_graph(graph)) + upward_imports(graph)


def _is_parent(target: str, module: str) -> bool:
    """``costmodel.latency`` for ``costmodel.latency.model``: Python runs it first anyway; not a dependency edge."""
    return module.startswith(target + ".")


def test_import_structure() -> None:
    assert set(ALLOWED) >= {unit_of(m) for m in import_graph()}, "a new top-level module needs an entry in ALLOWED"
    assert check() == []


def third_party_imports(path: Path) -> set[str]:
    """Modules outside costmodel a file imports (outside ``if TYPE_CHECKING:``), e.g. ``matplotlib.figure``."""
    found = set()
    for node in _walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.update({node.module, *(f"{node.module}.{alias.name}" for alias in node.names)})
    return found


def test_figures_are_drawn_in_plots_without_pyplot() -> None:
    users = {str(p.relative_to(PACKAGE)): third_party_imports(p) for p in PACKAGE.rglob("*.py")}
    assert [f for f, mods in users.items() if "matplotlib.pyplot" in mods] == []
    assert sorted(f for f, mods in users.items() if any(m.split(".")[0] == "matplotlib" for m in mods)
                  and not f.startswith("plots/")) == []


# ---- the check itself can fail ----------------------------------------------------------------------------


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "costmodel"
    for path in PACKAGE.rglob("*.py"):
        dest = target / path.relative_to(PACKAGE)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return target


@pytest.mark.parametrize(("file", "line", "expected"), [
    ("ops/base.py", "from ..graph import Graph", "costmodel.ops.base imports costmodel.graph"),  # upward
    ("latency/roofline.py", "from ..api import analyze", "imports costmodel.api"),  # the facade
    ("spec/schema.py", "from .loader import load_spec", "costmodel.spec.schema"),  # a module cycle
    ("hardware/profile.py", "def f():\n    from ..latency import estimate", "imports costmodel.latency"),  # deferred
])
def test_check_catches(tmp_path: Path, file: str, line: str, expected: str) -> None:
    copy = _copy(tmp_path)
    assert check(copy) == []
    path = copy / file
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    problems = check(copy)
    assert any(expected in p for p in problems), problems


def test_type_checking_imports_do_not_count(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    path = copy / "ops/base.py"
    path.write_text(path.read_text(encoding="utf-8") + "\nif TYPE_CHECKING:\n    from ..graph import Graph\n",
                    encoding="utf-8")
    assert check(copy) == []
