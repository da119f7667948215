"""Expand a spec into a DAG of op instances, inferring shapes in topological order.

Blocks and repeats are unrolled into layers with stable dotted paths (``stages.2.blocks.4.dwconv``).
Because a node may only name earlier nodes, expansion order is a topological order and each op's shapes
and costs are computed as the node is created; errors are raised with the node's path at that moment.
"""

from __future__ import annotations

import difflib
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, Protocol

from .. import limits
from ..errors import SpecError, shown
from ..ops import REGISTRY, Attrs, OpCost, OpDef, OpError, Shape, get_op
from ..ops.base import A
from ..spec.expressions import ExpressionError, Namespace, expression_names, key_hint, resolve
from ..spec.loader import validation_error
from ..spec.schema import BlockDef, NodeSpec, Spec
from ..vocab import Dtype

if TYPE_CHECKING:
    import networkx as nx


class TensorRef(NamedTuple):
    """Output ``index`` of the layer at ``node`` (or a graph input when ``node`` starts with 'input:').

    A named tuple: it keys the dicts of shapes and buffers that expansion and analysis look up thousands of
    times, and a tuple's hash and equality run in C."""

    node: str
    index: int = 0  # type: ignore[assignment]  # shadows tuple.index(), which no caller uses on a TensorRef




@dataclass(frozen=True, slots=True)
class Layer(Generic[A]):
    """One op instance of the expanded graph; ``attrs`` is the op's own attribute model (``Layer[ConvAttrs]``)."""

    path: str
    op: str
    attrs: A
    inputs: tuple[TensorRef, ...]
    input_shapes: tuple[Shape, ...]
    cost: OpCost
    dtype: Dtype | None = None  # the spec's per-node ``dtype:`` (its own, else its block call's); None: the model's


@dataclass
class Graph:
    """The expanded network: layers in topological order (their order is a topological order of the DAG)."""

    name: str
    spec: Spec
    batch: int
    dtype: Dtype
    inputs: dict[str, Shape]
    layers: list[Layer[Attrs]]
    outputs: list[TensorRef]
    source: str | None = None  # the spec as its caller named it (a path or zoo name, as typed), for with_batch's errors

    def shape(self, ref: TensorRef) -> Shape:
        """The shape of a tensor."""
        if ref.node.startswith("input:"):
            return self.inputs[ref.node[len("input:"):]]
        return self.by_path[ref.node].cost.outputs[ref.index]

    @cached_property
    def by_path(self) -> dict[str, Layer[Attrs]]:
        """Layers by path."""
        return {layer.path: layer for layer in self.layers}

    @cached_property
    def dag(self) -> nx.DiGraph:
        """The networkx DAG over graph inputs (``input:NAME``) and layer paths, built on first use."""
        import networkx as nx

        dag = nx.DiGraph()
        dag.add_nodes_from((f"input:{name}" for name in self.inputs), op="input")
        for layer in self.layers:
            dag.add_node(layer.path, op=layer.op)
            dag.add_edges_from((ref.node, layer.path) for ref in layer.inputs)
        return dag

    def with_batch(self, batch: int) -> Graph:
        """The same network at another batch size, without expanding the spec again: every layer's shapes and
        costs are recomputed in order from its (already validated) attributes. Equal to building at ``batch``
        (the expansion does not depend on the batch size), limits included: a tensor over
        ``limits.TENSOR_ELEMENTS`` is a :class:`SpecError` naming :attr:`source` (a batch of the CLI's --sweep-batch,
        the report's or the throughput plot's is named with the spec as the user named it)."""
        if batch == self.batch:
            return self
        inputs = {name: (batch, *shape[1:]) for name, shape in self.inputs.items()}
        shapes: dict[TensorRef, Shape] = {TensorRef(f"input:{name}"): shape for name, shape in inputs.items()}
        layers: list[Layer[Attrs]] = []
        costs = CostCache()
        limit = limits.TENSOR_ELEMENTS.value  # as building at ``batch`` checks it (a batch sweep took 10**30)
        for name, shape in inputs.items():
            if math.prod(shape) > limit:
                raise SpecError(f"batch {batch}: input of shape {shown(list(shape))}: "
                                f"{limits.TENSOR_ELEMENTS.exceeded(math.prod(shape))}", file=self.source,
                                path="inputs", field=name)
        for layer in self.layers:
            input_shapes = tuple(shapes[ref] for ref in layer.inputs)
            cost = costs.cost(get_op(layer.op), input_shapes, layer.attrs)
            for out in cost.outputs:
                if math.prod(out) > limit:
                    raise SpecError(f"batch {batch}: op {layer.op!r} output {shown(list(out))}: "
                                    f"{limits.TENSOR_ELEMENTS.exceeded(math.prod(out))}", file=self.source,
                                    path=layer.path)
            layers.append(Layer(layer.path, layer.op, layer.attrs, layer.inputs, input_shapes, cost, layer.dtype))
            shapes.update((TensorRef(layer.path, k), out) for k, out in enumerate(cost.outputs))
        return Graph(self.name, self.spec, batch, self.dtype, inputs, layers, list(self.outputs), self.source)


def _first_positions(refs: Sequence[TensorRef]) -> dict[TensorRef, int]:
    """Each tensor of ``refs`` -> where it first appears (``refs.index``, for all of them in one pass: a DenseNet
    block of 1,000 layers concatenates up to 1,000 tensors per call, and ``refs.index`` per tensor made its
    expansion cubic, 4 s of a 14 s build)."""
    first: dict[TensorRef, int] = {}
    for k, ref in enumerate(refs):
        first.setdefault(ref, k)
    return first


class CostCache:
    """Costs of op instances, computed once per distinct (op, input shapes, attributes): the ops are pure functions
    of those, and repeated blocks repeat them. Keyed by the attributes' identity (attributes are immutable, and the
    builds of a process share equal ones, :class:`_Shared`); each entry keeps its attributes alive, so an identity
    is not reused while its entry lives. Emptied when it holds ``MAX_ENTRIES``.

    A build makes its own unless given one (:func:`build_graph`'s ``costs``): a caller that builds many specs while
    the ops' counting conventions stay put (the sweep's evaluator: its fragment cache keeps costs as well) shares
    one between its builds, so a block at a new width computes only the costs of layers not seen before."""

    MAX_ENTRIES = 50_000  # about 0.4 kB each with the attributes they keep

    def __init__(self) -> None:
        self.costs: dict[tuple[Any, tuple[Shape, ...], int], tuple[OpCost, Attrs]] = {}

    def cost(self, op: OpDef[Any], shapes: tuple[Shape, ...], attrs: Attrs) -> OpCost:
        key = (op.fn, shapes, id(attrs))
        found = self.costs.get(key)
        if found is None:
            if len(self.costs) >= self.MAX_ENTRIES:
                self.costs = {}
            found = self.costs[key] = (op.fn(shapes, attrs), attrs)
        return found[0]



class _Shared:
    """Validated attributes (immutable models), shared by the builds of a process: a spec analysed again, or many
    candidates of one design space, validate each distinct op instance's attributes once. Emptied when it grows
    past ``MAX_ENTRIES``. (Costs are not shared: a cost function may change between builds, as a test that
    changes a counting convention does; they are cached per build.)"""

    MAX_ENTRIES = 100_000

    def __init__(self) -> None:
        self.attrs: dict[tuple[Any, Any], Attrs] = {}  # by (attribute model, resolved values)

    def checked(self) -> _Shared:
        """Itself, emptied first if it is full."""
        if len(self.attrs) > self.MAX_ENTRIES:
            self.attrs = {}
        return self


_SHARED = _Shared()


@dataclass
class _Value:
    """What a name stands for in a scope: its output tensors, and output names for block calls."""

    refs: list[TensorRef]
    names: list[str] = field(default_factory=list)
    each: list[TensorRef] | None = None  # ``name.*``: every repeat's output, or every tensor of a variadic input


Value = _Value  # public name for build hooks


@dataclass(frozen=True, slots=True)
class Call:
    """One instance the builder is about to expand, as a :class:`BuildHook` sees it: a node (or one repeat of it)
    with its op or block name resolved, the variables in scope, its unresolved attributes (op) or arguments
    (block), its path and its input tensors."""

    node: NodeSpec
    kind: str  # "op" or "block"
    name: str
    env: dict[str, Any]
    raw: dict[str, Any]
    path: str
    refs: list[TensorRef]


class Expansion(Protocol):
    """What a :class:`BuildHook` may use of the expansion in progress."""

    spec: Spec
    layers: list[Layer[Attrs]]  # the layers so far, in order
    shapes: dict[TensorRef, Shape]  # every tensor's shape so far
    globals: dict[str, Any]  # the spec's variables, resolved

    def resolve(self, value: Any, env: Mapping[str, Any], path: str, field: str) -> Any: ...

    def expand(self, call: Call) -> Value:
        """Expand ``call`` as usual (the instances inside a block go through the hook again)."""
        ...

    def replay(self, layers: Sequence[Layer[Attrs]], shapes: Mapping[TensorRef, Shape]) -> None:
        """Append layers an earlier expansion of an equal call made (``shapes``: the tensors later layers may
        read), with the checks :meth:`expand` makes on new layers (distinct paths, the layer limit)."""
        ...


class BuildHook(Protocol):
    """Called for every instance instead of expanding it: returns its value, from ``expansion.expand(call)`` or
    from an earlier expansion replayed (the sweep's fragment cache, :mod:`costmodel.sweep.fast`). The graph must
    be the one the plain expansion gives."""

    def __call__(self, expansion: Expansion, call: Call) -> Value: ...


# A tensor of a recorded block call: ``k`` (an int) the call's k-th input tensor; ``(j, index)`` output ``index`` of
# the call's j-th layer.
_Slot = int | tuple[int, int]


@dataclass
class _Recording:
    """The layers one block call made, relative to its path and its input tensors, to be replayed by a later call
    of the same block with the same arguments and input shapes (:meth:`_Builder.block`)."""

    layers: list[tuple[str, str, Attrs, tuple[_Slot, ...], tuple[Shape, ...], OpCost, Dtype | None]]  # (suffix, ...)
    value: tuple[list[_Slot], list[str], list[_Slot] | None]
    blocks: frozenset[str]  # every block called inside: a replay under one of them would be a cycle


class _Builder:
    """The expansion of one spec (:func:`build_graph`).

    With a :class:`BuildHook` (``costmodel.sweep.fast``), or in a subclass that overrides :meth:`instance`,
    :meth:`op` or :meth:`block`, every instance is expanded through it: block calls are never replayed
    (``replay_blocks``)."""

    replay_blocks = True
    """Replay a block call from the first call with equal arguments and input shapes instead of expanding it again
    (the same layers under another path); off by itself with a hook or in a subclass that overrides instance, op
    or block."""

    def __init__(self, spec: Spec, file: str | None, hook: BuildHook | None = None,
                 costs: CostCache | None = None) -> None:
        self.spec = spec
        self.file = file
        self.hook = hook
        self.layers: list[Layer[Attrs]] = []
        self.shapes: dict[TensorRef, Shape] = {}
        self.calls: list[str] = []  # the block calls being expanded, outermost first (recursion, depth)
        self.paths: set[str] = set()  # every layer path so far (a dotted name must not collide with one)
        self.dtypes: list[Dtype | None] = [None]  # the per-node dtype in force: the innermost block call's that set one
        self.defaults: dict[str, dict[str, Any]] = {}
        self.max_layers = limits.LAYERS.value  # read once: checked per layer
        self.max_elements = limits.TENSOR_ELEMENTS.value
        self.max_outputs = limits.OP_OUTPUTS.value
        self.attrs = _SHARED.checked().attrs  # validated attributes by (attribute model, resolved values)
        self.costs = costs if costs is not None else CostCache()
        cls = type(self)
        self.replay_calls = hook is None and cls.replay_blocks and all(getattr(cls, name) is getattr(_Builder, name)
                                                                 for name in ("instance", "op", "block"))
        self.recordings: dict[Any, _Recording] = {}
        self.recording: list[set[str]] = []  # per block call being recorded, the blocks called inside it

    # -- errors -------------------------------------------------------------------------------------
    def error(self, message: str, path: str, field: str | None = None) -> SpecError:
        return SpecError(message, file=self.file, path=path or None, field=field)

    # -- scopes -------------------------------------------------------------------------------------
    def resolve(self, value: Any, env: Mapping[str, Any], path: str, field: str) -> Any:
        """Evaluate ``value``'s expressions; an error names the node path and field."""
        try:
            return resolve(value, env)
        except ExpressionError as exc:
            raise self.error(str(exc), path, field) from None

    def evaluate_vars(self, raw: Mapping[str, Any], env: dict[str, Any], where: str) -> dict[str, Any]:
        """Variables in order, each seeing the ones before it."""
        env = dict(env)
        for name, value in raw.items():
            env[name] = self.resolve(value, env, where, name)
        return env

    def body(
        self, nodes: Sequence[NodeSpec], env: dict[str, Any], prefix: str, bound: dict[str, _Value],
        first_input: TensorRef,
    ) -> tuple[dict[str, _Value], _Value]:
        """Expand a node list; returns the names defined in it and the last node's value."""
        scope = dict(bound)
        last = _Value([first_input])
        suffixes: dict[str, int] = {}  # per auto-name base, the suffix to try first (the scope only grows)
        for index, node in enumerate(nodes):
            name = node.name or self.auto_name(node, scope, suffixes)
            path = f"{prefix}.{name}" if prefix else name
            if name in scope:
                raise self.error(f"name {name!r} is already used in this scope", path, "name")
            not_yet = _Later(nodes, index)
            if node.repeat is not None and f"{name}.*" in input_names(node):  # gathers its own repeats' outputs
                last = self.repeat(node, env, path, [], own=(scope, name, last, not_yet))
            else:
                last = self.repeat(node, env, path, self.input_refs(node, scope, last, not_yet, path))
            scope[name] = last
        return scope, last

    @staticmethod
    def auto_name(node: NodeSpec, scope: Mapping[str, _Value], suffixes: dict[str, int]) -> str:
        """The node's op (or block) name, else ``name_k`` with the smallest k >= 1 not used in the scope."""
        base = node.op or node.block or "node"
        if base not in scope:
            return base
        k = suffixes.get(base, 1)
        while f"{base}_{k}" in scope:
            k += 1
        suffixes[base] = k
        return f"{base}_{k}"

    def input_refs(
        self, node: NodeSpec, scope: Mapping[str, _Value], last: _Value, not_yet: _Later, path: str
    ) -> list[TensorRef]:
        if node.inputs is None:
            return last.refs[:1]
        refs = [ref for text in input_names(node) for ref in self.lookup_all(text, scope, not_yet, path)]
        if not refs:
            raise self.error("'inputs' is empty", path, "inputs")
        return refs

    def lookup_all(self, text: str, scope: Mapping[str, _Value], not_yet: _Later, path: str) -> list[TensorRef]:
        """``name.*``: the outputs of every repeat of ``name`` (so far, inside its own repeats) or every tensor of
        a variadic block input; ``name.K``: the output of repeat K; anything else: one tensor (:meth:`lookup`)."""
        name, dot, which = text.rpartition(".")
        if not dot or text in scope or not (which == "*" or which.lstrip("-").isdigit()):
            return [self.lookup(text, scope, not_yet, path)]
        if name not in scope:  # an unknown or later node: lookup says which
            return [self.lookup(name, scope, not_yet, path)]
        each = scope[name].each
        if each is None:
            raise self.error(f"{text!r}: {name!r} is not repeated; 'name.*' and 'name.K' name the outputs of the "
                             "repeats of a node with 'repeat:' (or the tensors of a block input declared 'name.*')",
                             path, "inputs")
        if which == "*":
            return list(each)
        if not -len(each) <= int(which) < len(each):
            raise self.error(f"{text!r}: {name!r} has {len(each)} repeat(s) here", path, "inputs")
        return [each[int(which)]]

    def lookup(self, text: str, scope: Mapping[str, _Value], not_yet: _Later | None, path: str) -> TensorRef:
        name, _, which = text.partition(":")
        if name not in scope:
            if not_yet is not None and name in not_yet.names():
                raise self.error(
                    f"input {text!r} refers to this node or a later one: the graph must be acyclic, so a node "
                    "may only take inputs from nodes defined before it", path, "inputs")
            close = difflib.get_close_matches(name, list(scope), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise self.error(f"unknown input {text!r}{hint} (known here: {', '.join(scope)})", path, "inputs")
        value = scope[name]
        if not value.refs:  # a repeated node reading its own earlier repeats ('name.*') has no output yet
            raise self.error(f"input {text!r} refers to this node: inside its repeats only '{name}.*' (the earlier "
                             "repeats' outputs) may be named", path, "inputs")
        if not which:
            return value.refs[0]
        if which in value.names:
            return value.refs[value.names.index(which)]
        if re.fullmatch(r"-?[0-9]{1,9}", which) and -len(value.refs) <= int(which) < len(value.refs):
            return value.refs[int(which)]
        raise self.error(f"{shown(name, 60)} has {len(value.refs)} output(s); {shown(text, 60)} names none of them",
                         path, "inputs")

    # -- repeats, ops and blocks ----------------------------------------------------------------------
    def active(self, node: NodeSpec, env: dict[str, Any], path: str) -> bool:
        """Evaluate the node's ``when`` condition (true when it has none)."""
        if node.when is None:
            return True
        active = self.resolve(node.when, env, path, "when")
        if not isinstance(active, bool):
            raise self.error(f"'when' must be true or false, got {active!r}", path, "when")
        return active

    def repeat(
        self, node: NodeSpec, env: dict[str, Any], path: str, refs: list[TensorRef],
        own: tuple[dict[str, _Value], str, _Value, _Later] | None = None,
    ) -> _Value:
        """Expand a node (``repeat`` times). Repeats chain, each feeding the next, unless the node's inputs name
        its own repeats (``own``: scope, name, previous value, later names): then repeat ``k`` takes its listed
        inputs with ``name.*`` standing for the outputs of repeats ``0..k-1``."""

        def inputs(done: list[TensorRef]) -> list[TensorRef]:
            if own is None:
                return refs
            scope, name, last, not_yet = own
            return self.input_refs(node, {**scope, name: _Value([], each=done)}, last, not_yet, path)

        if not uses_repeat_index(node.when) and not self.active(node, env, path):
            refs = inputs([])
            return _Value(refs[:1])  # skipped as a whole: its repeat count need not be valid
        if node.repeat is None:
            if node.overrides or node.parallel:
                field = "overrides" if node.overrides else "parallel"
                raise self.error(f"'{field}' needs 'repeat'", path, field)
            return self.instance(node, env, node.attributes, path, refs)
        count = self.resolve(node.repeat, env, path, "repeat")
        refused = repeat_refused(node, count)
        if refused is not None:
            raise self.error(refused[0], path, refused[1])
        value = _Value(inputs([])[:1])
        each: list[TensorRef] = []
        for i in range(count):
            attrs = repeat_attributes(node, i, count)
            these = inputs(each) if own is not None else refs if i == 0 or node.parallel else value.refs[:1]
            value = self.instance(node, {**env, "i": i}, node.attributes if attrs is None else attrs,
                                  repeat_path(path, i), these)
            each.append(value.refs[0])
        return _Value(value.refs, value.names, each)

    def instance(
        self, node: NodeSpec, env: dict[str, Any], raw: dict[str, Any], path: str, refs: list[TensorRef]
    ) -> _Value:
        if uses_repeat_index(node.when) and not self.active(node, env, path):
            return _Value(refs[:1])
        kind, name = ("op", node.op) if node.op is not None else ("block", node.block)
        known = REGISTRY if kind == "op" else self.spec.blocks
        if name not in known:  # not a literal op/block name: it may be a variable naming one, {op: act}
            name = self.resolve(name, env, path, kind)
        if not isinstance(name, str):
            raise self.error(f"'{kind}' must name an {kind}, got {name!r}", path, kind)
        self.dtypes.append(node.dtype or self.dtypes[-1])
        try:
            if self.hook is not None:
                return self.hook(self, Call(node, kind, name, env, raw, path, refs))
            if kind == "op":
                return self.op(name, env, raw, path, refs)
            return self.block(name, env, raw, path, refs)
        finally:
            self.dtypes.pop()

    def expand(self, call: Call) -> _Value:
        """Expand an instance a hook was given (:class:`Expansion`)."""
        if call.kind == "op":
            return self.op(call.name, call.env, call.raw, call.path, call.refs)
        return self.block(call.name, call.env, call.raw, call.path, call.refs)

    def replay(self, layers: Sequence[Layer[Attrs]], shapes: Mapping[TensorRef, Shape]) -> None:
        """Append layers of an earlier expansion (:class:`Expansion`)."""
        paths = [layer.path for layer in layers]
        if self.paths.isdisjoint(paths) and len(self.layers) + len(layers) <= self.max_layers:  # the usual case
            self.paths.update(paths)
            self.layers.extend(layers)
            self.shapes.update(shapes)
            return
        for layer in layers:  # find the layer that fails, as expand() would
            if layer.path in self.paths:
                raise self.error(f"two layers would have the path {layer.path!r}: a node name with a '.' collides "
                                 "with a repeat or block-call path generated beside it; rename the node", layer.path,
                                 "name")
            if len(self.layers) >= self.max_layers:
                raise self.error(str(limits.LAYERS.exceeded(len(self.layers) + 1)), layer.path)
            self.paths.add(layer.path)
            self.layers.append(layer)
        self.shapes.update(shapes)

    def resolve_fields(self, raw: Mapping[str, Any], env: Mapping[str, Any], path: str) -> dict[str, Any]:
        return {key: self.resolve(value, env, path, key) for key, value in raw.items()}

    def op(self, op_name: str, env: dict[str, Any], raw: dict[str, Any], path: str, refs: list[TensorRef]) -> _Value:
        try:
            op = get_op(op_name)
        except OpError as exc:
            raise self.error(exc.message, path, "op") from None
        values = self.resolve_fields({**self.defaults.get(op.name, {}), **raw}, env, path)
        key = (op.attrs, _frozen(values))
        attrs = self.attrs.get(key)
        if attrs is None:
            try:
                attrs = self.attrs[key] = op.attrs.model_validate(values)
            except Exception as exc:
                from pydantic import ValidationError  # imported by then: only the fallback to pydantic raises it

                if not isinstance(exc, ValidationError):
                    raise
                err = validation_error(exc, self.file)
                raise self.error(self.explain(err.message, err.field, values, op.attrs), path, err.field) from None
        lo, hi = op.min_inputs, op.max_inputs
        if len(refs) < lo or (hi is not None and len(refs) > hi):
            want = str(lo) if lo == hi else f"{lo} or more" if hi is None else f"{lo} to {hi}"
            raise self.error(f"op {op.name!r} takes {want} input(s), got {len(refs)}", path, "inputs")
        shapes = tuple(self.shapes[ref] for ref in refs)
        try:
            cost = self.costs.cost(op, shapes, attrs)
        except OpError as exc:
            shown = ", ".join(str(list(s)) for s in shapes)
            raise self.error(f"{exc.message} (input shapes: {shown})", path, exc.field) from None
        self.check_outputs(op.name, cost.outputs, path)
        if path in self.paths:
            raise self.error(f"two layers would have the path {path!r}: a node name with a '.' collides with a "
                             "repeat or block-call path generated beside it; rename the node", path, "name")
        if len(self.layers) >= self.max_layers:
            raise self.error(str(limits.LAYERS.exceeded(len(self.layers) + 1)), path)
        self.paths.add(path)
        self.layers.append(Layer(path, op.name, attrs, tuple(refs), shapes, cost, self.dtypes[-1]))
        out_refs = [TensorRef(path, k) for k in range(len(cost.outputs))]
        self.shapes.update(zip(out_refs, cost.outputs, strict=True))
        return _Value(out_refs)

    def check_outputs(self, op_name: str, outputs: Sequence[Shape], path: str) -> None:
        """Every output shape positive and within limits.TENSOR_ELEMENTS; at most limits.OP_OUTPUTS outputs."""
        if len(outputs) > self.max_outputs:
            raise self.error(str(limits.OP_OUTPUTS.exceeded(len(outputs))), path)
        for out in outputs:
            if any(d <= 0 for d in out):
                raise self.error(f"op {op_name!r} produces an empty shape {shown(list(out))}", path)
            if math.prod(out) > self.max_elements:
                too_big = limits.TENSOR_ELEMENTS.exceeded(math.prod(out))
                raise self.error(f"op {op_name!r} output {shown(list(out))}: {too_big}", path)

    @staticmethod
    def explain(message: str, field_name: str | None, values: Mapping[str, Any], model: type[Attrs]) -> str:
        if message.startswith("unknown field"):
            known = ", ".join(model.model_fields)
            close = difflib.get_close_matches(field_name or "", list(model.model_fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            return f"unknown field {shown(field_name, 60)}{hint} (this op takes: {known}){key_hint(field_name)}"
        value = values.get(field_name or "")
        if isinstance(value, str) and value.isidentifier():
            return f"{message} — {value!r} is not a known variable here"
        return message

    def block(self, name: str, env: dict[str, Any], raw: dict[str, Any], path: str, refs: list[TensorRef]) -> _Value:
        block = self.spec.blocks.get(name)
        if block is None:
            close = difflib.get_close_matches(name, list(self.spec.blocks), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise self.error(f"unknown block {name!r}{hint}", path, "block")
        args = self.resolve_fields(raw, env, path)
        bound = self.bind_inputs(name, block, refs, path)
        shapes = Namespace({arg: list(self.shapes[value.refs[0]][1:]) for arg, value in bound.items() if value.refs})
        block_env = self.block_env(name, block, args, path, shapes)
        if name in self.calls:
            cycle = " -> ".join([*self.calls[self.calls.index(name):], name])
            raise self.error(f"block {name!r} calls itself ({cycle}): the expansion would never end", path, "block")
        too_deep = limits.BLOCK_DEPTH.exceeded(len(self.calls) + 1)
        if too_deep:
            raise self.error(too_deep, path, "block")
        for inside in self.recording:
            inside.add(name)
        key = None
        if self.replay_calls:
            # everything the expansion depends on: the block, its arguments, its input tensors' shapes and which of
            # them are the same tensor, and the nesting depth (the spec's variables are fixed for the build)
            positions = _first_positions(refs)
            key = (name, _frozen(args), tuple(self.shapes[ref] for ref in refs), tuple(positions[ref] for ref in refs),
                   len(self.calls), self.dtypes[-1])
            recording = self.recordings.get(key)
            if recording is not None and recording.blocks.isdisjoint(self.calls):
                for inside in self.recording:
                    inside.update(recording.blocks)
                return self.replayed(recording, path, refs)
        first = len(self.layers)
        self.calls.append(name)
        self.recording.append(set())
        try:
            scope, last = self.body(block.nodes, block_env, path, bound, refs[0])
        finally:
            self.calls.pop()
            called = self.recording.pop()
        for inside in self.recording:
            inside.update(called)
        if block.outputs is None:
            value = last
        else:
            missing = [out for out in block.outputs if out.partition(":")[0] not in scope]
            if missing:
                raise self.error(f"block {name!r} lists outputs {missing} that it does not define", path, "outputs")
            value = _Value([self.lookup(out, scope, None, path) for out in block.outputs], list(block.outputs))
        if key is not None:
            recording = self.recorded(self.layers[first:], value, path, refs, frozenset(called))
            if recording is not None:
                self.recordings[key] = recording
        return value

    @staticmethod
    def recorded(layers: Sequence[Layer[Attrs]], value: _Value, path: str, refs: Sequence[TensorRef],
                 blocks: frozenset[str]) -> _Recording | None:
        """The layers a block call at ``path`` with input tensors ``refs`` made, relative to both (None if one
        reads a tensor that is neither, which the scoping rules exclude)."""
        start = len(path) + 1
        inner = {layer.path: j for j, layer in enumerate(layers)}
        positions = _first_positions(refs)

        def slot(ref: TensorRef) -> _Slot:
            j = inner.get(ref.node)
            return positions[ref] if j is None else (j, ref.index)

        try:
            made = [(layer.path[start:], layer.op, layer.attrs, tuple(map(slot, layer.inputs)), layer.input_shapes,
                     layer.cost, layer.dtype) for layer in layers]
            out = ([slot(ref) for ref in value.refs], list(value.names),
                   None if value.each is None else [slot(ref) for ref in value.each])
        except KeyError:  # not an input of the call
            return None
        return _Recording(made, out, blocks)

    def replayed(self, recording: _Recording, path: str, refs: Sequence[TensorRef]) -> _Value:
        """A recorded block call made again at ``path`` with input tensors ``refs``: the same layers, checked as
        :meth:`op` checks each layer it adds (paths must not collide; at most limits.LAYERS layers)."""

        made: list[str] = []  # the paths of the layers replayed so far

        def tensor(slot: _Slot) -> TensorRef:
            return refs[slot] if isinstance(slot, int) else TensorRef(made[slot[0]], slot[1])

        layers, shapes, paths = self.layers, self.shapes, self.paths
        for suffix, op, attrs, inputs, input_shapes, cost, dtype in recording.layers:
            layer_path = f"{path}.{suffix}"
            made.append(layer_path)
            if layer_path in paths:
                raise self.error(f"two layers would have the path {layer_path!r}: a node name with a '.' collides "
                                 "with a repeat or block-call path generated beside it; rename the node", layer_path,
                                 "name")
            if len(layers) >= self.max_layers:
                raise self.error(str(limits.LAYERS.exceeded(len(layers) + 1)), layer_path)
            paths.add(layer_path)
            layers.append(Layer(layer_path, op, attrs, tuple(map(tensor, inputs)), input_shapes, cost, dtype))
            for k, out in enumerate(cost.outputs):
                shapes[TensorRef(layer_path, k)] = out
        out_refs, names, each = recording.value
        return _Value([tensor(slot) for slot in out_refs], list(names),
                      None if each is None else [tensor(slot) for slot in each])

    def bind_inputs(self, name: str, block: BlockDef, refs: list[TensorRef], path: str) -> dict[str, _Value]:
        """The block's input names bound to the caller's tensors; a last input declared ``rest.*`` takes all
        remaining tensors (``rest`` is the first of them, ``rest.*`` all)."""
        fixed, variadic = block.inputs, None
        if block.inputs and block.inputs[-1].endswith(".*"):
            fixed, variadic = block.inputs[:-1], block.inputs[-1][:-2]
        if len(refs) < len(fixed) + (variadic is not None) or (variadic is None and len(refs) != len(fixed)):
            want = f"{len(fixed) + 1} or more" if variadic is not None else str(len(fixed))
            raise self.error(f"block {name!r} takes {want} input(s) ({', '.join(block.inputs)}), got {len(refs)}",
                             path, "inputs")
        bound = {arg: _Value([ref]) for arg, ref in zip(fixed, refs, strict=False)}
        if variadic is not None:
            rest = refs[len(fixed):]
            bound[variadic] = _Value(rest[:1], each=rest)
        return bound

    def block_env(
        self, name: str, block: BlockDef, args: dict[str, Any], path: str, shapes: Namespace
    ) -> dict[str, Any]:
        """The block's variables: the spec's, its parameters and vars, and ``input`` (the per-sample shapes of
        the block's inputs, ``input.x[0]``: the channels of ``x``)."""
        unknown = [arg for arg in args if arg not in block.params]
        if unknown:
            raise self.error(f"block {name!r} has no parameter {unknown[0]!r} (parameters: "
                             f"{', '.join(block.params) or 'none'}){key_hint(unknown[0])}", path, unknown[0])
        env = {**self.globals, INPUT: shapes}
        for param, default in block.params.items():
            if param in args:
                env[param] = args[param]
            elif default is None:
                raise self.error(f"block {name!r} needs parameter {param!r}", path, param)
            else:
                env[param] = self.resolve(default, env, f"blocks.{name}.params", param)
        return self.evaluate_vars(block.vars, env, f"blocks.{name}.vars")

    # -- the whole spec -------------------------------------------------------------------------------
    def check_defaults(self) -> dict[str, dict[str, Any]]:
        """``defaults:`` keyed by each op's registered name: an alias (``bn``) applies to its op (batch_norm) under
        any of its names; an unknown op or two keys naming one op is an error (a typo would otherwise be ignored
        without a word)."""
        defaults: dict[str, dict[str, Any]] = {}
        given: dict[str, str] = {}
        for key, values in self.spec.defaults.items():
            if key not in REGISTRY:
                close = difflib.get_close_matches(key, list(REGISTRY), n=1, cutoff=0.5)
                hint = f"; did you mean {close[0]!r}?" if close else " (`costmodel ops` lists them)"
                raise self.error(f"defaults for an unknown op {shown(key, 60)}{hint}", "defaults", key)
            name = REGISTRY[key].name
            if name in given:
                raise self.error(f"defaults {given[name]!r} and {key!r} name the same op {name!r}; merge them",
                                 "defaults", key)
            given[name] = key
            defaults[name] = values
        return defaults

    def input_shapes(self, given: Mapping[str, Sequence[int]] | None, env: Mapping[str, Any]) -> dict[str, Shape]:
        """Per-sample input shapes: given ones (--input) or the spec's, whose expressions see ``env``."""
        inputs: dict[str, Shape] = {}
        for name, raw_shape in self.spec.inputs.items():
            shape = list(given[name]) if given and name in given else \
                self.resolve_fields({name: raw_shape}, env, "inputs")[name]
            if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
                raise self.error(f"input shape must be positive integers, got {shape}", "inputs", name)
            inputs[name] = tuple(shape)
        return inputs


    def global_vars(self, given: Mapping[str, Sequence[int]] | None) -> tuple[dict[str, Any], dict[str, Shape]]:
        """The top-level variables, plus ``input`` (a namespace of per-sample input shapes, ``input.image[1]``).

        Input shapes may use variables and variables may use ``input``: the shapes are worked out just before
        the first variable that mentions ``input``, from the variables before it."""
        if INPUT in self.spec.vars:
            raise self.error(f"{INPUT!r} is reserved for the input shapes ({INPUT}.NAME); rename the variable",
                             "vars", INPUT)
        env: dict[str, Any] = {}
        inputs: dict[str, Shape] | None = None
        for name, value in self.spec.vars.items():
            if inputs is None and INPUT in value_names(value):
                inputs = self.input_shapes(given, env)
                env[INPUT] = Namespace({k: list(v) for k, v in inputs.items()})
            env[name] = self.resolve(value, env, "vars", name)
        if inputs is None:
            inputs = self.input_shapes(given, env)
            env[INPUT] = Namespace({k: list(v) for k, v in inputs.items()})
        return env, inputs


    def build(self, batch: int, input_shapes: Mapping[str, Sequence[int]] | None) -> Graph:
        self.defaults = self.check_defaults()
        self.globals, sample_shapes = self.global_vars(input_shapes)
        inputs = {name: (batch, *shape) for name, shape in sample_shapes.items()}
        for name, shape in inputs.items():
            too_big = limits.TENSOR_ELEMENTS.exceeded(math.prod(shape))
            if too_big:
                raise self.error(f"input of shape {shown(list(shape))}: {too_big}", "inputs", name)
        unknown = set(input_shapes or {}) - set(inputs)
        if unknown:
            raise self.error(f"no input named {sorted(unknown)[0]!r} (inputs: {', '.join(inputs)})", "inputs")
        bound = {name: _Value([TensorRef(f"input:{name}")]) for name in inputs}
        for name, shape in inputs.items():
            self.shapes[TensorRef(f"input:{name}")] = shape
        scope, last = self.body(self.spec.nodes, self.globals, "", bound, TensorRef(f"input:{next(iter(inputs))}"))
        if not self.layers:
            raise self.error("the graph has no layers: every node is skipped ('when' is false)", "nodes", "when")
        outputs = last.refs[:1] if self.spec.outputs is None else \
            [self.lookup(out, scope, None, "outputs") for out in self.spec.outputs]
        return Graph(self.spec.name, self.spec, batch, self.spec.dtype, inputs, self.layers, outputs)


def repeat_refused(node: NodeSpec, count: Any) -> tuple[str, str] | None:
    """Why ``count`` (the node's resolved ``repeat``) cannot be expanded -- (message, field) -- or None: it must be a
    non-negative integer within limits.REPEAT, and every override index within -count..count-1. The builder and
    callers that walk a spec's top level themselves (the sweep's plan, :mod:`costmodel.sweep.fast`) check with
    this one function."""
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        return f"repeat must be a non-negative integer, got {shown(count)}", "repeat"
    too_many = limits.REPEAT.exceeded(count)
    if too_many:
        return too_many, "repeat"
    for key in node.overrides:
        if not -count <= key < count:
            return f"override index {key} is outside 0..{count - 1}", "overrides"
    return None


def repeat_attributes(node: NodeSpec, i: int, count: int) -> dict[str, Any] | None:
    """The unresolved attributes (or block arguments) of repeat ``i`` of ``count``: the node's, overridden by its
    ``overrides`` for ``i`` and then for ``i - count`` (an index from the end); None where no override applies (the
    node's own ``attributes``, not copied)."""
    overrides = node.overrides
    if not overrides or (i not in overrides and i - count not in overrides):
        return None
    return {**node.attributes, **overrides.get(i, {}), **overrides.get(i - count, {})}


def repeat_path(path: str, i: int) -> str:
    """The path of repeat ``i`` of the node at ``path``."""
    return f"{path}.{i}"


class TopLevel:
    """The graph builder set up at a spec's top level, expanding one instance at a time: for callers that walk the
    top-level nodes themselves and expand only some instances (the sweep's plan, which finds the others in its
    fragment cache). ``globals``: the spec's variables, resolved (and ``input``); ``shapes``: the tensors' shapes so
    far, read and added to; ``hook`` and ``costs`` as for :func:`build_graph`. The instances are those
    :func:`repeat_refused`, :func:`repeat_attributes` and :func:`repeat_path` describe, as the builder's own walk
    makes them."""

    def __init__(self, spec: Spec, globals: dict[str, Any], shapes: dict[TensorRef, Shape],
                 hook: BuildHook | None = None, costs: CostCache | None = None, file: str | None = None) -> None:
        builder = _Builder(spec, file, hook, costs)
        builder.defaults = builder.check_defaults()
        builder.globals = globals
        builder.shapes = shapes
        self._builder = builder

    @property
    def layers(self) -> list[Layer[Attrs]]:
        """The layers expanded so far (through this object), in order."""
        return self._builder.layers

    def instance(self, node: NodeSpec, env: dict[str, Any], raw: dict[str, Any], path: str,
                 refs: list[TensorRef]) -> Value:
        """Expand one instance of the top-level ``node`` -- the node itself (``path`` its name, ``env`` the globals)
        or repeat i (``path`` :func:`repeat_path`, ``env`` the globals with ``i``, ``raw``
        :func:`repeat_attributes` or the node's attributes) -- reading ``refs``; raises :class:`SpecError` as the
        builder does."""
        return self._builder.instance(node, env, raw, path, refs)


INPUT = "input"
"""The variable holding the graph inputs' per-sample shapes in expressions (``input.image[1]``)."""


def value_names(value: Any) -> set[str]:
    """The variable names mentioned by the expressions inside a value (str, list or dict)."""
    if isinstance(value, str):
        return set(expression_names(value))
    if isinstance(value, list | dict):
        return set().union(*(value_names(v) for v in (value.values() if isinstance(value, dict) else value)))
    return set()


def input_names(node: NodeSpec) -> list[str]:
    """A node's ``inputs`` as a list of names (empty when it has none)."""
    return [] if node.inputs is None else [node.inputs] if isinstance(node.inputs, str) else list(node.inputs)


def uses_repeat_index(condition: bool | str | None) -> bool:
    """Whether a ``when`` condition mentions the repeat index ``i`` (then it is evaluated per repeat)."""
    return isinstance(condition, str) and "i" in expression_names(condition)


@dataclass(frozen=True)
class _Later:
    """The nodes from ``index`` on of a node list: named only when an input lookup fails (for its message), so
    the list is not built for every node."""

    nodes: Sequence[NodeSpec]
    index: int

    def names(self) -> list[str]:
        return [later.name for later in self.nodes[self.index:] if later.name]


def _frozen(value: Any) -> Any:
    """A hashable key for resolved attribute values; types kept apart (``1``, ``1.0`` and ``True`` validate
    differently)."""
    if isinstance(value, dict):  # a Namespace (input shapes) apart from a dict
        return (type(value).__name__, tuple((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(_frozen(v) for v in value))
    if isinstance(value, float):  # repr: -0.0 apart from 0.0
        return ("float", repr(value))
    return (type(value).__name__, value)


class _Expansion(NamedTuple):
    """What the expansion of a spec made, to be made again for a spec of equal content (:func:`build_graph`): the
    input shapes, per layer (path, op, attributes, input tensors, input shapes, output shapes, dtype), the outputs."""

    inputs: dict[str, Shape]
    layers: list[tuple[str, str, Attrs, tuple[TensorRef, ...], tuple[Shape, ...], tuple[Shape, ...], Dtype | None]]
    outputs: list[TensorRef]


class _Expansions:
    """Expansions by (spec content, batch, given input shapes, limits, number of registered ops), for a spec
    analysed again (a warm ``costmodel.analyze``). An expansion is a pure function of these and of the layers'
    output shapes: it is made again with every cost computed anew (a cost function may change between builds) and
    used only if every layer's output shapes are the ones it had; else the spec is expanded as usual."""

    MAX_NODES = 1_000  # specs with more top-level nodes (flat imports) are not kept: their key costs too much
    MAX_GRAPH_LAYERS = 20_000  # nor graphs of more layers (memory, and the garbage collector's time)
    MAX_LAYERS = 100_000  # layers kept in all: the memo is emptied before it would hold more

    def __init__(self) -> None:
        self.entries: dict[Any, _Expansion] = {}
        self.layers = 0

    def clear(self) -> None:
        self.entries, self.layers = {}, 0

    def key(self, spec: Spec, batch: int, input_shapes: Mapping[str, Sequence[int]] | None) -> Any:
        if len(spec.nodes) > self.MAX_NODES:
            return None
        try:
            content = spec.content_key()
            given = None if input_shapes is None else \
                tuple((name, tuple(shape)) for name, shape in input_shapes.items())
            key = (content, batch, given, tuple(limit.value for limit in limits.ALL), len(REGISTRY))
            hash(key)
        except TypeError:  # a value without a key (or an unhashable shape): not kept
            return None
        return key

    def remade(self, key: Any, spec: Spec, batch: int) -> Graph | None:
        """The graph of an earlier expansion with this key, its costs computed now; None if there is none or a
        layer's outputs are not the ones it had."""
        expansion = self.entries.get(key)
        if expansion is None:
            return None
        costs = CostCache()
        layers: list[Layer[Attrs]] = []
        for path, name, attrs, refs, input_shapes, outputs, dtype in expansion.layers:
            op = REGISTRY.get(name)
            if op is None:
                return None
            try:
                cost = costs.cost(op, input_shapes, attrs)
            except Exception:  # noqa: BLE001 - the expansion proper says what is wrong
                return None
            if cost.outputs != outputs:  # the inputs of later layers (and what expressions saw) differ: expand
                return None
            layers.append(Layer(path, name, attrs, refs, input_shapes, cost, dtype))
        return Graph(spec.name, spec, batch, spec.dtype, dict(expansion.inputs), layers, list(expansion.outputs))

    def keep(self, key: Any, graph: Graph) -> None:
        if len(graph.layers) > self.MAX_GRAPH_LAYERS:
            return
        if self.layers + len(graph.layers) > self.MAX_LAYERS:
            self.clear()
        self.layers += len(graph.layers)
        self.entries[key] = _Expansion(
            dict(graph.inputs), [(layer.path, layer.op, layer.attrs, layer.inputs, layer.input_shapes,
                                  layer.cost.outputs, layer.dtype) for layer in graph.layers], list(graph.outputs))


_EXPANSIONS = _Expansions()


def build_graph(
    spec: Spec, *, file: str | None = None, batch: int | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None, hook: BuildHook | None = None,
    costs: CostCache | None = None,
) -> Graph:
    """Expand ``spec`` into a :class:`Graph`. ``batch`` and ``input_shapes`` override the spec's; ``hook`` is called
    for every op or block instance instead of expanding it (:class:`BuildHook`); ``costs``: the op costs to reuse
    and add to (:class:`CostCache`; default: the build's own). A spec of the same content built before (same batch,
    input shapes and limits) is made again from that expansion (:class:`_Expansions`)."""
    batch = batch or spec.batch
    with limits.held():
        key = None if hook is not None else _EXPANSIONS.key(spec, batch, input_shapes)
        if key is not None:
            graph = _EXPANSIONS.remade(key, spec, batch)
            if graph is not None:
                return graph
        depth = limits.BLOCK_DEPTH.value
        old_limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old_limit, FRAMES_PER_BLOCK_CALL * depth + 1000))  # deep, finite block nesting
        try:
            graph = _Builder(spec, file, hook, costs).build(batch, input_shapes)
        finally:
            sys.setrecursionlimit(old_limit)
        if key is not None:
            _EXPANSIONS.keep(key, graph)
        return graph


FRAMES_PER_BLOCK_CALL = 8  # Python frames one nested block call takes (body, repeat, instance, block, ...)
