"""Normalization: batch_norm (inference), layer_norm, group_norm, rms_norm, grn. Output shape = input shape.

MACs follow fvcore: batch_norm numel*(2 if affine else 1); layer/group norm numel*(5 if affine else 4);
rms_norm and grn are not counted by fvcore (0). FLOPs: batch_norm folds to scale+shift, 2/element; layer/group
norm 5/element (mean, sub, square, sum, rsqrt-mul) + 1 per affine weight/bias; rms_norm 3/element + 1
for the weight; grn (ConvNeXt V2's global response norm) 6/element + 3 per (sample, channel).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from ..vocab import OpClass
from .base import Attrs, OpCost, OpError, PositiveInt, Shape, Size, expect_min_rank, numel, register


class BatchNormAttrs(Attrs):
    affine: bool = True


class LayerNormAttrs(Attrs):
    channels_first: bool = False  # normalize over axis 1 (ConvNeXt's LayerNorm2d); else the last axis
    affine: bool = True
    bias: bool = True  # only with affine
    aliases: ClassVar[dict[str, tuple[str, ...]]] = {"affine": ("affine", "elementwise_affine")}


class GroupNormAttrs(Attrs):
    groups: PositiveInt
    affine: bool = True


class RmsNormAttrs(Attrs):
    channels_first: bool = False
    weight: bool = True


class GrnAttrs(Attrs):
    channels_first: bool = False  # [N, C, H, W]; else channels last, [N, H, W, C] (timm's ConvNeXt V2 MLP)


def _norm_dim(x: Shape, channels_first: bool, what: str) -> int:
    """The size of the normalized axis: axis 1 if ``channels_first`` else the last axis."""
    expect_min_rank(x, 2, f"{what} input")
    return x[1] if channels_first else x[-1]


def batch_norm_macs(elements: Size, affine: bool = True) -> Size:
    """MACs of inference batch norm (fvcore): 2 per element if affine, else 1."""
    return elements * (2 if affine else 1)


def batch_norm_params(channels: Size, affine: bool = True) -> Size:
    """Parameters of batch norm: weight and bias per channel if affine (running stats are buffers)."""
    return channels * (2 if affine else 0)


def layer_norm_macs(elements: Size, affine: bool = True) -> Size:
    """MACs of layer norm (fvcore): 5 per element if affine, else 4."""
    return elements * (5 if affine else 4)


def layer_norm_params(dim: Size, affine: bool = True, bias: bool = True) -> Size:
    """Parameters of layer norm over ``dim`` features: weight (and bias) if affine."""
    return dim * ((1 + bias) if affine else 0)


def _norm(x: Shape, params: int, macs: int, flops_per_elem: int) -> OpCost:
    return OpCost(
        outputs=(tuple(x),), params=params, macs=macs, flops=flops_per_elem * numel(x), op_class=OpClass.NORM
    )


@register("batch_norm", BatchNormAttrs, aliases=("batch_norm2d", "bn"))
def batch_norm(inputs: Sequence[Shape], a: BatchNormAttrs) -> OpCost:
    """Inference batch norm over channel axis 1 (2C params if affine); 2 FLOPs/element folded."""
    (x,) = inputs
    channels = _norm_dim(x, True, "batch_norm")
    return _norm(x, batch_norm_params(channels, a.affine), batch_norm_macs(numel(x), a.affine), 2)


@register("layer_norm", LayerNormAttrs, aliases=("ln",))
def layer_norm(inputs: Sequence[Shape], a: LayerNormAttrs) -> OpCost:
    """Layer norm over the last axis (axis 1 if channels_first); 5 FLOPs/element + 1 each for weight, bias."""
    (x,) = inputs
    d = _norm_dim(x, a.channels_first, "layer_norm")
    affine_terms = (1 + a.bias) if a.affine else 0
    return _norm(x, layer_norm_params(d, a.affine, a.bias), layer_norm_macs(numel(x), a.affine), 5 + affine_terms)


@register("group_norm", GroupNormAttrs)
def group_norm(inputs: Sequence[Shape], a: GroupNormAttrs) -> OpCost:
    """Group norm over [N, C, *] in ``groups`` groups (2C params if affine); 5 FLOPs/element + 2 if affine."""
    (x,) = inputs
    channels = _norm_dim(x, True, "group_norm")
    if channels % a.groups:
        raise OpError(f"channels {channels} not divisible by groups {a.groups}", field="groups")
    return _norm(x, 2 * channels if a.affine else 0, numel(x) * (5 if a.affine else 4), 5 + 2 * a.affine)


@register("rms_norm", RmsNormAttrs)
def rms_norm(inputs: Sequence[Shape], a: RmsNormAttrs) -> OpCost:
    """RMS norm over the last axis (axis 1 if channels_first); 3 FLOPs/element + 1 for the weight."""
    (x,) = inputs
    d = _norm_dim(x, a.channels_first, "rms_norm")
    return _norm(x, d if a.weight else 0, 0, 3 + a.weight)


@register("grn", GrnAttrs, aliases=("global_response_norm",))
def grn(inputs: Sequence[Shape], a: GrnAttrs) -> OpCost:
    """ConvNeXt V2's global response norm, x + bias + weight * x * n(x), n = ||x||_spatial / mean_C ||x||; 2C
    params; 0 MACs (fvcore counts none of its ops); FLOPs 6/element (square, sum, x * n, * weight, + bias, + x)
    + 3 per (sample, channel) (sqrt, channel mean, divide)."""
    (x,) = inputs
    expect_min_rank(x, 3, "grn input")
    channels = _norm_dim(x, a.channels_first, "grn")
    flops = 6 * numel(x) + 3 * x[0] * channels
    return OpCost(outputs=(tuple(x),), params=2 * channels, macs=0, flops=flops, op_class=OpClass.NORM)
