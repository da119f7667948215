"""What the kernel-level plots read from a :class:`LatencyResult`: one row per kernel, with its op class.

With fusion ``none`` every non-view op is its own kernel, so the kernels are the ops.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..latency import LatencyResult


@dataclass(frozen=True)
class KernelPoint:
    """One kernel: FLOPs, DRAM bytes, latency (seconds) and the op class that takes most of its latency."""

    name: str
    op_class: str
    flops: int
    dram_bytes: int
    latency_s: float

    @property
    def intensity(self) -> float | None:
        """FLOP per DRAM byte; None when the kernel moves nothing."""
        return self.flops / self.dram_bytes if self.dram_bytes else None

    @property
    def on_roofline(self) -> bool:
        """True when it has a place on a log-log roofline: positive FLOPs and DRAM traffic."""
        return self.flops > 0 and self.dram_bytes > 0


def kernel_points(result: LatencyResult) -> list[KernelPoint]:
    """The result's kernels in execution order, each coloured by its dominant op class (by latency share)."""
    by_path = {row.path: row for row in result.ops}
    points = []
    for kernel in result.kernels:
        time_by_class: dict[str, float] = {}
        for path in kernel.ops:
            row = by_path[path]
            time_by_class[row.op_class] = time_by_class.get(row.op_class, 0.0) + row.latency_s
        if time_by_class:
            op_class = max(time_by_class, key=time_by_class.__getitem__)
        else:  # a kernel the runtime adds with no op of the spec (an AMP cast, a .contiguous() copy, a conv's bias add)
            op_class = "data_movement" if kernel.name.endswith(":copy") else "elementwise"
        points.append(KernelPoint(kernel.name, op_class, kernel.flops, kernel.dram_bytes, kernel.latency_s))
    return points


def main_unit_ridge(result: LatencyResult) -> tuple[str, float]:
    """(unit, ridge FLOP/byte) of the unit that carries most of the model's FLOPs.

    The ridge is the ops' own (``OpLatency.ridge``: attained peak over attained bandwidth); if per-class
    efficiency overrides give that unit's ops different ridges, the one covering most FLOPs is taken.
    """
    flops_by_unit: dict[str, int] = {}
    for row in result.ops:
        if row.unit:
            flops_by_unit[row.unit] = flops_by_unit.get(row.unit, 0) + row.flops
    if not flops_by_unit:
        raise ValueError("the result has no ops that run on a unit")
    unit = max(flops_by_unit, key=flops_by_unit.__getitem__)
    flops_by_ridge: dict[float, int] = {}
    for row in result.ops:
        if row.unit == unit and row.ridge is not None:
            flops_by_ridge[row.ridge] = flops_by_ridge.get(row.ridge, 0) + row.flops
    return unit, max(flops_by_ridge, key=flops_by_ridge.__getitem__)
