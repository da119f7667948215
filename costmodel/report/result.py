"""What ``costmodel.analyze(...)`` returns: the counts and, per device, the latency, in one object that prints
short, renders in a notebook and converts to a dict or a pandas DataFrame."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..analysis import Analysis
from ..jsonable import jsonable
from ..latency import LatencyResult, ModelLatency
from ..layout import percent
from ..units import duration, si, size
from .tables import _cells, _rows, analysis_dict, render_table

NOTEBOOK_DEPTH = 2  # the compact table of _repr_html_: stages


@dataclass(frozen=True)
class ModelResult:
    """Counts of one model (:class:`~costmodel.analysis.Analysis`: ``totals``, ``layers``, ...) and its latency
    per hardware profile (``latency[key]``: :class:`~costmodel.latency.LatencyResult`). Attributes of the analysis
    read through: ``result.totals.macs``, ``result.layers``."""

    analysis: Analysis
    latency: Mapping[str, LatencyResult] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.analysis, name)

    # -- the figures people ask for first
    @property
    def params(self) -> int:
        """Parameters."""
        return self.analysis.totals.params

    @property
    def macs(self) -> int:
        """Multiply-accumulates per batch."""
        return self.analysis.totals.macs

    @property
    def flops(self) -> int:
        """FLOPs per batch (docs/conventions.md)."""
        return self.analysis.totals.flops

    @property
    def summaries(self) -> dict[str, ModelLatency]:
        """Per device key: the model's latency summary."""
        return {key: result.summary for key, result in self.latency.items()}

    @property
    def latency_s(self) -> dict[str, float]:
        """Per device key: predicted latency per batch, seconds."""
        return {key: result.summary.latency_s for key, result in self.latency.items()}

    # -- views
    def __repr__(self) -> str:
        a = self.analysis
        head = (f"{a.model}: batch {a.batch}, {a.dtype}, params {si(self.params)}, MACs {si(self.macs)}, "
                f"FLOPs {si(self.flops)}")
        devices = ", ".join(f"{key} {duration(s)}" for key, s in self.latency_s.items())
        return f"<ModelResult {head}{'; ' + devices if devices else ''}>"

    def table(self, depth: int | None = NOTEBOOK_DEPTH, *, top: int | None = None, sort: str | None = None,
              width: int | None = None) -> str:
        """The CLI's text view: summary and table (``depth`` None: every layer; ``top``/``sort`` as --top/--sort)."""
        return render_table(self.analysis, depth, list(self.latency.values()), top=top, sort=sort, width=width)

    def to_dict(self, depth: int | None = None) -> dict[str, Any]:
        """Raw numbers with stable keys: what ``costmodel analyze --format json`` prints
        (docs/schema/analyze.schema.json)."""
        return jsonable(analysis_dict(self.analysis, depth, list(self.latency.values())))

    def to_pandas(self, depth: int | None = None) -> Any:
        """One row per layer (or path group at ``depth``), raw numbers; latency columns ``KEY.FIELD`` per device.
        Needs pandas (``pip install costmodel[pandas]``)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas needs pandas: pip install 'costmodel[pandas]'") from None
        rows = []
        for layer in self.to_dict(depth)["layers"]:
            row = {k: v for k, v in layer.items() if k != "latency"}
            row["output_shape"] = tuple(row["output_shape"])
            for key, fields in layer.get("latency", {}).items():
                row.update({f"{key}.{name}": value for name, value in fields.items()})
            rows.append(row)
        return pd.DataFrame(rows).set_index("path")

    def _repr_html_(self) -> str:
        """A notebook's view: the summary lines and the table at depth 2, as HTML."""
        a, t = self.analysis, self.analysis.totals
        lines = [f"<b>{html.escape(a.model)}</b>: batch {a.batch}, {a.dtype}; params {si(t.params)}, "
                 f"MACs {si(t.macs)}, FLOPs {si(t.flops)}, peak activations {size(t.peak_activation_bytes)}"]
        for key, m in self.summaries.items():
            lines.append(f"{html.escape(key)}: {duration(m.latency_s)} per batch, {m.throughput:,.0f} images/s, "
                         f"E {percent(m.efficiency)}, memory-bound {100 * m.memory_bound_share:.0f}% of time")
        rows = _rows(a, NOTEBOOK_DEPTH)
        header, body, foot, align = _cells(a, NOTEBOOK_DEPTH, list(self.latency.values()), rows)
        style = ['text-align:left' if al == "<" else 'text-align:right' for al in align]

        def row(cells: list[str], tag: str) -> str:
            return "<tr>" + "".join(f'<{tag} style="{s}">{html.escape(c)}</{tag}>'
                                    for c, s in zip(cells, style, strict=True)) + "</tr>"

        table = ("<table><thead>" + row(header, "th") + "</thead><tbody>" + "".join(row(r, "td") for r in body)
                 + row(foot, "th") + "</tbody></table>")
        return "<div>" + "<br>".join(lines) + table + "</div>"
