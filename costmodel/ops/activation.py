"""Activations: one input, output shape = input shape, a fixed FLOP count per element, no MACs.

fvcore counts none of these, so ``macs`` is 0. ``flops`` counts 1 per arithmetic op and 1 per
transcendental (exp/erf/tanh) per element; the per-op breakdown is in the table below.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from ..vocab import OpClass
from .base import Attrs, NoAttrs, OpCost, Shape, normalize_dim, numel, register


class LeakyReluAttrs(Attrs):
    negative_slope: float = 0.01


class EluAttrs(Attrs):
    alpha: float = 1.0


class GeluAttrs(Attrs):
    approximate: Literal["none", "tanh"] = "none"  # same cost either way


class SoftmaxAttrs(Attrs):
    dim: int = -1


def _pointwise(x: Shape, flops_per_elem: int, op_class: OpClass = OpClass.ELEMENTWISE) -> OpCost:
    """Cost of a shape-preserving op doing ``flops_per_elem`` FLOPs per element."""
    return OpCost(outputs=(tuple(x),), flops=flops_per_elem * numel(x), op_class=op_class)


def _activation(name: str, flops_per_elem: int, doc: str, attrs: type[Attrs] = NoAttrs,
                aliases: Sequence[str] = ()) -> None:
    """Register a one-input elementwise activation costing ``flops_per_elem`` FLOPs per element."""

    def fn(inputs: Sequence[Shape], a: Attrs) -> OpCost:
        (x,) = inputs
        return _pointwise(x, flops_per_elem)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    register(name, attrs, aliases=aliases)(fn)


# name, FLOPs per element (how they are counted), help text, attribute model, aliases
_activation("relu", 1, "max(x, 0); 1 FLOP/element.")
_activation("relu6", 2, "min(max(x, 0), 6); 2 FLOPs/element.")
_activation("leaky_relu", 2, "x if x > 0 else slope*x; 2 FLOPs/element (mul, select).", LeakyReluAttrs)
_activation("elu", 4, "x if x > 0 else alpha*(exp(x)-1); 4 FLOPs/element (exp, sub, mul, select).", EluAttrs)
_activation("gelu", 5, "x*0.5*(1+erf(x/sqrt2)); 5 FLOPs/element (tanh form costed the same).", GeluAttrs)
_activation("silu", 5, "x*sigmoid(x); 5 FLOPs/element (sigmoid 4 + mul).", aliases=("swish",))
_activation("hardswish", 5, "x*hardsigmoid(x); 5 FLOPs/element.")
_activation("hardsigmoid", 4, "clamp(x/6 + 0.5, 0, 1); 4 FLOPs/element.")
_activation("sigmoid", 4, "1/(1+exp(-x)); 4 FLOPs/element (neg, exp, add, div).")
_activation("tanh", 1, "tanh(x); 1 FLOP/element (one transcendental).")


@register("softmax", SoftmaxAttrs)
def softmax(inputs: Sequence[Shape], a: SoftmaxAttrs) -> OpCost:
    """Softmax along ``dim``; 5 FLOPs/element (max, sub, exp, sum, div)."""
    (x,) = inputs
    normalize_dim(a.dim, len(x))
    return _pointwise(x, 5, OpClass.REDUCTION)
