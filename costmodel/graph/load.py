"""A spec (file path, zoo name, YAML text, dict or :class:`~costmodel.spec.Spec`) to an expanded
:class:`~costmodel.graph.Graph` in one call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import SpecError, shown
from ..spec import Spec, load_spec, parse_spec
from ..spec.zoo import resolve_spec
from ..yamlio import YamlError, parse_yaml
from .build import Graph, build_graph

SpecLike = str | Path | Mapping[str, Any] | Spec


def _is_yaml_text(text: str) -> bool:
    """A string that is a spec's YAML rather than a file or zoo name: it spans lines or maps a key."""
    return "\n" in text or text.lstrip().startswith("{") or ": " in text


def _is_file(text: str) -> bool:
    """Whether ``text`` names an existing file; False for text no file system takes as a name (too long, a NUL)."""
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False


def to_spec(spec: SpecLike, overrides: Mapping[str, Any] | None = None) -> tuple[Spec, str | None]:
    """A :class:`Spec` and the file it came from (None for a dict, YAML text or Spec), with ``overrides`` set on
    its top-level ``vars`` (the API's ``set=``, the CLI's ``--set``). Errors are :class:`SpecError`."""
    file: str | None = None
    if isinstance(spec, Spec):
        spec_obj = spec
    elif isinstance(spec, Mapping):
        spec_obj = parse_spec(dict(spec), "<dict>")
    elif isinstance(spec, str) and _is_yaml_text(spec) and not _is_file(spec):
        try:  # the one safe, bounded YAML reader, as for a spec file (duplicated keys, alias bombs, depth)
            data = parse_yaml(spec)
        except YamlError as exc:
            raise SpecError(str(exc), file="<string>") from None
        spec_obj = parse_spec(data, "<string>")
    elif isinstance(spec, str | Path):
        path = resolve_spec(spec)
        file = str(path)
        spec_obj = load_spec(path)
    else:
        raise TypeError(f"spec must be a path, a zoo name, YAML text, a dict or a Spec, not {type(spec).__name__}")
    if overrides:
        from ..spec.loader import with_vars

        spec_obj = with_vars(spec_obj, overrides, file)
    return spec_obj, file


def load_graph(
    spec: SpecLike, *, batch: int | None = None, input_shapes: Mapping[str, Sequence[int]] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Graph:
    """Load (a path, zoo name, YAML text, dict or Spec), set ``overrides`` on its vars, and expand a spec;
    errors are :class:`~costmodel.errors.SpecError`. A path or zoo name is kept, as given, as :attr:`Graph.source`."""
    spec_obj, file = to_spec(spec, overrides)
    try:
        graph = build_graph(spec_obj, file=file, batch=batch, input_shapes=input_shapes)
    except SpecError as exc:
        if batch is not None and file is not None:
            _raise_for_batch(spec_obj, str(spec), file, batch, input_shapes)
        if overrides:  # the file is fine as written: say what was set on it (--set depths=[1,1]: 'depths[index]')
            exc.message += f" (vars set: {', '.join(f'{k}={shown(v, 60)}' for k, v in overrides.items())})"
        raise
    if file is not None:  # a path or zoo name: what a batch size that does not fit names (Graph.with_batch)
        graph.source = str(spec)
    return graph


def _raise_for_batch(spec: Spec, given: str, file: str, batch: int, input_shapes: Mapping[str, Sequence[int]] | None
                     ) -> None:
    """When ``spec`` builds at its own batch size but not at ``batch``, raise the error of the batch that does not
    fit, naming the spec as the caller gave it (``resnet18``, not the zoo file it resolves to), as a --sweep-batch
    size's is (:meth:`Graph.with_batch`); else return (the caller re-raises the spec's own error)."""
    try:
        graph = build_graph(spec, file=file, input_shapes=input_shapes)
    except SpecError:
        return
    graph.source = given
    graph.with_batch(batch)
