"""Figures of a design-space sweep (``costmodel sweep``): Pareto fronts, complexity EDFs, latency vs MACs.

- **Pareto front**: every candidate's metric (DeepMAD entropy by default; larger is better) against its latency
  on each device, the non-dominated candidates joined by a step line per device.
- **Complexity EDFs** as in Radosavovic et al., "Designing Network Design Spaces" (CVPR 2020): the share of
  candidates whose MACs, parameters or latency are at most x — a space's complexity distribution at a glance.
- **Latency vs MACs**, coloured by a variable: how far MACs predict latency on a device, and which design choice
  moves candidates off the trend.

Inputs are plain columns (numpy arrays); many thousands of points are drawn rasterized in the SVG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, LogLocator, MaxNLocator, NullFormatter

from ..errors import shown
from .common import FONT_SIZE, PlotError, new_figure, set_title
from .pareto import GROUP_COLORS

POINT_SIZE = 4.0
MAX_ALPHA = 0.6


def pareto_mask(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Boolean mask of the points no other point beats (smaller or equal x and larger y, one strictly)."""
    order = np.lexsort((-y, x))  # by x, then larger y first
    best = np.maximum.accumulate(y[order])
    keep = np.empty(len(order), dtype=bool)
    keep[0:1] = True
    keep[1:] = y[order][1:] > best[:-1]
    mask = np.zeros(len(x), dtype=bool)
    mask[order[keep]] = True
    return mask


def _scale(axis: Axis, values: np.ndarray, label: str, unit: str) -> None:
    """Label an axis; logarithmic when its positive values span more than 10x; SI-prefixed tick labels
    (``1 ms``, ``100 M``) on the major ticks only, at 1, 2 and 5 per decade when the values span under three decades
    (one label per decade would leave a 10-100x range with one or two)."""
    finite = values[np.isfinite(values)]
    log = finite.size > 0 and finite.min() > 0 and finite.max() / finite.min() > 10
    if log:
        axis.axes.set_xscale("log") if axis.axis_name == "x" else axis.axes.set_yscale("log")  # type: ignore[attr-defined]
        axis.set_minor_formatter(NullFormatter())
        if finite.max() / finite.min() < 1e3:
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    else:
        axis.set_major_locator(MaxNLocator(nbins=4))
    axis.set_major_formatter(EngFormatter(unit=unit, sep=" "))
    axis.set_label_text(label)


def _alpha(n: int) -> float:
    return float(min(MAX_ALPHA, max(0.05, 300 / max(n, 1))))


def _finite(*columns: np.ndarray) -> np.ndarray:
    mask = np.ones(len(columns[0]), dtype=bool)
    for column in columns:
        mask &= np.isfinite(column)
    return mask


def sweep_pareto_figure(latency: Mapping[str, np.ndarray], metric: np.ndarray, metric_label: str,
                        title: str) -> Figure:
    """``metric`` (larger is better) against latency (seconds) per device, with each device's Pareto front."""
    if not latency:
        raise PlotError("the Pareto front needs latency columns: sweep with --hw")
    fig = new_figure(8.0, 5.2)
    ax = fig.subplots()
    for k, (device, times) in enumerate(latency.items()):
        color = GROUP_COLORS[k % len(GROUP_COLORS)]
        ok = _finite(times, metric)
        if not ok.any():
            raise PlotError(f"no finite {metric_label} and latency.{device} values to plot")
        x, y = times[ok], metric[ok]
        ax.scatter(x, y, s=POINT_SIZE, color=color, alpha=_alpha(len(x)), linewidths=0, rasterized=True)
        front = pareto_mask(x, y)
        order = np.argsort(x[front])
        ax.step(x[front][order], y[front][order], where="post", color=color, linewidth=1.6,
                label=f"{device}: {int(front.sum())} on the front of {len(x)}")
        ax.scatter(x[front], y[front], s=14, color=color, edgecolors="black", linewidths=0.4, zorder=3)
    _scale(ax.xaxis, np.concatenate(list(latency.values())), "latency per batch", "s")
    ax.set_ylabel(METRIC_LABELS.get(metric_label, metric_label))
    ax.grid(True, which="major", alpha=0.3)
    fig.legend(loc="outside lower center", ncols=min(len(latency), 3), fontsize=FONT_SIZE, frameon=False)  # not
    # over the axes: inside, at a fixed corner, it hid a device's front points (a slow device's lowest, lower right)
    set_title(ax, title)
    return fig


EDF_LABELS = {"macs": "MACs per batch", "params": "parameters", "flops": "FLOPs per batch"}
METRIC_LABELS = {"entropy": "DeepMAD entropy (nats)", "effectiveness": "DeepMAD effectiveness ρ (largest)"}


def complexity_edf_figure(columns: Mapping[str, np.ndarray], title: str) -> Figure:
    """One panel per column (``macs``, ``params``, ``latency.DEVICE``, ...): the empirical distribution function,
    the share of candidates with a value at most x (log x)."""
    names = [n for n, v in columns.items() if np.isfinite(v).any()]
    if not names:
        raise PlotError("no complexity columns to plot")
    fig = new_figure(3.4 * len(names), 3.6)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=True):
        values = np.sort(columns[name][np.isfinite(columns[name])])
        share = np.arange(1, len(values) + 1) / len(values)
        ax.step(values, share, where="post", color=GROUP_COLORS[0], linewidth=1.5)
        latency = name.startswith("latency.")
        label = f"latency on {name.split('.', 1)[1]}" if latency else EDF_LABELS.get(name, name)
        _scale(ax.xaxis, values, label, "s" if latency else "")
        ax.set_ylim(0, 1.02)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel(f"share of candidates ≤ x (n = {len(columns[names[0]])})")
    set_title(fig, title)
    return fig


def latency_macs_figure(macs: np.ndarray, latency: np.ndarray, color: np.ndarray, color_label: str,
                        device: str, title: str) -> Figure:
    """Latency on ``device`` against MACs, each candidate coloured by ``color`` (a variable's value)."""
    ok = _finite(macs, latency, color)
    if not ok.any():
        raise PlotError(f"no finite MACs, latency.{device} and {color_label} values to plot")
    fig = new_figure(7.5, 5.2)
    ax = fig.subplots()
    points = ax.scatter(macs[ok], latency[ok], c=color[ok], s=POINT_SIZE * 2, cmap="viridis", linewidths=0,
                        alpha=min(1.0, _alpha(int(ok.sum())) * 1.5), rasterized=True)
    _scale(ax.xaxis, macs[ok], "MACs per batch", "")
    _scale(ax.yaxis, latency[ok], f"latency on {device} per batch", "s")
    ax.grid(True, which="major", alpha=0.3)
    bar = fig.colorbar(points, ax=ax)
    bar.set_label(color_label)
    if bar.solids is not None:
        bar.solids.set_alpha(1.0)
    set_title(ax, title)
    return fig


def numeric_column(values: Sequence[object]) -> tuple[np.ndarray, str]:
    """A column as numbers for colouring: numbers as they are, JSON lists (per-stage variables) by their sum."""
    import json

    out = np.empty(len(values), dtype=float)
    summed = False
    for i, value in enumerate(values):
        if isinstance(value, str):
            try:
                parsed = json.loads(value)
                flat = np.ravel(np.asarray(parsed, dtype=float)) if isinstance(parsed, list) else [float(parsed)]
            except (ValueError, TypeError):  # not JSON, or not a number or a (regular) list of numbers
                raise PlotError(f"cannot colour by values such as {shown(value, 40)}: not a number or a list of "
                                "numbers") from None
            out[i] = float(np.sum(flat))
            summed = summed or isinstance(parsed, list)
        elif value is None:
            out[i] = np.nan
        else:
            try:
                out[i] = float(value)  # type: ignore[arg-type]
            except (ValueError, TypeError):
                raise PlotError(f"cannot colour by values such as {shown(value, 40)}: not a number") from None
    return out, "sum of " if summed else ""
