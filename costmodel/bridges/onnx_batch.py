"""Follow the batch dimension through an ONNX graph and rewrite the graph so that every tensor has it first.

costmodel's ops keep the batch dim first; ONNX graphs move it. ``nn.MultiheadAttention`` (``batch_first=False``
and, inside, for either setting) transposes ``[L, N, E]`` and folds the heads into the batch
(``[L, N*H, hd] -> [N*H, L, hd]``); Swin's window partition folds the windows into it
(``[N, H/w, w, W/w, w, C] -> [N*nW, w*w, C]``). This module finds, for every activation, the axis that carries
the batch, and rewrites the graph into its *batch-first form*: every tensor with that axis moved to the front
(its size ``batch x f``, ``f`` the heads or windows folded in). The rewritten nodes then map onto the registry's
ordinary ops: a ``Transpose`` becomes a ``permute`` of the other axes (or nothing), a ``Reshape`` a ``reshape``
or a ``batch_reshape`` (the op the PyTorch importer writes for the same views), axis attributes and constants
follow the moved axis. Views cost nothing, so the counts do not depend on where the batch sat.

Where the batch is (:func:`locate`): the inputs hold it in axis 0; a ``Transpose`` carries it to its new axis;
a ``Reshape`` keeps it where its digit of the row-major flat index falls (inside one axis of the new shape, or
nowhere: the batch is split, and the reshape is refused); ops along an axis keep it. For a batch above 1 this is
exact. A batch of 1 fits on every axis boundary at its stride, so the importer picks a place all the reshape's
readers accept (``Gemm`` and ``Conv`` want it in axis 0, ``MatMul`` outside the multiplied axes, a ``Softmax``
off its axis), then the one with the fewest dims folded in: ``[L, 1, E] -> [L, H, hd]`` folds the heads
(``[H, L, hd]``), ``[L, 1, H, hd] -> [L, E]`` the tokens (``Gemm`` reads it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from onnx import NodeProto, helper

from .common import Loc, Unsupported, reshaped
from .onnx_ops import OnnxGraph, Shape, attr, ints, reduce_axes

UNARY = {"Relu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Gelu", "Erf", "LeakyRelu", "Elu", "Clip",
         "Identity", "Cast", "Dropout", "Sqrt", "Neg", "Abs", "Exp", "Reciprocal", "Softplus", "Mish"}
BINARY = {"Add", "Sub", "Mul", "Div", "Pow"}
RESHAPES = {"Reshape", "Squeeze", "Unsqueeze", "Flatten"}


class _Refused(Exception):
    pass


NCHW = {"Conv", "ConvTranspose", "BatchNormalization", "MaxPool", "AveragePool", "GlobalAveragePool",
        "GlobalMaxPool", "Resize", "Upsample", "InstanceNormalization", "Gemm"}
AXIS_OPS = {"Softmax": -1, "LogSoftmax": -1, "LayerNormalization": -1, "Gather": 0, "Split": 0, "Concat": None}


def _axis_of(g: OnnxGraph, node: NodeProto, rank: int) -> list[int]:
    """The axes a node works along (reduces, splits, normalises, ...), non-negative."""
    op = node.op_type
    if op in AXIS_OPS:
        axis = int(attr(node, "axis", AXIS_OPS[op] if AXIS_OPS[op] is not None else 0)) % rank
        return list(range(axis, rank)) if op == "LayerNormalization" else [axis]
    if op in ("ReduceMean", "ReduceSum", "ReduceMax"):
        listed = attr(node, "axes")
        if listed is None and len(node.input) > 1 and node.input[1] and g.const(node.input[1]) is not None:
            listed = g.consts[node.input[1]].reshape(-1).tolist()
        return [int(a) % rank for a in (listed if listed is not None else range(rank))]
    return []


def accepts(g: OnnxGraph, node: NodeProto, name: str, k: int) -> bool:
    """Whether ``node`` can read tensor ``name`` with the batch at axis ``k`` (a batch of 1 may sit on several
    axes after a reshape; the importer picks one that its readers accept)."""
    rank = len(g.shape(name))
    op = node.op_type
    if op in NCHW:
        return k == 0
    if op == "MatMul":
        other = node.input[1] if node.input[0] == name else node.input[0]
        return k < rank - (1 if g.const(other) is not None else 2)
    return k not in _axis_of(g, node, rank)


def locate(g: OnnxGraph, batch: int) -> dict[str, int | None]:
    """The axis holding the batch in every activation (None: split, reduced, or lost by an op no rule
    follows), propagated from the inputs (batch at axis 0) node by node."""
    locs: dict[str, Loc | None] = {name: (0, 1, 1) for name in g.inputs}
    for node in g.nodes:
        ins = [n for n in node.input if n and g.const(n) is None]
        outs = [n for n in node.output if n]
        known = [locs.get(n) for n in ins]
        if not ins or any(loc is None for loc in known):
            locs.update((n, None) for n in outs)
            continue
        first = known[0]
        assert first is not None
        x_shape = g.shape(ins[0])
        op = node.op_type
        for out in outs:
            y_shape = g.shape(out) if out in g.shapes else ()
            locs[out] = _propagate(g, node, op, first, x_shape, y_shape, out, batch, known)
    return {name: loc[0] if loc is not None else None for name, loc in locs.items()}


def _propagate(g: OnnxGraph, node: NodeProto, op: str, loc: Loc, x_shape: Shape, y_shape: Shape, out: str,
               batch: int, known: list[Loc | None]) -> Loc | None:
    k, a, c = loc
    if not y_shape:
        return None
    if op in RESHAPES:
        found = reshaped(loc, x_shape, y_shape, batch)
        if len(found) > 1:  # a batch of 1: prefer a place every reader accepts, then the fewest dims folded in
            readers = [g.nodes[j] for j in g.consumers(out)]
            fine = [f for f in found if all(accepts(g, r, out, f[0]) for r in readers)] or found
            found = [min(fine, key=lambda f: (f[1] * f[2], f[0]))]
        return found[0] if found else None
    if op == "Transpose":
        perm = ints(attr(node, "perm", list(reversed(range(len(x_shape))))))
        return (perm.index(k), a, c)
    if op in BINARY or op == "MatMul":
        shifted = {(f[0] + len(y_shape) - len(s), f[1], f[2]) for f, s in
                   zip(known, (g.shape(n) for n in node.input if n and g.const(n) is None), strict=False)
                   if f is not None}
        return shifted.pop() if len(shifted) == 1 else None
    if op == "Gather":
        g_axis = int(attr(node, "axis", 0)) % len(x_shape)
        q = g.shape(node.input[1]) if node.input[1] in g.consts or node.input[1] in g.shapes else ()
        return None if g_axis == k else (k if k < g_axis else k - 1 + len(q), a, c)
    if op in ("ReduceMean", "ReduceSum", "ReduceMax"):
        axes = _axis_of(g, node, len(x_shape))
        if k in axes:
            return None
        return (k if attr(node, "keepdims", 1) else k - sum(1 for d in axes if d < k), a, c)
    if len(y_shape) == len(x_shape) and y_shape[k] == x_shape[k]:  # elementwise, slices, norms, convs, ...
        return loc
    return None


def _order(rank: int, k: int) -> list[int]:
    return [k, *(i for i in range(rank) if i != k)]


def _front(shape: Sequence[int], k: int) -> Shape:
    return tuple(int(shape[i]) for i in _order(len(shape), k))


class _Rewriter:
    def __init__(self, g: OnnxGraph, axes: dict[str, int | None]) -> None:
        self.g, self.axes = g, axes
        self.consts = dict(g.consts)
        self.sources = dict(g.sources)
        self.fresh = 0

    def axis(self, name: str) -> int:
        k = self.axes.get(name)
        if k is None:
            raise _Refused("loses track of the batch dimension (split, reduced or moved where no op follows it)")
        return k

    def const(self, base: str, value: np.ndarray, behind: str | None = None) -> str:
        self.fresh += 1
        name = f"{base}#batch{self.fresh}"
        self.consts[name] = value
        self.sources[name] = self.g.sources.get(behind or "", frozenset())
        return name

    def moved(self, name: str, axis: int) -> int:
        """Where ``axis`` of tensor ``name`` lands once the batch axis is moved to the front."""
        rank = len(self.g.shape(name))
        return _order(rank, self.axis(name)).index(axis % rank)

    def same_axis(self, node: NodeProto, names: Sequence[str]) -> int:
        ks = {self.axis(n) for n in names}
        ranks = {len(self.g.shape(n)) for n in names}
        if len(ks) != 1 or len(ranks) != 1:
            raise _Refused("combines tensors whose batch dimensions are at different axes")
        return ks.pop()

    def rewrite(self, node: NodeProto) -> NodeProto:
        g, op = self.g, node.op_type
        x = node.input[0]
        y = node.output[0]
        new = NodeProto()
        new.CopyFrom(node)
        if op == "Transpose":
            perm = ints(attr(node, "perm", list(reversed(range(len(g.shape(x)))))))
            if perm[self.axis(y)] != self.axis(x):
                raise _Refused("moves the batch dimension to another axis than the one found")
            order = _order(len(perm), self.axis(y))
            _set(new, "perm", [0, *(self.moved(x, perm[o]) for o in order[1:])])
            return new
        if op in RESHAPES:
            self.axis(x)
            shape = np.array(_front(g.shape(y), self.axis(y)), dtype=np.int64)
            return helper.make_node("Reshape", [x, self.const(y, shape)], [y], name=node.name)
        if op in UNARY:
            if self.axis(x) != self.axis(y):
                raise _Refused("moves the batch dimension")
            return new
        if op in BINARY:
            return self.binary(node, new)
        if op == "MatMul":
            a, b = node.input
            k = self.axis(y)
            if g.const(a) is not None:
                raise _Refused("a constant left operand")
            if g.const(b) is None:
                if self.same_axis(node, [a, b, y]) >= len(g.shape(y)) - 2:
                    raise _Refused("multiplies along the batch dimension")
            elif self.axis(a) != k or k >= len(g.shape(a)) - 1:
                raise _Refused("contracts the batch dimension")
            return new
        if op in ("Softmax", "LogSoftmax", "Gather", "Split", "Concat", "LayerNormalization"):
            inputs = [n for n in node.input if n and g.const(n) is None]
            if op == "Concat":
                self.same_axis(node, inputs)
            rank = len(g.shape(x))
            default = {"Softmax": -1, "LogSoftmax": -1, "LayerNormalization": -1}.get(op, 0)
            axis = int(attr(node, "axis", default)) % rank
            if axis == self.axis(x) or op == "LayerNormalization" and axis < self.axis(x):
                raise _Refused("works along the batch dimension")
            _set(new, "axis", self.moved(x, axis))
            return new
        if op == "Slice":
            return self.slice(node, new)
        if op == "ReduceMean":
            return self.reduce(node, new)
        raise _Refused(f"reads a tensor whose batch dimension is at axis {self.axis(x)} (only views, elementwise "
                       "ops, MatMul, Softmax, LayerNormalization, Gather, Split, Concat, Slice and ReduceMean "
                       "follow it there)")

    def binary(self, node: NodeProto, new: NodeProto) -> NodeProto:
        g = self.g
        y = node.output[0]
        rank, k = len(g.shape(y)), self.axis(y)
        for index, name in enumerate(node.input):
            value = g.const(name)
            if value is None:
                if len(g.shape(name)) != rank or self.axis(name) != k:
                    raise _Refused("combines tensors whose batch dimensions are at different axes")
                continue
            padded = value.reshape((1,) * (rank - value.ndim) + value.shape)
            if padded.shape[k] != 1:
                raise _Refused(f"a constant of shape {list(value.shape)} varies along the batch dimension")
            moved = np.transpose(padded, _order(rank, k))
            while moved.ndim > max(value.ndim, 1) and moved.shape[0] == 1:
                moved = moved.reshape(moved.shape[1:])
            if moved.shape != value.shape or not np.array_equal(moved, value):
                new.input[index] = self.const(name, moved, behind=name)
        return new

    def slice(self, node: NodeProto, new: NodeProto) -> NodeProto:
        g = self.g
        x = node.input[0]
        rank = len(g.shape(x))
        starts = g.const(node.input[1])
        axes_value = g.const(node.input[3]) if len(node.input) > 3 and node.input[3] else None
        if starts is None or len(node.input) > 3 and node.input[3] and axes_value is None:
            raise _Refused("starts or axes are not constant")
        axes = axes_value.reshape(-1).tolist() if axes_value is not None else list(range(starts.size))
        if any(int(a) % rank == self.axis(x) for a in axes):
            in_shape, out_shape = g.shape(x), g.shape(node.output[0])
            if in_shape[self.axis(x)] != out_shape[self.axis(node.output[0])]:
                raise _Refused("slices the batch dimension")
        moved = np.array([self.moved(x, int(a)) for a in axes], dtype=np.int64)
        while len(new.input) < 4:
            new.input.append("")
        new.input[3] = self.const(node.output[0], moved)
        return new

    def reduce(self, node: NodeProto, new: NodeProto) -> NodeProto:
        g = self.g
        x = node.input[0]
        rank = len(g.shape(x))
        try:
            listed = reduce_axes(g, node)
        except Unsupported as error:
            raise _Refused(str(error)) from error
        axes = [a % rank for a in (listed if listed is not None else range(rank))]
        if self.axis(x) in axes:
            raise _Refused("reduces the batch dimension")
        moved = [self.moved(x, a) for a in axes]
        if attr(node, "axes") is not None:
            _set(new, "axes", moved)
        else:
            while len(new.input) < 2:
                new.input.append("")
            new.input[1] = self.const(node.output[0], np.array(moved, dtype=np.int64))
        return new


def _set(node: NodeProto, name: str, value: object) -> None:
    for index, a in enumerate(node.attribute):
        if a.name == name:
            node.attribute[index].CopyFrom(helper.make_attribute(name, value))
            return
    node.attribute.append(helper.make_attribute(name, value))


def batch_first(g: OnnxGraph, batch: int) -> OnnxGraph:
    """The graph with every activation's batch axis first (see the module doc). Nodes that touch a moved batch
    in a way no op follows are kept as they are and recorded in ``refused`` (reported as unsupported), as are
    reshapes that split the batch."""
    axes = locate(g, batch)
    rewriter = _Rewriter(g, axes)
    nodes: list[NodeProto] = []
    refused: dict[int, str] = {}
    for index, node in enumerate(g.nodes):
        tensors = [n for n in [*node.input, *node.output] if n and n in g.shapes and n not in g.consts]
        located = [axes.get(n) for n in tensors]
        if node.op_type in RESHAPES and any(k is None for k in located) and any(k is not None for k in located):
            before, after = list(g.shape(node.input[0])), list(g.shape(node.output[0]))
            refused[index] = f"changes the batch dimension ({before} -> {after}): splits it"
            nodes.append(node)
        elif all(k in (0, None) for k in located):
            nodes.append(node)
        else:
            try:
                nodes.append(rewriter.rewrite(node))
            except _Refused as exc:
                refused[index] = str(exc)
                nodes.append(node)
    shapes = {n: _front(s, k) if (k := axes.get(n)) else s for n, s in g.shapes.items()}
    out = OnnxGraph(nodes, rewriter.consts, shapes, g.inputs, g.outputs, rewriter.sources)
    out.refused = refused
    return out
