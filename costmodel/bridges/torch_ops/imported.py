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
    a = layer.attrs
    # a buffer bound (min_tensor / max_tensor) is set at load time; here it is the identity's (+-inf)
    lo = float("-inf") if a.min_tensor else a.min  # type: ignore[attr-defined]
    hi = float("inf") if a.max_tensor else a.max  # type: ignore[attr-defined]
    return lambda x: x.clamp(lo, hi)


@builds("expand")
def expand(layer: Layer, ctx: BuildContext) -> Any:
    shape = tuple(layer.attrs.shape)  # type: ignore[attr-defined]
    return lambda x: x.expand(x.shape[0], *shape)


@builds("batch_repeat")
def batch_repeat(layer: Layer, ctx: BuildContext) -> Any:
    repeats = layer.attrs.repeats  # type: ignore[attr-defined]
    return lambda x: x.repeat_interleave(repeats, dim=0)


@builds("reduce_norm")
def reduce_norm(layer: Layer, ctx: BuildContext) -> Any:
    a = layer.attrs
    dims, keepdim, order = tuple(a.dims), a.keepdim, a.ord  # type: ignore[attr-defined]
    return lambda x: torch.linalg.vector_norm(x, order, dims, keepdim=keepdim)


@builds("reduce_var")
def reduce_var(layer: Layer, ctx: BuildContext) -> Any:
    a = layer.attrs
    dims, keepdim, correction = tuple(a.dims), a.keepdim, a.correction  # type: ignore[attr-defined]
    return lambda x: x.var(dims, correction=correction, keepdim=keepdim)


@builds("einsum")
def einsum(layer: Layer, ctx: BuildContext) -> Any:
    equation = f"{','.join(layer.attrs.terms)}->{layer.attrs.result}"  # type: ignore[attr-defined]
    return lambda *xs: torch.einsum(equation, *xs)


class Lstm(nn.LSTM):
    """nn.LSTM (batch first) returning the output sequence only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x)[0]


@builds("lstm")
def lstm(layer: Layer, ctx: BuildContext) -> nn.Module:
    a = layer.attrs
    return Lstm(layer.input_shapes[0][-1], a.hidden, num_layers=a.layers, bias=a.bias,  # type: ignore[attr-defined]
                batch_first=True, bidirectional=a.bidirectional)  # type: ignore[attr-defined]
