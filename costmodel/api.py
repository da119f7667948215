"""The analyzer in one call: a spec (path, zoo name, YAML text, dict or Spec) -> counts and, per device, latency.
The public facade: nothing inside the package imports it (tests/test_imports.py checks).

``costmodel.analyze("convnext_t", hw="a100")`` returns a :class:`~costmodel.report.result.ModelResult`; see
docs/python-api.md."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .analysis import analyze_graph
from .graph import load_graph
from .graph.load import SpecLike
from .hardware import HardwareProfile, load_profile
from .latency import DEFAULT_FUSION, LatencyResult, estimate
from .report.result import ModelResult
from .vocab import Dtype, Fusion


def analyze(
    spec: SpecLike, hw: str | HardwareProfile | Sequence[str | HardwareProfile] | None = None,
    batch: int | None = None, dtype: Dtype | str | None = None, fusion: Fusion | str | None = None,
    inputs: Mapping[str, Sequence[int]] | None = None, set: Mapping[str, Any] | None = None,  # noqa: A002
    *, input_shapes: Mapping[str, Sequence[int]] | None = None,
) -> ModelResult:
    """Params, MACs, FLOPs, activations and memory of ``spec`` (docs/conventions.md) and, for each profile in
    ``hw`` (key, alias, YAML path or HardwareProfile; one or a list), the roofline latency.

    ``batch``: default the spec's (1 in the zoo); ``dtype``: default the spec's; ``fusion``: kernel fusion for the
    latency (default none: eager PyTorch); ``inputs``: per-sample input shapes, ``{"image": [3, 256, 256]}``;
    ``set``: values for the spec's top-level vars, ``{"depths": [2, 2, 6, 2]}``. ``input_shapes`` is the old name
    of ``inputs``."""
    graph = load_graph(spec, batch=batch, input_shapes=inputs or input_shapes, overrides=set)
    analysis = analyze_graph(graph, dtype)
    devices = [] if hw is None else [hw] if isinstance(hw, str | HardwareProfile) else list(hw)
    latency: dict[str, LatencyResult] = {}
    for device in devices:
        profile = load_profile(device) if isinstance(device, str) else device
        if profile.key not in latency:
            latency[profile.key] = estimate(graph, profile, dtype=analysis.dtype, fusion=fusion or DEFAULT_FUSION,
                                            key=profile.key)
    return ModelResult(analysis, latency)


__all__ = ["analyze", "load_graph"]
