"""ONNX node -> costmodel op mapping, for :mod:`costmodel.bridges.onnx_import`.

Works on an :class:`OnnxGraph`: the compute nodes left after constant folding, with every tensor's static
shape and every constant's value. :func:`map_graph` first fuses the multi-node patterns exporters produce
(GELU's erf form, x*sigmoid(x), decomposed layer norm, MatMul + bias, batch-moving qkv transposes), then maps
each remaining node on its own. The result is a list of :class:`SpecNode` in topological order, plus the
ONNX op types that have no mapping (:class:`Unsupported` reasons), which the importer reports together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from onnx import NodeProto, helper

Shape = tuple[int, ...]


class Unsupported(Exception):
    """A node (or an attribute combination) that no costmodel op expresses; ``reason`` says why."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class OnnxGraph:
    """A constant-folded ONNX graph: compute nodes in topological order, static shapes, constant values."""

    nodes: list[NodeProto]
    consts: dict[str, np.ndarray]
    shapes: dict[str, Shape]
    inputs: list[str]
    outputs: list[str]
    _consumers: dict[str, list[int]] = field(default_factory=dict, repr=False)
    _producer: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for index, node in enumerate(self.nodes):
            for name in node.input:
                if name:
                    self._consumers.setdefault(name, []).append(index)
            for name in node.output:
                self._producer[name] = index

    def const(self, name: str) -> np.ndarray | None:
        """The value of a constant tensor, None for an activation (or an omitted optional input)."""
        return self.consts.get(name)

    def shape(self, name: str) -> Shape:
        """The static shape of a tensor (activations and constants)."""
        if name in self.consts:
            return tuple(int(d) for d in self.consts[name].shape)
        return self.shapes[name]

    def producer(self, name: str) -> int | None:
        """Index of the node that produces ``name`` (None for graph inputs and constants)."""
        return self._producer.get(name)

    def consumers(self, name: str) -> list[int]:
        """Indices of the nodes that read ``name``."""
        return self._consumers.get(name, [])

    def sole_consumer(self, name: str) -> int | None:
        """The one node reading ``name``, if exactly one does and it is not a graph output."""
        users = self.consumers(name)
        return users[0] if len(users) == 1 and name not in self.outputs else None


@dataclass
class SpecNode:
    """One costmodel node: ``op`` with ``attrs`` reading ONNX tensors ``inputs``, producing ``outputs``.

    ``source`` is the ONNX node its name derives from; ``leaf`` replaces the ONNX name's last part for nodes
    fused from several ONNX nodes or added by a rewrite; ``anchor`` orders nodes (the producing node's index).
    """

    source: str
    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    anchor: int = 0
    leaf: str | None = None


def attr(node: NodeProto, name: str, default: Any = None) -> Any:
    """An ONNX attribute's value (bytes decoded), or ``default``."""
    for a in node.attribute:
        if a.name == name:
            value = helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _ints(values: Sequence[Any]) -> list[int]:
    return [int(v) for v in values]


def _same(values: Sequence[int]) -> int | list[int]:
    """One int when all values agree (the spec's shorthand), else the list."""
    return int(values[0]) if len(set(values)) == 1 else _ints(values)


def _scalar(value: np.ndarray | None) -> float | None:
    """The value of a one-element constant, else None."""
    return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None


def _is(value: np.ndarray | None, target: float, tol: float = 1e-3) -> bool:
    scalar = _scalar(value)
    return scalar is not None and abs(scalar - target) <= tol * max(1.0, abs(target))


def _split_operands(g: OnnxGraph, node: NodeProto) -> tuple[str, np.ndarray | None]:
    """For a binary op with at most one constant operand: (activation input, the constant or None)."""
    a, b = node.input[0], node.input[1]
    if g.const(a) is not None and g.const(b) is None:
        return b, g.const(a)
    return a, g.const(b)


def _spec(g: OnnxGraph, index: int, op: str, inputs: list[str], attrs: dict[str, Any] | None = None,
          outputs: list[str] | None = None, leaf: str | None = None) -> SpecNode:
    node = g.nodes[index]
    return SpecNode(node.name, op, inputs, list(outputs or node.output[:1]), attrs or {}, index, leaf)


def _feature_axis(axis: int, rank: int) -> int:
    """Resolve an ONNX axis; the batch axis (0) cannot be split, sliced or reduced by a costmodel op."""
    d = axis % rank
    if d == 0:
        raise Unsupported("works along the batch dimension")
    return d


# ---- single-node mappers ---------------------------------------------------------------------------


def _conv(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    x, w = node.input[0], g.const(node.input[1])
    if w is None:
        raise Unsupported("weights are not constant")
    dims = w.ndim - 2
    if dims not in (1, 2, 3):
        raise Unsupported(f"{dims}-d convolution")
    kernel = _ints(attr(node, "kernel_shape", w.shape[2:]))
    stride = _ints(attr(node, "strides", [1] * dims))
    dilation = _ints(attr(node, "dilations", [1] * dims))
    groups = int(attr(node, "group", 1))
    pads = _ints(attr(node, "pads", [0] * 2 * dims))
    auto_pad = attr(node, "auto_pad", "NOTSET")
    bias = len(node.input) > 2 and bool(node.input[2])
    conv = {"out": int(w.shape[0]), "kernel": _same(kernel), "stride": _same(stride)}
    out: list[SpecNode] = []
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        conv["padding"] = "same"
    elif auto_pad == "VALID":
        conv["padding"] = 0
    elif pads[:dims] == pads[dims:]:
        conv["padding"] = _same(pads[:dims])
    else:  # asymmetric padding (TF-style exports): an explicit pad, then an unpadded conv
        pairs = [v for d in reversed(range(dims)) for v in (pads[d], pads[d + dims])]
        out.append(_spec(g, i, "pad", [x], {"pads": pairs}, [f"{node.output[0]}#pad"], leaf="pad"))
        x, conv["padding"] = out[-1].outputs[0], 0
    conv.update({"dilation": _same(dilation), "groups": groups, "bias": bias})
    conv = {k: v for k, v in conv.items() if not (k in ("stride", "dilation", "groups", "bias") and v == 1)}
    conv = {k: v for k, v in conv.items() if not (k == "padding" and v == 0)}
    return [*out, _spec(g, i, f"conv{dims}d", [x], conv)]


def _conv_transpose(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    w = g.const(node.input[1])
    if w is None or w.ndim != 4:
        raise Unsupported("only 2-d transposed convolutions with constant weights")
    groups = int(attr(node, "group", 1))
    pads = _ints(attr(node, "pads", [0] * 4))
    if pads[:2] != pads[2:] or attr(node, "auto_pad", "NOTSET") != "NOTSET" or attr(node, "output_shape"):
        raise Unsupported("asymmetric or automatic padding")
    attrs = {"out": int(w.shape[1]) * groups, "kernel": _same(_ints(attr(node, "kernel_shape", w.shape[2:]))),
             "stride": _same(_ints(attr(node, "strides", [1, 1]))), "padding": _same(pads[:2]),
             "dilation": _same(_ints(attr(node, "dilations", [1, 1]))), "groups": groups,
             "output_padding": _same(_ints(attr(node, "output_padding", [0, 0]))),
             "bias": len(node.input) > 2 and bool(node.input[2])}
    return [_spec(g, i, "conv_transpose2d", [node.input[0]], attrs)]


def _gemm(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    a, b = node.input[0], node.input[1]
    w = g.const(b)
    if attr(node, "transA", 0) or g.const(a) is not None or w is None:
        raise Unsupported("only x @ W (+ bias) with a constant W")
    if not (_is(np.array(attr(node, "alpha", 1.0)), 1.0) and _is(np.array(attr(node, "beta", 1.0)), 1.0)):
        raise Unsupported("alpha or beta other than 1")
    out = int(w.shape[0] if attr(node, "transB", 0) else w.shape[1])
    bias = len(node.input) > 2 and bool(node.input[2])
    if bias and g.const(node.input[2]) is None:
        raise Unsupported("the bias is not constant")
    return [_spec(g, i, "linear", [a], {"out": out} if bias else {"out": out, "bias": False})]


def _matmul(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    a, b = node.input
    if g.const(a) is not None:
        raise Unsupported("a constant left operand")
    w = g.const(b)
    if w is None:
        return [_spec(g, i, "matmul", [a, b])]
    if w.ndim != 2:
        raise Unsupported(f"a constant right operand of rank {w.ndim}")
    return [_spec(g, i, "linear", [a], {"out": int(w.shape[1]), "bias": False})]


def _batch_norm(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    if attr(node, "training_mode", 0) or len(node.output) > 1:
        raise Unsupported("training mode")
    return [_spec(g, i, "batch_norm", [node.input[0]])]


def _layer_norm(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    x = node.input[0]
    rank = len(g.shape(x))
    if int(attr(node, "axis", -1)) % rank != rank - 1:
        raise Unsupported("normalizes over more than the last axis")
    bias = len(node.input) > 2 and bool(node.input[2])
    return [_spec(g, i, "layer_norm", [x], {} if bias else {"bias": False})]


def _reduce_axes(g: OnnxGraph, node: NodeProto) -> list[int] | None:
    axes = attr(node, "axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        value = g.const(node.input[1])
        if value is None:
            raise Unsupported("axes are not constant")
        axes = value.reshape(-1).tolist()
    return None if axes is None else _ints(axes)


def _reduce_mean(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    x = node.input[0]
    rank = len(g.shape(x))
    axes = _reduce_axes(g, node)
    if axes is None:
        if attr(node, "noop_with_empty_axes", 0):
            return [_spec(g, i, "identity", [x])]
        axes = list(range(rank))
    dims = sorted(_feature_axis(a, rank) for a in axes)
    return [_spec(g, i, "reduce_mean", [x], {"dims": dims, "keepdim": bool(attr(node, "keepdims", 1))})]


def _pool_window(node: NodeProto, dims: int) -> dict[str, Any]:
    kernel = _ints(attr(node, "kernel_shape"))
    pads = _ints(attr(node, "pads", [0] * 2 * dims))
    if pads[:dims] != pads[dims:] or attr(node, "auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise Unsupported("asymmetric or automatic padding")
    out: dict[str, Any] = {"kernel": _same(kernel), "stride": _same(_ints(attr(node, "strides", [1] * dims)))}
    if any(pads):
        out["padding"] = _same(pads[:dims])
    if attr(node, "ceil_mode", 0):
        out["ceil_mode"] = True
    return out


def _max_pool(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    dims = len(g.shape(node.input[0])) - 2
    if dims not in (1, 2) or len(node.output) > 1 and node.output[1]:
        raise Unsupported("only 1-d and 2-d max pooling without indices")
    attrs = _pool_window(node, dims)
    dilation = _ints(attr(node, "dilations", [1] * dims))
    if any(d != 1 for d in dilation):
        attrs["dilation"] = _same(dilation)
    return [_spec(g, i, f"max_pool{dims}d", [node.input[0]], attrs)]


def _avg_pool(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    if len(g.shape(node.input[0])) != 4:
        raise Unsupported("only 2-d average pooling")
    attrs = _pool_window(node, 2)
    if "padding" in attrs and not attr(node, "count_include_pad", 0):
        attrs["count_include_pad"] = False
    return [_spec(g, i, "avg_pool2d", [node.input[0]], attrs)]


def _simple(op: str, **attrs: Any) -> Callable[[OnnxGraph, int, NodeProto], list[SpecNode]]:
    """A one-input node mapped to ``op`` with fixed attributes."""

    def mapper(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
        return [_spec(g, i, op, [node.input[0]], dict(attrs))]

    return mapper


def _clip(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    lo = attr(node, "min") if len(node.input) < 2 else _scalar(g.const(node.input[1])) if node.input[1] else None
    hi = attr(node, "max") if len(node.input) < 3 else _scalar(g.const(node.input[2])) if node.input[2] else None
    if lo == 0 and hi == 6:
        return [_spec(g, i, "relu6", [node.input[0]])]
    if lo == 0 and (hi is None or math.isinf(hi)):
        return [_spec(g, i, "relu", [node.input[0]])]
    raise Unsupported(f"min={lo}, max={hi}: only Clip(0, 6) (relu6) and Clip(0, inf) (relu) map to an op")


def _hard_sigmoid(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    return [_spec(g, i, "hardsigmoid", [node.input[0]])]


def _leaky_relu(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    return [_spec(g, i, "leaky_relu", [node.input[0]], {"negative_slope": float(attr(node, "alpha", 0.01))})]


def _elu(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    return [_spec(g, i, "elu", [node.input[0]], {"alpha": float(attr(node, "alpha", 1.0))})]


def _gelu(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    approximate = attr(node, "approximate", "none")
    return [_spec(g, i, "gelu", [node.input[0]], {"approximate": approximate} if approximate != "none" else {})]


def _softmax(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    return [_spec(g, i, "softmax", [node.input[0]], {"dim": int(attr(node, "axis", -1))})]


def _per_sample(g: OnnxGraph, x: str, value: np.ndarray) -> list[int]:
    """A constant operand's shape as a per-sample broadcast shape (its leading 1s against the batch dropped)."""
    shape = list(value.shape)
    rank = len(g.shape(x))
    if len(shape) == rank:
        if shape[0] != 1:
            raise Unsupported(f"a constant of shape {shape} varies along the batch dimension")
        shape = shape[1:]
    while len(shape) > 1 and shape[0] == 1:
        shape = shape[1:]
    return [int(d) for d in shape] or [1]


def _channel_vector(g: OnnxGraph, x: str, value: np.ndarray) -> bool | None:
    """Whether a constant is per-channel along axis 1 (True) or the last axis (False); None if neither."""
    rank, shape = len(g.shape(x)), list(value.shape)
    channels_last = g.shape(x)[-1]
    padded = [1] * (rank - len(shape)) + shape
    if len(shape) > rank:
        return None
    if [d for d in padded[:-1] if d != 1] == [] and padded[-1] == channels_last:
        return False
    if rank > 2 and padded[1] == g.shape(x)[1] and all(d == 1 for j, d in enumerate(padded) if j != 1):
        return True
    return None


def _binary(op: str) -> Callable[[OnnxGraph, int, NodeProto], list[SpecNode]]:
    """Add, Sub, Mul, Div: of two activations, or of an activation and a constant."""

    def mapper(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
        x, value = _split_operands(g, node)
        if g.const(x) is not None:
            raise Unsupported("both operands are constant")
        if value is None:
            a, b = node.input[0], node.input[1]
            attrs = {"broadcast": True} if op == "add" and g.shape(a) != g.shape(b) else {}
            return [_spec(g, i, op, [a, b], attrs)]
        constant_first = g.const(node.input[0]) is not None
        scalar = _scalar(value)
        if scalar is not None and op in ("mul", "div") and not (op == "div" and constant_first):
            return [_spec(g, i, "scale", [x], {"value": scalar if op == "mul" else 1.0 / scalar})]
        if scalar is not None:
            raise Unsupported(f"{'adds' if op == 'add' else 'subtracts'} a constant number: no costmodel op does")
        if op in ("add", "sub") and not (op == "sub" and constant_first):
            return [_spec(g, i, "learned_bias", [x], {"shape": _per_sample(g, x, value)})]
        channels_first = _channel_vector(g, x, value)
        if op in ("mul", "div") and not (op == "div" and constant_first) and channels_first is not None:
            return [_spec(g, i, "layer_scale", [x], {"channels_first": True} if channels_first else {})]
        raise Unsupported(f"{op} with a constant of shape {list(value.shape)}")

    return mapper


def _keeps_batch(g: OnnxGraph, node: NodeProto) -> tuple[Shape, Shape]:
    x_shape, y_shape = g.shape(node.input[0]), g.shape(node.output[0])
    if not y_shape or x_shape[0] != y_shape[0]:
        raise Unsupported(f"changes the batch dimension ({list(x_shape)} -> {list(y_shape)})")
    return x_shape, y_shape


def _reshape(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    x_shape, y_shape = _keeps_batch(g, node)
    if y_shape == x_shape:
        return [_spec(g, i, "identity", [node.input[0]])]
    return [_spec(g, i, "reshape", [node.input[0]], {"shape": list(y_shape[1:])})]


def _flatten(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    x_shape, _ = _keeps_batch(g, node)
    axis = int(attr(node, "axis", 1)) % len(x_shape) if x_shape else 1
    if axis == 0:
        raise Unsupported("flattens the batch dimension")
    return [_spec(g, i, "flatten", [node.input[0]], {"start_dim": axis} if axis != 1 else {})]


def _transpose(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    rank = len(g.shape(node.input[0]))
    perm = _ints(attr(node, "perm", list(reversed(range(rank)))))
    if perm[0] != 0:
        raise Unsupported(f"perm {perm} moves the batch dimension")
    if perm == sorted(perm):
        return [_spec(g, i, "identity", [node.input[0]])]
    return [_spec(g, i, "permute", [node.input[0]], {"dims": perm})]


def _concat(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    inputs = [name for name in node.input if name]
    rank = len(g.shape(node.output[0]))
    axis = _feature_axis(int(attr(node, "axis")), rank)
    constant = [name for name in inputs if g.const(name) is not None]
    if not constant:
        if len(inputs) == 1:
            return [_spec(g, i, "identity", inputs)]
        return [_spec(g, i, "concat", inputs, {"dim": axis})]
    if len(inputs) == 2 and inputs[0] in constant and axis == 1 and rank == 3:
        return [_spec(g, i, "class_token", [inputs[1]], {"tokens": int(g.shape(inputs[0])[1])})]
    raise Unsupported("concatenates a constant other than a class token [1, T, D] before tokens [N, L, D]")


def _split(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    x = node.input[0]
    rank = len(g.shape(x))
    axis = _feature_axis(int(attr(node, "axis", 0)), rank)
    sizes = [g.shape(out)[axis] for out in node.output]
    return [_spec(g, i, "split", [x], {"sizes": sizes, "dim": axis}, outputs=list(node.output))]


def _slice_ranges(g: OnnxGraph, node: NodeProto) -> list[tuple[int, int, int, int]]:
    """(axis, start, end, step) for every axis a Slice actually shortens, normalized to the input's sizes."""
    x_shape = g.shape(node.input[0])
    consts = [g.const(name) if name else None for name in node.input[1:]]
    if any(c is None for c in consts[:2]) or any(c is None for n, c in zip(node.input[3:], consts[2:],
                                                                           strict=False) if n):
        raise Unsupported("starts, ends, axes or steps are not constant")
    starts, ends = consts[0].reshape(-1).tolist(), consts[1].reshape(-1).tolist()  # type: ignore[union-attr]
    axes = consts[2].reshape(-1).tolist() if len(consts) > 2 and consts[2] is not None else list(range(len(starts)))
    steps = consts[3].reshape(-1).tolist() if len(consts) > 3 and consts[3] is not None else [1] * len(starts)
    out = []
    for axis, start, end, step in zip(axes, starts, ends, steps, strict=True):
        d = int(axis) % len(x_shape)
        size = x_shape[d]
        if step <= 0:
            raise Unsupported("negative steps")
        picked = range(size)[slice(int(max(-size - 1, min(start, size))), int(max(-size - 1, min(end, size))),
                                   int(step))]
        if len(picked) == size:
            continue
        if d == 0:
            raise Unsupported("slices the batch dimension")
        out.append((d, picked.start, picked.stop, picked.step))
    return out


def _slice(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    ranges = _slice_ranges(g, node)
    if not ranges:
        return [_spec(g, i, "identity", [node.input[0]])]
    out: list[SpecNode] = []
    x = node.input[0]
    for k, (d, start, stop, step) in enumerate(ranges):
        last = k == len(ranges) - 1
        attrs: dict[str, Any] = {"dim": d, "start": start, "end": stop}
        if step != 1:
            attrs["step"] = step
        name = node.output[0] if last else f"{node.output[0]}#slice{k}"
        out.append(_spec(g, i, "slice", [x], attrs, [name], leaf=None if last else f"slice{k}"))
        x = name
    return out


def _gather(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    x, index = node.input
    value = g.const(index)
    if value is None or g.const(x) is not None:
        raise Unsupported("gathers with computed indices or from a constant table")
    rank = len(g.shape(x))
    d = _feature_axis(int(attr(node, "axis", 0)), rank)
    size = g.shape(x)[d]
    if value.ndim == 0:
        return [_spec(g, i, "select", [x], {"dim": d, "index": int(value) % size})]
    picked = [int(v) % size for v in value.reshape(-1)]
    step = picked[1] - picked[0] if len(picked) > 1 else 1
    if value.ndim == 1 and step > 0 and picked == list(range(picked[0], picked[-1] + 1, step)):
        attrs: dict[str, Any] = {"dim": d, "start": picked[0], "end": picked[-1] + 1}
        if step != 1:
            attrs["step"] = step
        return [_spec(g, i, "slice", [x], attrs)]
    raise Unsupported("gathers indices that are not an evenly spaced range")


def _pad(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    x = node.input[0]
    rank = len(g.shape(x))
    pads = attr(node, "pads")
    if pads is None:
        value = g.const(node.input[1])
        if value is None:
            raise Unsupported("pads are not constant")
        pads = value.reshape(-1).tolist()
    if len(node.input) > 3 and node.input[3]:
        raise Unsupported("pads only some axes")
    fill = _scalar(g.const(node.input[2])) if len(node.input) > 2 and node.input[2] else attr(node, "value", 0.0)
    pads = _ints(pads)
    if pads[0] or pads[rank]:
        raise Unsupported("pads the batch dimension")
    pairs = [v for d in reversed(range(1, rank)) for v in (pads[d], pads[d + rank])]  # F.pad: last dim first
    while len(pairs) > 2 and pairs[-2:] == [0, 0]:
        pairs = pairs[:-2]
    modes = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}
    mode = attr(node, "mode", "constant")
    if mode not in modes:
        raise Unsupported(f"mode {mode!r}")
    attrs: dict[str, Any] = {"pads": pairs}
    if modes[mode] != "constant":
        attrs["mode"] = modes[mode]
    elif fill:
        attrs["value"] = float(fill)
    return [_spec(g, i, "pad", [x], attrs)]


def _resize(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    x = node.input[0]
    x_shape, y_shape = g.shape(x), g.shape(node.output[0])
    if len(x_shape) != 4 or x_shape[:2] != y_shape[:2]:
        raise Unsupported("only resizes of H and W in [N, C, H, W]")
    mode = {"nearest": "nearest", "linear": "bilinear"}.get(attr(node, "mode", "nearest"))
    if mode is None:
        raise Unsupported(f"mode {attr(node, 'mode')!r}")
    attrs: dict[str, Any] = {"size": list(y_shape[2:]), "mode": mode}
    if mode == "bilinear":
        attrs["align_corners"] = attr(node, "coordinate_transformation_mode", "half_pixel") == "align_corners"
    return [_spec(g, i, "upsample", [x], attrs)]


def _identity(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    return [_spec(g, i, "identity", [node.input[0]])]


def _dropout(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    return [_spec(g, i, "dropout", [node.input[0]])]


MAPPERS: dict[str, Callable[[OnnxGraph, int, NodeProto], list[SpecNode]]] = {
    "Conv": _conv, "ConvTranspose": _conv_transpose, "Gemm": _gemm, "MatMul": _matmul,
    "BatchNormalization": _batch_norm, "LayerNormalization": _layer_norm,
    "Relu": _simple("relu"), "Sigmoid": _simple("sigmoid"), "Tanh": _simple("tanh"),
    "HardSigmoid": _hard_sigmoid, "HardSwish": _simple("hardswish"), "Gelu": _gelu, "Clip": _clip,
    "LeakyRelu": _leaky_relu, "Elu": _elu, "Softmax": _softmax,
    "Add": _binary("add"), "Sub": _binary("sub"), "Mul": _binary("mul"), "Div": _binary("div"),
    "GlobalAveragePool": _simple("global_avg_pool"), "GlobalMaxPool": _simple("global_max_pool"),
    "AveragePool": _avg_pool, "MaxPool": _max_pool, "ReduceMean": _reduce_mean,
    "Reshape": _reshape, "Squeeze": _reshape, "Unsqueeze": _reshape, "Flatten": _flatten,
    "Transpose": _transpose, "Concat": _concat, "Split": _split, "Slice": _slice, "Gather": _gather,
    "Pad": _pad, "Resize": _resize, "Upsample": _resize,
    "Identity": _identity, "Cast": _identity, "Dropout": _dropout,
}


# ---- multi-node patterns ---------------------------------------------------------------------------

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
    x, c = _split_operands(g, scaled) if scaled.op_type in ("Div", "Mul") else (None, None)
    if x is None or not (_is(c, math.sqrt(2)) if scaled.op_type == "Div" else _is(c, 1 / math.sqrt(2))):
        return None
    add = _only(g, node.output[0], "Add")
    if add is None or not _is(g.const(_other(g.nodes[add], node.output[0]) or ""), 1.0):
        return None
    m1 = g.sole_consumer(g.nodes[add].output[0])
    if m1 is None or g.nodes[m1].op_type != "Mul":
        return None
    other = _other(g.nodes[m1], g.nodes[add].output[0])
    group = [k, i, add, m1]
    if _is(g.const(other or ""), 0.5):  # (1 + erf) * 0.5, then * x
        last = _only(g, g.nodes[m1].output[0], "Mul")
        if last is None or _other(g.nodes[last], g.nodes[m1].output[0]) != x:
            return None
        group.append(last)
    elif other == x:  # x * (1 + erf), then * 0.5
        last = _only(g, g.nodes[m1].output[0], "Mul")
        if last is None or not _is(g.const(_other(g.nodes[last], g.nodes[m1].output[0]) or ""), 0.5):
            return None
        group.append(last)
    else:  # (x * 0.5) * (1 + erf)
        half = g.producer(other or "")
        if half is None or g.nodes[half].op_type != "Mul" or g.sole_consumer(other or "") != m1:
            return None
        hx, hc = _split_operands(g, g.nodes[half])
        if hx != x or not _is(hc, 0.5):
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
        axes = _reduce_axes(g, node)
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
    if not _is(g.const(g.nodes[pow_].input[1]), 2.0):
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
        if _reduce_axes(g, mean2) not in ([axis], [axis - rank]):
            return None
    except Unsupported:
        return None
    if _scalar(g.const(_other(eps, mean2.output[0]) or "")) is None:
        return None
    if list(g.nodes[div].input) != [d, name]:
        return None
    group = [i, sub, *chain, div]
    out, attrs = g.nodes[div].output[0], {"channels_first": True} if axis == 1 and rank > 2 else {}
    mul = _only(g, out, "Mul")
    weight = g.const(_other(g.nodes[mul], out) or "") if mul is not None else None
    if mul is not None and weight is not None and _channel_vector(g, x, weight) is (axis == 1 and rank > 2):
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
        (spec,) = _layer_norm(g, i, node)
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
    perm = _ints(attr(node, "perm", list(reversed(range(rank)))))
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
    for j, out, index in picks:
        name = g.nodes[j].name
        if rest == sorted(rest):
            specs.append(SpecNode(name, "select", [node.input[0]], [out], {"dim": moved, "index": index}, j))
            continue
        picked = f"{out}#select"
        specs.append(SpecNode(name, "select", [node.input[0]], [picked], {"dim": moved, "index": index}, j,
                              "select"))
        specs.append(SpecNode(name, "permute", [picked], [out], {"dims": rest}, j, "permute"))
    return group, specs


PATTERNS: dict[str, Callable[[OnnxGraph, int, NodeProto], Match | None]] = {
    "Erf": _gelu_erf, "Sigmoid": _gated, "HardSigmoid": _gated, "ReduceMean": _layer_norm_parts,
    "LayerNormalization": _layer_norm_nchw,
    "MatMul": _linear, "Transpose": _batch_transpose,
}


# ---- the whole graph -------------------------------------------------------------------------------


@dataclass
class Mapping:
    """The mapped nodes in topological order, and the nodes no op expresses: op type -> [(node, reason)]."""

    nodes: list[SpecNode]
    unsupported: dict[str, list[tuple[str, str]]]


def map_graph(g: OnnxGraph) -> Mapping:
    """Fuse the known multi-node patterns, then map every remaining node; collect what does not map."""
    covered: set[int] = set()
    specs: list[SpecNode] = []
    for i, node in enumerate(g.nodes):
        pattern = PATTERNS.get(node.op_type)
        if i in covered or pattern is None:
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
            if mapper is None:
                raise Unsupported()
            specs.extend(mapper(g, i, node))
        except Unsupported as exc:
            unsupported.setdefault(node.op_type, []).append((node.name or node.output[0], exc.reason))
    specs.sort(key=lambda s: s.anchor)  # stable: nodes from one ONNX node keep their order
    return Mapping(specs, unsupported)
