"""The designer's layer costs, composed from the op registry's own per-op cost functions.

Every closed form of the design spaces (:mod:`.space`, :mod:`.superblock`) prices its layers through these
helpers, which call the same functions the registered ops call (``costmodel.ops``: ``conv.conv_macs``,
``norm.batch_norm_macs``, …). They are looked up on their modules at call time, so a change of counting
convention in ``ops/`` reaches the closed forms by construction (tests/test_design_costs.py changes each one
and checks the closed forms against the analyzer). Ops that count no MACs and no params under the registry's
conventions (activations, elementwise ops, window pools, ``reduce_mean``) do not appear here; the tests that
compare every design's closed form with the analyzer's graph (tests/test_design*.py) would catch a change.

Sizes are floats or numpy arrays (one candidate per element): the relaxation evaluates them at real-valued
channels, and the integer search at many designs at once. Each helper returns ``(macs, params)``.
"""

from __future__ import annotations

from typing import Any

from ..ops import conv, elementwise, linear, norm, pooling

Cost = tuple[Any, Any]  # (MACs, params): floats or numpy arrays


def add(*costs: Cost) -> Cost:
    """The sum of several ``(macs, params)`` pairs."""
    macs: Any = 0.0
    params: Any = 0.0
    for m, p in costs:
        macs = macs + m
        params = params + p
    return macs, params


def scaled(cost: Cost, times: Any) -> Cost:
    """``cost`` repeated ``times`` (a block count, possibly real-valued)."""
    return cost[0] * times, cost[1] * times


def conv2d(area: Any, c_in: Any, c_out: Any, k2: Any, depthwise: bool = False, bias: bool = False) -> Cost:
    """A k×k conv (``k2`` = k·k taps) producing ``c_out`` channels on ``area`` output pixels."""
    per_group = 1.0 if depthwise else c_in
    return (conv.conv_macs(area * c_out, per_group, k2), conv.conv_params(c_out, per_group, k2, bias))


def batch_norm(area: Any, channels: Any) -> Cost:
    """Inference batch norm (affine) over ``channels`` × ``area``."""
    return norm.batch_norm_macs(area * channels), norm.batch_norm_params(channels)


def conv_bn(area: Any, c_in: Any, c_out: Any, k2: Any, depthwise: bool = False) -> Cost:
    """A bias-free conv followed by batch norm, at ``area`` output pixels."""
    return add(conv2d(area, c_in, c_out, k2, depthwise), batch_norm(area, c_out))


def layer_norm(elements_per_vector: Any, channels: Any) -> Cost:
    """Layer norm (affine, with bias) over ``channels`` features at ``elements_per_vector`` positions."""
    return norm.layer_norm_macs(elements_per_vector * channels), norm.layer_norm_params(channels)


def layer_scale(channels: Any) -> Cost:
    """A learnable per-channel scale (no MACs)."""
    return 0.0, elementwise.layer_scale_params(channels)


def mean_pool(area: Any, channels: Any) -> Cost:
    """A global or adaptive average pool of ``channels`` maps of ``area`` pixels each."""
    return pooling.mean_pool_macs(area * channels), 0.0


def fc(channels: Any, classes: int) -> Cost:
    """A linear layer with bias from ``channels`` features to ``classes`` outputs (one vector)."""
    return linear.linear_macs(classes, channels), linear.linear_params(channels, classes, True)


def classifier(area: Any, channels: Any, classes: int) -> Cost:
    """Global average pool then a linear classifier with bias."""
    return add(mean_pool(area, channels), fc(channels, classes))
