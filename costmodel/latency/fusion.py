"""Which layers run together as one kernel, and what each kernel moves to and from DRAM.

Fusion modes (``FUSION_MODES``):

- ``none``: every non-view op is its own kernel (eager execution).
- ``epilogue``: norms and elementwise ops (activations, residual adds, layer scale, ...) fold into the
  kernel that produced one of their inputs, if that kernel is the one just before them.
- ``compile``: what torch.compile's Inductor does by default: convolutions, linear, matmul and attention stay
  library kernels (cuDNN / cuBLAS "extern" kernels, nothing fused into them), and every run of other ops
  (norms, activations, residual adds, reductions, copies) joins the kernel before it when that kernel is
  such a generated kernel and produced one of its inputs.
- ``block``: consecutive epilogue kernels that lie inside the same innermost block instance (layers
  sharing the path prefix before their last component, e.g. ``stages.2.blocks.4``) become one kernel.
  Block grouping coarsens epilogue grouping, so it never moves more bytes.

View ops (reshape, slice, dropout, ...) launch nothing and move nothing: a kernel reading a view reads
the viewed tensor. A kernel reads each distinct external tensor once and writes each output that is
needed outside it (a graph output, or read by a later kernel); tensors produced and consumed inside a
kernel never leave the chip. A tensor written by the immediately preceding kernel that fits in half the
last-level cache is served from the cache, not DRAM.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from ..graph import Graph, Layer, TensorRef
from ..ops.base import Attrs, numel
from ..vocab import Fusion, OpClass
from .precision import PrecisionPlan, Tensor

FUSION_MODES: tuple[str, ...] = Fusion.values()
EPILOGUE_CLASSES = frozenset({OpClass.NORM, OpClass.ELEMENTWISE})  # fold into the kernel before them
# Ops Inductor leaves to vendor libraries (extern kernels): everything on the matrix unit, depthwise convs too.
EXTERN_CLASSES = frozenset({OpClass.GEMM, OpClass.DEPTHWISE, OpClass.ATTENTION})


@dataclass(frozen=True)
class OpTraffic:
    """Bytes one op of a kernel accounts for: DRAM reads (inputs + weights), DRAM writes, cache reads."""

    dram_read: int
    dram_written: int
    cache_read: int

    @property
    def dram_bytes(self) -> int:
        """Bytes moved to and from DRAM."""
        return self.dram_read + self.dram_written




class _Dataflow:
    """Producers and consumers of the graph's tensors, seen through views."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.layers = {layer.path: layer for layer in graph.layers}
        self.consumers: dict[Tensor, set[str]] = {}
        for layer in graph.layers:
            if not layer.cost.is_view:
                for ref in layer.inputs:
                    self.consumers.setdefault(self.root(ref), set()).add(layer.path)
        self.outputs = {self.root(ref) for ref in graph.outputs}
        self.read_keys: dict[TensorRef, tuple[Tensor, Tensor | None]] = {}  # read_key's, per tensor read

    def root(self, ref: TensorRef) -> Tensor:
        """The non-view tensor (or graph input) that ``ref`` aliases."""
        layer = self.layers.get(ref.node)
        while layer is not None and layer.cost.is_view:
            ref = layer.inputs[0]
            layer = self.layers.get(ref.node)
        return ref.node, ref.index

    def read_key(self, ref: TensorRef) -> tuple[Tensor, Tensor | None]:
        """Identity of what reading ``ref`` touches: the root tensor, plus the view for a partial view. Found once
        per tensor: a DenseNet layer reads every tensor of its block before it."""
        key = self.read_keys.get(ref)
        if key is None:
            root = self.root(ref)
            whole = numel(self.graph.shape(ref)) == numel(self.graph.shape(TensorRef(*root)))
            key = self.read_keys[ref] = (root, None if whole else (ref.node, ref.index))
        return key


def _parent(path: str) -> str:
    return path.rpartition(".")[0]


def group_layers(graph: Graph, mode: Fusion | str) -> list[list[Layer[Attrs]]]:
    """Kernels as lists of (non-view) layers, in execution order; each kernel is a contiguous run."""
    if mode not in FUSION_MODES:
        raise ValueError(f"unknown fusion mode {mode!r}; choose one of {', '.join(FUSION_MODES)}")
    ops = [layer for layer in graph.layers if not layer.cost.is_view]
    if mode == Fusion.NONE:
        return [[layer] for layer in ops]
    flow = _Dataflow(graph)
    kernels: list[list[Layer[Attrs]]] = []
    for layer in ops:
        last = {member.path for member in kernels[-1]} if kernels else set()
        op_class = layer.cost.op_class
        if mode == Fusion.COMPILE:
            joins = (op_class not in EXTERN_CLASSES and bool(kernels)
                     and kernels[-1][0].cost.op_class not in EXTERN_CLASSES)
        else:
            joins = op_class in EPILOGUE_CLASSES
        if joins and any(flow.root(r)[0] in last for r in layer.inputs):
            kernels[-1].append(layer)
        else:
            kernels.append([layer])
    if mode in (Fusion.EPILOGUE, Fusion.COMPILE):
        return kernels
    merged: list[list[Layer[Attrs]]] = []
    previous_block: str | None = None
    for kernel in kernels:
        parents = {_parent(layer.path) for layer in kernel}
        block = parents.pop() if len(parents) == 1 else None
        if block and block == previous_block:
            merged[-1].extend(kernel)
        else:
            merged.append(list(kernel))
        previous_block = block or None
    return merged


def kernel_traffic(
    graph: Graph, kernels: Sequence[Sequence[Layer[Attrs]]], sizes: PrecisionPlan, cache_bytes: float,
    *, cast_reads: bool = True, previous: Collection[str] = (),
) -> list[list[OpTraffic]]:
    """Per kernel, per member op: the bytes it accounts for (:class:`OpTraffic`).

    Reads are charged to the first member that reads a tensor, writes to the member that produces it,
    weights (and extra tables) to their owner; every tensor at its own bytes per element (``sizes``). With
    ``cast_reads``, an input the plan casts before the op is read as the copy the cast kernel (run just
    before) wrote, from the cache when it fits; the casts' own traffic is not included here. ``previous``: the
    producers (layers or ``input:NAME``) the first kernel counts as written by the kernel just before it (when
    ``graph`` is a run of a bigger graph's layers, see :class:`~costmodel.latency.Boundary`).
    """
    flow = _Dataflow(graph)
    out: list[list[OpTraffic]] = []
    previous = set(previous)
    for kernel in kernels:
        members = {layer.path for layer in kernel}
        seen: set[tuple[Tensor, Tensor | None]] = set()
        rows = []
        for layer in kernel:
            dram = (layer.cost.params + layer.cost.extra_read_elems) * sizes.weight_bytes[layer.path]
            cache = 0
            casted = sizes.cast_inputs(layer.path) if cast_reads else {}
            for ref in layer.inputs:
                key = flow.read_key(ref)
                producer = key[0][0]
                if producer in members or key in seen:
                    continue
                seen.add(key)
                through_cast = key[0] in casted
                width = casted[key[0]] if through_cast else sizes.bytes_of(key[0])
                size = numel(graph.shape(ref)) * width
                if (producer in previous or through_cast) and size <= cache_bytes:
                    cache += size
                else:
                    dram += size
            written = 0
            for index, shape in enumerate(layer.cost.outputs):
                tensor = (layer.path, index)
                users = flow.consumers.get(tensor, set())
                if tensor in flow.outputs or not users or not users <= members:
                    written += numel(shape) * sizes.bytes_of(tensor)
            rows.append(OpTraffic(dram, written, cache))
        out.append(rows)
        previous = members
    return out
