"""Read a spec file: YAML -> :class:`Spec`, with every problem reported as a :class:`SpecError`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import SpecError
from ..resources import zoo_dir
from ..validation import first_problem
from ..yamlio import YamlError, parse_yaml, read_text
from .schema import Spec
from .zoo import resolve_spec

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
    """The first error of a pydantic ValidationError, located in the user's words (see costmodel.validation)."""
    problem = first_problem(exc)
    path_text = ".".join(part for part in (prefix, location(problem.path)) if part)
    return SpecError(problem.message, file=file, path=path_text or None, field=problem.field)


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
        data = parse_yaml(read_text(Path(path), "spec"))
    except YamlError as exc:
        raise SpecError(str(exc), file=file) from None
    return parse_spec(data, file)
