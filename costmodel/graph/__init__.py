"""Graph layer: expansion of blocks and repeats, shape inference."""

from .build import (
    BuildHook,
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
from .load import load_graph

__all__ = ["BuildHook", "Call", "CostCache", "Expansion", "Graph", "Layer", "TensorRef", "TopLevel", "Value",
           "build_graph", "load_graph", "repeat_attributes", "repeat_path", "repeat_refused"]
