"""Reports: tables in text, Markdown, CSV and JSON; model comparisons; report pages."""

from .compare import Comparison, ModelRow, compare_model, load_profiles, model_row, pareto_points, render_comparison
from .tables import FORMATS, render

__all__ = ["FORMATS", "Comparison", "ModelRow", "compare_model", "load_profiles", "model_row", "pareto_points",
           "render", "render_comparison"]
