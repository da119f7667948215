"""Convolutions: conv1d/2d/3d (groups, depthwise, stride, dilation, padding incl. same), conv_transpose2d."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from ..vocab import OpClass
from .base import Attrs, OpCost, OpError, PositiveInt, Shape, Size, expect_rank, numel, pair, register

IntOrList = PositiveInt | list[PositiveInt]


class ConvAttrs(Attrs):
    out: PositiveInt
    kernel: IntOrList
    stride: IntOrList = 1
    padding: int | list[int] | Literal["same", "valid"] = 0
    dilation: IntOrList = 1
    groups: PositiveInt = 1
    bias: bool = True
    shared: bool = False  # the weights are another conv's (one module called twice): no parameters of its own


class ConvTransposeAttrs(ConvAttrs):
    output_padding: int | list[int] = 0


def _check_groups(channels: int, attrs: ConvAttrs) -> None:
    if channels % attrs.groups:
        raise OpError(f"input channels {channels} not divisible by groups {attrs.groups}", field="groups")
    if attrs.out % attrs.groups:
        raise OpError(f"out channels {attrs.out} not divisible by groups {attrs.groups}", field="groups")


def conv_output_size(size: int, kernel: int, stride: int, pad: int | str, dilation: int, axis: int) -> int:
    """Output length along one spatial axis. 'same' follows TensorFlow: ceil(size / stride)."""
    span = dilation * (kernel - 1) + 1
    if pad == "same":
        return math.ceil(size / stride)
    padded = size + 2 * (0 if pad == "valid" else int(pad))
    if span > padded:
        raise OpError(
            f"kernel {kernel} (dilation {dilation}) spans {span} but the padded input is {padded} "
            f"along spatial axis {axis}",
            field="kernel",
        )
    return (padded - span) // stride + 1


def conv_macs(out_elements: Size, in_per_group: Size, kernel_elements: Size) -> Size:
    """MACs of a convolution: one per weight tap per output element (fvcore's count); bias adds none."""
    return out_elements * in_per_group * kernel_elements  # type: ignore[no-any-return]  # numpy in the designer


def conv_params(out_channels: Size, in_per_group: Size, kernel_elements: Size, bias: bool) -> Size:
    """Parameters of a convolution: the weights, plus ``out_channels`` if it has a bias."""
    return out_channels * in_per_group * kernel_elements + (  # type: ignore[no-any-return]
        out_channels if bias else 0 * out_channels)


def _conv_class(in_per_group: int) -> OpClass:
    return OpClass.DEPTHWISE if in_per_group == 1 else OpClass.GEMM


def _conv(inputs: Sequence[Shape], a: ConvAttrs, dims: int) -> OpCost:
    (x,) = inputs
    expect_rank(x, dims + 2)
    n, c, *spatial = x
    _check_groups(c, a)
    kernel = pair(a.kernel, dims, "kernel")
    stride = pair(a.stride, dims, "stride")
    dilation = pair(a.dilation, dims, "dilation")
    pads = (a.padding,) * dims if isinstance(a.padding, int | str) else pair(a.padding, dims, "padding")
    if any(isinstance(p, int) and p < 0 for p in pads):
        raise OpError("padding must be >= 0", field="padding")
    out_spatial = tuple(
        conv_output_size(s, k, st, p, d, i)
        for i, (s, k, st, p, d) in enumerate(zip(spatial, kernel, stride, pads, dilation, strict=True))
    )
    in_per_group = c // a.groups
    out_shape = (n, a.out, *out_spatial)
    out_elems = numel(out_shape)
    macs = conv_macs(out_elems, in_per_group, numel(kernel))
    return OpCost(
        outputs=(out_shape,),
        params=0 if a.shared else conv_params(a.out, in_per_group, numel(kernel), a.bias),
        macs=macs,
        flops=2 * macs + (out_elems if a.bias else 0),
        gemm_outputs=out_elems,
        op_class=_conv_class(in_per_group),
    )


@register("conv1d", ConvAttrs, conv_rank=1, torch_counted=True)
def conv1d(inputs: Sequence[Shape], a: ConvAttrs) -> OpCost:
    """1-d convolution over [N, C, L]."""
    return _conv(inputs, a, 1)


@register("conv2d", ConvAttrs, aliases=("conv",), conv_rank=2, torch_counted=True)
def conv2d(inputs: Sequence[Shape], a: ConvAttrs) -> OpCost:
    """2-d convolution over [N, C, H, W]; groups=C is depthwise."""
    return _conv(inputs, a, 2)


@register("conv3d", ConvAttrs, conv_rank=3, torch_counted=True)
def conv3d(inputs: Sequence[Shape], a: ConvAttrs) -> OpCost:
    """3-d convolution over [N, C, D, H, W]."""
    return _conv(inputs, a, 3)


@register("conv_transpose2d", ConvTransposeAttrs, aliases=("deconv2d",), conv=True, torch_counted=True)
def conv_transpose2d(inputs: Sequence[Shape], a: ConvTransposeAttrs) -> OpCost:
    """Transposed 2-d convolution over [N, C, H, W] (PyTorch's ConvTranspose2d)."""
    (x,) = inputs
    expect_rank(x, 4)
    n, c, *spatial = x
    _check_groups(c, a)
    if a.padding in ("same", "valid"):
        raise OpError("conv_transpose2d takes integer padding", field="padding")
    kernel, stride, dilation = (pair(v, 2, f) for v, f in
                                ((a.kernel, "kernel"), (a.stride, "stride"), (a.dilation, "dilation")))
    assert not isinstance(a.padding, str)  # "same" / "valid" rejected above
    pads, out_pads = pair(a.padding, 2, "padding"), pair(a.output_padding, 2, "output_padding")
    if min(pads) < 0:
        raise OpError("padding must be >= 0", field="padding")
    # PyTorch's ConvTranspose2d: each output_padding in [0, max(stride, dilation)) along its axis
    for axis, (op, st, d) in enumerate(zip(out_pads, stride, dilation, strict=True)):
        if not 0 <= op < max(st, d):
            raise OpError(f"output_padding {op} must be >= 0 and smaller than the stride {st} or the dilation {d} "
                          f"along spatial axis {axis}", field="output_padding")
    out_spatial = tuple(
        (s - 1) * st - 2 * p + d * (k - 1) + op + 1
        for s, k, st, p, d, op in zip(spatial, kernel, stride, pads, dilation, out_pads, strict=True)
    )
    if min(out_spatial) <= 0:
        raise OpError(f"output spatial size {list(out_spatial)} is not positive", field="padding")
    out_per_group = a.out // a.groups
    out_shape = (n, a.out, *out_spatial)
    # fvcore counts a transposed conv over the *input* positions: N * C_in * (out/g) * k^2 * H_in * W_in.
    macs = n * c * out_per_group * numel(kernel) * numel(spatial)
    return OpCost(
        outputs=(out_shape,),
        params=0 if a.shared else c * out_per_group * numel(kernel) + (a.out if a.bias else 0),
        macs=macs,
        flops=2 * macs + (numel(out_shape) if a.bias else 0),
        gemm_outputs=numel(out_shape),
        op_class=_conv_class(c // a.groups),
    )
