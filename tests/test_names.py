"""One name, one meaning: no public top-level name (function, class, constant, type alias) is defined in two
modules of the package. A name used in two places is imported from its one home (a re-export is an import, never
a second definition).

Exempt by rule, not by list: a function registered through a decorator call (``@register("conv2d", ...)``,
``@builds(...)``, ``@handles(...)``, ``@app.command()``) is named after the key it is registered under and is
reached only through its registry, so the op handlers of ``ops/``, the PyTorch builders and the ATen handlers may
share an op's name.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "costmodel"


def _defined(node: ast.stmt) -> list[str]:
    """The public names a top-level statement defines (not an import)."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        if any(isinstance(d, ast.Call) for d in node.decorator_list):
            return []  # a registry entry: named after its key
        names = [node.name]
    elif isinstance(node, ast.ClassDef):
        names = [node.name]
    elif isinstance(node, ast.Assign):
        names = [t.id for t in node.targets if isinstance(t, ast.Name)]
    elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        names = [node.target.id]
    else:
        return []
    return [n for n in names if not n.startswith("_")]


def definitions(root: Path) -> dict[str, list[str]]:
    """Public top-level name -> the modules (paths relative to ``root``'s parent) defining it."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            for name in _defined(node):
                found[name].append(str(path.relative_to(root.parent)))
    return found


def collisions(root: Path) -> dict[str, list[str]]:
    return {name: where for name, where in definitions(root).items() if len(where) > 1 and name != "__all__"}


def test_no_public_name_is_defined_twice() -> None:
    clash = collisions(PACKAGE)
    assert not clash, "defined in more than one module (rename one to say what it is, or import it): " + "; ".join(
        f"{name}: {', '.join(where)}" for name, where in sorted(clash.items()))


def test_the_check_catches_a_second_definition(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "a.py").write_text("def evaluate(x):\n    return x\n\nLIMIT = 1\n")
    (package / "b.py").write_text("from .a import LIMIT\n\n\ndef evaluate(text):\n    return eval(text)\n\n\n"
                                  "@register('evaluate')\ndef handler(x):\n    return x\n")
    (package / "c.py").write_text("class Unit:\n    pass\n\n\n@register('evaluate')\ndef handler(x):\n"
                                  "    return x\n\n\ndef _private():\n    pass\n")
    (package / "d.py").write_text("class Unit:\n    pass\n\n\ndef _private():\n    pass\n")
    assert collisions(package) == {"evaluate": ["pkg/a.py", "pkg/b.py"], "Unit": ["pkg/c.py", "pkg/d.py"]}
