"""What every plot shares: the error type, atomic saving, titles, colours, log axes with units, labels.

Figures are built with ``matplotlib.figure.Figure`` and an Agg canvas, never pyplot, so nothing global changes.
Units: seconds, FLOP/s, FLOP/byte; axes say which.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from matplotlib import rc_context
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Annotation
from matplotlib.ticker import EngFormatter, FuncFormatter, LogLocator, NullFormatter
from matplotlib.transforms import Bbox

from ..fileio import temp_beside

PNG_DPI = 150
FONT_SIZE = 9
SVG_HASH_SALT = "costmodel"  # SVG element ids are hashes salted with this: fixed, so the same figure, same bytes
REPRODUCIBLE_METADATA: dict[str, dict[str, str | None]] = {"svg": {"Date": None}}  # no <dc:date> in SVGs

# One colour per op class (ops/base.py OpClass values), the same in every plot.
CLASS_COLORS: dict[str, str] = {
    "gemm": "#1f77b4",
    "depthwise": "#ff7f0e",
    "attention": "#9467bd",
    "norm": "#2ca02c",
    "elementwise": "#d62728",
    "reduction": "#8c564b",
    "data_movement": "#7f7f7f",
    "view": "#c7c7c7",
}
OTHER_COLOR = "#17becf"


class PlotError(ValueError):
    """A figure could not be built from its input, or could not be written."""


def class_color(op_class: str) -> str:
    """The colour of an op class (a fixed fallback for anything else, e.g. aggregated groups)."""
    return CLASS_COLORS.get(op_class, OTHER_COLOR)


def plot_title(subject: str, device: str, dtype: str, batch: int, fusion: str | None = None) -> str:
    """``"convnext_t on NVIDIA A100 80GB: fp16, batch 1, fusion none"`` (no fusion part when ``fusion`` is None)."""
    title = f"{subject} on {device}: {dtype}, batch {batch}"
    return f"{title}, fusion {fusion}" if fusion is not None else title


def new_figure(width: float, height: float) -> Figure:
    """A figure (inches) with an Agg canvas and constrained layout, detached from pyplot."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, stem: Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Write ``stem.<fmt>`` for each format (PNG at 150 dpi), atomically: every file is rendered to a temporary
    file in the target folder first and moved into place only when all rendered. Creates parent folders; files
    get the permissions of a plain ``open()`` (``0o666 & ~umask``).

    Reproducible: the same figure gives the same bytes (no date in the SVG metadata, fixed SVG id salt).
    Raises :class:`PlotError` naming the path on any OS error or an unknown format. Closes the figure.
    """
    stem = Path(stem)
    supported = fig.canvas.get_supported_filetypes()
    unknown = [fmt for fmt in formats if fmt not in supported]
    if unknown:
        raise PlotError(f"unknown figure format(s) {', '.join(unknown)}; choose from {', '.join(sorted(supported))}")
    targets = [stem.parent / f"{stem.name}.{fmt}" for fmt in formats]
    temps: list[Path] = []
    current = stem.parent
    fig.draw_without_rendering()  # lay out once and keep it: every file (and a second save) gets the same layout
    fig.set_layout_engine("none")
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
        for fmt, target in zip(formats, targets, strict=True):
            current = target
            fd, tmp = temp_beside(target)
            temps.append(tmp)
            with os.fdopen(fd, "wb") as handle, rc_context({"svg.hashsalt": SVG_HASH_SALT}):
                fig.savefig(handle, format=fmt, dpi=PNG_DPI, metadata=REPRODUCIBLE_METADATA.get(fmt))
        for tmp, target in zip(temps, targets, strict=True):
            current = target
            os.replace(tmp, target)
    except OSError as exc:
        raise PlotError(f"cannot write {current}: {exc.strerror or exc}") from None
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        _close(fig)
    return targets


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


def formatter_for(unit: str) -> Callable[[float, object], str]:
    """Tick labels for a unit: SI prefixes for seconds and FLOP/s, plain numbers otherwise."""
    if unit in ("s", "FLOP/s", "B", "B/s"):
        return EngFormatter(unit=unit, sep=" ")
    return FuncFormatter(_plain)


def log_axis(axis: Axis, quantity: str, unit: str) -> None:
    """Make ``axis`` logarithmic, labelled ``quantity (unit)``, with unit-aware tick labels."""
    if axis.axis_name == "x":
        axis.axes.set_xscale("log")
    else:
        axis.axes.set_yscale("log")
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

# Candidate label offsets in points from the anchor: right, above, below, left, then further out.
_OFFSETS = ((6, 0), (6, 8), (6, -8), (-6, 0), (0, 11), (0, -11), (6, 16), (6, -16), (-6, 12), (-6, -12),
            (12, 24), (12, -24))


def _boxes(artist: Artist, renderer: RendererBase) -> list[Bbox]:
    """Display boxes an artist covers: for a line, one per segment and one per marker (its whole extent would
    cover everything between its ends)."""
    if not isinstance(artist, Line2D):
        return [artist.get_window_extent(renderer)]
    xy = artist.get_transform().transform(artist.get_xydata())
    boxes = []
    if artist.get_linestyle() not in ("None", "", " ", "none"):
        boxes += [Bbox([xy[i], xy[i + 1]]) for i in range(len(xy) - 1)]
    if artist.get_marker() not in (None, "None", "", " ", "none"):
        half = artist.get_markersize() * renderer.points_to_pixels(1.0) / 2
        boxes += [Bbox([[x - half, y - half], [x + half, y + half]]) for x, y in xy]
    return boxes


def place_labels(ax: Axes, anchors: Sequence[tuple[float, float]], texts: Sequence[str],
                 fontsize: float = FONT_SIZE - 1, obstacles: Sequence[Artist] = ()) -> list[Annotation]:
    """Annotate data points with ``texts`` without overlaps as far as simple search allows.

    Each label tries a few small offsets around its anchor and takes the first whose box stays inside the
    axes and overlaps neither a label placed before it nor an ``obstacles`` artist (markers, segments); if
    none does, the first offset is kept. Returns the annotations in the order of ``anchors``.
    """
    fig = ax.figure
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    canvas.draw()  # settle the layout so display coordinates are final
    renderer = canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    placed = [box for artist in obstacles for box in _boxes(artist, renderer)]
    notes: dict[int, Annotation] = {}
    order = sorted(range(len(anchors)), key=lambda i: -ax.transData.transform(anchors[i])[1])
    for i in order:
        note = ax.annotate(texts[i], anchors[i], xytext=_OFFSETS[0], textcoords="offset points", fontsize=fontsize,
                           va="center", ha="left", annotation_clip=False,
                           bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.75})
        for dx, dy in _OFFSETS:
            note.set_position((dx, dy))
            note.set_horizontalalignment("left" if dx >= 0 else "right")
            box = note.get_window_extent(renderer)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            if inside and not any(box.overlaps(other) for other in placed):
                break
        else:
            note.set_position(_OFFSETS[0])
            note.set_horizontalalignment("left")
            box = note.get_window_extent(renderer)
        placed.append(box)
        notes[i] = note
    return [notes[i] for i in range(len(anchors))]
