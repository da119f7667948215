"""Golden outputs of the text and Markdown tables (torchinfo's habit): formatting changes show up here.

The golden files were checked by hand once: conv 3->8, 3x3, pad 1 on 32x32 has 8*27+8 = 224 params and
2*8*32*32*27 = 442,368 MACs at batch 2 (442.37K); fc 8->10 has 90 params; pool reads 2*8*32*32 floats
(65.54 kB); peak memory is conv out + act out = 2 * 65.54 kB.
Regenerate with UPDATE_GOLDEN=1 after an intended change, and read the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from costmodel import analyze
from costmodel.report import render
from costmodel.report.tables import si, size

from .test_cli import GOOD

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize(("fmt", "depth"), [("table", None), ("markdown", None), ("table", 1)])
def test_golden(fmt: str, depth: int | None, write_spec) -> None:
    text = render(analyze(write_spec(GOOD), batch=2), fmt, depth)
    text = text.replace(str(write_spec(GOOD)), "spec.yaml")
    golden = GOLDEN / f"small_{fmt}_{depth or 0}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_units() -> None:
    assert si(28_589_128) == "28.59M" and si(999) == "999" and si(4.47e9) == "4.47G"
    assert size(38_535_168) == "38.54 MB" and size(512) == "512 B" and size(2048) == "2.05 kB"
