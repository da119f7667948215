"""Eager copies of non-contiguous views: the kernels eager PyTorch runs that a spec's views do not show.

A spec's views (permute, transpose, split, slice, reshape, ...) launch nothing (fusion.py). In eager PyTorch they
are strided views too, but two things turn some of them into copies, each a kernel that reads the view and writes a
contiguous tensor:

- ``reshape`` / ``view`` / ``flatten`` / ``unflatten`` of a tensor whose strides do not allow the new shape:
  torch.reshape "returns a view if possible, otherwise a copy" (PyTorch docs, ``torch.reshape``). Whether it is
  possible is PyTorch's ``computeStride`` (aten/src/ATen/TensorUtils.cpp), reimplemented in :func:`view_strides`:
  the typical case is ``x.transpose(1, 2).reshape(B, N, C)`` after attention, or
  ``x.permute(0, 2, 1).reshape(B, C, H, W)``.
- kernels that take a contiguous input and call ``.contiguous()`` on what they are given: convolutions
  (``at::_convolution``, aten/src/ATen/native/Convolution.cpp: ``input.contiguous(backend_memory_format)`` before
  cuDNN), LayerNorm and RMSNorm (aten/src/ATen/native/cuda/layer_norm_kernel.cu: ``input.expect_contiguous()``) and
  softmax (aten/src/ATen/native/cuda/SoftMax.cu, ``host_softmax``: ``input_.contiguous()``). A channel slice of an
  NCHW tensor (``torch.split(x, sizes, dim=1)`` in MixNet's mixed convs and InceptionNeXt's branches) or a
  transposed token tensor fed to one of them is copied first.

- a batched ``matmul`` operand whose batch dimensions do not merge: ``at::matmul`` (``_matmul_impl``,
  aten/src/ATen/native/LinearAlgebra.cpp) runs ``tensor.expand(batch + [n, m]).reshape({batch_product, n, m})`` on
  both operands before ``bmm`` unless it can fold the larger one into a matrix (``should_fold``: the other operand
  has at most two dims and the larger one's leading dims are contiguous), and that reshape copies where no view
  exists; ``bmm`` then clones a matrix batch whose last two strides cuBLAS cannot take (one of them 1, the other at
  least the matching size: ``prepare_batch_matrix_for_cublas``, aten/src/ATen/native/cuda/Blas.cpp). Typical:
  ``q @ k.transpose(-2, -1)`` and ``attn @ v`` where k and v are head views of a qkv projection,
  ``[B, N, 3, H, d] -> [B, H, N, d]`` (Swin's window attention, CaiT, LeViT, EfficientFormer): B and H do not
  merge, so k and v (and q, whose scaling keeps its layout) are copied before each product (:func:`matmul_copies`).

Other GEMM operands are taken as they are (cuBLAS transposition flags), and elementwise ops and reductions read any
strides (TensorIterator), so neither copies. Only eager execution (fusion ``none``) is priced: torch.compile
generates kernels that read views in place, inference engines plan their own layouts. On a CPU the same copies run
(``at::matmul``'s reshape, ``at::_convolution``'s and the CPU layer norm's ``.contiguous()`` are the same ATen code;
the CPU softmax makes its input contiguous too), with the strides followed by :class:`_CpuStrides`: LayerNorm2d's
channels-last result, which the convs after it keep (ConvNeXt's permute to NHWC after its depthwise conv is then
contiguous). Each copy reads and writes the view's elements (a broadcast operand's
expanded elements) at the tensor's width and is priced as a data-movement kernel run just before its consumer. No
constant: the bytes are the tensors'.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..graph import Graph, Layer, TensorRef
from ..hardware import HardwareProfile
from ..ops.base import Attrs, get_op, numel
from ..vocab import EfficiencyClass, Fusion

# ops whose CUDA kernels make their (first) input contiguous (module doc)
CONTIGUOUS_INPUT = frozenset({"layer_norm", "rms_norm", "softmax"})
VIEW_RESHAPES = frozenset({"reshape", "flatten", "unflatten", "batch_reshape"})
VIEW_SLICES = frozenset({"split", "chunk", "slice", "narrow"})
VIEW_SAME = frozenset({"identity", "dropout", "drop_path"})


@dataclass(frozen=True)
class Copy:
    """One copy kernel eager PyTorch runs before ``consumer``: the view ``ref`` it materialises, its elements."""

    consumer: str
    ref: TensorRef
    elements: int
    root: tuple[str, int]  # the non-view tensor the view aliases (its width is the copy's)


def contiguous_strides(shape: Sequence[int]) -> tuple[int, ...]:
    """Row-major strides of ``shape`` (elements)."""
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def is_contiguous(shape: Sequence[int], strides: Sequence[int]) -> bool:
    """PyTorch's ``is_contiguous``: row-major strides, dims of size 1 ignored."""
    expected = 1
    for size, stride in zip(reversed(shape), reversed(strides), strict=True):
        if size == 1:
            continue
        if stride != expected:
            return False
        expected *= size
    return True


def view_strides(old: Sequence[int], strides: Sequence[int], new: Sequence[int]) -> tuple[int, ...] | None:
    """Strides of ``old`` (with ``strides``) viewed as shape ``new``, or None where no view exists (a reshape then
    copies): PyTorch's ``computeStride`` (aten/src/ATen/TensorUtils.cpp), dimension chunk by dimension chunk."""
    if not old:
        return tuple(1 for _ in new)
    if numel(old) == 0:
        return contiguous_strides(new)
    out = [0] * len(new)
    view_d = len(new) - 1
    chunk_base = strides[-1]
    tensor_numel = view_numel = 1
    for tensor_d in range(len(old) - 1, -1, -1):
        tensor_numel *= old[tensor_d]
        if tensor_d == 0 or (old[tensor_d - 1] != 1 and strides[tensor_d - 1] != tensor_numel * chunk_base):
            while view_d >= 0 and (view_numel < tensor_numel or new[view_d] == 1):
                out[view_d] = view_numel * chunk_base
                view_numel *= new[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if tensor_d > 0:
                chunk_base = strides[tensor_d - 1]
                tensor_numel = view_numel = 1
    return tuple(out) if view_d == -1 else None


class _Strides:
    """Strides of every view in a graph, followed from its root (a contiguous tensor), and which views copy."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.layers = {layer.path: layer for layer in graph.layers}
        self.memo: dict[TensorRef, tuple[tuple[int, ...] | None, TensorRef | None]] = {}

    def of(self, ref: TensorRef) -> tuple[tuple[int, ...] | None, TensorRef | None]:
        """(strides of ``ref``, None when unknown; the output of the last reshape on the way to it that copies)."""
        if ref in self.memo:
            return self.memo[ref]
        layer = self.layers.get(ref.node)
        shape = tuple(self.graph.shape(ref))
        result: tuple[tuple[int, ...] | None, TensorRef | None]
        if layer is None or not layer.inputs:
            result = (contiguous_strides(shape), None)
        elif not layer.cost.is_view:
            result = (self._produced(layer, shape), None)
        else:
            source = layer.inputs[0]
            strides, copied = self.of(source)
            result = (self._step(layer, tuple(self.graph.shape(source)), strides, shape) if strides is not None
                      else None, copied)
            if result[0] is None and strides is not None and get_op(layer.op).name in VIEW_RESHAPES:
                result = (contiguous_strides(shape), ref)  # the reshape copies: its output is contiguous
        self.memo[ref] = result
        return result

    def _produced(self, layer: Layer[Attrs], shape: tuple[int, ...]) -> tuple[int, ...]:
        """Strides of a non-view op's output: the layout the kernel writes (see :func:`output_layout`)."""
        source = layer.inputs[0]
        strides, _ = self.of(source)
        return output_layout(layer, tuple(self.graph.shape(source)), strides, shape)

    def reads_contiguous(self, layer: Layer[Attrs], shape: tuple[int, ...], strides: tuple[int, ...]) -> bool:
        """Whether a kernel of :data:`CONTIGUOUS_INPUT` (or a conv) reads its first input, of ``strides``, without
        first copying it: the input is contiguous."""
        return is_contiguous(shape, strides)

    @staticmethod
    def _step(layer: Layer[Attrs], old: tuple[int, ...], strides: tuple[int, ...],
              new: tuple[int, ...]) -> tuple[int, ...] | None:
        name, attrs, rank = get_op(layer.op).name, layer.attrs, len(old)
        if name == "permute":
            dims = [d % rank for d in getattr(attrs, "dims", range(rank))]
            return tuple(strides[d] for d in dims)
        if name == "transpose":
            a, b = getattr(attrs, "dim0", 0) % rank, getattr(attrs, "dim1", 0) % rank
            out = list(strides)
            out[a], out[b] = out[b], out[a]
            return tuple(out)
        if name in VIEW_SLICES and len(new) == rank:
            step = getattr(attrs, "step", 1) if name == "slice" else 1
            dim = getattr(attrs, "dim", 1) % rank
            return tuple(s * step if d == dim else s for d, s in enumerate(strides))
        if name == "select" and len(new) == rank - 1:
            dim = getattr(attrs, "dim", 1) % rank
            return strides[:dim] + strides[dim + 1:]
        if name == "expand" and len(new) >= rank:
            lead = len(new) - rank
            return tuple(0 if d < lead or old[d - lead] != new[d] else strides[d - lead] for d in range(len(new)))
        if name in VIEW_SAME and new == old:
            return strides
        if name in VIEW_RESHAPES:
            return view_strides(old, strides, new)
        return strides if new == old else None  # another view: unknown strides unless the shape is kept


NORMS_MOVING_CHANNELS = frozenset({"layer_norm", "rms_norm"})  # channels_first: LayerNorm2d / RMSNorm2d's movedim


class _CpuStrides(_Strides):
    """:class:`_Strides` with what eager PyTorch does on a CPU where :func:`output_layout` (the GPU rules) does not
    say it: a channels-first layer or RMS norm of a 4-d map (the bridge's and timm's LayerNorm2d: ``x.permute(0, 2,
    3, 1)`` (``movedim(1, -1)``), the norm over the last axis, then ``permute(0, 3, 1, 2)`` back) makes the moved view
    contiguous (``expect_contiguous``: a copy for an NCHW input, none for a channels-last one) and returns a
    channels-last view of its [N, H, W, C] result (torch 2.13 CPU, profiler: aten::contiguous -> copy_ only for the
    NCHW input); a GRN (``x + addcmul(bias, weight, x * n)``, TensorIterator ops) keeps its input's layout, as any
    elementwise op does."""

    def _produced(self, layer: Layer[Attrs], shape: tuple[int, ...]) -> tuple[int, ...]:
        name = get_op(layer.op).name
        if _moves_channels(layer, shape):
            return dense_like(shape, (3, 0, 2, 1))  # N, H, W, C
        strides, _ = self.of(layer.inputs[0])
        if name == "grn" and strides is not None and tuple(self.graph.shape(layer.inputs[0])) == shape:
            return dense_like(shape, strides)
        return super()._produced(layer, shape)

    def reads_contiguous(self, layer: Layer[Attrs], shape: tuple[int, ...], strides: tuple[int, ...]) -> bool:
        if _moves_channels(layer, shape):  # the norm reads the input with its channels moved last
            return is_contiguous((shape[0], *shape[2:], shape[1]), (strides[0], *strides[2:], strides[1]))
        return super().reads_contiguous(layer, shape, strides)


def _moves_channels(layer: Layer[Attrs], shape: Sequence[int]) -> bool:
    """A channels-first layer or RMS norm of a 4-d map: LayerNorm2d / RMSNorm2d (:class:`_CpuStrides`)."""
    return (get_op(layer.op).name in NORMS_MOVING_CHANNELS and getattr(layer.attrs, "channels_first", False)
            and len(shape) == 4)


def strided_norms(graph: Graph) -> frozenset[str]:
    """Paths of the ``grn`` layers whose L2 norm over the spatial axes eager PyTorch on a CPU reduces with ATen's
    scalar ``binary_kernel_reduce``: ``norm_kernel_tensor_iterator_impl`` (aten/src/ATen/native/cpu/ReduceOpsKernel.cpp)
    takes its vectorized p = 2 path only when ``is_reduce_lastdim(iter)``, one reduced dim that is the innermost and
    contiguous, which holds for a contiguous [N, C, H, W] map (H and W coalesce) and for nothing else: a GRN over
    channels-last [N, H, W, C] (``channels_first: false``, timm's ConvNeXt V2 MLP) and a channels-first GRN of a map
    laid out channels-last (after a channels-first layer norm, :class:`_CpuStrides`) reduce over outer dims."""
    layers = [layer for layer in graph.layers if get_op(layer.op).name == "grn"]
    if not layers:
        return frozenset()
    tracker = _CpuStrides(graph)
    out = set()
    for layer in layers:
        shape = tuple(graph.shape(layer.inputs[0]))
        strides, _ = tracker.of(layer.inputs[0])
        channels_first = getattr(layer.attrs, "channels_first", False)
        spatial = math.prod(shape[2:] if channels_first else shape[1:-1])
        inner = channels_first and strides is not None and is_contiguous(shape, strides)
        if spatial > 1 and not inner:
            out.add(layer.path)
    return frozenset(out)


def matmul_copies(shapes: Sequence[Sequence[int]], strides: Sequence[tuple[int, ...] | None]) -> list[int]:
    """Elements ``at::matmul`` copies from each operand (0: none) before its batched GEMM, given their shapes and
    strides (None: unknown, taken as contiguous): the reshape of the expanded operand to ``[batch, n, m]`` where it is
    not a view, or ``bmm``'s clone of a matrix batch cuBLAS cannot take (module doc). Plain 2-d products (mm) and
    products ``should_fold`` turns into one mm copy nothing here."""
    a, b = (tuple(shape) for shape in shapes)
    st = [tuple(s) if s is not None else contiguous_strides(shape) for s, shape in zip(strides, (a, b), strict=True)]
    if len(a) < 2 or len(b) < 2 or (len(a) < 3 and len(b) < 3):
        return [0, 0]
    larger, other = (0, 1) if len(a) >= len(b) else (1, 0)
    if len((a, b)[other]) <= 2 and len(a) != 2:  # should_fold: a matrix tensor1 is never folded with
        shape, stride = (a, b)[larger], st[larger]
        if larger == 1:  # folds tensor2.mT(): its last two dims swapped
            shape, stride = (*shape[:-2], shape[-1], shape[-2]), (*stride[:-2], stride[-1], stride[-2])
        if all(stride[i] == stride[i + 1] * shape[i + 1] for i in range(len(shape) - 2)):
            return [0, 0]
    batch = _broadcast(a[:-2], b[:-2])
    out = []
    for shape, stride in ((a, st[0]), (b, st[1])):
        expanded = (*batch, *shape[-2:])
        lead = len(expanded) - len(shape)
        grown = tuple(0 if d < lead or shape[d - lead] != expanded[d] else stride[d - lead]
                      for d in range(len(expanded)))
        folded = (math.prod(batch), *shape[-2:])
        elements = math.prod(folded)
        viewed = view_strides(expanded, grown, folded)
        rows, cols = folded[1], folded[2]
        takes = viewed is not None and ((viewed[2] == 1 and viewed[1] >= max(1, cols))
                                        or (viewed[1] == 1 and viewed[2] >= max(1, rows)))
        out.append(0 if takes else elements)
    return out


def _broadcast(x: Sequence[int], y: Sequence[int]) -> tuple[int, ...]:
    rank = max(len(x), len(y))
    x, y = (1,) * (rank - len(x)) + tuple(x), (1,) * (rank - len(y)) + tuple(y)
    return tuple(max(p, q) if 1 in (p, q) else p for p, q in zip(x, y, strict=True))


def dense_like(shape: Sequence[int], strides: Sequence[int]) -> tuple[int, ...]:
    """Dense strides for ``shape`` with the dimension order of ``strides`` (outermost: largest stride; ties keep the
    dimension order): what ``empty_like`` with ``preserve_format`` allocates for a permuted input."""
    order = sorted(range(len(shape)), key=lambda d: (-strides[d], d))
    out, step = [0] * len(shape), 1
    for d in reversed(order):
        out[d] = step
        step *= max(shape[d], 1)
    return tuple(out)


def channels_last(shape: Sequence[int], strides: Sequence[int]) -> bool:
    """A 4-d [N, C, H, W] tensor laid out N, H, W, C (PyTorch's ``is_strides_like_channels_last``, dense case)."""
    return (len(shape) == 4 and shape[1] > 1
            and tuple(strides) == dense_like(shape, (shape[1] * shape[2] * shape[3], 1, shape[3] * shape[1], shape[1])))


def output_layout(layer: Layer[Attrs], source: tuple[int, ...], strides: tuple[int, ...] | None,
                  shape: tuple[int, ...]) -> tuple[int, ...]:
    """Strides of what a non-view op writes, in eager PyTorch on a GPU:

    - ``scaled_dot_product_attention``: its [B, heads, N, d] output is allocated [B, N, heads, d] by the flash and
      memory-efficient kernels (aten/src/ATen/native/transformers/cuda/attention.cu: the output is created for
      ``query.transpose(1, 2)`` and returned transposed back), so ``out.transpose(1, 2).reshape(B, N, C)`` is a view;
    - a convolution keeps a channels-last input's layout (``cudnn_conv_suggest_memory_format``), and so does an
      elementwise op or batch norm of a same-shaped first input (TensorIterator and ``empty_like`` preserve the
      input's dimension order);
    - everything else writes a contiguous tensor.
    """
    name = get_op(layer.op).name
    if name == "scaled_dot_product_attention" and len(shape) == 4:
        return dense_like(shape, (3, 1, 2, 0))
    if strides is None:
        return contiguous_strides(shape)
    key = get_op(layer.op).efficiency_class(layer.cost.op_class)
    if key in (EfficiencyClass.CONV, EfficiencyClass.DEPTHWISE) and channels_last(source, strides) and len(shape) == 4:
        return dense_like(shape, (9, 1, 3, 2))
    if (key == EfficiencyClass.ELEMENTWISE or name == "batch_norm") and source == shape:
        return dense_like(shape, strides)
    return contiguous_strides(shape)


@dataclass(frozen=True)
class EagerLayout:
    """What eager PyTorch does with the views of one graph (:func:`eager_layout`): the copies before each consumer,
    and the convolutions that get a channels-last input (cuDNN then runs them NHWC: no layout transposes)."""

    copies: dict[str, list[Copy]]
    channels_last: frozenset[str]


def eager_layout(graph: Graph, profile: HardwareProfile, fusion: str) -> EagerLayout:
    """Consumer path -> the copies eager PyTorch runs just before it (module doc), and the channels-last convs; empty
    unless fusion ``none`` on a GPU or CPU profile. A reshape that copies is charged once, to the first op reading
    it. Strides are followed unless the graph is :func:`contiguous_throughout` (then the answer is
    :func:`strided_layout`'s without following them), so the layout of a layer never depends on an unrelated view."""
    cpu = profile.cpu is not None
    if fusion != Fusion.NONE or (profile.gpu is None and not cpu):
        return EagerLayout({}, frozenset())
    if contiguous_throughout(graph.layers, cpu):
        return EagerLayout({}, frozenset())  # every tensor contiguous (STRIDED_OUTPUTS)
    return strided_layout(graph, cpu)


def contiguous_throughout(layers: Sequence[Layer[Attrs]], cpu: bool) -> bool:
    """Whether every tensor of a run of ``layers`` fed contiguous tensors is contiguous in eager PyTorch on a GPU (or
    ``cpu``), whatever the layers read: no view, no :data:`STRIDED_OUTPUTS` op, and on a CPU no channels-first layer
    or RMS norm (:class:`_CpuStrides`: its map is left channels-last). Then :func:`layout_alone` holds."""
    for layer in layers:
        if layer.cost.is_view:
            return False
        name = get_op(layer.op).name
        if name in STRIDED_OUTPUTS or (cpu and name in NORMS_MOVING_CHANNELS
                                       and getattr(layer.attrs, "channels_first", False)):
            return False
    return True


def layout_alone(graph: Graph, handed: Sequence[TensorRef], cpu: bool) -> bool:
    """Whether ``graph``, a run of a bigger graph's layers whose inputs stand for contiguous tensors of it (each in the
    shape the run reads it), gets the same :func:`eager_layout` alone as inside the bigger graph, and hands it on:
    each tensor of ``handed`` (those later layers read) is contiguous with no copy pending (:func:`strided_layout`'s
    tracker on a GPU, or ``cpu``). Then, run by run from the graph's contiguous inputs, every run's layout is the
    bigger graph's. False where a run hands on a strided view or a channels-last map (its readers, in another run,
    would take it as contiguous). Inside the run :func:`eager_layout` follows the strides as in the bigger graph
    (neither is :func:`contiguous_throughout`)."""
    if contiguous_throughout(graph.layers, cpu):
        return True
    tracker = _CpuStrides(graph) if cpu else _Strides(graph)
    return all(tracker.of(ref) == (contiguous_strides(graph.shape(ref)), None) for ref in handed)


STRIDED_OUTPUTS = frozenset({"scaled_dot_product_attention"})
"""Non-view ops whose output may be written non-contiguous from contiguous inputs (:func:`output_layout`).

A graph without views or ops of STRIDED_OUTPUTS has every tensor contiguous: graph inputs are, and a non-view op
fed contiguous tensors writes a contiguous one (:func:`output_layout`: a contiguous 4-d tensor with more than one
channel is never channels-last, since its channel stride H x W would have to be 1 and its last stride C; and
dense_like keeps contiguous strides, whose order is the dimension order). So no copy runs and no convolution gets a
channels-last input: what :func:`strided_layout` finds by following every tensor's strides (the tests compare the
two), without following them. On a CPU a channels-first layer or RMS norm is a third source of strided tensors
(:class:`_CpuStrides`; :func:`contiguous_throughout`)."""


def strided_layout(graph: Graph, cpu: bool = False) -> EagerLayout:
    """:func:`eager_layout` of ``graph`` on a GPU (``cpu``: a CPU) without fusion, every tensor's strides followed."""
    tracker = _CpuStrides(graph) if cpu else _Strides(graph)
    nhwc: set[str] = set()

    def root(ref: TensorRef) -> tuple[str, int]:
        layer = tracker.layers.get(ref.node)
        while layer is not None and layer.cost.is_view and layer.inputs:
            ref = layer.inputs[0]
            layer = tracker.layers.get(ref.node)
        return ref.node, ref.index

    out: dict[str, list[Copy]] = {}
    charged: set[TensorRef] = set()
    for layer in graph.layers:
        if layer.cost.is_view:
            continue
        name = get_op(layer.op).name
        conv = get_op(layer.op).efficiency_class(layer.cost.op_class) in (EfficiencyClass.CONV,
                                                                          EfficiencyClass.DEPTHWISE)
        needs = name in CONTIGUOUS_INPUT or conv
        if name == "matmul" and len(layer.inputs) == 2:
            operands = [tracker.of(ref)[0] for ref in layer.inputs]
            sizes = matmul_copies([graph.shape(ref) for ref in layer.inputs], operands)
            for ref, elements in zip(layer.inputs, sizes, strict=True):
                if elements:
                    out.setdefault(layer.path, []).append(Copy(layer.path, ref, elements, root(ref)))
        for position, ref in enumerate(layer.inputs):
            strides, copied = tracker.of(ref)
            if copied is not None and copied not in charged:  # a reshape that copies: once, for its first reader
                charged.add(copied)
                out.setdefault(layer.path, []).append(Copy(layer.path, copied, math.prod(graph.shape(copied)),
                                                              root(copied)))
            shape = tuple(graph.shape(ref))
            if conv and position == 0 and strides is not None and channels_last(shape, strides):
                nhwc.add(layer.path)
            elif needs and position == 0 and strides is not None and not tracker.reads_contiguous(layer, shape,
                                                                                                  strides):
                out.setdefault(layer.path, []).append(Copy(layer.path, ref, math.prod(shape), root(ref)))
    return EagerLayout(out, frozenset(nhwc))


__all__ = ["STRIDED_OUTPUTS", "Copy", "EagerLayout", "eager_layout", "is_contiguous",
           "contiguous_throughout", "layout_alone", "matmul_copies", "strided_layout", "strided_norms", "view_strides"]
