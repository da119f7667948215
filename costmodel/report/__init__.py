"""Reports: tables in text, Markdown, CSV and JSON; model comparisons; report pages.

The comparison (:mod:`.compare`, which loads hardware profiles and the latency model) is imported on first use
of one of its names, so that ``analyze`` without ``--hw`` does not pay for it at start-up."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .tables import FORMATS, render

if TYPE_CHECKING:
    from .compare import Comparison, ModelRow, compare_model, load_profiles, model_row, pareto_points, render_comparison

_COMPARE = ("Comparison", "ModelRow", "compare_model", "load_profiles", "model_row", "pareto_points",
            "render_comparison")

__all__ = ["FORMATS", "Comparison", "ModelRow", "compare_model", "load_profiles", "model_row", "pareto_points",
           "render", "render_comparison"]


def __getattr__(name: str) -> Any:
    """The comparison's names, imported when first asked for (PEP 562)."""
    if name in _COMPARE:
        from . import compare

        return getattr(compare, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
