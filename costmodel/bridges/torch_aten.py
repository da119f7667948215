"""ATen op -> registry op: one handler per ATen op (overload packet), used by :mod:`costmodel.bridges.torch_import`
(through the walk of :mod:`costmodel.bridges.torch_trace`).

A handler receives the tracer, the FX node and its arguments (FX nodes replaced by ``Dyn`` / ``Static`` values)
and returns the node's value, emitting spec nodes on the way. It raises ``Unsupported`` for a form it cannot map
(the op is then listed, or made opaque with --allow-opaque). Ops that are the identity at inference (dropout,
detach, dtype casts) emit nothing. docs/torch-import.md lists the mapping.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

from ..ops.base import numel
from .common import Unsupported, reshaped
from .torch_trace import TRACE_BATCH, Dyn, Static, Tracer

Handler = Callable[[Tracer, Any, tuple[Any, ...], dict[str, Any]], Any]
HANDLERS: dict[str, Handler] = {}


def canonical(target: Any) -> str:
    """``aten.conv2d.default`` -> ``aten.conv2d``; ``operator.getitem`` -> ``getitem``."""
    if target is operator.getitem:
        return "getitem"
    packet = getattr(target, "overloadpacket", None)
    return str(packet) if packet is not None else getattr(target, "__name__", str(target))


def handles(*names: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        for name in names:
            HANDLERS[f"aten.{name}"] = fn
        return fn

    return deco


def bind(node: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments by schema name, defaults filled in."""
    out: dict[str, Any] = {}
    for index, arg in enumerate(node.target._schema.arguments):
        if index < len(args):
            out[arg.name] = args[index]
        elif arg.name in kwargs:
            out[arg.name] = kwargs[arg.name]
        elif arg.has_default_value():
            out[arg.name] = arg.default_value
        else:
            out[arg.name] = None
    return out


def dyn(t: Tracer, value: Any) -> Dyn:
    """``value`` as a dynamic tensor without a pending permutation."""
    if not isinstance(value, Dyn):
        raise Unsupported("expected a tensor that depends on the input")
    return t.plain(value)


def settle(t: Tracer, own: int, statics: Sequence[Any]) -> None:
    """The op counts ``own`` parameters itself; its static inputs' parameters are now counted."""
    fresh = t.claim([s for s in statics if isinstance(s, Static)])
    if fresh != own:
        t.notes.append(f"{t.module or '<root>'}: the op counts {own} parameters, its inputs hold {fresh}")


def flag(condition: bool, **attrs: Any) -> dict[str, Any]:
    """``attrs`` when ``condition`` holds, else nothing (attributes written only when not the default)."""
    return attrs if condition else {}


def made(t: Tracer, ref: str, shape: tuple[int, ...]) -> Dyn:
    """The value of emitted node ``ref`` whose output has ``shape`` (recorded for the shape check)."""
    t.nodes[int(ref[1:])].traced[0] = shape
    return Dyn(ref, shape, outer=t.carry(shape))


def single(t: Tracer, op: str, x: Dyn, **attrs: Any) -> Dyn:
    return t.out(t.emit(op, [x], **attrs))


def last_axis(t: Tracer, x: Any) -> Dyn:
    """``x`` for an op along its last axis. A tensor whose batch a pending permutation moved is permuted so that
    the spec holds the traced order with the batch in front (``nn.MultiheadAttention``'s in_proj on
    ``[L, N, E]``); the op then works on the spec tensor and its result (:func:`like`) keeps the permutation."""
    if not isinstance(x, Dyn):
        raise Unsupported("expected a tensor that depends on the input")
    if x.perm is None or x.perm[0] == 0:
        return t.plain(x)
    bpos = x.perm.index(0)
    if bpos == len(x.shape) - 1:
        raise Unsupported("the batch dimension is moved to the last axis")
    order = [bpos] + [d for d in range(len(x.shape)) if d != bpos]
    dims = [x.perm[d] for d in order]
    ref = x.ref if dims == list(range(len(dims))) else made(t, t.emit("permute", [x.ref], dims=dims),
                                                               tuple(x.shape[d] for d in order)).ref
    return Dyn(ref, x.shape, tuple(order.index(k) for k in range(len(order))), x.outer)


def like(t: Tracer, ref: str, x: Dyn) -> Dyn:
    """The value of emitted node ``ref``, an op that keeps the layout of ``x`` (along its last axis, or element
    by element): the traced shape of the current node, ``x``'s pending permutation and ``outer``."""
    if x.perm is None:
        return t.out(ref)
    out = tuple(int(d) for d in t.current.meta["val"].shape)
    spec = [0] * len(out)
    for k, p in enumerate(x.perm):
        spec[p] = out[k]
    t.nodes[int(ref[1:])].traced[0] = tuple(spec)
    return Dyn(ref, out, x.perm, x.outer)


def _ints(v: Any, n: int) -> list[int]:
    if isinstance(v, int):
        return [v] * n
    v = [int(i) for i in v]
    return v * n if len(v) == 1 else v


def _short(values: list[int]) -> int | list[int]:
    """[3, 3] -> 3 (a square kernel), else the list."""
    return values[0] if len(set(values)) == 1 else values


# ---- convolution, linear, normalisation -----------------------------------------------------------------


def _conv(t: Tracer, x: Any, w: Any, b: Any, stride: Any, padding: Any, dilation: Any, groups: int,
          transposed: bool = False, output_padding: Any = None) -> Dyn:
    x = dyn(t, x)
    if not isinstance(w, Static):
        raise Unsupported("the weight depends on the input")
    rank = len(w.shape) - 2
    if rank not in (1, 2, 3) or (transposed and rank != 2):
        raise Unsupported(f"{rank}-d {'transposed ' if transposed else ''}convolution")
    kernel = list(w.shape[2:])
    out_ch = w.shape[1] * groups if transposed else w.shape[0]
    attrs: dict[str, Any] = {"out": out_ch, "kernel": _short(kernel)}
    if _short(_ints(stride, rank)) != 1:
        attrs["stride"] = _short(_ints(stride, rank))
    pad = padding if isinstance(padding, str) else _short(_ints(padding, rank))
    if pad != 0:
        attrs["padding"] = pad
    dil = _short(_ints(dilation, rank))
    if dil != 1:
        attrs["dilation"] = dil
    if groups != 1:
        attrs["groups"] = groups
    attrs["bias"] = b is not None
    op = "conv_transpose2d" if transposed else f"conv{rank}d"
    if transposed and output_padding and any(output_padding):
        attrs["output_padding"] = _short(_ints(output_padding, rank))
    own = numel(w.shape) + (out_ch if b is not None else 0)
    counted = _weights_from(t, x, own, [w, b], attrs)
    ref = t.emit(op, [x], hint="conv" if not transposed else "deconv", **attrs)
    settle(t, counted, [w, b])
    return t.out(ref)


def _weights_from(t: Tracer, x: Dyn, own: int, statics: Sequence[Any], attrs: dict[str, Any]) -> int:
    """Where a conv's or linear's weights come from, when not its own fresh parameters: already counted (one
    module called twice, CoaT's shared convolutional position encoding: ``shared: true``), or computed from more
    parameters than the op holds (NFNet's standardised weight times a gain: the extra ones on a ``param_tensor``
    before the op). Returns the parameters the emitted nodes count."""
    held = [s for s in statics if isinstance(s, Static)]
    fresh = sum(t.claimable(s) for s in held)
    if fresh == 0 and any(s.params for s in held) and own:
        attrs["shared"] = True
        return 0
    if fresh > own and all(s.params for s in held):
        t.emit("param_tensor", [x], hint="param", shape=[fresh - own], params=fresh - own)
        return fresh
    return own


@handles("conv1d", "conv2d", "conv3d")
def conv(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    return _conv(t, a["input"], a["weight"], a["bias"], a["stride"], a["padding"], a["dilation"], a["groups"])


@handles("convolution", "_convolution")
def convolution(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    return _conv(t, a["input"], a["weight"], a["bias"], a["stride"], a["padding"], a["dilation"], a["groups"],
                 bool(a["transposed"]), a["output_padding"])


@handles("linear")
def linear(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    w, b = a["weight"], a["bias"]
    if not isinstance(w, Static) or (b is not None and not isinstance(b, Static)):
        raise Unsupported("the weight depends on the input")
    assembled = isinstance(b, Static) and (t.claimable(b) != numel(b.shape) or len(b.params) != 1)
    x = dyn(t, a["input"]) if not w.params or assembled else last_axis(t, a["input"])
    if not w.params:  # a fixed weight (a buffer: CSATv2's DCT): a matmul with a constant, no parameters
        const = t.static_input(Static((w.shape[1], w.shape[0])), x)
        out = tuple(int(d) for d in node.meta["val"].shape)
        y = made(t, t.emit("matmul", [x.ref, const], hint="linear"), out)
        if b is None:
            return y
        return t.out(t.emit("add", [y.ref, t.static_input(b, y)], hint="bias", broadcast=True))
    if assembled and isinstance(b, Static):
        # a bias assembled from parameters and constants (EVA's cat(q_bias, zeros, v_bias)): the linear without
        # bias, then the bias added as a static tensor holding the parameters behind it
        ref = t.emit("linear", [x], hint="linear", out=w.shape[0], bias=False)
        settle(t, numel(w.shape), [w])
        out = tuple(int(d) for d in node.meta["val"].shape)
        y = made(t, ref, out)
        bias = t.static_input(b, y)
        return t.out(t.emit("add", [y.ref, bias], hint="bias", broadcast=True))
    attrs: dict[str, Any] = {}
    counted = _weights_from(t, x, numel(w.shape) + (w.shape[0] if b is not None else 0), [w, b], attrs)
    ref = t.emit("linear", [x.ref], hint="linear", out=w.shape[0], bias=b is not None, **attrs)
    settle(t, counted, [w, b])
    return like(t, ref, x)


@handles("layer_norm")
def layer_norm(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    x, w, b = a["input"], a["weight"], a["bias"]
    if not isinstance(x, Dyn) or list(a["normalized_shape"]) != [x.shape[-1]]:
        raise Unsupported(f"normalized over {list(a['normalized_shape'])}, not the last axis only")
    x = last_axis(t, x)
    attrs: dict[str, Any] = {} if w is not None else {"affine": False}
    if w is not None and b is None:
        attrs["bias"] = False
    ref = t.emit("layer_norm", [x.ref], **attrs)
    settle(t, (x.shape[-1] if w is not None else 0) + (x.shape[-1] if b is not None else 0), [w, b])
    return like(t, ref, x)


@handles("rms_norm")
def rms_norm(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    x, w = dyn(t, a["input"]), a["weight"]
    if list(a["normalized_shape"]) != [x.shape[-1]]:
        raise Unsupported(f"normalized over {list(a['normalized_shape'])}, not the last axis only")
    ref = t.emit("rms_norm", [x], **flag(w is None, weight=False))
    settle(t, x.shape[-1] if w is not None else 0, [w])
    return t.out(ref)


def _batch_norm(t: Tracer, x: Any, w: Any, b: Any) -> tuple[str, Dyn]:
    x = dyn(t, x)
    if (w is None) != (b is None):
        raise Unsupported("batch norm with only one of weight and bias")
    ref = t.emit("batch_norm", [x], hint="bn", **flag(w is None, affine=False))
    settle(t, 2 * x.shape[1] if w is not None else 0, [w, b])
    return ref, t.out(ref)


@handles("batch_norm")
def batch_norm(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    if a["training"]:
        raise Unsupported("batch norm in training mode")
    return _batch_norm(t, a["input"], a["weight"], a["bias"])[1]


@handles("_native_batch_norm_legit_no_training")
def batch_norm_no_training(t: Tracer, node: Any, args: Any, kwargs: Any) -> tuple[Any, ...]:
    a = bind(node, args, kwargs)
    x = dyn(t, a["input"])
    ref = t.emit("batch_norm", [x], hint="bn", **flag(a["weight"] is None, affine=False))
    settle(t, 2 * x.shape[1] if a["weight"] is not None else 0, [a["weight"], a["bias"]])
    val = node.meta["val"]
    return (_first_of(t, ref, val),
            *(Static(tuple(int(d) for d in v.shape)) for v in val[1:]))


def _first_of(t: Tracer, ref: str, val: Any) -> Dyn:
    shape = tuple(int(d) for d in val[0].shape)
    t.nodes[int(ref[1:])].traced[0] = shape
    return Dyn(ref, shape, outer=t.carry(shape))


@handles("group_norm")
def group_norm(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    x, w, b = dyn(t, a["input"]), a["weight"], a["bias"]
    if (w is None) != (b is None):
        raise Unsupported("group norm with only one of weight and bias")
    ref = t.emit("group_norm", [x], groups=int(a["num_groups"]), **flag(w is None, affine=False))
    settle(t, 2 * x.shape[1] if w is not None else 0, [w, b])
    return t.out(ref)


# ---- activations and element-wise arithmetic -------------------------------------------------------------

_UNARY = {
    "relu": "relu", "relu_": "relu", "gelu": "gelu", "gelu_": "gelu", "silu": "silu", "silu_": "silu",
    "sigmoid": "sigmoid", "sigmoid_": "sigmoid", "tanh": "tanh", "tanh_": "tanh", "hardswish": "hardswish",
    "hardswish_": "hardswish", "hardsigmoid": "hardsigmoid", "hardsigmoid_": "hardsigmoid", "relu6": "relu6",
}


@handles(*_UNARY)
def unary(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    name = canonical(node.target).removeprefix("aten.")
    attrs: dict[str, Any] = {}
    if name.startswith("gelu"):
        approximate = bind(node, args, kwargs).get("approximate", "none")
        if approximate != "none":
            attrs["approximate"] = approximate
    x = args[0]
    if isinstance(x, Dyn) and x.perm is not None and x.perm[0] != 0:  # element by element: wherever the batch is
        return like(t, t.emit(_UNARY[name], [x.ref], **attrs), x)
    return single(t, _UNARY[name], dyn(t, x), **attrs)


@handles("leaky_relu", "leaky_relu_")
def leaky_relu(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    return single(t, "leaky_relu", dyn(t, args[0]), negative_slope=float(a["negative_slope"]))


@handles("elu", "elu_")
def elu(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    if float(a["scale"]) != 1 or float(a["input_scale"]) != 1:
        raise Unsupported("elu with scale (selu)")
    return single(t, "elu", dyn(t, args[0]), alpha=float(a["alpha"]))


@handles("hardtanh", "hardtanh_", "clamp", "clamp_", "clamp_min", "clamp_min_", "clamp_max", "clamp_max_")
def clamp(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    lo = a.get("min_val", a.get("min"))
    hi = a.get("max_val", a.get("max"))
    if isinstance(lo, Dyn) or isinstance(hi, Dyn):
        raise Unsupported("clamp to bounds that depend on the input")
    if isinstance(lo, Static) or isinstance(hi, Static):  # buffers (Gemma's clipped linears): counted per bound
        if any(t.claimable(b) for b in (lo, hi) if isinstance(b, Static)):
            raise Unsupported("clamp to learned bounds")
        attrs: dict[str, Any] = {}
        for key, bound in (("min", lo), ("max", hi)):
            if isinstance(bound, Static):
                attrs[f"{key}_tensor"] = True
            elif bound is not None:
                attrs[key] = float(bound)
        return single(t, "clamp", dyn(t, args[0]), **attrs)
    if lo == 0 and hi == 6:
        return single(t, "relu6", dyn(t, args[0]))
    if lo == 0 and hi is None:
        return single(t, "relu", dyn(t, args[0]))
    return single(t, "clamp", dyn(t, args[0]), **flag(lo is not None, min=float(lo or 0)),
                  **flag(hi is not None, max=float(hi or 0)))


_POINTWISE = {"abs": "abs", "exp": "exp", "log": "log", "sqrt": "sqrt", "rsqrt": "rsqrt", "reciprocal": "reciprocal",
              "square": "square", "erf": "erf", "sin": "sin", "cos": "cos", "floor": "floor", "ceil": "ceil",
              "round": "round", "sign": "sign"}


@handles(*_POINTWISE, *(f"{n}_" for n in _POINTWISE))
def pointwise(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    fn = _POINTWISE[canonical(node.target).removeprefix("aten.").rstrip("_")]
    return single(t, "pointwise", dyn(t, args[0]), hint=fn, fn=fn)


@handles("neg", "neg_")
def neg(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    return single(t, "scale", dyn(t, args[0]), hint="neg", value=-1.0)


@handles("pow")
def power(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    x, e = args[0], args[1]
    if not isinstance(x, Dyn) or not isinstance(e, int | float):
        raise Unsupported("pow with a tensor exponent")
    fn = {2: "square", 0.5: "sqrt", -0.5: "rsqrt", -1: "reciprocal"}.get(e, "pow")
    if e == 1:
        return t.plain(x)
    return single(t, "pointwise", t.plain(x), hint=fn, fn=fn)


@handles("softmax", "_softmax")
def softmax(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    x = dyn(t, args[0])
    dim = int(a["dim"]) % len(x.shape)
    return single(t, "softmax", x, dim=dim - len(x.shape))


_BINARY = {"add": "add", "add_": "add", "sub": "sub", "sub_": "sub", "mul": "mul", "mul_": "mul",
           "div": "div", "div_": "div", "rsub": "rsub"}


@handles(*_BINARY)
def binary(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    name = _BINARY[canonical(node.target).removeprefix("aten.")]
    a = bind(node, args, kwargs)
    x, y = a["self"], a["other"]
    alpha = a.get("alpha", 1)
    if a.get("rounding_mode") is not None:
        raise Unsupported("division with rounding")
    if name == "rsub":
        x, y, name = y, x, "sub"
    if alpha not in (1, None):
        if not isinstance(y, int | float):
            raise Unsupported("add/sub with alpha")
        y = y * alpha
    return _arith(t, name, x, y, tuple(int(d) for d in node.meta["val"].shape))


def _arith(t: Tracer, name: str, x: Any, y: Any, out_shape: tuple[int, ...]) -> Dyn:
    """``x <name> y`` (add, sub, mul, div), one of them a tensor that depends on the input, the other a tensor,
    a parameter (layer_scale, pos_embed, learned_bias where they fit) or a number; ``out_shape``: the current
    node's."""
    if isinstance(x, Dyn) and isinstance(y, int | float) or isinstance(y, Dyn) and isinstance(x, int | float):
        d, c = (x, y) if isinstance(x, Dyn) else (y, x)
        assert isinstance(d, Dyn) and isinstance(c, int | float)
        d = t.plain(d)
        if name == "mul":
            return single(t, "scale", d, value=float(c))
        if name == "div" and isinstance(x, Dyn) and c != 0:
            return single(t, "scale", d, value=1.0 / float(c))
        const = t.emit("param_tensor", [d], hint="const", shape=[], params=0)
        order = [d.ref, const] if isinstance(x, Dyn) else [const, d.ref]
        return t.out(t.emit(name, order, **flag(name == "add", broadcast=True)))
    if isinstance(x, Dyn) and isinstance(y, Dyn):
        if x.perm is not None and x.perm[0] != 0 and (x.perm, x.shape, x.outer) == (y.perm, y.shape, y.outer):
            return like(t, t.emit(name, [x.ref, y.ref]), x)  # both moved alike (a residual on [L, N, E])
        x, y = t.plain(x), t.plain(y)
        broadcast = x.shape != y.shape
        return t.out(t.emit(name, [x, y], **flag(name == "add" and broadcast, broadcast=True)))
    d, s = (x, y) if isinstance(x, Dyn) else (y, x)
    if not isinstance(s, Static):
        raise Unsupported(f"operand of type {type(s).__name__}")
    d = t.plain(d)
    special = _with_param(t, name, d, s, out_shape, dyn_first=isinstance(x, Dyn))
    if special is not None:
        return special
    const = t.static_input(s, d)
    order = [d.ref, const] if isinstance(x, Dyn) else [const, d.ref]
    return t.out(t.emit(name, order, **flag(name == "add", broadcast=True)))


@handles("addcmul")
def addcmul(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    """``self + value * tensor1 * tensor2`` (timm's GlobalResponseNorm: ``addcmul(bias, weight, x * n)``): the
    product (a layer_scale when one factor is a per-channel parameter), a scale unless ``value`` is 1, then the
    add (a learned_bias when ``self`` is a parameter)."""
    a = bind(node, args, kwargs)
    base, t1, t2, value = a["self"], a["tensor1"], a["tensor2"], a.get("value", 1)
    out = tuple(int(d) for d in node.meta["val"].shape)
    factors = [f for f in (t1, t2) if isinstance(f, Dyn)]
    if not factors or not isinstance(value, int | float) or any(f.shape != out for f in factors):
        raise Unsupported("addcmul whose product does not depend on the input or is broadcast by self")
    product = _arith(t, "mul", t1, t2, out)
    if value != 1:
        product = single(t, "scale", product, value=float(value))
    return _arith(t, "add", base, product, out)


def _with_param(t: Tracer, name: str, x: Dyn, s: Static, out_shape: tuple[int, ...], dyn_first: bool) -> Dyn | None:
    """layer_scale, pos_embed or learned_bias for a parameter multiplied with or added to ``x`` as a whole."""
    if out_shape != x.shape or len(s.params) != 1 or t.claimable(s) != numel(s.shape) or len(x.shape) < 2:
        return None
    size = numel(s.shape)
    if name == "mul":
        for channels_first, axis in ((False, -1), (True, 1)):
            if size == x.shape[axis] and _along(s.shape, len(x.shape), axis):
                t.claim([s])
                return single(t, "layer_scale", x, **({"channels_first": True} if channels_first else {}))
        return None
    if name != "add":
        return None
    per_sample = list(s.shape)
    while len(per_sample) >= len(x.shape) and per_sample and per_sample[0] == 1:
        per_sample = per_sample[1:]
    t.claim([s])
    if len(x.shape) == 3 and tuple(per_sample) == x.shape[1:]:
        return single(t, "pos_embed", x)
    return single(t, "learned_bias", x, shape=per_sample or [1])


def _along(shape: tuple[int, ...], rank: int, axis: int) -> bool:
    """Whether a tensor of ``shape`` broadcast against rank ``rank`` varies along ``axis`` only."""
    full = (1,) * (rank - len(shape)) + tuple(shape)
    if len(full) != rank:
        return False
    return all(d == 1 for i, d in enumerate(full) if i != axis % rank)


# ---- pooling and reductions ------------------------------------------------------------------------------


@handles("max_pool1d", "max_pool1d_with_indices", "max_pool2d", "max_pool2d_with_indices")
def max_pool(t: Tracer, node: Any, args: Any, kwargs: Any) -> Any:
    """max_pool1d / max_pool2d: the op of the same name, with its rank's kernel, stride, padding and dilation."""
    a = bind(node, args, kwargs)
    op = "max_pool1d" if "max_pool1d" in canonical(node.target) else "max_pool2d"
    rank = 1 if op == "max_pool1d" else 2
    kernel = _ints(a["kernel_size"], rank)
    stride = _ints(a["stride"], rank) if a["stride"] else kernel
    attrs: dict[str, Any] = {"kernel": _short(kernel), "stride": _short(stride)}
    if any(_ints(a["padding"], rank)):
        attrs["padding"] = _short(_ints(a["padding"], rank))
    if any(d != 1 for d in _ints(a["dilation"], rank)):
        attrs["dilation"] = _short(_ints(a["dilation"], rank))
    if a["ceil_mode"]:
        attrs["ceil_mode"] = True
    ref = t.emit(op, [dyn(t, a["self"])], hint="pool", **attrs)
    if isinstance(node.meta["val"], list | tuple):
        return (_first_of(t, ref, node.meta["val"]), Static(tuple(int(d) for d in node.meta["val"][1].shape)))
    return t.out(ref)


@handles("avg_pool1d", "avg_pool2d")
def avg_pool(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    """avg_pool1d / avg_pool2d: the op of the same name, with its rank's kernel, stride and padding."""
    a = bind(node, args, kwargs)
    op = "avg_pool1d" if canonical(node.target).endswith("avg_pool1d") else "avg_pool2d"
    rank = 1 if op == "avg_pool1d" else 2
    if a.get("divisor_override") is not None:
        raise Unsupported(f"{op} with divisor_override")
    kernel = _ints(a["kernel_size"], rank)
    stride = _ints(a["stride"], rank) if a["stride"] else kernel
    attrs: dict[str, Any] = {"kernel": _short(kernel), "stride": _short(stride)}
    if any(_ints(a["padding"], rank)):
        attrs["padding"] = _short(_ints(a["padding"], rank))
    if a["ceil_mode"]:
        attrs["ceil_mode"] = True
    if not a["count_include_pad"]:
        attrs["count_include_pad"] = False
    return single(t, op, dyn(t, a["self"]), hint="pool", **attrs)


@handles("adaptive_avg_pool2d", "adaptive_max_pool2d", "_adaptive_avg_pool2d")
def adaptive_pool2d(t: Tracer, node: Any, args: Any, kwargs: Any) -> Any:
    a = bind(node, args, kwargs)
    op = "adaptive_max_pool2d" if "max" in canonical(node.target) else "adaptive_avg_pool2d"
    ref = t.emit(op, [dyn(t, a["self"])], hint="pool", output_size=_short(_ints(a["output_size"], 2)))
    if isinstance(node.meta["val"], list | tuple):
        return (_first_of(t, ref, node.meta["val"]), Static(tuple(int(d) for d in node.meta["val"][1].shape)))
    return t.out(ref)


# ---- shapes -----------------------------------------------------------------------------------------------


def _reshaped(t: Tracer, x: Dyn, out: tuple[int, ...]) -> Dyn:
    """A view of ``x`` as ``out``: reshape when the batch dim stays, batch_reshape when it grows or shrinks."""
    if x.perm is not None and x.perm[0] != 0 or x.outer != 1:
        return _reshaped_moved(t, x, out)
    x = t.plain(x)
    if out == x.shape:
        return x
    if not out:
        raise Unsupported("a view to a scalar")
    if out[0] == x.shape[0]:
        return made(t, t.emit("reshape", [x], shape=list(out[1:])), out)
    fold, unfold = (out[0] // x.shape[0], 1) if out[0] % x.shape[0] == 0 else (1, x.shape[0] // out[0])
    if x.shape[0] * fold // unfold != out[0]:
        raise Unsupported(f"a view from {list(x.shape)} to {list(out)} splits the batch dim")
    attrs: dict[str, Any] = {"shape": list(out[1:])}
    if fold != 1:
        attrs["fold"] = fold
    if unfold != 1:
        attrs["unfold"] = unfold
    return made(t, t.emit("batch_reshape", [x], hint="reshape", **attrs), out)


def _dim_groups(src: tuple[int, ...], dst: tuple[int, ...]) -> list[tuple[list[int], list[int]]] | None:
    """The dims of ``src`` and of ``dst`` that a reshape merges or splits into each other, in order (trailing
    size-1 dims join the last group); None when the sizes do not line up."""
    groups: list[tuple[list[int], list[int]]] = []
    i = j = 0
    while i < len(src) and j < len(dst):
        gi, gj, ps, po = [i], [j], src[i], dst[j]
        i, j = i + 1, j + 1
        while ps != po:
            if ps < po and i < len(src):
                gi.append(i)
                ps, i = ps * src[i], i + 1
            elif po < ps and j < len(dst):
                gj.append(j)
                po, j = po * dst[j], j + 1
            else:
                return None
        groups.append((gi, gj))
    if not groups or any(src[k] != 1 for k in range(i, len(src))) or any(dst[k] != 1 for k in range(j, len(dst))):
        return None
    groups[-1][0].extend(range(i, len(src)))
    groups[-1][1].extend(range(j, len(dst)))
    return groups


def _reshaped_moved(t: Tracer, x: Dyn, out: tuple[int, ...]) -> Dyn:
    """A reshape of a tensor whose batch dim a pending permutation moved (SAM's ``qkv.permute(2, 0, 3, 1, 4)
    .reshape(3, B * heads, N, d)``), or that holds the batch below other rows (``outer``): the spec permutes
    the batch's group of dims to the front (the rest in traced order), reshapes (folding dims into the batch
    where the group merges them) and keeps the traced order of the result as a new pending permutation. Where
    the batch lands is its digit of the row-major index (as in the ONNX importer): below rows that the reshape
    merges with it (``[L, N, E] -> [L*N, E]``), the result's ``outer`` says how many."""
    bpos = x.perm.index(0) if x.perm is not None else 0
    groups = _dim_groups(x.shape, out)
    home = next((g for g in (groups or []) if bpos in g[0]), None)
    found = reshaped((bpos, x.outer, x.shape[bpos] // (x.outer * TRACE_BATCH)), x.shape, out, TRACE_BATCH)
    if home is None or not found or found[0][0] not in home[1]:
        raise Unsupported(f"a view from {list(x.shape)} to {list(out)} of a tensor whose batch dim was moved")
    j, outer, _ = found[0]
    first = [bpos] + [d for d in home[0] if d != bpos]
    order = first + [d for d in range(len(x.shape)) if d not in home[0]]
    dims = [x.perm[d] for d in order] if x.perm is not None else order
    ref = x.ref if dims == list(range(len(dims))) else t.emit("permute", [x.ref], dims=dims)
    moved = Dyn(ref, tuple(x.shape[d] for d in order))
    if ref != x.ref:
        made(t, ref, moved.shape)
    out_order = [j] + [d for d in home[1] if d != j] + [d for d in range(len(out)) if d not in home[1]]
    y = _reshaped(t, moved, tuple(out[d] for d in out_order))
    perm = tuple(out_order.index(k) for k in range(len(out)))
    return Dyn(y.ref, out, None if perm == tuple(range(len(out))) else perm, outer)


@handles("view", "reshape", "_unsafe_view", "squeeze", "unsqueeze", "unflatten", "view_as", "reshape_as",
         "squeeze_", "unsqueeze_")
def view(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    if not isinstance(args[0], Dyn):
        raise Unsupported()
    return _reshaped(t, args[0], tuple(int(d) for d in node.meta["val"].shape))


@handles("flatten")
def flatten(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    out = tuple(int(d) for d in node.meta["val"].shape)
    if isinstance(a["self"], Dyn) and a["self"].perm is not None:
        return _reshaped(t, a["self"], out)
    x = dyn(t, a["self"])
    start = int(a.get("start_dim", 0)) % max(len(x.shape), 1)
    if out == x.shape:
        return x
    if start >= 1:
        end = int(a.get("end_dim", -1)) % len(x.shape)
        return single(t, "flatten", x, **({"start_dim": start} if start != 1 else {}),
                      **({"end_dim": end - len(x.shape)} if end != len(x.shape) - 1 else {}))
    return _reshaped(t, x, out)


@handles("permute", "transpose", "t", "swapaxes", "movedim", "transpose_")
def permute(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    x = args[0]
    if not isinstance(x, Dyn):
        raise Unsupported()
    rank = len(x.shape)
    name = canonical(node.target).removeprefix("aten.")
    if name == "permute":
        dims = [int(d) % rank for d in a["dims"]]
    elif name == "movedim":
        src, dst = _ints(a["source"], 1), _ints(a["destination"], 1)
        order = [d for d in range(rank) if d not in [s % rank for s in src]]
        for s_, d_ in sorted(zip([d % rank for d in dst], [s % rank for s in src], strict=True)):
            order.insert(s_, d_)
        dims = order
    else:
        d0, d1 = (0, 1) if name == "t" else (int(a["dim0"]) % rank, int(a["dim1"]) % rank)
        dims = list(range(rank))
        dims[d0], dims[d1] = dims[d1], dims[d0]
    base = x.perm or tuple(range(rank))
    perm = tuple(base[d] for d in dims)
    out = tuple(int(d) for d in node.meta["val"].shape)
    if perm == tuple(range(rank)):
        return Dyn(x.ref, out, outer=x.outer)
    if perm[0] != 0:
        return Dyn(x.ref, out, perm, x.outer)
    moved = [i for i in range(rank) if perm[i] != i]
    if len(moved) == 2:
        return t.out(t.emit("transpose", [x.ref], dim0=moved[0], dim1=moved[1]))
    return t.out(t.emit("permute", [x.ref], dims=list(perm)))


@handles("contiguous", "clone")
def contiguous(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    x = args[0]
    if not isinstance(x, Dyn):
        raise Unsupported()
    ref = t.emit("contiguous", [x.ref])
    if x.perm is None:
        return t.out(ref)
    return Dyn(ref, x.shape, x.perm, x.outer)


@handles("dropout", "dropout_", "alias", "detach", "detach_", "lift_fresh_copy", "to", "_to_copy", "type_as",
         "feature_dropout", "alpha_dropout", "feature_alpha_dropout", "native_dropout")
def passthrough(t: Tracer, node: Any, args: Any, kwargs: Any) -> Any:
    """The identity at inference: no node."""
    x = args[0]
    if not isinstance(x, Dyn):
        raise Unsupported()
    if isinstance(node.meta.get("val"), list | tuple):  # native_dropout: (out, mask)
        return (x, Static(tuple(int(d) for d in node.meta["val"][1].shape)))
    return x


@handles("expand", "expand_as")
def expand(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    x = dyn(t, args[0])
    out = tuple(int(d) for d in node.meta["val"].shape)
    if x.shape == out:
        return x
    if len(out) != len(x.shape) or out[0] != x.shape[0]:
        raise Unsupported("expanding the batch dim or adding dims")
    return single(t, "expand", x, shape=list(out[1:]))


@handles("stack")
def stack(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    tensors = list(a["tensors"])
    first = next((v for v in tensors if isinstance(v, Dyn)), None)
    if first is None:
        raise Unsupported()
    dim = int(a["dim"]) % (len(first.shape) + 1)
    perm = None
    if dim == 0:  # stacked in front of the batch: stack at dim 1 in the spec, the traced order as a permutation
        dim, perm = 1, (1, 0, *range(2, len(first.shape) + 1))
    parts = []
    for v in tensors:
        shape = (*v.shape[:dim], 1, *v.shape[dim:])
        if isinstance(v, Dyn):
            parts.append(t.ref(_reshaped(t, v, shape)))
        else:
            parts.append(t.static_input(Static(shape, v.params), first))
    out = tuple(int(d) for d in node.meta["val"].shape)
    spec_out = out if perm is None else tuple(out[p] for p in perm)
    if len(parts) == 1:
        return Dyn(parts[0], out, perm)
    ref = t.emit("concat", parts, hint="stack", dim=dim)
    made(t, ref, spec_out)
    return Dyn(ref, out, perm)


def _spec_dim(x: Dyn, dim: int) -> int:
    """The spec tensor's dim behind the traced dim ``dim`` (through a pending permutation)."""
    dim %= len(x.shape)
    return x.perm[dim] if x.perm else dim


def _drop(perm: tuple[int, ...] | None, dim: int) -> tuple[int, ...] | None:
    """The pending permutation after removing traced dim ``dim``."""
    if perm is None:
        return None
    removed = perm[dim]
    rest = tuple(p - (p > removed) for i, p in enumerate(perm) if i != dim)
    return None if rest == tuple(range(len(rest))) else rest


def _select(t: Tracer, x: Dyn, dim: int, index: int) -> Dyn:
    sdim = _spec_dim(x, dim)
    if sdim == 0:
        raise Unsupported("indexing the batch dim")
    dim %= len(x.shape)
    size = x.shape[dim]
    index %= size
    ref = t.emit("select", [x.ref], dim=sdim, index=index)
    shape = x.shape[:dim] + x.shape[dim + 1:]
    if x.perm is None:
        t.nodes[int(ref[1:])].traced[0] = shape
    return Dyn(ref, shape, _drop(x.perm, dim), x.outer)


@handles("select")
def select(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    if not isinstance(a["self"], Dyn):
        raise Unsupported()
    return _select(t, a["self"], int(a["dim"]), int(a["index"]))


@handles("unbind")
def unbind(t: Tracer, node: Any, args: Any, kwargs: Any) -> tuple[Dyn, ...]:
    a = bind(node, args, kwargs)
    x = a["self"]
    if not isinstance(x, Dyn):
        raise Unsupported()
    dim = int(a["dim"]) % len(x.shape)
    return tuple(_select(t, x, dim, i) for i in range(x.shape[dim]))


@handles("slice")
def slice_(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn | Static:
    a = bind(node, args, kwargs)
    x = a["self"]
    if not isinstance(x, Dyn):
        raise Unsupported()
    dim = int(a["dim"]) % len(x.shape)
    size = x.shape[dim]
    start, end, step = a["start"] or 0, a["end"], a["step"] or 1
    start, end, _ = slice(start, end, step).indices(size)
    out = tuple(int(d) for d in node.meta["val"].shape)
    if out == x.shape:
        return x
    if numel(out) == 0:  # an empty slice (no prefix tokens): no data; a concat drops it
        return Static(out)
    x = t.plain(x)
    if dim == 0:
        raise Unsupported("slicing the batch dim")
    attrs: dict[str, Any] = {"dim": dim, "start": start, "end": end}
    if step != 1:
        attrs["step"] = step
    return single(t, "slice", x, **attrs)


@handles("index", "index_select")
def index(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    """``x[:, :, idx]`` (``aten.index`` with one fixed 1-D index, CSATv2's zigzag order) or ``index_select``
    along a non-batch dim: ``index_select`` with the index's length."""
    a = bind(node, args, kwargs)
    x = a["self"]
    if canonical(node.target) == "aten.index_select":
        dim, idx = a["dim"], a["index"]
    else:
        given = [(d, i) for d, i in enumerate(a["indices"]) if i is not None]
        dim, idx = given[0] if len(given) == 1 else (None, None)
    if not isinstance(x, Dyn) or not isinstance(idx, Static) or len(idx.shape) != 1 or idx.params:
        raise Unsupported("indexing by more than one index, or by one that depends on the input")
    x = t.plain(x)
    dim = int(dim) % len(x.shape)
    if dim == 0:
        raise Unsupported("indexing the batch dim")
    return single(t, "index_select", x, hint="index", dim=dim, size=idx.shape[0])


@handles("split", "split_with_sizes", "chunk", "tensor_split", "unsafe_split", "split_copy")
def split(t: Tracer, node: Any, args: Any, kwargs: Any) -> tuple[Dyn, ...]:
    a = bind(node, args, kwargs)
    x = dyn(t, a["self"])
    dim = int(a.get("dim", 0)) % len(x.shape)
    if dim == 0:
        raise Unsupported("splitting the batch dim")
    outs = node.meta["val"]
    sizes = [int(v.shape[dim]) for v in outs]
    if len(outs) == 1:
        return (x,)
    ref = t.emit("split", [x], n_outputs=len(sizes), sizes=sizes, dim=dim)
    return tuple(t.out(ref, k) for k in range(len(sizes)))


@handles("cat", "concat", "concatenate")
def cat(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    tensors = [v for v in a["tensors"] if not (isinstance(v, Static) and numel(v.shape) == 0)]
    first = next(v for v in tensors if isinstance(v, Dyn))
    rank = len(first.shape)
    dim = int(a["dim"]) % rank
    if dim == 0:
        raise Unsupported("concatenating along the batch dim")
    dyns = [t.plain(v) if isinstance(v, Dyn) else v for v in tensors]
    if len(dyns) == 1:
        return dyns[0]
    statics = [v for v in dyns if isinstance(v, Static)]
    if (rank == 3 and dim == 1 and len(dyns) == 2 and isinstance(dyns[0], Static) and isinstance(dyns[1], Dyn)
            and len(statics[0].params) == 1 and t.claimable(statics[0]) == statics[0].shape[1] * first.shape[2]):
        t.claim(statics)
        return single(t, "class_token", dyns[1], hint="cls_token",
                      **({"tokens": statics[0].shape[1]} if statics[0].shape[1] != 1 else {}))
    refs = [v.ref if isinstance(v, Dyn) else t.static_input(v, first) for v in dyns]
    return t.out(t.emit("concat", refs, hint="cat", dim=dim))


@handles("pad", "constant_pad_nd", "reflection_pad2d", "replication_pad2d")
def pad(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    name = canonical(node.target)
    mode = a.get("mode") or ("reflect" if "reflection" in name else "replicate" if "replication" in name
                             else "constant")
    pads = [int(p) for p in (a.get("pad") or a.get("padding") or [])]
    value = a.get("value") or 0.0
    if mode not in ("constant", "reflect", "replicate"):
        raise Unsupported(f"pad mode {mode}")
    attrs: dict[str, Any] = {"pads": pads}
    if mode != "constant":
        attrs["mode"] = mode
    if value and math.isfinite(float(value)):  # max pooling's -inf padding: not a spec number; no count needs it
        attrs["value"] = float(value)
    return single(t, "pad", dyn(t, a["self"] if "self" in a else a["input"]), **attrs)


@handles("upsample_nearest2d", "upsample_bilinear2d", "_upsample_nearest_exact2d", "upsample_bicubic2d")
def upsample(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    out = tuple(int(d) for d in node.meta["val"].shape)
    name = canonical(node.target)
    mode = "bilinear" if "bilinear" in name else "bicubic" if "bicubic" in name else "nearest"
    attrs: dict[str, Any] = {"size": list(out[2:]), "mode": mode}
    if mode != "nearest" and a.get("align_corners"):
        attrs["align_corners"] = True
    return single(t, "upsample", dyn(t, a["input"] if "input" in a else a["self"]), **attrs)


@handles("roll")
def roll(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    x = dyn(t, a["self"])
    dims = [int(d) % len(x.shape) for d in a["dims"]]
    if not dims or 0 in dims:
        raise Unsupported("roll over the batch dim (or a flattened roll)")
    return single(t, "roll", x, shifts=[int(s) for s in a["shifts"]], dims=dims)


@handles("channel_shuffle", "native_channel_shuffle")
def channel_shuffle(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    return single(t, "channel_shuffle", dyn(t, a["self"]), groups=int(a["groups"]))


# ---- matmul and attention ---------------------------------------------------------------------------------


@handles("matmul", "bmm", "mm")
def matmul(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    x, y = args[0], args[1]
    if isinstance(x, Dyn) and isinstance(y, Dyn) and any(d.perm is not None and d.perm[0] != 0 for d in (x, y)):
        return _attention_across_batch(t, node, x, y)  # the batch moved: only CSATv2's [B, N] @ [N, B] maps
    if isinstance(x, Dyn) and isinstance(y, Dyn):
        return t.out(t.emit("matmul", [t.plain(x), t.plain(y)]))
    d = t.plain(x if isinstance(x, Dyn) else y)
    s = y if isinstance(x, Dyn) else x
    if not isinstance(s, Static):
        raise Unsupported()
    const = t.static_input(s, d)
    return t.out(t.emit("matmul", [d.ref, const] if isinstance(x, Dyn) else [const, d.ref]))


def _only_user(node: Any, name: str) -> Any:
    users = list(node.users)
    if len(users) != 1 or canonical(users[0].target) != name:
        raise Unsupported("the batch dimension is moved away from dim 0")
    return users[0]


def _attention_across_batch(t: Tracer, node: Any, q: Dyn, kt: Dyn) -> Dyn:
    """``(q @ k.transpose(-1, -2)).softmax(-1) @ v`` on ``[B, N]`` tensors (CSATv2's spatial attention, one
    scalar per token): the scores are ``[B, B]``, across the samples of the batch (each image's output depends
    on the others; at batch 1, timm's published figures, it is one score per image). Counted per sample, as at
    batch 1: ``[1, N] @ [N, 1]``, a softmax over that one score, ``[1, 1] @ [1, N]``; the softmax and the second
    matmul are mapped here, ahead of the walk, and a note says so."""
    softmax = _only_user(node, "aten.softmax")
    second = _only_user(softmax, "aten.matmul")
    v = t.values.get(second.args[1]) if second.args[0] is softmax else None
    if not isinstance(v, Dyn) or v.perm is not None or q.perm is not None or kt.perm != (1, 0) or \
            len(q.shape) != 2 or q.shape != (kt.shape[1], kt.shape[0]) or v.shape != q.shape:
        raise Unsupported("the batch dimension is moved away from dim 0")
    batch, n = q.shape
    row = made(t, t.emit("reshape", [q], hint="q", shape=[1, n]), (batch, 1, n))
    col = made(t, t.emit("reshape", [kt.ref], hint="k", shape=[n, 1]), (batch, n, 1))
    score = made(t, t.emit("matmul", [row, col]), (batch, 1, 1))
    weight = made(t, t.emit("softmax", [score], dim=-1), (batch, 1, 1))
    values = made(t, t.emit("reshape", [v], hint="v", shape=[1, n]), (batch, 1, n))
    out = made(t, t.emit("matmul", [weight, values], hint="matmul_1"), (batch, 1, n))
    t.done[softmax] = weight
    t.done[second] = made(t, t.emit("reshape", [out], shape=[n]), (batch, n))
    note = ("q [B, N] @ k^T [N, B] (CSATv2's spatial attention) attends across the samples of a batch; counted "
            "per sample, as at batch 1")
    if note not in t.notes:
        t.notes.append(note)
    return score


@handles("scaled_dot_product_attention")
def sdpa(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    q, k, v = (dyn(t, a[n]) for n in ("query", "key", "value"))
    mask = a.get("attn_mask")
    if len(q.shape) == 3 == len(k.shape) == len(v.shape):  # [N, L, d] (SAM's heads folded into the batch): one head
        q, k, v = (_reshaped(t, y, (y.shape[0], 1, *y.shape[1:])) for y in (q, k, v))
        if isinstance(mask, Dyn) and len(mask.shape) == 3:
            mask = _reshaped(t, mask, (mask.shape[0], 1, *mask.shape[1:]))
    if len(q.shape) < 4 or len(k.shape) != len(q.shape):
        raise Unsupported("attention over fewer than 3 dims")
    if q.shape[1:-3] != k.shape[1:-3] or q.shape[-3] % k.shape[-3]:
        raise Unsupported("k's heads do not divide q's")
    if isinstance(mask, Static) and len(mask.shape) < len(q.shape):  # broadcast over the leading dims
        mask = Static((1,) * (len(q.shape) - len(mask.shape)) + tuple(mask.shape), mask.params)
    out = tuple(int(d) for d in node.meta["val"].shape)
    if len(q.shape) > 4:  # [N, a, b, ..., L, d]: the leading head dims flattened into one (a view)
        if isinstance(mask, Dyn | Static):
            raise Unsupported("attention over more than 4 dims with a mask")
        q, k, v = (_reshaped(t, y, (y.shape[0], numel(y.shape[1:-2]), *y.shape[-2:])) for y in (q, k, v))
    refs: list[Any] = [q, k, v]
    if isinstance(mask, Dyn):
        refs.append(t.plain(mask))
    elif isinstance(mask, Static):
        refs.append(t.static_input(mask, q))
    attrs: dict[str, Any] = {"causal": True} if a.get("is_causal") else {}
    ref = t.emit("scaled_dot_product_attention", refs, hint="sdpa", **attrs)
    if len(out) == 4:
        return t.out(ref)
    return _reshaped(t, Dyn(ref, (out[0], numel(out[1:-2]), *out[-2:])), out)



# ---- more reductions, pooling, sliding windows, einsum, recurrent layers ----------------------------------


def _traced_dims(x: Dyn, dims: Any) -> list[int]:
    """Reduction dims (an int, a list, or None: every dim) normalised against ``x``'s traced rank."""
    if dims is None or (isinstance(dims, list | tuple) and not dims):
        return list(range(len(x.shape)))
    return sorted({int(d) % len(x.shape) for d in ([dims] if isinstance(dims, int) else dims)})


def _reduce(t: Tracer, node: Any, x: Dyn, dims: Any, keepdim: bool, op: str, hint: str, out: Any = None,
            **attrs: Any) -> Dyn:
    """A reduction over traced ``dims`` of ``x``, through a pending permutation (CrossViT's mean over the
    stacked branches: the batch sits at traced dim 1, the stack at spec dim 1)."""
    traced = _traced_dims(x, dims)
    spec = sorted(_spec_dim(x, d) for d in traced)
    if 0 in spec:
        raise Unsupported(f"{hint} over the batch dim")
    perm = x.perm
    if not keepdim:
        for d in sorted(traced, reverse=True):
            perm = _drop(perm, d)
    ref = t.emit(op, [x.ref], hint=hint, dims=spec, **flag(keepdim, keepdim=True), **attrs)
    out = tuple(int(d) for d in (node.meta["val"] if out is None else out).shape)
    if perm is None:
        return Dyn(made(t, ref, out).ref, out, None, x.outer)
    return Dyn(ref, out, perm, x.outer)


@handles("mean", "sum", "amax")
def reduction(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    x = a["self"]
    if not isinstance(x, Dyn):
        raise Unsupported()
    name = canonical(node.target).removeprefix("aten.")
    if a.get("dim") is None or a.get("dim") == []:
        raise Unsupported(f"{name} over every dim (the batch included)")
    op = {"mean": "reduce_mean", "sum": "reduce_sum", "amax": "reduce_max"}[name]
    return _reduce(t, node, x, a["dim"], bool(a.get("keepdim")), op, name)


@handles("linalg_vector_norm", "norm")
def vector_norm(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    x = a.get("self", a.get("input"))
    if not isinstance(x, Dyn):
        raise Unsupported()
    ord_ = a.get("ord", a.get("p", 2))
    ord_ = 2.0 if ord_ is None else float(ord_)
    if ord_ <= 0 or ord_ == float("inf"):
        raise Unsupported(f"norm of order {ord_}")
    return _reduce(t, node, x, a.get("dim"), bool(a.get("keepdim")), "reduce_norm", "norm",
                   **flag(ord_ != 2, ord=ord_))


@handles("var", "var_mean")
def variance(t: Tracer, node: Any, args: Any, kwargs: Any) -> Any:
    a = bind(node, args, kwargs)
    x = a["self"]
    if not isinstance(x, Dyn):
        raise Unsupported()
    correction = a.get("correction")
    if correction is None:
        correction = 1 if a.get("unbiased", True) else 0
    keepdim = bool(a.get("keepdim"))
    if canonical(node.target) == "aten.var":
        return _reduce(t, node, x, a.get("dim"), keepdim, "reduce_var", "var",
                       **flag(int(correction) != 1, correction=int(correction)))
    raise Unsupported("var_mean")


@handles("max", "min")
def max_dim(t: Tracer, node: Any, args: Any, kwargs: Any) -> Any:
    """``x.max(dim)`` -> (values, indices): a reduce_max; the indices may not be read."""
    x = args[0]
    if not isinstance(x, Dyn) or len(args) < 2 or not isinstance(args[1], int):
        raise Unsupported("max/min of a whole tensor or of two tensors")
    if canonical(node.target) == "aten.min":
        raise Unsupported("min over a dim")
    if any(user.args[1] != 0 and user.users for user in node.users):
        raise Unsupported("the indices of max are read")
    keepdim = bool(args[2]) if len(args) > 2 else bool(kwargs.get("keepdim"))
    val = node.meta["val"]
    values = _reduce(t, node, x, args[1], keepdim, "reduce_max", "max", out=val[0])
    return (values, Static(tuple(int(d) for d in val[1].shape)))


@handles("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
def conv_transpose(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    return _conv(t, a["input"], a["weight"], a["bias"], a["stride"], a["padding"], a["dilation"], a["groups"],
                 True, a["output_padding"])


def _window_attrs(a: dict[str, Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = {"kernel": _short(_ints(a["kernel_size"], 2))}
    for key, default in (("stride", 1), ("padding", 0), ("dilation", 1)):
        value = _short(_ints(a[key], 2))
        if value != default:
            attrs[key] = value
    return attrs


@handles("im2col")
def im2col(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    return single(t, "im2col", dyn(t, a["self"]), **_window_attrs(a))


@handles("col2im")
def col2im(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    return single(t, "col2im", dyn(t, a["self"]), output_size=_short(_ints(a["output_size"], 2)),
                  **_window_attrs(a))


@handles("unfold")
def sliding_window(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    x = dyn(t, a["self"])
    dim = int(a["dimension"]) % len(x.shape)
    if dim == 0:
        raise Unsupported("windows along the batch dim")
    return single(t, "sliding_window", x, hint="unfold", dim=dim, size=int(a["size"]), step=int(a["step"]))


@handles("repeat_interleave")
def repeat_interleave(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    x, repeats, dim = a["self"], a.get("repeats"), a.get("dim")
    if not isinstance(x, Dyn) or not isinstance(repeats, int) or dim is None:
        raise Unsupported("repeat_interleave with tensor repeats or over the flattened tensor")
    if int(dim) % len(x.shape) != 0:
        raise Unsupported("repeat_interleave along a feature dim")
    return single(t, "batch_repeat", dyn(t, x), hint="repeat", repeats=int(repeats))


def _implicit(equation: str) -> str:
    """An einsum equation with its output written out (implicit form: the letters used once, sorted)."""
    if "->" in equation:
        return equation
    letters = equation.replace(",", "")
    return f"{equation}->{''.join(sorted(c for c in set(letters) if letters.count(c) == 1))}"


@handles("einsum")
def einsum(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    equation = _implicit(str(a["equation"]).replace(" ", ""))
    lhs, _, out = equation.partition("->")
    terms = lhs.split(",")
    operands = list(a["tensors"])
    if "." in equation or len(terms) != len(operands) or len(operands) > 2:
        raise Unsupported("einsum with '...' or more than two operands")
    first = next((v for v in operands if isinstance(v, Dyn)), None)
    if first is None:
        raise Unsupported()
    refs, spec_terms = [], []
    for term, v in zip(terms, operands, strict=True):
        if isinstance(v, Dyn):
            if v.perm is not None:  # read the spec tensor as is: its letters in spec order
                order = [""] * len(term)
                for i, letter in enumerate(term):
                    order[v.perm[i]] = letter
                term = "".join(order)
            refs.append(v.ref)
        elif isinstance(v, Static):
            refs.append(t.static_input(v, t.plain(first)))
        else:
            raise Unsupported()
        spec_terms.append(term)
    batch = next(term[0] for term, v in zip(spec_terms, operands, strict=True) if isinstance(v, Dyn))
    if not out.startswith(batch) or any(batch in term for term, v in zip(spec_terms, operands, strict=True)
                                         if isinstance(v, Static)):
        raise Unsupported("einsum that moves or reduces the batch dim")
    return t.out(t.emit("einsum", refs, terms=spec_terms, result=out))


@handles("lstm")
def lstm(t: Tracer, node: Any, args: Any, kwargs: Any) -> Any:
    a = bind(node, args, kwargs)
    x = a.get("input")
    if not isinstance(x, Dyn) or a.get("params") is None:
        raise Unsupported("lstm on packed sequences")
    if not a["batch_first"]:
        raise Unsupported("lstm with batch_first=False (the batch at dim 1)")
    if any(user.args[1] != 0 and user.users for user in node.users):
        raise Unsupported("the final hidden or cell state of the lstm is read")
    params = [p for p in a["params"] if isinstance(p, Static)]
    hidden = params[1].shape[1]
    if params[0].shape[0] != 4 * hidden:
        raise Unsupported("lstm with proj_size")
    val = node.meta["val"]
    ref = t.emit("lstm", [dyn(t, x)], hidden=hidden, **flag(int(a["num_layers"]) != 1, layers=int(a["num_layers"])),
                 **flag(bool(a["bidirectional"]), bidirectional=True), **flag(not a["has_biases"], bias=False))
    settle(t, sum(numel(p.shape) for p in params), params)
    return (_first_of(t, ref, val), *(Static(tuple(int(d) for d in v.shape)) for v in val[1:]))


_FULL_VIEWS = {"aten.slice", "aten.alias"}


@handles("copy_")
def copy_(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    """``dst.copy_(src)`` where ``dst`` is the whole of a tensor (MViTv2's ``attn[:, :, 0:, 0:] = ...`` without
    a class token): from here on, that tensor (and every full view of it) is ``src``. A copy into part of a
    tensor is not supported."""
    src = args[1]
    if not isinstance(src, Dyn) or not isinstance(args[0], Dyn) or args[0].shape != src.shape:
        raise Unsupported("copy into part of a tensor, or of a value that does not depend on the input")
    chain, target = [], node.args[0]
    while True:
        chain.append(target)
        if canonical(getattr(target, "target", None)) not in _FULL_VIEWS:
            break
        parent = target.args[0]
        if tuple(parent.meta["val"].shape) != tuple(target.meta["val"].shape):
            raise Unsupported("copy into a slice of a tensor")
        target = parent
    for fx_node in chain:
        t.values[fx_node] = src
    return src
