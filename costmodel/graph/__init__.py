"""Graph layer: expansion of blocks and repeats, shape inference."""

from .build import Graph, Layer, TensorRef, build_graph
from .load import load_graph

__all__ = ["Graph", "Layer", "TensorRef", "build_graph", "load_graph"]
