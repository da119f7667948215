"""ONNX -> spec: turn an ``.onnx`` file into a flat costmodel spec (YAML) that ``costmodel analyze`` reads.

Steps: load and check the model; fix the batch dimension (symbolic batch -> ``batch``, default 1); fold
constants (initializers, ``Constant`` nodes, ``Shape`` of statically shaped tensors and every node whose inputs
are all constant, evaluated by ``onnx.reference``) alternating with ONNX shape inference until nothing changes;
map the remaining nodes to registry ops (:mod:`costmodel.bridges.onnx_ops`); name the nodes after the ONNX
nodes; build the spec's graph and check every shape against ONNX's. Unsupported ops are all listed in one
:class:`~costmodel.errors.BridgeError`. See docs/onnx-import.md.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import yaml

from .. import limits
from ..errors import BridgeError, UserError, shown
from .common import first_line, unique_name

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np
    import onnx

    from .onnx_ops import OnnxGraph, SpecNode

ONNX_INSTALL_HINT = "ONNX import needs the onnx package: pip install 'costmodel[onnx]'"
SMALL_CONST = 4096  # constants up to this many elements go to shape inference by value (shape vectors, scalars)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # the C emitter: 20,000 node lines in a second
MAX_ROUNDS = 20  # fold / infer rounds; each round folds at least one more node or stops


def require_onnx() -> ModuleType:
    """The ``onnx`` module, or a :class:`BridgeError` saying how to install it."""
    try:
        import onnx
        import onnx.reference  # noqa: F401  (the constant folder's evaluator)
    except ImportError:
        raise BridgeError(ONNX_INSTALL_HINT) from None
    return onnx


def load_model(path: Path) -> onnx.ModelProto:
    """Read and check an ONNX file; a missing file or one that is not ONNX is a BridgeError."""
    onnx = require_onnx()
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BridgeError(f"cannot read ONNX model: {exc.strerror or exc}", file=file) from None
    try:
        model = onnx.load_model_from_string(data)
        onnx.checker.check_model(file)  # by path: the checker reads the file itself, no re-serialisation
    except Exception as exc:  # protobuf DecodeError, ValidationError: anything here means "not a model"
        first = first_line(exc)
        raise BridgeError(f"not a valid ONNX model ({first})", file=file) from None
    if not model.graph.node:
        raise BridgeError("the ONNX graph has no nodes", file=file)
    if not model.graph.output:
        raise BridgeError("the ONNX graph has no outputs", file=file)
    return model


# ---- inputs, constant folding and shape inference ---------------------------------------------------


def _graph_inputs(model: onnx.ModelProto, batch: int | None, file: str) -> tuple[dict[str, tuple[int, ...]], int]:
    """Activation inputs with static shapes (a symbolic batch dim becomes ``batch``), and the batch size."""
    initializers = {t.name for t in model.graph.initializer}
    shapes: dict[str, tuple[int, ...]] = {}
    batches: set[int] = set()
    for value in model.graph.input:
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        if not value.type.HasField("tensor_type") or not dims:
            raise BridgeError(f"input {value.name!r} is not a tensor with a known rank", file=file)
        shape = []
        for axis, dim in enumerate(dims):
            if dim.HasField("dim_value") and (axis or batch is None):
                shape.append(int(dim.dim_value))
            elif axis == 0:
                shape.append(batch or 1)
            else:
                raise BridgeError(f"input {value.name!r} has a symbolic dimension {dim.dim_param or '?'!r} at axis "
                                f"{axis}; export with static shapes (only the batch may be dynamic)", file=file)
        batches.add(shape[0])
        shapes[value.name] = tuple(shape)
    if not shapes:
        raise BridgeError("the ONNX graph has no inputs (other than weights): nothing to run it on", file=file)
    if len(batches) > 1:
        raise BridgeError(f"inputs disagree on the batch size: {sorted(batches)}", file=file)
    return shapes, batches.pop()


def _infer_shapes(model: onnx.ModelProto, nodes: list[onnx.NodeProto], consts: dict[str, np.ndarray],
                  inputs: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """ONNX shape inference over ``nodes``: small constants by value, large ones by type only."""
    onnx = require_onnx()
    from onnx import helper, numpy_helper

    used = {name for node in nodes for name in node.input if name in consts}
    small = [numpy_helper.from_array(consts[n], n) for n in used if consts[n].size <= SMALL_CONST]
    large = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(consts[n].dtype), consts[n].shape)
             for n in used if consts[n].size > SMALL_CONST]
    elem = {v.name: v.type.tensor_type.elem_type for v in model.graph.input}
    graph_inputs = [helper.make_tensor_value_info(n, elem.get(n, 1), s) for n, s in inputs.items()] + large
    outputs = [helper.make_empty_tensor_value_info(o.name) for o in model.graph.output]
    graph = helper.make_graph(nodes, "infer", graph_inputs, outputs, small)
    probe = helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)
    probe.functions.extend(model.functions)
    inferred = onnx.shape_inference.infer_shapes(probe, strict_mode=False, data_prop=True)
    shapes: dict[str, tuple[int, ...]] = dict(inputs)
    for value in [*inferred.graph.value_info, *inferred.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if value.type.tensor_type.HasField("shape") and all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = tuple(int(d.dim_value) for d in dims)
    return shapes


def _evaluate(node: onnx.NodeProto, consts: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]],
              opset: int) -> list[np.ndarray] | None:
    """The outputs of a node whose value is known before any input arrives, else None."""
    import numpy as np
    from onnx.reference import ReferenceEvaluator

    if node.op_type == "Constant":
        return [_constant_value(node)]
    if node.op_type in ("Shape", "Size") and node.input[0] in shapes:
        shape = shapes[node.input[0]]
        if node.op_type == "Size":
            return [np.array(int(np.prod(shape)), dtype=np.int64)]
        start = end = None
        for a in node.attribute:
            start = a.i if a.name == "start" else start
            end = a.i if a.name == "end" else end
        return [np.array(shape[start:end], dtype=np.int64)]
    inputs = [name for name in node.input if name]
    if not inputs or any(name not in consts for name in inputs) or node.domain not in ("", "ai.onnx"):
        return None
    size = _folded_size(node, consts, shapes)
    too_big = limits.ONNX_CONSTANT_ELEMENTS.exceeded(size) if size is not None else None
    if too_big:
        raise BridgeError(f"node {shown(node.name or node.op_type, 60)} ({node.op_type}): {too_big}")
    try:
        evaluator = ReferenceEvaluator(node, opsets={"": opset})
        return [np.asarray(v) for v in evaluator.run(None, {name: consts[name] for name in inputs})]
    except Exception:  # no reference implementation (or a bad node): left in the graph, mapped or reported
        return None


def _check_ranges(nodes: list[onnx.NodeProto], consts: dict[str, np.ndarray]) -> None:
    """Refuse a ``Range`` of known bounds longer than limits.ONNX_CONSTANT_ELEMENTS before shape inference sees it."""
    known = dict(consts)
    for node in nodes:
        if node.op_type == "Constant" and node.attribute:
            try:
                known[node.output[0]] = _constant_value(node)
            except Exception:  # noqa: BLE001, S112 - a bad constant is reported by inference, not here
                continue
        elif node.op_type == "Range" and all(name in known for name in node.input[:3]):
            size = _folded_size(node, known, {})
            too_big = limits.ONNX_CONSTANT_ELEMENTS.exceeded(size) if size is not None else None
            if too_big:
                raise BridgeError(f"node {shown(node.name or node.op_type, 60)} (Range): {too_big}")


def _folded_size(
    node: onnx.NodeProto, consts: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]]
) -> float | None:
    """Elements a folded node would produce, estimated before evaluating it (``Range(0, 1e12)`` would fill the
    memory); None when unknown and presumably small."""
    import numpy as np

    known = [shapes[name] for name in node.output if name in shapes]
    if known:
        return float(max(np.prod(shape, dtype=np.float64) for shape in known))
    values = [consts[name] for name in node.input if name]
    try:
        if node.op_type == "Range" and len(values) == 3:
            start, limit, delta = (float(np.asarray(v).reshape(-1)[0]) for v in values)
            return max(0.0, (limit - start) / delta) if delta else 0.0
        if node.op_type in ("ConstantOfShape", "Expand") and values:
            return float(np.prod(np.asarray(values[-1], dtype=np.float64)))
        if node.op_type == "Tile" and len(values) == 2:
            return float(np.prod(np.asarray(values[1], dtype=np.float64))) * float(values[0].size)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    return None


def _constant_value(node: onnx.NodeProto) -> np.ndarray:
    import numpy as np
    from onnx import helper, numpy_helper

    a = node.attribute[0]
    value = helper.get_attribute_value(a)
    if a.name in ("value", "sparse_value"):
        return numpy_helper.to_array(value)
    dtypes = {"value_float": np.float32, "value_floats": np.float32, "value_int": np.int64, "value_ints": np.int64}
    return np.array(value, dtype=dtypes.get(a.name))


def _live(nodes: list[onnx.NodeProto], outputs: Iterable[str]) -> list[onnx.NodeProto]:
    """The nodes some graph output depends on, in their order."""
    needed = set(outputs)
    keep = []
    for node in reversed(nodes):
        if any(name in needed for name in node.output):
            keep.append(node)
            needed.update(name for name in node.input if name)
    return keep[::-1]


def _normalize(nodes: list[onnx.NodeProto]) -> None:
    """Fix what exporters write outside the ONNX spec: negative Transpose perms (PyTorch's permute(0, -1, 1, 2))."""
    from onnx import helper

    for node in nodes:
        for index, a in enumerate(node.attribute):
            if node.op_type == "Transpose" and a.name == "perm" and any(p < 0 for p in a.ints):
                perm = [p % len(a.ints) for p in a.ints]
                node.attribute[index].CopyFrom(helper.make_attribute("perm", perm))


def fold(model: onnx.ModelProto, batch: int | None = None, file: str = "") -> tuple[OnnxGraph, int]:
    """Constant-fold and shape-infer ``model`` into an :class:`OnnxGraph`; returns it and the batch size."""
    from onnx import numpy_helper

    from .onnx_ops import OnnxGraph

    inputs, batch_size = _graph_inputs(model, batch, file)
    consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    # the float initializers (parameters, or persistent buffers) behind every constant; Constant nodes have none
    sources: dict[str, frozenset[str]] = {n: frozenset({n}) if v.dtype.kind == "f" else frozenset()
                                          for n, v in consts.items()}
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    outputs = [o.name for o in model.graph.output]
    nodes = _live(list(model.graph.node), outputs)
    _normalize(nodes)
    shapes: dict[str, tuple[int, ...]] = {}
    try:
        for _ in range(MAX_ROUNDS):
            _check_ranges(nodes, consts)  # ONNX's data propagation would materialise them
            shapes = _infer_shapes(model, nodes, consts, inputs)
            left = []
            for node in nodes:
                values = _evaluate(node, consts, shapes, opset)
                if values is None:
                    left.append(node)
                else:
                    consts.update(zip(node.output, values, strict=False))
                    behind = frozenset().union(*(sources.get(n, frozenset()) for n in node.input if n))
                    sources.update((name, behind) for name in node.output)
            done = len(left) == len(nodes)
            nodes = _live(left, outputs)
            if done:
                break
    except UserError as exc:  # a limit: the folded constant would be too big
        raise exc.located(file=file) from None
    except Exception as exc:  # inference or evaluation failed: the model is inconsistent
        first = first_line(exc)
        raise BridgeError(f"ONNX shape inference or constant folding failed: {shown(first, 300)[1:-1]}",
                          file=file) from None
    constant_outputs = [o for o in outputs if o in consts]
    if constant_outputs:
        raise BridgeError(f"output {constant_outputs[0]!r} does not depend on any input", file=file)
    unknown = [n for node in nodes for n in node.output if n and n not in shapes]
    if unknown:
        producer = next(node for node in nodes if unknown[0] in node.output)
        raise BridgeError(f"ONNX shape inference left {unknown[0]!r} (node {producer.name or producer.op_type}) "
                          "without a static shape; export with static input shapes", file=file)
    return OnnxGraph(nodes, consts, shapes, list(inputs), outputs, sources), batch_size


# ---- names --------------------------------------------------------------------------------------------


def _clean(text: str) -> str:
    """Characters a spec name may hold: letters, digits, ``_`` and ``.`` (path separator, for --depth)."""
    text = re.sub(r"[^A-Za-z0-9_.]+", "_", text)
    return re.sub(r"\.{2,}", ".", text).strip("._")


def scope_and_leaf(onnx_name: str) -> tuple[str, str]:
    """``/layer1/layer1.0/conv1/Conv`` -> (``layer1.0.conv1``, ``Conv``); a name without ``/`` is all scope."""
    if "/" not in onnx_name:
        return _clean(onnx_name), ""
    *scopes, leaf = [part for part in onnx_name.split("/")]
    path = ""
    for part in (p for p in scopes if p):
        path = part if path and part.startswith(path + ".") else f"{path}.{part}" if path else part
    return _clean(path), _clean(leaf)


def assign_names(specs: list[SpecNode], taken: Iterable[str]) -> list[str]:
    """Spec names from ONNX node names: the module path when one node comes from it, else path.leaf."""
    parts = [scope_and_leaf(s.source) for s in specs]
    per_scope = Counter(scope for scope, _ in parts)
    used = set(taken)
    names = []
    for spec, (scope, leaf) in zip(specs, parts, strict=True):
        leaf = spec.leaf or leaf or spec.op
        base = scope if scope and per_scope[scope] == 1 else \
            ".".join(p for p in (scope, leaf) if p) or spec.op
        if base[0].isdigit():
            base = f"{spec.op}_{base}"
        names.append(unique_name(base, used))
    return names


# ---- the spec -----------------------------------------------------------------------------------------


def _unsupported_error(unsupported: dict[str, list[tuple[str, str]]], file: str) -> BridgeError:
    """All unsupported op types in one line: type (count, first: node[: reason])."""
    items = []
    for op_type in sorted(unsupported):
        nodes = unsupported[op_type]
        name, reason = nodes[0]
        items.append(f"{op_type} ({len(nodes)}, first: {name}{': ' + reason if reason else ''})")
    n = len(unsupported)
    return BridgeError(f"{n} unsupported ONNX op type{'s' if n > 1 else ''}: {', '.join(items)}", file=file)


def onnx_to_spec(path: Path, name: str | None = None, batch: int | None = None, *,
                 allow_opaque: bool = False) -> dict[str, Any]:
    """The spec (a dict ready for YAML) of the ONNX model at ``path``; ``batch`` fixes a dynamic batch dim.

    Unsupported ops are a :class:`SpecError` listing them all, unless ``allow_opaque``: then each becomes an
    explicit ``opaque`` node (ONNX's shapes, zero MACs and FLOPs), and a warning line says how many.
    """
    from .onnx_batch import batch_first
    from .onnx_patterns import map_graph

    file = str(path)
    model = load_model(path)
    graph, batch_size = fold(model, batch, file)
    graph = batch_first(graph, batch_size)
    mapping = map_graph(graph, allow_opaque, batch_size)
    if mapping.unsupported and not allow_opaque:
        raise _unsupported_error(mapping.unsupported, file)
    input_names = assign_names_inputs(graph.inputs)
    names = assign_names(mapping.nodes, input_names.values())
    refs: dict[str, str] = dict(input_names)
    nodes: list[dict[str, Any]] = []
    for spec, node_name in zip(mapping.nodes, names, strict=True):
        try:
            inputs = [refs[t] for t in spec.inputs]
        except KeyError as exc:  # a mapper read a tensor nothing produces: a bug, reported, never written
            raise BridgeError(f"node {spec.source!r} reads {exc.args[0]!r}, which no mapped node produces",
                            file=file) from None
        for k, tensor in enumerate(spec.outputs):
            refs[tensor] = node_name if len(spec.outputs) == 1 else f"{node_name}:{k}"
        nodes.append({"name": node_name, "op": spec.op, "inputs": inputs, **spec.attrs})
    folded = folded_batch_norms(model)
    spec_dict: dict[str, Any] = {
        "name": name or _clean(Path(path).stem) or "model",
        "description": f"Imported from {Path(path).name} by costmodel import",
        "metadata": {"source": Path(path).name, **({"bn_folded": folded} if folded else {})},
        "inputs": {input_names[n]: list(graph.shape(n)[1:]) for n in graph.inputs},
    }
    if batch_size != 1:
        spec_dict["batch"] = batch_size
    spec_dict["nodes"] = nodes
    if len(graph.outputs) > 1 or refs[graph.outputs[0]] != nodes[-1]["name"]:
        spec_dict["outputs"] = [refs[o] for o in graph.outputs]
    _check_shapes(spec_dict, mapping.nodes, names, graph, file)
    return spec_dict


def folded_batch_norms(model: onnx.ModelProto) -> int:
    """Convolutions whose weight the exporter made (``onnx::Conv_14``, not a parameter name such as
    ``layer1.0.conv1.weight``): PyTorch's exporter in eval mode folds a following BatchNorm into them."""
    names = {t.name for t in model.graph.initializer}
    return sum(1 for node in model.graph.node if node.op_type in ("Conv", "ConvTranspose") and len(node.input) > 1
               and node.input[1] in names and node.input[1].startswith("onnx::"))


def assign_names_inputs(inputs: Iterable[str]) -> dict[str, str]:
    """Spec input names for the ONNX graph inputs (``input.1`` -> ``input_1``)."""
    names: dict[str, str] = {}
    for onnx_name in inputs:
        base = _clean(onnx_name.replace(".", "_")) or "input"
        base = f"input_{base}" if base[0].isdigit() else base
        name, k = base, 1
        while name in names.values():
            name, k = f"{base}_{k}", k + 1
        names[onnx_name] = name
    return names


def _check_shapes(spec_dict: dict[str, Any], specs: list[SpecNode], names: list[str], graph: OnnxGraph,
                  file: str) -> None:
    """Build the spec's graph and compare every output shape with ONNX's: a mapping slip never goes unseen."""
    from ..graph import build_graph
    from ..graph.build import TensorRef
    from ..spec import parse_spec

    built = build_graph(parse_spec(spec_dict, file), file=file)
    for spec, node_name in zip(specs, names, strict=True):
        for k, tensor in enumerate(spec.outputs):
            if tensor in graph.shapes and "#" not in tensor:
                ours = built.shape(TensorRef(node_name, k))
                if tuple(ours) != graph.shapes[tensor]:
                    raise BridgeError(f"imported node {node_name!r} ({spec.op}) has shape {list(ours)}, but ONNX "
                                    f"infers {list(graph.shapes[tensor])} for {tensor!r}", file=file)


def flat_spec_yaml(spec_dict: dict[str, Any], source: str) -> str:
    """The spec as YAML: a comment header, top-level fields, then one flow-style line per node."""
    head = {k: v for k, v in spec_dict.items() if k not in ("nodes", "outputs")}
    lines = [f"# Imported from {source} by `costmodel import`: a flat spec, one node per ONNX node",
             "# (constants folded, multi-node patterns fused); see docs/onnx-import.md.",
             yaml.safe_dump(head, sort_keys=False, default_flow_style=None, width=120).rstrip(), "nodes:"]
    for node in spec_dict["nodes"]:
        lines.append("  - " + yaml.dump(node, Dumper=_DUMPER, sort_keys=False, default_flow_style=True,
                                        width=10**6).strip())
    if "outputs" in spec_dict:
        lines.append(yaml.safe_dump({"outputs": spec_dict["outputs"]}, default_flow_style=None).rstrip())
    return "\n".join(lines) + "\n"


def import_onnx(path: Path, name: str | None = None, batch: int | None = None, *, allow_opaque: bool = False) -> str:
    """YAML text of a costmodel spec for the ONNX model at ``path`` (see :func:`onnx_to_spec`); with
    ``allow_opaque``, a warning on stderr names the opaque nodes and their share of the nodes."""
    import sys

    spec = onnx_to_spec(path, name, batch, allow_opaque=allow_opaque)
    folded = spec["metadata"].get("bn_folded", 0)
    if folded:
        sys.stderr.write(f"note: {folded} BN layers folded by the exporter: params and MACs are those of the exported "
                         "graph (export with training=TrainingMode.PRESERVE to keep them)\n")
    opaque = Counter(n["source"] for n in spec["nodes"] if n["op"] == "opaque")
    if opaque:
        n = sum(opaque.values())
        sys.stderr.write(f"warning: {n} opaque node(s) ({100 * n / len(spec['nodes']):.1f}% of "
                         f"{len(spec['nodes'])} nodes) count 0 MACs and 0 FLOPs: "
                         + ", ".join(f"{op} x{c}" for op, c in opaque.most_common()) + "\n")
    return flat_spec_yaml(spec, Path(path).name)
