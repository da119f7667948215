"""What every plot shares: the error type, atomic saving, titles, colours, log axes with units, labels.

Figures are built with ``matplotlib.figure.Figure`` and an Agg canvas, never pyplot, so nothing global changes.
Units: seconds, FLOP/s, FLOP/byte; axes say which.
"""

from __future__ import annotations

import io
import math
import os
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
from matplotlib import rc_context
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cbook import STEP_LOOKUP_MAP
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Annotation
from matplotlib.ticker import EngFormatter, Formatter, FuncFormatter, LogLocator, NullFormatter
from matplotlib.transforms import Bbox, Transform

from ..errors import PlotError
from ..fileio import missing_folders, remove_folders, replace_all, replacement_target, temp_beside, written_in_place
from ..units import time_unit
from ..vocab import OpClass

PNG_DPI = 150
FONT_SIZE = 9
SVG_HASH_SALT = "costmodel"  # SVG element ids are hashes salted with this: fixed, so the same figure, same bytes
REPRODUCIBLE_METADATA: dict[str, dict[str, str | None]] = {"svg": {"Date": None}}  # no <dc:date> in SVGs

# One colour per op class, the same in every plot (a test checks every class has one).
CLASS_COLORS: dict[OpClass, str] = {
    OpClass.GEMM: "#1f77b4",
    OpClass.DEPTHWISE: "#ff7f0e",
    OpClass.ATTENTION: "#9467bd",
    OpClass.NORM: "#2ca02c",
    OpClass.ELEMENTWISE: "#d62728",
    OpClass.REDUCTION: "#8c564b",
    OpClass.DATA_MOVEMENT: "#7f7f7f",
    OpClass.VIEW: "#c7c7c7",
}
OTHER_COLOR = "#17becf"


def class_color(op_class: OpClass | str) -> str:
    """The colour of an op class (a fixed fallback for anything else, e.g. aggregated groups)."""
    return CLASS_COLORS[OpClass(op_class)] if op_class in OpClass.values() else OTHER_COLOR


def plot_title(subject: str, device: str, dtype: str, batch: int, fusion: str | None = None) -> str:
    """``"convnext_t on NVIDIA A100 80GB: fp16, batch 1, fusion none"`` (no fusion part when ``fusion`` is None)."""
    title = f"{subject} on {device}: {dtype}, batch {batch}"
    return f"{title}, fusion {fusion}" if fusion is not None else title


TITLE_EM_PER_CHAR = 0.58  # average width of a title character in ems (DejaVu Sans is ~0.55; a little spare)
TITLE_SPILL_IN = 0.4  # inches an axes title may reach past each side of its axes (into the label margins)


def wrap_title(text: str, width_in: float, fontsize: float) -> str:
    """``text`` broken at spaces into lines that fit ``width_in`` inches at ``fontsize`` points."""
    chars = max(20, int(width_in * 72 / (fontsize * TITLE_EM_PER_CHAR)))
    return "\n".join(textwrap.fill(line, chars, break_on_hyphens=False) or line for line in text.split("\n"))


def set_title(target: Figure | Axes, text: str, fontsize: float = FONT_SIZE + 2, **kwargs: object) -> None:
    """Title a figure (``suptitle``) or an axes, wrapped to the width it has (the figure's, or the axes' share
    of it), so a long title is never clipped."""
    if isinstance(target, Figure):
        target.suptitle(wrap_title(text, target.get_figwidth(), fontsize), fontsize=fontsize, **kwargs)  # type: ignore[arg-type]
        return
    fig = target.get_figure(root=True)
    assert fig is not None  # our axes always belong to a figure
    width = fig.get_figwidth() * (target.get_position().x1 - target.get_position().x0) + 2 * TITLE_SPILL_IN
    target.set_title(wrap_title(text, min(width, fig.get_figwidth() - 0.2), fontsize), fontsize=fontsize,
                     **kwargs)  # type: ignore[arg-type]


def new_figure(width: float, height: float) -> Figure:
    """A figure (inches) with an Agg canvas and constrained layout, detached from pyplot."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_format(path: Path, default: str = "png") -> str:
    """The image format a file name asks for (its extension, any case; ``default`` without one), checked before
    any work is done: an extension matplotlib cannot write is a :class:`PlotError` listing those it can."""
    fmt = path.suffix.lstrip(".").lower() or default
    supported = FigureCanvasAgg.get_supported_filetypes()
    if fmt not in supported:
        raise PlotError(f"cannot write a plot to {path}: unknown figure format {fmt!r}; choose from "
                        f"{', '.join(sorted(supported))}")
    return fmt


def save_figure(fig: Figure, stem: Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Write ``stem.<fmt>`` for each format (PNG at 150 dpi), all or nothing: :func:`save_figures` of one figure."""
    return save_figures({Path(stem): fig}, formats)


def save_figures(figures: Mapping[Path, Figure], formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Write ``stem.<fmt>`` of every figure (stem -> figure) for each format (PNG at 150 dpi), atomically: every file
    is rendered to a temporary file in its target folder first and moved into place only when all are rendered, all
    or nothing across figures and formats (a move that fails puts back the files already replaced, removes those that
    were new: :func:`fileio.replace_all`). Creates parent folders (removed again when it fails); files get the
    permissions of a plain ``open()`` (``0o666 & ~umask``). Returns the paths written, figure by figure.

    Reproducible: the same figure gives the same bytes (no date in the SVG metadata, fixed SVG id salt).
    Raises :class:`PlotError` naming the path on any OS error or an unknown format. Closes the figures.
    """
    try:
        return _save_all({Path(stem): fig for stem, fig in figures.items()}, formats)
    finally:
        for fig in figures.values():
            _close(fig)


def _save_all(figures: dict[Path, Figure], formats: Sequence[str]) -> list[Path]:
    supported = FigureCanvasAgg.get_supported_filetypes()
    unknown = [fmt for fmt in formats if fmt not in supported]
    if unknown:
        raise PlotError(f"unknown figure format(s) {', '.join(unknown)}; choose from {', '.join(sorted(supported))}")
    moves: list[tuple[Path, Path]] = []  # (temporary file, target)
    written: list[Path] = []  # the paths named, figure by figure (a symbolic link's, not its target's)
    in_place: list[tuple[Path, bytes]] = []  # a device or FIFO (fileio.written_in_place): written, never replaced
    current: Path | None = None
    for fig in figures.values():
        fig.draw_without_rendering()  # lay out once and keep it: every file (and a second save) gets the same layout
        fig.set_layout_engine("none")
    parents = list(dict.fromkeys(stem.parent for stem in figures))
    created, done = [missing_folders(parent) for parent in parents], False
    try:
        for current in parents:
            current.mkdir(parents=True, exist_ok=True)
        for stem, fig in figures.items():
            for fmt in formats:
                current = stem.parent / f"{stem.name}.{fmt}"
                written.append(current)
                if written_in_place(current):
                    buffer = io.BytesIO()
                    _render(fig, buffer, fmt)
                    in_place.append((current, buffer.getvalue()))
                    continue
                fd, tmp = temp_beside(replacement_target(current))  # a symbolic link stays one: its file replaced
                moves.append((tmp, replacement_target(current)))
                with os.fdopen(fd, "wb") as handle:
                    _render(fig, handle, fmt)
        current = None
        replace_all(moves)  # all or nothing: never a new PNG beside an old SVG, nor one new figure beside old ones
        done = True
        for current, data in in_place:
            with open(current, "wb") as handle:
                handle.write(data)
        current = None
    except OSError as exc:
        failed = current if current is not None else exc.filename
        raise PlotError(f"cannot write {failed}: {exc.strerror or exc}") from None
    finally:
        for tmp, _ in moves:
            tmp.unlink(missing_ok=True)
        if not done:
            for chain in created:  # each parent's chain, innermost first (a folder shared by two: tried from both)
                remove_folders(chain)
    return written


def _render(fig: Figure, handle: Any, fmt: str) -> None:
    """Write ``fig`` in ``fmt`` to the binary ``handle``, reproducibly (no date, a fixed SVG id salt)."""
    with rc_context({"svg.hashsalt": SVG_HASH_SALT}):
        fig.savefig(handle, format=fmt, dpi=PNG_DPI, metadata=REPRODUCIBLE_METADATA.get(fmt))


def _close(fig: Figure) -> None:
    """Release a figure that pyplot manages (ours are not managed: they are freed with their last reference)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)


# ------------------------------------------------------------------------------------------------ axes


def eng(value: float, unit: str, places: int | None = None) -> str:
    """Engineering notation with an SI prefix: ``eng(2.5e-4, "s") == "250 µs"``."""
    return EngFormatter(unit=unit, places=places, sep=" ")(value)


def _plain(value: float, _pos: object = None) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:g}"


WIDE_TIME_DECADES = 4  # a log time axis spanning more than this many decades labels each tick in its own unit


class TimeFormatter(Formatter):
    """Tick labels of a time axis (data in seconds) as plain numbers in one unit, the unit its largest visible
    value reads best in; the axis label ``QUANTITY (UNIT)`` is set to the same unit when the ticks are drawn, so
    label and ticks always agree (``latency (ms)`` over 0.5, 1, 2). A log axis spanning more than
    :data:`WIDE_TIME_DECADES` decades labels each tick in its own unit (``1 ns``, ``10 µs``, ``1 ms``) under the plain
    ``QUANTITY``: in one unit its small ticks read ``1e-06``."""

    def __init__(self, quantity: str) -> None:
        self.quantity = quantity

    def _scale(self) -> tuple[float, str]:
        lo, hi = self.axis.get_view_interval() if self.axis is not None else (1.0, 1.0)
        return time_unit(max(abs(lo), abs(hi)))

    def _wide(self) -> bool:
        if not isinstance(self.axis, Axis) or self.axis.get_scale() != "log":
            return False
        lo, hi = sorted(self.axis.get_view_interval())
        return lo > 0 and math.log10(hi / lo) > WIDE_TIME_DECADES

    def __call__(self, x: float, pos: object = None) -> str:
        wide = self._wide()
        scale, unit = time_unit(x) if wide else self._scale()
        label = self.quantity if wide else f"{self.quantity} ({unit})"
        axis = self.axis
        if isinstance(axis, Axis) and axis.get_label_text() != label:
            axis.set_label_text(label)
        return f"{_plain(x / scale)} {unit}" if wide else _plain(x / scale)


def time_axis(axis: Axis, quantity: str) -> None:
    """Label ``axis`` (data in seconds) ``quantity (unit)`` with ticks in that unit (see :class:`TimeFormatter`)."""
    axis.set_major_formatter(TimeFormatter(quantity))
    axis.set_label_text(f"{quantity} (s)")  # until the ticks are drawn and the unit is chosen


def formatter_for(unit: str) -> Formatter:
    """Tick labels for a unit: SI prefixes for FLOP/s and bytes, plain numbers otherwise (time: time_axis)."""
    if unit in ("FLOP/s", "B", "B/s"):
        return EngFormatter(unit=unit, sep=" ")
    return FuncFormatter(_plain)


def log_axis(axis: Axis, quantity: str, unit: str) -> None:
    """Make ``axis`` logarithmic, labelled ``quantity (unit)``, with unit-aware tick labels."""
    if axis.axis_name == "x":  # type: ignore[attr-defined]  # set on XAxis / YAxis
        axis.axes.set_xscale("log")
    else:
        axis.axes.set_yscale("log")
    if unit == "s":
        time_axis(axis, quantity)
    else:
        axis.set_label_text(f"{quantity} ({unit})")
        axis.set_major_formatter(formatter_for(unit))
    axis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))  # few minor ticks: legible, and fast to lay out
    axis.set_minor_formatter(NullFormatter())


def finish_log_axis(axis: Axis) -> None:
    """Once the limits are final: on a log axis spanning under three decades, tick at 1, 2 and 5 x 10^k too, so
    at least a few labels show."""
    lo, hi = sorted(axis.get_view_interval())
    if lo > 0 and math.log10(hi / lo) < 3:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_minor_formatter(NullFormatter())


def log_limits(values: Sequence[float], pad: float = 2.0) -> tuple[float, float]:
    """Limits around positive ``values`` on a log axis, ``pad`` times beyond the extremes."""
    lo, hi = min(values), max(values)
    return lo / pad, hi * pad


# ---------------------------------------------------------------------------------------------- labels

def _ring() -> tuple[tuple[int, int], ...]:
    """Candidate label offsets (points from the anchor): close beside it first (right, above, below, left),
    then rings further out, each ring trying right, up, down and left directions; far ones get a leader line."""
    near = [(6, 0), (6, 8), (6, -8), (-6, 0), (0, 11), (0, -11)]
    ring = [(round(r * math.cos(math.radians(a))), round(r * math.sin(math.radians(a))))
            for r in (16, 26, 38, 52) for a in (0, 25, -25, 55, -55, 90, -90, 180, 155, -155, 125, -125)]
    return tuple(dict.fromkeys([*near, *ring]))


_OFFSETS = _ring()
LEADER_FROM = 14.0  # points: a label this far from its anchor gets a thin line back to it
_SEGMENT_PIECE = 6.0  # pixels: a slanted segment is covered by boxes this long (one box would cover its whole span)


def _segment_boxes(xy: np.ndarray, pad: float) -> list[Bbox]:
    """Boxes covering a polyline (display coordinates): one per axis-aligned segment, short pieces for slanted
    ones."""
    boxes = []
    for (x0, y0), (x1, y1) in zip(xy[:-1], xy[1:], strict=True):
        if not (np.isfinite([x0, y0, x1, y1]).all()):
            continue
        pieces = 1 if min(abs(x1 - x0), abs(y1 - y0)) < 2 else int(math.hypot(x1 - x0, y1 - y0) // _SEGMENT_PIECE) + 1
        ts = np.linspace(0.0, 1.0, pieces + 1)
        xs, ys = x0 + ts * (x1 - x0), y0 + ts * (y1 - y0)
        boxes += [Bbox([[min(xs[i], xs[i + 1]) - pad, min(ys[i], ys[i + 1]) - pad],
                        [max(xs[i], xs[i + 1]) + pad, max(ys[i], ys[i + 1]) + pad]]) for i in range(pieces)]
    return boxes


def _boxes(artist: Artist, renderer: RendererBase) -> list[Bbox]:
    """Display boxes an artist covers: for a line, its segments as drawn (steps included) and its markers; for
    a scatter, one box per point (their common extent would cover everything between them)."""
    px = cast(float, renderer.points_to_pixels(1.0))
    if isinstance(artist, Line2D):
        x, y = np.asarray(artist.get_xdata(), float), np.asarray(artist.get_ydata(), float)
        boxes = []
        if artist.get_linestyle() not in ("None", "", " ", "none"):
            steps = STEP_LOOKUP_MAP.get(artist.get_drawstyle() or "default", STEP_LOOKUP_MAP["default"])
            drawn = artist.get_transform().transform(np.column_stack(steps(x, y)))
            boxes += _segment_boxes(drawn, float(artist.get_linewidth()) * px / 2)
        if artist.get_marker() not in (None, "None", "", " ", "none"):
            half = float(artist.get_markersize()) * px / 2
            boxes += [Bbox([[a - half, b - half], [a + half, b + half]])
                      for a, b in artist.get_transform().transform(np.column_stack([x, y]))]
        return boxes
    if isinstance(artist, PathCollection):
        offsets = artist.get_offset_transform().transform(artist.get_offsets())
        sizes = np.resize(artist.get_sizes(), len(offsets)) if len(artist.get_sizes()) else np.full(len(offsets), 36.0)
        return [Bbox([[a - h, b - h], [a + h, b + h]]) for (a, b), h in zip(offsets, np.sqrt(sizes) * px / 2,
                                                                           strict=True)]
    return [artist.get_window_extent(renderer)]


def _overlap(box: Bbox, others: np.ndarray) -> float:
    """Total area (pixels^2) of ``box`` covered by the boxes in ``others`` (rows x0, y0, x1, y1)."""
    if not len(others):
        return 0.0
    w = np.minimum(box.x1, others[:, 2]) - np.maximum(box.x0, others[:, 0])
    h = np.minimum(box.y1, others[:, 3]) - np.maximum(box.y0, others[:, 1])
    return float(np.sum(np.clip(w, 0, None) * np.clip(h, 0, None)))


def place_labels(ax: Axes, anchors: Sequence[tuple[float, float]], texts: Sequence[str],
                 fontsize: float = FONT_SIZE - 1, obstacles: Sequence[Artist] = (),
                 transforms: Sequence[Transform] | None = None) -> list[Annotation]:
    """Annotate data points with ``texts`` without overlaps as far as a simple search allows.

    First every label whose first-choice spot (right of its point) is free of the ``obstacles`` (markers, line
    segments as drawn, scatter points), inside the axes and clear of every other such spot takes it. The
    others, top to bottom, try offsets around their anchor, near ones first (:data:`_OFFSETS`), and take the
    first free one (clear of obstacles and labels placed), else the one with the least overlap. A label placed
    further than :data:`LEADER_FROM` points gets a thin leader line to its point. ``transforms``: per anchor,
    the transform of its coordinates (default ``ax.transData``). Returns the annotations in anchor order.
    """
    fig = ax.figure
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    canvas.draw()  # settle the layout so display coordinates are final
    renderer = canvas.get_renderer()
    frame = np.array([ax.get_window_extent(renderer).extents])
    coords = list(transforms) if transforms is not None else [ax.transData] * len(anchors)
    blocked = np.array([box.extents for artist in obstacles for box in _boxes(artist, renderer)]).reshape(-1, 4)
    notes = [ax.annotate(text, anchor, xycoords=tr, xytext=_OFFSETS[0], textcoords="offset points",
                         fontsize=fontsize, va="center", ha="left", annotation_clip=False, bbox=_LABEL_BOX)
             for text, anchor, tr in zip(texts, anchors, coords, strict=True)]

    def cost(note: Annotation, offset: tuple[int, int], others: np.ndarray) -> tuple[float, Bbox]:
        note.set_position(offset)
        note.set_horizontalalignment("left" if offset[0] >= 0 else "right")
        box = note.get_window_extent(renderer)
        outside = box.width * box.height - _overlap(box, frame)
        return _overlap(box, others) + 10 * outside, box

    first = [cost(note, _OFFSETS[0], blocked) for note in notes]
    free = [i for i, (c, _) in enumerate(first) if c == 0]
    spots = np.array([first[i][1].extents for i in free]).reshape(-1, 4)
    settled = {i for k, i in enumerate(free) if _overlap(first[i][1], np.delete(spots, k, axis=0)) == 0}
    placed = np.vstack([blocked, *(np.array([first[i][1].extents]) for i in sorted(settled))])
    rest = sorted(set(range(len(notes))) - settled, key=lambda i: -coords[i].transform(anchors[i])[1])
    for i in rest:
        best, best_cost = _OFFSETS[0], math.inf
        for offset in _OFFSETS:
            c, _ = cost(notes[i], offset, placed)
            if c < best_cost:
                best, best_cost = offset, c
            if c == 0:
                break
        _, box = cost(notes[i], best, placed)
        if math.hypot(*best) > LEADER_FROM:  # far from its point: draw the way back
            notes[i].remove()
            notes[i] = ax.annotate(texts[i], anchors[i], xycoords=coords[i], xytext=best, textcoords="offset points",
                                   fontsize=fontsize, va="center", ha="left" if best[0] >= 0 else "right",
                                   annotation_clip=False, bbox=_LABEL_BOX, arrowprops=_LEADER)
        placed = np.vstack([placed, box.extents])
    return notes


_LABEL_BOX = {"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.75}
_LEADER = {"arrowstyle": "-", "color": "#888888", "lw": 0.6, "shrinkA": 0, "shrinkB": 3}
