"""Reports: tables in text, Markdown, CSV and JSON."""

from .tables import FORMATS, render

__all__ = ["FORMATS", "render"]
