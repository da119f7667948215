"""The analyzer in one call: spec file (or Spec) -> Analysis. The public facade: nothing inside the package
imports it (tests/test_imports.py checks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from .analysis import Analysis, analyze_graph
from .graph import load_graph
from .spec import Spec
from .vocab import Dtype


def analyze(
    spec: str | Path | Spec, *, batch: int | None = None, dtype: Dtype | str | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
) -> Analysis:
    """Params, MACs, FLOPs, activations and memory of a spec; see docs/conventions.md."""
    return analyze_graph(load_graph(spec, batch=batch, input_shapes=input_shapes), dtype)


__all__ = ["analyze", "load_graph"]
