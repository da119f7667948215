"""PyTorch implementations of the op registry: one builder per op, returning the callable that runs a layer.

A builder gets the :class:`~costmodel.graph.Layer` (attributes, input shapes with batch) and the
:class:`BuildContext` (the whole graph, for ops that need their surroundings) and returns either an
``nn.Module`` (registered in the SpecModule's tree, visible to hooks) or a plain function (shape ops and
arithmetic, run functionally). Importing this package needs PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...graph import Graph, Layer

Runner = Callable[..., Any]  # an nn.Module or a function of the layer's input tensors
Builder = Callable[[Layer, "BuildContext"], Runner]

BUILDERS: dict[str, Builder] = {}


@dataclass(frozen=True)
class BuildContext:
    """The graph being built, with its layers by path."""

    graph: Graph
    by_path: dict[str, Layer]

    @classmethod
    def of(cls, graph: Graph) -> BuildContext:
        return cls(graph, {layer.path: layer for layer in graph.layers})


def builds(*ops: str) -> Callable[[Builder], Builder]:
    """Register a builder for ``ops`` (canonical op names, as ``Layer.op`` holds them)."""

    def deco(fn: Builder) -> Builder:
        for op in ops:
            if op in BUILDERS:
                raise RuntimeError(f"torch builder for {op!r} registered twice")
            BUILDERS[op] = fn
        return fn

    return deco


from . import attention, imported, layers, shape  # noqa: E402,F401  (fill BUILDERS)
