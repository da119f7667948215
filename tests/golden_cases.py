"""The golden cases: each renders one output; tests/golden/<name>.txt holds it as checked by hand once.

The tests only compare (tests/test_goldens.py); the files are written only by the explicit command
``python -m tests.regen_goldens`` (after an intended change: run it, read ``git diff tests/golden``, commit).

Hand checks of the ``small`` spec: conv 3->8, 3x3, pad 1 on 32x32 has 8*27+8 = 224 params and
2*8*32*32*27 = 442,368 MACs at batch 2 (442.37K); fc 8->10 has 90 params; pool reads 2*8*32*32 floats
(65.54 kB); peak memory is conv out + act out = 2 * 65.54 kB.
Of the ``nested`` spec (a residual block repeated twice): stem 4*27+4 = 112 params, 2*4*16*16*27 = 55,296 MACs;
each block's conv 4*36+4 = 148 params, 73,728 MACs; fc 4*10+10 = 50; 458 params in all. Its depth 1 groups the
stage (296 params), depth 2 each repeat (148), no depth lists all nine layers, so the three goldens differ.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from costmodel.report import Comparison

ROOT = Path(__file__).parent.parent
GOLDEN = Path(__file__).parent / "golden"

SMALL = """
name: small
inputs: {image: [3, 32, 32]}
nodes:
  - {name: conv, op: conv2d, out: 8, kernel: 3, padding: 1}
  - {name: act, op: relu}
  - {name: pool, op: global_avg_pool, flatten: true}
  - {name: fc, op: linear, out: 10}
"""

NESTED = """
name: nested
inputs: {image: [3, 16, 16]}
blocks:
  res:
    params: {c: null}
    nodes:
      - {name: conv, op: conv2d, out: c, kernel: 3, padding: 1}
      - {name: act, op: relu}
      - {name: add, op: add, inputs: [act, x]}
nodes:
  - {name: stem, op: conv2d, out: 4, kernel: 3, padding: 1}
  - {name: stage, block: res, repeat: 2, c: 4}
  - {name: pool, op: global_avg_pool, flatten: true}
  - {name: fc, op: linear, out: 10}
"""

COMPARE_SPECS = ("resnet18", "mobilenetv2_100")
COMPARE_DEVICES = ("a100", "rtx4090", "a100_80gb")  # a repeat (alias and stem of one file) counts once
COMPARE_BATCH = 8


def _analysis(spec: str, fmt: str, depth: int | None, hw: str | None = None) -> Callable[[], str]:
    def render_case() -> str:
        from costmodel import analyze
        from costmodel.report import render

        result = analyze(spec, hw=hw, batch=2, dtype="fp16" if hw else None)
        return render(result.analysis, fmt, depth, list(result.latency.values()))

    return render_case


def comparison() -> Comparison:
    """The compare case's :class:`Comparison` (two zoo models on two devices, fp16)."""
    from costmodel.report import Comparison, compare_model, load_profiles

    profiles = load_profiles(list(COMPARE_DEVICES))
    return Comparison([compare_model(ROOT / "arch_specs" / f"{s}.yaml", profiles, batch=COMPARE_BATCH, dtype="fp16")
                       for s in COMPARE_SPECS], {p.key: p.name for p in profiles})


def _compare(fmt: str) -> Callable[[], str]:
    def render_case() -> str:
        from costmodel.report import render_comparison

        return render_comparison(comparison(), fmt)

    return render_case


CASES: dict[str, Callable[[], str]] = {
    "small_table_0": _analysis(SMALL, "table", None),
    "small_markdown_0": _analysis(SMALL, "markdown", None),
    "nested_table_all": _analysis(NESTED, "table", None),
    "nested_table_1": _analysis(NESTED, "table", 1),
    "nested_table_2": _analysis(NESTED, "table", 2),
    "nested_csv_1_a100": _analysis(NESTED, "csv", 1, "a100"),
    "nested_json_a100": _analysis(NESTED, "json", None, "a100"),
    "nested_latency_table_a100": _analysis(NESTED, "table", None, "a100"),
    "compare_table": _compare("table"),
    "compare_markdown": _compare("markdown"),
}
"""Golden file stem -> the function rendering it."""


def golden_path(name: str) -> Path:
    return GOLDEN / f"{name}.txt"
