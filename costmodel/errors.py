"""The one error type users see: it names the file, the node's path in the spec and the field."""

from __future__ import annotations

from typing import Any

MAX_MESSAGE_CHARS = 1000  # a message longer than this is cut in the middle (a user's value may be megabytes)


def shown(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for echoing a user's value in a message."""
    text = _safe_repr(value)
    return text if len(text) <= limit else f"{text[:max(limit - 16, 8)]}... ({len(text):,} chars)"


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except ValueError:  # an int past Python's 4,300-digit conversion limit
        return f"<an integer of {value.bit_length():,} bits>" if isinstance(value, int) else "<unprintable>"


def one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` on one line (newlines become '; ') and at most about ``limit`` characters."""
    flat = "; ".join(part.strip() for part in str(text).splitlines() if part.strip())
    if len(flat) <= limit:
        return flat
    keep = limit // 2 - 10
    return f"{flat[:keep]} [... {len(flat) - 2 * keep:,} chars ...] {flat[-keep:]}"


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
        return one_line(f"{': '.join(where)}: {self.message}" if where else self.message)


class OutputError(ValueError):
    """A result could not be produced or written (a figure, a report folder): reported in one line, exit code 2.

    The plot and report layers raise subclasses (PlotError, ReportError); the CLI catches this base, so it need
    not import matplotlib to handle them."""
