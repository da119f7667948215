"""Waterline analysis: the network as its sequence of kernels along a cumulative-latency axis.

Each kernel is a bar of width = its latency (seconds) and height = its arithmetic intensity (FLOPs / DRAM
bytes, log); the waterline is the ridge point of the unit carrying most of the model's FLOPs. Bars below it
are memory-bound on that unit ("under water"); the panel states the share of time under water. One panel per
fusion mode, sharing the time axis, so fusion lifting blocks above the line shows. See docs/plots.md.
"""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..latency import LatencyResult
from .common import FONT_SIZE, PlotError, eng, log_axis, new_figure, set_title, time_axis
from .data import KernelPoint, kernel_points, main_unit_ridge

BELOW_COLOR = "#1f4e79"  # memory-bound on the main unit: under water
ABOVE_COLOR = "#e08a1e"  # above the waterline
WATER_COLOR = "#cfe6f5"
FLOOR_FACTOR = 3.0  # the y floor sits this far below the lowest positive intensity


def under_water_share(points: list[KernelPoint], waterline: float) -> float:
    """Fraction of the kernels' total latency spent in kernels whose intensity is below ``waterline`` (a kernel
    without FLOPs counts as under water; one without DRAM traffic as above)."""
    total = sum(p.latency_s for p in points)
    under = sum(p.latency_s for p in points if _intensity(p) < waterline)
    return under / total if total else 0.0


def _intensity(p: KernelPoint) -> float:
    return p.intensity if p.intensity is not None else float("inf")


def waterline_figure(results: Mapping[str, LatencyResult], title: str) -> Figure:
    """One waterline panel per fusion mode (the keys of ``results``), stacked, sharing the time axis."""
    if not results:
        raise PlotError("waterline_figure needs at least one result")
    points = {mode: kernel_points(result) for mode, result in results.items()}
    if not any(points.values()):
        raise PlotError("the model has no kernels to draw")
    unit, waterline = main_unit_ridge(next(iter(results.values())))
    finite = [i for pts in points.values() for p in pts if (i := p.intensity) is not None and i > 0]
    floor = min([*finite, waterline]) / FLOOR_FACTOR
    top = max([*finite, waterline]) * FLOOR_FACTOR

    fig = new_figure(11.0, 1.2 + 2.9 * len(results))
    axes = fig.subplots(len(results), 1, sharey=True, squeeze=False)[:, 0]  # each panel spans its own latency
    for ax, (mode, result) in zip(axes, results.items(), strict=True):
        pts = points[mode]
        starts, widths, heights, colors = [], [], [], []
        clock = 0.0
        for p in pts:
            intensity = min(max(_intensity(p), floor * 1.15), top)  # no FLOPs: a stub; no traffic: full height
            starts.append(clock)
            widths.append(p.latency_s)
            heights.append(intensity - floor)
            colors.append(BELOW_COLOR if _intensity(p) < waterline else ABOVE_COLOR)
            clock += p.latency_s
        ax.bar(starts, heights, width=widths, bottom=floor, align="edge", color=colors, linewidth=0, gid="kernels")
        ax.fill_between([0.0, clock], floor, waterline, color=WATER_COLOR, lw=0, zorder=0, gid="water")
        ax.plot([0.0, clock], [waterline, waterline], color=BELOW_COLOR, lw=1.2, ls="--", gid="waterline")
        share = under_water_share(pts, waterline)
        ax.text(0.99, 0.95, f"{share:.0%} of the time under water", transform=ax.transAxes, ha="right", va="top",
                fontsize=FONT_SIZE, bbox={"boxstyle": "round", "fc": "white", "ec": "#cccccc"}, gid="share")
        s = result.summary
        ax.set_title(f"fusion {mode}: {s.kernels} kernels, {eng(s.latency_s, 's', 3)} per batch",
                     fontsize=FONT_SIZE + 1, loc="left")
        ax.set_ylim(floor, top)
        log_axis(ax.yaxis, "arithmetic intensity", "FLOP/byte")
        ax.grid(True, axis="y", which="major", alpha=0.3)
        ax.set_xlim(0, clock * 1.01 or 1e-6)
        time_axis(ax.xaxis, "cumulative latency")
    set_title(fig, title, FONT_SIZE + 3)
    handles = [Patch(color=BELOW_COLOR, label="below the waterline (memory-bound)"),
               Patch(color=ABOVE_COLOR, label="above the waterline"),
               Patch(color=WATER_COLOR, label=f"water: intensity < ridge {waterline:.3g} FLOP/byte ({unit} unit)")]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=FONT_SIZE - 1, frameon=False)
    return fig
