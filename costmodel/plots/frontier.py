"""The designer's entropy-MACs frontier: the objective of solved budgets against MACs, with scored references."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from .common import FONT_SIZE, new_figure, set_title


def frontier_figure(
    solved: Sequence[tuple[float, float]], references: Sequence[tuple[str, float, float]] = (), title: str = ""
) -> Figure:
    """``solved``: (MACs per image, objective) of the designs; ``references``: (name, MACs, objective) of other
    networks scored with the same formula. MACs are plotted in G (timm's GMACs)."""
    fig = new_figure(7.0, 4.5)
    ax = fig.add_subplot()
    points = sorted((macs / 1e9, value) for macs, value in solved)
    if points:
        ax.plot(*zip(*points, strict=True), "o-", color="tab:blue", label="DeepMAD designs (costmodel design)")
    for name, macs, value in references:
        ax.plot(macs / 1e9, value, "s", color="tab:red")
        ax.annotate(name, (macs / 1e9, value), textcoords="offset points", xytext=(6, -4), fontsize=FONT_SIZE)
    if references:
        ax.plot([], [], "s", color="tab:red", label="hand-designed (same formula)")
    ax.set_xlabel("MACs per image (G, as timm's GMACs)")
    ax.set_ylabel("objective: sum(alpha_i H_i) - beta exp(std depths)")
    set_title(ax, title or "Entropy-MACs frontier")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize=FONT_SIZE)
    return fig
