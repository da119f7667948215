"""Every error a user can cause, one type per family; the CLI prints any of them as one line and exits with 2.

All derive from :class:`UserError`, which names the file, the node's path and the field:
``file: node path: field 'x': message``.

- :class:`SpecError`: an architecture spec (YAML or a :class:`~costmodel.spec.Spec`) that cannot be expanded.
- :class:`HardwareError`: a hardware profile that cannot be found, parsed or validated, or lacks a figure.
- :class:`MeasurementError`: a measurement file (CSV) that cannot be read or matched to specs.
- :class:`BridgeError`: a model that cannot cross to or from a framework (PyTorch, ONNX), or a framework that is
  not installed.
- :class:`DesignError`: a design question with no answer (a layout that does not fit, no conv stages).
- :class:`OutputError`: a result that cannot be produced or written (a figure, a report folder);
  :class:`PlotError` and :class:`ReportError` say which.
"""

from __future__ import annotations

from typing import TypeVar

E = TypeVar("E", bound="UserError")


class UserError(Exception):
    """A problem in a user's input, reported as ``file: node path: field: message`` (exit code 2)."""

    def __init__(
        self, message: str, *, file: str | None = None, path: str | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.path = path
        self.field = field

    def located(self: E, *, file: str | None = None, path: str | None = None, field: str | None = None) -> E:
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


class SpecError(UserError):
    """An architecture spec that cannot be loaded or expanded."""


class HardwareError(UserError, ValueError):
    """A hardware profile could not be found, parsed or validated, or lacks a requested figure."""


class MeasurementError(UserError):
    """A measurement file that cannot be read, or whose rows cannot be matched to specs."""


class BridgeError(UserError):
    """A model that cannot cross to or from a framework (PyTorch, ONNX), or a framework that is not installed."""


class DesignError(UserError):
    """A design question that has no answer: a layout that does not fit, a network with no conv stages."""


class OutputError(UserError, ValueError):
    """A result could not be produced or written (a figure, a report folder)."""


class PlotError(OutputError):
    """A figure could not be built from its input, or could not be written."""


class ReportError(OutputError):
    """A report folder that cannot be written (it exists and is not a report, or is not writable)."""


__all__ = ["BridgeError", "DesignError", "HardwareError", "MeasurementError", "OutputError", "PlotError",
           "ReportError", "SpecError", "UserError"]
