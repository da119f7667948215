"""ATen op -> registry op: one handler per ATen op (overload packet), used by :mod:`costmodel.bridges.torch_import`
(through the walk of :mod:`costmodel.bridges.torch_trace`).

A handler receives the tracer, the FX node and its arguments (FX nodes replaced by ``Dyn`` / ``Static`` values)
and returns the node's value, emitting spec nodes on the way. It raises ``Unsupported`` for a form it cannot map
(the op is then listed, or made opaque with --allow-opaque). Ops that are the identity at inference (dropout,
detach, dtype casts) emit nothing. docs/torch-import.md lists the mapping.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

from ..ops.base import numel
from .common import Unsupported
from .torch_trace import Dyn, Static, Tracer

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
    return Dyn(ref, shape)


def single(t: Tracer, op: str, x: Dyn, **attrs: Any) -> Dyn:
    return t.out(t.emit(op, [x], **attrs))


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
    ref = t.emit(op, [x], hint="conv" if not transposed else "deconv", **attrs)
    own = numel(w.shape) + (out_ch if b is not None else 0)
    settle(t, own, [w, b])
    return t.out(ref)


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
    x, w, b = dyn(t, a["input"]), a["weight"], a["bias"]
    if not isinstance(w, Static) or (b is not None and not isinstance(b, Static)):
        raise Unsupported("the weight depends on the input")
    if isinstance(b, Static) and (t.claimable(b) != numel(b.shape) or len(b.params) != 1):
        # a bias assembled from parameters and constants (EVA's cat(q_bias, zeros, v_bias)): the linear without
        # bias, then the bias added as a static tensor holding the parameters behind it
        ref = t.emit("linear", [x], hint="linear", out=w.shape[0], bias=False)
        settle(t, numel(w.shape), [w])
        out = tuple(int(d) for d in node.meta["val"].shape)
        y = made(t, ref, out)
        bias = t.static_input(b, y)
        return t.out(t.emit("add", [y.ref, bias], hint="bias", broadcast=True))
    ref = t.emit("linear", [x], hint="linear", out=w.shape[0], bias=b is not None)
    settle(t, numel(w.shape) + (w.shape[0] if b is not None else 0), [w, b])
    return t.out(ref)


@handles("layer_norm")
def layer_norm(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    x, w, b = dyn(t, a["input"]), a["weight"], a["bias"]
    if list(a["normalized_shape"]) != [x.shape[-1]]:
        raise Unsupported(f"normalized over {list(a['normalized_shape'])}, not the last axis only")
    attrs: dict[str, Any] = {} if w is not None else {"affine": False}
    if w is not None and b is None:
        attrs["bias"] = False
    ref = t.emit("layer_norm", [x], **attrs)
    settle(t, (x.shape[-1] if w is not None else 0) + (x.shape[-1] if b is not None else 0), [w, b])
    return t.out(ref)


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
    return Dyn(ref, shape)


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
    return single(t, _UNARY[name], dyn(t, args[0]), **attrs)


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
    if isinstance(lo, Static | Dyn) or isinstance(hi, Static | Dyn):
        raise Unsupported("clamp to tensor bounds")
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
    out_shape = tuple(int(d) for d in node.meta["val"].shape)
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


@handles("max_pool2d", "max_pool2d_with_indices")
def max_pool2d(t: Tracer, node: Any, args: Any, kwargs: Any) -> Any:
    a = bind(node, args, kwargs)
    kernel = _ints(a["kernel_size"], 2)
    stride = _ints(a["stride"], 2) if a["stride"] else kernel
    attrs: dict[str, Any] = {"kernel": _short(kernel), "stride": _short(stride)}
    if any(_ints(a["padding"], 2)):
        attrs["padding"] = _short(_ints(a["padding"], 2))
    if any(d != 1 for d in _ints(a["dilation"], 2)):
        attrs["dilation"] = _short(_ints(a["dilation"], 2))
    if a["ceil_mode"]:
        attrs["ceil_mode"] = True
    ref = t.emit("max_pool2d", [dyn(t, a["self"])], hint="pool", **attrs)
    if isinstance(node.meta["val"], list | tuple):
        return (_first_of(t, ref, node.meta["val"]), Static(tuple(int(d) for d in node.meta["val"][1].shape)))
    return t.out(ref)


@handles("avg_pool2d")
def avg_pool2d(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    if a["divisor_override"] is not None:
        raise Unsupported("avg_pool2d with divisor_override")
    kernel = _ints(a["kernel_size"], 2)
    stride = _ints(a["stride"], 2) if a["stride"] else kernel
    attrs: dict[str, Any] = {"kernel": _short(kernel), "stride": _short(stride)}
    if any(_ints(a["padding"], 2)):
        attrs["padding"] = _short(_ints(a["padding"], 2))
    if a["ceil_mode"]:
        attrs["ceil_mode"] = True
    if not a["count_include_pad"]:
        attrs["count_include_pad"] = False
    return single(t, "avg_pool2d", dyn(t, a["self"]), hint="pool", **attrs)


@handles("adaptive_avg_pool2d", "adaptive_max_pool2d", "_adaptive_avg_pool2d")
def adaptive_pool2d(t: Tracer, node: Any, args: Any, kwargs: Any) -> Any:
    a = bind(node, args, kwargs)
    op = "adaptive_max_pool2d" if "max" in canonical(node.target) else "adaptive_avg_pool2d"
    ref = t.emit(op, [dyn(t, a["self"])], hint="pool", output_size=_short(_ints(a["output_size"], 2)))
    if isinstance(node.meta["val"], list | tuple):
        return (_first_of(t, ref, node.meta["val"]), Static(tuple(int(d) for d in node.meta["val"][1].shape)))
    return t.out(ref)


@handles("mean", "sum", "amax")
def reduction(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    x = dyn(t, a["self"])
    name = canonical(node.target).removeprefix("aten.")
    dims = a.get("dim")
    if not dims:
        raise Unsupported(f"{name} over every dim (the batch included)")
    dims = sorted({int(d) % len(x.shape) for d in ([dims] if isinstance(dims, int) else dims)})
    if 0 in dims:
        raise Unsupported(f"{name} over the batch dim")
    op = {"mean": "reduce_mean", "sum": "reduce_sum", "amax": "reduce_max"}[name]
    return single(t, op, x, hint=name, dims=dims, **flag(bool(a.get("keepdim")), keepdim=True))


# ---- shapes -----------------------------------------------------------------------------------------------


def _reshaped(t: Tracer, x: Dyn, out: tuple[int, ...]) -> Dyn:
    """A view of ``x`` as ``out``: reshape when the batch dim stays, batch_reshape when it grows or shrinks."""
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


@handles("view", "reshape", "_unsafe_view", "squeeze", "unsqueeze", "unflatten", "view_as", "reshape_as",
         "squeeze_", "unsqueeze_")
def view(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    return _reshaped(t, dyn(t, args[0]), tuple(int(d) for d in node.meta["val"].shape))


@handles("flatten")
def flatten(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    x = dyn(t, a["self"])
    out = tuple(int(d) for d in node.meta["val"].shape)
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
        return Dyn(x.ref, out)
    if perm[0] != 0:
        return Dyn(x.ref, out, perm)
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
    return Dyn(ref, x.shape, x.perm)


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
    if dim == 0:
        raise Unsupported("stacking along the batch dim")
    parts = []
    for v in tensors:
        shape = (*v.shape[:dim], 1, *v.shape[dim:])
        if isinstance(v, Dyn):
            parts.append(t.ref(_reshaped(t, v, shape)))
        else:
            parts.append(t.static_input(Static(shape, v.params), first))
    if len(parts) == 1:
        return Dyn(parts[0], tuple(int(d) for d in node.meta["val"].shape))
    return t.out(t.emit("concat", parts, hint="stack", dim=dim))


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
    return Dyn(ref, shape, _drop(x.perm, dim))


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
def slice_(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
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
    x = t.plain(x)
    if dim == 0:
        raise Unsupported("slicing the batch dim")
    attrs: dict[str, Any] = {"dim": dim, "start": start, "end": end}
    if step != 1:
        attrs["step"] = step
    return single(t, "slice", x, **attrs)


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
    if value:
        attrs["value"] = float(value)
    return single(t, "pad", dyn(t, a["self"] if "self" in a else a["input"]), **attrs)


@handles("upsample_nearest2d", "upsample_bilinear2d", "_upsample_nearest_exact2d")
def upsample(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    out = tuple(int(d) for d in node.meta["val"].shape)
    mode = "bilinear" if "bilinear" in canonical(node.target) else "nearest"
    attrs: dict[str, Any] = {"size": list(out[2:]), "mode": mode}
    if mode == "bilinear" and a.get("align_corners"):
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
    if isinstance(x, Dyn) and isinstance(y, Dyn):
        return t.out(t.emit("matmul", [t.plain(x), t.plain(y)]))
    d = t.plain(x if isinstance(x, Dyn) else y)
    s = y if isinstance(x, Dyn) else x
    if not isinstance(s, Static):
        raise Unsupported()
    const = t.static_input(s, d)
    return t.out(t.emit("matmul", [d.ref, const] if isinstance(x, Dyn) else [const, d.ref]))


@handles("scaled_dot_product_attention")
def sdpa(t: Tracer, node: Any, args: Any, kwargs: Any) -> Dyn:
    a = bind(node, args, kwargs)
    q, k, v = (dyn(t, a[n]) for n in ("query", "key", "value"))
    if a.get("enable_gqa"):
        raise Unsupported("grouped-query attention")
    if q.shape[1:-2] != k.shape[1:-2] or len(q.shape) < 4:
        raise Unsupported("q and k differ in heads")
    mask = a.get("attn_mask")
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

