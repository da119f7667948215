"""Pareto plot: points per group (e.g. per device) and each group's frontier as a step line.

By default smaller x is better (latency) and larger y is better (accuracy); ``maximize_y=False`` for a y
where smaller is better (FLOPs, memory).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.artist import Artist
from matplotlib.figure import Figure

from .common import FONT_SIZE, PlotError, formatter_for, new_figure, place_labels, set_title

GROUP_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


@dataclass(frozen=True)
class ParetoPoint:
    """One point; ``group`` (e.g. the device) gets its own colour and frontier."""

    name: str
    x: float
    y: float
    group: str = ""


def pareto_frontier(points: Sequence[ParetoPoint], maximize_y: bool = True) -> list[ParetoPoint]:
    """The points no other point beats on both axes (smaller x, and larger y or smaller y), sorted by x."""
    sign = 1.0 if maximize_y else -1.0
    frontier: list[ParetoPoint] = []
    for point in sorted(points, key=lambda p: (p.x, -sign * p.y)):
        if not frontier or sign * point.y > sign * frontier[-1].y:
            frontier.append(point)
    return frontier


def _wide(values: Sequence[float]) -> bool:
    """True if the values are positive and span a decade or more: worth a log axis."""
    return min(values) > 0 and max(values) / min(values) >= 10


def pareto_figure(points: Sequence[ParetoPoint], title: str, x_label: str, y_label: str, *,
                  maximize_y: bool = True) -> Figure:
    """Scatter of ``points`` coloured by group, with each group's Pareto frontier as a step line.

    An axis whose positive values span a decade or more is logarithmic. Every point is named, its label placed
    clear of the other points, the frontier lines and the other labels (with a leader line when it had to move
    away from its point).
    """
    if not points:
        raise PlotError("pareto_figure needs at least one point")
    if not all(math.isfinite(p.x) and math.isfinite(p.y) for p in points):
        raise PlotError("pareto_figure needs finite coordinates")
    groups = list(dict.fromkeys(p.group for p in points))
    fig = new_figure(8.5, 5.8)
    ax = fig.subplots()
    drawn: list[Artist] = []
    for i, group in enumerate(groups):
        color = GROUP_COLORS[i % len(GROUP_COLORS)]
        mine = [p for p in points if p.group == group]
        frontier = pareto_frontier(mine, maximize_y)
        drawn.append(ax.scatter([p.x for p in mine], [p.y for p in mine], s=30, color=color, alpha=0.8, zorder=3,
                                label=group or None, gid=f"points:{group}"))
        drawn += ax.step([p.x for p in frontier], [p.y for p in frontier], where="post", color=color, lw=1.2,
                         alpha=0.8, gid=f"frontier:{group}")
    for axis, values, label in ((ax.xaxis, [p.x for p in points], x_label), (ax.yaxis, [p.y for p in points], y_label)):
        if _wide(values):
            if axis.axis_name == "x":
                ax.set_xscale("log")
            else:
                ax.set_yscale("log")
            axis.set_major_formatter(formatter_for(""))
        axis.set_label_text(label)
    ax.margins(0.12)
    ax.grid(True, alpha=0.3)
    set_title(ax, title)
    if any(groups):
        ax.legend(fontsize=FONT_SIZE - 1, loc="best")
    better = "up and left" if maximize_y else "down and left"
    ax.text(0.99, 0.01, f"better: {better}; step line = Pareto frontier", transform=ax.transAxes, ha="right",
            va="bottom", fontsize=FONT_SIZE - 2, color="#666666")
    notes = place_labels(ax, [(p.x, p.y) for p in points], [p.name for p in points], obstacles=drawn)
    if len(groups) > 1:  # which device is this label? its own colour says
        colors = {g: GROUP_COLORS[i % len(GROUP_COLORS)] for i, g in enumerate(groups)}
        for note, p in zip(notes, points, strict=True):
            note.set_color(colors[p.group])
            if note.arrow_patch is not None:
                note.arrow_patch.set_color(colors[p.group])
    return fig
