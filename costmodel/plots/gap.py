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
from matplotlib.transforms import ScaledTranslation, Transform

from ..analysis.metrics import group_by_prefix
from ..latency import LatencyResult
from ..latency.model import STAGE_DEPTH
from ..layout import percent
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


def _check(points: Sequence[GapPoint]) -> None:
    if not points:
        raise PlotError("an efficiency-gap plot needs at least one model")
    for p in points:
        if not (p.ideal_s > 0 and p.predicted_s > 0 and (p.measured_s is None or p.measured_s > 0)):
            raise PlotError(f"{p.name}: latencies must be positive to sit on a log axis")


def spread(values: Sequence[float], gap: float) -> list[float]:
    """Positions for ``values`` (one axis, any unit) at least ``gap`` apart, order kept: values closer than
    ``gap`` form a cluster laid out ``gap`` apart around its mean; others stay where they are."""
    blocks: list[tuple[float, list[int]]] = []  # (position of the first member, members in order)
    for i in sorted(range(len(values)), key=lambda j: values[j]):
        blocks.append((values[i], [i]))
        while len(blocks) > 1 and blocks[-2][0] + gap * len(blocks[-2][1]) > blocks[-1][0] + 1e-9:
            members = blocks[-2][1] + blocks[-1][1]
            mean = sum(values[j] for j in members) / len(members)
            blocks[-2:] = [(mean - gap * (len(members) - 1) / 2, members)]
    out = [0.0] * len(values)
    for start, members in blocks:
        for k, j in enumerate(members):
            out[j] = start + k * gap
    return out


def efficiency_gap_figure(points: Sequence[GapPoint], title: str, *,
                          x_label: str = "latency per image") -> Figure:
    """Each model a horizontal segment from ideal to measured (or predicted) latency, labelled with E.

    y: published top-1 (%) when there are several points and every one has a top-1 (the accuracy-latency
    frontier of the drawn latencies is added), else the models stacked by efficiency, most efficient on top.
    Rows whose top-1 differ by less than a marker's height are drawn a few points apart (their data stay
    exact; a note says so), and every label is placed clear of markers, segments and the frontier.
    """
    _check(points)
    by_accuracy = len(points) > 1 and all(p.top1 is not None for p in points)
    height = 5.8 if by_accuracy else max(3.0, 1.2 + 0.32 * len(points))
    fig = new_figure(9.5, height)
    ax = fig.subplots()
    set_title(ax, title)
    _legend(fig, any(p.measured_s is not None for p in points), by_accuracy)
    if not by_accuracy:
        order = sorted(range(len(points)), key=lambda i: points[i].efficiency)
        ys = [0.0] * len(points)
        for rank, i in enumerate(order):
            ys[i] = float(rank)
        ax.set_yticks(range(len(points)), labels=[points[i].name for i in order], fontsize=FONT_SIZE)
        ax.set_ylim(-0.7, len(points) - 0.3)
        _draw_gaps(ax, points, ys, x_label)
        _label_efficiency(ax, points, ys)
        return fig
    ys = [float(p.top1) for p in points]  # type: ignore[arg-type]
    ax.set_ylabel("ImageNet top-1 accuracy (%)")
    pad = 0.08 * ((max(ys) - min(ys)) or 1.0)
    ax.set_ylim(min(ys) - pad, max(ys) + pad)
    nudges, per_unit = _row_nudges(ax, ys, x_label)
    shifted = [ax.transData + ScaledTranslation(0, dy / 72, fig.dpi_scale_trans) for dy in nudges]
    frontier = pareto_frontier([ParetoPoint(p.name, p.actual_s, y) for p, y in zip(points, ys, strict=True)])
    drawn_y = {p.name: y + dy / per_unit for p, y, dy in zip(points, ys, nudges, strict=True)}  # through the markers
    ax.step([f.x for f in frontier], [drawn_y[f.name] for f in frontier], where="post", color="#bbbbbb", lw=1,
            ls="--", zorder=1, gid="frontier")  # not an obstacle: a label may cover this light line
    drawn = _draw_gaps(ax, points, ys, x_label, transforms=shifted)
    if any(nudges):
        ax.text(0.01, 0.99, "rows with near-equal top-1 are spread apart\nby a few points for legibility",
                transform=ax.transAxes, ha="left", va="top", fontsize=FONT_SIZE - 2, color="#666666", gid="row-note")
    place_labels(ax, [(max(p.actual_s, p.predicted_s), y) for p, y in zip(points, ys, strict=True)],
                 [f"{p.name}  E {percent(p.efficiency)}" for p in points], obstacles=drawn, transforms=shifted)
    return fig


ROW_GAP_PT = 9.0  # points: rows closer than this on the accuracy axis are drawn this far apart (labels: ~8.5 pt)


def _row_nudges(ax: Axes, ys: Sequence[float], x_label: str) -> tuple[list[float], float]:
    """Vertical offsets (points) that put every row at least :data:`ROW_GAP_PT` from the next, and the points
    per y unit (the layout is settled first, so the axes' height is known)."""
    ax.set_xlabel(x_label)  # the final label, so the layout below matches the finished figure
    fig = ax.get_figure(root=True)
    assert fig is not None  # our axes always belong to a figure
    fig.draw_without_rendering()
    lo, hi = ax.get_ylim()
    per_unit = ax.get_window_extent().height / fig.dpi * 72 / (hi - lo)  # points per % of accuracy
    at = [y * per_unit for y in ys]
    nudges = [new - old if abs(new - old) > 1e-6 else 0.0 for new, old in zip(spread(at, ROW_GAP_PT), at, strict=True)]
    return nudges, per_unit


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
               room: float = 5.0, transforms: Sequence[Transform] | None = None) -> list[Line2D]:
    """Segments and markers, ``room`` times the longest latency of space on the right for labels; returns the
    artists drawn (obstacles for labels). ``transforms``: per row (default ``ax.transData``)."""
    drawn: list[Line2D] = []
    rows = transforms if transforms is not None else [ax.transData] * len(points)
    for p, y, tr in zip(points, ys, rows, strict=True):
        drawn += ax.plot([p.ideal_s, p.actual_s], [y, y], color=GAP_COLOR, lw=2.5, solid_capstyle="butt", zorder=2,
                         transform=tr, gid=f"gap:{p.name}")
        drawn += ax.plot([p.ideal_s], [y], ls="", marker="o", ms=6, mfc="white", mec=IDEAL_COLOR, mew=1.5, zorder=3,
                         transform=tr, gid=f"ideal:{p.name}")
        if p.measured_s is not None:
            drawn += ax.plot([p.measured_s], [y], ls="", marker="o", ms=6, color=MEASURED_COLOR, zorder=4,
                             transform=tr, gid=f"measured:{p.name}")
            drawn += ax.plot([p.predicted_s], [y], ls="", marker="x", ms=5, mew=1.3, color=PREDICTED_COLOR, zorder=5,
                             transform=tr, gid=f"predicted:{p.name}")
        else:
            drawn += ax.plot([p.predicted_s], [y], ls="", marker="o", ms=6, color=PREDICTED_COLOR, zorder=4,
                             transform=tr, gid=f"predicted:{p.name}")
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
