"""How eager PyTorch runs one kernel on a CPU: on how many threads, and the fixed costs the roofline leaves out.

A CPU profile's ``cpu`` section (:class:`~costmodel.hardware.Cpu`) describes the cores; :func:`cpu_kernel` turns it
into three per-kernel figures that :func:`~costmodel.latency.model.kernel_terms` applies (docs/latency-model.md,
"CPUs and threads"):

- **parallel or not**: at N > 1 threads, oneDNN convolutions and MKL GEMMs always split their work over the
  OpenMP threads; PyTorch's own elementwise, norm, reduction and copy kernels (``at::parallel_for``) run on one
  thread when they have fewer than ``grain_elements`` output elements (``at::internal::GRAIN_SIZE`` = 32,768).
  A serial kernel runs at one thread's peak (one core's) and one core's bandwidth; a parallel one pays ``sync_us``
  (fork/join) and runs at the threads' peak (one core's per core used, ``smt_yield`` of one per SMT sibling
  thread) times ``parallel_efficiency`` (a measured share: its speed-up over one thread is capacity x efficiency).
- **a 1x1 conv that changes library with the thread count**: PyTorch runs an fp32 1x1, stride-1, undilated,
  ungrouped conv at batch < 16 natively (a GEMM) on one thread and with oneDNN on several
  (``ConvParams::use_mkldnn``, aten/src/ATen/native/Convolution.cpp: "For 1x1 filters, MKLDNN is faster than THNN
  when multi-threaded, but THNN is faster when single-threaded"), if its input has more than 20,480 elements at
  batch 1; at N > 1 threads such a conv pays ``conv1x1_threaded_us`` instead of the fork/join and runs its work
  ``conv1x1_threaded_speedup`` times as fast as on one thread (both measured: one thread's line against the
  threads' line, benchmarks/cpu_roofline.py --fork-join);
- **dispatch by op class**: ``dispatch_us[class]`` on top of the profile's ``launch_overhead_us``;
- **depthwise convs**: ``depthwise_ns`` per output element on one core on top of the FLOPs (split over the
  threads when parallel, at the same efficiency): PyTorch's CPU depthwise conv is nearly flat in the kernel size.

Units: seconds; every figure is 0 / 1 for a profile without a ``cpu`` section (GPUs are unchanged).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import HardwareError
from ..graph import Layer
from ..hardware import HardwareProfile, smt_capacity
from ..ops.base import REGISTRY, Attrs, get_op, pair
from ..ops.conv import ConvAttrs
from ..vocab import EfficiencyClass

SERIAL_BELOW_GRAIN = frozenset({EfficiencyClass.NORM, EfficiencyClass.ELEMENTWISE, EfficiencyClass.REDUCTION,
                                EfficiencyClass.DATA_MOVEMENT})  # at::parallel_for kernels
PAGE_BYTES = 4096  # the x86-64 / AArch64 base page
NATIVE_1X1_MAX_INPUT = 20480  # ConvParams::use_mkldnn: at batch 1, a 1x1 conv on at most this many input elements
MKLDNN_MIN_BATCH = 16  # ... and at this batch or more a 1x1 conv goes to oneDNN whatever the thread count


@dataclass(frozen=True)
class CpuKernel:
    """One kernel on a CPU: multiply its compute seconds by ``compute_scale`` and its memory seconds by
    ``memory_scale`` (> 1 when it runs on one of several threads, or scales below the threads' capacity), and add
    ``fixed_s`` seconds per call."""

    parallel: bool
    compute_scale: float
    memory_scale: float
    fixed_s: float


ON_ONE_CORE = CpuKernel(parallel=False, compute_scale=1.0, memory_scale=1.0, fixed_s=0.0)


def onednn_only_when_threaded(layer: Layer[Attrs], dtype: str) -> bool:
    """Whether PyTorch runs ``layer`` (computing in ``dtype``) natively on one thread and with oneDNN on several:
    an fp32 ``conv2d`` with a 1x1 kernel, stride 1, dilation 1, one group, batch < 16 and, at batch 1, more than
    20,480 input elements (``ConvParams::use_mkldnn``; other convs use one library whatever the thread count)."""
    attrs = layer.attrs
    if layer.op != "conv2d" or dtype != "fp32" or not isinstance(attrs, ConvAttrs) or not layer.input_shapes:
        return False
    shape = layer.input_shapes[0]
    ones = all(v == 1 for v in (*pair(attrs.kernel, 2, "kernel"), *pair(attrs.stride, 2, "stride"),
                                *pair(attrs.dilation, 2, "dilation")))
    return (ones and attrs.groups == 1 and shape[0] < MKLDNN_MIN_BATCH
            and (shape[0] > 1 or math.prod(shape) > NATIVE_1X1_MAX_INPUT))


def runs_on_onednn(layer: Layer[Attrs], dtype: str, threads: int) -> bool:
    """Whether eager PyTorch runs ``layer`` (computing in ``dtype``) with oneDNN on ``threads`` threads: an fp32
    ``conv2d`` for which ``ConvParams::use_mkldnn`` (aten/src/ATen/native/Convolution.cpp) holds: (strided, dilated,
    batch >= 16, a kernel other than 1x1, or more than one thread) and (grouped, a kernel larger than 3x3 both ways,
    batch > 1, or more than 20,480 input elements). Other fp32 convs run PyTorch's native im2col + GEMM."""
    attrs = layer.attrs
    if layer.op != "conv2d" or dtype != "fp32" or not isinstance(attrs, ConvAttrs) or not layer.input_shapes:
        return False
    shape = layer.input_shapes[0]
    kernel = pair(attrs.kernel, 2, "kernel")
    odd = (any(v != 1 for v in (*pair(attrs.stride, 2, "stride"), *pair(attrs.dilation, 2, "dilation")))
           or shape[0] >= MKLDNN_MIN_BATCH or kernel != (1, 1) or threads > 1)
    return odd and (attrs.groups > 1 or min(kernel) > 3 or shape[0] > 1 or math.prod(shape) > NATIVE_1X1_MAX_INPUT)


def packs_weights(layer: Layer[Attrs], dtype: str, threads: int) -> bool:
    """Whether a BLAS GEMM behind ``layer`` (computing in ``dtype`` on ``threads`` threads) packs its weight matrix on
    every call: a GEMM packs its operands into the micro-kernel's panels before multiplying (Goto and van de Geijn,
    "Anatomy of High-Performance Matrix Multiplication", ACM TOMS 34(3), 2008), so each call passes over the weights
    once more. That is an fp32 ``linear`` layer of more than one row (the product of the output's leading dims) and an
    fp32 ungrouped ``conv2d`` that PyTorch runs natively (not :func:`runs_on_onednn`: a 1x1 conv on one thread, a small
    k x k one; ``_slow_conv2d_forward``, im2col + GEMM) on more than one output pixel; a single row or pixel is a
    GEMV, which reads the weights as they are. Measured with benchmarks/cpu_roofline.py --gemm-rows: F.linear's and
    the native 1x1 conv's time over rows / pixels is a line whose intercept grows with the weights
    (docs/latency-model.md, "CPUs and threads")."""
    outputs = layer.cost.outputs
    if dtype != "fp32" or not outputs or layer.cost.params <= 0:
        return False
    shape = outputs[0]
    if layer.op == "linear":
        return len(shape) > 1 and math.prod(shape[:-1]) > 1
    attrs = layer.attrs
    return (layer.op == "conv2d" and isinstance(attrs, ConvAttrs) and attrs.groups == 1 and len(shape) == 4
            and shape[2] * shape[3] > 1 and not runs_on_onednn(layer, dtype, threads))


def fresh_page_seconds(profile: HardwareProfile, buffers: Sequence[int]) -> float:
    """Seconds on one core to first-touch the pages of the buffers (bytes) a kernel allocates per call that exceed
    the profile's ``cpu.mmap_threshold_mb`` (mapped afresh by malloc on every call), at ``cpu.page_fault_us`` per
    4 KiB page; 0 without a ``cpu`` section or a page-fault cost."""
    cpu = profile.cpu
    if cpu is None or not cpu.page_fault_us:
        return 0.0
    threshold = cpu.mmap_threshold_mb * 2**20
    pages = sum(math.ceil(size / PAGE_BYTES) for size in buffers if size > threshold)
    return pages * cpu.page_fault_us * 1e-6


def view_calls(layers: Sequence[Layer[Attrs]], heads: Sequence[str], before: int = 0,
               ends: bool = True) -> dict[str, int]:
    """Per kernel (by its first layer's path, ``heads`` in issue order), the view layers eager PyTorch runs just before
    it (graph order; views after the last kernel go to it). ``layers`` a run of a bigger graph's
    (:class:`~costmodel.latency.Boundary`): ``before`` views of earlier runs go to its first kernel, and unless the run
    ``ends`` the graph, the views after its last kernel go to none here (the next run's first kernel)."""
    first = set(heads)
    out = dict.fromkeys(heads, 0)
    pending, last = before, None
    for layer in layers:
        if layer.cost.is_view:
            pending += 1
        elif layer.path in first:
            out[layer.path] += pending
            pending, last = 0, layer.path
    if pending and last is not None and ends:
        out[last] += pending
    return out


def op_seconds(profile: HardwareProfile, layers: Sequence[Layer[Attrs]]) -> float:
    """Seconds on one core that ``layers`` cost on top of their roofline terms by the profile's ``cpu.op_ns``: per
    op name, ns per output element (0 for a profile without a ``cpu`` section or the table)."""
    table = profile.cpu.op_ns if profile.cpu is not None else {}
    if not table:
        return 0.0
    unknown = sorted(name for name in table if name not in REGISTRY)
    if unknown:
        raise HardwareError(f"{profile.key}: cpu.op_ns names unknown op(s): {', '.join(unknown)}")
    return sum(table.get(get_op(layer.op).name, 0.0) * math.prod(layer.cost.outputs[0]) for layer in layers
               if layer.cost.outputs) * 1e-9


def cpu_kernel(profile: HardwareProfile, head: EfficiencyClass | str, out_elements: int,
               depthwise_elements: int = 0, onednn_when_threaded: bool = False, op_s: float = 0.0) -> CpuKernel:
    """The CPU figures of a kernel whose first op has efficiency class ``head`` and ``out_elements`` output
    elements, ``depthwise_elements`` the output elements of its depthwise convs; ``onednn_when_threaded``: its first
    op is a conv that PyTorch hands to oneDNN only on several threads (:func:`onednn_only_when_threaded`);
    ``op_s``: its ops' per-element costs on one core (:func:`op_seconds`), split over the threads like its work.
    ``profile`` is as run (:func:`~costmodel.hardware.threaded`): its ``cpu.cores`` are the cores used,
    ``cpu.threads`` the threads."""
    cpu = profile.cpu
    if cpu is None:
        return ON_ONE_CORE
    key = EfficiencyClass(head)
    threads = cpu.threads or cpu.cores
    parallel = threads > 1 and not (key in SERIAL_BELOW_GRAIN and out_elements < cpu.grain_elements)
    capacity = smt_capacity(cpu)  # cores' worth the threads get (SMT siblings add cpu.smt_yield each)
    chip = profile.memory.bandwidth_gbs  # as run: min(chip, physical cores used x per-core bandwidth)
    streams = chip / min(chip, cpu.bandwidth_per_core_gbs)  # that bandwidth over one core's
    compute_scale = memory_scale = 1.0
    figures = cpu.parallel.get(key) or (cpu.parallel.get(key.parent) if key.parent is not None else None)
    sync = figures.sync_us if figures is not None and figures.sync_us is not None else cpu.sync_us
    efficiency = (figures.efficiency if figures is not None and figures.efficiency is not None
                  else cpu.parallel_efficiency)
    speedup = capacity * efficiency  # a parallel kernel's work, over one thread's
    if parallel:
        compute_scale = memory_scale = 1 / efficiency
        if onednn_when_threaded and cpu.conv1x1_threaded_us is not None:
            sync = cpu.conv1x1_threaded_us
        if onednn_when_threaded and cpu.conv1x1_threaded_speedup is not None:
            speedup = cpu.conv1x1_threaded_speedup
            compute_scale, memory_scale = capacity / speedup, streams / speedup
    elif threads > 1:
        compute_scale, memory_scale = capacity, streams
    fixed = (cpu.dispatch_us.get(key, 0.0) + (sync if parallel else 0.0)) * 1e-6
    fixed += (depthwise_elements * cpu.depthwise_ns * 1e-9 + op_s) / (speedup if parallel else 1)
    return CpuKernel(parallel, compute_scale, memory_scale, fixed)


__all__ = ["CpuKernel", "cpu_kernel", "fresh_page_seconds", "onednn_only_when_threaded", "op_seconds",
           "packs_weights", "runs_on_onednn", "view_calls"]
