"""Recurrent layers: ``lstm`` (``nn.LSTM``, batch first).

fvcore has no handler for ``aten::lstm``, so timm's published GMACs do not count it: its ``macs`` are 0 by that
convention (docs/conventions.md), while ``flops`` count every gate matmul and element-wise step.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..vocab import OpClass
from .base import Attrs, OpCost, PositiveInt, Shape, expect_rank, register


class LstmAttrs(Attrs):
    hidden: PositiveInt
    layers: PositiveInt = 1
    bidirectional: bool = False
    bias: bool = True


def lstm_params(in_features: int, a: LstmAttrs) -> int:
    """Per layer and direction: W_ih [4h, in_l], W_hh [4h, h] and, with bias, b_ih and b_hh [4h] each
    (in_l = in for the first layer, directions * h after)."""
    dirs = 2 if a.bidirectional else 1
    h = a.hidden
    total = 0
    for layer in range(a.layers):
        in_l = in_features if layer == 0 else dirs * h
        total += dirs * (4 * h * in_l + 4 * h * h + (8 * h if a.bias else 0))
    return total


@register("lstm", LstmAttrs)
def lstm(inputs: Sequence[Shape], a: LstmAttrs) -> OpCost:
    """[N, L, in] -> [N, L, directions * hidden]. FLOPs per time step, direction and layer: the gate matmuls
    ``2 * 4h * (in_l + h)``, the two bias adds ``8h``, and ``18h`` element-wise (3 sigmoids at 4, tanh of g 1,
    ``c = f*c + i*g`` 3, tanh of c 1, ``o * tanh(c)`` 1). MACs 0 (fvcore has no handler); activations 0."""
    (x,) = inputs
    expect_rank(x, 3, "lstm input [N, L, in]")
    n, steps, in_features = x
    dirs = 2 if a.bidirectional else 1
    h = a.hidden
    flops = 0
    for layer in range(a.layers):
        in_l = in_features if layer == 0 else dirs * h
        flops += dirs * n * steps * (8 * h * (in_l + h) + (8 * h if a.bias else 0) + 18 * h)
    return OpCost(outputs=((n, steps, dirs * h),), params=lstm_params(in_features, a), flops=flops,
                  op_class=OpClass.GEMM)
