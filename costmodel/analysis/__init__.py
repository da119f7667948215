"""Analysis layer: counts, memory traffic and liveness."""

from .memory import PeakMemory, peak_activation_memory
from .metrics import Analysis, LayerMetrics, Totals, aggregate, analyze_graph, layer_metrics

__all__ = ["Analysis", "LayerMetrics", "PeakMemory", "Totals", "aggregate", "analyze_graph", "layer_metrics",
           "peak_activation_memory"]
