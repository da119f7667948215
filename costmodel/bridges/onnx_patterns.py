"""Multi-node ONNX patterns fused into one costmodel op, and :func:`map_graph`, the whole mapping.

Exporters write some ops as several nodes: GELU as its erf formula, SiLU as x * sigmoid(x), hardswish as
x * hardsigmoid(x), layer norm before opset 17 as ReduceMean/Sub/Pow/Sqrt/Div (+ weight, bias), ConvNeXt's
channels-first layer norm as Transpose/LayerNormalization/Transpose, nn.Linear on 3-d input as MatMul + Add, and
timm's ``qkv.permute(2, 0, 3, 1, 4).unbind(0)`` as a Transpose that moves the batch dimension. Each pattern,
anchored at one node type, checks that its inner tensors have no other readers before it fuses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from onnx import NodeProto

from .onnx_ops import (
    MAPPERS,
    OnnxGraph,
    SpecNode,
    Unsupported,
    attr,
    channel_vector,
    ints,
    is_value,
    layer_normalization,
    reduce_axes,
    scalar,
    split_operands,
)

Match = tuple[list[int], list[SpecNode]]


def _other(node: NodeProto, name: str) -> str | None:
    """The other operand of a binary node that reads ``name`` (None if it does not)."""
    a, b = node.input[0], node.input[1]
    return b if a == name else a if b == name else None


def _only(g: OnnxGraph, name: str, op_type: str) -> int | None:
    """The sole consumer of ``name`` if it is an ``op_type`` node."""
    j = g.sole_consumer(name)
    return j if j is not None and g.nodes[j].op_type == op_type else None


def _gelu_erf(g: OnnxGraph, i: int, node: NodeProto) -> Match | None:
    """x * 0.5 * (1 + erf(x / sqrt(2))) in its exporter orders -> gelu (anchored at the Erf)."""
    k = g.producer(node.input[0])
    if k is None or g.sole_consumer(node.input[0]) != i:
        return None
    scaled = g.nodes[k]
    x, c = split_operands(g, scaled) if scaled.op_type in ("Div", "Mul") else (None, None)
    if x is None or not (is_value(c, math.sqrt(2)) if scaled.op_type == "Div" else is_value(c, 1 / math.sqrt(2))):
        return None
    add = _only(g, node.output[0], "Add")
    if add is None or not is_value(g.const(_other(g.nodes[add], node.output[0]) or ""), 1.0):
        return None
    m1 = g.sole_consumer(g.nodes[add].output[0])
    if m1 is None or g.nodes[m1].op_type != "Mul":
        return None
    other = _other(g.nodes[m1], g.nodes[add].output[0])
    group = [k, i, add, m1]
    if is_value(g.const(other or ""), 0.5):  # (1 + erf) * 0.5, then * x
        last = _only(g, g.nodes[m1].output[0], "Mul")
        if last is None or _other(g.nodes[last], g.nodes[m1].output[0]) != x:
            return None
        group.append(last)
    elif other == x:  # x * (1 + erf), then * 0.5
        last = _only(g, g.nodes[m1].output[0], "Mul")
        if last is None or not is_value(g.const(_other(g.nodes[last], g.nodes[m1].output[0]) or ""), 0.5):
            return None
        group.append(last)
    else:  # (x * 0.5) * (1 + erf)
        half = g.producer(other or "")
        if half is None or g.nodes[half].op_type != "Mul" or g.sole_consumer(other or "") != m1:
            return None
        hx, hc = split_operands(g, g.nodes[half])
        if hx != x or not is_value(hc, 0.5):
            return None
        group.insert(0, half)
    end = max(group)
    return group, [SpecNode(g.nodes[end].name, "gelu", [x], [g.nodes[end].output[0]], {}, end, "gelu")]


def _gated(g: OnnxGraph, i: int, node: NodeProto) -> Match | None:
    """x * sigmoid(x) -> silu; x * hardsigmoid(x) -> hardswish (anchored at the gate)."""
    x = node.input[0]
    j = _only(g, node.output[0], "Mul")
    if j is None or _other(g.nodes[j], node.output[0]) != x:
        return None
    op = "silu" if node.op_type == "Sigmoid" else "hardswish"
    return [i, j], [SpecNode(g.nodes[j].name, op, [x], [g.nodes[j].output[0]], {}, j, op)]


def _layer_norm_parts(g: OnnxGraph, i: int, node: NodeProto) -> Match | None:
    """ReduceMean, Sub, Pow 2, ReduceMean, Add eps, Sqrt, Div (, Mul weight, Add bias) -> layer_norm."""
    x = node.input[0]
    rank = len(g.shape(x))
    try:
        axes = reduce_axes(g, node)
    except Unsupported:
        return None
    if axes is None or len(axes) != 1 or not attr(node, "keepdims", 1):
        return None
    axis = axes[0] % rank
    if axis not in (1, rank - 1):
        return None
    subs = [j for j in g.consumers(node.output[0]) if g.nodes[j].op_type == "Sub"
            and list(g.nodes[j].input) == [x, node.output[0]]]
    if len(subs) != 1 or len(g.consumers(node.output[0])) != 1:
        return None
    sub = subs[0]
    d = g.nodes[sub].output[0]
    users = sorted(g.consumers(d), key=lambda j: g.nodes[j].op_type)
    if [g.nodes[j].op_type for j in users] != ["Div", "Pow"] or d in g.outputs:
        return None
    div, pow_ = users
    if not is_value(g.const(g.nodes[pow_].input[1]), 2.0):
        return None
    chain, name = [pow_], g.nodes[pow_].output[0]
    for op_type in ("ReduceMean", "Add", "Sqrt"):
        j = _only(g, name, op_type)
        if j is None:
            return None
        chain.append(j)
        name = g.nodes[j].output[0]
    mean2, eps = g.nodes[chain[1]], g.nodes[chain[2]]
    try:
        if reduce_axes(g, mean2) not in ([axis], [axis - rank]):
            return None
    except Unsupported:
        return None
    if scalar(g.const(_other(eps, mean2.output[0]) or "")) is None:
        return None
    if list(g.nodes[div].input) != [d, name]:
        return None
    group = [i, sub, *chain, div]
    out, attrs = g.nodes[div].output[0], {"channels_first": True} if axis == 1 and rank > 2 else {}
    mul = _only(g, out, "Mul")
    weight = g.const(_other(g.nodes[mul], out) or "") if mul is not None else None
    if mul is not None and weight is not None and channel_vector(g, x, weight) is (axis == 1 and rank > 2):
        group.append(mul)
        out = g.nodes[mul].output[0]
        add = _only(g, out, "Add")
        bias = g.const(_other(g.nodes[add], out) or "") if add is not None else None
        if add is not None and bias is not None and bias.size == weight.size:
            group.append(add)
            out = g.nodes[add].output[0]
        else:
            attrs["bias"] = False
    else:
        attrs["affine"] = False
    end = max(group)
    return group, [SpecNode(g.nodes[end].name, "layer_norm", [x], [out], attrs, end, "layer_norm")]


def _layer_norm_nchw(g: OnnxGraph, i: int, node: NodeProto) -> Match | None:
    """Transpose to channels-last, LayerNormalization, Transpose back -> layer_norm channels_first (ConvNeXt)."""
    before = g.producer(node.input[0])
    after = _only(g, node.output[0], "Transpose")
    if before is None or after is None or g.nodes[before].op_type != "Transpose" or \
            g.sole_consumer(node.input[0]) != i:
        return None
    rank = len(g.shape(node.input[0]))
    to_last, to_first = [0, *range(2, rank), 1], [0, rank - 1, *range(1, rank - 1)]
    if rank < 3 or attr(g.nodes[before], "perm") != to_last or attr(g.nodes[after], "perm") != to_first:
        return None
    try:
        (spec,) = layer_normalization(g, i, node)
    except Unsupported:
        return None
    x, out = g.nodes[before].input[0], g.nodes[after].output[0]
    return [before, i, after], [SpecNode(node.name, "layer_norm", [x], [out], {"channels_first": True, **spec.attrs},
                                         after)]


def _linear(g: OnnxGraph, i: int, node: NodeProto) -> Match | None:
    """MatMul by a constant [in, out] followed by Add of a constant [out] -> linear with bias."""
    w = g.const(node.input[1])
    if w is None or w.ndim != 2 or g.const(node.input[0]) is not None:
        return None
    add = _only(g, node.output[0], "Add")
    bias = g.const(_other(g.nodes[add], node.output[0]) or "") if add is not None else None
    if add is None or bias is None or bias.size != w.shape[1] or bias.shape[-1] != w.shape[1]:
        return None
    out = g.nodes[add].output[0]
    return [i, add], [SpecNode(g.nodes[add].name, "linear", [node.input[0]], [out],
                               {"out": int(w.shape[1])}, add, "linear")]


def _batch_transpose(g: OnnxGraph, i: int, node: NodeProto) -> Match | None:
    """Transpose that moves the batch dim, read only through index-0 picks (timm's qkv.permute(2, 0, ...)
    then unbind) -> per pick: select along the original axis, then a batch-first permute."""
    rank = len(g.shape(node.input[0]))
    perm = ints(attr(node, "perm", list(reversed(range(rank)))))
    if perm[0] == 0:
        return None
    picks: list[tuple[int, str, int]] = []  # (anchor node, output tensor, index along the moved axis)
    group = [i]
    for j in g.consumers(node.output[0]):
        user = g.nodes[j]
        index = g.const(user.input[1]) if user.op_type == "Gather" and len(user.input) > 1 else None
        if user.op_type == "Gather" and attr(user, "axis", 0) == 0 and index is not None and index.ndim == 0:
            picks.append((j, user.output[0], int(index)))
            group.append(j)
        elif user.op_type == "Split" and attr(user, "axis", 0) == 0:
            group.append(j)
            for offset, piece in enumerate(user.output):
                squeeze = _only(g, piece, "Squeeze")
                if g.shape(piece)[0] != 1 or squeeze is None or len(g.shape(g.nodes[squeeze].output[0])) != rank - 1:
                    return None
                picks.append((squeeze, g.nodes[squeeze].output[0], offset))
                group.append(squeeze)
        else:
            return None
    if node.output[0] in g.outputs or not picks:
        return None
    moved = perm[0]
    rest = [p - (p > moved) for p in perm[1:]]
    if rest[0] != 0:
        return None
    specs: list[SpecNode] = []
    for j, output, position in picks:
        name = g.nodes[j].name
        if rest == sorted(rest):
            specs.append(SpecNode(name, "select", [node.input[0]], [output], {"dim": moved, "index": position}, j))
            continue
        picked = f"{output}#select"
        specs.append(SpecNode(name, "select", [node.input[0]], [picked], {"dim": moved, "index": position}, j,
                              "select"))
        specs.append(SpecNode(name, "permute", [picked], [output], {"dims": rest}, j, "permute"))
    return group, specs


def _group_norm(g: OnnxGraph, i: int, node: NodeProto) -> Match | None:
    """PyTorch's GroupNorm export: Reshape [N, C, *] -> [N, G, -1], InstanceNormalization (scale 1, bias 0),
    Reshape back (, Mul weight [C, 1, 1], Add bias [C, 1, 1]) -> group_norm (anchored at the InstanceNorm)."""
    before = g.producer(node.input[0])
    if before is None or g.nodes[before].op_type != "Reshape" or g.sole_consumer(node.input[0]) != i:
        return None
    x = g.nodes[before].input[0]
    x_shape, grouped = g.shape(x), g.shape(node.input[0])
    if len(x_shape) < 3 or len(grouped) != 3 or grouped[0] != x_shape[0] or x_shape[1] % grouped[1]:
        return None
    scale, shift = g.const(node.input[1]), g.const(node.input[2])
    if scale is None or shift is None or not (scale == 1).all() or shift.any():
        return None
    after = _only(g, node.output[0], "Reshape")
    if after is None or g.shape(g.nodes[after].output[0]) != x_shape:
        return None
    group, out = [before, i, after], g.nodes[after].output[0]
    attrs: dict[str, object] = {"groups": int(grouped[1])}
    mul = _only(g, out, "Mul")
    weight = g.const(_other(g.nodes[mul], out) or "") if mul is not None else None
    add = _only(g, g.nodes[mul].output[0], "Add") if mul is not None and weight is not None else None
    bias = g.const(_other(g.nodes[add], g.nodes[mul].output[0]) or "") if add is not None and mul is not None else None
    affine = False
    if mul is not None and add is not None and weight is not None and bias is not None:
        affine = channel_vector(g, x, weight) is True and channel_vector(g, x, bias) is True
        if affine or is_value(weight, 1.0) and is_value(bias, 0.0):  # affine=False exports * 1 + 0
            group += [mul, add]
            out = g.nodes[add].output[0]
    if not affine:
        attrs["affine"] = False
    end = max(group)
    return group, [SpecNode(g.nodes[end].name, "group_norm", [x], [out], attrs, end, "group_norm")]


def _grn(g: OnnxGraph, i: int, node: NodeProto) -> Match | None:
    """ConvNeXt V2's GRN as exported: ReduceL2 over the spatial axes, ReduceMean over the channels, Add eps, Div,
    x * n, * weight (, * 1: addcmul's value), + bias, + x -> grn (anchored at the ReduceL2)."""
    x = node.input[0]
    rank = len(g.shape(x))
    try:
        axes = reduce_axes(g, node)
    except Unsupported:
        return None
    if axes is None or not attr(node, "keepdims", 1) or rank < 3:
        return None
    channel = set(range(1, rank)) - {a % rank for a in axes}
    if len(channel) != 1 or 0 in {a % rank for a in axes}:
        return None
    (c,) = channel
    l2 = node.output[0]
    users = sorted(g.consumers(l2), key=lambda j: g.nodes[j].op_type)
    if [g.nodes[j].op_type for j in users] != ["Div", "ReduceMean"] or l2 in g.outputs or c not in (1, rank - 1):
        return None
    div, mean = users
    try:
        if reduce_axes(g, g.nodes[mean]) not in ([c], [c - rank]) or not attr(g.nodes[mean], "keepdims", 1):
            return None
    except Unsupported:
        return None
    eps = _only(g, g.nodes[mean].output[0], "Add")
    if eps is None or scalar(g.const(_other(g.nodes[eps], g.nodes[mean].output[0]) or "")) is None or \
            list(g.nodes[div].input) != [l2, g.nodes[eps].output[0]]:
        return None
    scaled = _only(g, g.nodes[div].output[0], "Mul")
    if scaled is None or _other(g.nodes[scaled], g.nodes[div].output[0]) != x:
        return None
    group, out = [i, mean, eps, div, scaled], g.nodes[scaled].output[0]
    for op_type in ("Mul", "Add"):  # * weight (, * 1), + bias: each the one reader, with a per-channel constant
        step = _only(g, out, op_type)
        value = g.const(_other(g.nodes[step], out) or "") if step is not None else None
        if step is None or value is None or channel_vector(g, x, value) is not (c == 1):
            return None
        group.append(step)
        out = g.nodes[step].output[0]
        one = _only(g, out, "Mul") if op_type == "Mul" else None
        if one is not None and is_value(g.const(_other(g.nodes[one], out) or ""), 1.0):
            group.append(one)
            out = g.nodes[one].output[0]
    residual = _only(g, out, "Add")
    if residual is None or _other(g.nodes[residual], out) != x:
        return None
    group.append(residual)
    end = max(group)
    return group, [SpecNode(g.nodes[end].name, "grn", [x], [g.nodes[residual].output[0]],
                            {"channels_first": True} if c == 1 else {}, end, "grn")]


def _unbind(g: OnnxGraph, i: int, node: NodeProto) -> Match | None:
    """Split into pieces of 1 along a non-batch axis, each read only by a Squeeze (or Reshape) dropping that axis
    (torch's ``unbind`` in older opsets) -> one select per piece."""
    x = node.input[0]
    rank = len(g.shape(x))
    axis = int(attr(node, "axis", 0)) % rank
    if axis == 0:
        return None
    group, specs = [i], []
    for index, piece in enumerate(node.output):
        squeeze = _only(g, piece, "Squeeze")
        squeeze = _only(g, piece, "Reshape") if squeeze is None else squeeze  # batch_first writes Reshape
        if g.shape(piece)[axis] != 1 or squeeze is None \
                or g.shape(g.nodes[squeeze].output[0]) != g.shape(piece)[:axis] + g.shape(piece)[axis + 1:]:
            return None
        group.append(squeeze)
        specs.append(SpecNode(g.nodes[squeeze].name, "select", [x], [g.nodes[squeeze].output[0]],
                              {"dim": axis, "index": index}, squeeze))
    return group, specs


PATTERNS: dict[str, Callable[[OnnxGraph, int, NodeProto], Match | None]] = {
    "Erf": _gelu_erf, "Sigmoid": _gated, "HardSigmoid": _gated, "ReduceMean": _layer_norm_parts,
    "LayerNormalization": _layer_norm_nchw,
    "MatMul": _linear, "Transpose": _batch_transpose, "Split": _unbind, "InstanceNormalization": _group_norm,
    "ReduceL2": _grn,
}


# ---- the whole graph -------------------------------------------------------------------------------


@dataclass
class Mapping:
    """The mapped nodes in topological order, and the nodes no op expresses: op type -> [(node, reason)]."""

    nodes: list[SpecNode]
    unsupported: dict[str, list[tuple[str, str]]]


def _opaque(g: OnnxGraph, index: int, node: NodeProto, batch: int) -> SpecNode:
    """An explicit ``opaque`` node for an unmapped ONNX node: its float constant inputs count as parameters."""
    import numpy as np

    dynamic = [name for name in node.input if name and name not in g.consts]
    if not dynamic:
        raise Unsupported("no input depends on the model's inputs")
    params = sum(int(g.consts[name].size) for name in node.input
                 if name in g.consts and np.issubdtype(g.consts[name].dtype, np.floating) and g.consts[name].size > 1)
    outputs = [o for o in node.output if o]
    attrs = {"source": f"onnx_{node.op_type}", "shapes": [list(g.shapes[o]) for o in outputs], "params": params,
             "batch": g.shape(dynamic[0])[0] if g.shape(dynamic[0]) else batch}  # batch x any heads folded in
    return SpecNode(node.name or node.output[0], "opaque", dynamic, outputs, attrs, anchor=index)


def map_graph(g: OnnxGraph, allow_opaque: bool = False, batch: int = 1) -> Mapping:
    """Fuse the known multi-node patterns, then map every remaining node; collect what does not map (and with
    ``allow_opaque``, keep it as an ``opaque`` node: ONNX's shapes, zero MACs and FLOPs)."""
    covered: set[int] = set()
    specs: list[SpecNode] = []
    for i, node in enumerate(g.nodes):
        pattern = PATTERNS.get(node.op_type)
        if i in covered or i in g.refused or pattern is None:
            continue
        match = pattern(g, i, node)
        if match is not None and not covered.intersection(match[0]):
            covered.update(match[0])
            specs.extend(match[1])
    unsupported: dict[str, list[tuple[str, str]]] = {}
    for i, node in enumerate(g.nodes):
        if i in covered:
            continue
        mapper = MAPPERS.get(node.op_type)
        try:
            if i in g.refused:
                raise Unsupported(g.refused[i])
            if mapper is None:
                raise Unsupported()
            specs.extend(mapper(g, i, node))
        except Unsupported as exc:
            unsupported.setdefault(node.op_type, []).append((node.name or node.output[0], exc.reason))
            if allow_opaque:
                specs.append(_opaque(g, i, node, batch))
    specs.sort(key=lambda s: s.anchor)  # stable: nodes from one ONNX node keep their order
    return Mapping(specs, unsupported)
