"""Predicted vs measured throughput of calibration's fidelity points (``costmodel validate --plot``)."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from ..calibration.fidelity import Point
from .common import finish_log_axis, log_axis, log_limits, new_figure, place_labels, set_title


def scatter_figure(rows: Sequence[Point], title: str) -> Figure:
    """Predicted vs measured throughput (samples/s), log-log, with the y = x line and the row labels."""
    fig = new_figure(7.0, 6.0)
    ax = fig.add_subplot()
    measured = [p.measured_throughput for p in rows]
    predicted = [p.predicted_throughput for p in rows]
    lo, hi = log_limits([*measured, *predicted], pad=1.5)
    ax.plot([lo, hi], [lo, hi], color="#888888", linewidth=1, linestyle="--", label="predicted = measured")
    ax.scatter(measured, predicted, s=18, color="#1f77b4", zorder=3, label="models")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    log_axis(ax.xaxis, "measured throughput", "samples/s")
    log_axis(ax.yaxis, "predicted throughput", "samples/s")
    finish_log_axis(ax.xaxis)
    finish_log_axis(ax.yaxis)
    ax.set_aspect("equal")
    ax.grid(True, which="major", alpha=0.3)
    set_title(ax, title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    place_labels(ax, list(zip(measured, predicted, strict=True)), [p.label for p in rows])
    return fig
