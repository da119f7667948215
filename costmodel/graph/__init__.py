"""Graph layer: expansion of blocks and repeats, shape inference."""

from .build import BuildHook, Call, CostCache, Expansion, Graph, Layer, TensorRef, Value, build_graph
from .load import load_graph

__all__ = ["BuildHook", "Call", "CostCache", "Expansion", "Graph", "Layer", "TensorRef", "Value", "build_graph",
           "load_graph"]
