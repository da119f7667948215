"""The number formatters of the tables (the golden tables themselves: tests/test_goldens.py)."""

from __future__ import annotations

from costmodel.units import si, size


def test_units() -> None:
    assert si(28_589_128) == "28.59M" and si(999) == "999" and si(4.47e9) == "4.47G"
    assert size(38_535_168) == "38.54 MB" and size(512) == "512 B" and size(2048) == "2.05 kB"


def test_counts_past_a_tera_take_peta() -> None:
    """convnext_t at --input image=3,100000,100000 printed 'FLOPs 1791.89T': 1.79e15 is 1.79P (SI: peta = 1e15)."""
    assert si(1_791_890_000_000_000) == "1.79P" and si(890.8e12) == "890.80T"
    assert size(2.5e15) == "2.50 PB" and size(25.17e12) == "25.17 TB"
