"""ONNX node -> costmodel op mapping, for :mod:`costmodel.bridges.onnx_import`.

Works on an :class:`OnnxGraph`: the compute nodes left after constant folding, with every tensor's static
shape and every constant's value. ``map_graph`` (:mod:`costmodel.bridges.onnx_patterns`) first fuses the
multi-node patterns exporters produce, then maps each remaining node on its own with :data:`MAPPERS`; a node no
op expresses raises :class:`Unsupported`, and the importer reports all of them together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from onnx import NodeProto, helper

from ..ops.base import Shape
from .common import Unsupported


@dataclass
class OnnxGraph:
    """A constant-folded ONNX graph: compute nodes in topological order, static shapes, constant values."""

    nodes: list[NodeProto]
    consts: dict[str, np.ndarray]
    shapes: dict[str, Shape]
    inputs: list[str]
    outputs: list[str]
    sources: dict[str, frozenset[str]] = field(default_factory=dict)  # constant -> float initializers behind it
    refused: dict[int, str] = field(default_factory=dict)  # node index -> why it cannot map (batch tracking)
    claimed: set[str] = field(default_factory=set)  # initializers counted by a param_tensor node already
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


def ints(values: Sequence[Any]) -> list[int]:
    return [int(v) for v in values]


def _same(values: Sequence[int]) -> int | list[int]:
    """One int when all values agree (the spec's shorthand), else the list."""
    return int(values[0]) if len(set(values)) == 1 else ints(values)


def scalar(value: np.ndarray | None) -> float | None:
    """The value of a one-element constant, else None."""
    return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None


def is_value(value: np.ndarray | None, target: float, tol: float = 1e-3) -> bool:
    number = scalar(value)
    return number is not None and abs(number - target) <= tol * max(1.0, abs(target))


def split_operands(g: OnnxGraph, node: NodeProto) -> tuple[str, np.ndarray | None]:
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
    kernel = ints(attr(node, "kernel_shape", w.shape[2:]))
    stride = ints(attr(node, "strides", [1] * dims))
    dilation = ints(attr(node, "dilations", [1] * dims))
    groups = int(attr(node, "group", 1))
    pads = ints(attr(node, "pads", [0] * 2 * dims))
    auto_pad = attr(node, "auto_pad", "NOTSET")
    bias = len(node.input) > 2 and bool(node.input[2])
    conv: dict[str, Any] = {"out": int(w.shape[0]), "kernel": _same(kernel), "stride": _same(stride)}
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
    pads = ints(attr(node, "pads", [0] * 4))
    if pads[:2] != pads[2:] or attr(node, "auto_pad", "NOTSET") != "NOTSET" or attr(node, "output_shape"):
        raise Unsupported("asymmetric or automatic padding")
    attrs = {"out": int(w.shape[1]) * groups, "kernel": _same(ints(attr(node, "kernel_shape", w.shape[2:]))),
             "stride": _same(ints(attr(node, "strides", [1, 1]))), "padding": _same(pads[:2]),
             "dilation": _same(ints(attr(node, "dilations", [1, 1]))), "groups": groups,
             "output_padding": _same(ints(attr(node, "output_padding", [0, 0]))),
             "bias": len(node.input) > 2 and bool(node.input[2])}
    return [_spec(g, i, "conv_transpose2d", [node.input[0]], attrs)]


def _gemm(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    a, b = node.input[0], node.input[1]
    w = g.const(b)
    if attr(node, "transA", 0) or g.const(a) is not None or w is None:
        raise Unsupported("only x @ W (+ bias) with a constant W")
    if not (is_value(np.array(attr(node, "alpha", 1.0)), 1.0) and is_value(np.array(attr(node, "beta", 1.0)), 1.0)):
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


def is_parameter(g: OnnxGraph, node: NodeProto, index: int) -> bool:
    """Whether ``node``'s input ``index`` is given and holds weights: a float initializer is behind it. A ``Constant``
    node is not one: PyTorch's exporter writes the ones and zeros of a norm without affine weights (or bias) so."""
    return len(node.input) > index and bool(node.input[index]) and bool(g.sources.get(node.input[index]))


def _batch_norm(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    if attr(node, "training_mode", 0) or len(node.output) > 1:
        raise Unsupported("training mode")
    affine = is_parameter(g, node, 1) or is_parameter(g, node, 2)
    return [_spec(g, i, "batch_norm", [node.input[0]], {} if affine else {"affine": False})]


def layer_normalization(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    x = node.input[0]
    rank = len(g.shape(x))
    if int(attr(node, "axis", -1)) % rank != rank - 1:
        raise Unsupported("normalizes over more than the last axis")
    scale, bias = is_parameter(g, node, 1), is_parameter(g, node, 2)
    attrs = {} if bias else {"bias": False} if scale else {"affine": False}
    return [_spec(g, i, "layer_norm", [x], attrs)]


def reduce_axes(g: OnnxGraph, node: NodeProto) -> list[int] | None:
    axes = attr(node, "axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        value = g.const(node.input[1])
        if value is None:
            raise Unsupported("axes are not constant")
        axes = value.reshape(-1).tolist()
    return None if axes is None else ints(axes)


def _reduce_mean(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    x = node.input[0]
    rank = len(g.shape(x))
    axes = reduce_axes(g, node)
    if axes is None:
        if attr(node, "noop_with_empty_axes", 0):
            return [_spec(g, i, "identity", [x])]
        axes = list(range(rank))
    dims = sorted(_feature_axis(a, rank) for a in axes)
    return [_spec(g, i, "reduce_mean", [x], {"dims": dims, "keepdim": bool(attr(node, "keepdims", 1))})]


def _pool_window(node: NodeProto, dims: int) -> dict[str, Any]:
    kernel = ints(attr(node, "kernel_shape"))
    pads = ints(attr(node, "pads", [0] * 2 * dims))
    if pads[:dims] != pads[dims:] or attr(node, "auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise Unsupported("asymmetric or automatic padding")
    out: dict[str, Any] = {"kernel": _same(kernel), "stride": _same(ints(attr(node, "strides", [1] * dims)))}
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
    dilation = ints(attr(node, "dilations", [1] * dims))
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
    lo = attr(node, "min") if len(node.input) < 2 else scalar(g.const(node.input[1])) if node.input[1] else None
    hi = attr(node, "max") if len(node.input) < 3 else scalar(g.const(node.input[2])) if node.input[2] else None
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


def channel_vector(g: OnnxGraph, x: str, value: np.ndarray) -> bool | None:
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
        x, value = split_operands(g, node)
        if g.const(x) is not None:
            raise Unsupported("both operands are constant")
        if value is None:
            a, b = node.input[0], node.input[1]
            attrs = {"broadcast": True} if op == "add" and g.shape(a) != g.shape(b) else {}
            return [_spec(g, i, op, [a, b], attrs)]
        constant_first = g.const(node.input[0]) is not None
        number = scalar(value)
        if number is None and _derived(g, node.input[0] if constant_first else node.input[1]):
            return _with_param_tensor(g, i, node, op, x, constant_first)
        if number is not None and op in ("mul", "div") and not (op == "div" and constant_first):
            return [_spec(g, i, "scale", [x], {"value": number if op == "mul" else 1.0 / number})]
        if number is not None:
            raise Unsupported(f"{'adds' if op == 'add' else 'subtracts'} a constant number: no costmodel op does")
        if op in ("add", "sub") and not (op == "sub" and constant_first):
            return [_spec(g, i, "learned_bias", [x], {"shape": _per_sample(g, x, value)})]
        channels_first = channel_vector(g, x, value)
        if op in ("mul", "div") and not (op == "div" and constant_first) and channels_first is not None:
            return [_spec(g, i, "layer_scale", [x], {"channels_first": True} if channels_first else {})]
        raise Unsupported(f"{op} with a constant of shape {list(value.shape)}")

    return mapper


def _derived(g: OnnxGraph, name: str) -> bool:
    """Whether a constant is not a (reshaped) initializer: a table lookup folded into a bigger tensor (Swin's
    relative position bias) or a tensor with no initializer behind it (a Constant node: a non-persistent
    buffer such as Swin's shifted-window mask, or a tensor the forward pass computed)."""
    behind = g.sources.get(name, frozenset())
    return sum(int(g.consts[n].size) for n in behind) != int(g.consts[name].size)


def _with_param_tensor(g: OnnxGraph, i: int, node: NodeProto, op: str, x: str, constant_first: bool) -> list[SpecNode]:
    """``x op c`` for a derived constant ``c``: a ``param_tensor`` of c's shape counting the float initializers
    behind it (each once; none for a Constant), then the broadcast binary op."""
    name = node.input[0] if constant_first else node.input[1]
    shape = [int(d) for d in g.shape(name)]
    if len(shape) == len(g.shape(x)) and shape[0] != 1:
        raise Unsupported(f"a constant of shape {shape} varies along the batch dimension")
    fresh = sorted(g.sources.get(name, frozenset()) - g.claimed)
    g.claimed.update(fresh)
    params = sum(int(g.consts[n].size) for n in fresh)
    tensor = f"{node.output[0]}#param"
    pieces = [tensor, x] if constant_first else [x, tensor]
    attrs = {"broadcast": True} if op == "add" and list(g.shape(x)) != shape else {}
    return [_spec(g, i, "param_tensor", [x], {"shape": shape, "params": params}, [tensor], leaf="param"),
            _spec(g, i, op, pieces, attrs)]


def _keeps_batch(g: OnnxGraph, node: NodeProto) -> tuple[Shape, Shape]:
    x_shape, y_shape = g.shape(node.input[0]), g.shape(node.output[0])
    if not y_shape or x_shape[0] != y_shape[0]:
        raise Unsupported(f"changes the batch dimension ({list(x_shape)} -> {list(y_shape)})")
    return x_shape, y_shape


def _reshape(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    """A view: ``reshape`` when the batch dim keeps its size, else ``batch_reshape`` (windows or heads folded
    into the batch dim, or back out of it; :mod:`onnx_batch` checked that the batch stays in dim 0)."""
    x_shape, y_shape = g.shape(node.input[0]), g.shape(node.output[0])
    if not y_shape or not x_shape:
        raise Unsupported(f"changes the batch dimension ({list(x_shape)} -> {list(y_shape)})")
    if y_shape == x_shape:
        return [_spec(g, i, "identity", [node.input[0]])]
    if x_shape[0] == y_shape[0]:
        return [_spec(g, i, "reshape", [node.input[0]], {"shape": list(y_shape[1:])})]
    common = math.gcd(x_shape[0], y_shape[0])
    attrs: dict[str, Any] = {"shape": list(y_shape[1:])}
    if y_shape[0] != common:
        attrs["fold"] = y_shape[0] // common
    if x_shape[0] != common:
        attrs["unfold"] = x_shape[0] // common
    return [_spec(g, i, "batch_reshape", [node.input[0]], attrs, leaf="reshape")]


def _flatten(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    x_shape, _ = _keeps_batch(g, node)
    axis = int(attr(node, "axis", 1)) % len(x_shape) if x_shape else 1
    if axis == 0:
        raise Unsupported("flattens the batch dimension")
    return [_spec(g, i, "flatten", [node.input[0]], {"start_dim": axis} if axis != 1 else {})]


def _transpose(g: OnnxGraph, i: int, node: NodeProto) -> list[SpecNode]:
    rank = len(g.shape(node.input[0]))
    perm = ints(attr(node, "perm", list(reversed(range(rank)))))
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
    fill = scalar(g.const(node.input[2])) if len(node.input) > 2 and node.input[2] else attr(node, "value", 0.0)
    pads = ints(pads)
    if pads[0] or pads[rank]:
        raise Unsupported("pads the batch dimension")
    modes = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}
    mode = attr(node, "mode", "constant")
    if mode not in modes:
        raise Unsupported(f"mode {mode!r}")
    pairs = [v for d in reversed(range(1, rank)) for v in (pads[d], pads[d + rank])]  # F.pad: last dim first
    # unpadded leading dims dropped, down to one pair; F.pad's reflect and replicate need rank - 2 pairs at least
    while len(pairs) > 2 * max(1, rank - 2 if modes[mode] != "constant" else 1) and pairs[-2:] == [0, 0]:
        pairs = pairs[:-2]
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
    "BatchNormalization": _batch_norm, "LayerNormalization": layer_normalization,
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
