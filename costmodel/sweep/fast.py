"""The sweep's fast evaluator: the analyzer's figures of many candidates of one spec, reusing what repeats.

Candidates of a space share most of their pieces: ResNet's ``layer2.3`` block with 128 planes on a 28×28 input
expands to the same layers whatever the rest of the network is. The spec is expanded by the graph builder as
usual, except that each **top-level instance** (a top-level node, or one repeat of it) is looked up in a cache
keyed by everything its expansion can depend on — its path, its resolved arguments, its input tensors (their
names, shapes and the buffers they alias) and the values of the spec variables its block reads — and expanded
only on a miss. Each cached piece (a *fragment*) keeps, computed once:

- its parameter, MAC, FLOP and activation sums;
- its liveness: the live bytes of the buffers born and freed inside it at each of its steps, and the first
  and last steps of the buffers it reads from or hands to other fragments;
- DeepMAD's main-path search over its layers (:func:`~costmodel.design.entropy.path_step`), per state of the
  tensors it reads.

Latency is the latency model's own answer (:func:`~costmodel.latency.estimate`) on the graph the fragments
make up (its host-dispatch timeline runs over the whole sequence of kernels).

A candidate then costs a walk over its fragments plus the latency model. The figures are the full analyzer's
exactly: ``tests/test_sweep.py`` compares them on random candidates of every shipped space.
"""

from __future__ import annotations

import keyword
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import limits
from ..design.entropy import (
    ChainGroup,
    ChainLayer,
    chain_groups,
    chain_layer,
    merge_groups,
    path_step,
    score,
    trace_back,
)
from ..errors import DesignError
from ..graph import (
    Call,
    CostCache,
    Expansion,
    Graph,
    Layer,
    TensorRef,
    TopLevel,
    Value,
    build_graph,
    repeat_attributes,
    repeat_path,
    repeat_refused,
)
from ..graph.build import INPUT
from ..hardware import threaded
from ..latency import (
    DEFAULT_FUSION,
    DEFAULT_PRECISION,
    Boundary,
    Precision,
    check_precision,
    estimate,
    input_bytes,
    kernel_busy,
    kernel_terms,
    model_seconds,
    plan,
)
from ..latency.contiguity import contiguous_throughout, layout_alone
from ..latency.cpu import ON_ONE_CORE, CpuKernel, handoff_writer
from ..latency.roofline import check_dtype
from ..ops import REGISTRY
from ..ops.base import Shape, numel
from ..spec import Spec
from ..spec.expressions import Namespace, expression_names, resolve
from ..spec.schema import NodeSpec
from ..vocab import Dtype, Fusion
from .evaluate import Device, Metrics
from .space import Space

Key = tuple[Any, ...]
# per evaluator (per worker): the cache's budget (FastAnalyzer.bound) is a quarter of the machine's memory shared by
# one worker per CPU (default_cache_bytes), between these
CACHE_BYTES, MAX_CACHE_BYTES = 512 * 2**20, 2 * 2**30
# The estimate's terms, bytes of Python objects fitted to tracemalloc's count over the shipped spaces' fragments
# (ResNet-like: 20.3 MB for 12,104 new layers, 2,697 moved layers, 4,630 contexts, 35,593 search entries; OFA-MBV3:
# 0.43 MB for 30, 78, 193, 2,800): a layer kept by a fragment (the Layer, its cost and output shapes, its liveness and
# path entries), a layer re-addressed for a call on other tensors (Fragment.moved), a pricing or search context,
# and one layer's entry in a search.
LAYER_BYTES, MOVED_LAYER_BYTES, CONTEXT_BYTES, SEARCH_ENTRY_BYTES = 1200, 300, 400, 100
FOUND_BYTES = 400  # an entry of the plan's instances found by the names of what they read (its key and tuple)
# a segment (a top-level node's instances, their liveness) and one of its compositions (searches, kernels, its part
# of the main path, plus a list of busy seconds per device), fitted likewise: 3,000 ResNet-like candidates on one
# device made 9,638 segments of 64.4 MB with their keys (FOUND_BYTES) and the plan's found entries (before the main
# path's parts were kept: 49.6 MB; 1,000 candidates on three devices 3,760 segments, 21.8 MB)
SEGMENT_BYTES, COMPOSED_BYTES, COMPOSED_DEVICE_BYTES = 2400, 3500, 300


class _Budget:
    """The bytes a fragment cache holds, estimated as its fragments and their contexts are added; ``composed``: of
    which the segments, their keys and their compositions (what :meth:`FastAnalyzer.bound` drops first: composed
    again from the fragments, without the builder or the latency model)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.composed = 0

    def add_composed(self, nbytes: int) -> None:
        """A segment, its key or a composition of it added."""
        self.used += nbytes
        self.composed += nbytes


@dataclass
class _Search:
    """The main-path search over one fragment for one state of the layers it reads."""

    convs: dict[str, int]
    previous: dict[str, str | None]
    pooled: dict[str, bool]
    best: tuple[int, str] | None  # (most convs, first layer with it)
    traces: dict[str, tuple[list[ChainLayer], str | None]] = field(default_factory=dict)


@dataclass
class _Kernels:
    """A fragment's kernels in one context: busy seconds per device, (amp) bytes per element of the buffers it
    hands on, and per device the CPU figures of its last kernel (:attr:`~costmodel.latency.KernelTerms.cpu`: what
    the next kernel's cross-core handoff compares with; None where it has none) with what the handoff reads of them
    (:meth:`FastAnalyzer.writers`)."""

    busy: list[list[float]]
    handed: list[tuple[TensorRef, int]]
    after: tuple[CpuKernel | None, ...] = ()
    writers: Key = ()


@dataclass
class _Moved:
    """A fragment placed where the tensors it reads have other names than where it was expanded (the first block
    of a stage after a deeper or shallower stage): what changes with the names."""

    refs: dict[TensorRef, TensorRef]  # tensor (or buffer) where expanded -> here
    nodes: dict[str, str]
    layers: list[Layer]
    value: Value
    value_owners: list[tuple[TensorRef, TensorRef]]


class Fragment:
    """One cached top-level instance: its layers, its value in the caller's scope, and its summaries.

    ``reads``: the tensors it was called with, then the buffers they alias, where it was expanded; the cache key
    holds only their shapes and how they coincide, so the fragment serves calls on equal tensors of other names
    (:meth:`moved`)."""

    def __init__(self, layers: list[Layer], value: Value, shapes: dict[TensorRef, Shape],
                 reads: tuple[TensorRef, ...], budget: _Budget | None = None) -> None:
        self.budget = budget or _Budget(CACHE_BYTES)
        self.budget.used += LAYER_BYTES * len(layers)
        self.layers = layers
        self.value = value
        self.shapes = shapes
        self.called = reads
        self.by_path = {layer.path: layer for layer in layers}
        self.moves: dict[Key, _Moved] = {}
        self.summarized = False

    def moved(self, reads: tuple[TensorRef, ...]) -> _Moved | None:
        """The fragment called on ``reads`` (tensors, then their buffers): None where they are the ones it was
        expanded with."""
        if reads == self.called:
            return None
        key = tuple((ref.node, ref.index) for ref in reads)
        found = self.moves.get(key)
        if found is None:
            refs = {was: now for was, now in zip(self.called, reads, strict=True) if was != now}
            layers = [replace(layer, inputs=tuple(refs.get(ref, ref) for ref in layer.inputs))
                      if any(ref in refs for ref in layer.inputs) else layer for layer in self.layers]
            value = self.value
            value = Value([refs.get(ref, ref) for ref in value.refs], list(value.names),
                          None if value.each is None else [refs.get(ref, ref) for ref in value.each])
            self.budget.used += MOVED_LAYER_BYTES * len(layers) + CONTEXT_BYTES
            found = self.moves[key] = _Moved(refs, {was.node: now.node for was, now in refs.items()}, layers, value,
                                             [(refs.get(a, a), refs.get(b, b)) for a, b in self.value_owners])
        return found

    def summarize(self, owners: Mapping[TensorRef, TensorRef], shapes: Mapping[TensorRef, Shape], width: int,
                  analyzer: FastAnalyzer | None = None) -> None:
        """Sums and liveness (``owners``: the buffer each outside tensor aliases), and whether its kernels are priced
        alone for ``analyzer``'s devices (``relocatable``)."""
        layers = self.layers
        self.sums = (sum(la.cost.params for la in layers), sum(la.cost.macs for la in layers),
                     sum(la.cost.flops for la in layers), sum(la.cost.gemm_outputs for la in layers))
        local_owner: dict[TensorRef, TensorRef] = {}

        def owner(ref: TensorRef) -> TensorRef:
            return local_owner[ref] if ref.node in self.by_path else owners[ref]

        def shape(ref: TensorRef) -> Shape:
            return self.shapes[ref] if ref in self.shapes else shapes[ref]

        born: dict[TensorRef, int] = {}
        last: dict[TensorRef, int] = {}
        outside_last: dict[TensorRef, int] = {}  # buffers of other fragments (or inputs) -> last step here
        for step, layer in enumerate(layers):
            for ref in layer.inputs:
                buffer = owner(ref)
                if buffer in born:
                    last[buffer] = max(last[buffer], step)
                else:
                    outside_last[buffer] = max(outside_last.get(buffer, 0), step)
            for k in range(len(layer.cost.outputs)):
                ref = TensorRef(layer.path, k)
                if layer.cost.is_view:
                    local_owner[ref] = owner(layer.inputs[0])
                else:
                    local_owner[ref], born[ref], last[ref] = ref, step, step
        exported = {local_owner[ref] if ref.node in self.by_path else owners[ref] for ref in self.value.refs}
        delta = np.zeros(len(layers) + 1, dtype=np.int64)
        self.handed: list[tuple[TensorRef, int, int, int]] = []  # (buffer, born, last, bytes) used outside
        for buffer, start in born.items():
            size = numel(shape(buffer)) * width
            if buffer in exported:
                self.handed.append((buffer, start, last[buffer], size))
            else:
                delta[start] += size
                delta[last[buffer] + 1] -= size
        self.live = np.cumsum(delta[:-1])
        self.reads = list(outside_last.items())
        self.value_owners = [(ref, owner(ref)) for ref in self.value.refs]
        self.handed_shapes = {ref: shape(ref) for pair in self.value_owners for ref in pair if ref.node in self.by_path}
        self.searches: dict[Key, _Search] = {}
        self.shiftable = all(any(not ref.node.startswith("input:") for ref in layer.inputs) for layer in layers)
        self.outside = tuple(dict.fromkeys(ref.node for layer in layers for ref in layer.inputs
                                           if ref.node not in self.by_path and not ref.node.startswith("input:")))
        # for the latency model: the fragment as a graph of its own whose inputs stand for the buffers it reads
        self.roots = tuple(outside_last)
        index = {buffer: k for k, buffer in enumerate(self.roots)}
        self.remap = {ref: TensorRef(f"input:{index[owners[ref]]}") for layer in layers for ref in layer.inputs
                      if ref.node not in self.by_path}
        # a partial view of an earlier buffer (a slice) is not that buffer: such fragments are not priced alone
        self.relocatable = all(numel(shape(ref)) == numel(shape(owners[ref])) for ref in self.remap)
        # each buffer read in the shape it is read in (a view of it, a flatten: the same bytes), once
        read_shapes: dict[str, Shape] = {}
        for ref, name in self.remap.items():
            if read_shapes.setdefault(name.node[len("input:"):], shape(ref)) != shape(ref):
                self.relocatable = False
        self.root_shapes = {str(k): read_shapes.get(str(k), shape(buffer)) for k, buffer in enumerate(self.roots)}
        # eager layouts (strides, copies) alone as in the candidate: what it hands on is contiguous
        if self.relocatable and analyzer is not None and analyzer.layouts and not all(
                contiguous_throughout(layers, cpu) for cpu in analyzer.layouts):
            graph = self.graph(analyzer)
            handed = [ref for ref in self.value.refs if ref.node in self.by_path]
            self.relocatable = all(layout_alone(graph, handed, cpu) for cpu in analyzer.layouts)
        kernels = [layer.path for layer in layers if not layer.cost.is_view]
        self.last_kernel = kernels[-1] if kernels else None
        # eager view calls after its last kernel (all of them without one): charged to the next kernel, in a later
        # fragment (latency.view_calls), where a profile prices them (cpu.view_us)
        self.trailing_views = 0
        for layer in layers:
            self.trailing_views = self.trailing_views + 1 if layer.cost.is_view else 0
        self.kernels: dict[Key, _Kernels] = {}
        self.summarized = True

    def price(self, analyzer: FastAnalyzer, batch: int, written: tuple[bool, ...],
              widths: tuple[int, ...], views: int = 0, before: Sequence[CpuKernel | None] = (),
              handoff: Key = ()) -> _Kernels:
        """Its kernels' busy seconds on each device, given which buffers it reads the kernel just before it wrote,
        (amp) their bytes per element, the eager view calls of earlier fragments after the last kernel (charged to
        its first kernel; those after its own last kernel are the next fragment's) and per device the CPU figures of
        that kernel (``before``, for its first kernel's cross-core handoff; empty: none known): the latency model's
        own terms of the fragment as a graph of its own, kept by these (``before`` by ``handoff``: what the handoff
        reads of it where it reads anything, :func:`_handoff`)."""
        graph = self.graph(analyzer, batch)
        fed = {str(k): w for k, w in enumerate(widths)} if widths else {}
        just_written = frozenset(str(k) for k, flag in enumerate(written) if flag)
        busy = []
        after: list[CpuKernel | None] = []
        for number, profile in enumerate(analyzer.profiles):
            boundary = Boundary(fed, just_written, views, False, before[number] if before else None)
            terms = kernel_terms(graph, profile, analyzer.dtype, DEFAULT_FUSION, analyzer.precision, boundary)
            busy.append([kernel_busy(term, profile) for term in terms])
            after.append(next((term.cpu for term in reversed(terms) if term.cpu is not None), None))
        handed: list[tuple[TensorRef, int]] = []
        if widths:
            sizes = plan(graph, analyzer.dtype, analyzer.precision, fed)
            handed = [(buffer, sizes.bytes_of((buffer.node, buffer.index))) for buffer, *_ in self.handed]
        self.budget.used += CONTEXT_BYTES
        found = self.kernels[(written, widths, views, handoff)] = _Kernels(busy, handed, tuple(after),
                                                                            analyzer.writers(after))
        return found

    def graph(self, analyzer: FastAnalyzer, batch: int | None = None) -> Graph:
        """The fragment as a graph of its own whose inputs stand for the buffers it reads (``input:K``, the K-th of
        ``roots``, in the shape it reads it); ``batch`` its batch (default: the analyzer's, else its spec's)."""
        remap = self.remap
        layers = [Layer(layer.path, layer.op, layer.attrs, tuple(remap.get(ref, ref) for ref in layer.inputs),
                        layer.input_shapes, layer.cost, layer.dtype)
                  if any(ref in remap for ref in layer.inputs) else layer for layer in self.layers]
        return Graph(self.layers[0].path, analyzer.base, batch or analyzer.batch or analyzer.base.batch,
                     Dtype(analyzer.dtype), self.root_shapes, layers, [])

    def search(self, state: dict[str, tuple[int, bool]], moved: _Moved | None) -> tuple[_Search, int]:
        """The main-path search over this fragment given the (convs, pooled) of the layers it reads (``moved``: the
        names they have here), and the convs to add to its counts. Where every layer reads another layer (not only
        graph inputs) and every count read is at least 1, each count inside is a count read plus convs inside, and
        every comparison the search makes is between such counts: the search is that of the counts read shifted
        down to a least of 1, its counts shifted back up (and its main path the same)."""
        outside = self.outside
        names = moved.nodes if moved is not None else {}
        key = tuple(state[names.get(node, node)] for node in outside)
        shift = 0
        if self.shiftable and key:
            low = min(count for count, _ in key)
            if low > 1:
                shift = low - 1
                key = tuple((count - shift, flag) for count, flag in key)
        found = self.searches.get(key)
        if found is None:
            convs = {node: value[0] for node, value in zip(outside, key, strict=True)}
            pooled = {node: value[1] for node, value in zip(outside, key, strict=True)}
            previous: dict[str, str | None] = {}
            best: tuple[int, str] | None = None
            for layer in self.layers:
                path_step(layer, convs, previous, pooled)
                if best is None or convs[layer.path] > best[0]:
                    best = (convs[layer.path], layer.path)
            self.budget.used += CONTEXT_BYTES + SEARCH_ENTRY_BYTES * len(convs)
            found = self.searches[key] = _Search(convs, previous, pooled, best)
        return found, shift

    def trace(self, search: _Search, end: str) -> tuple[list[ChainLayer], str | None]:
        """The main path's conv layers in this fragment ending at ``end`` (as the stages read them), and where it
        leaves the fragment."""
        found = search.traces.get(end)
        if found is None:
            segment, source = trace_back(end, search.convs, search.previous, self.by_path)
            found = search.traces[end] = ([chain_layer(layer) for layer in segment], source)
        return found


class _Capture:
    """The build hook of one candidate (:class:`~costmodel.graph.BuildHook`): instances served from (and added to)
    the analyzer's fragment cache.

    An op, or a call of a block that reads no varying spec variable, is a fragment. A block that reads one
    (``stage``, reading ``depths[index]``) would rarely repeat, so it is expanded as usual and its own
    instances become the fragments."""

    def __init__(self, owner: FastAnalyzer) -> None:
        self.analyzer = owner
        self.fragments: list[Fragment] = []
        self.moves: list[_Moved | None] = []  # per fragment: how the names it reads differ here
        self.owners: dict[TensorRef, TensorRef] = {}
        self.capturing = False  # expanding a fragment: everything inside belongs to it
        self.depth = 0  # transparent blocks entered
        self.resolved: dict[str, Any] = {}  # top-level texts without ``i`` -> value, for this candidate
        self.global_texts: dict[tuple[str, ...], str] = {}  # spec variables' names -> their values' repr, likewise

    def __call__(self, expansion: Expansion, call: Call) -> Value:
        if self.capturing:
            return expansion.expand(call)
        kind, name, refs = call.kind, call.name, call.refs
        if kind == "block" and self.analyzer.transparent(name):
            self.depth += 1
            try:
                return expansion.expand(call)
            finally:
                self.depth -= 1
        owners, shapes = self.owners, expansion.shapes
        for ref in refs:
            if ref not in owners:  # a graph input: its own buffer
                owners[ref] = ref
        args = self.arguments(expansion, call)
        reads = (*refs, *(owners[ref] for ref in refs))
        needs = self.analyzer.globals_of(kind, name)
        read = self.global_texts.get(needs)
        if read is None:  # the spec's variables are the candidate's: once per candidate and set of names
            read = self.global_texts[needs] = _variables_text(needs, expansion.globals)
        key = (call.path, kind, repr(name), repr(args), _signature(reads, shapes), read)
        cache = self.analyzer.fragments
        fragment = cache.get(key)
        if fragment is None:
            first = len(expansion.layers)
            self.capturing = True
            try:
                value = expansion.expand(call)
            finally:
                self.capturing = False
            layers = expansion.layers[first:]
            self.analyzer.bound()
            fragment = Fragment(layers, value, {TensorRef(la.path, k): out for la in layers
                                                for k, out in enumerate(la.cost.outputs)}, reads, self.analyzer.budget)
            cache[key] = fragment
            fragment.summarize(owners, shapes, self.analyzer.width, self.analyzer)
            moved = None
        else:  # later nodes read only the tensors it hands on (and the buffers they alias)
            moved = fragment.moved(reads)
            expansion.replay(fragment.layers if moved is None else moved.layers, fragment.handed_shapes)
        for ref, buffer in fragment.value_owners if moved is None else moved.value_owners:
            owners[ref] = buffer
        self.fragments.append(fragment)
        self.moves.append(moved)
        return fragment.value if moved is None else moved.value

    def arguments(self, expansion: Expansion, call: Call) -> dict[str, Any]:
        """The resolved attributes or arguments; at the top level a text without ``i`` is resolved once."""
        env, path = call.env, call.path
        if self.depth:
            return {name: expansion.resolve(text, env, path, name) for name, text in call.raw.items()}
        args = {}
        for field_name, text in call.raw.items():
            if isinstance(text, str) and not self.analyzer.texts.uses_i(text):
                if text not in self.resolved:
                    self.resolved[text] = expansion.resolve(text, env, path, field_name)
                args[field_name] = self.resolved[text]
            else:
                args[field_name] = expansion.resolve(text, env, path, field_name)
        return args


@dataclass
class _Walk:
    """One candidate's top-level instances: their fragments (and how the names they read differ there), the buffer
    each tensor handed on aliases, and the graph's inputs, outputs, name and batch (``graph``: the graph itself,
    when the builder ran)."""

    fragments: list[Fragment]
    moves: list[_Moved | None]
    owners: dict[TensorRef, TensorRef]
    inputs: dict[str, Shape]
    outputs: list[TensorRef]
    name: str
    batch: int
    graph: Graph | None = None
    segments: list[_Segment] | None = None  # the plan's: its fragments by top-level node


@dataclass(frozen=True)
class _PlanNode:
    """A top-level node of a chain: its path, op or block, repeat count and arguments, unresolved."""

    name: str
    kind: str
    callee_repr: str
    repeat: Any
    attributes: dict[str, Any]
    needs: tuple[str, ...]  # the spec variables its block (or its op's defaults) may read
    constant: bool  # no attribute mentions ``i``: instances without an override have equal arguments
    spec: NodeSpec
    # the texts its repeat count, arguments and overrides read, where their values decide all its instances (no
    # text names ``i``, every other value is plain): a candidate's instances are then found by their values
    # (:class:`_Segment`); None otherwise
    texts: tuple[str, ...] | None


_UNSET: Any = object()


class _Plan:
    """The top level of a spec whose nodes form a chain (each reads the one before; no ``inputs``, ``when``,
    ``parallel``, ``dtype``, dotted or automatic names, variable op or block names, transparent blocks or
    ``outputs``), compiled once: a candidate's top-level instances are then worked out as the builder works them
    out (repeat counts, per-repeat overrides, resolved arguments, the tensors each reads) and looked up in the
    fragment cache under the key :class:`_Capture` gives them, without the graph builder. Anything else, and any
    instance not in the cache, goes to the builder."""

    def __init__(self, spec: Spec, nodes: list[_PlanNode], inputs: dict[str, Shape], batch: int) -> None:
        self.spec = spec
        self.nodes = nodes
        self.inputs = inputs
        self.batch = batch
        self.first = TensorRef(f"input:{next(iter(inputs))}")
        self.namespace = Namespace({name: list(shape[1:]) for name, shape in inputs.items()})
        self.input_refs = [TensorRef(f"input:{name}") for name in inputs]

    @classmethod
    def compile(cls, spec: Spec, analyzer: FastAnalyzer) -> _Plan | None:
        """The plan of ``spec`` (which built), or None where its top level is not such a chain."""
        if spec.outputs is not None or INPUT in spec.vars or not spec.inputs or not spec.nodes:
            return None
        inputs: dict[str, Shape] = {}
        batch = analyzer.batch or spec.batch
        for name, shape in spec.inputs.items():
            dims = [d for d in shape if type(d) is int and d > 0]
            if len(dims) != len(shape):
                return None  # an input shape written as an expression
            inputs[name] = (batch, *dims)
        names: set[str] = set(inputs)
        nodes = []
        for node in spec.nodes:
            if node.name is None:
                return None
            name = node.name
            if ("." in name or name in names or node.inputs is not None or node.when is not None
                    or node.parallel or node.dtype is not None
                    or (node.repeat is None and node.overrides)):
                return None
            names.add(name)
            if node.op is not None:
                kind, callee = "op", node.op
                if callee not in REGISTRY:
                    return None
            else:
                kind, callee = "block", str(node.block)
                if callee not in spec.blocks or analyzer.transparent(callee):
                    return None
            attributes = node.attributes
            constant = "i" not in _names(attributes)
            nodes.append(_PlanNode(name, kind, repr(callee), node.repeat, attributes, analyzer.globals_of(kind, callee),
                                   constant, node, _decided_by(node)))
        return cls(spec, nodes, inputs, batch)

    def serves(self, spec: Spec) -> bool:
        """Whether ``spec`` is the plan's spec with other variables (a candidate: ``Spec.model_copy`` keeps the
        other fields' objects)."""
        base = self.spec
        return spec is base or (spec.nodes is base.nodes and spec.blocks is base.blocks
                                and spec.inputs is base.inputs and spec.defaults is base.defaults
                                and spec.outputs is base.outputs and spec.name == base.name
                                and spec.batch == base.batch)

    def walk(self, spec: Spec, analyzer: FastAnalyzer) -> _Walk | None:
        """The candidate's instances, each from the fragment cache; None at the first one that is not there (or a
        repeat count, override or layer count the builder would refuse)."""
        env: dict[str, Any] = {INPUT: self.namespace}
        room = limits.LIST_ELEMENTS.value
        bits = limits.INTEGER_BITS.value
        plain: set[str] = set()  # variables whose values are numbers and lists of them, within the limits
        for name, value in spec.vars.items():  # as the builder resolves them (``input`` is known to all)
            size = _plain_size(value, bits)
            # a value of numbers and lists (a sampled one) resolves to itself, once within the limits
            if size is not None and size <= room:
                env[name] = value
                plain.add(name)
            else:
                env[name] = resolve(value, env)
        cache = analyzer.fragments
        found = analyzer.found
        texts = analyzer.texts
        resolved: dict[str, Any] = {}
        global_texts: dict[tuple[str, ...], str] = {}
        owners: dict[TensorRef, TensorRef] = {ref: ref for ref in self.input_refs}
        shapes: dict[TensorRef, Shape] = {TensorRef(f"input:{name}"): shape for name, shape in self.inputs.items()}
        fragments: list[Fragment] = []
        moves: list[_Moved | None] = []
        refs = [self.first]
        layers = 0
        expander: _Expander | None = None

        def constant(text: str) -> Any:
            """A text without ``i``: resolved once per candidate. ``NAME`` or ``NAME[K]`` of a plain variable whose
            value there is an int is that int (what the evaluator gives: an int within the limit, untouched)."""
            found = resolved.get(text, resolved)
            if found is resolved:
                simple = texts.simple(text)
                if simple is not None and simple[0] in plain:
                    name, index = simple
                    value = env[name]
                    if index is not None:
                        value = value[index] if type(value) is list and -len(value) <= index < len(value) else None
                    if type(value) is int:
                        resolved[text] = value
                        return value
                found = resolved[text] = resolve(text, env)
            return found

        segments: list[_Segment] = []
        memo = analyzer.segments
        for position, node in enumerate(self.nodes):
            if node.repeat is None:
                count = -1
                instances: Sequence[int] = (0,)
            else:
                count = constant(node.repeat) if isinstance(node.repeat, str) and not texts.uses_i(node.repeat) \
                    else resolve(node.repeat, env)
                if type(count) is not int or repeat_refused(node.spec, count) is not None:
                    return None  # the builder says what is wrong (the plan follows plain ints only)
                instances = range(count)
            read = global_texts.get(node.needs)
            if read is None:
                read = global_texts[node.needs] = _variables_text(node.needs, env)
            segment_key: Key | None = None
            if node.texts is not None:  # its instances follow from these values and the tensors it reads
                reads = (*refs, *(owners[ref] for ref in refs))
                segment_key = (position, count, repr([constant(text) for text in node.texts]), read, bits, room,
                               reads, *(shapes[ref] for ref in reads))
                segment = memo.get(segment_key)
                if segment is not None:
                    owners.update(segment.owners)
                    shapes.update(segment.shapes)
                    fragments.extend(segment.fragments)
                    moves.extend(segment.moves)
                    segments.append(segment)
                    layers += segment.layers
                    refs = segment.out
                    continue
            kind, callee = node.kind, node.callee_repr
            first = len(fragments)
            handed: dict[TensorRef, TensorRef] = {}
            handed_shapes: dict[TensorRef, Shape] = {}
            plain_args: str | None = None  # the instances' arguments where no override and no ``i`` applies
            for i in instances:
                # as the builder's walk makes them: repeat i's path and attributes (None: the node's, and where
                # they do not name ``i`` its instances' arguments are equal)
                path = node.name if count < 0 else repeat_path(node.name, i)
                raw = None if count < 0 else repeat_attributes(node.spec, i, count)
                if raw is None and not node.constant:
                    raw = node.attributes
                if raw is None and plain_args is not None:
                    args = plain_args
                else:
                    here = env if count < 0 else {**env, "i": i}
                    values = {}
                    for field_name, text in (node.attributes if raw is None else raw).items():
                        values[field_name] = constant(text) if isinstance(text, str) and not texts.uses_i(text) \
                            else resolve(text, here)
                    args = repr(values)
                    if raw is None:
                        plain_args = args
                reads = (*refs, *(owners[ref] for ref in refs))
                # the tensors read by name and shape: a fragment found before for them (the key below implies)
                named = (path, kind, callee, args, read, reads, *(shapes[ref] for ref in reads))
                served = found.get(named)
                fragment: Fragment | None
                if served is not None:
                    fragment, moved = served
                else:
                    fragment = cache.get((path, kind, callee, args, _signature(reads, shapes), read))
                    if fragment is not None:
                        moved = fragment.moved(reads)
                        found[named] = (fragment, moved)
                        analyzer.budget.used += FOUND_BYTES
                if fragment is None:  # this instance alone through the builder (and the hook, which caches it)
                    if expander is None:
                        expander = _Expander(spec, analyzer, env, owners, shapes)
                    here = env if count < 0 else {**env, "i": i}
                    fragment, moved = expander.expand(node.spec, here, node.attributes if raw is None else raw,
                                                      path, refs)
                for ref, buffer in fragment.value_owners if moved is None else moved.value_owners:
                    owners[ref] = handed[ref] = buffer
                shapes.update(fragment.handed_shapes)
                handed_shapes.update(fragment.handed_shapes)
                fragments.append(fragment)
                moves.append(moved)
                layers += len(fragment.layers)
                refs = (fragment.value if moved is None else moved.value).refs[:1]
            # the same instances (of a node not decided by its texts, or one first seen from other values) share
            # one segment and what is composed of it
            same = (tuple((id(fragment), id(moved)) for fragment, moved in
                          zip(fragments[first:], moves[first:], strict=True)), *refs)
            segment = memo.get(same)
            if segment is None:
                if len(fragments) - first > 1 and same not in analyzer.sighted:
                    # seen once: each instance alone (mostly composed before, in other segments); a segment (and
                    # its compositions) only for instances seen again -- most first seen are never seen again early
                    # in a run, when a ResNet-like candidate meets ~3 new ones
                    analyzer.sighted.add(same)
                    analyzer.budget.add_composed(FOUND_BYTES)
                    segments.extend(map(analyzer.alone, fragments[first:], moves[first:]))
                    continue
                segment = memo[same] = _Segment(fragments[first:], moves[first:], handed, handed_shapes, list(refs))
                analyzer.budget.add_composed(SEGMENT_BYTES)
            if segment_key is not None:
                memo[segment_key] = segment
                analyzer.budget.add_composed(FOUND_BYTES)
            segments.append(segment)
        if not layers or limits.LAYERS.exceeded(layers):
            return None
        return _Walk(fragments, moves, owners, self.inputs, list(refs), spec.name, self.batch, segments=segments)


def _decided_by(node: NodeSpec) -> tuple[str, ...] | None:
    """The texts that decide a top-level node's instances (with the spec variables its callee reads and the tensors
    it reads): its repeat count's, its arguments' and its overrides'; None where a text names ``i`` or a value holds
    text inside a list (or anything but numbers, booleans and None)."""
    texts: set[str] = set()
    for value in (node.repeat, *node.attributes.values(),
                  *(value for override in node.overrides.values() for value in override.values())):
        if isinstance(value, str):
            if "i" in expression_names(value):
                return None
            texts.add(value)
        elif not _fixed(value):
            return None
    return tuple(sorted(texts))


def _fixed(value: Any) -> bool:
    """Whether ``value`` holds no text: numbers, booleans, None and lists of them (the same in every candidate)."""
    if isinstance(value, list):
        return all(_fixed(item) for item in value)
    return value is None or isinstance(value, int | float | bool)


class _Composed:
    """What a segment adds to a candidate's figures in one context (the main-path counts and pooled flags of the
    layers it reads, shifted down as :meth:`Fragment.search` shifts them; whether the kernel before wrote what it
    reads; under amp the element widths of what it reads): per fragment its search and the shift to add to it, the
    counts of the layers it hands on, its best layer, and per device its kernels' busy seconds."""

    def __init__(self) -> None:
        self.searches: list[_Search] = []
        self.shifts: list[int] = []  # per fragment: its search's shift, less the segment's
        self.state: list[tuple[str, int, bool, int]] = []  # (layer, convs less the shift, pooled, fragment)
        self.best: tuple[int, str, int] | None = None  # (convs less the shift, layer, fragment)
        self.busy: list[list[float]] = []
        self.last: str | None = None  # the layer of the last kernel it issues (None: none)
        self.widths: dict[TensorRef, int] = {}  # amp: bytes per element of the buffers it hands on
        self.shiftable = True  # it serves every shift of its key (see FastAnalyzer._composition)
        self.where: dict[str, int] = {}  # layer handed on -> its fragment
        self.traces: dict[str, tuple[list[ChainGroup], str | None]] = {}  # see FastAnalyzer._trace
        self.views = 0  # eager view calls pending after it (charged to the next kernel; see Fragment.price)
        self.after: tuple[CpuKernel | None, ...] | None = None  # per device its last kernel's CPU figures (_Kernels)
        self.writers: Key = ()  # what the next kernel's handoff reads of them (FastAnalyzer.writers)



class _Segment:
    """The instances of one top-level node of a planned candidate (their fragments and moves, the buffers and shapes
    they hand on, the tensors the next node reads), and what is composed of them once: their sums, their liveness
    (the buffers born and dying inside folded into one array), and per context (:class:`_Composed`) their main-path
    searches and kernels. The plan finds a segment by the values that decide the node's instances."""

    def __init__(self, fragments: list[Fragment], moves: list[_Moved | None], owners: dict[TensorRef, TensorRef],
                 shapes: dict[TensorRef, Shape], out: list[TensorRef]) -> None:
        self.fragments = fragments
        self.moves = moves
        self.owners = owners
        self.shapes = shapes
        self.out = out
        self.layers = sum(len(fragment.layers) for fragment in fragments)
        self.composed: dict[Key, _Composed] = {}
        self.summarized = False

    def summarize(self) -> None:
        """Sums, liveness and what the compositions are keyed by (once, when first composed)."""
        fragments, moves = self.fragments, self.moves
        sums = [0, 0, 0, 0]
        for fragment in fragments:
            for k in range(4):
                sums[k] += fragment.sums[k]
        self.sums: tuple[int, ...] = tuple(sums)
        # liveness as the candidate's composition runs it, from step 0: buffers born here and not handed on are
        # folded into ``live``; those handed on (born, last, bytes) and the last steps of those read from before
        born_here: dict[TensorRef, list[int]] = {}
        read: dict[TensorRef, int] = {}
        offset = 0
        for fragment, moved in zip(fragments, moves, strict=True):
            renamed = moved.refs if moved is not None else {}
            for buffer, step in fragment.reads:
                buffer = renamed.get(buffer, buffer)
                entry = born_here.get(buffer)
                if entry is not None:
                    entry[1] = max(entry[1], offset + step)
                else:
                    read[buffer] = max(read.get(buffer, offset + step), offset + step)
            for buffer, start, last, size in fragment.handed:
                born_here[buffer] = [offset + start, offset + last, size]
            offset += len(fragment.layers)
        kept = {self.owners.get(ref, ref) for ref in self.out}  # what later nodes (or the outputs) may read
        live = np.concatenate([fragment.live for fragment in fragments]) if fragments else np.zeros(0, np.int64)
        delta = np.zeros(offset + 1, dtype=np.int64)
        for buffer, (start, last, size) in born_here.items():
            if buffer not in kept:
                delta[start] += size
                delta[last + 1] -= size
        self.live = live + np.cumsum(delta[:-1])
        self.read: list[tuple[TensorRef, int]] = list(read.items())
        self.handed: list[tuple[TensorRef, int, int, int]] = [
            (buffer, start, last, size) for buffer, (start, last, size) in born_here.items() if buffer in kept]
        # the main-path search reads the counts of layers before the segment ...
        inside: set[str] = set()
        outside: dict[str, None] = {}
        for fragment, moved in zip(fragments, moves, strict=True):
            names = moved.nodes if moved is not None else {}
            for node in fragment.outside:
                node = names.get(node, node)
                if node not in inside:
                    outside[node] = None
            inside.update(fragment.by_path)
        self.outside = tuple(outside)
        self.shiftable = all(fragment.shiftable for fragment in fragments)
        # ... and the kernels whether the kernel before wrote the buffers read until the first kernel here, and
        # (amp) the widths of those read from before
        entering: list[TensorRef] = []
        outer: dict[TensorRef, None] = {}
        made: set[TensorRef] = set()
        issued = False
        for fragment, moved in zip(fragments, moves, strict=True):
            roots = fragment.roots if moved is None else [moved.refs.get(root, root) for root in fragment.roots]
            if not issued:
                entering.extend(roots)
            outer.update((root, None) for root in roots if root not in made)
            made.update(buffer for buffer, *_ in fragment.handed)
            issued = issued or fragment.last_kernel is not None
        self.entry = tuple(entering)
        self.entry_nodes = tuple(root.node for root in entering)  # (their layers, compared with the kernel's)
        self.unwritten = (False,) * len(entering)
        self.outer = tuple(outer)
        self.relocatable = all(fragment.relocatable for fragment in fragments)
        self.summarized = True


class _Expander:
    """The graph builder, set up for one candidate as it would be at the top level, to expand single top-level
    instances the plan does not find in the cache: through the fragment cache's hook, reading (and adding to) the
    plan's tensor shapes and buffer owners."""

    def __init__(self, spec: Spec, analyzer: FastAnalyzer, env: dict[str, Any], owners: dict[TensorRef, TensorRef],
                 shapes: dict[TensorRef, Shape]) -> None:
        self.capture = _Capture(analyzer)
        self.capture.owners = owners
        self.builder = TopLevel(spec, env, shapes, self.capture, analyzer.costs)

    def expand(self, node: NodeSpec, env: dict[str, Any], raw: dict[str, Any], path: str,
               refs: list[TensorRef]) -> tuple[Fragment, _Moved | None]:
        """The instance's fragment (and its move), as the builder's walk would have made it."""
        capture = self.capture
        capture.fragments.clear()
        capture.moves.clear()
        self.builder.instance(node, env, raw, path, refs)
        if len(capture.fragments) != 1:  # not one fragment: the plan does not follow this instance
            raise _Unplanned
        return capture.fragments[0], capture.moves[0]


class _Unplanned(Exception):
    """An instance the plan cannot follow: the builder takes the candidate."""


_SIMPLE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[\s*(-?(?:0|[1-9][0-9]{0,8}))\s*\])?\s*")


class _Texts:
    """Expression texts of a spec: the variables each names, and whether it names ``i``."""

    def __init__(self) -> None:
        self._names: dict[str, tuple[str, ...]] = {}
        self._simple: dict[str, tuple[str, int | None] | None] = {}

    def names(self, text: str) -> tuple[str, ...]:
        found = self._names.get(text)
        if found is None:
            found = self._names[text] = tuple(sorted(expression_names(text)))
        return found

    def uses_i(self, text: str) -> bool:
        return "i" in self.names(text)

    def simple(self, text: str) -> tuple[str, int | None] | None:
        """``(NAME, None)`` for a text ``NAME``, ``(NAME, K)`` for ``NAME[K]`` (K an integer), else None."""
        found = self._simple.get(text, self._simple)
        if found is self._simple:
            match = _SIMPLE.fullmatch(text)
            found = self._simple[text] = None if match is None or keyword.iskeyword(match[1]) else \
                (match[1], None if match[2] is None else int(match[2]))
        return found  # type: ignore[return-value]


def _plain_size(value: Any, bits: int) -> int | None:
    """The elements :func:`~costmodel.spec.expressions.resolve` counts in ``value`` when it is numbers, booleans,
    None and lists of them within the integer limit (it then resolves to an equal value), else None."""
    kind = type(value)
    if kind is int:
        return 1 if value.bit_length() <= bits else None
    if kind is float:
        return 1 if math.isfinite(value) else None
    if kind is bool or value is None:
        return 1
    if kind is list:
        total = 0
        for item in value:
            size = _plain_size(item, bits)
            if size is None:
                return None
            total += size
        return total or 1
    return None


class FastAnalyzer:
    """Figures of candidate specs of one base spec: a callable ``spec -> metrics`` with fragment caches."""

    def __init__(self, spec: Spec, devices: Sequence[Device], dtype: str | None, batch: int | None,
                 varying: Sequence[str] | None = None, precision: str | Precision = DEFAULT_PRECISION,
                 cache_bytes: int | None = None) -> None:
        self.base = spec
        self.varying = set(spec.vars if varying is None else varying)
        self._transparent: dict[str, bool] = {}
        self.devices = list(devices)
        self.dtype = dtype or spec.dtype
        self.batch = batch
        self.width = Dtype(self.dtype).bytes
        for device in self.devices:
            check_dtype(device.profile, self.dtype)
        self.precision = check_precision(precision, self.dtype)
        self.profiles = [threaded(device.profile) for device in self.devices]  # as estimate() runs them
        # eager view calls priced (a CPU's cpu.view_us): those after a fragment's last kernel go to a later one
        self.prices_views = DEFAULT_FUSION == Fusion.NONE and any(
            profile.cpu is not None and profile.cpu.view_us for profile in self.profiles)
        # a kernel's cross-core handoff priced (a CPU run on several cores with cpu.cross_core_ns_per_kib): a fragment's
        # first kernel's depends on the kernel before, maybe in another fragment (see handoff)
        self.handoffs = any(handoff_writer(profile, ON_ONE_CORE) is not None for profile in self.profiles)
        # the stride trackers eager layouts follow (latency.contiguity: True a CPU's, False a GPU's), which a fragment
        # priced alone must agree with (Fragment.summarize)
        self.layouts = tuple(sorted({profile.cpu is not None for profile in self.profiles
                                     if profile.cpu is not None or profile.gpu is not None})) \
            if DEFAULT_FUSION == Fusion.NONE else ()
        self.fragments: dict[Key, Fragment] = {}
        # the fragments' estimated bytes, bounded by ``cache_bytes`` (default: default_cache_bytes())
        self.budget = _Budget(default_cache_bytes() if cache_bytes is None else cache_bytes)
        self._globals: dict[tuple[str, str], tuple[str, ...]] = {}
        # per-node dtypes give buffers of several widths, which the fragments' one-width liveness does not follow
        nodes = [*spec.nodes, *(node for block in spec.blocks.values() for node in block.nodes)]
        self.mixed = any(node.dtype is not None for node in nodes)
        self.plan: _Plan | None = _UNSET  # compiled after the first candidate that builds
        self.texts = _Texts()  # the spec's expression texts (the names each reads, whether it names ``i``)
        # the plan's instances by their key with the names of the tensors they read -> fragment and its move
        self.found: dict[Key, tuple[Fragment, _Moved | None]] = {}
        self.segments: dict[Key, _Segment] = {}  # the plan's top-level nodes' instances (see _Plan.walk)
        self.sighted: set[Key] = set()  # the instances of a top-level node seen once, by the plan (see _Plan.walk)
        self.planned = 0  # candidates whose instances the plan found (the others: the builder)
        self.drops = self.composed_drops = 0  # times the whole cache, or only the segments, were dropped (bound)
        self.costs = CostCache()  # op costs, shared by the builds of new fragments (as their layers are)

    def bound(self) -> None:
        """Past its budget of bytes, the segments and their compositions go first, where they hold at least a
        quarter of it: they are composed again from the cached fragments, without the builder or the latency
        model (a ResNet-like worker meets ~3 new segments per candidate for hundreds of thousands of candidates,
        while its ~8,000 fragments, each costing a millisecond or two to expand and price, are all met within
        ~30,000 and hold ~250-300 MiB with their contexts). Otherwise the whole cache (and all that
        refers to it) is emptied: a space of endless variety starts again rather than grows. The builder's op
        costs (``self.costs``, a :class:`~costmodel.graph.CostCache`) and the latency model's per-layer terms
        are bounded on their own (their ``MAX_ENTRIES``)."""
        budget = self.budget
        if budget.used >= budget.limit:
            if budget.composed >= budget.limit // 4:
                budget.used -= budget.composed
                self.composed_drops += 1
            else:
                self.fragments.clear()
                self.found.clear()
                budget.used = 0
                self.drops += 1
            self.segments.clear()
            self.sighted.clear()
            budget.composed = 0

    @classmethod
    def for_space(cls, space: Space, devices: Sequence[Device]) -> FastAnalyzer:
        """The analyzer of ``space``'s candidates: its base spec, dtype, batch, varying variables and precision."""
        data = space.data
        return cls(space.spec, devices, data.dtype, data.batch, space.spec_vars(), data.precision)

    def globals_of(self, kind: str, name: str) -> tuple[str, ...]:
        """The spec variables an op (through its defaults) or a block (and the blocks it calls) may read."""
        found = self._globals.get((kind, name))
        if found is None:
            names: set[str] = set()
            for attrs in self.base.defaults.values():
                names |= _names(attrs)
            if kind == "block":
                names |= self._block_names(name, set())
            found = self._globals[(kind, name)] = tuple(sorted(names & set(self.base.vars)))
        return found

    def transparent(self, block: str) -> bool:
        """Whether calls of ``block`` are expanded in place (it reads a varying variable) rather than cached."""
        found = self._transparent.get(block)
        if found is None:
            found = self._transparent[block] = bool(set(self.globals_of("block", block)) & self.varying)
        return found

    def _block_names(self, name: str, seen: set[str]) -> set[str]:
        block = self.base.blocks.get(name)
        if block is None or name in seen:
            return set()
        seen.add(name)
        names = _names(block.params) | _names(block.vars)
        for node in block.nodes:
            names |= _names([node.attributes, node.repeat, node.when, node.overrides, node.op, node.block])
            if node.block is not None:
                if node.block in self.base.blocks:
                    names |= self._block_names(node.block, seen)
                else:  # a block chosen by a variable: it may be any block
                    for other in self.base.blocks:
                        names |= self._block_names(other, seen)
        return names - set(block.params) - set(block.vars) - {"i"}  # bound in the block, not read from the spec

    def __call__(self, spec: Spec) -> Metrics:
        if self.mixed:  # explicit mixed precision: the full analyzer's figures
            from .evaluate import reference_metrics

            return reference_metrics(spec, self.devices, self.dtype, self.batch, self.precision)
        self.bound()  # segments and their compositions grow the cache too, with no new fragment
        walk = self._planned(spec)
        if walk is None:  # the builder, through the fragment cache
            builder = _Capture(self)
            graph = build_graph(spec, batch=self.batch, hook=builder, costs=self.costs)
            walk = _Walk(builder.fragments, builder.moves, builder.owners, graph.inputs, graph.outputs, graph.name,
                         graph.batch, graph)
            if self.plan is _UNSET:  # the spec built: its top level compiled once (None: not a chain it follows)
                self.plan = _Plan.compile(spec, self)
        return self._compose(spec, walk)

    def _planned(self, spec: Spec) -> _Walk | None:
        """The candidate's top-level instances found in the fragment cache by the plan, without the builder; None
        when there is no plan for this spec or an instance is not cached (or anything is unusual: the builder then
        runs, and raises what it raises)."""
        plan = self.plan
        if not isinstance(plan, _Plan) or not plan.serves(spec):
            return None
        try:
            walk = plan.walk(spec, self)
        except Exception:  # noqa: BLE001 - the builder runs the candidate again, and raises what it raises
            return None
        self.planned += walk is not None
        return walk

    def _compose(self, spec: Spec, walk: _Walk) -> Metrics:
        """The candidate's figures from its segments, in order: the plan's (a top-level node's instances, or each
        instance alone where the node is new), or, from the builder, each fragment alone."""
        segments = walk.segments
        if segments is None:
            segments = [self.alone(fragment, moved) for fragment, moved in zip(walk.fragments, walk.moves, strict=True)]
        for segment in segments:
            if not segment.summarized:
                segment.summarize()
        return self._compose_segments(spec, walk, segments)

    def alone(self, fragment: Fragment, moved: _Moved | None) -> _Segment:
        """The segment of one fragment (so placed), kept while the fragment is."""
        key = ("alone", id(fragment), id(moved))
        found = self.segments.get(key)
        if found is None:
            value = fragment.value if moved is None else moved.value
            found = self.segments[key] = _Segment(
                [fragment], [moved], dict(fragment.value_owners if moved is None else moved.value_owners),
                fragment.handed_shapes, list(value.refs))
            self.budget.add_composed(SEGMENT_BYTES)
        return found

    def _compose_segments(self, spec: Spec, walk: _Walk, segments: list[_Segment]) -> Metrics:
        """The candidate's figures from its segments, in order (the same integers as the full analyzer's; its
        kernels' busy seconds in the same order, through the same timeline). Where a fragment reads part of an
        earlier buffer (a slice: not ``relocatable``), its kernels cannot be priced alone: the candidate's latency
        is the latency model's on its whole graph."""
        priced = all(segment.relocatable for segment in segments)
        amp = priced and self.precision is Precision.AMP
        buffers: dict[TensorRef, list[int]] = {}  # buffer -> [born, last, bytes], for buffers used across segments
        widths: dict[TensorRef, int] = {}
        fed = input_bytes(self.dtype, self.precision)
        for name, shape in walk.inputs.items():
            buffers[TensorRef(f"input:{name}")] = [0, 0, numel(shape) * self.width]
            if amp:
                widths[TensorRef(f"input:{name}")] = fed
        params = macs = flops = activations = 0
        state: dict[str, tuple[int, bool]] = {}
        composed_here: list[_Composed] = []
        best: tuple[int, str, int, int] | None = None  # (most convs, first layer with it, its segment, fragment)
        busy: list[list[float]] = [[] for _ in self.devices]
        last: str | None = None  # the layer of the kernel issued last
        before: tuple[CpuKernel | None, ...] = ()  # per device its CPU figures (empty: none issued)
        writers: Key = ()  # what a handoff reads of them (FastAnalyzer.writers)
        views = 0  # eager view calls since it (charged to the next kernel, where a profile prices them)
        offset = 0
        for number, segment in enumerate(segments):
            p, m, f, a = segment.sums
            params += p
            macs += m
            flops += f
            activations += a
            for buffer, step in segment.read:
                entry = buffers[buffer]
                entry[1] = max(entry[1], offset + step)
            for buffer, born, end, size in segment.handed:
                buffers[buffer] = [offset + born, offset + end, size]
            key = tuple(map(state.__getitem__, segment.outside))
            shift = 0
            if segment.shiftable and key:  # as Fragment.search shifts the counts read (see _composition)
                low = key[0][0] if len(key) == 1 else min(count for count, _ in key)
                if low > 1:
                    shift = low - 1
                    key = tuple((count - shift, flag) for count, flag in key)
            if priced:
                written = segment.unwritten if last is None else tuple(map(last.__eq__, segment.entry_nodes))
                read = tuple(widths[root] for root in segment.outer) if amp else ()
            else:  # (not priced: compositions without kernels)
                written, read = (), None
            context: Key = (key, written, read, views, _handoff(writers, written))
            composed = segment.composed.get(context)
            if composed is None:
                composed = self._composition(segment, key, last, widths, walk.batch, views, priced, before, writers)
                segment.composed[context] = composed
                self.budget.add_composed(COMPOSED_BYTES + COMPOSED_DEVICE_BYTES * len(self.devices))
            if shift and not composed.shiftable:  # counts read below 1 inside: this shift composed apart
                context = (tuple(state[node] for node in segment.outside), written, read, views, context[4], None)
                composed = segment.composed.get(context)
                if composed is None:
                    composed = self._composition(segment, context[0], last, widths, walk.batch, views, priced,
                                                 before, writers)
                    segment.composed[context] = composed
                    self.budget.add_composed(COMPOSED_BYTES + COMPOSED_DEVICE_BYTES * len(self.devices))
                shift = 0
            composed_here.append(composed)
            for node, convs, pooled, _ in composed.state:
                state[node] = (convs + shift, pooled)
            found = composed.best
            if found is not None and (best is None or found[0] + shift > best[0]):
                best = (found[0] + shift, found[1], number, found[2])
            for into, seconds in zip(busy, composed.busy, strict=True):
                into.extend(seconds)
            if amp:
                widths.update(composed.widths)
            if composed.last is not None:
                last = composed.last
            if composed.after is not None:
                before, writers = composed.after, composed.writers
            views = composed.views
            offset += segment.layers
        for ref in walk.outputs:
            buffers[walk.owners.get(ref, ref)][1] = offset - 1
        out: Metrics = {"params": params, "macs": macs, "flops": flops, "activations": activations,
                        "peak_memory": _peak([segment.live for segment in segments], buffers, offset)}
        out["entropy"], out["effectiveness"] = self._score_segments(segments, composed_here, best, walk.name)
        # views after the last kernel are charged to it: such a candidate is priced whole, as one not relocatable
        latencies = [model_seconds(seconds, profile) for seconds, profile in zip(busy, self.profiles, strict=True)] \
            if priced and not views else self._whole(spec, walk) if self.devices else []
        for device, latency in zip(self.devices, latencies, strict=True):
            out[f"latency.{device.label}"] = latency
            out[f"throughput.{device.label}"] = walk.batch / latency if latency else 0.0
        return out

    def _composition(self, segment: _Segment, key: tuple[tuple[int, bool], ...], last: str | None,
                     widths: dict[TensorRef, int], batch: int, views: int = 0, priced: bool = True,
                     before: tuple[CpuKernel | None, ...] = (), writers: Key = ()) -> _Composed:
        """What ``segment`` adds given the (convs, pooled) ``key`` of the layers it reads (shifted down), the layer
        of the kernel issued before it (``before``: per device its CPU figures, ``writers`` what a handoff reads of
        them) and (amp) the widths of the buffers
        (updated with those it hands on), as :meth:`_compose` and :meth:`_latency` add it fragment by fragment.

        Shifted counts: where each fragment's own search is shifted (:meth:`Fragment.search`: its layers read
        layers, the least count it reads is at least 1), adding ``d`` to the counts the segment reads adds ``d`` to
        every count its fragments read, so each finds the same search shifted by ``d`` more, and every count and
        comparison here moves by ``d``: a composition serves all shifts of its key. Where a fragment reads a count
        below 1 (or none) it does not (``shiftable`` False: such a candidate is composed with its own counts)."""
        composed = _Composed()
        composed.shiftable = segment.shiftable
        state = dict(zip(segment.outside, key, strict=True))
        amp = priced and self.precision is Precision.AMP
        busy: list[list[float]] = [[] for _ in self.devices]
        best = composed.best
        for index, (fragment, moved) in enumerate(zip(segment.fragments, segment.moves, strict=True)):
            names = moved.nodes if moved is not None else {}
            counts = [state[names.get(node, node)][0] for node in fragment.outside]
            if not counts or min(counts) < 1:
                composed.shiftable = False
            search, shift = fragment.search(state, moved)
            composed.searches.append(search)
            for ref in fragment.value.refs:
                if ref.node in fragment.by_path:
                    state[ref.node] = (search.convs[ref.node] + shift, search.pooled[ref.node])
                    composed.state.append((ref.node, search.convs[ref.node] + shift, search.pooled[ref.node], index))
                    composed.where[ref.node] = index
            if search.best is not None and (best is None or search.best[0] + shift > best[0]):
                best = (search.best[0] + shift, search.best[1], index)
            if self.devices and priced:
                roots = fragment.roots if moved is None else [moved.refs.get(root, root) for root in fragment.roots]
                written = tuple(root.node == last for root in roots)
                read = tuple(widths[root] for root in roots) if amp else ()
                pending = views if fragment.last_kernel is not None else 0
                handoff = _handoff(writers, written)
                kernels = fragment.kernels.get((written, read, pending, handoff)) or \
                    fragment.price(self, batch, written, read, pending, before, handoff)
                for into, seconds in zip(busy, kernels.busy, strict=True):
                    into.extend(seconds)
                if amp:
                    widths.update(kernels.handed)
                    composed.widths.update(kernels.handed)
                if fragment.last_kernel is not None:
                    before = composed.after = kernels.after
                    writers = composed.writers = kernels.writers
            if fragment.last_kernel is not None:
                last = composed.last = fragment.last_kernel
            views = self._views_after(fragment, views)
        composed.views = views
        composed.best = best
        composed.busy = busy
        return composed

    @staticmethod
    def _score_segments(segments: Sequence[_Segment], composed: Sequence[_Composed],
                        best: tuple[int, str, int, int] | None, name: str) -> tuple[float, float]:
        """DeepMAD's figures from the main path traced back from its best layer segment by segment (each segment's
        part of the path, in runs of one group, kept per composition and end): :meth:`_score`'s stages."""
        parts: list[list[ChainGroup]] = []
        if best is not None:
            end: str | None = best[1]
            number, index = best[2], best[3]
            while end is not None:
                groups, end = FastAnalyzer._trace(segments[number], composed[number], end, index)
                parts.append(groups)
                if end is not None:  # a layer handed on by an earlier segment
                    number -= 1
                    while end not in composed[number].where:
                        if number == 0:
                            raise KeyError(end)
                        number -= 1
                    index = composed[number].where[end]
        try:
            result = score(merge_groups([group for groups in reversed(parts) for group in groups], name))
        except DesignError:
            return math.nan, math.nan
        return result.entropy, result.rho

    @staticmethod
    def _trace(segment: _Segment, composed: _Composed, end: str, index: int) -> tuple[list[ChainGroup], str | None]:
        """The main path's part in ``segment`` (composed as ``composed``) ending at layer ``end`` of its fragment
        ``index``, in runs of one group, and the layer before the segment where it leaves (:meth:`_score`'s walk)."""
        found = composed.traces.get(end)
        if found is None:
            chain: list[ChainLayer] = []
            start = end
            at: str | None = end
            while at is not None:
                moved = segment.moves[index]
                piece, at = segment.fragments[index].trace(composed.searches[index], at)
                if at is not None and moved is not None:
                    at = moved.nodes.get(at, at)
                chain[:0] = piece
                if at is None or at not in composed.where:
                    break
                index = composed.where[at]
            found = composed.traces[start] = (chain_groups(chain), at)
        return found

    def writers(self, after: Sequence[CpuKernel | None]) -> Key:
        """Per device what :func:`~costmodel.latency.cpu.handoff_seconds` reads of the CPU figures ``after`` of a
        kernel (the last a fragment issues) when it is the writer; empty where no device prices a handoff."""
        if not self.handoffs:
            return ()
        return tuple(handoff_writer(profile, cpu) for profile, cpu in zip(self.profiles, after, strict=True))

    def _views_after(self, fragment: Fragment, views: int) -> int:
        """The eager view calls pending after ``fragment`` (``views`` before it), where a device prices them."""
        if not self.prices_views:
            return 0
        return fragment.trailing_views + (views if fragment.last_kernel is None else 0)

    def _whole(self, spec: Spec, walk: _Walk) -> list[float]:
        """Latency per device by the latency model on the candidate's whole graph."""
        graph = walk.graph
        if graph is None:  # the plan found the fragments: the builder makes the graph (from the cache)
            graph = build_graph(spec, batch=self.batch, hook=_Capture(self), costs=self.costs)
        return [estimate(graph, device.profile, dtype=self.dtype, precision=self.precision).summary.latency_s
                for device in self.devices]


def _handoff(writers: Key, written: tuple[bool, ...]) -> Key:
    """What the first kernel of a fragment (or segment) takes from the kernel before it, for the keys of their caches:
    ``writers`` (:meth:`FastAnalyzer.writers` of that kernel), or nothing where that kernel wrote none of the buffers it
    reads (``written``): its first kernel then reads nothing that kernel left in the cache (an input read through a
    cast is read from the cast kernel's copy, issued just before it), and no handoff is priced."""
    return writers if writers and True in written else ()


def default_cache_bytes() -> int:
    """An evaluator's cache budget on this machine: a quarter of its memory (or of the cgroup's limit, in a container)
    shared by one worker per CPU this process may use, between :data:`CACHE_BYTES` and :data:`MAX_CACHE_BYTES`
    (512 MiB to 2 GiB). A long sweep keeps filling it (a ResNet-like worker: ~150 MiB more per 16,384 candidates
    for its first 50,000, its candidates per CPU-second rising as segments recur: docs/sweep.md), so the more it may
    hold, the faster a long run gets; the estimate tracks the worker's resident memory (~1.04x)."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return CACHE_BYTES
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            memory = min(memory, int(limit))
    except OSError:
        pass
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(CACHE_BYTES, min(MAX_CACHE_BYTES, memory // (4 * cpus)))


def _peak(lives: Sequence[np.ndarray], buffers: Mapping[TensorRef, list[int]], steps: int) -> int:
    """The most bytes live at a step: the pieces' own live bytes, in order, plus the buffers used across them."""
    if not steps:
        return 0
    live = np.concatenate(lives)
    delta = np.zeros(steps + 1, dtype=np.int64)
    for born, last, size in buffers.values():
        delta[born] += size
        delta[last + 1] -= size
    live += np.cumsum(delta[:-1])
    return int(live.max())


def _signature(reads: Sequence[TensorRef], shapes: Mapping[TensorRef, Shape]) -> Key:
    """The tensors an instance reads (and the buffers they alias), for its cache key: by shape and by how they
    coincide (a tensor, or the node, seen before in the list), not by name; graph inputs by name (the main-path
    search starts afresh at them). The builder's hook and the plan key instances with this one function."""
    ids: dict[tuple[str, int], int] = {}
    nodes: dict[str, int] = {}
    return tuple((ids.setdefault((ref.node, ref.index), len(ids)),
                  ref.node if ref.node.startswith("input:") else nodes.setdefault(ref.node, len(nodes)),
                  ref.index, shapes[ref]) for ref in reads)


def _variables_text(names: Sequence[str], env: Mapping[str, Any]) -> str:
    """The values of the spec variables ``names`` in ``env``, for a cache key: repr is type-exact (1, 1.0 and True
    differ) and cheaper than a hashable copy of nested lists."""
    return repr([env.get(n) for n in names])


def _names(value: Any) -> set[str]:
    """Names every expression string inside ``value`` mentions."""
    if isinstance(value, str):
        return set(expression_names(value))
    if isinstance(value, list | tuple):
        return set().union(*(_names(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(_names(v) for v in value.values())) if value else set()
    return set()
