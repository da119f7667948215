"""The fast paths of validation give what pydantic gives: op attributes (``Attrs.validated``) and specs
(``Spec.model_validate``) are checked without pydantic when every value is one pydantic keeps as it is, and through
their pydantic models otherwise; here both are run on the same inputs (edge values, every zoo spec, mutations of
them) and must agree on every value, its type, and every error. The CLI's plain count imports no pydantic."""

from __future__ import annotations

import copy
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from costmodel.ops import REGISTRY
from costmodel.spec.loader import read_spec_data
from costmodel.spec.schema import Spec

ROOT = Path(__file__).resolve().parents[1]
VALUES: list[Any] = [0, 1, 2, -1, 3.0, 0.5, -0.5, float("inf"), float("nan"), True, False, None, "same", "valid",
                     "none", "tanh", "x", "3", [1, 2], [0, 1], [1.0], (1, 2), [[1]], [[1, 2], [3]], [], ["a"],
                     "nearest", 2**60, 1e300, {"a": 1}, "abs", "tokens", 7, -3, [1, -1], ["a", "b"]]


def _outcome(validate: Any, data: Any) -> tuple[str, Any]:
    try:
        result = validate(data)
    except ValidationError as exc:
        return "error", repr(exc.errors(include_url=False))
    values = result if isinstance(result, dict) else {k: getattr(result, k) for k in type(result).model_fields}
    return "ok", [(k, type(v).__name__, repr(v)) for k, v in values.items()]


@pytest.mark.parametrize("name", sorted({op.name for op in REGISTRY.values()}))
def test_op_attributes_validate_as_pydantic_does(name: str) -> None:
    attrs = REGISTRY[name].attrs
    model = attrs.pydantic_model()
    required: dict[str, Any] = {}
    for field, info in model.model_fields.items():  # a valid value for each required field
        if info.is_required():
            for candidate in (1, [1], "abs", ["a"], [[1]], 0.5, "x"):
                if _outcome(model.model_validate, {**required, field: candidate})[0] == "ok" or \
                        field not in str(_outcome(model.model_validate, {**required, field: candidate})[1]):
                    required[field] = candidate
                    break
    for field in [*model.model_fields, "elementwise_affine", "unknown"]:
        for value in VALUES:
            data = {**required, field: value}
            assert _outcome(attrs.validated, data) == _outcome(model.model_validate, data), (field, value)


def _mutations(data: dict[str, Any], count: int, seed: int) -> list[dict[str, Any]]:
    """``data`` with one value replaced (or one key deleted) per mutation."""
    rng = random.Random(seed)
    paths: list[tuple[Any, ...]] = []

    def walk(item: Any, path: tuple[Any, ...]) -> None:
        if isinstance(item, dict):
            for key, value in item.items():
                paths.append((*path, key))
                walk(value, (*path, key))
        elif isinstance(item, list):
            for index, value in enumerate(item[:3]):
                paths.append((*path, index))
                walk(value, (*path, index))

    walk(data, ())
    odd = [None, 0, 1, -1, 1.5, True, "x", "", "a:b", ".a", [], [1], ["x"], {}, {"a": 1}, {1: 2}, (1,), "fp16", 96]
    out = []
    for _ in range(count):
        mutated = copy.deepcopy(data)
        path = rng.choice(paths)
        target = mutated
        for key in path[:-1]:
            target = target[key]
        if rng.random() < 0.15 and isinstance(target, dict):
            del target[path[-1]]
        else:
            target[path[-1]] = copy.deepcopy(rng.choice(odd))
        out.append(mutated)
    return out


def _spec_outcome(validate: Any, data: Any) -> tuple[str, Any]:
    try:
        spec = validate(data)
    except ValidationError as exc:
        return "error", repr(exc.errors(include_url=False))
    if isinstance(spec, Spec):
        spec = spec._to_pydantic()
    return "ok", repr(spec.model_dump()), repr(spec.model_dump(mode="json", exclude_none=True))


@pytest.mark.parametrize("path", sorted((ROOT / "arch_specs").glob("*.yaml"))[::3], ids=lambda p: p.stem)
def test_specs_validate_as_pydantic_does(path: Path) -> None:
    data = read_spec_data(path)
    model = Spec.pydantic_model()
    for case in [data, *_mutations(data, 40, seed=len(path.stem))]:
        assert _spec_outcome(Spec.model_validate, case) == _spec_outcome(model.model_validate, case)


def test_fast_path_takes_the_zoo_and_the_cli_count_imports_no_pydantic() -> None:
    """Every zoo spec validates on the fast path (its ops' attributes too), and ``costmodel analyze`` of one
    imports no pydantic (typer's own coercion of parameters is built only for given values it cannot take)."""
    code = ("import sys, glob; from costmodel.graph import load_graph\n"
            "for f in sorted(glob.glob('arch_specs/*.yaml')): load_graph(f)\n"
            "print('pydantic' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert proc.stdout.strip() == "False"
    code = ("import atexit, sys; atexit.register(lambda: print('pydantic' in sys.modules, file=sys.stderr)); "
            "sys.argv = ['costmodel', 'analyze', 'arch_specs/convnext_t.yaml', '--format', 'json']; "
            "from costmodel.cli import main; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert proc.stderr.strip() == "False"
