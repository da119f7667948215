"""Elementwise arithmetic: add, mul, sub, div, scale (by a constant) and layer_scale (learnable gamma).

fvcore counts none of these, so ``macs`` is 0; ``flops`` is 1 per arithmetic op per output element.
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import Attrs, NoAttrs, OpCost, OpError, Shape, Size, broadcast_shapes, expect_min_rank, numel, register


class AddAttrs(Attrs):
    broadcast: bool = False  # allow NumPy broadcasting; off by default so shape slips are caught


class ScaleAttrs(Attrs):
    value: float


class LayerScaleAttrs(Attrs):
    channels_first: bool = False  # channel axis 1 ([N, C, H, W]); else the last axis ([N, L, C])


def _combine(shapes: Sequence[Shape]) -> OpCost:
    """Broadcast the inputs together; one FLOP per output element per input after the first."""
    out = broadcast_shapes(shapes)
    return OpCost(outputs=(out,), flops=(len(shapes) - 1) * numel(out))


@register("add", AddAttrs, inputs=(2, None))
def add(inputs: Sequence[Shape], a: AddAttrs) -> OpCost:
    """Sum of 2+ tensors (equal shapes unless broadcast: true); k-1 FLOPs per output element."""
    if not a.broadcast:
        first = tuple(inputs[0])
        for s in inputs[1:]:
            if tuple(s) != first:
                try:
                    broadcast_shapes(inputs)
                    hint = "set broadcast: true if NumPy broadcasting is meant"
                except OpError:
                    hint = "they do not broadcast either: check the shapes of the nodes feeding it"
                raise OpError(f"add inputs have different shapes {list(first)} and {list(s)}; {hint}",
                              field="broadcast")
    return _combine(inputs)


@register("mul", NoAttrs, inputs=(2, None))
def mul(inputs: Sequence[Shape], a: NoAttrs) -> OpCost:
    """Product of 2+ broadcast tensors (e.g. SE gating); k-1 FLOPs per output element."""
    return _combine(inputs)


@register("sub", NoAttrs, inputs=2)
def sub(inputs: Sequence[Shape], a: NoAttrs) -> OpCost:
    """Difference of two broadcast tensors; 1 FLOP per output element."""
    return _combine(inputs)


@register("div", NoAttrs, inputs=2)
def div(inputs: Sequence[Shape], a: NoAttrs) -> OpCost:
    """Quotient of two broadcast tensors; 1 FLOP per output element."""
    return _combine(inputs)


@register("scale", ScaleAttrs)
def scale(inputs: Sequence[Shape], a: ScaleAttrs) -> OpCost:
    """Multiply by the constant ``value``; 1 FLOP per element."""
    (x,) = inputs
    return OpCost(outputs=(tuple(x),), flops=numel(x))


def layer_scale_params(channels: Size) -> Size:
    """Parameters of a layer scale: one gamma per channel."""
    return channels


@register("layer_scale", LayerScaleAttrs)
def layer_scale(inputs: Sequence[Shape], a: LayerScaleAttrs) -> OpCost:
    """Multiply by a learnable per-channel gamma (C params); 1 FLOP per element."""
    (x,) = inputs
    expect_min_rank(x, 2, "layer_scale input")
    channels = x[1] if a.channels_first else x[-1]
    return OpCost(outputs=(tuple(x),), params=layer_scale_params(channels), flops=numel(x))
