"""The one error type users see: it names the file, the node's path in the spec and the field."""

from __future__ import annotations


class SpecError(Exception):
    """A problem in a user's input, reported as ``file: node path: field: message`` (exit code 2)."""

    def __init__(
        self, message: str, *, file: str | None = None, path: str | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.path = path
        self.field = field

    def located(self, *, file: str | None = None, path: str | None = None, field: str | None = None) -> SpecError:
        """Fill in location parts that are not known yet (inner errors know more than outer ones)."""
        self.file = self.file or file
        self.path = self.path or path
        self.field = self.field or field
        return self

    def __str__(self) -> str:
        where = [part for part in (self.file, self.path) if part]
        if self.field:
            where.append(f"field '{self.field}'")
        return f"{': '.join(where)}: {self.message}" if where else self.message


class OutputError(ValueError):
    """A result could not be produced or written (a figure, a report folder): reported in one line, exit code 2.

    The plot and report layers raise subclasses (PlotError, ReportError); the CLI catches this base, so it need
    not import matplotlib to handle them."""
