"""The tracer's values and walk for :mod:`costmodel.bridges.torch_import`: dynamic (``Dyn``) and static (``Static``)
values, the emitted nodes, and the ``Tracer`` that walks an exported graph, calling the ATen handlers of
:mod:`costmodel.bridges.torch_aten` (passed in, so that neither module imports the other's importer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .common import Unsupported
from .torch import BridgeError, require_torch

if TYPE_CHECKING:  # pragma: no cover - typing only
    pass

TRACE_BATCH = 2  # traced batch: 2, so that dim 0 (the batch) differs from the many size-1 dims


@dataclass(frozen=True)
class Dyn:
    """A tensor that depends on an input: spec reference ``ref`` (``name`` or ``name:k``), traced ``shape``.

    ``perm`` is a pending permutation: the traced tensor is the spec tensor permuted by ``perm`` (set when a
    permute moved the batch dim away from dim 0; resolved by a later select/unbind or another permute).
    ``outer`` > 1: the traced axis that holds the batch (``perm.index(0)``, else 0) has the batch as an inner
    factor, ``outer`` rows above it (``nn.MultiheadAttention``'s ``[L, N, E] -> [L*N, E]``); the spec tensor's
    dim 0 holds the same elements batch-major (views cost nothing: the counts do not depend on the order).
    """

    ref: str
    shape: tuple[int, ...]
    perm: tuple[int, ...] | None = None
    outer: int = 1


@dataclass(frozen=True)
class Static:
    """A tensor computed from parameters and buffers only; ``params`` names the parameters behind it."""

    shape: tuple[int, ...]
    params: frozenset[str] = frozenset()


@dataclass
class Emitted:
    """One spec node before naming: op, attributes, input refs, module path and a local name hint."""

    op: str
    attrs: dict[str, Any]
    inputs: list[str]
    module: str
    hint: str
    n_outputs: int = 1
    name: str = ""
    source: str = ""  # the aten op, for opaque nodes and messages
    traced: dict[int, tuple[int, ...]] = field(default_factory=dict)  # output k -> shape in the trace




class Tracer:
    """Walks the exported FX graph, turning nodes into values and emitting spec nodes."""

    def __init__(self, exported: Any, params: Mapping[str, int], allow_opaque: bool) -> None:
        self.exported = exported
        self.param_numel = dict(params)  # parameter name -> numel (FX placeholder names)
        self.allow_opaque = allow_opaque
        self.values: dict[Any, Any] = {}
        self.nodes: list[Emitted] = []
        self.module = ""
        self.current: Any = None
        self.attributed: set[str] = set()
        self.unsupported: dict[str, list[tuple[str, str]]] = {}
        self.notes: list[str] = []
        self.carried: tuple[int, int] | None = None  # (traced dim 0, outer) of the current node's input
        self.done: dict[Any, Any] = {}  # FX node -> its value, mapped ahead by a handler that took it in

    # -- emission -----------------------------------------------------------------------------------------
    def emit(self, op: str, inputs: Sequence[Dyn | str], hint: str | None = None, n_outputs: int = 1,
             **attrs: Any) -> str:
        """Add a spec node reading ``inputs``; returns its reference (index-based until names are assigned)."""
        refs = [self.ref(v) if isinstance(v, Dyn) else v for v in inputs]
        node = Emitted(op, attrs, refs, self.module, hint or op, n_outputs, source=str(self.current.target))
        self.nodes.append(node)
        return f"#{len(self.nodes) - 1}"

    def ref(self, value: Dyn) -> str:
        """The spec reference of a dynamic value, materialising a pending permutation first."""
        if value.perm is None:
            return value.ref
        if value.perm[0] != 0:
            raise Unsupported("the batch dimension is moved away from dim 0")
        ref = self.emit("permute", [value.ref], dims=list(value.perm))
        return ref

    def plain(self, value: Dyn) -> Dyn:
        """``value`` with any pending permutation materialised."""
        return value if value.perm is None else Dyn(self.ref(value), value.shape, outer=value.outer)

    def carry(self, shape: tuple[int, ...]) -> int:
        """The ``outer`` of a result of the current node with traced ``shape``: its input's, when the result
        keeps the input's dim 0 (an op along other dims), else 1 (views that move the batch set their own)."""
        if self.carried is not None and shape and shape[0] == self.carried[0]:
            return self.carried[1]
        return 1

    def out(self, ref: str, k: int | None = None) -> Dyn:
        """The value of the current node's output (``k``: of a multi-output node)."""
        val = self.current.meta["val"]
        shape = tuple(int(d) for d in (val[k] if k is not None else val).shape)
        if ref.startswith("#"):
            self.nodes[int(ref[1:].partition(":")[0])].traced[k or 0] = shape
        return Dyn(f"{ref}:{k}" if k is not None else ref, shape, outer=self.carry(shape))

    def claim(self, statics: Sequence[Static]) -> int:
        """Mark the parameters behind ``statics`` as counted; returns their numel not counted before."""
        fresh = {p for s in statics for p in s.params} - self.attributed
        self.attributed |= fresh
        return sum(self.param_numel[p] for p in fresh)

    def claimable(self, static: Static) -> int:
        """Numel of the parameters behind ``static`` not counted yet."""
        return sum(self.param_numel[p] for p in static.params - self.attributed)

    def static_input(self, static: Static, anchor: Dyn) -> str:
        """A ``param_tensor`` node for a static operand (its new parameters counted on it). A static tensor
        expanded to the traced batch (``cls_token.expand(B, -1, -1)``) is written with a leading 1: its reader
        broadcasts it to any batch."""
        shape = list(static.shape)
        if len(shape) == len(anchor.shape) and shape and shape[0] == anchor.shape[0] == TRACE_BATCH:
            shape[0] = 1
        return self.emit("param_tensor", [anchor], hint="param", shape=shape, params=self.claim([static]))

    # -- the walk -----------------------------------------------------------------------------------------
    def run(self, handlers: Mapping[str, Any], canonical: Any) -> list[Dyn]:
        """Walk the exported graph; ``handlers`` map canonical ATen names (``canonical(target)``) to handlers."""

        torch = require_torch()
        signature = self.exported.graph_signature
        kinds = {spec.arg.name: spec for spec in signature.input_specs}
        graph_inputs: list[Dyn] = []
        for node in self.exported.graph.nodes:
            self.current = node
            if node.op == "placeholder":
                spec = kinds[node.name]
                shape = tuple(int(d) for d in node.meta["val"].shape) if hasattr(node.meta.get("val"), "shape") \
                    else ()
                if spec.kind.name == "USER_INPUT":
                    value: Any = Dyn(f"input:{len(graph_inputs)}", shape)
                    graph_inputs.append(value)
                elif spec.kind.name == "PARAMETER":
                    value = Static(shape, frozenset({node.name}))
                else:
                    value = Static(shape)
                self.values[node] = value
            elif node.op == "get_attr":
                self.values[node] = _attr(self.exported.graph_module, node.target)
            elif node.op == "call_function":
                self.values[node] = self.call(node, handlers, canonical, torch)
            elif node.op == "output":
                outs = node.args[0]
                return [self.values[o] for o in (outs if isinstance(outs, list | tuple) else [outs])]
        raise BridgeError("the exported graph has no output node")

    def inline(self, node: Any, handlers: Mapping[str, Any], canonical: Any, torch: Any) -> Any:
        """A higher-order op that only wraps a subgraph in a context (``torch.autocast(enabled=False)``,
        ``torch.no_grad``): walk the subgraph in place, its results are the op's."""
        position = next(k for k, a in enumerate(node.args) if isinstance(self.values.get(a), torch.fx.GraphModule))
        sub = self.values[node.args[position]]
        operands = [self.resolve(a) for a in node.args[position + 1:]]
        placeholders = [n for n in sub.graph.nodes if n.op == "placeholder"]
        if len(placeholders) != len(operands):
            raise BridgeError(f"{node.name}: its subgraph takes {len(placeholders)} inputs, it passes {len(operands)}")
        for n, value in zip(placeholders, operands, strict=True):
            self.values[n] = value
        for n in sub.graph.nodes:
            self.current = n
            if n.op == "get_attr":
                self.values[n] = _attr(sub, n.target)
            elif n.op == "call_function":
                self.values[n] = self.call(n, handlers, canonical, torch)
            elif n.op == "output":
                outs = n.args[0]
                self.current = node
                return tuple(self.resolve(o) for o in (outs if isinstance(outs, list | tuple) else [outs]))
        raise BridgeError(f"{node.name}: its subgraph has no output node")

    def call(self, node: Any, handlers: Mapping[str, Any], canonical: Any, torch: Any) -> Any:
        if node in self.done:
            return self.done.pop(node)
        stack = node.meta.get("nn_module_stack") or {}
        self.module = list(stack.values())[-1][0] if stack else ""
        args = self.resolve(node.args)
        kwargs = {k: self.resolve(v) for k, v in node.kwargs.items()}
        name = canonical(node.target)
        if name in INLINED:
            return self.inline(node, handlers, canonical, torch)
        if name == "getitem":
            container, index = args
            return container[index]
        if not _any_dyn((args, kwargs)):
            return self.static_value(node, args, kwargs)
        inner = next((d for d in _dyns((args, kwargs)) if d.outer != 1 and (d.perm is None or d.perm[0] == 0)),
                     None)
        self.carried = (inner.shape[0], inner.outer) if inner is not None else None
        handler = handlers.get(name)
        if handler is None and node.meta.get("val") is None:  # no result: a runtime check (_assert_*), no work
            return None
        try:
            if handler is None:
                raise Unsupported()
            return handler(self, node, args, kwargs)
        except Unsupported as exc:
            return self.opaque(node, name, args, kwargs, exc.reason)

    def resolve(self, arg: Any) -> Any:
        from torch.fx import Node

        if isinstance(arg, Node):
            return self.values[arg]
        if isinstance(arg, list | tuple):
            return type(arg)(self.resolve(a) for a in arg)
        return arg

    def static_value(self, node: Any, args: Any, kwargs: Any) -> Any:
        params = frozenset(p for s in _statics((args, kwargs)) for p in s.params)
        val = node.meta.get("val")
        if isinstance(val, list | tuple):
            return tuple(Static(tuple(int(d) for d in v.shape), params) if hasattr(v, "shape") else v for v in val)
        if hasattr(val, "shape"):
            return Static(tuple(int(d) for d in val.shape), params)
        return val  # a Python number (a traced size)

    def opaque(self, node: Any, name: str, args: Any, kwargs: Any, reason: str) -> Any:
        first = self.module or node.name
        self.unsupported.setdefault(name, []).append((first, reason))
        # the spec tensors as they are: an opaque node needs only their batch (dim 0 even under a pending
        # permutation), and materialising a permutation that moved the batch would fail
        dyns = [d.ref for d in _dyns((args, kwargs))]
        val = node.meta.get("val")
        vals = list(val) if isinstance(val, list | tuple) else [val]
        shapes = [[int(d) for d in v.shape] for v in vals if hasattr(v, "shape")]
        ref = self.emit("opaque", dyns, hint=name.split(".")[-1], n_outputs=len(shapes), source=name.replace(".", "_"),
                        shapes=shapes, params=self.claim(_statics((args, kwargs))), batch=TRACE_BATCH)
        if isinstance(val, list | tuple):
            return tuple(self.out(ref, k) for k in range(len(shapes)))
        return self.out(ref)


INLINED = {"wrap_with_autocast", "wrap_with_set_grad_enabled"}  # higher-order ops whose subgraph runs as is


def _attr(module: Any, target: str) -> Any:
    """A ``get_attr`` target (``submod_3``, ``_tensor_constant0``): a subgraph, or a constant tensor as Static."""
    value = module
    for part in str(target).split("."):
        value = getattr(value, part)
    if hasattr(value, "shape") and not hasattr(value, "graph"):
        return Static(tuple(int(d) for d in value.shape))
    return value


def _walk(obj: Any) -> list[Any]:
    if isinstance(obj, list | tuple):
        return [x for o in obj for x in _walk(o)]
    if isinstance(obj, dict):
        return [x for o in obj.values() for x in _walk(o)]
    return [obj]


def _any_dyn(obj: Any) -> bool:
    return any(isinstance(x, Dyn) for x in _walk(obj))


def _dyns(obj: Any) -> list[Dyn]:
    return [x for x in _walk(obj) if isinstance(x, Dyn)]


def _statics(obj: Any) -> list[Static]:
    return [x for x in _walk(obj) if isinstance(x, Static)]


# ---- export -----------------------------------------------------------------------------------------------


