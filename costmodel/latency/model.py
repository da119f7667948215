"""Model-level latency: per-op and per-kernel rooflines, the model summary, aggregation and a batch sweep.

Times are in seconds, traffic in bytes, rates in FLOP/s; docs/latency-model.md states every assumption.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis.metrics import group_by_prefix, path_prefix
from ..graph import Graph, Layer, load_graph
from ..hardware import HardwareProfile, load_profile, threaded
from ..ops.base import Attrs
from ..ops.conv import ConvAttrs
from ..ops.linear import LinearAttrs
from ..spec import Spec
from ..vocab import DEFAULT_FUSION, EfficiencyClass, Fusion
from .contiguity import eager_layout, strided_norms
from .cpu import (
    ON_ONE_CORE,
    UNBLOCKED,
    CpuKernel,
    concat_pieces,
    cpu_kernel,
    fresh_page_seconds,
    handoff_seconds,
    onednn_block,
    onednn_blocking,
    onednn_only_when_threaded,
    onednn_reorder_elements,
    op_seconds,
    packs_weights,
    runs_on_onednn,
    split_of,
    view_calls,
)
from .depthwise import issue_rate_factor
from .fusion import FUSION_MODES, OpTraffic, group_layers, kernel_traffic
from .layout import LAYOUT_KEY, bias_add_elements, transpose_bytes
from .precision import DEFAULT_PRECISION, Precision, PrecisionPlan, plan
from .roofline import (
    UnitPeak,
    attained_roof,
    bandwidth,
    check_dtype,
    efficiency_class,
    fastest_peak,
    host_overhead,
    launch_overhead,
    timeline,
    unit_for,
    usable_cache_bytes,
    vector_gemm_scale,
)
from .shape import shape_efficiency
from .winograd import winograd_speedup

CAST_FUSIONS = (Fusion.NONE, Fusion.COMPILE)  # runtimes that cast at run time (an engine stores half weights)
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
    precision: str = "uniform"  # the precision policy (latency/precision.py): uniform, or amp with dtype as half


@dataclass(frozen=True)
class LatencyResult:
    """The latency model's answer for one device: model summary, per-op rows (graph order) and kernels."""

    summary: ModelLatency
    ops: list[OpLatency]
    kernels: list[KernelLatency]

    def to_dict(self) -> dict[str, Any]:
        """Raw numbers, stable keys (the JSON format)."""
        return {"summary": asdict(self.summary), "ops": [asdict(o) for o in self.ops],
                "kernels": [{**asdict(k), "ops": list(k.ops)} for k in self.kernels]}


@dataclass(frozen=True)
class KernelTerms:
    """One kernel before efficiencies and overheads are applied: what every pricing of it starts from.

    ``members``: its layers (empty for a cast kernel autocast adds, which feeds ``consumer``). Per member
    (one entry for a cast): ``keys`` the efficiency key, ``units`` the unit it runs on, ``compute_s`` its FLOPs
    over the unit's peak (seconds at compute efficiency 1), ``memory_s`` its DRAM bytes over the bandwidth
    (seconds at memory efficiency 1), ``traffic`` the bytes. The kernel streams at its head member's memory
    efficiency. On a CPU profile the times are those of the threads the kernel runs on, and ``fixed_s`` holds its
    op-class dispatch, fork/join and depthwise costs (:func:`~costmodel.latency.cpu.cpu_kernel`). ``layout_s``: DRAM
    seconds (at memory efficiency 1) of the NCHW <-> NHWC transposes cuDNN runs around an eager 16-bit convolution
    (:mod:`~costmodel.latency.layout`), serial to the kernel, streamed at the data-movement memory efficiency;
    ``layout_bytes`` their bytes. ``cpu``: the CPU figures it runs with (:func:`~costmodel.latency.cpu.cpu_kernel`;
    a GPU's are :data:`~costmodel.latency.cpu.ON_ONE_CORE`), which the next kernel's cross-core handoff compares
    with (:func:`~costmodel.latency.cpu.handoff_seconds`); None for a kernel the next one does not compare with (a
    GPU convolution's bias add, which reads and writes the output in place).
    """

    name: str
    consumer: str
    members: tuple[Layer[Attrs], ...]
    keys: tuple[str, ...]
    units: tuple[UnitPeak, ...]
    compute_s: tuple[float, ...]
    memory_s: tuple[float, ...]
    traffic: tuple[OpTraffic, ...]
    fixed_s: float = 0.0  # per call on top of the launch overhead, whatever the factors (CPU: latency/cpu.py)
    layout_s: float = 0.0  # transposes around the kernel (latency/layout.py): DRAM seconds at efficiency 1
    layout_bytes: int = 0
    cpu: CpuKernel | None = None


@dataclass(frozen=True)
class Boundary:
    """Where a run of a bigger graph's layers starts, for :func:`kernel_terms` of that run alone.

    The run is a graph of its own whose inputs stand for the tensors it reads from earlier layers (each under
    its root: a view of an earlier tensor is read as that tensor). ``input_bytes``: their bytes per element in
    the bigger graph's precision plan; ``just_written``: those the kernel just before the run wrote (they are
    read from the cache when they fit). Only without fusion (``none``) is every kernel of the bigger graph a
    kernel of exactly one run, so the runs' terms, in order, are the bigger graph's.

    Eager view calls (a CPU profile's ``cpu.view_us``) are charged to the kernel after them (:func:`view_calls`):
    ``views_before`` counts those of earlier runs after their last kernel (charged to this run's first kernel), and
    ``ends`` says whether the run ends the bigger graph (views after its last kernel are then charged to that kernel;
    otherwise they are the next run's ``views_before``).

    ``before``: the CPU figures of the kernel just before the run (:func:`~costmodel.latency.cpu.cpu_kernel`), whose
    split of ``just_written`` over the cores the run's first kernel may not share
    (:func:`~costmodel.latency.cpu.handoff_seconds`); None, not known: no handoff is priced there. The last
    :attr:`KernelTerms.cpu` that is not None of the run before is that kernel's (the sweep's fragments pass it on,
    sweep/fast.py).
    """

    input_bytes: Mapping[str, int] = field(default_factory=dict)
    just_written: frozenset[str] = frozenset()
    views_before: int = 0
    ends: bool = True
    before: CpuKernel | None = None


CAST_KEY = "elementwise"  # a cast is an elementwise copy: priced with the elementwise efficiencies
COPY_KEY = "data_movement"  # an eager .contiguous() copy of a strided view (latency/contiguity.py)
BIAS_KEY = "elementwise"  # eager cuDNN conv's separate output.add_(bias) (latency/layout.py): an elementwise kernel


def kernel_terms(
    graph: Graph, profile: HardwareProfile, dtype: str, fusion: str = DEFAULT_FUSION,
    precision: str | Precision = DEFAULT_PRECISION, boundary: Boundary | None = None,
) -> list[KernelTerms]:
    """The kernels ``graph`` runs as on ``profile`` (in issue order, casts included), unpriced. A CPU profile is
    taken as run with its default thread count (:func:`~costmodel.hardware.threaded`). ``boundary``: ``graph``
    is a run of a bigger graph's layers (fusion ``none`` only)."""
    profile = threaded(profile)
    check_dtype(profile, dtype)
    if boundary is not None and fusion != Fusion.NONE:
        raise ValueError(f"kernel terms of a run of layers need fusion 'none' (a {fusion} kernel may span runs)")
    sizes = plan(graph, dtype, precision, boundary.input_bytes if boundary else None)
    groups = group_layers(graph, fusion)
    eager = fusion == "none"
    traffic = kernel_traffic(graph, groups, sizes, usable_cache_bytes(profile), cast_reads=eager,
                             previous={f"input:{name}" for name in boundary.just_written} if boundary else ())
    bw = bandwidth(profile)
    vector = unit_for(profile, "elementwise", dtype)
    views = eager_layout(graph, profile, fusion)
    nhwc = views.channels_last if profile.cpu is not None and eager else frozenset()
    threads = profile.cpu.threads or profile.cpu.cores if profile.cpu is not None else 1  # the CPU's, for oneDNN
    block = onednn_block(profile)  # channels per block of oneDNN's layouts (0: none)
    memo = _MEMBERS.table(profile, fusion)
    view_us = profile.cpu.view_us if profile.cpu is not None and eager else 0.0
    view_counts = view_calls(graph.layers, [members[0].path for members in groups],
                             *((boundary.views_before, boundary.ends) if boundary else ())) if view_us else {}
    by_path = graph.by_path
    strided = strided_norms(graph) if profile.cpu is not None and (
        profile.cpu.strided_norm_ns or profile.cpu.strided_norm_output_ns) else frozenset()
    out: list[KernelTerms] = []
    last = boundary.before if boundary else None  # the CPU figures of the kernel just issued (handoff_seconds)
    for members, moved in zip(groups, traffic, strict=True):
        for copy in views.copies.get(members[0].path, []):
            nbytes = copy.elements * sizes.bytes_of(copy.root)
            on = last = cpu_kernel(profile, COPY_KEY, copy.elements)
            out.append(KernelTerms(f"{copy.consumer}:copy", copy.consumer, (), (COPY_KEY,), (vector,), (0.0,),
                                   (2 * nbytes / bw * on.memory_scale,), (OpTraffic(nbytes, nbytes, 0),), on.fixed_s,
                                   cpu=on))
        for cast in sizes.casts.get(members[0].path, []) if fusion in CAST_FUSIONS else []:
            if cast.weight or eager:
                nbytes = cast.dram_bytes
                on = last = cpu_kernel(profile, CAST_KEY, cast.elements)
                out.append(KernelTerms(f"{cast.consumer}:cast", cast.consumer, (), (CAST_KEY,), (vector,), (0.0,),
                                       (nbytes / bw * on.memory_scale,),
                                       (OpTraffic(cast.elements * cast.src_bytes, cast.elements * cast.dst_bytes, 0),),
                                       on.fixed_s, cpu=on))
        static = [memo.terms(layer, sizes.compute_dtype[layer.path], graph, profile) for layer in members]
        units = tuple(s.unit for s in static)
        keys = tuple(s.key for s in static)
        reordered = [weight_reorder_bytes(layer, profile, fusion, sizes) for layer in members]
        head, head_dtype = members[0], sizes.compute_dtype[members[0].path]
        # oneDNN's blocked kernels work on channels padded to its block (none off a CPU and where oneDNN runs none)
        blocked = [onednn_blocking(layer, sizes.compute_dtype[layer.path], threads, layer.path in nhwc, block)
                   for layer in members] if block else [UNBLOCKED] * len(members)
        padded = [b.padding for b in blocked]
        on = ON_ONE_CORE if profile.cpu is None else cpu_kernel(
            profile, keys[0], math.prod(head.cost.outputs[0]) if head.cost.outputs else 0,
            sum(math.prod(layer.cost.outputs[0]) * pad for layer, key, pad in zip(members, keys, padded, strict=True)
                if key == EfficiencyClass.DEPTHWISE),
            onednn_only_when_threaded(head, head_dtype),
            op_seconds(profile, members, by_path, strided) + fresh_page_seconds(profile, [
                *reordered, *(math.prod(shape) * sizes.bytes_of((layer.path, k))
                              for layer in members for k, shape in enumerate(layer.cost.outputs))]),
            split_of(head, head_dtype, profile),
            sum(math.prod(shape) for shape in (*head.input_shapes[:1], *head.cost.outputs[:1])),
            onednn_reorder_elements(head, head_dtype, threads, head.path in nhwc),
            onednn_conv=head.path not in nhwc and runs_on_onednn(head, head_dtype, threads),
            pieces=concat_pieces(head),
            tail_elements=blocked[0].tail_elements)
        layout = sum(s.layout_bytes for layer, s in zip(members, static, strict=True)
                     if layer.path not in views.channels_last) + sum(reordered)
        handoff = handoff_seconds(profile, on, last, sum(t.cache_read for t in moved))
        last = on
        out.append(KernelTerms(
            members[0].path, members[0].path, tuple(members), keys, units,
            tuple(layer.cost.flops * pad / s.rate * on.compute_scale
                  for layer, s, pad in zip(members, static, padded, strict=True)),
            tuple(t.dram_bytes / bw * on.memory_scale for t in moved), tuple(moved),
            on.fixed_s + handoff + view_counts.get(members[0].path, 0) * view_us * 1e-6, layout / bw, layout, on))
        for layer, key in zip(members, keys, strict=True):
            elements = bias_add_elements(layer, profile, fusion, key)
            if elements:  # read and write the output in place
                nbytes = elements * sizes.bytes_of((layer.path, 0))
                out.append(KernelTerms(f"{layer.path}:bias", layer.path, (), (BIAS_KEY,), (vector,), (0.0,),
                                       (2 * nbytes / bw,), (OpTraffic(nbytes, nbytes, 0),)))
    return out


@dataclass(frozen=True, slots=True)
class MemberTerms:
    """What :func:`kernel_terms` works out for one layer from the layer alone (:class:`MemberMemo`): its efficiency
    key, its unit, the FLOP/s it runs at before efficiencies (the unit's peak times the GPU tile/wave factor,
    latency/shape.py, the Winograd factor of an FP32 3 x 3 conv on a GPU's CUDA cores, latency/winograd.py, and the
    issue-rate factor of a depthwise conv PyTorch runs with its own kernel on a GPU, latency/depthwise.py) and
    the bytes of the NCHW <-> NHWC transposes around it when its input is not channels-last (latency/layout.py)."""

    key: EfficiencyClass
    unit: UnitPeak
    rate: float
    layout_bytes: int


class MemberMemo:
    """:class:`MemberTerms` of layers, memoised by everything they are computed from: the layer's op, attributes
    (by identity: attributes are immutable, and the builds of a process share equal ones; each entry keeps its
    attributes alive, so an identity is never reused while its entry lives), cost (output shapes, counts, op
    class), compute dtype and first input's shape in the graph priced, and -- per table -- the fusion mode and
    the profile's peaks, SM count and FP32 lanes per SM, kind and vector GEMM scale (what unit_for,
    shape_efficiency, issue_rate_factor and transpose_bytes read of it).

    Repeated layers (the blocks of a network, the candidates of a design space: a block at a new width mostly
    repeats layers seen elsewhere) then cost a dictionary lookup. Bounded: every table is emptied when they hold
    ``MAX_ENTRIES`` in all (an entry takes about 0.5 kB with the attributes it keeps), and at most ``MAX_TABLES``
    tables are kept."""

    MAX_ENTRIES = 50_000
    MAX_TABLES = 16

    def __init__(self) -> None:
        self.tables: dict[Any, _MemberTable] = {}
        self.size = 0  # entries in all tables

    def table(self, profile: HardwareProfile, fusion: str) -> _MemberTable:
        """The table for ``profile`` (as run) and ``fusion``."""
        gpu = profile.gpu
        key = (str(fusion), tuple(profile.peak.matrix.items()), tuple(profile.peak.vector.items()),
               None if gpu is None else ("gpu", gpu.sms, gpu.fp32_lanes_per_sm), profile.cpu is None,
               vector_gemm_scale(profile))
        found = self.tables.get(key)
        if found is None:
            if len(self.tables) >= self.MAX_TABLES:
                self.clear()
            found = self.tables[key] = _MemberTable(self, fusion)
        return found

    def clear(self) -> None:
        """Every table emptied (a table a caller holds stays usable) and forgotten."""
        for table in self.tables.values():
            table.entries.clear()
        self.tables.clear()
        self.size = 0


class _MemberTable:
    """One profile's and fusion mode's :class:`MemberTerms` (see :class:`MemberMemo`)."""

    def __init__(self, memo: MemberMemo, fusion: str) -> None:
        self.memo = memo
        self.fusion = fusion
        self.entries: dict[Any, tuple[MemberTerms, Attrs]] = {}

    def terms(self, layer: Layer[Attrs], dtype: str, graph: Graph, profile: HardwareProfile) -> MemberTerms:
        """The terms of ``layer`` computing in ``dtype`` in ``graph`` on ``profile`` (one this table is for)."""
        first = graph.shape(layer.inputs[0]) if layer.inputs else None
        key = (layer.op, id(layer.attrs), layer.cost, dtype, first)
        found = self.entries.get(key)
        if found is not None:
            return found[0]
        terms = self.compute(layer, dtype, graph, profile)
        memo = self.memo
        if memo.size >= memo.MAX_ENTRIES:
            for table in memo.tables.values():
                table.entries.clear()
            self.entries.clear()
            memo.size = 0
        self.entries[key] = (terms, layer.attrs)
        memo.size += 1
        return terms

    def compute(self, layer: Layer[Attrs], dtype: str, graph: Graph, profile: HardwareProfile) -> MemberTerms:
        """The terms computed afresh (what the memo must equal)."""
        unit = unit_for(profile, layer.cost.op_class.value, dtype)
        key = efficiency_class(layer.op, layer.cost.op_class.value)
        issue = issue_rate_factor(layer, graph.shape(layer.inputs[0]) if layer.inputs else None, profile,
                                  unit.peak_flops, dtype, self.fusion) if key == EfficiencyClass.DEPTHWISE else 1.0
        return MemberTerms(key, unit, unit.peak_flops * shape_efficiency(layer, profile, unit.name)
                           * winograd_speedup(layer, profile, unit.name, unit.dtype) * issue,
                           transpose_bytes(graph, layer, profile, self.fusion, key, unit.name, unit.dtype))


_MEMBERS = MemberMemo()


def weight_reorder_bytes(layer: Layer[Attrs], profile: HardwareProfile, fusion: str, sizes: PrecisionPlan) -> int:
    """Bytes of the blocked copy of ``layer``'s weights that oneDNN makes on every eager call on a CPU (0 where it
    makes none): PyTorch's mkldnn_convolution (aten/src/ATen/native/mkldnn/Conv.cpp) hands ideep the plain OIHW
    weight, and ideep reorders it to the primitive's blocked layout (OIhw8i8o for AVX2) before each execution
    (ONEDNN_VERBOSE shows a reorder before every convolution; only torch.compile's freezing or an engine keeps
    the reordered weight). The copy is priced as one pass over these bytes, serial to the convolution, from
    python benchmarks/cpu_roofline.py --weight-reorder under load (0.83-1.13 x weight bytes / the stream-copy rate).
    On the quiet machine the same benchmark gives 1.8-2.35 x (a full copy, read + write, as a clone of the weights
    takes), but two passes make the model's shape worse on every CPU file: the dense oneDNN convs are overpriced
    elsewhere by about as much, so one pass stays until that is found (docs/latency-model.md, "CPUs and threads").
    A 1x1 conv that changes library with the thread count is left out where the profile prices its switch as one
    measured lump (``cpu.conv1x1_threaded_speedup``: its extra cost includes the copy), and copies its weights like
    any oneDNN conv where the profile prices the switch by its parts (``cpu.conv1x1_reorder_ns``). A linear layer of
    more than one row pays the same pass over its weights, the BLAS GEMM's packing of them, and so does a conv
    PyTorch runs natively as a GEMM
    (:func:`~costmodel.latency.cpu.packs_weights`; measured with ``--gemm-rows`` at 0.9-1.07 x weight bytes / the
    profile's bandwidth for F.linear, about as much for the native 1x1 conv)."""
    if profile.cpu is None or fusion != Fusion.NONE:
        return 0
    dtype = sizes.compute_dtype[layer.path]
    threads = profile.cpu.threads or profile.cpu.cores
    if packs_weights(layer, dtype, threads):  # the weight matrix; the bias is added, not packed
        attrs = layer.attrs
        bias = attrs.out if isinstance(attrs, (LinearAttrs, ConvAttrs)) and attrs.bias else 0
        return (layer.cost.params - bias) * sizes.weight_bytes.get(layer.path, sizes.half_bytes)
    if not runs_on_onednn(layer, dtype, threads) or (
            onednn_only_when_threaded(layer, dtype) and profile.cpu.conv1x1_threaded_speedup is not None):
        return 0
    return layer.cost.params * sizes.weight_bytes.get(layer.path, sizes.half_bytes)


def estimate(
    graph: Graph, profile: HardwareProfile, *, dtype: str | None = None, fusion: str = DEFAULT_FUSION,
    key: str | None = None, precision: str | Precision = DEFAULT_PRECISION, threads: int | None = None,
) -> LatencyResult:
    """Roofline latency of ``graph`` (at its batch) on ``profile``; ``dtype`` overrides the graph's;
    ``precision`` the precision policy (``uniform``, or ``amp``: autocast with ``dtype`` as the half type);
    ``threads`` the thread count on a CPU profile (default: the profile's).

    Raises :class:`HardwareError` if the profile lists no peak for the dtype, ``ValueError`` for an unknown
    fusion mode or precision.
    """
    dtype = dtype or graph.dtype
    profile = threaded(profile, threads)
    terms = kernel_terms(graph, profile, dtype, fusion, precision)
    priced = [price_kernel(t, profile) for t in terms]
    shares = kernel_seconds([kernel_busy(t, profile, p) for t, p in zip(terms, priced, strict=True)], profile)

    op_rows: dict[str, OpLatency] = {}
    extra: dict[str, float] = {}  # cast kernels' latency, charged to the op they feed
    kernels: list[KernelLatency] = []
    for term, (compute_total, memory_total), total in zip(terms, priced, shares, strict=True):
        layout = layout_seconds(term, profile)
        busy = max(compute_total, memory_total) + layout
        overhead = float(total) - busy
        bound = "overhead" if overhead > busy else "compute" if compute_total >= memory_total and compute_total > 0 \
            else "memory"
        kernels.append(KernelLatency(
            name=term.name, ops=tuple(layer.path for layer in term.members),
            flops=sum(layer.cost.flops for layer in term.members),
            dram_bytes=sum(t.dram_bytes for t in term.traffic) + term.layout_bytes,
            cache_read=sum(t.cache_read for t in term.traffic), compute_s=compute_total, memory_s=memory_total + layout,
            overhead_s=overhead, latency_s=float(total), bound=bound,
        ))
        if not term.members:
            extra[term.consumer] = extra.get(term.consumer, 0.0) + float(total)
            continue
        roofs = [attained_roof(profile, k, u.peak_flops) for k, u in zip(term.keys, term.units, strict=True)]
        memory_rate = roofs[0][1]  # the kernel streams at its head op's memory efficiency
        compute = [c * u.peak_flops / roof[0] for c, u, roof in zip(term.compute_s, term.units, roofs, strict=True)]
        memory = [m * bandwidth(profile) / memory_rate for m in term.memory_s]
        weights = [max(c, m) for c, m in zip(compute, memory, strict=True)]
        weights[0] += layout  # the transposes go with the convolution (a kernel with them has that one member)
        for i, (layer, t) in enumerate(zip(term.members, term.traffic, strict=True)):
            share = busy * weights[i] / sum(weights) if sum(weights) else 0.0
            rate = roofs[i][0]
            extra_bytes = term.layout_bytes // 2 if i == 0 else 0  # transposes: read and written alike
            dram = t.dram_bytes + 2 * extra_bytes
            op_rows[layer.path] = OpLatency(
                path=layer.path, op=layer.op, op_class=layer.cost.op_class.value, kernel=term.name,
                unit=term.units[i].name, flops=layer.cost.flops, dram_read=t.dram_read + extra_bytes,
                dram_written=t.dram_written + extra_bytes, cache_read=t.cache_read,
                intensity=layer.cost.flops / dram if dram else None,
                ridge=rate / memory_rate, compute_s=compute[i], memory_s=memory[i] + (layout if i == 0 else 0.0),
                latency_s=share + (overhead if i == 0 else 0.0), bound=bound, cached=t.cache_read > 0,
            )
    for path, seconds in extra.items():
        op_rows[path] = replace(op_rows[path], latency_s=op_rows[path].latency_s + seconds)

    ops = [op_rows.get(layer.path) or _view_row(layer.path, layer.op) for layer in graph.layers]
    summary = summarize(graph.batch, profile, dtype, fusion, key or profile.key, ops, kernels)
    return LatencyResult(replace(summary, precision=Precision(precision).value), ops, kernels)


def price_kernel(term: KernelTerms, profile: HardwareProfile) -> tuple[float, float]:
    """(compute, memory) seconds of one kernel with ``profile``'s efficiency factors: the one place a
    kernel's roofline terms are priced (calibration's :class:`~costmodel.calibration.fit.Basis` re-prices the
    same terms with arrays, and the tests check the two agree)."""
    roofs = [attained_roof(profile, k, u.peak_flops) for k, u in zip(term.keys, term.units, strict=True)]
    compute = sum(c * u.peak_flops / roof[0] for c, u, roof in zip(term.compute_s, term.units, roofs, strict=True))
    return compute, sum(term.memory_s) * bandwidth(profile) / roofs[0][1]


def layout_seconds(term: KernelTerms, profile: HardwareProfile) -> float:
    """Seconds of the layout transposes around one kernel (latency/layout.py; 0 for most kernels): their bytes at the
    profile's data-movement memory efficiency."""
    return term.layout_s / attained_roof(profile, LAYOUT_KEY, 1.0)[1] * bandwidth(profile) if term.layout_s else 0.0


def kernel_busy(term: KernelTerms, profile: HardwareProfile, priced: tuple[float, float] | None = None) -> float:
    """Seconds the device is busy with one kernel: the larger of its priced compute and memory times, plus the
    layout transposes serial to it and its fixed per-call costs (a CPU's op-class dispatch, fork/join and
    depthwise costs; 0 on accelerators). ``priced``: :func:`price_kernel`'s result, where the caller has it."""
    compute, memory = priced if priced is not None else price_kernel(term, profile)
    return max(compute, memory) + layout_seconds(term, profile) + term.fixed_s


def kernel_seconds(busy: Sequence[float] | np.ndarray, profile: HardwareProfile) -> np.ndarray:
    """Per kernel (in issue order), the seconds it adds end to end given the seconds it keeps the device busy:
    the host/device :func:`~costmodel.latency.timeline` with ``profile``'s launch and host overheads. The model
    latency (:attr:`ModelLatency.latency_s`) is their sum, :func:`model_seconds`."""
    return timeline(busy, launch_overhead(profile), host_overhead(profile))


def model_seconds(busy: Sequence[float] | np.ndarray, profile: HardwareProfile) -> float:
    """Model latency per batch from the per-kernel busy seconds (:func:`kernel_busy` of each kernel, in issue order)
    on ``profile`` (as :func:`~costmodel.hardware.threaded` gives it for a CPU): exactly what :func:`estimate`
    reports, so callers that cache kernels' busy times (the sweep) reproduce it from them."""
    shares: list[float] = kernel_seconds(busy, profile).tolist()
    return sum(shares)


def _view_row(path: str, op: str) -> OpLatency:
    return OpLatency(path, op, "view", "", "", 0, 0, 0, 0, None, None, 0.0, 0.0, 0.0, "none", False)


def summarize(
    batch: int, profile: HardwareProfile, dtype: str, fusion: str, key: str, ops: Sequence[OpLatency],
    kernels: Sequence[KernelLatency],
) -> ModelLatency:
    """Model figures from the per-op rows and kernels of one estimate."""
    latency = sum(k.latency_s for k in kernels)  # = model_seconds of the kernels' busy times
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
    precision: str | Precision = DEFAULT_PRECISION,
) -> LatencyResult:
    """Load and expand a spec, then :func:`estimate` it on ``hw`` (a profile, or its name, alias or path)."""
    profile = load_profile(hw) if isinstance(hw, str) else hw
    graph = load_graph(spec, batch=batch, input_shapes=input_shapes)
    return estimate(graph, profile, dtype=dtype, fusion=fusion, precision=precision)


def batch_sweep(
    graph: Graph, profile: HardwareProfile, batches: Sequence[int], *, dtype: str | None = None,
    fusion: str = DEFAULT_FUSION, key: str | None = None, precision: str | Precision = DEFAULT_PRECISION,
) -> list[ModelLatency]:
    """Model summaries of one network at several batch sizes: the throughput curve. The spec is expanded once
    (``graph``); each batch size re-shapes it (:meth:`Graph.with_batch`)."""
    key = key or profile.key
    return [estimate(graph.with_batch(b), profile, dtype=dtype, fusion=fusion, key=key, precision=precision).summary
            for b in batches]


__all__ = ["CAST_FUSIONS", "DEFAULT_FUSION", "FUSION_MODES", "Boundary", "KernelLatency", "KernelTerms",
           "LatencyResult", "ModelLatency", "OpLatency", "aggregate_ops", "batch_sweep", "estimate", "estimate_spec",
           "kernel_busy", "kernel_seconds", "kernel_terms", "layout_seconds", "model_seconds", "price_kernel",
           "summarize"]
