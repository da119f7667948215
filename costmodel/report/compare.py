"""Several models side by side on several devices: one row per model, rendered as text, Markdown, CSV or JSON.

Per model: params, GMACs and activations per image, peak live activation memory at the batch, published top-1
(spec metadata); per device: latency per batch, throughput, computational efficiency E and memory-bound share
(see docs/latency-model.md). Text and Markdown use the table helpers of :mod:`costmodel.report.tables`; CSV and
JSON hold raw numbers (seconds, bytes, fractions). docs/reports.md explains every column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..analysis import Analysis, analyze_graph
from ..graph import load_graph
from ..graph.load import to_spec
from ..hardware import HardwareProfile, load_profile
from ..latency import DEFAULT_FUSION, LatencyResult, ModelLatency, estimate
from ..layout import Table, fit_width, percent, wrap
from ..spec import Metadata
from ..units import si, size
from ..vocab import Format
from .tables import FORMATS, json_text, markdown_line, markdown_marks

__all__ = ["FORMATS", "Comparison", "ModelRow", "compare_model", "load_profiles", "model_row", "pareto_points",
           "render_comparison", "setting"]


@dataclass(frozen=True)
class ModelRow:
    """One model's figures: counts for the whole batch, latency summaries keyed by profile key."""

    name: str
    spec: str  # the spec file, as given
    batch: int
    dtype: str
    params: int
    macs: int  # per batch
    activations: int  # conv/linear/matmul output elements per batch (fvcore's activation count)
    peak_activation_bytes: int  # live activation memory at the batch (bytes)
    top1: float | None = None  # published ImageNet-1k top-1, percent
    top5: float | None = None
    latency: dict[str, ModelLatency] = field(default_factory=dict)

    @property
    def gmacs_per_image(self) -> float:
        """GMACs per image (10^9 multiply-adds)."""
        return self.macs / self.batch / 1e9

    @property
    def activations_per_image(self) -> float:
        return self.activations / self.batch


@dataclass(frozen=True)
class Comparison:
    """Rows in the order given; ``devices``: profile key -> device name, in the order of the columns."""

    rows: list[ModelRow]
    devices: dict[str, str]
    fusion: str = DEFAULT_FUSION

    def to_dict(self) -> dict:
        """Raw numbers, stable keys (the JSON format)."""
        return {"fusion": self.fusion, "devices": dict(self.devices), "models": [asdict(r) for r in self.rows]}

    @classmethod
    def from_dict(cls, data: dict) -> Comparison:
        """The inverse of :meth:`to_dict` (a JSON file read back)."""
        rows = [ModelRow(**{**m, "latency": {k: ModelLatency(**v) for k, v in m["latency"].items()}})
                for m in data["models"]]
        return cls(rows, dict(data["devices"]), data["fusion"])


def model_row(analysis: Analysis, results: Iterable[LatencyResult], spec: str | Path, metadata: Metadata) -> ModelRow:
    """A row from an analysis, its latency results (one per device) and the spec's metadata."""
    t = analysis.totals
    return ModelRow(
        name=analysis.model, spec=str(spec), batch=analysis.batch, dtype=analysis.dtype, params=t.params,
        macs=t.macs, activations=t.activations, peak_activation_bytes=t.peak_activation_bytes, top1=metadata.top1,
        top5=metadata.top5, latency={r.summary.key: r.summary for r in results},
    )


def compare_model(
    spec: str | Path, profiles: Sequence[HardwareProfile], *, batch: int | None = None, dtype: str | None = None,
    fusion: str = DEFAULT_FUSION, overrides: Mapping[str, Any] | None = None,
) -> ModelRow:
    """Load, analyse and estimate one spec on every profile (``batch`` / ``dtype``: None = the spec's;
    ``overrides``: spec variables to set). The spec's published accuracy (top-1, top-5) is of the model as written:
    an override that changes a variable leaves the row without it."""
    graph = load_graph(spec, batch=batch, overrides=overrides)
    analysis = analyze_graph(graph, dtype)
    results = [estimate(graph, p, dtype=analysis.dtype, fusion=fusion) for p in profiles]
    return model_row(analysis, results, spec, published(spec, graph.spec.metadata, overrides))


def published(spec: str | Path, metadata: Metadata, overrides: Mapping[str, Any] | None) -> Metadata:
    """``metadata`` of ``spec`` loaded with ``overrides``, without the published accuracy (top-1, top-5) when an
    override changes a variable: that accuracy is of the model as written."""
    if overrides and (metadata.top1 is not None or metadata.top5 is not None):
        written = to_spec(spec)[0].vars
        if any(name not in written or written[name] != value for name, value in overrides.items()):
            return metadata.model_copy(update={"top1": None, "top5": None})
    return metadata


def load_profiles(names: Iterable[str]) -> list[HardwareProfile]:
    """Profiles by name, alias or path, in order, without repeats (two names for one file count once)."""
    profiles: dict[str, HardwareProfile] = {}
    for name in dict.fromkeys(names):
        profile = load_profile(name)
        profiles.setdefault(profile.key, profile)
    return list(profiles.values())


# --- Pareto points --------------------------------------------------------------------------------------------


def pareto_points(comparison: Comparison) -> tuple[list, str, str]:
    """Points for ``plots.pareto_figure``: latency per image (ms, x) against published top-1 (%, y) when every
    model has one, else against GMACs per image; one group per device. Returns (points, x label, y label)."""
    from ..plots import ParetoPoint  # matplotlib is only imported when a plot is asked for

    if not comparison.devices:
        raise ValueError("Pareto points need latency: give at least one device")
    by_top1 = all(r.top1 is not None for r in comparison.rows)
    points = [ParetoPoint(r.name, 1e3 * r.latency[key].latency_per_image_s,
                          float(r.top1) if by_top1 else r.gmacs_per_image, group=key)  # type: ignore[arg-type]
              for key in comparison.devices for r in comparison.rows]
    return points, "latency per image (ms)", "ImageNet-1k top-1 (%)" if by_top1 else "GMACs per image"


# --- renderers ------------------------------------------------------------------------------------------------

DEVICE_COLUMNS: list[tuple[str, Callable[[ModelLatency], str]]] = [
    ("ms/batch", lambda m: f"{1e3 * m.latency_s:,.2f}"),
    ("images/s", lambda m: f"{m.throughput:,.0f}"),
    ("E", lambda m: percent(m.efficiency)),
    ("mem-bound", lambda m: f"{100 * m.memory_bound_share:.0f}%"),
]


def _has_top1(comparison: Comparison) -> bool:
    return any(r.top1 is not None for r in comparison.rows)


def _cells(comparison: Comparison) -> tuple[list[str], list[list[str]], str]:
    """Header, body and alignment of the people's table (text and Markdown)."""
    header = ["model", "params", "GMACs/img", "acts/img", "peak mem"]
    top1 = _has_top1(comparison)
    if top1:
        header.append("top-1 %")
    several = len(comparison.devices) > 1
    header += [f"{name} {key}" if several else name for key in comparison.devices for name, _ in DEVICE_COLUMNS]
    body = []
    for r in comparison.rows:
        cells = [r.name, si(r.params), f"{r.gmacs_per_image:.2f}", si(r.activations_per_image),
                 size(r.peak_activation_bytes)]
        if top1:
            cells.append(f"{r.top1:.1f}" if r.top1 is not None else "-")
        cells += [cell(r.latency[key]) for key in comparison.devices for _, cell in DEVICE_COLUMNS]
        body.append(cells)
    return header, body, "<" + ">" * (len(header) - 1)


def setting(values: Iterable[object]) -> str:
    """The one value all rows share, else ``per spec (a, b)``."""
    distinct = list(dict.fromkeys(str(v) for v in values))
    return distinct[0] if len(distinct) == 1 else "per spec (" + ", ".join(distinct) + ")"


def comparison_summary(comparison: Comparison) -> list[str]:
    """What the table holds: the setting, the devices and the units."""
    rows = comparison.rows
    lines = [f"{len(rows)} model{'s' if len(rows) != 1 else ''}: batch {setting(r.batch for r in rows)}, "
             f"{setting(r.dtype for r in rows)}, fusion {comparison.fusion}"]
    lines += [f"{key}: {name}" for key, name in comparison.devices.items()]
    lines.append("GMACs/img, acts/img: per image; peak mem: live activations at the batch"
                 + ("; ms/batch: predicted latency per batch, E: ideal / predicted latency, mem-bound: share of the "
                    "latency in memory-bound kernels" if comparison.devices else "; no --hw, so no latency columns"))
    return lines


# Columns of the text table left out, in this order, until it fits the width (a device's columns all at once).
COMPARISON_DROP_ORDER = ("acts/img", "peak mem", "mem-bound", "images/s", "params", "E")


def comparison_table(comparison: Comparison, width: int | None = None) -> str:
    """A fixed-width text table under its summary lines, fitted to ``width`` characters (None: no limit) by
    leaving out columns in :data:`COMPARISON_DROP_ORDER`, then shortening model names; with several devices each
    device's key heads its columns."""
    header, body, align = _cells(comparison)
    groups = [""] * len(header)
    if len(comparison.devices) > 1:
        n = len(DEVICE_COLUMNS) * len(comparison.devices)
        header = header[:-n] + [name for _ in comparison.devices for name, _ in DEVICE_COLUMNS]
        groups = groups[:-n] + [key for key in comparison.devices for _ in DEVICE_COLUMNS]
    table = Table(header, body, list(align), groups)
    dropped = fit_width(table, width, COMPARISON_DROP_ORDER)
    note = [f"(left out to fit {width} columns: {', '.join(dropped)}; --format csv or json has every column)"]
    return "\n".join([*wrap(comparison_summary(comparison), width), "", *table.lines(),
                      *(wrap(note, width) if dropped else [])]) + "\n"


def comparison_markdown(comparison: Comparison) -> str:
    """A GitHub-flavoured Markdown table under a heading and the summary as bullets."""
    header, body, align = _cells(comparison)
    first, *rest = comparison_summary(comparison)
    lines = [f"### Comparison: {first}", "", *[f"- {line}" for line in rest], "", markdown_line(header),
             markdown_line(markdown_marks(align)), *map(markdown_line, body)]
    return "\n".join(lines) + "\n"


CSV_FIELDS = ("name", "spec", "batch", "dtype", "params", "macs", "activations", "peak_activation_bytes", "top1",
              "top5")
COMPARISON_LATENCY_FIELDS = ("latency_s", "latency_per_image_s", "throughput", "efficiency", "ideal_s",
                             "memory_bound_share", "overhead_share", "kernels", "flops", "dram_bytes")


def comparison_csv(comparison: Comparison) -> str:
    """One row per model, raw numbers (counts per batch); latency columns ``KEY.FIELD`` per device."""
    names = [*CSV_FIELDS, *(f"{key}.{name}" for key in comparison.devices for name in COMPARISON_LATENCY_FIELDS)]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for r in comparison.rows:
        row = {name: getattr(r, name) for name in CSV_FIELDS}
        for key in comparison.devices:
            row.update({f"{key}.{name}": getattr(r.latency[key], name) for name in COMPARISON_LATENCY_FIELDS})
        writer.writerow(row)
    return out.getvalue()


def comparison_json(comparison: Comparison) -> str:
    """:meth:`Comparison.to_dict` as indented JSON."""
    return json_text(comparison.to_dict())


COMPARISON_RENDERERS: dict[str, Callable[[Comparison], str]] = {
    Format.TABLE: comparison_table, Format.JSON: comparison_json, Format.CSV: comparison_csv,
    Format.MARKDOWN: comparison_markdown,
}


def render_comparison(comparison: Comparison, fmt: str = "table", width: int | None = None) -> str:
    """Render in one of :data:`FORMATS`; ``width`` fits the text table (None: no limit)."""
    return comparison_table(comparison, width) if fmt == "table" else COMPARISON_RENDERERS[fmt](comparison)
