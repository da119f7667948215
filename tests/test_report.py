"""The number formatters of the tables (the golden tables themselves: tests/test_goldens.py)."""

from __future__ import annotations

from costmodel.units import si, size


def test_units() -> None:
    assert si(28_589_128) == "28.59M" and si(999) == "999" and si(4.47e9) == "4.47G"
    assert size(38_535_168) == "38.54 MB" and size(512) == "512 B" and size(2048) == "2.05 kB"
