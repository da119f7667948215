"""Throughput against batch size: one line per label (device or model), where it saturates marked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, NullLocator

from ..latency import ModelLatency
from .common import FONT_SIZE, PlotError, finish_log_axis, formatter_for, new_figure, place_labels, set_title
from .pareto import GROUP_COLORS

SATURATION = 0.9  # a sweep saturates at the smallest batch reaching this fraction of its best throughput


def saturation_batch(sweep: Sequence[ModelLatency]) -> int:
    """The smallest batch whose throughput is at least 90 % of the sweep's highest."""
    best = max(s.throughput for s in sweep)
    return min(s.batch for s in sweep if s.throughput >= SATURATION * best)


def throughput_figure(sweeps: Mapping[str, Sequence[ModelLatency]], title: str) -> Figure:
    """Images/s against batch (log-log), one line per label; a ring marks where each line reaches 90 % of its
    highest throughput."""
    if not sweeps or not all(sweeps.values()):
        raise PlotError("throughput_figure needs at least one non-empty sweep")
    fig = new_figure(8.0, 5.2)
    ax = fig.subplots()
    batches = sorted({s.batch for sweep in sweeps.values() for s in sweep})
    obstacles: list[Line2D] = []
    knees: list[tuple[tuple[float, float], str, str]] = []
    for i, (label, sweep) in enumerate(sweeps.items()):
        color = GROUP_COLORS[i % len(GROUP_COLORS)]
        ordered = sorted(sweep, key=lambda s: s.batch)
        obstacles += ax.plot([s.batch for s in ordered], [s.throughput for s in ordered], marker="o", ms=4,
                             color=color, label=label, gid=f"sweep:{label}")
        knee = saturation_batch(ordered)
        rate = next(s.throughput for s in ordered if s.batch == knee)
        obstacles += ax.plot([knee], [rate], ls="", marker="o", ms=12, mfc="none", mec=color, mew=1.5,
                             gid=f"saturation:{label}")
        knees.append(((knee, rate), f"{SATURATION:.0%} of max at batch {knee}", color))
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(FixedLocator(batches))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(formatter_for(""))
    ax.yaxis.set_major_formatter(formatter_for(""))
    ax.set_xlabel("batch size (images)")
    ax.set_ylabel("throughput (images/s)")
    ax.margins(x=0.08, y=0.15)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=FONT_SIZE, loc="upper left")
    set_title(ax, title)
    ax.autoscale_view()
    finish_log_axis(ax.yaxis)
    notes = place_labels(ax, [k[0] for k in knees], [k[1] for k in knees], obstacles=obstacles)
    for note, (_, _, color) in zip(notes, knees, strict=True):
        note.set_color(color)
    return fig
