"""The device's roofline with every kernel of the model on it, one panel per fusion mode.

Drawn: the spec roof (dashed grey: spec bandwidth slope, one ceiling per unit/dtype the profile lists), the
attained roof of each unit the model runs on (solid: bandwidth x memory efficiency, peak x compute
efficiency, ridge marked) and each kernel at (FLOPs / DRAM bytes, FLOPs / latency), coloured by op class,
area proportional to its share of the latency. See docs/plots.md.
"""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.axes import Axes
from matplotlib.colors import to_rgb, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullLocator

from ..hardware import HardwareProfile
from ..latency import LatencyResult, UnitPeak, efficiency_class, unit_for
from ..latency.roofline import attained_roof, bandwidth
from ..layout import shorten
from ..vocab import EfficiencyClass
from .common import (
    CLASS_COLORS,
    FONT_SIZE,
    PlotError,
    class_color,
    eng,
    log_axis,
    log_limits,
    new_figure,
    place_labels,
    set_title,
)
from .data import KernelPoint, kernel_points

FULL_AREA = 4000.0  # marker area (pt^2) of a kernel taking all of the latency
MIN_AREA = 6.0  # smallest marker area, so tiny kernels stay visible
UNIT_COLORS = {"matrix": "#222222", "vector": "#555555"}
SPEC_COLOR = "#9a9a9a"
FACE_ALPHA = 0.55  # point faces are translucent, rims opaque: a point under another still shows


def _darker(color: str, factor: float = 0.65) -> tuple[float, float, float]:
    """The colour scaled toward black (a point's rim)."""
    r, g, b = to_rgb(color)
    return (r * factor, g * factor, b * factor)


def spec_ceilings(profile: HardwareProfile) -> list[tuple[float, str]]:
    """(FLOP/s, label) per distinct spec peak of the profile; dtypes sharing a rate on a unit share a line."""
    merged: dict[tuple[str, float], list[str]] = {}
    for unit in ("matrix", "vector"):
        for dtype, tflops in getattr(profile.peak, unit).items():
            merged.setdefault((unit, tflops), []).append(dtype)
    out = []
    for (unit, tflops), dtypes in merged.items():
        rate = "TOPS" if dtypes == ["int8"] else "TFLOP/s"
        out.append((tflops * 1e12, f"{unit} {'/'.join(dtypes)}: {tflops:g} {rate}"))
    return out


def units_used(result: LatencyResult, profile: HardwareProfile) -> list[UnitPeak]:
    """The units (with the dtype whose peak they use) that the result's ops run on, matrix first."""
    dtype = result.summary.dtype
    units = {unit_for(profile, row.op_class, dtype) for row in result.ops if row.kernel}
    return sorted(units, key=lambda u: (u.name != "matrix", -u.peak_flops))


def roofline_figure(results: Mapping[str, LatencyResult], profile: HardwareProfile, title: str) -> Figure:
    """One roofline panel per fusion mode (the keys of ``results``): ops for ``none``, kernels otherwise.

    x: arithmetic intensity (FLOP/byte, log); y: attained FLOP/s (log). Kernels without FLOPs or without
    DRAM traffic have no place on a log roofline: they are left out and counted in the panel's note.
    """
    if not results:
        raise PlotError("roofline_figure needs at least one result")
    dtypes = {r.summary.dtype for r in results.values()}
    if len(dtypes) > 1:
        raise PlotError(f"roofline panels must share one dtype, got {', '.join(sorted(dtypes))}")
    points = {mode: kernel_points(result) for mode, result in results.items()}
    first = next(iter(results.values()))
    units = units_used(first, profile)
    roofs = unit_roofs(first, profile, units)
    attained_bw = max(bw for _, bw in roofs.values())
    ridges = [ceiling / bw for ceiling, bw in roofs.values()]
    ceilings = spec_ceilings(profile)
    xs = [p.intensity for pts in points.values() for p in pts if p.on_roofline] + ridges
    ys = [p.flops / p.latency_s for pts in points.values() for p in pts if p.on_roofline]
    x_lo, x_hi = log_limits([x for x in xs if x], pad=3.0)
    y_lo = min([*ys, attained_bw * x_lo]) / 2
    y_hi = max(c for c, _ in ceilings) * 2.5

    fig = new_figure(5.6 * len(results) + 2.6, 5.4)
    axes = fig.subplots(1, len(results), sharex=True, sharey=True, squeeze=False)[0]
    for ax, (mode, result) in zip(axes, results.items(), strict=True):
        _draw_roofs(ax, profile, units, roofs, ceilings, (x_lo, x_hi))
        _draw_points(ax, points[mode], result, mode)
        ax.set_xlim(x_lo, x_hi)
        ax.set_ylim(y_lo, y_hi)
        log_axis(ax.xaxis, "arithmetic intensity", "FLOP/byte")
        log_axis(ax.yaxis, "attained performance", "FLOP/s")
        ax.grid(True, which="major", alpha=0.25)
        s = result.summary
        ax.set_title(f"fusion {mode}: {s.kernels} kernels, {eng(s.latency_s, 's', 3)} per batch",
                     fontsize=FONT_SIZE + 1)
    for ax in axes[1:]:
        ax.yaxis.label.set_visible(False)
    set_title(fig, title, FONT_SIZE + 3)
    _label_ceilings(axes[-1], ceilings)
    handles = _legend_handles(points, units, roofs, bandwidth(profile))
    fig.legend(handles=handles, loc="outside right upper",
               fontsize=FONT_SIZE - 1, frameon=False)
    for ax, mode in zip(axes, results, strict=True):  # once the layout is final: name the slowest kernels
        _name_top(ax, points[mode])
    return fig


TOP_NAMED = 5  # kernels named on each roofline panel: the slowest
NAME_CHARS = 26


def _name_top(ax: Axes, points: list[KernelPoint]) -> None:
    """Name the :data:`TOP_NAMED` slowest drawn kernels beside their points (path shortened in the middle)."""
    top = sorted((p for p in points if p.on_roofline), key=lambda p: -p.latency_s)[:TOP_NAMED]
    if top:
        place_labels(ax, [(p.intensity or 0.0, p.flops / p.latency_s) for p in top],
                     [f"{shorten(p.name, NAME_CHARS)} {eng(p.latency_s, 's', 0)}" for p in top],
                     fontsize=FONT_SIZE - 2, obstacles=[c for c in ax.collections if c.get_gid() == "points:kernels"])


def unit_roofs(
    result: LatencyResult, profile: HardwareProfile, units: list[UnitPeak],
) -> dict[UnitPeak, tuple[float, float]]:
    """Per unit, the attained (FLOP/s, bytes/s) of the efficiency key that carries most of the latency on it:
    the roofs the latency model priced those ops with (``latency.roofline.attained_roof``), so a fitted
    profile's plotted ridge is the model's."""
    dtype = result.summary.dtype
    out = {}
    for unit in units:
        weight: dict[EfficiencyClass, float] = {}
        for row in result.ops:
            if row.kernel and unit_for(profile, row.op_class, dtype) == unit:
                key = efficiency_class(row.op, row.op_class)
                weight[key] = weight.get(key, 0.0) + row.latency_s
        key = max(weight, key=weight.__getitem__) if weight else EfficiencyClass.GEMM
        out[unit] = attained_roof(profile, key, unit.peak_flops)
    return out


def _draw_roofs(ax: Axes, profile: HardwareProfile, units: list[UnitPeak],
                roofs: Mapping[UnitPeak, tuple[float, float]], ceilings: list[tuple[float, str]],
                x_range: tuple[float, float]) -> None:
    x_lo, x_hi = x_range
    spec_bw = bandwidth(profile)
    top = max(c for c, _ in ceilings)
    ax.plot([x_lo, top / spec_bw], [x_lo * spec_bw, top], ls="--", lw=1, color=SPEC_COLOR, gid="spec-bandwidth")
    for rate, label in ceilings:
        ax.plot([rate / spec_bw, x_hi], [rate, rate], ls="--", lw=1, color=SPEC_COLOR, gid=f"spec-ceiling:{label}")
    lowest = min(u.peak_flops for u in units)
    for unit in units:
        ceiling, attained_bw = roofs[unit]
        ridge = ceiling / attained_bw
        left = len(units) > 1 and unit.peak_flops == lowest  # the lowest ridge's label left of its line
        color = UNIT_COLORS[unit.name]
        ax.plot([x_lo, ridge, x_hi], [x_lo * attained_bw, ceiling, ceiling], lw=1.8, color=color,
                gid=f"roof:{_unit_gid(unit)}", zorder=3)
        ax.plot([ridge], [ceiling], marker="D", ms=6, color=color, gid=f"ridge:{_unit_gid(unit)}", zorder=4)
        ax.axvline(ridge, ls=":", lw=1, color=color, zorder=2)
        # at the top of the panel: nothing can sit above the roofs, so the label hides no point
        ax.annotate(f"ridge {ridge:.3g} FLOP/B\n{_unit_label(unit)}", (ridge, 1),
                    xycoords=("data", "axes fraction"), xytext=(-3 if left else 3, -3), textcoords="offset points",
                    ha="right" if left else "left", va="top", fontsize=FONT_SIZE - 2, color=color)


def _label_ceilings(ax: Axes, ceilings: list[tuple[float, str]]) -> None:
    """The spec ceilings' names as tick labels on a right-hand axis (inline labels would hide points)."""
    side = ax.secondary_yaxis("right")
    side.set_yticks([rate for rate, _ in ceilings], labels=[label for _, label in ceilings])
    side.yaxis.set_minor_locator(NullLocator())
    side.tick_params(labelsize=FONT_SIZE - 2, colors="#666666")


def _draw_points(ax: Axes, points: list[KernelPoint], result: LatencyResult, mode: str) -> None:
    """Every drawable kernel as one scatter, largest first so small ones land on top, each with a darker rim of
    its class colour and a translucent face, so overlapping points all stay visible."""
    total = result.summary.latency_s
    drawn = sorted((p for p in points if p.on_roofline), key=lambda p: -p.latency_s)
    if drawn:
        faces = [to_rgba(class_color(p.op_class), FACE_ALPHA) for p in drawn]
        rims = [_darker(class_color(p.op_class)) for p in drawn]
        ax.scatter([p.intensity or 0.0 for p in drawn], [p.flops / p.latency_s for p in drawn],
                   s=[max(MIN_AREA, FULL_AREA * p.latency_s / total) for p in drawn], c=faces, edgecolors=rims,
                   linewidths=0.8, gid="points:kernels", zorder=5)
    what = "ops" if mode == "none" else "kernels"
    note = f"{len(drawn)} {what} drawn"
    if len(drawn) < len(points):
        note += f"; {len(points) - len(drawn)} left out\n(no FLOPs or no DRAM traffic)"
    ax.text(0.98, 0.03, note, transform=ax.transAxes, ha="right", va="bottom", fontsize=FONT_SIZE - 1,
            bbox={"boxstyle": "round", "fc": "white", "ec": "#cccccc"}, gid="left-out-note")


def _legend_handles(points: Mapping[str, list[KernelPoint]], units: list[UnitPeak],
                    roofs: Mapping[UnitPeak, tuple[float, float]], spec_bw: float) -> list[Line2D]:
    present = {p.op_class for pts in points.values() for p in pts if p.on_roofline}
    handles = [Line2D([], [], ls="", marker="o", ms=7, mfc=to_rgba(class_color(c), FACE_ALPHA),
                      mec=_darker(class_color(c)), label=c)
               for c in [*CLASS_COLORS, *sorted(present - set(CLASS_COLORS))] if c in present]
    for share in (0.01, 0.1):
        size = (max(MIN_AREA, FULL_AREA * share)) ** 0.5
        handles.append(Line2D([], [], ls="", marker="o", ms=size, color="#bbbbbb", label=f"{share:.0%} of latency"))
    for unit in units:
        ceiling, attained_bw = roofs[unit]
        handles.append(Line2D([], [], lw=1.8, color=UNIT_COLORS[unit.name],
                              label=f"attained roof: {_unit_label(unit)}\n"
                                    f"({ceiling * unit.scale / unit.peak_flops:.3g} x peak, "
                                    f"{attained_bw / spec_bw:.3g} x bandwidth)"))
    handles.append(Line2D([], [], lw=1, ls="--", color=SPEC_COLOR, label="spec peaks and bandwidth"))
    return handles


def _unit_label(unit: UnitPeak) -> str:
    """``vector fp32``; ``vector fp32 GEMMs`` for the vector roof of GEMM-like ops priced at the profile's
    ``efficiency.vector_gemm`` (a roof of its own beside the other vector ops')."""
    return f"{unit.name} {unit.dtype}" + (" GEMMs" if unit.scale != 1.0 else "")


def _unit_gid(unit: UnitPeak) -> str:
    """``vector:fp32``, or ``vector:fp32:gemm`` for the GEMMs' own vector roof (see :func:`_unit_label`)."""
    return f"{unit.name}:{unit.dtype}" + (":gemm" if unit.scale != 1.0 else "")
