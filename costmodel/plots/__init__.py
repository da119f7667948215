"""Figures of the latency model: roofline, efficiency gap (Lavin 2024), waterline, breakdown, throughput, Pareto.

Every builder is pure and returns a ``matplotlib.figure.Figure`` (Agg canvas, no pyplot); :func:`save_figure`
writes PNG and SVG. docs/plots.md explains how to read each figure.
"""

from ..errors import PlotError
from .breakdown import breakdown_figure
from .common import figure_format, plot_title, save_figure, save_figures
from .fidelity import scatter_figure
from .frontier import frontier_figure
from .gap import GapPoint, efficiency_gap_figure, gap_point, stage_gap_figure
from .pareto import ParetoPoint, pareto_figure, pareto_frontier
from .roofline import roofline_figure
from .sweep import complexity_edf_figure, latency_macs_figure, numeric_column, pareto_mask, sweep_pareto_figure
from .throughput import saturation_batch, throughput_figure
from .waterline import waterline_figure

__all__ = [
    "GapPoint",
    "ParetoPoint",
    "PlotError",
    "breakdown_figure",
    "complexity_edf_figure",
    "efficiency_gap_figure",
    "figure_format",
    "frontier_figure",
    "gap_point",
    "latency_macs_figure",
    "numeric_column",
    "pareto_figure",
    "pareto_frontier",
    "pareto_mask",
    "plot_title",
    "roofline_figure",
    "saturation_batch",
    "save_figure",
    "save_figures",
    "scatter_figure",
    "stage_gap_figure",
    "sweep_pareto_figure",
    "throughput_figure",
    "waterline_figure",
]
