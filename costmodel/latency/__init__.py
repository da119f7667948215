"""Roofline latency model: per-op compute and memory time on a hardware profile, fusion, model figures.

See docs/latency-model.md. Entry points: :func:`estimate` (an expanded graph and a profile) and
:func:`estimate_spec` (a spec file and a profile name); both return a :class:`LatencyResult`.
"""

from .fusion import EPILOGUE_CLASSES, FUSION_MODES, OpTraffic, group_layers, kernel_traffic
from .model import (
    DEFAULT_FUSION,
    KernelLatency,
    KernelTerms,
    LatencyResult,
    ModelLatency,
    OpLatency,
    aggregate_ops,
    batch_sweep,
    estimate,
    estimate_spec,
    kernel_terms,
    price_kernel,
    summarize,
)
from .precision import DEFAULT_PRECISION, PRECISIONS, Precision, check_precision, plan
from .roofline import (
    Roofline,
    UnitPeak,
    check_dtype,
    efficiency_class,
    fastest_peak,
    host_overhead,
    kernel_roofline,
    timeline,
    unit_for,
    usable_cache_bytes,
)

__all__ = [
    "DEFAULT_PRECISION",
    "KernelTerms",
    "PRECISIONS",
    "Precision",
    "check_precision",
    "host_overhead",
    "kernel_terms",
    "plan",
    "price_kernel",
    "timeline",
    "DEFAULT_FUSION",
    "EPILOGUE_CLASSES",
    "FUSION_MODES",
    "KernelLatency",
    "LatencyResult",
    "ModelLatency",
    "OpLatency",
    "OpTraffic",
    "Roofline",
    "UnitPeak",
    "aggregate_ops",
    "batch_sweep",
    "check_dtype",
    "efficiency_class",
    "estimate",
    "estimate_spec",
    "fastest_peak",
    "group_layers",
    "kernel_traffic",
    "kernel_roofline",
    "summarize",
    "unit_for",
    "usable_cache_bytes",
]
