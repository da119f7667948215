"""Efficiency-gap plots (A. Lavin, "On the Efficiency of Convolutional Neural Networks", 2024).

latency = arithmetic complexity / (computational efficiency E x peak), so on a log latency axis a model is a
segment from its ideal latency (FLOPs / peak, E = 1) to its predicted (or measured) latency; the segment's
length is log(1 / E). One figure over models (:func:`efficiency_gap_figure`), one over the stages of a
model (:func:`stage_gap_figure`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..analysis.metrics import group_by_prefix
from ..latency import LatencyResult
from ..latency.model import STAGE_DEPTH
from .common import FONT_SIZE, PlotError, finish_log_axis, log_axis, log_limits, new_figure, place_labels, set_title
from .pareto import ParetoPoint, pareto_frontier

IDEAL_COLOR = "#2ca02c"
PREDICTED_COLOR = "#1f77b4"
MEASURED_COLOR = "#d62728"
GAP_COLOR = "#9a9a9a"


@dataclass(frozen=True)
class GapPoint:
    """One model (or stage): ideal, predicted and optionally measured latency in one consistent unit (seconds
    per image, or per batch), and its published top-1 accuracy (%) when known."""

    name: str
    ideal_s: float
    predicted_s: float
    measured_s: float | None = None
    top1: float | None = None

    @property
    def actual_s(self) -> float:
        """The latency the gap is drawn to: measured when known, else predicted."""
        return self.measured_s if self.measured_s is not None else self.predicted_s

    @property
    def efficiency(self) -> float:
        """Computational efficiency E = ideal / (measured or predicted latency)."""
        return self.ideal_s / self.actual_s


def gap_point(name: str, result: LatencyResult, top1: float | None = None, measured_s: float | None = None) -> GapPoint:
    """A model's point, per image: ideal = summary.ideal_s / batch, predicted = summary.latency_per_image_s.

    ``measured_s``: measured seconds per image (e.g. 1 / measured images/s), if any.
    """
    s = result.summary
    return GapPoint(name, s.ideal_s / s.batch, s.latency_per_image_s, measured_s, top1)


def percent(fraction: float) -> str:
    """``0.294 -> '29.4%'``, three significant digits."""
    return f"{100 * fraction:.3g}%"


def _check(points: Sequence[GapPoint]) -> None:
    if not points:
        raise PlotError("an efficiency-gap plot needs at least one model")
    for p in points:
        if not (p.ideal_s > 0 and p.predicted_s > 0 and (p.measured_s is None or p.measured_s > 0)):
            raise PlotError(f"{p.name}: latencies must be positive to sit on a log axis")


def efficiency_gap_figure(points: Sequence[GapPoint], title: str, *,
                          x_label: str = "latency per image") -> Figure:
    """Each model a horizontal segment from ideal to measured (or predicted) latency, labelled with E.

    y: published top-1 (%) when there are several points and every one has a top-1 (the accuracy-latency
    frontier of the drawn latencies is added), else the models stacked by efficiency, most efficient on top.
    """
    _check(points)
    by_accuracy = len(points) > 1 and all(p.top1 is not None for p in points)
    height = 5.8 if by_accuracy else max(3.0, 1.2 + 0.32 * len(points))
    fig = new_figure(9.5, height)
    ax = fig.subplots()
    if by_accuracy:
        ys = [float(p.top1) for p in points]  # type: ignore[arg-type]
        ax.set_ylabel("ImageNet top-1 accuracy (%)")
        frontier = pareto_frontier([ParetoPoint(p.name, p.actual_s, float(p.top1)) for p in points])  # type: ignore[arg-type]
        ax.step([f.x for f in frontier], [f.y for f in frontier], where="post", color="#bbbbbb", lw=1, ls="--",
                zorder=1, gid="frontier")
    else:
        order = sorted(range(len(points)), key=lambda i: points[i].efficiency)
        ys = [0.0] * len(points)
        for rank, i in enumerate(order):
            ys[i] = float(rank)
        ax.set_yticks(range(len(points)), labels=[points[i].name for i in order], fontsize=FONT_SIZE)
        ax.set_ylim(-0.7, len(points) - 0.3)
    drawn = _draw_gaps(ax, points, ys, x_label)
    set_title(ax, title)
    _legend(fig, any(p.measured_s is not None for p in points), by_accuracy)
    if by_accuracy:  # labels last: they are placed in the final layout
        ax.margins(y=0.08)
        place_labels(ax, [(max(p.actual_s, p.predicted_s), y) for p, y in zip(points, ys, strict=True)],
                     [f"{p.name}  E {percent(p.efficiency)}" for p in points], obstacles=drawn)
    else:
        _label_efficiency(ax, points, ys)
    return fig


def stage_gap_figure(result: LatencyResult, title: str) -> Figure:
    """The efficiency gap per stage (path prefix of depth 2) of one model, per batch, in graph order.

    Ideal per stage = the stage's FLOPs / the peak behind ``summary.ideal_s``; predicted = the sum of its
    ops' latency shares. Stages without FLOPs cannot sit on a log axis: left out and counted in a note.
    """
    s = result.summary
    if s.ideal_s <= 0:
        raise PlotError("the model has no FLOPs: no efficiency gap to draw")
    peak = s.flops / s.ideal_s
    stages = group_by_prefix([row for row in result.ops if row.kernel], STAGE_DEPTH)
    points = [GapPoint(name, sum(r.flops for r in rows) / peak, sum(r.latency_s for r in rows))
              for name, rows in stages.items()]
    drawn = [p for p in points if p.ideal_s > 0 and p.predicted_s > 0]
    _check(drawn)
    fig = new_figure(9.5, max(3.0, 1.4 + 0.32 * len(drawn)))
    ax = fig.subplots()
    ys = [float(len(drawn) - 1 - i) for i in range(len(drawn))]  # first stage on top
    ax.set_yticks(ys, labels=[p.name for p in drawn], fontsize=FONT_SIZE)
    ax.set_ylim(-0.7, len(drawn) - 0.3)
    _draw_gaps(ax, drawn, ys, "latency per batch", room=12.0)
    _label_efficiency(ax, drawn, ys, total=s.latency_s)
    set_title(ax, title)
    note = f"model: E {percent(s.efficiency)}"
    if len(drawn) < len(points):
        note += f"; {len(points) - len(drawn)} stage(s) without FLOPs left out"
    ax.text(0.99, 0.01, note, transform=ax.transAxes, ha="right", va="bottom", fontsize=FONT_SIZE - 1,
            color="#444444", gid="stage-note")
    _legend(fig, False, False)
    return fig


def _draw_gaps(ax: Axes, points: Sequence[GapPoint], ys: Sequence[float], x_label: str,
               room: float = 5.0) -> list[Line2D]:
    """Segments and markers, ``room`` times the longest latency of space on the right for labels; returns the
    artists drawn (obstacles for labels)."""
    drawn: list[Line2D] = []
    for p, y in zip(points, ys, strict=True):
        drawn += ax.plot([p.ideal_s, p.actual_s], [y, y], color=GAP_COLOR, lw=2.5, solid_capstyle="butt", zorder=2,
                gid=f"gap:{p.name}")
        drawn += ax.plot([p.ideal_s], [y], ls="", marker="o", ms=6, mfc="white", mec=IDEAL_COLOR, mew=1.5, zorder=3,
                gid=f"ideal:{p.name}")
        if p.measured_s is not None:
            drawn += ax.plot([p.measured_s], [y], ls="", marker="o", ms=6, color=MEASURED_COLOR, zorder=4,
                    gid=f"measured:{p.name}")
            drawn += ax.plot([p.predicted_s], [y], ls="", marker="x", ms=5, mew=1.3, color=PREDICTED_COLOR, zorder=5,
                    gid=f"predicted:{p.name}")
        else:
            drawn += ax.plot([p.predicted_s], [y], ls="", marker="o", ms=6, color=PREDICTED_COLOR, zorder=4,
                    gid=f"predicted:{p.name}")
    values = [v for p in points for v in (p.ideal_s, p.predicted_s, p.measured_s) if v is not None]
    lo, hi = log_limits(values, pad=1.6)
    ax.set_xlim(lo, hi * room)
    log_axis(ax.xaxis, x_label, "s")
    finish_log_axis(ax.xaxis)
    ax.grid(True, axis="x", which="major", alpha=0.3)
    return drawn


def _label_efficiency(ax: Axes, points: Sequence[GapPoint], ys: Sequence[float], total: float | None = None) -> None:
    for p, y in zip(points, ys, strict=True):
        text = f"E {percent(p.efficiency)}"
        if total:
            share = p.predicted_s / total
            text += f", {share:.0%} of latency" if share >= 0.01 else ", <1% of latency"
        ax.annotate(text, (max(p.actual_s, p.predicted_s), y), xytext=(8, 0), textcoords="offset points",
                    va="center", fontsize=FONT_SIZE - 1, gid=f"efficiency:{p.name}")


def _legend(fig: Figure, measured: bool, frontier: bool) -> None:
    handles = [Line2D([], [], ls="", marker="o", mfc="white", mec=IDEAL_COLOR, mew=1.5, label="ideal: FLOPs / peak")]
    if measured:
        handles += [Line2D([], [], ls="", marker="o", color=MEASURED_COLOR, label="measured"),
                    Line2D([], [], ls="", marker="x", mew=1.5, color=PREDICTED_COLOR, label="predicted")]
    else:
        handles.append(Line2D([], [], ls="", marker="o", color=PREDICTED_COLOR, label="predicted"))
    handles.append(Line2D([], [], color=GAP_COLOR, lw=2.5, label="efficiency gap, E = ideal / actual"))
    if frontier:
        handles.append(Line2D([], [], color="#bbbbbb", lw=1, ls="--", label="accuracy-latency frontier"))
    fig.legend(handles=handles, fontsize=FONT_SIZE - 1, loc="outside lower center", ncols=len(handles), frameon=False)
