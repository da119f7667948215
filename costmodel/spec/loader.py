"""Read a spec file: YAML -> :class:`Spec`, with every problem reported as a :class:`SpecError`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import SpecError
from ..resources import zoo_dir
from .schema import Spec
from .zoo import resolve_spec

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# The shipped zoo: the repository's arch_specs/, installed as the package data costmodel.zoo (costmodel.resources).
ZOO_DIR = zoo_dir()


def zoo_spec(name: str) -> Path | None:
    """The shipped spec ``arch_specs/NAME.yaml``, or None when the zoo has no such spec."""
    path = ZOO_DIR / f"{name}.yaml"
    return path if name and "/" not in name and path.is_file() else None


def location(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a spec path: ``('nodes', 3, 'repeat')`` -> ``nodes.3.repeat``."""
    return ".".join(str(part) for part in loc)


def validation_error(exc: ValidationError, file: str | None, prefix: str = "") -> SpecError:
    """The first error of a pydantic ValidationError, located (the others are listed after it)."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")  # a typo explains a "missing"
    first = errors[0]
    loc = [p for p in first["loc"] if p not in ("function-after",)]
    *path, last = loc or [""]
    message = first["msg"]
    if "input" in first and not isinstance(first["input"], dict | list):
        message += f" (got {first['input']!r})"
    if len(errors) > 1:
        message += f"; and {len(errors) - 1} more problem(s)"
    path_text = ".".join(part for part in (prefix, location(tuple(path))) if part)
    return SpecError(message, file=file, path=path_text or None, field=str(last) if last != "" else None)


def parse_spec(data: Any, file: str | None = None) -> Spec:
    """Validate already-parsed YAML data against the schema."""
    if not isinstance(data, dict):
        raise SpecError("a spec must be a YAML mapping with at least 'name', 'inputs' and 'nodes'", file=file)
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, file) from None


def load_spec(path: str | Path) -> Spec:
    """Load and validate a spec file, given by path or by zoo name (``convnext_t``; see :mod:`.zoo`)."""
    path = resolve_spec(path)
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read spec: {exc.strerror or exc}", file=file) from None
    try:
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader (C version when available)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"malformed YAML{where}: {problem}", file=file) from None
    return parse_spec(data, file)
