"""Render an :class:`Analysis` as a text table, Markdown, CSV or JSON.

Text and Markdown are for people (SI units: K = 1e3, M = 1e6, G = 1e9; bytes in kB/MB/GB). CSV and
JSON are for scripts: raw integers, stable column names.

With latency results (one :class:`LatencyResult` per device, see ``costmodel.latency``), every format also
gets per-layer latency columns (one set per device, keyed by the profile's file stem), a model summary per
device and, when given, a throughput-versus-batch sweep.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any

from ..analysis import Analysis, LayerMetrics, aggregate
from ..jsonable import jsonable
from ..layout import Table, fit_width, fixed, percent, wrap
from ..units import duration, si, size
from ..vocab import Format, SortKey

if TYPE_CHECKING:  # the latency model is imported where latency is shown, not by a plain count
    from ..latency import LatencyResult, ModelLatency, OpLatency

FORMATS: tuple[str, ...] = Format.values()
# Columns of the text table left out, in this order, until it fits the width (a device's columns all at once).
DROP_ORDER = ("cache", "FLOP/B", "acts", "written", "read", "FLOPs", "output", "op", "bound")


def shape_text(shape: Sequence[int]) -> str:
    """``(1, 96, 56, 56) -> '1x96x56x56'``."""
    return "x".join(str(d) for d in shape)


def markdown_line(cells: Sequence[str]) -> str:
    """One GitHub-flavoured Markdown table row (``|`` in a cell escaped)."""
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def markdown_marks(align: Sequence[str]) -> list[str]:
    """The Markdown separator cells: ``---:`` for right-aligned (``>``) columns, ``---`` otherwise."""
    return ["---:" if a == ">" else "---" for a in align]


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


def sort_value(row: LayerMetrics, key: SortKey | str, latency: OpLatency | None = None) -> float:
    """What ``--sort KEY`` orders by: latency (s, on the first device), MACs, params, or memory traffic
    (bytes read + written). Raises ValueError for a key outside :class:`~costmodel.vocab.SortKey`."""
    key = SortKey(key)
    if key is SortKey.LATENCY:
        return latency.latency_s if latency is not None else 0.0
    if key is SortKey.MEMORY:
        return row.bytes_read + row.bytes_written
    return float(getattr(row, key.value))


def _rows(analysis: Analysis, depth: int | None, latency: Sequence[LatencyResult] = (), top: int | None = None,
          sort: str | None = None) -> list[LayerMetrics]:
    """The rows shown: every layer, or groups by path depth; with ``sort``, largest first; with ``top``, the
    first ``top`` of those (by ``sort``, default latency when there is a device, else MACs)."""
    rows = aggregate(analysis.layers, depth) if depth else list(analysis.layers)
    if top is None and sort is None:
        return rows
    key = sort or ("latency" if latency else "macs")
    ops = _op_rows(latency[0], depth) if latency else {}
    rows = sorted(rows, key=lambda r: -sort_value(r, key, ops.get(r.path)))
    return rows[:top] if top is not None else rows


def _op_rows(result: LatencyResult, depth: int | None) -> dict[str, OpLatency]:
    from ..latency import aggregate_ops

    return aggregate_ops(result.ops, depth) if depth else {row.path: row for row in result.ops}


def _latency_cells(row: OpLatency | None) -> list[str]:
    if row is None or not row.kernel:
        return ["-", "-", "-", ""]
    intensity = f"{row.intensity:.1f}" if row.intensity is not None else "-"
    return [duration(row.latency_s), row.bound, intensity, "yes" if row.cached else ""]


def _latency_headers(latency: Sequence[LatencyResult]) -> list[str]:
    names = ["latency", "bound", "FLOP/B", "cache"]
    if len(latency) == 1:
        return names
    return [f"{name} {result.summary.key}" for result in latency for name in names]


def _cells(
    analysis: Analysis, depth: int | None, latency: Sequence[LatencyResult] = (), rows: list[LayerMetrics] | None = None
) -> tuple[list[str], list[list[str]], list[str], list[str]]:
    rows = _rows(analysis, depth) if rows is None else rows
    t = analysis.totals
    total = LayerMetrics("total", "", "", (), t.params, t.macs, t.flops, t.activations, t.output_elements,
                         t.weight_bytes, t.bytes_read, t.bytes_written)
    body = [[cell(r) for _, cell, _ in COLUMNS] for r in rows]
    foot = [cell(total) for _, cell, _ in COLUMNS]
    foot[2] = ""
    header, align = [h for h, _, _ in COLUMNS], [a for _, _, a in COLUMNS]
    for result in latency:
        ops = _op_rows(result, depth)
        for cells, row in zip(body, rows, strict=True):
            cells.extend(_latency_cells(ops.get(row.path)))
        m = result.summary
        foot.extend([duration(m.latency_s), "", f"{m.flops / m.dram_bytes:.1f}" if m.dram_bytes else "-", ""])
        align.extend([">", "<", ">", "<"])
    header.extend(_latency_headers(latency))
    return header, body, foot, align


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


def latency_summary_lines(m: ModelLatency) -> list[str]:
    """The model figures of one device: latency, throughput, efficiency, bound shares and breakdowns."""

    def shares(parts: Mapping[str, float], shown: int = 8) -> str:
        if not m.latency_s:
            return "-"
        top = sorted(parts.items(), key=lambda kv: -kv[1])
        shown = len(top) if len(top) <= shown + 1 else shown
        text = ", ".join(f"{name} {100 * t / m.latency_s:.0f}%" for name, t in top[:shown])
        rest = sum(t for _, t in top[shown:])
        return text + (f", {len(top) - shown} more {100 * rest / m.latency_s:.0f}%" if len(top) > shown else "")

    return [
        f"{m.key} ({m.device}), {'amp ' if m.precision == 'amp' else ''}{m.dtype}, batch {m.batch}, "
        f"fusion {m.fusion}: {duration(m.latency_s)} per batch, "
        f"{duration(m.latency_per_image_s)} per image, {m.throughput:,.0f} images/s",
        f"  achieved {m.achieved_flops / 1e12:.1f} TFLOP/s  |  efficiency E {percent(m.efficiency)} "
        f"(ideal {duration(m.ideal_s)})  |  memory-bound {100 * m.memory_bound_share:.0f}% of time, "
        f"launch overhead {100 * m.overhead_share:.0f}%  |  {m.kernels} kernels, {size(m.dram_bytes)} DRAM traffic",
        f"  by op class: {shares(m.by_class)}",
        f"  by stage: {shares(m.by_stage)}",
    ]


def efficiency_note(models: Iterable[ModelLatency]) -> list[str]:
    """One line when an efficiency E shown is above 100 %: E is the counted (direct) FLOPs at the fastest peak over
    the latency, and a kernel that runs fewer FLOPs than counted (Winograd on an fp32 3x3 conv on a GPU) beats it."""
    if not any(m.efficiency > 1 for m in models):
        return []
    return ["(E above 100 %: E is the counted FLOPs at the fastest peak over the latency, and some kernels run fewer "
            "FLOPs than the direct count: Winograd F(2x2,3x3) for fp32 3x3 convs on a GPU, docs/latency-model.md)"]


SWEEP_HEADER = ["device", "batch", "latency", "per image", "images/s", "TFLOP/s", "E", "memory-bound", "host+launch"]
"""The batch sweep's columns. ``host+launch``: the share of the latency the device is not busy with kernels' work
(:attr:`ModelLatency.overhead_share`: its waits for the host stream and the per-kernel launch overheads); where it
is the larger part, the host issuing ops sets the latency (docs/latency-model.md, "Launch overhead and the host
stream"), and where it falls the model has turned device-bound."""


def _sweep_rows(sweeps: Mapping[str, Sequence[ModelLatency]]) -> list[list[str]]:
    return [[m.key, str(m.batch), duration(m.latency_s), duration(m.latency_per_image_s), f"{m.throughput:,.0f}",
             f"{m.achieved_flops / 1e12:.1f}", percent(m.efficiency), f"{100 * m.memory_bound_share:.0f}%",
             f"{100 * m.overhead_share:.0f}%"]
            for points in sweeps.values() for m in points]


def render_table(
    analysis: Analysis, depth: int | None = None, latency: Sequence[LatencyResult] = (),
    sweeps: Mapping[str, Sequence[ModelLatency]] | None = None, *, top: int | None = None, sort: str | None = None,
    width: int | None = None,
) -> str:
    """The summary and a fixed-width table with a totals row (and latency, when given), fitted to ``width``
    characters (None: no limit) by leaving out columns in :data:`DROP_ORDER`, then shortening layer paths."""
    rows = _rows(analysis, depth, latency, top, sort)
    header, body, foot, align = _cells(analysis, depth, latency, rows)
    groups = [""] * len(header)
    if len(latency) > 1:  # the device's key above its columns, plain names below
        header = header[:len(header) - 4 * len(latency)] + [n for _ in latency for n in _latency_headers(latency[:1])]
        groups = groups[:len(header) - 4 * len(latency)] + [r.summary.key for r in latency for _ in range(4)]
    table = Table(header, body, list(align), groups, [foot])
    dropped = fit_width(table, width, DROP_ORDER)
    models = [line for result in latency for line in latency_summary_lines(result.summary)]
    lines = [*wrap([*summary_lines(analysis), *models], width), "", *table.lines()]
    shown = f"top {len(rows)} rows by {sort or ('latency' if latency else 'MACs')}" if top is not None else (
        f"rows grouped to path depth {depth}" if depth else "")
    notes = [shown] if shown else []
    if dropped:
        notes.append(f"left out to fit {width} columns: {', '.join(dropped)} (--format csv or json has every column)")
    if depth or top is not None:
        notes.append("--depth all shows every layer")
    if notes:
        lines += wrap(["(" + "; ".join(notes) + ")"], width)
    if sweeps:
        sweep_align = "<" + ">" * (len(SWEEP_HEADER) - 1)
        lines += ["", "throughput vs batch:", *fixed([SWEEP_HEADER, *_sweep_rows(sweeps)], sweep_align)]
    shown_models = [r.summary for r in latency] + [m for points in (sweeps or {}).values() for m in points]
    lines += wrap(efficiency_note(shown_models), width)
    return "\n".join(lines) + "\n"


def render_markdown(
    analysis: Analysis, depth: int | None = None, latency: Sequence[LatencyResult] = (),
    sweeps: Mapping[str, Sequence[ModelLatency]] | None = None, *, top: int | None = None, sort: str | None = None,
    width: int | None = None,
) -> str:
    """A GitHub-flavoured Markdown table with the summary above it (and latency, when given)."""
    header, body, foot, align = _cells(analysis, depth, latency, _rows(analysis, depth, latency, top, sort))
    marks = markdown_marks(align)
    line = markdown_line
    foot = [f"**{c}**" if c else c for c in foot]
    summary = [f"- {s}" for s in summary_lines(analysis)[1:]]
    summary += [f"- {s.strip()}" for result in latency for s in latency_summary_lines(result.summary)]
    lines = [f"### {summary_lines(analysis)[0]}", "", *summary, "", line(header), line(marks), *map(line, body),
             line(foot)]
    if sweeps:
        lines += ["", line(SWEEP_HEADER), line(markdown_marks("<" + ">" * (len(SWEEP_HEADER) - 1))),
                  *map(line, _sweep_rows(sweeps))]
    return "\n".join(lines) + "\n"


LATENCY_CSV_FIELDS = ("latency_s", "bound", "intensity", "ridge", "dram_read", "dram_written", "cache_read", "cached",
                      "kernel")


def render_csv(
    analysis: Analysis, depth: int | None = None, latency: Sequence[LatencyResult] = (),
    sweeps: Mapping[str, Sequence[ModelLatency]] | None = None, *, top: int | None = None, sort: str | None = None,
    width: int | None = None,
) -> str:
    """One row per layer (or group), raw numbers; shapes as ``1x96x56x56``; latency columns ``KEY.FIELD``.

    The CSV holds only the per-layer table: the model summary and sweep are in the JSON format.
    """
    names = [f.name for f in fields(LayerMetrics)]
    names += [f"{result.summary.key}.{name}" for result in latency for name in LATENCY_CSV_FIELDS]
    ops = [_op_rows(result, depth) for result in latency]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for row in _rows(analysis, depth, latency, top, sort):
        extra = {}
        for result, by_path in zip(latency, ops, strict=True):
            op = asdict(by_path[row.path]) if row.path in by_path else {}
            extra.update({f"{result.summary.key}.{name}": op.get(name) for name in LATENCY_CSV_FIELDS})
        writer.writerow({**asdict(row), "output_shape": shape_text(row.output_shape), **extra})
    return out.getvalue()


def analysis_dict(
    analysis: Analysis, depth: int | None = None, latency: Sequence[LatencyResult] = (),
    sweeps: Mapping[str, Sequence[ModelLatency]] | None = None, *, top: int | None = None, sort: str | None = None,
) -> dict[str, Any]:
    """The whole analysis, raw numbers, stable keys (docs/schema/analyze.schema.json); with latency, each layer
    gets ``latency: {KEY: {...}}`` and the top level ``latency: {KEY: {summary, kernels}}`` (and ``sweep: {KEY:
    [summary, ...]}``)."""
    data = analysis.to_dict()
    if depth or top is not None or sort is not None:
        data["layers"] = [{**asdict(r), "output_shape": list(r.output_shape)}
                          for r in _rows(analysis, depth, latency, top, sort)]
    for result in latency:
        by_path = _op_rows(result, depth)
        for layer in data["layers"]:
            op = by_path.get(layer["path"])
            if op is not None:
                fields_ = {k: v for k, v in asdict(op).items() if k not in ("path", "op", "op_class")}
                layer.setdefault("latency", {})[result.summary.key] = fields_
        full = result.to_dict()
        data.setdefault("latency", {})[result.summary.key] = {"summary": full["summary"], "kernels": full["kernels"]}
    if sweeps:
        data["sweep"] = {key: [asdict(m) for m in points] for key, points in sweeps.items()}
    return data


def render_json(
    analysis: Analysis, depth: int | None = None, latency: Sequence[LatencyResult] = (),
    sweeps: Mapping[str, Sequence[ModelLatency]] | None = None, *, top: int | None = None, sort: str | None = None,
    width: int | None = None,
) -> str:
    """:func:`analysis_dict` as indented JSON."""
    return json_text(jsonable(analysis_dict(analysis, depth, latency, sweeps, top=top, sort=sort)))


def json_text(data: Any) -> str:
    """Indented, valid JSON: a non-finite float (never expected: profiles and specs are finite) becomes null
    rather than the ``NaN``/``Infinity`` tokens JSON does not have."""
    return json.dumps(_finite(data), indent=2, allow_nan=False) + "\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


Renderer = Callable[..., str]
RENDERERS: dict[str, Renderer] = {
    Format.TABLE: render_table, Format.JSON: render_json, Format.CSV: render_csv, Format.MARKDOWN: render_markdown,
}


def render(
    analysis: Analysis, fmt: str = "table", depth: int | None = None, latency: Sequence[LatencyResult] = (),
    sweeps: Mapping[str, Sequence[ModelLatency]] | None = None, *, top: int | None = None, sort: str | None = None,
    width: int | None = None,
) -> str:
    """Render in one of :data:`FORMATS`; ``latency`` adds one column set per device, ``sweeps`` a batch curve;
    ``top``/``sort`` pick and order the rows (see :func:`_rows`); ``width`` fits the text table."""
    return RENDERERS[fmt](analysis, depth, latency, sweeps, top=top, sort=sort, width=width)
