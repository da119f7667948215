"""The one home of number formatting for people: counts with an SI prefix (``28.59M``), bytes (``38.54 MB``) and
durations (``1.23 ms``, ``22 µs``), for tables, reports, the designer and plots alike."""

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


SI_PREFIXES: tuple[tuple[float, str], ...] = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K"))
"""(scale, prefix), largest first: K = 1e3, M = 1e6, G = 1e9, T = 1e12, P = 1e15."""


def si(value: float, unit: str = "", *, digits: int | None = None) -> str:
    """A count with an SI prefix: two decimals by default (``28589128 -> '28.59M'``, the tables' form), or
    ``digits`` significant digits (``si(4.13e9, digits=4) -> '4.13G'``, the designer's budgets); values below
    1000 as they are (``999 -> '999'``)."""
    for scale, prefix in SI_PREFIXES:
        if abs(value) >= scale:
            number = f"{value / scale:.{digits}g}" if digits else f"{value / scale:.2f}"
            return f"{number}{prefix}{unit}"
    return f"{value:.{digits}g}{unit}" if digits else f"{value:g}{unit}"


def size(num_bytes: float) -> str:
    """Bytes in SI units: ``38535168 -> '38.54 MB'``."""
    text = si(num_bytes).replace("K", " k")
    for prefix in "MGTP":
        text = text.replace(prefix, f" {prefix}")
    return f"{text}B" if text[-1].isalpha() else f"{text} B"
