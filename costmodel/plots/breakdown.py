"""Latency breakdown: one horizontal stacked bar per label (device or model), by op class and by stage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..latency import LatencyResult, ModelLatency
from .common import CLASS_COLORS, FONT_SIZE, PlotError, class_color, new_figure, set_title, time_axis

STAGE_COLORS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
                "#9c755f", "#bab0ac", "#1f77b4", "#8c564b")
OTHER_STAGE_COLOR = "#dddddd"
SMALL_STAGE = 0.02  # stages under this share of the latency in every bar are merged into "other"
INLINE_LABEL = 0.05  # segments at least this wide (fraction of the longest bar) carry their percent


def breakdown_figure(results: Mapping[str, LatencyResult], title: str) -> Figure:
    """Two panels of stacked bars, one bar per key of ``results``: latency (s) by op class, and by stage
    (path prefix of depth 2, ``ModelLatency.by_stage``). Segments show their share of the bar's latency."""
    if not results:
        raise PlotError("breakdown_figure needs at least one result")
    labels = list(results)
    summaries = [r.summary for r in results.values()]
    present = {c for s in summaries for c in s.by_class}
    classes = [c for c in CLASS_COLORS if c in present] + sorted(present - set(CLASS_COLORS))
    stages, small = _stages(summaries)

    fig = new_figure(10.5, 2.2 + 0.9 * len(labels) * 2)
    ax_class, ax_stage = fig.subplots(2, 1, sharex=True)
    _stack(ax_class, labels, [[s.by_class.get(c, 0.0) for c in classes] for s in summaries], classes,
           [class_color(c) for c in classes])
    # One colour per stage index: the k-th (large) stage of every model shares a colour and a legend entry,
    # so "the third stage" reads the same across models; small stages of every model merge into "other".
    ordered = [[name for name in s.by_stage if name in stages] for s in summaries]
    depth = max((len(names) for names in ordered), default=0)
    stage_values = [[s.by_stage[names[k]] if k < len(names) else 0.0 for k in range(depth)]
                    + [sum(s.by_stage.get(n, 0.0) for n in small)] for s, names in zip(summaries, ordered, strict=True)]
    stage_names = [_index_label(k, [names[k] for names in ordered if k < len(names)]) for k in range(depth)]
    if small:
        stage_names.append(f"other ({len(small)} small stages)")
    else:
        stage_values = [row[:-1] for row in stage_values]
    colors = [STAGE_COLORS[k % len(STAGE_COLORS)] for k in range(depth)] + ([OTHER_STAGE_COLOR] if small else [])
    _stack(ax_stage, labels, stage_values, stage_names, colors)
    ax_class.set_title("by op class", fontsize=FONT_SIZE + 1, loc="left")
    ax_stage.set_title("by stage (path prefix, depth 2; one colour per stage index across models)",
                       fontsize=FONT_SIZE + 1, loc="left")
    time_axis(ax_stage.xaxis, "latency per batch")
    set_title(fig, title, FONT_SIZE + 3)
    return fig


def _index_label(k: int, names: Sequence[str], shown: int = 3) -> str:
    """Legend text of stage index ``k``: ``'3: layer3.0, stages.2'`` (at most ``shown`` distinct names)."""
    distinct = list(dict.fromkeys(names))
    more = f", +{len(distinct) - shown}" if len(distinct) > shown else ""
    return f"{k + 1}: {', '.join(distinct[:shown])}{more}"


def _stages(summaries: Sequence[ModelLatency]) -> tuple[list[str], list[str]]:
    """(stages drawn on their own, small stages merged), both in first-seen order."""
    names = list(dict.fromkeys(name for s in summaries for name in s.by_stage))
    big: list[str] = []
    small: list[str] = []
    for name in names:
        shares = [s.by_stage.get(name, 0.0) / s.latency_s for s in summaries if s.latency_s]
        (big if any(share >= SMALL_STAGE for share in shares) else small).append(name)
    if len(small) == 1:  # an "other" of one stage is just that stage
        big, small = names, []
    return big, small


def _stack(ax: Axes, labels: list[str], values: list[list[float]], names: list[str], colors: list[str]) -> None:
    ys = list(range(len(labels)))[::-1]  # first label on top
    longest = max(sum(row) for row in values) or 1.0
    left = [0.0] * len(labels)
    for j, (name, color) in enumerate(zip(names, colors, strict=True)):
        widths = [row[j] for row in values]
        ax.barh(ys, widths, left=left, color=color, label=name, height=0.6, edgecolor="white", linewidth=0.5,
                gid=f"segment:{name}")
        for y, x0, w, row in zip(ys, left, widths, values, strict=True):
            if w >= INLINE_LABEL * longest:
                ax.text(x0 + w / 2, y, f"{w / sum(row):.0%}", ha="center", va="center", fontsize=FONT_SIZE - 1,
                        color="white" if color not in (OTHER_STAGE_COLOR, "#edc948", "#bab0ac") else "black")
        left = [a + w for a, w in zip(left, widths, strict=True)]
    ax.set_yticks(ys, labels=labels, fontsize=FONT_SIZE)
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=FONT_SIZE - 1, frameon=False,
              ncols=1 if len(names) <= 10 else 2)
