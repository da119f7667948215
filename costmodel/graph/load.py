"""A spec file (or a :class:`~costmodel.spec.Spec`) to an expanded :class:`~costmodel.graph.Graph` in one call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..spec import Spec, load_spec
from .build import Graph, build_graph


def load_graph(
    spec: str | Path | Spec, *, batch: int | None = None, input_shapes: Mapping[str, Sequence[int]] | None = None
) -> Graph:
    """Load (if given a path) and expand a spec; errors are :class:`~costmodel.errors.SpecError`."""
    file = None if isinstance(spec, Spec) else str(spec)
    spec_obj = spec if isinstance(spec, Spec) else load_spec(spec)
    return build_graph(spec_obj, file=file, batch=batch, input_shapes=input_shapes)
