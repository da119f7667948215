"""How eager PyTorch runs one kernel on a CPU: on how many threads, and the fixed costs the roofline leaves out.

A CPU profile's ``cpu`` section (:class:`~costmodel.hardware.Cpu`) describes the cores; :func:`cpu_kernel` turns it
into three per-kernel figures that :func:`~costmodel.latency.model.kernel_terms` applies (docs/latency-model.md,
"CPUs and threads"):

- **parallel or not**: at N > 1 threads, oneDNN convolutions and MKL GEMMs always split their work over the
  OpenMP threads; PyTorch's own elementwise, norm, reduction and copy kernels (``at::parallel_for``) run on one
  thread when they have fewer than ``grain_elements`` output elements (``at::internal::GRAIN_SIZE`` = 32,768).
  A serial kernel runs at one thread's peak (one core's) and one core's bandwidth; a parallel one pays ``sync_us``
  (fork/join) and runs at the threads' peak: one core's per core used, ``smt_yield`` of one per SMT sibling thread.
- **dispatch by op class**: ``dispatch_us[class]`` on top of the profile's ``launch_overhead_us``;
- **depthwise convs**: ``depthwise_ns`` per output element on one core on top of the FLOPs (split over the
  threads when parallel): PyTorch's CPU depthwise conv is nearly flat in the kernel size.

Units: seconds; every figure is 0 / 1 for a profile without a ``cpu`` section (GPUs are unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..hardware import HardwareProfile, smt_capacity
from ..vocab import EfficiencyClass

SERIAL_BELOW_GRAIN = frozenset({EfficiencyClass.NORM, EfficiencyClass.ELEMENTWISE, EfficiencyClass.REDUCTION,
                                EfficiencyClass.DATA_MOVEMENT})  # at::parallel_for kernels


@dataclass(frozen=True)
class CpuKernel:
    """One kernel on a CPU: multiply its compute seconds by ``compute_scale`` and its memory seconds by
    ``memory_scale`` (> 1 when it runs on one of several threads), and add ``fixed_s`` seconds per call."""

    parallel: bool
    compute_scale: float
    memory_scale: float
    fixed_s: float


ON_ONE_CORE = CpuKernel(parallel=False, compute_scale=1.0, memory_scale=1.0, fixed_s=0.0)


def cpu_kernel(profile: HardwareProfile, head: EfficiencyClass | str, out_elements: int,
               depthwise_elements: int = 0) -> CpuKernel:
    """The CPU figures of a kernel whose first op has efficiency class ``head`` and ``out_elements`` output
    elements, ``depthwise_elements`` the output elements of its depthwise convs. ``profile`` is
    as run (:func:`~costmodel.hardware.threaded`): its ``cpu.cores`` are the cores used, ``cpu.threads`` the
    threads."""
    cpu = profile.cpu
    if cpu is None:
        return ON_ONE_CORE
    key = EfficiencyClass(head)
    threads = cpu.threads or cpu.cores
    parallel = threads > 1 and not (key in SERIAL_BELOW_GRAIN and out_elements < cpu.grain_elements)
    compute_scale = memory_scale = 1.0
    capacity = smt_capacity(cpu)  # cores' worth the threads get (SMT siblings add cpu.smt_yield each)
    if threads > 1 and not parallel:
        chip = profile.memory.bandwidth_gbs
        compute_scale = capacity
        memory_scale = chip / min(chip, cpu.bandwidth_per_core_gbs)
    fixed = (cpu.dispatch_us.get(key, 0.0) + (cpu.sync_us if parallel else 0.0)) * 1e-6
    fixed += depthwise_elements * cpu.depthwise_ns * 1e-9 / (capacity if parallel else 1)
    return CpuKernel(parallel, compute_scale, memory_scale, fixed)


__all__ = ["CpuKernel", "cpu_kernel"]
