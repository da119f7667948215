"""Calibration: fit a profile's efficiency factors and launch overhead to measured latencies.

The roofline model (costmodel.latency) predicts a kernel's latency as max(compute, memory) + overhead, where
compute = sum over its ops of FLOPs / (peak x compute efficiency of the op's class) and memory = DRAM bytes /
(bandwidth x memory efficiency of its head op's class). Which unit, which bytes and which cache hits do not
depend on the factors, so one estimate at unit efficiency and zero overhead gives each kernel's terms
(:class:`Basis`), and any set of factors re-prices them in microseconds. ``Basis.latency`` is checked against
:func:`costmodel.latency.estimate` in the tests.

Parameters (:data:`PARAMETERS`): compute efficiency of dense convs, of linear/matmul, of depthwise convs,
of fused attention; one factor for streaming kernels (elementwise, norm, reduction, data movement: compute
and memory alike); the memory efficiency of the other kernels; the launch overhead. On a GPU profile that gives
its SM count, :data:`GPU_PARAMETERS` instead: the device's compute and memory efficiencies and the depthwise
convs' memory efficiency (:func:`parameters_for`). On a CPU profile, :data:`CPU_SCALES` instead: time multipliers of the
whole device, of its compute, of its memory traffic and of the costs the roofline leaves out (per-call dispatch,
fork/join, views, page faults, per-element op costs), written onto the profile's peaks and clock, bandwidth and
cost figures (:func:`scaled_profile`). Efficiencies are bounded to [0.02, 1], the overhead to >= 0, the scales to
[0.1, 10]. Objective: least squares on log(predicted / measured latency) per
measured row, plus ``prior_weight x log(value / base value)`` per efficiency (``prior_weight x (overhead -
base) / max(base, 1 us)`` for the overhead; none for the device scale), which keeps weakly determined factors near
the base profile; on a CPU the default weight is :data:`CPU_PRIOR_WEIGHT`.
A parameter whose ops take under ``MIN_SHARE`` of the predicted latency is not fitted (it keeps the base
value). See docs/calibration.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, NamedTuple, TypeAlias, TypeVar

import numpy as np
import yaml

from ..graph import Graph
from ..hardware import HardwareProfile, OpEfficiency, efficiency_for
from ..hardware.profile import Calibration, FittedParameter, ParallelFigures
from ..latency import DEFAULT_PRECISION, Precision, kernel_terms
from ..latency.layout import LAYOUT_KEY
from ..latency.roofline import host_overhead, launch_overhead, timeline, unit_for
from ..vocab import DEFAULT_CARRY, Carry, EfficiencyClass, Fusion, OpClass
from .defaults import CPU_PRIOR_WEIGHT, DEFAULT_PRIOR_WEIGHT
from .measurements import Matched

EFFICIENCY_BOUNDS = (0.02, 1.0)
SCALE_BOUNDS = (0.1, 10.0)  # a CPU fit's time multipliers
MIN_SHARE = 0.01  # a parameter governing less than this share of the predicted latency is not fitted
HUBER_SCALE = 0.1  # log ratio beyond which a robust loss counts a row linearly
LeastSquaresLoss = Literal["linear", "soft_l1", "huber", "cauchy", "arctan"]  # scipy.optimize.least_squares' losses
COLLINEAR = 0.95  # two parameters moving the rows' latencies this alike (|cosine|) cannot be told apart
KEYS: tuple[EfficiencyClass, ...] = tuple(EfficiencyClass)  # efficiency keys: the op classes and "conv"
STREAM_KEYS = (EfficiencyClass.ELEMENTWISE, EfficiencyClass.NORM, EfficiencyClass.REDUCTION,
               EfficiencyClass.DATA_MOVEMENT)
OVERHEAD = "overhead"
LAYOUT_INDEX = KEYS.index(LAYOUT_KEY)  # layout transposes stream at the data-movement memory efficiency


@dataclass(frozen=True)
class Parameter:
    """A fitted factor: which efficiency keys it sets, and whether compute, memory or both."""

    name: str
    keys: tuple[EfficiencyClass, ...]
    compute: bool
    memory: bool
    doc: str


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("conv", (EfficiencyClass.CONV,), True, False, "compute efficiency of dense and grouped convs"),
    Parameter("gemm", (EfficiencyClass.GEMM,), True, False, "compute efficiency of linear and matmul"),
    Parameter("depthwise", (EfficiencyClass.DEPTHWISE,), True, False, "compute efficiency of depthwise convs"),
    Parameter("attention", (EfficiencyClass.ATTENTION,), True, False, "compute efficiency of fused attention"),
    Parameter("stream", STREAM_KEYS, True, True, "efficiency (compute and memory) of elementwise/norm/reduction/"
                                                 "data-movement kernels"),
    Parameter("memory", (EfficiencyClass.CONV, EfficiencyClass.GEMM, EfficiencyClass.DEPTHWISE,
                         EfficiencyClass.ATTENTION), False, True,
              "memory efficiency of conv, GEMM, depthwise and attention kernels"),
)
# On a GPU profile (one that gives ``gpu.sms``): the model prices each GEMM's and conv's shape itself (tile and wave
# quantization, latency/shape.py), the NCHW transposes, copies, casts and bias adds eager PyTorch runs, so what is left
# to a factor is the device's: one compute efficiency (what a large, well-shaped kernel reaches of peak), one memory
# efficiency (what streaming reaches of the spec bandwidth), and the depthwise convs' memory efficiency (their kernels'
# bandwidth swings 2-6x with kernel size and library version: docs/latency-model.md, "Efficiency factors"; from one
# GeForce GPU to another it follows the CUDA cores' rate, not the bandwidth: docs/calibration.md, "Transfer"). Per-class
# compute factors over-fit there: on timm's RTX 3090 table the per-class design fits 5.9 % in-sample and 10.8 %
# leave-one-model-out, this one 6.2 % and 7.4 % (docs/latency-model.md, "Validation").
ALL_KEYS: tuple[EfficiencyClass, ...] = (EfficiencyClass.CONV, EfficiencyClass.GEMM, EfficiencyClass.DEPTHWISE,
                                         EfficiencyClass.ATTENTION, *STREAM_KEYS)
GPU_PARAMETERS: tuple[Parameter, ...] = (
    Parameter("device_compute", ALL_KEYS, True, False, "compute efficiency of every op class (shape priced apart)"),
    Parameter("device_memory", tuple(k for k in ALL_KEYS if k != EfficiencyClass.DEPTHWISE), False, True,
              "memory efficiency of every kernel but depthwise convs"),
    Parameter("depthwise_memory", (EfficiencyClass.DEPTHWISE,), False, True, "memory efficiency of depthwise convs"),
)
# The GPU design's device parameters, each its roof's level (False: compute, True: memory): how far the device ran
# from its datasheet (clocks, power, memory system). The other GPU parameter is a class factor: how the library's
# depthwise kernels fare, which a transfer carries at the rate of their unit (:func:`carried`).
DEVICE_PARAMETERS: dict[str, bool] = {"device_compute": False, "device_memory": True}
BY_NAME = {p.name: p for p in (*PARAMETERS, *GPU_PARAMETERS)}

# On a CPU profile (one with a ``cpu`` section): the latency model prices the shapes, threads and the eager framework's
# per-call costs itself (latency/cpu.py), and what a handful of measured models determine is the device's: how much
# slower or faster than profiled it runs in everything (the clock it sustains, the host's other tenants: this project's
# VM ran the same models 1.9x slower in one hour than in another), and how far off the profile's compute rate, its
# bandwidth and its per-call costs are relative to each other (docs/calibration.md, "Few-shot calibration": designs
# compared out of sample, per-class efficiencies do worse from 10 models). Each is a time multiplier (1: as profiled);
# the fitted profile carries them as its rates and costs (:func:`scaled_profile`), so no efficiency leaves (0, 1].
DEVICE_SCALE, COMPUTE_SCALE, MEMORY_SCALE, COST_SCALE = "device_scale", "compute_scale", "memory_scale", "cost_scale"
CPU_SCALES: dict[str, str] = {
    DEVICE_SCALE: "every time of the device x this (clock, contention; no prior: it drifts between sessions)",
    COMPUTE_SCALE: "compute times x this on top of device_scale (peaks and clock / this)",
    MEMORY_SCALE: "DRAM times x this on top of device_scale (bandwidth / this)",
    COST_SCALE: "costs the roofline leaves out x this on top of device_scale (dispatch, fork/join, views, "
                "page faults, per-element op costs, launch overhead)",
}
# What a CPU fit frees: the device scale and the cost scale. With the device scale free, the compute, memory and cost
# scales are redundant (every row's shares of latency in the three add up to 1: moving all three alike is the device
# scale), and where memory is a small share of a CPU's batch-1 latency the compute scale is nearly the device scale
# less the cost scale. Out of sample (10 zoo models fitted, the other 28 scored; the 14 scored runs of the Zen 3 and
# Xeon 6 VMs) a free compute scale (prior 0.3) is level on the Zen 3 VM and 0.5-1.6 points behind on the quiet Xeon
# runs; it gains (6-18 points) only in a noisy hour of a shared host, when the vector units' speed and the rest's
# drift apart (docs/calibration.md, "Few-shot calibration": "Both machines, and a noisy hour").
CPU_FITTED: tuple[str, ...] = (DEVICE_SCALE, COST_SCALE)
# So calibrate lets the rows choose (:func:`choose_design`): the design above, or the same with the compute scale freed,
# whichever predicts the user's own rows better by leave-one-out. On validate_latency's 14 scored CPU runs (random 10
# fitted, the other 28 scored, 20 draws) that choice kept the noisy hour's gain (+17 / +5 points) and cost 0.1 point on
# the Zen 3 VM and 0.5 on the quiet Xeon runs (docs/calibration.md, "Both machines, and a noisy hour").
CPU_DESIGNS: tuple[tuple[str, ...], ...] = (CPU_FITTED, (DEVICE_SCALE, COMPUTE_SCALE, COST_SCALE))
DOCS = {p.name: p.doc for p in BY_NAME.values()} | CPU_SCALES | {"overhead": "launch overhead per kernel (us)"}


def parameters_for(profile: HardwareProfile) -> tuple[Parameter, ...]:
    """The efficiency parameters :func:`fit` fits on ``profile``: :data:`GPU_PARAMETERS` on a GPU profile that gives
    its SM count (shape effects priced by the model), none on a CPU profile (:data:`CPU_SCALES` instead), else the
    per-class :data:`PARAMETERS`."""
    if is_cpu(profile):
        return ()
    return GPU_PARAMETERS if profile.gpu is not None and profile.cpu is None else PARAMETERS


def is_cpu(profile: HardwareProfile) -> bool:
    """Whether :func:`fit` fits ``profile`` with the CPU scales: a profile with a ``cpu`` section."""
    return profile.cpu is not None


def names_for(profile: HardwareProfile) -> tuple[str, ...]:
    """Names of the parameters :func:`fit` fits on ``profile``: the CPU scales, or the efficiencies and the launch
    overhead last."""
    if is_cpu(profile):
        return CPU_FITTED
    return (*(p.name for p in parameters_for(profile)), OVERHEAD)


def default_prior_weight(profile: HardwareProfile) -> float:
    """The prior weight :func:`fit` uses on ``profile`` unless told: :data:`CPU_PRIOR_WEIGHT` on a CPU, else
    :data:`~costmodel.calibration.defaults.DEFAULT_PRIOR_WEIGHT`."""
    return CPU_PRIOR_WEIGHT if is_cpu(profile) else DEFAULT_PRIOR_WEIGHT


# How :func:`scaled_profile` treats each field of a profile's ``cpu`` section: a rate it divides, a cost it
# multiplies, or a count, ratio or identity it keeps. A field added to :class:`~costmodel.hardware.profile.Cpu`
# must be classified here (a test checks it): a new cost the latency model adds per call or per element would
# otherwise stay unscaled, and a
# fitted profile would no longer predict what its fit did.
CPU_FIELD_ROLES: dict[str, Literal["compute", "memory", "costs", "kept"]] = {
    "clock_ghz": "compute", "bandwidth_per_core_gbs": "memory",
    **dict.fromkeys(("sync_us", "dispatch_us", "depthwise_ns", "conv1x1_threaded_us", "conv1x1_reorder_ns",
                     "onednn_reorder_ns", "onednn_conv_us", "onednn_tail_reorder_ns",
                     "cross_core_ns_per_kib", "parallel", "page_fault_us", "view_us", "op_ns", "strided_norm_ns",
                     "strided_norm_output_ns"), "costs"),
    **dict.fromkeys(("cores", "threads", "isa", "flop_per_cycle_fp32", "grain_elements", "parallel_efficiency",
                     "conv1x1_threaded_speedup", "mmap_threshold_mb", "threads_per_core", "smt_yield", "detect"),
                    "kept"),
}

COST_FIELDS = tuple(name for name, role in CPU_FIELD_ROLES.items() if role == "costs")


CostFigure: TypeAlias = float | ParallelFigures | None
"""One figure of a ``costs`` field of a cpu section: a cost (µs or ns), a class's ``parallel`` entry (its fork/join
``sync_us`` the cost, its efficiency not), or None (not given)."""
_Key = TypeVar("_Key", bound=str)  # a table's keys: efficiency classes (dispatch_us, parallel) or op names (op_ns)


def _figure_times(value: CostFigure, factor: float) -> CostFigure:
    if isinstance(value, ParallelFigures):
        return value.model_copy(update={"sync_us": _figure_times(value.sync_us, factor)})
    return None if value is None else value * factor


def _cost_times(value: CostFigure | Mapping[_Key, CostFigure], factor: float) -> CostFigure | dict[_Key, CostFigure]:
    """One ``costs`` field of a cpu section times ``factor``: a figure or a table of figures (:data:`CostFigure`)."""
    if isinstance(value, Mapping):
        return {key: _figure_times(v, factor) for key, v in value.items()}
    return _figure_times(value, factor)


def _cost_sum(value: CostFigure | Mapping[_Key, CostFigure]) -> float:
    """The figures of one ``costs`` field of a cpu section added up (:func:`_cost_times`'s shapes; None: 0)."""
    if isinstance(value, Mapping):
        return sum(_cost_sum(v) for v in value.values())
    if isinstance(value, ParallelFigures):
        value = value.sync_us
    return 0.0 if value is None else float(value)


def cost_total(profile: HardwareProfile) -> float:
    """The sum of a CPU profile's cost figures that :func:`scaled_profile` multiplies by its cost scale (mixed
    units: only ratios of it between two profiles mean anything); 0 without a ``cpu`` section."""
    cpu = profile.cpu
    if cpu is None:
        return 0.0
    return sum(_cost_sum(getattr(cpu, name)) for name in COST_FIELDS) + (profile.host_overhead_us or 0.0)


class CpuRates(NamedTuple):
    """What :func:`scaled_profile` divides or multiplies, as three figures (:func:`rates`)."""

    clock_ghz: float  # the CPU clock: compute times scale with 1 / it
    bandwidth_gbs: float  # the memory bandwidth: DRAM times scale with 1 / it
    costs: float  # :func:`cost_total`: the fixed costs scale with it


def rates(profile: HardwareProfile) -> CpuRates | None:
    """A CPU profile's :class:`CpuRates`: its clock, bandwidth and :func:`cost_total`; None without a ``cpu``
    section. A basis keeps its profile's, and re-pricing it for another profile scales its terms by the ratios."""
    if profile.cpu is None:
        return None
    return CpuRates(profile.cpu.clock_ghz, profile.memory.bandwidth_gbs, cost_total(profile))


def scaled_profile(profile: HardwareProfile, compute: float = 1.0, memory: float = 1.0,
                   costs: float = 1.0) -> HardwareProfile:
    """A CPU ``profile`` whose compute times are ``compute`` times, DRAM times ``memory`` times and fixed costs
    ``costs`` times the original's: every peak and ``cpu.clock_ghz`` divided by ``compute``, the bandwidth and
    ``cpu.bandwidth_per_core_gbs`` by ``memory``; the launch and host overheads and the ``cpu`` section's costs (per
    call: dispatch, fork/join, the threaded 1x1 conv's, views; per element: depthwise, ``op_ns``; per page: page
    faults) multiplied by ``costs``. Efficiencies, caches and every ratio are unchanged, so the latency model's
    choices (units, threads, cache hits) are too."""
    cpu = profile.cpu
    if cpu is None:
        raise ValueError(f"{profile.key}: scales apply to a CPU profile (one with a cpu section)")
    peak = profile.peak.model_copy(update={"vector": {d: v / compute for d, v in profile.peak.vector.items()},
                                           "matrix": {d: v / compute for d, v in profile.peak.matrix.items()}})
    cpu = cpu.model_copy(update={
        "clock_ghz": cpu.clock_ghz / compute, "bandwidth_per_core_gbs": cpu.bandwidth_per_core_gbs / memory,
        **{name: _cost_times(getattr(cpu, name), costs) for name in COST_FIELDS}})
    return profile.model_copy(update={
        "peak": peak, "cpu": cpu,
        "memory": profile.memory.model_copy(update={"bandwidth_gbs": profile.memory.bandwidth_gbs / memory}),
        "launch_overhead_us": profile.launch_overhead_us * costs,
        "host_overhead_us": None if profile.host_overhead_us is None else profile.host_overhead_us * costs})


def scale_times(values: dict[str, float]) -> tuple[float, float, float]:
    """The (compute, memory, costs) time multipliers of a set of CPU scales: the device scale times each relative
    one (missing scales: 1)."""
    device = values.get(DEVICE_SCALE, 1.0)
    return (device * values.get(COMPUTE_SCALE, 1.0), device * values.get(MEMORY_SCALE, 1.0),
            device * values.get(COST_SCALE, 1.0))


# ------------------------------------------------------------------------------------------ the basis


@dataclass(frozen=True)
class Basis:
    """One model's kernels at unit efficiency (:func:`costmodel.latency.kernel_terms`): per kernel, the compute
    seconds of its ops per efficiency key, its memory seconds and the key of its head op (whose memory factor
    it streams at); and the host's seconds per issued kernel and each kernel's fixed seconds (a CPU's op-class
    dispatch, fork/join and depthwise costs), which do not depend on the factors."""

    compute: np.ndarray  # [kernels, keys] seconds at efficiency 1
    memory: np.ndarray  # [kernels] seconds at efficiency 1
    head: np.ndarray  # [kernels] index into KEYS
    host_s: float = 0.0
    fixed: np.ndarray | None = None  # [kernels] seconds per call that no factor moves (CPU dispatch, depthwise)
    layout: np.ndarray | None = None  # [kernels] DRAM seconds of layout transposes (latency/layout.py), at eff. 1
    rates: CpuRates | None = None  # its profile's :func:`rates` (CPU): re-pricing scales by them

    @property
    def kernels(self) -> int:
        """Number of kernels (each pays the launch overhead once)."""
        return len(self.memory)

    def latency(self, compute: np.ndarray, memory: np.ndarray, overhead_s: float, costs: float = 1.0) -> float:
        """Seconds per batch for per-key compute and memory factors (arrays over KEYS), an overhead and a multiplier
        of the fixed and host costs: the same kernel roofline and host/device :func:`~costmodel.latency.timeline`
        as the latency model."""
        busy = np.maximum(self.compute @ (1.0 / compute), self.memory / memory[self.head])
        if self.layout is not None:
            busy = busy + self.layout / memory[LAYOUT_INDEX]
        launch = overhead_s if self.fixed is None else overhead_s + self.fixed * costs
        return float(timeline(busy, launch, self.host_s * costs).sum())

    def multipliers_on(self, profile: HardwareProfile) -> tuple[float, float, float]:
        """How much longer this basis's (compute, memory, fixed-cost) terms take on ``profile`` than on the profile
        the basis was priced on: the ratios of the rates :func:`scaled_profile` changes (1, 1, 1 off a CPU)."""
        priced_on, target = self.rates, rates(profile)
        if priced_on is None or target is None:
            return 1.0, 1.0, 1.0
        return (priced_on.clock_ghz / target.clock_ghz, priced_on.bandwidth_gbs / target.bandwidth_gbs,
                target.costs / priced_on.costs if priced_on.costs else 1.0)


def basis(graph: Graph, profile: HardwareProfile, dtype: str | None, fusion: str,
          precision: str | Precision = DEFAULT_PRECISION) -> Basis:
    """The :class:`Basis` of ``graph`` on ``profile`` (only its peaks, bandwidth, caches and host cost matter)."""
    terms = kernel_terms(graph, profile, dtype or graph.dtype, fusion, precision)
    index: dict[str, int] = {key: i for i, key in enumerate(KEYS)}
    compute = np.zeros((len(terms), len(KEYS)))
    memory = np.zeros(len(terms))
    head = np.zeros(len(terms), dtype=int)
    for row, term in enumerate(terms):
        for key, seconds in zip(term.keys, term.compute_s, strict=True):
            compute[row, index[key]] += seconds
        memory[row] = sum(term.memory_s)
        head[row] = index[term.keys[0]]
    layout = np.array([t.layout_s for t in terms])
    return Basis(compute, memory, head, host_overhead(profile), np.array([t.fixed_s for t in terms]),
                 layout if layout.any() else None, rates(profile))


def factors(profile: HardwareProfile) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-key (compute, memory) factors of a profile as arrays over KEYS, and its launch overhead (s)."""
    table = [efficiency_for(profile, key) for key in KEYS]
    return np.array([c for c, _ in table]), np.array([m for _, m in table]), launch_overhead(profile)


def predict(bases: Sequence[Basis], profile: HardwareProfile) -> np.ndarray:
    """Predicted seconds per batch of each basis with ``profile``'s factors (and, on a CPU, its rates and costs
    relative to the basis's profile: :meth:`Basis.multipliers_on`)."""
    compute, memory, overhead = factors(profile)
    out = []
    for b in bases:
        compute_times, memory_times, costs_times = b.multipliers_on(profile)
        out.append(b.latency(compute / compute_times, memory / memory_times, overhead, costs_times))
    return np.array(out)


# ------------------------------------------------------------------------------------- parameters


def base_values(profile: HardwareProfile, names: Sequence[str] | None = None) -> dict[str, float]:
    """The profile's current value of every parameter it fits (or of ``names``): an efficiency, the overhead in
    microseconds, 1 for a CPU scale (a multiplier of what the profile says)."""
    values = {}
    for name in names_for(profile) if names is None else names:
        if name in CPU_SCALES:
            values[name] = 1.0
        elif name == OVERHEAD:
            values[name] = profile.launch_overhead_us
        else:
            p = BY_NAME[name]
            compute, memory = efficiency_for(profile, p.keys[0])
            values[name] = memory if p.memory else compute  # stream kernels: their memory factor (mostly memory-bound)
    return values


def with_parameters(profile: HardwareProfile, values: dict[str, float]) -> HardwareProfile:
    """``profile`` with the given parameters set (others as they are): per_op entries, the overhead, and the CPU
    scales (:func:`scaled_profile`, applied last). A name may be of any design (:data:`PARAMETERS`,
    :data:`GPU_PARAMETERS`, :data:`CPU_SCALES`); they are applied in that order."""
    per_op = {key: o.model_copy() for key, o in profile.efficiency.per_op.items()}
    for name in values:
        if name != OVERHEAD and name not in BY_NAME and name not in CPU_SCALES:
            raise ValueError(f"unknown calibration parameter {name!r}")
    for p in BY_NAME.values():
        if p.name not in values:
            continue
        for key in p.keys:
            entry = per_op.get(key) or OpEfficiency()
            update = {**({"compute": values[p.name]} if p.compute else {}),
                      **({"memory": values[p.name]} if p.memory else {})}
            per_op[key] = entry.model_copy(update=update)
    efficiency = profile.efficiency.model_copy(update={"per_op": per_op})
    changes: dict[str, Any] = {"efficiency": efficiency}
    if OVERHEAD in values:
        changes["launch_overhead_us"] = values[OVERHEAD]
    out = profile.model_copy(update=changes)
    if any(name in CPU_SCALES for name in values):
        out = scaled_profile(out, *scale_times(values))
    return out


def pinned(profile: HardwareProfile) -> HardwareProfile:
    """``profile`` with an explicit entry for every efficiency key that falls back to a parent ("conv" -> "gemm"),
    holding the factors it has now, so that fitting the parent leaves it alone. Predictions are unchanged."""
    per_op = dict(profile.efficiency.per_op)
    for key in (k for k in EfficiencyClass if k.parent is not None):
        compute, memory = efficiency_for(profile, key)
        per_op[key] = OpEfficiency(compute=compute, memory=memory)
    return profile.model_copy(update={"efficiency": profile.efficiency.model_copy(update={"per_op": per_op})})


def latency_shares(bases: Sequence[Basis], profile: HardwareProfile,
                   names: Sequence[str] | None = None) -> dict[str, float]:
    """Per parameter (the profile's, or ``names``), the mean over models of |d log latency / d log parameter|: the
    share of the predicted latency it governs (0: the measurements say nothing about it)."""
    profile = pinned(profile)
    base = base_values(profile, names)
    shares = {}
    for name in base:
        step = 0.01
        value = base[name] if name != OVERHEAD or base[name] > 0 else 1.0
        moved = np.log(predict(bases, with_parameters(profile, {name: value * (1 + step)})))
        at = np.log(predict(bases, with_parameters(profile, {name: value})))
        shares[name] = float(min(1.0, np.mean(np.abs(moved - at)) / math.log1p(step)))
    return shares


# ---------------------------------------------------------------------------------------------- fit


@dataclass(frozen=True)
class Fit:
    """A calibration's outcome: the fitted profile's parameters, residuals and predictions."""

    parameters: dict[str, FittedParameter]  # every parameter; unfitted ones have value == base
    fitted: tuple[str, ...]  # names of the parameters the fit moved
    residual_rms: float  # RMS of log(predicted / measured) over the rows
    predicted_s: tuple[float, ...]
    measured_s: tuple[float, ...]
    prior_weight: float
    # pairs of fitted parameters whose effects on the rows' log latencies are parallel: |cosine| >= COLLINEAR
    collinear: tuple[tuple[str, str, float], ...] = ()

    @property
    def values(self) -> dict[str, float]:
        """Parameter name -> fitted value (the overhead in microseconds)."""
        return {name: p.value for name, p in self.parameters.items()}


def _bounds(name: str) -> tuple[float, float]:
    return (0.0, math.inf) if name == OVERHEAD else SCALE_BOUNDS if name in CPU_SCALES else EFFICIENCY_BOUNDS


def fit(
    bases: Sequence[Basis], measured_s: Sequence[float], profile: HardwareProfile, *,
    prior_weight: float | None = None, min_share: float = MIN_SHARE, loss: LeastSquaresLoss = "linear",
    design: Sequence[str] | None = None,
) -> Fit:
    """Fit the parameters of ``profile`` to ``measured_s`` (seconds per batch, one per basis). ``prior_weight``
    None: :func:`default_prior_weight`. ``loss``: scipy's ``least_squares`` loss on the log ratios ("linear": their
    squares; "huber": linear beyond 0.1, so that a row the model's structure misses pulls less). ``design``: the
    parameter names to fit instead of :func:`names_for`'s (benchmarks compare designs with it)."""
    if len(bases) != len(measured_s) or not bases:
        raise ValueError("one measured latency per basis, at least one")
    if prior_weight is None:
        prior_weight = default_prior_weight(profile)
    if prior_weight < 0:
        raise ValueError("prior_weight must be >= 0")
    profile = pinned(profile)
    base = base_values(profile, design)
    shares = latency_shares(bases, profile, design)
    names = [n for n in base if shares[n] >= min_share]
    log_measured = np.log(np.asarray(measured_s, dtype=float))
    overhead_unit = max(base.get(OVERHEAD, 1.0), 1.0)  # the overhead's prior: its change in units of max(base, 1 us)

    def to_values(x: np.ndarray) -> dict[str, float]:
        return {n: float(v if n == OVERHEAD else math.exp(v)) for n, v in zip(names, x, strict=True)}

    def residuals(x: np.ndarray) -> np.ndarray:
        values = to_values(x)
        model = np.log(predict(bases, with_parameters(profile, values))) - log_measured
        prior = [(values[n] - base[n]) / overhead_unit if n == OVERHEAD else 0.0 if n == DEVICE_SCALE else
                 math.log(values[n] / base[n]) for n in names]
        return np.concatenate([model, prior_weight * np.asarray(prior)])

    lower = np.array([_bounds(n)[0] if n == OVERHEAD else math.log(_bounds(n)[0]) for n in names])
    upper = np.array([_bounds(n)[1] if n == OVERHEAD else math.log(_bounds(n)[1]) for n in names])
    start = np.array([base[n] if n == OVERHEAD else math.log(base[n]) for n in names])
    span = np.where(np.isfinite(upper), upper - lower, 1.0)
    start = np.clip(start, lower + 1e-6 * span, upper - 1e-6 * span)
    if names:
        from scipy.optimize import least_squares  # scipy.optimize: only when fitting (CLI start-up)

        solution = least_squares(residuals, start, bounds=(lower, upper), method="trf", x_scale="jac",
                                 xtol=1e-10, ftol=1e-10, gtol=1e-10, loss=loss, f_scale=HUBER_SCALE)
        values = {n: float(f"{v:.4g}") for n, v in to_values(solution.x).items()}  # 4 significant digits
        collinear = _collinear(names, np.asarray(solution.jac)[: len(bases)])
    else:
        values, collinear = {}, ()
    parameters = {}
    for name in base:
        lo, hi = _bounds(name)
        value = values.get(name, base[name])
        tol = 1e-6 * ((hi - lo) if math.isfinite(hi) else 1.0)
        hit: Literal["lower", "upper"] | None = None
        if name in values and value - lo <= tol:
            hit, value = "lower", lo
        elif name in values and hi - value <= tol:
            hit, value = "upper", hi
        if name in values:
            values[name] = value  # snapped onto the bound it hit
        parameters[name] = FittedParameter(value=value, base=base[name], lower=lo, upper=hi, at_bound=hit,
                                           latency_share=shares[name])
    final = with_parameters(profile, values)
    predicted = predict(bases, final)
    log_ratio = np.log(predicted) - log_measured
    return Fit(parameters, tuple(names), float(np.sqrt(np.mean(log_ratio**2))), tuple(map(float, predicted)),
               tuple(map(float, measured_s)), prior_weight, collinear)


def _collinear(names: Sequence[str], jacobian: np.ndarray) -> tuple[tuple[str, str, float], ...]:
    """Pairs of parameters whose columns of the model rows' Jacobian (d log latency / d parameter, one row per
    measured model) are parallel to within ``|cos| >= COLLINEAR``: on these rows, moving one can be undone by
    moving the other, so how the fit splits them comes from the prior, not the measurements (the 2 x 2 normal
    matrix of the pair is near singular). Uncentred: no free intercept absorbs a common shift. A CPU fit's device
    scale moves every row alike (its column is all ones): a scale whose column is parallel to it governs the same
    share of every row's latency, and the rows cannot tell it from the device."""
    pairs = []
    norms = np.linalg.norm(jacobian, axis=0)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if norms[i] == 0 or norms[j] == 0:
                continue
            cosine = float(jacobian[:, i] @ jacobian[:, j] / (norms[i] * norms[j]))
            if abs(cosine) >= COLLINEAR:
                pairs.append((names[i], names[j], cosine))
    return tuple(pairs)


def leave_one_out(
    bases: Sequence[Basis], measured_s: Sequence[float], profile: HardwareProfile, *,
    prior_weight: float | None = None, loss: LeastSquaresLoss = "linear", design: Sequence[str] | None = None,
) -> list[float]:
    """Each row's latency predicted by a profile fitted on all the other rows (seconds); needs 2+ rows."""
    out = []
    for i in range(len(bases)):
        rest = [j for j in range(len(bases)) if j != i]
        result = fit([bases[j] for j in rest], [measured_s[j] for j in rest], profile, prior_weight=prior_weight,
                     loss=loss, design=design)
        out.append(float(predict([bases[i]], with_parameters(pinned(profile), {n: result.values[n] for n in
                                                                                 result.fitted}))[0]))
    return out


@dataclass(frozen=True)
class DesignChoice:
    """What :func:`choose_design` chose: the design (parameter names), its leave-one-out predictions (seconds, one
    per row) and the median |leave-one-out error| of every design it compared."""

    design: tuple[str, ...]
    held_out_s: tuple[float, ...]
    errors: dict[tuple[str, ...], float]


def choose_design(bases: Sequence[Basis], measured_s: Sequence[float], profile: HardwareProfile, *,
                  prior_weight: float | None = None) -> DesignChoice | None:
    """On a CPU profile with 3 rows or more: the design of :data:`CPU_DESIGNS` whose leave-one-out median |error|
    over the rows is the smallest (the smaller design on a tie); None elsewhere (one design only). With the prior,
    the larger design can also win on rows the smaller one describes exactly (its extra scale offsets the prior's
    pull on the others); the comparison is out of sample all the same."""
    if not is_cpu(profile) or len(bases) < 3:
        return None
    held: dict[tuple[str, ...], tuple[float, ...]] = {}
    errors: dict[tuple[str, ...], float] = {}
    for design in CPU_DESIGNS:
        held[design] = tuple(leave_one_out(bases, measured_s, profile, prior_weight=prior_weight, design=design))
        errors[design] = float(np.median([abs(p / m - 1) for p, m in zip(held[design], measured_s, strict=True)]))
    best = CPU_DESIGNS[0]
    for design in CPU_DESIGNS[1:]:  # a later (larger) design must do better, not equal to rounding
        if errors[design] < errors[best] * (1 - 1e-6):
            best = design
    return DesignChoice(best, held[best], errors)


def calibrated(bases: Sequence[Basis], measured_s: Sequence[float], profile: HardwareProfile, *,
               prior_weight: float | None = None) -> tuple[Fit, tuple[float, ...] | None, DesignChoice | None]:
    """What ``costmodel calibrate`` fits: on a CPU profile the design :func:`choose_design` picks, else
    :func:`names_for`'s; with that design's leave-one-out predictions (seconds per row; None under 3 rows) and the
    choice (None where there was none)."""
    choice = choose_design(bases, measured_s, profile, prior_weight=prior_weight)
    design = None if choice is None else choice.design
    result = fit(bases, measured_s, profile, prior_weight=prior_weight, design=design)
    if choice is not None:
        held_out: tuple[float, ...] | None = choice.held_out_s  # computed already, to choose
    elif len(bases) >= 3:
        held_out = tuple(leave_one_out(bases, measured_s, profile, prior_weight=prior_weight, design=design))
    else:
        held_out = None
    return result, held_out, choice


def identifiability_warnings(result: Fit) -> list[str]:
    """Why the fitted factors may not mean what their names say: more parameters than rows, pairs of parameters
    the rows cannot tell apart, factors on a bound."""
    warnings = []
    rows, fitted = len(result.measured_s), len(result.fitted)
    if fitted >= rows:
        warnings.append(f"{fitted} parameters fitted on {rows} rows: the rows cannot determine them (the prior "
                        "holds them); measure more models, ideally of different kinds (CNNs, ViTs, mobile nets)")
    for first, second, r in result.collinear:
        warnings.append(f"{first} and {second} move these rows' latencies alike (cosine {r:+.3f}): the rows "
                        "cannot tell them apart, their split is the prior's; add models where one matters and not "
                        "the other")
    hit = [name for name in result.fitted if result.parameters[name].at_bound]
    if hit:
        warnings.append(f"{', '.join(hit)} ended on a bound: the model's structure, not the factor, is off "
                        "for the ops it governs")
    return warnings


# ------------------------------------------------------------------------------- fitted profiles


def _class_rate(profile: HardwareProfile, key: EfficiencyClass, dtype: str) -> float:
    """Peak FLOP/s of the unit ``key``'s ops run on for ``dtype`` (:func:`~costmodel.latency.roofline.unit_for`) per
    byte/s of the profile's DRAM bandwidth: what a class factor that is a fraction of the bandwidth becomes when the
    kernels it describes are held to a fraction of that unit instead."""
    return unit_for(profile, OpClass(key.value), dtype).peak_flops / (profile.memory.bandwidth_gbs * 1e9)


def carried(result: Fit, source: HardwareProfile, target: HardwareProfile, carry: Carry | str,
            dtype: str = "fp16") -> dict[str, float]:
    """The fitted values a transfer writes onto ``target`` (``calibrate --apply-to``; docs/calibration.md, "Transfer").

    On a GPU profile (:data:`GPU_PARAMETERS`) a fit has a *level* per roof, its device parameter's fitted / base value
    (:data:`DEVICE_PARAMETERS`: how far the device ran from its datasheet), and *class factors* (the depthwise convs'
    memory factor: how the library's kernels for one op class fare). A class factor is carried as the same fraction of
    the rate of the unit its ops run on (``dtype``'s, the first of a comma-separated list): a factor ``m`` of
    ``source``'s bandwidth becomes ``m`` x :func:`_class_rate` (target) / :func:`_class_rate` (source) of the
    target's (depthwise convs run at a fixed fraction of the CUDA cores' rate across Ampere, Ada and Blackwell, not at a
    fixed fraction of the bandwidth). ``level``: the target's device factors x the fitted level, and the class factors;
    ``shape``: the class factors only (the target's own levels). On a per-class design (no device parameter), a roof's
    level is the latency-share-weighted mean of log(fitted / base) over its fitted parameters and the shape each one's
    departure from it: ``level`` writes the target's factors x exp(level), ``shape`` the target's base value x fitted /
    base / exp(level) (a roof with one parameter carries nothing). On a CPU, ``level`` is the device scale, ``shape``
    the scales relative to it. ``all``: every fitted value as fitted. The launch overhead (the source's host and
    driver) is carried by ``all`` only."""
    values = {n: result.values[n] for n in result.fitted}
    mode = Carry(carry)
    if mode is Carry.ALL:
        return values
    out = {n: v for n, v in values.items() if n in CPU_SCALES and (n == DEVICE_SCALE) == (mode is Carry.LEVEL)}
    efficiencies = [n for n in values if n in BY_NAME]
    dst = base_values(pinned(target), efficiencies)
    lo, hi = EFFICIENCY_BOUNDS

    def bounded(value: float) -> float:
        return float(f"{min(hi, max(lo, value)):.4g}")

    if parameters_for(source) == GPU_PARAMETERS:  # the GPU design: device levels and class factors
        first = dtype.split(",")[0]
        for name in efficiencies:
            if name in DEVICE_PARAMETERS:
                if mode is Carry.LEVEL:
                    out[name] = bounded(dst[name] * values[name] / result.parameters[name].base)
                continue
            p = BY_NAME[name]
            key = p.keys[0]
            ratio = _class_rate(target, key, first) / _class_rate(source, key, first) if p.memory else 1.0
            out[name] = bounded(values[name] * ratio)
        return out
    roofs: dict[bool, list[str]] = {}
    for name in efficiencies:
        roofs.setdefault(BY_NAME[name].memory, []).append(name)
    for names in roofs.values():
        if mode is Carry.SHAPE and len(names) == 1:  # its level is all the fit says of this roof: nothing to carry
            continue
        weights = [max(result.parameters[n].latency_share, 1e-12) for n in names]
        logs = [math.log(values[n] / result.parameters[n].base) for n in names]
        level = sum(w * x for w, x in zip(weights, logs, strict=True)) / sum(weights)
        for name, x in zip(names, logs, strict=True):
            out[name] = bounded(dst[name] * math.exp(level if mode is Carry.LEVEL else x - level))
    return out


def transfer_warnings(source: HardwareProfile, target: HardwareProfile, carry: Carry | str) -> list[str]:
    """Why a transfer's levels may not fit ``target``: ``level`` and ``all`` write the source's fitted levels (how far
    its clocks, power and memory system ran from its datasheet), and across timm's seven eager tables no level carried
    between two memory types (GDDR6X and GDDR7: worse than the target's shipped profile in all 20 such pairs;
    docs/calibration.md, "Transfer"). None on a CPU (its level is the machine's load and clock) or with ``shape``."""
    mode = Carry(carry)
    if is_cpu(source) or mode is Carry.SHAPE or source.memory.type.lower() == target.memory.type.lower():
        return []
    return [f"--carry {mode} writes {source.key}'s fitted levels ({source.memory.type}) onto {target.key} "
            f"({target.memory.type}): in timm's tables no level carried across memory types (docs/calibration.md, "
            f"'Transfer'); --carry shape keeps {target.key}'s own"]


def fitted_profile(
    base: HardwareProfile, result: Fit, *, measurements: str, sha256: str, devices: Sequence[str], dtype: str,
    fusion: str, onto: HardwareProfile | None = None, today: str | None = None, carry: Carry | str = DEFAULT_CARRY,
    values: dict[str, float] | None = None,
) -> HardwareProfile:
    """The profile to write: ``onto`` (default ``base``: its peaks, bandwidth and caches) with the fitted
    efficiencies and overhead, a new name, no aliases, a ``calibration`` record and sources for what changed.
    With ``onto``, ``carry`` says what of the fit it takes: ``values``, :func:`carried`'s (computed here unless
    the caller, who shows them, has them already)."""
    target = onto or base
    if onto is None:
        values = {n: result.values[n] for n in result.fitted}
    elif values is None:
        values = carried(result, base, onto, carry, dtype)
    profile = with_parameters(pinned(target), values)
    record = Calibration(
        measurements=measurements, sha256=sha256, devices=list(devices) or [base.name], models=len(result.measured_s),
        date=today or date.today().isoformat(), base_profile=base.key, applied_to=target.key if onto else None,
        dtype=dtype, fusion=Fusion(fusion), prior_weight=result.prior_weight, residual_rms=result.residual_rms,
        parameters=result.parameters, carry=Carry(carry) if onto else None,
    )
    how = f"fitted by costmodel calibrate on {measurements} ({', '.join(record.devices)}, {record.models} rows)"
    sources = dict(target.sources)
    if OVERHEAD in values:
        sources["launch_overhead_us"] = how
    if any(name in CPU_SCALES for name in values):
        compute, memory, costs = scale_times(values)
        cost_fields = ("launch_overhead_us", "host_overhead_us", *(f"cpu.{name}" for name in COST_FIELDS))
        for path in [*(f"peak.{u}.{d}" for u in ("vector", "matrix") for d in getattr(target.peak, u)),
                     "cpu.clock_ghz", "memory.bandwidth_gbs", "cpu.bandwidth_per_core_gbs", *cost_fields]:
            factor = (1 / compute if path.startswith("peak.") or path == "cpu.clock_ghz" else
                      1 / memory if "bandwidth" in path else costs)
            if path in sources or path in ("peak.vector.fp32", "cpu.clock_ghz", "memory.bandwidth_gbs"):
                sources[path] = f"{how}: the base's figure x {factor:.4g}. Base: {sources.get(path, 'none given')}"
    suffix = (f"calibrated on {base.key}" if onto is None else f"with efficiencies calibrated on {base.key}"
              if Carry(carry) is Carry.ALL else f"with the {carry} of the efficiencies calibrated on {base.key}")
    profile = profile.model_copy(update={
        "name": f"{target.name} ({suffix})", "aliases": [], "sources": sources, "calibration": record,
        "description": f"{target.description} Efficiency factors {how}.".strip(),
    })
    return HardwareProfile.model_validate(profile.model_dump())  # re-validate what will be written


def profile_yaml(profile: HardwareProfile) -> str:
    """The YAML text of a profile, loadable by :func:`costmodel.hardware.load_profile`."""
    data = profile.model_dump(mode="json", exclude_none=True)
    header = "# Written by `costmodel calibrate` (docs/calibration.md); 'calibration' records what it was fitted on.\n"
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)



def bases_of(matched: Sequence[Matched], profile: HardwareProfile, dtype: str | None, fusion: str,
             precision: str | Precision = DEFAULT_PRECISION) -> list[Basis]:
    """The basis of every matched row on ``profile``; ``dtype`` None -> the row's dtype, else the spec's."""
    return [basis(m.graph(), profile, dtype or m.measurement.dtype, fusion, precision) for m in matched]
