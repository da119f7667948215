"""SpecModule: an ``nn.Module`` that runs a graph's layers in topological order (needs PyTorch).

Layers whose op has an ``nn.Module`` are registered in a module tree that mirrors the layer paths
(``stages.2.blocks.4.dwconv`` is ``module.get_submodule("stages.2.blocks.4.dwconv")``), so ``state_dict`` keys
and hooks look like a hand-written model's. A path component that clashes with an ``nn.Module`` attribute
(``layers``, ``half``, ``forward``...) is registered with a trailing ``_``; :attr:`SpecModule.layers` maps the
original paths either way. Shape ops and arithmetic run as plain functions (:attr:`SpecModule.functional`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import BridgeError
from ..graph import Graph, Layer, TensorRef
from .torch_ops import BUILDERS, BuildContext


class Container(nn.Module):
    """A node of the module tree that only groups sub-layers (a block call, a repeat, a dotted name)."""


@dataclass(frozen=True)
class _Step:
    path: str
    op: str
    inputs: tuple[TensorRef, ...]
    run: Callable[..., Any]
    shapes: tuple[tuple[int, ...], ...]
    release: tuple[TensorRef, ...]  # tensors no later step reads: dropped after this one


def build_runner(layer: Layer, ctx: BuildContext) -> Callable[..., Any]:
    """The nn.Module or function that runs ``layer``; a BridgeError for an op with no PyTorch implementation."""
    builder = BUILDERS.get(layer.op)
    if builder is None:
        raise BridgeError(f"op {layer.op!r} has no PyTorch implementation in costmodel.bridges.torch",
                          path=layer.path, field="op")
    return builder(layer, ctx)


class SpecModule(nn.Module):
    """Runs a :class:`~costmodel.graph.Graph`: ``forward(*inputs)`` takes the graph's inputs in order and returns
    its output tensor, or a tuple when the graph has several outputs.

    - ``layers``: layer path -> the ``nn.Module`` that runs it (for forward hooks).
    - ``functional``: paths of the layers run as plain functions (shape ops, arithmetic, matmul, SDPA).
    - ``check_shapes``: when true, every layer's outputs are checked against the graph's inferred shapes.
    """

    def __init__(self, graph: Graph, check_shapes: bool = False) -> None:
        super().__init__()
        ctx = BuildContext.of(graph)
        self.graph_name = graph.name
        self.check_shapes = check_shapes
        self.input_names = tuple(graph.inputs)
        self.input_shapes = tuple(graph.inputs.values())
        self.output_refs = tuple(graph.outputs)
        releases = _releases(graph)
        # Set before any child is registered, so that a layer path component `layers` gets renamed, not this.
        self.layers: dict[str, nn.Module] = {}
        self.functional: tuple[str, ...] = ()
        self._steps: tuple[_Step, ...] = ()
        layers, functional = self.layers, []
        steps: list[_Step] = []
        for index, layer in enumerate(graph.layers):
            run = build_runner(layer, ctx)
            if isinstance(run, nn.Module):
                _place(self, layer.path, run)
                layers[layer.path] = run
            else:
                functional.append(layer.path)
            steps.append(_Step(layer.path, layer.op, layer.inputs, run, layer.cost.outputs, releases[index]))
        self.functional = tuple(functional)
        self._steps = tuple(steps)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if len(inputs) != len(self.input_names):
            raise BridgeError(f"{self.graph_name} takes {len(self.input_names)} input(s) "
                              f"({', '.join(self.input_names)}), got {len(inputs)}")
        values: dict[TensorRef, torch.Tensor] = {}
        for name, shape, tensor in zip(self.input_names, self.input_shapes, inputs, strict=True):
            if self.check_shapes:
                _check(f"input {name!r}", tuple(tensor.shape), shape)
            values[TensorRef(f"input:{name}")] = tensor
        for step in self._steps:
            out = step.run(*(values[ref] for ref in step.inputs))
            outs = tuple(out) if isinstance(out, tuple | list) else (out,)
            if self.check_shapes:
                if len(outs) != len(step.shapes):
                    raise BridgeError(f"{step.op} gave {len(outs)} outputs, the graph has {len(step.shapes)}",
                                      path=step.path)
                for k, (tensor, shape) in enumerate(zip(outs, step.shapes, strict=True)):
                    _check(f"{step.op} output {k}", tuple(tensor.shape), shape, step.path)
            for k, tensor in enumerate(outs):
                values[TensorRef(step.path, k)] = tensor
            for ref in step.release:
                del values[ref]
        results = tuple(values[ref] for ref in self.output_refs)
        return results[0] if len(results) == 1 else results

    def extra_repr(self) -> str:
        return f"graph={self.graph_name!r}, steps={len(self._steps)}, functional={len(self.functional)}"


def _check(what: str, got: tuple[int, ...], want: tuple[int, ...], path: str | None = None) -> None:
    if got != want:
        raise BridgeError(f"{what}: PyTorch gives shape {list(got)}, the graph inferred {list(want)}", path=path)


def _releases(graph: Graph) -> list[tuple[TensorRef, ...]]:
    """Per layer, the tensors to drop after it runs: those it is the last reader of, and its own outputs that
    nothing reads (graph outputs are kept to the end)."""
    last: dict[TensorRef, int] = {}
    for index, layer in enumerate(graph.layers):
        for k in range(len(layer.cost.outputs)):
            last[TensorRef(layer.path, k)] = index
        for ref in layer.inputs:
            last[ref] = index
    for ref in graph.outputs:
        last.pop(ref, None)
    out: list[list[TensorRef]] = [[] for _ in graph.layers]
    for ref, index in last.items():
        out[index].append(ref)
    return [tuple(refs) for refs in out]


def _safe_name(parent: nn.Module, name: str) -> str:
    """``name``, or ``name_`` (repeated) where it clashes with an attribute of ``parent`` that is not a child."""
    while name not in parent._modules and hasattr(parent, name):
        name += "_"
    return name


def _place(root: nn.Module, path: str, module: nn.Module) -> None:
    """Register ``module`` at the dotted ``path`` under ``root``, creating Containers on the way."""
    *parents, leaf = path.split(".")
    parent = root
    for part in parents:
        name = _safe_name(parent, part)
        child = parent._modules.get(name)
        if child is None:
            child = Container()
            parent.add_module(name, child)
        parent = child
    name = _safe_name(parent, leaf)
    existing = parent._modules.get(name)
    if existing is not None:  # a container made earlier for deeper paths (`a.b` listed before `a`)
        if type(existing) is not Container:
            raise BridgeError(f"two layers at the same module path {path!r}", path=path)
        for child_name, child in existing.named_children():
            module.add_module(_safe_name(module, child_name), child)
    parent.add_module(name, module)
