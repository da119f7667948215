"""Per-layer metrics and model totals: params, MACs, FLOPs, activations, memory traffic."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

from ..graph import Graph, Layer
from ..ops.base import Attrs, numel
from ..vocab import BYTES_PER_ELEMENT, Dtype
from .memory import PeakMemory, peak_activation_memory


@dataclass(frozen=True)
class LayerMetrics:
    """Counts for one layer (or a group of layers), for the whole batch. Bytes use the analysis dtype."""

    path: str
    op: str
    op_class: str
    output_shape: tuple[int, ...]
    params: int
    macs: int
    flops: int
    activations: int  # fvcore/pycls convention: output elements of conv/linear/matmul ops
    output_elements: int  # all op outputs (views excluded: they allocate nothing)
    weight_bytes: int
    bytes_read: int  # inputs + weights (+ extra tables)
    bytes_written: int  # outputs

    @property
    def bytes_moved(self) -> int:
        """DRAM traffic if the op runs on its own: read + written."""
        return self.bytes_read + self.bytes_written

    @property
    def arithmetic_intensity(self) -> float:
        """FLOPs per byte moved (0 for ops that move nothing)."""
        return self.flops / self.bytes_moved if self.bytes_moved else 0.0


COUNT_FIELDS = ("params", "macs", "flops", "activations", "output_elements", "weight_bytes", "bytes_read",
                "bytes_written")


@dataclass(frozen=True)
class Totals:
    """Whole-model figures."""

    params: int
    macs: int
    flops: int
    activations: int
    output_elements: int
    weight_bytes: int
    bytes_read: int
    bytes_written: int
    peak_activation_bytes: int
    peak_at: str
    input_bytes: int


@dataclass(frozen=True)
class Analysis:
    """The analyzer's result: per-layer rows in topological order and totals."""

    model: str
    batch: int
    dtype: str
    inputs: dict[str, tuple[int, ...]]
    layers: list[LayerMetrics]
    totals: Totals
    peak: PeakMemory

    def to_dict(self) -> dict[str, Any]:
        """Raw numbers only, stable keys: the JSON format."""
        return {
            "model": self.model, "batch": self.batch, "dtype": self.dtype,
            "inputs": {k: list(v) for k, v in self.inputs.items()},
            "totals": asdict(self.totals),
            "layers": [{**asdict(row), "output_shape": list(row.output_shape)} for row in self.layers],
        }


def layer_metrics(layer: Layer[Attrs], bytes_per_element: int) -> LayerMetrics:
    """Metrics of one layer; bytes at ``bytes_per_element``, or at the layer's own ``dtype:`` when the spec gives it
    one (it reads its inputs, weights and tables and writes its outputs in that type; a cast to it is the latency
    model's concern, see latency/precision.py)."""
    cost = layer.cost
    if layer.dtype is not None:
        bytes_per_element = layer.dtype.bytes
    weight_bytes = cost.params * bytes_per_element
    if cost.is_view:
        read = written = produced = 0
    else:
        produced = sum(numel(s) for s in cost.outputs)
        read = (sum(numel(s) for s in layer.input_shapes) + cost.extra_read_elems) * bytes_per_element + weight_bytes
        written = produced * bytes_per_element
    return LayerMetrics(
        path=layer.path, op=layer.op, op_class=cost.op_class.value, output_shape=cost.outputs[0],
        params=cost.params, macs=cost.macs, flops=cost.flops, activations=cost.gemm_outputs,
        output_elements=produced, weight_bytes=weight_bytes, bytes_read=read, bytes_written=written,
    )


def analyze_graph(graph: Graph, dtype: str | None = None) -> Analysis:
    """Count everything for an expanded graph (``dtype`` overrides the spec's, not a node's own ``dtype:``)."""
    dtype = dtype or graph.dtype
    width = BYTES_PER_ELEMENT[Dtype(dtype)]
    rows = [layer_metrics(layer, width) for layer in graph.layers]
    sums = {name: sum(getattr(row, name) for row in rows) for name in COUNT_FIELDS}
    peak = peak_activation_memory(graph, width)  # each buffer at its producer's own dtype, if it has one
    totals = Totals(**sums, peak_activation_bytes=peak.bytes, peak_at=peak.layer,
                    input_bytes=sum(numel(s) for s in graph.inputs.values()) * width)
    return Analysis(graph.name, graph.batch, dtype, dict(graph.inputs), rows, totals, peak)


def path_prefix(path: str, depth: int) -> str:
    """The first ``depth`` components of a dotted layer path: ``path_prefix('stages.2.blocks.4.dw', 2)`` is
    ``'stages.2'``."""
    return ".".join(path.split(".")[:depth])


R = TypeVar("R")


def group_by_prefix(rows: Iterable[R], depth: int) -> dict[str, list[R]]:
    """Rows (anything with a ``path``) grouped by their path prefix of ``depth`` components, first-seen order."""
    groups: dict[str, list[R]] = {}
    for row in rows:
        groups.setdefault(path_prefix(row.path, depth), []).append(row)  # type: ignore[attr-defined]
    return groups


def aggregate(rows: Sequence[LayerMetrics], depth: int) -> list[LayerMetrics]:
    """Sum rows whose paths share their first ``depth`` components (``stages.2``), keeping first-seen order."""
    out = []
    for key, members in group_by_prefix(rows, depth).items():
        if len(members) == 1 and members[0].path == key:
            out.append(members[0])
            continue
        ops = {m.op for m in members}
        counts = {f.name: sum(getattr(m, f.name) for m in members) for f in fields(LayerMetrics)
                  if f.name in COUNT_FIELDS}
        out.append(LayerMetrics(path=key, op=ops.pop() if len(ops) == 1 else f"{len(members)} layers",
                                op_class="group", output_shape=members[-1].output_shape, **counts))
    return out
