"""PyTorch runners for the ops of imported graphs (``batch_reshape``, ``param_tensor``, ``opaque``) and the
math family (``pointwise``, ``clamp``, ``expand``, ``reduce_sum``, ``reduce_max``).

``param_tensor`` and ``opaque`` reproduce shapes and parameter counts, not values: a ``param_tensor`` returns a
zero tensor of its shape and holds ``params`` parameters; an ``opaque`` layer returns zeros of its output shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ...graph import Layer
from . import BuildContext, builds


@builds("batch_reshape")
def batch_reshape(layer: Layer, ctx: BuildContext) -> Any:
    a = layer.attrs
    return lambda x: x.reshape(x.shape[0] * a.fold // a.unfold, *a.shape)  # type: ignore[attr-defined]


class Placeholder(nn.Module):
    """Zeros of fixed ``shapes`` and ``params`` parameters (what an imported graph knows of the op)."""

    def __init__(self, shapes: Sequence[Sequence[int]], params: int) -> None:
        super().__init__()
        self.shapes = [tuple(s) for s in shapes]
        self.weight = nn.Parameter(torch.zeros(params)) if params else None

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        outs = tuple(inputs[0].new_zeros(shape) for shape in self.shapes)
        return outs[0] if len(outs) == 1 else outs


@builds("param_tensor", "opaque")
def placeholder(layer: Layer, ctx: BuildContext) -> nn.Module:
    return Placeholder(layer.cost.outputs, layer.attrs.params)  # type: ignore[attr-defined]


@builds("reduce_sum", "reduce_max")
def reduce(layer: Layer, ctx: BuildContext) -> Any:
    dims, keepdim = tuple(layer.attrs.dims), layer.attrs.keepdim  # type: ignore[attr-defined]
    if layer.op == "reduce_sum":
        return lambda x: x.sum(dims, keepdim=keepdim)
    return lambda x: x.amax(dims, keepdim=keepdim)


POINTWISE = {"abs": torch.abs, "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "rsqrt": torch.rsqrt,
             "reciprocal": torch.reciprocal, "square": torch.square, "pow": lambda x: x.pow(3), "erf": torch.erf,
             "sin": torch.sin, "cos": torch.cos, "floor": torch.floor, "ceil": torch.ceil, "round": torch.round,
             "sign": torch.sign}


@builds("pointwise")
def pointwise(layer: Layer, ctx: BuildContext) -> Any:
    return POINTWISE[layer.attrs.fn]  # type: ignore[attr-defined]


@builds("clamp")
def clamp(layer: Layer, ctx: BuildContext) -> Any:
    lo, hi = layer.attrs.min, layer.attrs.max  # type: ignore[attr-defined]
    return lambda x: x.clamp(lo, hi)


@builds("expand")
def expand(layer: Layer, ctx: BuildContext) -> Any:
    shape = tuple(layer.attrs.shape)  # type: ignore[attr-defined]
    return lambda x: x.expand(x.shape[0], *shape)
