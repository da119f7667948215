"""The analyzer in one call: spec file (or Spec) -> Analysis."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from .analysis import Analysis, analyze_graph
from .graph import Graph, build_graph
from .spec import Spec, load_spec
from .spec.zoo import resolve_spec


def load_graph(
    spec: str | Path | Spec, *, batch: int | None = None, input_shapes: Mapping[str, Sequence[int]] | None = None
) -> Graph:
    """Load (if given a path) and expand a spec."""
    file = None if isinstance(spec, Spec) else str(resolve_spec(spec))
    spec_obj = spec if isinstance(spec, Spec) else load_spec(spec)
    return build_graph(spec_obj, file=file, batch=batch, input_shapes=input_shapes)


def analyze(
    spec: str | Path | Spec, *, batch: int | None = None, dtype: str | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
) -> Analysis:
    """Params, MACs, FLOPs, activations and memory of a spec; see docs/conventions.md."""
    return analyze_graph(load_graph(spec, batch=batch, input_shapes=input_shapes), dtype)
