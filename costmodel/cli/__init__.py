"""The command line: a thin layer over the analyzer. Errors in user input exit with code 2.

Each module registers its commands on the one ``app`` (common.py); importing them here builds the CLI.
"""

from __future__ import annotations

from . import analyze, design, importer, measure, plots, report, sweep, zoo  # noqa: F401  (register commands)
from .common import app


def main() -> None:
    """Entry point: run the app; usage errors exit with code 2 as click does."""
    app()


__all__ = ["app", "main"]
