"""PyTorch -> spec: trace an ``nn.Module`` with ``torch.export`` and map its ATen ops onto the op registry.

Steps: ``torch.export.export`` (ATen IR, fake tensors: nothing is computed) at batch 2, so that the batch
dimension can be told from the others; every FX node becomes a value: a *dynamic* tensor (depends on an input:
mapped to one or more spec nodes by :mod:`costmodel.bridges.torch_aten`), a *static* tensor (computed from
parameters and buffers only: not emitted, its source parameters travel to the op that reads it), or a Python
value. Node names come from the module hierarchy (``stages.2.blocks.4.conv_dw``). Consecutive identical module
instances fold into blocks with ``repeat:`` (:mod:`costmodel.bridges.torch_fold`). The spec is then built at the
traced batch and every node's shape is checked against the trace, and the parameter total against
``sum(p.numel())``. See docs/torch-import.md.
"""

from __future__ import annotations

import importlib
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SpecError, one_line
from .common import Unsupported, first_line
from .torch import BridgeError, require_torch
from .torch_aten import HANDLERS, canonical
from .torch_trace import TRACE_BATCH, Dyn, Emitted, Tracer

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

    from ..graph import Graph
    from ..spec import Spec


@dataclass
class ImportReport:
    """What the import found: counts of the imported graph and of PyTorch, opaque nodes, timing."""

    torch_params: int = 0
    params: int = 0
    macs: int = 0
    flops: int = 0
    activations: int = 0
    nodes: int = 0
    opaque: Counter[str] = field(default_factory=Counter)
    unattributed_params: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def opaque_share(self) -> float:
        """Fraction of the spec's op nodes that are opaque."""
        return sum(self.opaque.values()) / self.nodes if self.nodes else 0.0


def export(module: torch.nn.Module, inputs: Mapping[str, Sequence[int]]) -> Any:
    """``torch.export.export`` of ``module`` in eval mode on random inputs of the given per-sample shapes."""
    torch = require_torch()
    module = module.eval()
    args = _example_inputs(torch, inputs)
    try:
        with torch.no_grad():
            return torch.export.export(module, args, strict=False)
    except Exception as exc:  # the model cannot be traced: one line, the first line of PyTorch's reason
        first = first_line(exc)
        raise BridgeError(f"torch.export failed: {type(exc).__name__}: {first[:300]}") from None


def _example_inputs(torch: Any, inputs: Mapping[str, Sequence[int]]) -> tuple[Any, ...]:
    """Random fp32 tensors of TRACE_BATCH samples of each per-sample shape. A dimension under 1, or inputs larger than
    the memory free (MemAvailable), is a :class:`BridgeError` naming them: PyTorch's allocation failure escaped as an
    internal error (``--input image=3,99999999,99999999``), and an allocation the kernel overcommits runs the machine
    out of memory."""
    from .bench import available_bytes

    for name, shape in inputs.items():
        if any(d < 1 for d in shape):
            raise BridgeError(f"--input {name}={','.join(map(str, shape))}: every dimension must be at least 1")
    need = 4 * TRACE_BATCH * sum(math.prod(shape) for shape in inputs.values())
    free = available_bytes(torch, "cpu")
    if free is not None and need > free:
        shapes = ", ".join(f"{name}={','.join(map(str, shape))}" for name, shape in inputs.items())
        raise BridgeError(f"the example inputs ({TRACE_BATCH} samples of {shapes}) take {need / 1e9:.3g} GB in fp32 "
                          f"and this machine has {free / 1e9:.3g} GB free: give a smaller --input")
    try:
        return tuple(torch.randn(TRACE_BATCH, *shape) for shape in inputs.values())
    except RuntimeError as exc:  # PyTorch's allocation failure
        raise BridgeError(f"cannot allocate the example inputs: {first_line(exc)}") from None


def _param_numel(exported: Any) -> dict[str, int]:
    """FX placeholder name -> numel, for the parameters (each parameter once, even if tied)."""
    state = exported.state_dict
    out = {}
    for spec in exported.graph_signature.input_specs:
        if spec.kind.name == "PARAMETER":
            out[spec.arg.name] = int(state[spec.target].numel())
    return out


def unsupported_error(unsupported: Mapping[str, list[tuple[str, str]]], source: str) -> SpecError:
    """Every unsupported ATen op in one line: op (count, first: module[: reason])."""
    items = []
    for name in sorted(unsupported, key=lambda n: (-len(unsupported[n]), n)):
        first, reason = unsupported[name][0]
        items.append(f"{name} ({len(unsupported[name])}, first: {first or '<root>'}{': ' + reason if reason else ''})")
    n = len(unsupported)
    return SpecError(f"{n} unsupported ATen op{'s' if n > 1 else ''}: {', '.join(items)} "
                     "(--allow-opaque imports them as explicit opaque nodes with zero cost)", file=source)


def module_to_spec_dict(module: torch.nn.Module, inputs: Mapping[str, Sequence[int]], *, name: str = "model",
                        allow_opaque: bool = False, fold: bool = True, source: str = "",
                        metadata: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], ImportReport]:
    """The spec (a dict ready for YAML) of ``module`` fed inputs of the given per-sample shapes, and a report.

    Raises :class:`SpecError` listing every unsupported op unless ``allow_opaque``.
    """
    from .torch_fold import fold_repeats, name_nodes

    start = time.perf_counter()
    inputs = {k: tuple(int(d) for d in v) for k, v in inputs.items()}
    torch_params = sum(p.numel() for p in module.parameters())
    exported = export(module, inputs)
    tracer = Tracer(exported, _param_numel(exported), allow_opaque)
    outputs = tracer.run(HANDLERS, canonical)
    if tracer.unsupported and not allow_opaque:
        raise unsupported_error(tracer.unsupported, source or name)
    try:
        out_dyns = [tracer.plain(o) for o in outputs if isinstance(o, Dyn)]
    except Unsupported:
        raise BridgeError("the model's output has its batch dimension away from dim 0 (an [L, N, E] result): "
                          "the spec's outputs keep the batch first; transpose it back in the model") from None
    if not out_dyns:
        raise BridgeError("the model's output does not depend on its input")
    input_names = list(inputs)
    leftover = sum(tracer.param_numel.values()) - sum(tracer.param_numel[p] for p in tracer.attributed)
    named, output_refs = name_nodes(tracer.nodes, [d.ref for d in out_dyns], input_names)
    spec_dict: dict[str, Any] = {"name": name, "description": f"Imported from {source or name} by costmodel import"}
    if metadata:
        spec_dict["metadata"] = dict(metadata)
    spec_dict["inputs"] = {n: list(s) for n, s in inputs.items()}
    nodes = [{"name": e.name, "op": e.op, "inputs": e.inputs, **e.attrs} for e in named]
    if not nodes:  # torch.flatten(x, -1, -1), nn.Identity: the graph's output is its input
        raise BridgeError("the model computes nothing: its output is its input, unchanged (no op to count)")
    flat = {**spec_dict, "nodes": nodes}
    if len(output_refs) > 1 or output_refs[0] != nodes[-1]["name"]:
        flat["outputs"] = output_refs
    _check_shapes(flat, named, tracer, source or name)
    spec_out = fold_repeats(flat) if fold else flat
    report = ImportReport(torch_params=int(torch_params), unattributed_params=leftover)
    graph = _build(spec_out, source or name)
    _fill_report(report, graph)
    if fold and spec_out is not flat:
        flat_graph = _build(flat, source or name)
        if _totals(flat_graph) != _totals(graph):  # folding must never change a count
            raise BridgeError(f"folding repeats changed the counts ({_totals(flat_graph)} -> {_totals(graph)})")
    report.notes.extend(tracer.notes)
    if leftover:
        report.notes.append(f"{leftover} parameters are read by no mapped op")
    report.seconds = time.perf_counter() - start
    return spec_out, report


def _build(spec_dict: Mapping[str, Any], source: str, batch: int | None = None) -> Graph:
    from ..graph import build_graph
    from ..spec import parse_spec

    return build_graph(parse_spec(dict(spec_dict), source), file=source, batch=batch)


def _totals(graph: Graph) -> tuple[int, int, int, int]:
    layers = graph.layers
    return (sum(x.cost.params for x in layers), sum(x.cost.macs for x in layers), sum(x.cost.flops for x in layers),
            sum(x.cost.gemm_outputs for x in layers))


def _fill_report(report: ImportReport, graph: Graph) -> None:
    report.params, report.macs, report.flops, report.activations = _totals(graph)
    report.nodes = len(graph.layers)
    report.opaque = Counter(str(layer.attrs.source) for layer in graph.layers  # type: ignore[attr-defined]
                            if layer.op == "opaque")


def _check_shapes(flat: Mapping[str, Any], named: Sequence[Emitted], tracer: Tracer, source: str) -> None:
    """Build the flat spec at the traced batch; every node's output shape must be the traced one."""
    from ..graph.build import TensorRef

    graph = _build(flat, source, batch=TRACE_BATCH)
    for node in named:
        for k, shape in node.traced.items():
            got = graph.shape(TensorRef(node.name, k))
            if tuple(got) != tuple(shape):
                raise BridgeError(f"imported node {node.name!r} ({node.op}) has shape {list(got)}, but the trace "
                                  f"has {list(shape)}")


# ---- public entry points ----------------------------------------------------------------------------------


def import_module(module: torch.nn.Module, inputs: Mapping[str, Sequence[int]], *, name: str = "model",
                  allow_opaque: bool = False) -> Spec:
    """The :class:`~costmodel.spec.Spec` of ``module`` for inputs of the given per-sample shapes.

    ``inputs`` maps input names to shapes without the batch dim (``{"image": (3, 224, 224)}``).
    """
    from ..spec import parse_spec

    spec_dict, _ = module_to_spec_dict(module, inputs, name=name, allow_opaque=allow_opaque)
    return parse_spec(spec_dict, name)


def load_builder(target: str) -> Any:
    """``pkg.mod:builder`` -> the ``nn.Module`` returned by calling ``builder()``."""
    mod_name, _, attr = target.partition(":")
    if not mod_name or not attr:
        raise SpecError(f"expected torch:package.module:callable, got {target!r}")
    try:
        module = importlib.import_module(mod_name)
    except Exception as exc:  # importing runs the module's code, which may raise anything (a mismatched extension)
        why = str(exc) if isinstance(exc, ImportError) else f"{type(exc).__name__}: {exc}"
        raise SpecError(one_line(f"cannot import {mod_name!r}: {why}")) from None
    builder = getattr(module, attr, None)
    if not callable(builder):
        raise SpecError(f"{mod_name!r} has no callable {attr!r}")
    try:
        model = builder()
    except Exception as exc:  # the user's builder: it takes no arguments here, and may fail in its own way
        raise SpecError(one_line(f"torch:{target}: {attr}() raised {type(exc).__name__}: {exc}")) from None
    torch = require_torch()
    if not isinstance(model, torch.nn.Module):
        raise SpecError(f"{target} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def timm_model(name: str, reparam: bool = False) -> tuple[Any, dict[str, tuple[int, ...]]]:
    """A timm model (``pretrained=False``: no weights downloaded), deployed form if ``reparam``, and its
    default input ``{"image": (C, H, W)}``."""
    from .timm_compat import require_timm

    timm = require_timm()
    if not timm.is_model(name):
        import difflib

        close = difflib.get_close_matches(name, timm.list_models(), n=1)
        raise SpecError(f"timm has no model {name!r}" + (f"; did you mean {close[0]!r}?" if close else ""))
    model = timm.create_model(name, pretrained=False).eval()
    if reparam:
        from timm.utils.model import reparameterize_model

        model = reparameterize_model(model)
    size = tuple(int(d) for d in model.pretrained_cfg.get("input_size", (3, 224, 224)))
    return model, {"image": size}



# ---- sources: timm:NAME, torch:pkg.mod:builder --------------------------------------------------------------


def import_source(source: str, inputs: Mapping[str, Sequence[int]] | None = None, *, reparam: bool = False,
                  allow_opaque: bool = False, name: str | None = None, fold: bool = True
                  ) -> tuple[str, ImportReport]:
    """YAML text of the spec for ``timm:NAME`` or ``torch:pkg.mod:builder``, and the import report."""
    from .torch_fold import folded_spec_yaml

    kind, _, target = source.partition(":")
    metadata: dict[str, Any] = {"source": source}
    if kind == "timm":
        model, default_inputs = timm_model(target, reparam)
        metadata["timm_name"] = target
        inputs = inputs or default_inputs
    elif kind == "torch":
        if not inputs:
            raise SpecError("torch:... needs the input shape: --input image=3,224,224")
        model = load_builder(target)
        if reparam:
            from .timm_compat import require_timm

            require_timm()
            from timm.utils.model import reparameterize_model

            model = reparameterize_model(model)
    else:
        raise SpecError(f"expected an ONNX file, timm:NAME or torch:package.module:builder, got {source!r}")
    if reparam:
        metadata["form"] = "deployed (reparameterize_model)"
    spec_name = name or _clean_name(target.rpartition(":")[2] if kind == "torch" else target)
    spec, report = module_to_spec_dict(model, inputs, name=spec_name, allow_opaque=allow_opaque, fold=fold,
                                       source=source, metadata=metadata)
    header = [f"Imported from {source} by `costmodel import` (torch.export, ATen ops mapped onto the registry);",
              "see docs/torch-import.md."]
    if report.opaque:
        header.append(f"OPAQUE: {sum(report.opaque.values())} node(s) count zero MACs/FLOPs: "
                      + ", ".join(f"{op} x{n}" for op, n in report.opaque.most_common()))
    return folded_spec_yaml(spec, header), report


def _clean_name(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_") or "model"


def summary(report: ImportReport, source: str) -> list[str]:
    """Lines for stderr: what was imported, its counts against PyTorch's, opaque nodes and notes."""
    same = "=" if report.params == report.torch_params else "!="
    lines = [f"imported {source} in {report.seconds:.1f} s: {report.nodes} layers, {report.params:,} params "
             f"({same} sum(p.numel()) {report.torch_params:,}), {report.macs / 1e9:.3f} GMACs, "
             f"{report.flops / 1e9:.3f} GFLOPs, {report.activations / 1e6:.3f} M activations"]
    if report.opaque:
        n = sum(report.opaque.values())
        lines.append(f"warning: {n} opaque node(s) ({100 * report.opaque_share():.1f}% of {report.nodes} nodes) "
                     "count 0 MACs and 0 FLOPs: " + ", ".join(f"{op} x{c}" for op, c in report.opaque.most_common()))
    lines.extend(f"note: {note}" for note in report.notes)
    return lines


# ---- specs on demand for timm model names (latency validation over the shared tables) -------------------


def default_cache_dir() -> Path:
    """``$COSTMODEL_CACHE/timm_specs``, else ``~/.cache/costmodel/timm_specs``."""
    import os

    root = os.environ.get("COSTMODEL_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "costmodel") / "timm_specs"


def timm_spec(name: str, cache_dir: Path | str | None = None, *, image_size: int | None = None,
              reparam: bool = True, refresh: bool = False) -> Path:
    """The path of a spec for timm model ``name``, imported on first use into ``cache_dir`` (not committed).

    ``image_size``: square input side (default: the model's own); ``reparam`` (default True): the deployed form,
    which timm's benchmark tables measure (a no-op for models without re-parameterisable blocks). A model that
    does not import raises :class:`SpecError` (or :class:`BridgeError`) with the reason; the failure is cached
    too (``NAME....error``), so a sweep over many names pays for it once; ``refresh`` retries.
    """
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    stem = f"{name}{'-deploy' if reparam else ''}{f'-{image_size}' if image_size else ''}"
    path, failed = folder / f"{stem}.yaml", folder / f"{stem}.error"
    if not refresh:
        if path.exists():
            return path
        if failed.exists():
            raise SpecError(failed.read_text(encoding="utf-8").strip(), file=f"timm:{name}")
    inputs = {"image": (3, image_size, image_size)} if image_size else None
    folder.mkdir(parents=True, exist_ok=True)
    try:
        text, _ = import_source(f"timm:{name}", inputs, reparam=reparam)
    except (SpecError, BridgeError) as exc:
        failed.write_text(str(exc) + "\n", encoding="utf-8")
        raise
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    failed.unlink(missing_ok=True)
    return path


def timm_specs(names: Sequence[str], cache_dir: Path | str | None = None, *, reparam: bool = True,
               image_sizes: Mapping[str, int] | None = None) -> tuple[dict[str, Path], dict[str, str]]:
    """Specs for many timm names: ``({name: path}, {name: why it did not import})``; never raises per model."""
    done: dict[str, Path] = {}
    failed: dict[str, str] = {}
    for name in names:
        try:
            done[name] = timm_spec(name, cache_dir, reparam=reparam,
                                   image_size=(image_sizes or {}).get(name))
        except (SpecError, BridgeError) as exc:
            failed[name] = str(exc)
    return done, failed
