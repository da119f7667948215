"""Read a spec file: YAML -> :class:`Spec`, with every problem reported as a :class:`SpecError`."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SpecError, shown
from ..resources import zoo_dir
from ..validation import first_problem
from ..yamlio import YamlError, parse_yaml, read_text
from .schema import Spec
from .zoo import resolve_spec

if TYPE_CHECKING:
    from pydantic import ValidationError

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
    except Exception as exc:
        from pydantic import ValidationError  # imported by then: only the fallback to pydantic raises it

        if isinstance(exc, ValidationError):
            raise validation_error(exc, file) from None
        raise


MERGED_BY_KEY = ("metadata", "vars", "defaults", "blocks", "inputs")
"""Top-level fields a spec that ``extends:`` another merges key by key (its own keys win, new keys come last);
every other field it gives replaces the parent's."""


def read_yaml(path: str | Path) -> Any:
    """The parsed YAML of a file; a missing file or malformed YAML is a SpecError naming the file."""
    file = str(path)
    try:
        return parse_yaml(read_text(Path(path), "spec"))
    except YamlError as exc:
        raise SpecError(str(exc), file=file) from None


def merge_specs(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """``child`` over ``parent``: the fields of :data:`MERGED_BY_KEY` merged key by key, others replaced."""
    merged = {**parent, **child}
    for key in MERGED_BY_KEY:
        if isinstance(parent.get(key), dict) and isinstance(child.get(key), dict):
            merged[key] = {**parent[key], **child[key]}
    return merged


def read_spec_data(path: str | Path, chain: tuple[Path, ...] = ()) -> Any:
    """A spec file's YAML with its ``extends:`` chain applied (paths relative to the extending file)."""
    file = str(path)
    data = read_yaml(path)
    if not isinstance(data, dict) or "extends" not in data:
        return data
    base = data.pop("extends")
    if not isinstance(base, str) or not base.strip():
        raise SpecError(f"'extends' must be the path of another spec, got {base!r}", file=file, field="extends")
    here = Path(path).resolve()
    try:
        parent_path = (here.parent / base).resolve()
        found = parent_path.is_file()
    except (OSError, ValueError) as exc:  # a name too long (ENAMETOOLONG), a loop of links, a NUL (ValueError)
        reason = (exc.strerror if isinstance(exc, OSError) else None) or exc
        raise SpecError(f"no spec at {shown(base, 80)}: {reason}", file=file, field="extends") from None
    seen = (*chain, here)
    if parent_path in seen:
        cycle = " -> ".join(str(p) for p in (*seen[seen.index(parent_path):], parent_path))
        raise SpecError(f"makes a cycle: {cycle}", file=file, field="extends")
    if not found:
        raise SpecError(f"no spec at {parent_path}", file=file, field="extends")
    parent = read_spec_data(parent_path, seen)
    parse_spec(parent, str(parent_path))  # a problem of the parent is reported against the parent's file
    return merge_specs(parent, data)


def with_vars(spec: Spec, overrides: Mapping[str, Any] | None, file: str | None = None) -> Spec:
    """``spec`` with some top-level ``vars`` replaced (the --set option, ``costmodel.analyze(set=...)``).

    Each value is a number, a list or an expression string, as in the spec; it keeps the variable's place in
    the evaluation order, so variables derived from it follow. Only variables the spec defines can be set."""
    if not overrides:
        return spec
    unknown = [name for name in overrides if name not in spec.vars]
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(spec.vars), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        known = ", ".join(spec.vars) or "none"
        raise SpecError(f"cannot set {unknown[0]!r}: the spec has no such variable{hint} (vars: {known})",
                        file=file, path="vars", field=unknown[0])
    return spec.model_copy(update={"vars": {**spec.vars, **overrides}})


def load_spec(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Spec:
    """Load and validate a spec file, following ``extends:``; ``overrides`` sets top-level variables
    (``load_spec("convnext_t.yaml", overrides={"depths": [2, 2, 6, 2]})``), see :func:`with_vars`."""
    path = resolve_spec(path)
    file = str(path)
    return with_vars(parse_spec(read_spec_data(path), file), overrides, file)
