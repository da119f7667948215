"""Pooling and reductions: max/avg pool windows, adaptive and global pools, reduce_mean/sum/max/norm/var.

fvcore counts only adaptive_avg_pool2d (1 MAC per *input* element); global_avg_pool is costed the same
way. Window pools cost kernel-size FLOPs per output element; adaptive/global pools and reductions cost
1 FLOP per input element.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..vocab import OpClass
from .base import (
    Attrs,
    NonNegativeInt,
    OpCost,
    OpError,
    Shape,
    Size,
    expect_min_rank,
    expect_rank,
    normalize_dim,
    numel,
    pair,
    register,
)
from .conv import IntOrList, conv_output_size


class AvgPoolAttrs(Attrs):
    kernel: IntOrList
    stride: IntOrList | None = None  # default: the kernel
    padding: NonNegativeInt | list[NonNegativeInt] = 0
    ceil_mode: bool = False
    count_include_pad: bool = True  # changes the divisor only, not the counts


class MaxPoolAttrs(Attrs):
    kernel: IntOrList
    stride: IntOrList | None = None  # default: the kernel
    padding: NonNegativeInt | list[NonNegativeInt] = 0
    dilation: IntOrList = 1
    ceil_mode: bool = False


class AdaptivePoolAttrs(Attrs):
    output_size: IntOrList


class GlobalPoolAttrs(Attrs):
    flatten: bool = False  # output [N, C] instead of [N, C, 1, ...]


class ReduceMeanAttrs(Attrs):
    dims: list[int]
    keepdim: bool = False


def pool_output_size(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool,
                     axis: int) -> int:
    """PyTorch's pooling output length along one axis, ceil_mode included."""
    if pad > kernel // 2:  # PyTorch checks the plain kernel, not the dilated span
        raise OpError(f"padding {pad} exceeds half the kernel {kernel} along spatial axis {axis}",
                      field="padding")
    if not ceil_mode:
        return conv_output_size(size, kernel, stride, pad, dilation, axis)
    span = dilation * (kernel - 1) + 1
    out = -(-(size + 2 * pad - span) // stride) + 1  # ceil division: a partial last window counts
    if out < 1:
        raise OpError(f"kernel {kernel} (dilation {dilation}) spans {span}, too wide for the padded input "
                      f"{size + 2 * pad} along spatial axis {axis}", field="kernel")
    # ...but only if it starts inside the input or the left padding
    return out - 1 if (out - 1) * stride >= size + pad else out


def _window_pool(inputs: Sequence[Shape], a: AvgPoolAttrs | MaxPoolAttrs, dims: int) -> OpCost:
    (x,) = inputs
    expect_rank(x, dims + 2)
    n, c, *spatial = x
    kernel = pair(a.kernel, dims, "kernel")
    stride = kernel if a.stride is None else pair(a.stride, dims, "stride")
    pads = pair(a.padding, dims, "padding")
    dilation = pair(getattr(a, "dilation", 1), dims, "dilation")
    out_spatial = tuple(
        pool_output_size(s, k, st, p, d, a.ceil_mode, i)
        for i, (s, k, st, p, d) in enumerate(zip(spatial, kernel, stride, pads, dilation, strict=True))
    )
    out_shape = (n, c, *out_spatial)
    return OpCost(outputs=(out_shape,), flops=numel(out_shape) * numel(kernel), op_class=OpClass.REDUCTION)


@register("max_pool1d", MaxPoolAttrs)
def max_pool1d(inputs: Sequence[Shape], a: MaxPoolAttrs) -> OpCost:
    """Max pool over [N, C, L]; kernel FLOPs per output element."""
    return _window_pool(inputs, a, 1)


@register("max_pool2d", MaxPoolAttrs)
def max_pool2d(inputs: Sequence[Shape], a: MaxPoolAttrs) -> OpCost:
    """Max pool over [N, C, H, W]; kh*kw FLOPs per output element."""
    return _window_pool(inputs, a, 2)


@register("avg_pool1d", AvgPoolAttrs)
def avg_pool1d(inputs: Sequence[Shape], a: AvgPoolAttrs) -> OpCost:
    """Average pool over [N, C, L]; kernel FLOPs per output element (fvcore counts no MACs)."""
    return _window_pool(inputs, a, 1)


@register("avg_pool2d", AvgPoolAttrs)
def avg_pool2d(inputs: Sequence[Shape], a: AvgPoolAttrs) -> OpCost:
    """Average pool over [N, C, H, W]; kh*kw FLOPs per output element."""
    return _window_pool(inputs, a, 2)


def mean_pool_macs(in_elements: Size) -> Size:
    """MACs of a global or adaptive average pool (fvcore): one per input element; max pools count none."""
    return in_elements


def _adaptive(inputs: Sequence[Shape], a: AdaptivePoolAttrs, counted: bool) -> OpCost:
    (x,) = inputs
    expect_rank(x, 4)
    out_shape = (*x[:2], *pair(a.output_size, 2, "output_size"))
    elems = numel(x)
    macs = mean_pool_macs(elems) if counted else 0
    return OpCost(outputs=(out_shape,), macs=macs, flops=elems, op_class=OpClass.REDUCTION)


@register("adaptive_avg_pool2d", AdaptivePoolAttrs, global_pool=True)
def adaptive_avg_pool2d(inputs: Sequence[Shape], a: AdaptivePoolAttrs) -> OpCost:
    """Adaptive average pool of [N, C, H, W] to output_size; 1 MAC and 1 FLOP per input element."""
    return _adaptive(inputs, a, counted=True)


@register("adaptive_max_pool2d", AdaptivePoolAttrs, global_pool=True)
def adaptive_max_pool2d(inputs: Sequence[Shape], a: AdaptivePoolAttrs) -> OpCost:
    """Adaptive max pool of [N, C, H, W] to output_size; 1 FLOP per input element."""
    return _adaptive(inputs, a, counted=False)


def _global(inputs: Sequence[Shape], a: GlobalPoolAttrs, counted: bool) -> OpCost:
    (x,) = inputs
    expect_min_rank(x, 3, "global pool input")
    out_shape = x[:2] if a.flatten else (*x[:2], *(1,) * (len(x) - 2))
    elems = numel(x)
    macs = mean_pool_macs(elems) if counted else 0
    return OpCost(outputs=(out_shape,), macs=macs, flops=elems, op_class=OpClass.REDUCTION)


@register("global_avg_pool", GlobalPoolAttrs, aliases=("gap",), global_pool=True)
def global_avg_pool(inputs: Sequence[Shape], a: GlobalPoolAttrs) -> OpCost:
    """Mean over all spatial axes of [N, C, *]; 1 MAC and 1 FLOP per input element."""
    return _global(inputs, a, counted=True)


@register("global_max_pool", GlobalPoolAttrs, global_pool=True)
def global_max_pool(inputs: Sequence[Shape], a: GlobalPoolAttrs) -> OpCost:
    """Max over all spatial axes of [N, C, *]; 1 FLOP per input element."""
    return _global(inputs, a, counted=False)


def reduced_shape(x: Shape, a: ReduceMeanAttrs, op: str) -> Shape:
    """The output shape of a reduction of ``x`` over ``a.dims`` (never the batch dim)."""
    if not a.dims:
        raise OpError("dims must name at least one dimension", field="dims")
    dims = {normalize_dim(d, len(x), "dims") for d in a.dims}
    if len(dims) != len(a.dims):
        raise OpError(f"dims {a.dims} repeat a dimension", field="dims")
    if 0 in dims:
        raise OpError(f"{op} cannot reduce the batch dimension 0", field="dims")
    return tuple(1 if i in dims else s for i, s in enumerate(x) if a.keepdim or i not in dims)


@register("reduce_mean", ReduceMeanAttrs, global_pool=True)
def reduce_mean(inputs: Sequence[Shape], a: ReduceMeanAttrs) -> OpCost:
    """Mean over ``dims`` (never the batch dim); 1 FLOP per input element, no MACs."""
    (x,) = inputs
    return OpCost(outputs=(reduced_shape(x, a, "reduce_mean"),), flops=numel(x), op_class=OpClass.REDUCTION)


@register("reduce_sum", ReduceMeanAttrs, global_pool=True)
def reduce_sum(inputs: Sequence[Shape], a: ReduceMeanAttrs) -> OpCost:
    """Sum over ``dims`` (never the batch dim); 1 FLOP per input element, no MACs."""
    (x,) = inputs
    return OpCost(outputs=(reduced_shape(x, a, "reduce_sum"),), flops=numel(x), op_class=OpClass.REDUCTION)


@register("reduce_max", ReduceMeanAttrs, global_pool=True)
def reduce_max(inputs: Sequence[Shape], a: ReduceMeanAttrs) -> OpCost:
    """Maximum over ``dims`` (never the batch dim); 1 FLOP (a compare) per input element."""
    (x,) = inputs
    return OpCost(outputs=(reduced_shape(x, a, "reduce_max"),), flops=numel(x), op_class=OpClass.REDUCTION)


class ReduceNormAttrs(Attrs):
    dims: list[int]
    keepdim: bool = False
    ord: float = 2.0


@register("reduce_norm", ReduceNormAttrs)
def reduce_norm(inputs: Sequence[Shape], a: ReduceNormAttrs) -> OpCost:
    """Vector p-norm over ``dims`` (``F.normalize``'s denominator): 2 FLOPs per input element (|x|^p and the
    sum; a square for p = 2) and 1 per output element (the root); no MACs (fvcore has no handler)."""
    (x,) = inputs
    out = reduced_shape(x, ReduceMeanAttrs(dims=a.dims, keepdim=a.keepdim), "reduce_norm")
    return OpCost(outputs=(out,), flops=2 * numel(x) + numel(out), op_class=OpClass.REDUCTION)


class ReduceVarAttrs(Attrs):
    dims: list[int]
    keepdim: bool = False
    correction: NonNegativeInt = 1  # divide by (count - correction); changes no count


@register("reduce_var", ReduceVarAttrs)
def reduce_var(inputs: Sequence[Shape], a: ReduceVarAttrs) -> OpCost:
    """Variance over ``dims``: 4 FLOPs per input element (the mean's sum, subtract the mean, square, sum) and 2
    per output element (the two divisions); no MACs (fvcore has no handler)."""
    (x,) = inputs
    out = reduced_shape(x, ReduceMeanAttrs(dims=a.dims, keepdim=a.keepdim), "reduce_var")
    return OpCost(outputs=(out,), flops=4 * numel(x) + 2 * numel(out), op_class=OpClass.REDUCTION)
