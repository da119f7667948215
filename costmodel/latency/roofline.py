"""The roofline of one kernel: which unit it runs on, its compute and memory time, and what bounds it.

Units: time in seconds, traffic in bytes, rates in FLOP/s and bytes/s (profiles hold TFLOP/s and GB/s;
the conversion happens here and nowhere else).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..hardware import HardwareError, HardwareProfile, efficiency_for
from ..ops.base import get_op
from ..vocab import Dtype, EfficiencyClass, OpClass
from ..vocab import Unit as UnitName

if TYPE_CHECKING:
    import numpy as np

MIB = 1024 * 1024  # cache sizes in profiles are binary megabytes (an "L2 of 6 MB" is 6144 KB)
USABLE_CACHE_FRACTION = 0.5  # of the last-level on-chip cache, for tensors handed from kernel to kernel


@dataclass(frozen=True)
class UnitPeak:
    """The unit an op runs on: ``name`` ("matrix" or "vector"), the dtype whose peak is used, peak FLOP/s. ``scale``:
    the unit's own compute factor for the op over the profile's (``efficiency.vector_gemm / compute`` for a GEMM on
    the vector unit, else 1), already in ``peak_flops``: the datasheet peak is ``peak_flops / scale``."""

    name: str
    dtype: str
    peak_flops: float
    scale: float = 1.0


@dataclass(frozen=True)
class Roofline:
    """One kernel's times in seconds and its bound ("compute", "memory" or "overhead")."""

    compute_s: float
    memory_s: float
    overhead_s: float
    latency_s: float
    bound: str


def check_dtype(profile: HardwareProfile, dtype: str) -> None:
    """Raise :class:`HardwareError` unless the profile lists a peak for ``dtype`` on some unit."""
    if dtype not in profile.peak.matrix and dtype not in profile.peak.vector:
        have = sorted({*profile.peak.matrix, *profile.peak.vector})
        raise HardwareError(f"{profile.name} has no {dtype} peak (its profile lists: {', '.join(have) or 'none'})",
                            file=profile.source)


def unit_for(profile: HardwareProfile, op_class: OpClass | str, dtype: str) -> UnitPeak:
    """The unit an op class runs on for ``dtype``.

    GEMM-like classes (gemm, attention): the matrix unit if the profile lists ``dtype`` there, else the
    vector unit for ``dtype``. Vector classes: the vector unit for ``dtype``, else the vector fp32 unit
    (GPUs list no separate fp16 CUDA-core rate), else the matrix unit for ``dtype`` (a device that lists
    only a matrix rate, e.g. a TPU).

    A GEMM-like class that falls to the vector unit runs at ``efficiency.vector_gemm`` of its peak where the profile
    gives one (a GPU's CUDA cores attain a share of theirs unlike the tensor cores'): the peak is scaled by
    vector_gemm / compute, so that the compute factor applied later (``attained_roof``: the profile's, or a fitted
    ``per_op`` entry) yields vector_gemm; the latency model and the calibration basis both take it from here.
    """
    check_dtype(profile, dtype)
    matrix, vector = profile.peak.matrix, profile.peak.vector
    want = Dtype(dtype)
    gemm_like = OpClass(op_class).unit is UnitName.MATRIX
    if gemm_like:
        order = [("matrix", want), ("vector", want)]
    else:
        order = [("vector", want), ("vector", Dtype.FP32), ("matrix", want)]
    for name, key in order:
        table = matrix if name == "matrix" else vector
        if key in table:
            scale = vector_gemm_scale(profile) if gemm_like and name == "vector" else 1.0
            return UnitPeak(name, key, table[key] * 1e12 * scale, scale)
    raise HardwareError(f"{profile.name} has no peak usable for {op_class} ops in {dtype}")  # pragma: no cover


def vector_gemm_scale(profile: HardwareProfile) -> float:
    """``efficiency.vector_gemm / efficiency.compute`` (1 where the profile gives no vector_gemm)."""
    eff = profile.efficiency
    if eff.vector_gemm is None:
        return 1.0
    assert eff.compute is not None  # filled by HardwareProfile validation
    return eff.vector_gemm / eff.compute


def efficiency_class(op: str, op_class: OpClass | str) -> EfficiencyClass:
    """The key an op's efficiency factors are looked up under: "conv" for a convolution of class "gemm"
    (dense and grouped convs, patch embeddings), else its op class. ``op`` is a registered op name or alias;
    the registry says which ops are convolutions (:class:`~costmodel.ops.OpDef`)."""
    return get_op(op).efficiency_class(OpClass(op_class))


def fastest_peak(profile: HardwareProfile, dtype: str) -> float:
    """FLOP/s of the fastest unit that lists ``dtype`` (the ideal-latency denominator)."""
    check_dtype(profile, dtype)
    want = Dtype(dtype)
    return max(table[want] for table in (profile.peak.matrix, profile.peak.vector) if want in table) * 1e12


def bandwidth(profile: HardwareProfile) -> float:
    """Main-memory bandwidth in bytes/s."""
    return profile.memory.bandwidth_gbs * 1e9


def launch_overhead(profile: HardwareProfile) -> float:
    """Fixed cost per kernel on the device in seconds (on a CPU: the framework's per-op dispatch)."""
    return profile.launch_overhead_us * 1e-6


def attained_roof(profile: HardwareProfile, key: str, peak_flops: float) -> tuple[float, float]:
    """(FLOP/s, bytes/s) an op priced under efficiency ``key`` attains on a unit of ``peak_flops``: the peak times
    its compute efficiency and the bandwidth times its memory efficiency. The ridge is their ratio. The latency
    model, calibration and the roofline plot all take their roofs from here."""
    compute, memory = efficiency_for(profile, key)
    return peak_flops * compute, bandwidth(profile) * memory


def host_overhead(profile: HardwareProfile) -> float:
    """Seconds the host spends issuing one kernel to an accelerator (0: no separate host stream)."""
    return (profile.host_overhead_us or 0.0) * 1e-6


def timeline(busy_s: Sequence[float] | np.ndarray, launch_s: float | np.ndarray, host_s: float) -> np.ndarray:
    """Per kernel, the seconds it adds to the end-to-end latency: two streams in a pipeline.

    The host issues kernel i at (i + 1) x ``host_s`` (framework dispatch plus the launch call, one op after
    another); the device starts it when it is issued and the previous kernel has finished, and runs it for
    ``launch_s + busy_s[i]`` (``launch_s``: one figure, or one per kernel). So the latency is the slower stream's,
    not the sum of both: with end_i = max(issue_i, end_(i-1)) + launch + busy_i, end_n = P_n + max_j(issue_j - P_j),
    P the prefix sums of launch + busy. Kernel i's share is end_i - end_(i-1) = its stall waiting for the host +
    launch + busy. With ``host_s`` 0 (a CPU, where the same thread dispatches and computes) it is launch + busy.
    """
    import numpy as np  # here, not at import: a plain count (no --hw) never needs it

    device = np.asarray(busy_s, dtype=float) + launch_s
    if len(device) == 0:
        return device
    prefix = np.concatenate([[0.0], np.cumsum(device)])
    issue = host_s * np.arange(1, len(device) + 1)
    end = prefix[1:] + np.maximum.accumulate(np.maximum(issue - prefix[:-1], 0.0))
    return np.diff(np.concatenate([[0.0], end]))


def usable_cache_bytes(profile: HardwareProfile) -> float:
    """Bytes of the last-level on-chip cache (LLC, else L2) a tensor may occupy to be handed on: half of it."""
    size_mb = profile.caches.llc_mb or profile.caches.l2_mb or 0.0
    return size_mb * MIB * USABLE_CACHE_FRACTION


def kernel_roofline(compute_s: float, memory_s: float, overhead_s: float) -> Roofline:
    """Latency = max(compute, memory) + launch overhead; the bound is whichever term is largest."""
    busy = max(compute_s, memory_s)
    bound = "compute" if compute_s >= memory_s and compute_s > 0 else "memory"
    if overhead_s > busy:
        bound = "overhead"
    return Roofline(compute_s, memory_s, overhead_s, busy + overhead_s, bound)
