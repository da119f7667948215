"""How eager PyTorch runs one kernel on a CPU: on how many threads, and the fixed costs the roofline leaves out.

A CPU profile's ``cpu`` section (:class:`~costmodel.hardware.Cpu`) describes the cores; :func:`cpu_kernel` turns it
into three per-kernel figures that :func:`~costmodel.latency.model.kernel_terms` applies (docs/latency-model.md,
"CPUs and threads"):

- **parallel or not, and how evenly**: at N > 1 threads, oneDNN convolutions and MKL GEMMs always split their work
  over the OpenMP threads; PyTorch's own elementwise, reduction and copy kernels (TensorIterator's
  ``at::parallel_for``) run on one thread up to ``grain_elements`` output elements (``at::internal::GRAIN_SIZE`` =
  32,768) and on at most ceil(elements / grain) threads above it; its batch, layer and group norms and NCHW pools
  split channels or rows whatever their size. Where the library's partition is known (:func:`split_of`), a kernel
  lasts as long as its busiest thread, ceil(items / threads used) of the items (:class:`Split`: oneDNN's
  ``balance211``, ``at::parallel_for``'s chunks). A serial kernel runs at one thread's peak (one core's) and one
  core's bandwidth; a parallel one pays ``sync_us`` (fork/join) and runs at the used threads' peak (one core's per
  core used, ``smt_yield`` of one per SMT sibling thread) times ``parallel_efficiency`` (a measured share: a
  balanced kernel's speed-up over one thread is capacity x efficiency).
- **a 1x1 conv that changes library with the thread count**: PyTorch runs an fp32 1x1, stride-1, undilated,
  ungrouped conv at batch < 16 natively (a GEMM) on one thread and with oneDNN on several
  (``ConvParams::use_mkldnn``, aten/src/ATen/native/Convolution.cpp: "For 1x1 filters, MKLDNN is faster than THNN
  when multi-threaded, but THNN is faster when single-threaded"), if its input has more than 20,480 elements at
  batch 1; at N > 1 threads such a conv pays ``conv1x1_threaded_us`` instead of the fork/join (the oneDNN call's
  own per-call cost) and ``conv1x1_reorder_ns`` per element of its input and output (oneDNN's NCHW <-> nChw16c
  reorders around it, priced as measured on the threads, not split further), and runs its work
  ``conv1x1_threaded_speedup`` times as fast as on one thread, or, without that figure, as any parallel conv of
  its class (measured: benchmarks/cpu_roofline.py --fork-join, --conv1x1-parts);
- **the cross-core handoff**: a tensor the kernel just before left in the cache lies in the L2 of the cores that
  wrote it, as that kernel split its work; a kernel that splits it otherwise pulls the share its threads did not
  write from other cores' L2 at ``cross_core_ns_per_kib`` (:func:`handoff_seconds`; measured with
  benchmarks/cpu_roofline.py --cross-core). Two of PyTorch's own ``at::parallel_for`` kernels on the same threads
  split a tensor alike (contiguous runs in memory order) and move nothing;
- **dispatch by op class**: ``dispatch_us[class]`` on top of the profile's ``launch_overhead_us``;
- **depthwise convs**: ``depthwise_ns`` per output element on one core on top of the FLOPs (split over the
  threads when parallel, at the same efficiency): PyTorch's CPU depthwise conv is nearly flat in the kernel size.

Units: seconds; every figure is 0 / 1 for a profile without a ``cpu`` section (GPUs are unchanged).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, cast

from ..errors import HardwareError
from ..graph import Layer
from ..graph.windows import shift_geometry
from ..hardware import HardwareProfile, smt_capacity
from ..ops.attention import AttentionAttrs, masked_pairs, score_elements
from ..ops.base import REGISTRY, Attrs, get_op, pair
from ..ops.conv import ConvAttrs
from ..ops.embedding import PatchEmbedAttrs
from ..ops.norm import GroupNormAttrs, LayerNormAttrs
from ..ops.shape import WindowAttrs
from ..vocab import EfficiencyClass
from .roofline import efficiency_class

SERIAL_BELOW_GRAIN = frozenset({EfficiencyClass.NORM, EfficiencyClass.ELEMENTWISE, EfficiencyClass.REDUCTION,
                                EfficiencyClass.DATA_MOVEMENT})  # at::parallel_for kernels
PAGE_BYTES = 4096  # the x86-64 / AArch64 base page
NATIVE_1X1_MAX_INPUT = 20480  # ConvParams::use_mkldnn: at batch 1, a 1x1 conv on at most this many input elements
MKLDNN_MIN_BATCH = 16  # ... and at this batch or more a 1x1 conv goes to oneDNN whatever the thread count
FIRST_CONV_CHANNELS = 3  # oneDNN's is_1stconv: a conv of at most this many input channels reads NCHW as it is
# oneDNN's blocking of an fp32 conv per ISA (Cpu.isa): (channels per vector block, blocks per work item) of the direct
# dense conv (jit_avx2_conv_kernel_f32.cpp init_conf: oc_block = simd_w = 8, nb_oc_blocking = 4) and of the depthwise
# conv (jit_uni_dw_conv_kernel_utils.cpp init_conf: ch_block = simd_w, nb_ch_blocking 3 on AVX2, 4 on AVX-512);
# the dense AVX-512 kernels (brgemm) split their work otherwise: not listed
ONEDNN_DENSE_BLOCKS = {"AVX2": (8, 4)}
ONEDNN_DEPTHWISE_BLOCKS = {"AVX2": (8, 3), "AVX-512": (16, 4)}
# PyTorch's NCHW pools: at::parallel_for over the N x C planes with a grain of 0 (MaxPoolKernel.cpp ``cpu_max_pool``,
# AvgPoolKernel.cpp ``cpu_avg_pool``); a global pool is a mean, a TensorIterator reduction (left to the grain rule)
POOLS = frozenset({"max_pool2d", "avg_pool2d"})
SERIAL = "serial"  # CpuKernel.partition of a kernel on the calling thread alone (core 0)
LIBRARY = "library"  # ... of a oneDNN or BLAS kernel on several threads: the library's own split of its tensors
PIECES = "pieces"  # ... of a concat copied input by input, each copy split on its own (concat_pieces)


@dataclass(frozen=True)
class CpuKernel:
    """One kernel on a CPU: multiply its compute seconds by ``compute_scale`` and its memory seconds by
    ``memory_scale`` (> 1 when it runs on one of several threads, or scales below the threads' capacity), and add
    ``fixed_s`` seconds per call. ``cores``: the cores it runs on; ``partition``: how it splits its tensors over them
    (:data:`SERIAL`, :data:`LIBRARY`, or ``"aten/K"``: PyTorch's own ``at::parallel_for`` on K threads, contiguous
    runs of the tensor in memory order), what :func:`handoff_seconds` compares; ``reads``: how its threads split the
    tensors it reads, where that differs from ``partition`` ("" where it does not): a oneDNN conv on K threads reads
    its NCHW input through a reorder that splits it as ``aten/K`` does (:func:`cpu_kernel`)."""

    parallel: bool
    compute_scale: float
    memory_scale: float
    fixed_s: float
    cores: int = 1
    partition: str = SERIAL
    reads: str = ""


ON_ONE_CORE = CpuKernel(parallel=False, compute_scale=1.0, memory_scale=1.0, fixed_s=0.0)


@dataclass(frozen=True)
class Split:
    """How the library that runs a kernel splits it over N threads: ``items`` pieces of work, each thread taking a
    contiguous run of at most ceil(items / threads used) of them, and no split at all unless there are more than
    ``grain`` items (and more than one). PyTorch's ``at::parallel_for(begin, end, grain, f)``
    (aten/src/ATen/Parallel-inl.h: parallel only when ``end - begin > grain``; ParallelOpenMP.h ``invoke_parallel``:
    ``num_threads = min(omp_get_num_threads(), divup(end - begin, grain))`` for a grain > 0, ``chunk_size =
    divup(end - begin, num_threads)``) and oneDNN's ``balance211(n, team, tid, start, end)`` (src/common/utils.hpp:
    the first ``n - (n1 - 1) * team`` threads take ``n1 = div_up(n, team)`` items, the others ``n1 - 1``; grain 0)
    both split this way. The items weigh alike unless ``weights`` is given: then item i weighs ``weights[(i // run)
    % len(weights)]`` -- oneDNN's items are (channel-block chunk, output row) pairs, and the last chunk of a
    channel count that is not a multiple of the chunk holds fewer blocks."""

    items: int
    grain: int = 0
    weights: tuple[int, ...] = ()
    run: int = 1

    def threads_used(self, threads: int) -> int:
        """Threads that get work out of ``threads``: 1 when the work is not split."""
        if threads <= 1 or self.items <= max(self.grain, 1):
            return 1
        return min(threads, self.items, math.ceil(self.items / self.grain) if self.grain else self.items)

    def work(self, end: int) -> int:
        """The work of items [0, ``end``), in units of one item of weight 1."""
        if not self.weights:
            return end
        cycles, rest = divmod(end, self.run * len(self.weights))
        runs, part = divmod(rest, self.run)
        return (self.run * (cycles * sum(self.weights) + sum(self.weights[:runs]))
                + part * (self.weights[runs] if part else 0))

    def longest(self, threads: int) -> float:
        """The share of the work the busiest of ``threads`` threads gets (ceil(items / used) / items for items that
        weigh alike; with weights, the heaviest of balance211's runs)."""
        return _longest(self, threads)


@functools.lru_cache(maxsize=4096)
def _longest(split: Split, threads: int) -> float:
    used = split.threads_used(threads)
    largest = math.ceil(split.items / used)
    if not split.weights or used == 1:
        return largest / split.items
    first = split.items - (largest - 1) * used  # balance211: threads below this take `largest`, the rest one less
    heaviest, start = 0, 0
    for tid in range(used):
        end = start + (largest if tid < first else largest - 1)
        heaviest = max(heaviest, split.work(end) - split.work(start))
        start = end
    return heaviest / split.work(split.items)


def conv_geometry(layer: Layer[Attrs]) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], int] | None:
    """(kernel, stride, dilation, groups) of a ``conv2d`` layer, or of a ``patch_embed`` one (timm's PatchEmbed.proj:
    an nn.Conv2d with kernel = stride = patch); None for any other layer."""
    attrs = layer.attrs
    if layer.op == "conv2d" and isinstance(attrs, ConvAttrs):
        return (pair(attrs.kernel, 2, "kernel"), pair(attrs.stride, 2, "stride"), pair(attrs.dilation, 2, "dilation"),
                attrs.groups)
    if layer.op == "patch_embed" and isinstance(attrs, PatchEmbedAttrs):
        patch = pair(attrs.patch, 2, "patch")
        return patch, patch, (1, 1), 1
    return None


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
    ``conv2d`` or ``patch_embed`` (:func:`conv_geometry`) for which ``ConvParams::use_mkldnn``
    (aten/src/ATen/native/Convolution.cpp) holds: (strided, dilated, batch >= 16, a kernel other than 1x1, or more
    than one thread) and (grouped, a kernel larger than 3x3 both ways, batch > 1, or more than 20,480 input
    elements). Other fp32 convs run PyTorch's native im2col + GEMM."""
    geometry = conv_geometry(layer)
    if geometry is None or dtype != "fp32" or not layer.input_shapes:
        return False
    kernel, stride, dilation, groups = geometry
    shape = layer.input_shapes[0]
    odd = (any(v != 1 for v in (*stride, *dilation)) or shape[0] >= MKLDNN_MIN_BATCH or kernel != (1, 1)
           or threads > 1)
    return odd and (groups > 1 or min(kernel) > 3 or shape[0] > 1 or math.prod(shape) > NATIVE_1X1_MAX_INPUT)


def onednn_reorder_elements(layer: Layer[Attrs], dtype: str, threads: int, channels_last: bool) -> int | None:
    """Elements of the activations oneDNN reorders between PyTorch's NCHW and its blocked layout (nChw16c on
    AVX-512, nChw8c on AVX2) on each call of ``layer`` (computing in ``dtype`` on ``threads`` threads; its input
    ``channels_last`` or not): ideep hands the primitive blocked tensors, so ONEDNN_VERBOSE shows a ``reorder`` of the
    input before the convolution and one of the output after it (1 thread, 3 December 2026: every one of 110 NCHW
    convs of the zoo). Its output's elements, plus its input's unless the input has at most 3 channels (oneDNN's
    first-layer kernels read NCHW: ``is_1stconv``, src/cpu/x64/jit_avx512_common_conv_kernel.cpp; the zoo's
    3-channel stems showed no input reorder); 0 for a channels-last input (oneDNN runs the conv NHWC: brgemm kernels,
    no reorder). None when PyTorch does not run ``layer`` with oneDNN (:func:`runs_on_onednn`), or it is the 1x1
    conv that goes to oneDNN only on several threads, run on several (priced by its parts: ``cpu.conv1x1_reorder_ns``,
    ``cpu.conv1x1_threaded_us``)."""
    if not runs_on_onednn(layer, dtype, threads) or (threads > 1 and onednn_only_when_threaded(layer, dtype)):
        return None
    if channels_last:
        return 0
    shape, out = layer.input_shapes[0], layer.cost.outputs[0] if layer.cost.outputs else ()
    return (math.prod(shape) if len(shape) > 1 and shape[1] > FIRST_CONV_CHANNELS else 0) + math.prod(out)


def onednn_block(profile: HardwareProfile) -> int:
    """fp32 channels per block of oneDNN's blocked activation layouts on ``profile``'s CPU, one vector register of
    lanes (simd_w: nChw16c with AVX-512, nChw8c with AVX2), the channel block of :data:`ONEDNN_DEPTHWISE_BLOCKS`; 0
    off a CPU or for an ISA without one (no padding priced)."""
    cpu = profile.cpu
    return ONEDNN_DEPTHWISE_BLOCKS[cpu.isa][0] if cpu is not None and cpu.isa in ONEDNN_DEPTHWISE_BLOCKS else 0


class Blocking(NamedTuple):
    """How oneDNN's channel blocks change a conv's cost (:func:`onednn_blocking`): ``padding``, its work as run over
    its counted work; ``tail_elements``, the activation elements it reorders with the generic reorder."""

    padding: float = 1.0
    tail_elements: int = 0


UNBLOCKED = Blocking()


def onednn_blocking(layer: Layer[Attrs], dtype: str, threads: int, channels_last: bool, block: int) -> Blocking:
    """oneDNN's channel blocks on ``layer`` (computing in ``dtype`` on ``threads`` threads, its input
    ``channels_last`` or not; ``block``: :func:`onednn_block`). Its blocked conv kernels round the channels up to a
    multiple of the block (``jcp.oc = rnd_up(jcp.oc, simd_w)`` and the same of ``jcp.ic`` in the 1x1 and direct
    kernels' init_conf when the layout lets them pad, the input's unless oneDNN reads it NCHW as it is: at most 3
    channels, is_1stconv; the depthwise kernel runs whole blocks of channels): ``padding`` is the padded work over the
    counted (1 for a grouped conv that is not depthwise). An activation whose channels are off the block is
    reordered between NCHW and the blocked layout by oneDNN's generic reorder (``jit:uni`` in ONEDNN_VERBOSE):
    ``tail_elements`` counts those of its input (when reordered: more than 3 channels) and of its output, priced at
    ``cpu.onednn_tail_reorder_ns`` each on top of the usual reorder. :data:`UNBLOCKED` where oneDNN does not run
    ``layer`` in its blocked layout (not :func:`runs_on_onednn`, a channels-last input, no block known). Measured on
    the Xeon 6 VM (docs/latency-model.md, "oneDNN's channel blocks"): a 3x3 conv of 72 -> 72 channels took as long
    as one of 80 -> 80 plus 0.27 ns per element of its input and output; the zoo's 1x1 convs off the block ran at
    198-272 GFLOP/s counted, 284-330 on the padded channels (301 those on the block)."""
    geometry = conv_geometry(layer)
    if not block or channels_last or geometry is None or not layer.cost.outputs or not runs_on_onednn(
            layer, dtype, threads):
        return UNBLOCKED
    cin, cout, groups = layer.input_shapes[0][1], layer.cost.outputs[0][1], geometry[3]

    def up(c: int) -> float:
        return -(-c // block) * block / c

    reads_input = cin > FIRST_CONV_CHANNELS
    padding = ((up(cin) if reads_input else 1.0) * up(cout) if groups == 1
               else up(cout) if groups == cin == cout else 1.0)
    tails = ((math.prod(layer.input_shapes[0]) if reads_input and cin % block else 0)
             + (math.prod(layer.cost.outputs[0]) if cout % block else 0))
    return Blocking(padding, tails)


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


def split_of(layer: Layer[Attrs], dtype: str, profile: HardwareProfile) -> Split | None:
    """How ``layer`` (computing in ``dtype``) is split over the threads of ``profile`` (as run) where the library's
    partition is known from its source (:class:`Split`); None where it is not (MKL's GEMMs, oneDNN's 1x1 and
    AVX-512 dense kernels, grouped convs), which the model splits evenly.

    - oneDNN's direct fp32 conv on AVX2 (jit_avx2_convolution.cpp ``execute_forward``: ``work_amount = mb * ngroups
      * ocb_work * od * oh``, ``ocb_work = div_up(nb_oc, nb_oc_blocking)``, ``balance211``) and its depthwise conv
      (jit_uni_dw_convolution.cpp: ``work_amount = mb * chb_work * oh``, ``chb_work = div_up(nb_ch,
      nb_ch_blocking)``): batch x channel blocks x output rows (``ONEDNN_DENSE_BLOCKS``, ``ONEDNN_DEPTHWISE_BLOCKS``);
    - PyTorch's batch, layer and group norms split channels (N x C, or N for a 1x1 map), rows (every axis but the
      normalized one) and N x groups with a grain of 1 (batch_norm_kernel.cpp ``batch_norm_cpu_contiguous_impl``,
      layer_norm_kernel.cpp ``LayerNormKernelImplInternal``, group_norm_kernel.cpp), whatever their size; its NCHW
      pools split N x C planes with a grain of 0 (``POOLS``);
    - every other kernel of an ``at::parallel_for`` class (elementwise, norm, reduction, copy: TensorIterator's
      ``for_each``) splits its output elements with the grain ``cpu.grain_elements`` (``at::internal::GRAIN_SIZE``)."""
    cpu = profile.cpu
    if cpu is None or not layer.cost.outputs or layer.cost.is_view:
        return None
    out = layer.cost.outputs[0]
    attrs = layer.attrs
    threads = cpu.threads or cpu.cores
    if layer.op == "conv2d" and isinstance(attrs, ConvAttrs) and len(out) == 4 and layer.input_shapes:
        if not runs_on_onednn(layer, dtype, threads) or onednn_only_when_threaded(layer, dtype):
            return None
        channels = layer.input_shapes[0][1]
        if attrs.groups == 1 and cpu.isa in ONEDNN_DENSE_BLOCKS:
            lanes, blocks = ONEDNN_DENSE_BLOCKS[cpu.isa]
        elif attrs.groups == channels == out[1] and cpu.isa in ONEDNN_DEPTHWISE_BLOCKS:
            lanes, blocks = ONEDNN_DEPTHWISE_BLOCKS[cpu.isa]
        else:
            return None
        vector_blocks = math.ceil(out[1] / lanes)
        chunks = math.ceil(vector_blocks / blocks)
        last = vector_blocks - blocks * (chunks - 1)  # the last chunk's blocks (nb_oc % nb_oc_blocking, or all)
        weights = (blocks,) * (chunks - 1) + (last,) if chunks > 1 and last != blocks else ()
        return Split(out[0] * chunks * out[2], weights=weights, run=out[2] if weights else 1)
    name = get_op(layer.op).name
    if name == "batch_norm" and len(out) >= 2:
        return Split(out[0] * (out[1] if math.prod(out[2:]) != 1 else 1), grain=1)
    if name == "layer_norm" and isinstance(attrs, LayerNormAttrs):
        return Split(math.prod(out) // out[1 if attrs.channels_first else -1], grain=1)
    if name == "group_norm" and isinstance(attrs, GroupNormAttrs):
        return Split(out[0] * attrs.groups, grain=1)
    if name in POOLS and len(out) >= 2:
        return Split(out[0] * out[1])
    if efficiency_class(layer.op, layer.cost.op_class.value) in SERIAL_BELOW_GRAIN:
        return Split(math.prod(out), grain=cpu.grain_elements)
    return None


def concat_pieces(layer: Layer[Attrs]) -> tuple[int, ...]:
    """The elements of each input of a ``concat`` layer (empty for any other op): above the grain PyTorch copies a
    concat input by input, each copy a TensorIterator of its own split with the grain on its own (TensorShape.cpp
    ``cat_out_cpu``: ``cat_serial_stub``, one pass on the calling thread, only when ``result.numel() <
    at::internal::GRAIN_SIZE`` or on one thread; otherwise one copy of each input into its slice of the output)."""
    if get_op(layer.op).name != "concat" or len(layer.input_shapes) < 2:
        return ()
    return tuple(math.prod(shape) for shape in layer.input_shapes)


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


def op_elements(layer: Layer[Attrs], by_path: Mapping[str, Layer[Attrs]] | None = None) -> int:
    """The elements ``cpu.op_ns`` prices ``layer`` per: its output's, except

    - the ``attention`` op's scores [sequences, heads, L, L] (:func:`~costmodel.ops.attention.score_elements`).
      Eager PyTorch runs that op as timm's Attention (bridges/torch_ops/attention.py): q * scale, q @ k^T on
      permuted views, a softmax over the scores (SoftMaxKernel.cpp's _vec_softmax_lastdim: a max pass, an exp and
      sum pass, a scaling pass per row), @ v, a transpose + reshape copy; what it costs beyond its GEMMs grows with
      the scores, which are not its output;
    - ``shift_window_mask``'s masked scores (:func:`~costmodel.ops.attention.masked_pairs` per image and head, the map
      and shift from ``by_path``: graph/windows.py; 0 where they cannot be found): the softmax turns each -100 into
      exp(-100 + s - max), about 4e-44, a denormal float, and the p @ v GEMM after it multiplies each with an FP
      assist (x86 cores run denormal operands through microcode unless flush-to-zero is on; PyTorch leaves it off,
      torch.set_flush_denormal)."""
    op = get_op(layer.op).name
    if op == "attention":
        return score_elements(layer.input_shapes[0], cast(AttentionAttrs, layer.attrs))
    if op == "shift_window_mask":
        geometry = shift_geometry(layer, by_path) if by_path is not None else "no graph"
        if isinstance(geometry, str):
            return 0
        window = cast(WindowAttrs, layer.attrs).window
        scores = layer.input_shapes[0]  # [N x nW, heads, L, L]
        windows = (geometry.height // window) * (geometry.width // window)
        return scores[0] // max(windows, 1) * scores[1] * masked_pairs(*geometry[:2], window, *geometry[2:])
    return math.prod(layer.cost.outputs[0]) if layer.cost.outputs else 0


def strided_norm_seconds(profile: HardwareProfile, layer: Layer[Attrs]) -> float:
    """Seconds on one core of ``layer``'s spatial L2 norm (a ``grn``) run on ATen's scalar reduction path, beyond
    the vectorized one its ``op_ns`` was measured on: ``cpu.strided_norm_ns`` per input element plus
    ``cpu.strided_norm_output_ns`` per norm (N x C of them); the caller decides that the path is taken
    (:func:`~costmodel.latency.contiguity.strided_norms`)."""
    cpu = profile.cpu
    if cpu is None or not layer.input_shapes:
        return 0.0
    shape = layer.input_shapes[0]
    channels = shape[1] if getattr(layer.attrs, "channels_first", False) else shape[-1]
    return (cpu.strided_norm_ns * math.prod(shape) + cpu.strided_norm_output_ns * shape[0] * channels) * 1e-9


def op_seconds(profile: HardwareProfile, layers: Sequence[Layer[Attrs]],
               by_path: Mapping[str, Layer[Attrs]] | None = None, strided: frozenset[str] = frozenset()) -> float:
    """Seconds on one core that ``layers`` cost on top of their roofline terms by the profile's ``cpu.op_ns``: per
    op name, ns per element (:func:`op_elements`: the output's, the attention op's scores, the shift mask's masked
    scores; ``by_path`` the graph's layers; 0 for a profile without a ``cpu`` section or the table); plus, for the
    layers in ``strided`` (GRNs whose norm ATen reduces on its scalar path), :func:`strided_norm_seconds`."""
    extra = sum(strided_norm_seconds(profile, layer) for layer in layers if layer.path in strided) if strided else 0.0
    table = profile.cpu.op_ns if profile.cpu is not None else {}
    if not table:
        return extra
    unknown = sorted(name for name in table if name not in REGISTRY)
    if unknown:
        raise HardwareError(f"{profile.key}: cpu.op_ns names unknown op(s): {', '.join(unknown)}")
    return extra + sum(table.get(get_op(layer.op).name, 0.0) * op_elements(layer, by_path) for layer in layers) * 1e-9


def cpu_kernel(profile: HardwareProfile, head: EfficiencyClass | str, out_elements: int,
               depthwise_elements: float = 0, onednn_when_threaded: bool = False, op_s: float = 0.0,
               split: Split | None = None, reorder_elements: int = 0, onednn_elements: int | None = None,
               onednn_conv: bool = False, pieces: Sequence[int] = (), tail_elements: int = 0) -> CpuKernel:
    """The CPU figures of a kernel whose first op has efficiency class ``head`` and ``out_elements`` output
    elements, ``depthwise_elements`` the output elements of its depthwise convs (on the channels oneDNN pads them to,
    :func:`onednn_blocking`); ``onednn_when_threaded``: its first
    op is a conv that PyTorch hands to oneDNN only on several threads (:func:`onednn_only_when_threaded`), and
    ``reorder_elements`` the elements of that op's input and output, which oneDNN then reorders to and from its
    blocked layout (``cpu.conv1x1_reorder_ns`` each);
    ``onednn_elements``: its first op is a conv PyTorch runs with oneDNN on these threads (not the 1x1 one above), and
    oneDNN reorders this many elements of its activations (:func:`onednn_reorder_elements`): ``cpu.onednn_reorder_ns``
    each on one core, split over the threads like its work, and, unless it is a depthwise conv (whose class's
    dispatch is a oneDNN call's), ``cpu.onednn_conv_us`` per call on top of the conv class's dispatch (None: not such
    a conv);
    ``op_s``: its ops' per-element costs on one core (:func:`op_seconds`), split over the threads like its work;
    ``split``: how its library splits it (:func:`split_of`; None: an ``at::parallel_for`` class splits its
    ``out_elements`` with the grain ``cpu.grain_elements``, any other class evenly over every thread);
    ``onednn_conv``: its first op is a conv that oneDNN runs on an NCHW input (:func:`runs_on_onednn`, not
    channels-last), which it reads through its ``jit:blk`` reorder to nChw16c: that reorder hands each thread a
    contiguous run of the channel blocks (jit_blk_reorder_t::execute, ``parallel_nd(outer blocks, column chunks)``,
    balance211), the run of the tensor in memory order an ``at::parallel_for`` kernel on the same threads wrote, so it
    reads as ``aten/K`` (measured: docs/latency-model.md "CPUs and threads", the cross-core handoff);
    ``pieces``: the elements of each input of a concat (:func:`concat_pieces`): above the grain on N > 1 threads each
    is copied on its own, serially up to the grain and split above it, so the busiest thread (the first, which takes
    every serial copy and the first chunk of every split one) has the sum of those shares, each split copy pays the
    fork/join, and the output lies in the cores' L2 piece by piece (:data:`PIECES`), not as one split of it;
    ``tail_elements``: the elements oneDNN reorders with its generic reorder (:func:`onednn_blocking`), at
    ``cpu.onednn_tail_reorder_ns`` each whatever the threads (measured alike on one and on two).
    ``profile`` is as run (:func:`~costmodel.hardware.threaded`): its ``cpu.cores`` are the cores used,
    ``cpu.threads`` the threads.

    A kernel split over ``used`` of the N threads runs as long as its busiest thread, which has ``longest`` of the
    work (:class:`Split`) at a thread's share of ``used`` threads' capacity and bandwidth, times the class's
    ``efficiency``; a kernel that is not split runs on one core."""
    cpu = profile.cpu
    if cpu is None:
        return ON_ONE_CORE
    key = EfficiencyClass(head)
    threads = cpu.threads or cpu.cores
    if split is None and key in SERIAL_BELOW_GRAIN:
        split = Split(out_elements, cpu.grain_elements)
    used = threads if split is None else split.threads_used(threads)
    longest = 1 / threads if split is None else split.longest(threads)
    regions = 1  # the kernel's parallel regions (fork/joins) when parallel
    by_pieces = len(pieces) > 1 and used > 1 and sum(pieces) > 0  # cat_out_cpu: one copy per input (concat_pieces)
    if by_pieces:
        splits = [Split(p, cpu.grain_elements) for p in pieces]
        used = max(piece.threads_used(threads) for piece in splits)
        longest = sum(p * piece.longest(threads) for p, piece in zip(pieces, splits, strict=True)) / sum(pieces)
        regions = sum(piece.threads_used(threads) > 1 for piece in splits)
    parallel = used > 1
    capacity = smt_capacity(cpu)  # cores' worth the N threads get (SMT siblings add cpu.smt_yield each)
    chip = profile.memory.bandwidth_gbs  # as run: min(chip, physical cores used x per-core bandwidth)
    # the busiest thread's work over the whole work at the N threads' rates: its share, times the used threads'
    # capacity and bandwidth over the N threads' (a thread gets 1 / used of what the used threads get)
    compute_scale = longest * used * capacity / smt_capacity(cpu, used)
    streams = min(used, cpu.cores) if cpu.threads_per_core > 1 else used  # as threaded() counts them
    memory_scale = longest * used * chip / min(chip, streams * cpu.bandwidth_per_core_gbs)
    figures = cpu.parallel.get(key) or (cpu.parallel.get(key.parent) if key.parent is not None else None)
    sync = figures.sync_us if figures is not None and figures.sync_us is not None else cpu.sync_us
    efficiency = (figures.efficiency if figures is not None and figures.efficiency is not None
                  else cpu.parallel_efficiency)
    speedup = 1.0  # a kernel's work (and its per-element costs) on the threads, over one thread
    if parallel:
        compute_scale, memory_scale = compute_scale / efficiency, memory_scale / efficiency
        speedup = smt_capacity(cpu, used) / (used * longest) * efficiency
        if onednn_when_threaded and cpu.conv1x1_threaded_us is not None:
            sync = cpu.conv1x1_threaded_us
        if onednn_when_threaded:
            sync += reorder_elements * cpu.conv1x1_reorder_ns * 1e-3
        if onednn_when_threaded and cpu.conv1x1_threaded_speedup is not None:
            speedup = cpu.conv1x1_threaded_speedup
            compute_scale, memory_scale = capacity / speedup, chip / min(chip, cpu.bandwidth_per_core_gbs) / speedup
    onednn_us = cpu.onednn_conv_us if onednn_elements is not None and key != EfficiencyClass.DEPTHWISE else 0.0
    fixed = (cpu.dispatch_us.get(key, 0.0) + onednn_us + (sync * regions if parallel else 0.0)) * 1e-6
    fixed += ((depthwise_elements * cpu.depthwise_ns + (onednn_elements or 0) * cpu.onednn_reorder_ns) * 1e-9
              + op_s) / speedup + tail_elements * cpu.onednn_tail_reorder_ns * 1e-9
    cores = min(used, cpu.cores)
    partition = (SERIAL if not parallel else PIECES if by_pieces else f"aten/{used}" if key in SERIAL_BELOW_GRAIN
                 else LIBRARY)
    reads = f"aten/{used}" if parallel and (onednn_conv or by_pieces) else ""
    return CpuKernel(parallel, compute_scale, memory_scale, fixed, cores, partition, reads)


def handoff_seconds(profile: HardwareProfile, reader: CpuKernel, writer: CpuKernel | None, nbytes: int) -> float:
    """Seconds ``reader`` spends pulling from other cores' L2 the part of ``nbytes`` (what it reads from the cache:
    tensors the kernel just before it, ``writer``, wrote) that its threads did not write themselves; 0 unless the
    profile (as run) has ``cpu.cross_core_ns_per_kib`` and more than one core, and the two kernels split the tensor
    differently over the cores (the reader's :attr:`CpuKernel.reads`, else its :attr:`CpuKernel.partition`, against
    the writer's partition: two ``at::parallel_for`` kernels on the same threads split it alike; two serial kernels run
    on the same core; a oneDNN conv reads what an ATen kernel on its threads wrote as that kernel split it; two library
    kernels in a row are not priced either: how a oneDNN kernel's own reorders read a tensor another library kernel
    wrote is not known). Measured (docs/latency-model.md "CPUs and threads"): an ATen kernel after a oneDNN conv, or
    after a serial kernel, and a oneDNN conv after a serial kernel pay; a oneDNN conv after an ATen kernel does not.

    As a first model, (N - 1) / N of the bytes lie in another core's L2 (N: the cores the profile is run on), at
    most the L2 of the cores that wrote them (``caches.l2_mb`` is the chip's; one core's is that over ``cpu.cores``,
    exact when the run uses every core; beyond it the tensor has gone on to the shared last-level cache, equally far
    from every core); a parallel reader's N - 1 other threads pull them side by side, a serial reader's one thread
    alone. ``writer`` None (not known): 0. Of ``writer`` only what :func:`handoff_writer` gives is read."""
    cpu = profile.cpu
    if (cpu is None or not cpu.cross_core_ns_per_kib or writer is None or nbytes <= 0 or cpu.cores <= 1
            or reader.partition == writer.partition or (reader.reads or reader.partition) == writer.partition):
        return 0.0
    remote = nbytes * (cpu.cores - 1) / cpu.cores
    if profile.caches.l2_mb:
        remote = min(remote, writer.cores * profile.caches.l2_mb * 2**20 / cpu.cores)
    pullers = reader.cores - 1 if reader.cores > 1 else 1
    return remote / 1024 / pullers * cpu.cross_core_ns_per_kib * 1e-9


def handoff_writer(profile: HardwareProfile, writer: CpuKernel | None) -> tuple[str, int] | None:
    """All that :func:`handoff_seconds` reads of ``writer`` on ``profile`` (as run): its partition and cores; None
    where it prices no handoff there (no ``cpu.cross_core_ns_per_kib``, one core, or ``writer`` not known). Two
    writers with the same answer give every reader the same handoff: a cache of kernels priced after a writer (the
    sweep's fragments, sweep/fast.py) is keyed by it."""
    cpu = profile.cpu
    if cpu is None or not cpu.cross_core_ns_per_kib or cpu.cores <= 1 or writer is None:
        return None
    return writer.partition, writer.cores


__all__ = ["Blocking", "CpuKernel", "LIBRARY", "PIECES", "SERIAL", "Split", "UNBLOCKED", "concat_pieces",
           "conv_geometry", "cpu_kernel", "fresh_page_seconds", "handoff_seconds", "handoff_writer", "onednn_block",
           "onednn_blocking", "onednn_only_when_threaded", "onednn_reorder_elements", "op_elements", "op_seconds",
           "packs_weights", "runs_on_onednn", "split_of", "strided_norm_seconds", "view_calls"]
