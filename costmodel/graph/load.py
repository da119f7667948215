"""A spec file (or a :class:`~costmodel.spec.Spec`) to an expanded :class:`~costmodel.graph.Graph` in one call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..spec import Spec, load_spec, with_vars
from .build import Graph, build_graph


def load_graph(
    spec: str | Path | Spec, *, batch: int | None = None, input_shapes: Mapping[str, Sequence[int]] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Graph:
    """Load (if given a path) and expand a spec; ``overrides`` sets top-level variables (see
    :func:`~costmodel.spec.with_vars`); errors are :class:`~costmodel.errors.SpecError`."""
    file = None if isinstance(spec, Spec) else str(spec)
    spec_obj = with_vars(spec, overrides) if isinstance(spec, Spec) else load_spec(spec, overrides)
    return build_graph(spec_obj, file=file, batch=batch, input_shapes=input_shapes)
