"""The analyzer in one call: spec file (or Spec) -> Analysis."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .analysis import Analysis, analyze_graph
from .graph import Graph, build_graph
from .spec import Spec, load_spec, with_vars


def load_graph(
    spec: str | Path | Spec, *, batch: int | None = None, input_shapes: Mapping[str, Sequence[int]] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Graph:
    """Load (if given a path) and expand a spec; ``overrides`` sets top-level variables (see ``with_vars``)."""
    file = None if isinstance(spec, Spec) else str(spec)
    spec_obj = with_vars(spec, overrides) if isinstance(spec, Spec) else load_spec(spec, overrides)
    return build_graph(spec_obj, file=file, batch=batch, input_shapes=input_shapes)


def analyze(
    spec: str | Path | Spec, *, batch: int | None = None, dtype: str | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None, overrides: Mapping[str, Any] | None = None,
) -> Analysis:
    """Params, MACs, FLOPs, activations and memory of a spec; see docs/conventions.md. ``overrides`` sets
    top-level variables: ``analyze("convnext_t.yaml", overrides={"depths": [2, 2, 6, 2]})``."""
    return analyze_graph(load_graph(spec, batch=batch, input_shapes=input_shapes, overrides=overrides), dtype)
