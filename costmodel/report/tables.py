"""Render an :class:`Analysis` as a text table, Markdown, CSV or JSON.

Text and Markdown are for people (SI units: K = 1e3, M = 1e6, G = 1e9; bytes in kB/MB/GB). CSV and
JSON are for scripts: raw integers, stable column names.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, fields

from ..analysis import Analysis, LayerMetrics, aggregate

FORMATS = ("table", "json", "csv", "markdown")


def si(value: float, unit: str = "") -> str:
    """``28589128 -> '28.59M'``; small values are printed as they are."""
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{suffix}{unit}"
    return f"{value:g}{unit}" if unit else f"{value:g}"


def size(num_bytes: float) -> str:
    """Bytes in SI units: ``38535168 -> '38.54 MB'``."""
    text = si(num_bytes).replace("K", " k").replace("M", " M").replace("G", " G").replace("T", " T")
    return f"{text}B" if text[-1].isalpha() else f"{text} B"


def shape_text(shape: Sequence[int]) -> str:
    """``(1, 96, 56, 56) -> '1x96x56x56'``."""
    return "x".join(str(d) for d in shape)


Column = tuple[str, Callable[[LayerMetrics], str], str]  # header, cell, alignment
COLUMNS: list[Column] = [
    ("layer", lambda r: r.path, "<"),
    ("op", lambda r: r.op, "<"),
    ("output", lambda r: shape_text(r.output_shape), "<"),
    ("params", lambda r: si(r.params), ">"),
    ("MACs", lambda r: si(r.macs), ">"),
    ("FLOPs", lambda r: si(r.flops), ">"),
    ("acts", lambda r: si(r.activations), ">"),
    ("read", lambda r: size(r.bytes_read), ">"),
    ("written", lambda r: size(r.bytes_written), ">"),
]


def _rows(analysis: Analysis, depth: int | None) -> list[LayerMetrics]:
    return aggregate(analysis.layers, depth) if depth else list(analysis.layers)


def _cells(analysis: Analysis, depth: int | None) -> tuple[list[str], list[list[str]], list[str], list[str]]:
    rows = _rows(analysis, depth)
    t = analysis.totals
    total = LayerMetrics("total", "", "", (), t.params, t.macs, t.flops, t.activations, t.output_elements,
                         t.weight_bytes, t.bytes_read, t.bytes_written)
    body = [[cell(r) for _, cell, _ in COLUMNS] for r in rows]
    foot = [cell(total) for _, cell, _ in COLUMNS]
    foot[2] = ""
    return [h for h, _, _ in COLUMNS], body, foot, [a for _, _, a in COLUMNS]


def summary_lines(analysis: Analysis) -> list[str]:
    """The totals people read first."""
    t = analysis.totals
    inputs = ", ".join(f"{name} {shape_text(shape)}" for name, shape in analysis.inputs.items())
    per = f" ({si(t.macs / analysis.batch)} per sample)" if analysis.batch > 1 else ""
    return [
        f"{analysis.model}: batch {analysis.batch}, {analysis.dtype}, input {inputs}",
        f"params {si(t.params)} ({size(t.weight_bytes)} of weights)  |  MACs {si(t.macs)}{per}  |  "
        f"FLOPs {si(t.flops)}",
        f"activations {si(t.activations)} (conv/linear/matmul outputs; {si(t.output_elements)} all op outputs)"
        f"  |  peak live activation memory {size(t.peak_activation_bytes)} at {t.peak_at}",
        f"memory traffic, unfused: {size(t.bytes_read)} read, {size(t.bytes_written)} written",
    ]


def render_table(analysis: Analysis, depth: int | None = None) -> str:
    """A fixed-width text table with a totals row and a summary."""
    header, body, foot, align = _cells(analysis, depth)
    widths = [max(len(row[i]) for row in [header, *body, foot]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths, strict=True)).rstrip()

    rule = "-" * len(line(header))
    return "\n".join([*summary_lines(analysis), "", line(header), rule, *map(line, body), rule, line(foot)]) + "\n"


def render_markdown(analysis: Analysis, depth: int | None = None) -> str:
    """A GitHub-flavoured Markdown table with the summary above it."""
    header, body, foot, align = _cells(analysis, depth)
    marks = ["---:" if a == ">" else "---" for a in align]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    foot = [f"**{c}**" if c else c for c in foot]
    summary = [f"- {s}" for s in summary_lines(analysis)[1:]]
    return "\n".join([f"### {summary_lines(analysis)[0]}", "", *summary, "", line(header), line(marks),
                      *map(line, body), line(foot)]) + "\n"


def render_csv(analysis: Analysis, depth: int | None = None) -> str:
    """One row per layer (or group), raw integers; shapes as ``1x96x56x56``."""
    names = [f.name for f in fields(LayerMetrics)]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for row in _rows(analysis, depth):
        writer.writerow({**asdict(row), "output_shape": shape_text(row.output_shape)})
    return out.getvalue()


def render_json(analysis: Analysis, depth: int | None = None) -> str:
    """The whole analysis, raw numbers, stable keys."""
    data = analysis.to_dict()
    if depth:
        data["layers"] = [{**asdict(r), "output_shape": list(r.output_shape)} for r in _rows(analysis, depth)]
    return json.dumps(data, indent=2) + "\n"


RENDERERS: dict[str, Callable[[Analysis, int | None], str]] = {
    "table": render_table, "json": render_json, "csv": render_csv, "markdown": render_markdown,
}


def render(analysis: Analysis, fmt: str = "table", depth: int | None = None) -> str:
    """Render in one of :data:`FORMATS`."""
    return RENDERERS[fmt](analysis, depth)
