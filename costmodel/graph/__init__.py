"""Graph layer: expansion of blocks and repeats, shape inference."""

from .build import Graph, Layer, TensorRef, build_graph

__all__ = ["Graph", "Layer", "TensorRef", "build_graph"]
