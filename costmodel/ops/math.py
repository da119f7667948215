"""Element-wise math functions (exp, sqrt, erf, ...), clamping and broadcasting views.

Every function is 1 FLOP per element, as the activations count a transcendental (tanh is 1 FLOP): one
arithmetic operation or one library call per element. ``clamp`` is 1 FLOP per bound per element.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from ..vocab import OpClass
from .base import Attrs, OpCost, OpError, PositiveInt, Shape, broadcast_shapes, numel, register

PointwiseFn = Literal["abs", "exp", "log", "sqrt", "rsqrt", "reciprocal", "square", "pow", "erf", "sin", "cos",
                      "floor", "ceil", "round", "sign"]


class PointwiseAttrs(Attrs):
    fn: PointwiseFn


@register("pointwise", PointwiseAttrs)
def pointwise(inputs: Sequence[Shape], a: PointwiseAttrs) -> OpCost:
    """Element-wise ``fn`` (exp, sqrt, rsqrt, erf, pow, ...); 1 FLOP per element."""
    (x,) = inputs
    return OpCost(outputs=(tuple(x),), flops=numel(x))


class ClampAttrs(Attrs):
    min: float | None = None
    max: float | None = None
    min_tensor: bool = False  # the lower bound is a tensor (a buffer set at load time), not a number
    max_tensor: bool = False


@register("clamp", ClampAttrs)
def clamp(inputs: Sequence[Shape], a: ClampAttrs) -> OpCost:
    """Clamp to [min, max] (either may be absent); 1 FLOP per bound per element."""
    (x,) = inputs
    bounds = (a.min is not None or a.min_tensor) + (a.max is not None or a.max_tensor)
    if not bounds:
        raise OpError("clamp needs min or max", field="min")
    return OpCost(outputs=(tuple(x),), flops=bounds * numel(x))


class ExpandAttrs(Attrs):
    shape: list[PositiveInt]


@register("expand", ExpandAttrs)
def expand(inputs: Sequence[Shape], a: ExpandAttrs) -> OpCost:
    """Broadcast each sample to per-sample ``shape`` (a view: size-1 dims repeated without copying)."""
    (x,) = inputs
    out = (x[0], *a.shape)
    try:
        if broadcast_shapes([x, out]) != out:
            raise OpError(f"cannot expand {list(x)} to {list(out)}", field="shape")
    except OpError:
        raise OpError(f"cannot expand {list(x)} to {list(out)}", field="shape") from None
    return OpCost(outputs=(out,), op_class=OpClass.VIEW, is_view=True)
