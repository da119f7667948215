"""The one formatter of durations: seconds shown in s, ms, µs or ns, for tables, reports and plots alike."""

from __future__ import annotations

TIME_UNITS: tuple[tuple[float, str], ...] = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))
"""(seconds per unit, unit name), largest first."""


def time_unit(seconds: float) -> tuple[float, str]:
    """The unit to show ``seconds`` in: ``(1e-3, 'ms')`` for 0.0042; ns below a microsecond."""
    return next(((scale, unit) for scale, unit in TIME_UNITS if abs(seconds) >= scale), TIME_UNITS[-1])


def duration(seconds: float) -> str:
    """Seconds to three significant digits in their unit: ``0.00123 -> '1.23 ms'``, ``2.2e-5 -> '22 µs'``."""
    if not seconds:
        return "0"
    scale, unit = time_unit(seconds)
    return f"{seconds / scale:.3g} {unit}"
