"""Peak live activation memory for inference, by liveness over the topological order.

Every non-view op output is a buffer; a view (reshape, slice, ...) aliases its input's buffer. A buffer
is allocated when its producer runs and freed after the last op that reads it or any view of it; graph
inputs are live from the start and graph outputs until the end. Weights are not activations.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

from ..graph import Graph, TensorRef
from ..ops.base import numel


@dataclass(frozen=True)
class PeakMemory:
    """Peak live activation bytes and the layer running when it is reached."""

    bytes: int
    layer: str
    per_layer: tuple[int, ...]  # live bytes while each layer runs, in layer order


def peak_activation_memory(graph: Graph, bytes_per_element: int) -> PeakMemory:
    """Liveness analysis: the largest sum of live buffers while any one layer runs (its inputs + outputs). A buffer
    takes ``bytes_per_element``, or its producer's own ``dtype:`` when the spec gives it one."""
    steps = len(graph.layers)
    buffer_of: dict[TensorRef, TensorRef] = {}  # tensor -> the tensor that owns its memory
    born: dict[TensorRef, int] = {}
    last_use: dict[TensorRef, int] = {}
    for name in graph.inputs:
        ref = TensorRef(f"input:{name}")
        buffer_of[ref], born[ref], last_use[ref] = ref, 0, 0
    for step, layer in enumerate(graph.layers):
        for ref in layer.inputs:
            owner = buffer_of[ref]
            last_use[owner] = max(last_use[owner], step)
        for k in range(len(layer.cost.outputs)):
            ref = TensorRef(layer.path, k)
            if layer.cost.is_view:
                buffer_of[ref] = buffer_of[layer.inputs[0]]
            else:
                buffer_of[ref], born[ref], last_use[ref] = ref, step, step
    for ref in graph.outputs:
        last_use[buffer_of[ref]] = steps - 1
    width = {layer.path: layer.dtype.bytes for layer in graph.layers if layer.dtype is not None}
    delta = [0] * (steps + 1)  # Python ints: exact for any size (numpy's int64 would wrap past 2^63 bytes)
    for owner, start in born.items():
        size = numel(graph.shape(owner)) * width.get(owner.node, bytes_per_element)
        delta[start] += size
        delta[min(last_use[owner] + 1, steps)] -= size
    live = list(accumulate(delta[:steps]))
    peak_step = max(range(steps), key=live.__getitem__) if steps else 0  # the first maximum, as np.argmax
    return PeakMemory(int(live[peak_step]) if steps else 0,
                      graph.layers[peak_step].path if steps else "", tuple(int(v) for v in live))

