"""Model-level latency: per-op and per-kernel rooflines, the model summary, aggregation and a batch sweep.

Times are in seconds, traffic in bytes, rates in FLOP/s; docs/latency-model.md states every assumption.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..analysis.metrics import group_by_prefix, path_prefix
from ..graph import Graph, load_graph
from ..hardware import HardwareProfile, efficiency_for, load_profile
from ..spec import Spec
from ..vocab import BYTES_PER_ELEMENT, Fusion
from .fusion import FUSION_MODES, group_layers, kernel_traffic
from .roofline import (
    bandwidth,
    check_dtype,
    efficiency_class,
    fastest_peak,
    kernel_roofline,
    launch_overhead,
    unit_for,
    usable_cache_bytes,
)

DEFAULT_FUSION = Fusion.NONE  # eager PyTorch: every op is its own kernel (see docs/latency-model.md)
STAGE_DEPTH = 2  # the by-stage breakdown sums path prefixes of this many components (``stages.2``)


@dataclass(frozen=True)
class OpLatency:
    """One op's part of the model latency (views: zeros, unit ``""``, bound ``"none"``).

    - ``kernel``: path of the first op of the kernel it runs in ("" for views).
    - ``dram_read`` / ``dram_written`` / ``cache_read``: bytes charged to this op (see fusion.py).
    - ``intensity``: FLOPs per DRAM byte charged to the op (None when it moves nothing).
    - ``ridge``: FLOP/byte at which its unit's attained rate (peak x compute efficiency) equals the
      attained bandwidth (bandwidth x memory efficiency).
    - ``compute_s`` / ``memory_s``: the op's own compute and DRAM time.
    - ``latency_s``: its share of the kernel latency (in proportion to max(compute_s, memory_s); the launch
      overhead goes to the kernel's first op). Shares sum to the model latency.
    - ``bound``: what bounds the kernel the op runs in: "compute", "memory" or "overhead".
    - ``cached``: an input of the op was served from the on-chip cache, not DRAM.
    """

    path: str
    op: str
    op_class: str
    kernel: str
    unit: str
    flops: int
    dram_read: int
    dram_written: int
    cache_read: int
    intensity: float | None
    ridge: float | None
    compute_s: float
    memory_s: float
    latency_s: float
    bound: str
    cached: bool


@dataclass(frozen=True)
class KernelLatency:
    """One kernel: its ops, FLOPs, DRAM and cache bytes, roofline times (seconds) and bound."""

    name: str
    ops: tuple[str, ...]
    flops: int
    dram_bytes: int
    cache_read: int
    compute_s: float
    memory_s: float
    overhead_s: float
    latency_s: float
    bound: str


@dataclass(frozen=True)
class ModelLatency:
    """Whole-model figures for one device, dtype, batch and fusion mode."""

    device: str  # the profile's name
    key: str  # the profile's file stem: the column key in tables, JSON and CSV
    dtype: str
    batch: int
    fusion: str
    kernels: int
    flops: int
    dram_bytes: int
    latency_s: float  # per batch
    latency_per_image_s: float
    throughput: float  # images (samples) per second
    achieved_flops: float  # FLOP/s
    ideal_s: float  # total FLOPs / peak of the fastest unit for the dtype
    efficiency: float  # computational efficiency E = ideal_s / latency_s
    memory_bound_share: float  # fraction of the latency spent in memory-bound kernels
    overhead_share: float  # fraction of the latency that is launch overhead
    by_class: dict[str, float] = field(default_factory=dict)  # op class -> seconds
    by_stage: dict[str, float] = field(default_factory=dict)  # path prefix (depth 2) -> seconds


@dataclass(frozen=True)
class LatencyResult:
    """The latency model's answer for one device: model summary, per-op rows (graph order) and kernels."""

    summary: ModelLatency
    ops: list[OpLatency]
    kernels: list[KernelLatency]

    def to_dict(self) -> dict:
        """Raw numbers, stable keys (the JSON format)."""
        return {"summary": asdict(self.summary), "ops": [asdict(o) for o in self.ops],
                "kernels": [{**asdict(k), "ops": list(k.ops)} for k in self.kernels]}


def estimate(
    graph: Graph, profile: HardwareProfile, *, dtype: str | None = None, fusion: str = DEFAULT_FUSION,
    key: str | None = None,
) -> LatencyResult:
    """Roofline latency of ``graph`` (at its batch) on ``profile``; ``dtype`` overrides the graph's.

    Raises :class:`HardwareError` if the profile lists no peak for the dtype, ``ValueError`` for an unknown
    fusion mode.
    """
    dtype = dtype or graph.dtype
    check_dtype(profile, dtype)
    bw, launch = bandwidth(profile), launch_overhead(profile)
    groups = group_layers(graph, fusion)
    traffic = kernel_traffic(graph, groups, BYTES_PER_ELEMENT[dtype], usable_cache_bytes(profile))

    op_rows: dict[str, OpLatency] = {}
    kernels: list[KernelLatency] = []
    for members, moved in zip(groups, traffic, strict=True):
        factors = [efficiency_for(profile, efficiency_class(layer.op, layer.cost.op_class.value)) for layer in members]
        memory_rate = bw * factors[0][1]  # the kernel streams as its head op
        units = [unit_for(profile, layer.cost.op_class.value, dtype) for layer in members]
        rates = [u.peak_flops * f[0] for u, f in zip(units, factors, strict=True)]
        compute = [layer.cost.flops / rate for layer, rate in zip(members, rates, strict=True)]
        memory = [t.dram_bytes / memory_rate for t in moved]
        line = kernel_roofline(sum(compute), sum(memory), launch)
        weights = [max(c, m) for c, m in zip(compute, memory, strict=True)]
        busy = line.latency_s - line.overhead_s
        for i, (layer, t) in enumerate(zip(members, moved, strict=True)):
            share = busy * weights[i] / sum(weights) if sum(weights) else 0.0
            op_rows[layer.path] = OpLatency(
                path=layer.path, op=layer.op, op_class=layer.cost.op_class.value, kernel=members[0].path,
                unit=units[i].name, flops=layer.cost.flops, dram_read=t.dram_read, dram_written=t.dram_written,
                cache_read=t.cache_read, intensity=layer.cost.flops / t.dram_bytes if t.dram_bytes else None,
                ridge=rates[i] / memory_rate, compute_s=compute[i], memory_s=memory[i],
                latency_s=share + (line.overhead_s if i == 0 else 0.0), bound=line.bound, cached=t.cache_read > 0,
            )
        kernels.append(KernelLatency(
            name=members[0].path, ops=tuple(layer.path for layer in members),
            flops=sum(layer.cost.flops for layer in members), dram_bytes=sum(t.dram_bytes for t in moved),
            cache_read=sum(t.cache_read for t in moved), compute_s=line.compute_s, memory_s=line.memory_s,
            overhead_s=line.overhead_s, latency_s=line.latency_s, bound=line.bound,
        ))

    ops = [op_rows.get(layer.path) or _view_row(layer.path, layer.op) for layer in graph.layers]
    summary = summarize(graph.batch, profile, dtype, fusion, key or profile.key, ops, kernels)
    return LatencyResult(summary, ops, kernels)


def _view_row(path: str, op: str) -> OpLatency:
    return OpLatency(path, op, "view", "", "", 0, 0, 0, 0, None, None, 0.0, 0.0, 0.0, "none", False)


def summarize(
    batch: int, profile: HardwareProfile, dtype: str, fusion: str, key: str, ops: Sequence[OpLatency],
    kernels: Sequence[KernelLatency],
) -> ModelLatency:
    """Model figures from the per-op rows and kernels of one estimate."""
    latency = sum(k.latency_s for k in kernels)
    flops = sum(k.flops for k in kernels)
    ideal = flops / fastest_peak(profile, dtype)
    by_class: dict[str, float] = {}
    by_stage: dict[str, float] = {}
    for row in ops:
        if row.kernel:
            by_class[row.op_class] = by_class.get(row.op_class, 0.0) + row.latency_s
            stage = path_prefix(row.path, STAGE_DEPTH)
            by_stage[stage] = by_stage.get(stage, 0.0) + row.latency_s

    def per(value: float) -> float:
        return value / latency if latency else 0.0

    return ModelLatency(
        device=profile.name, key=key, dtype=dtype, batch=batch, fusion=fusion, kernels=len(kernels), flops=flops,
        dram_bytes=sum(k.dram_bytes for k in kernels), latency_s=latency, latency_per_image_s=latency / batch,
        throughput=per(batch), achieved_flops=per(flops), ideal_s=ideal, efficiency=per(ideal),
        memory_bound_share=per(sum(k.latency_s for k in kernels if k.bound == "memory")),
        overhead_share=per(sum(k.overhead_s for k in kernels)), by_class=by_class, by_stage=by_stage,
    )


def aggregate_ops(ops: Sequence[OpLatency], depth: int) -> dict[str, OpLatency]:
    """Sum op rows per path prefix of ``depth`` components (the keys of ``analysis.aggregate``).

    Summed: FLOPs, bytes, times; intensity is recomputed; the bound is the one that holds for most of the
    group's latency; ``cached`` if any member read from the cache.
    """
    out = {}
    for prefix, rows in group_by_prefix(ops, depth).items():
        if len(rows) == 1:
            out[prefix] = rows[0]
            continue
        time_by_bound: dict[str, float] = {}
        for row in rows:
            time_by_bound[row.bound] = time_by_bound.get(row.bound, 0.0) + row.latency_s
        flops, read, written = (sum(getattr(r, name) for r in rows) for name in ("flops", "dram_read", "dram_written"))
        units = {r.unit for r in rows if r.unit}
        kernel = next((r.kernel for r in rows if r.kernel), "")
        out[prefix] = OpLatency(
            path=prefix, op=f"{len(rows)} layers", op_class="group", kernel=kernel,
            unit=units.pop() if len(units) == 1 else "mixed" if units else "", flops=flops, dram_read=read,
            dram_written=written, cache_read=sum(r.cache_read for r in rows),
            intensity=flops / (read + written) if read + written else None, ridge=None,
            compute_s=sum(r.compute_s for r in rows), memory_s=sum(r.memory_s for r in rows),
            latency_s=sum(r.latency_s for r in rows), bound=max(time_by_bound, key=time_by_bound.__getitem__),
            cached=any(r.cached for r in rows),
        )
    return out


def estimate_spec(
    spec: str | Path | Spec, hw: str | HardwareProfile, *, batch: int | None = None, dtype: str | None = None,
    fusion: str = DEFAULT_FUSION, input_shapes: Mapping[str, Sequence[int]] | None = None,
) -> LatencyResult:
    """Load and expand a spec, then :func:`estimate` it on ``hw`` (a profile, or its name, alias or path)."""
    profile = load_profile(hw) if isinstance(hw, str) else hw
    graph = load_graph(spec, batch=batch, input_shapes=input_shapes)
    return estimate(graph, profile, dtype=dtype, fusion=fusion)


def batch_sweep(
    graph: Graph, profile: HardwareProfile, batches: Sequence[int], *, dtype: str | None = None,
    fusion: str = DEFAULT_FUSION, key: str | None = None,
) -> list[ModelLatency]:
    """Model summaries of one network at several batch sizes: the throughput curve. The spec is expanded once
    (``graph``); each batch size re-shapes it (:meth:`Graph.with_batch`)."""
    key = key or profile.key
    return [estimate(graph.with_batch(b), profile, dtype=dtype, fusion=fusion, key=key).summary for b in batches]


__all__ = ["DEFAULT_FUSION", "FUSION_MODES", "KernelLatency", "LatencyResult", "ModelLatency", "OpLatency",
           "aggregate_ops", "batch_sweep", "estimate", "estimate_spec", "summarize"]
