"""How well predicted latency matches measured latency: rank correlations, latency ratios, a FLOPs-only
baseline, a per-model table and a scatter plot.

Per measured row (a model at one batch and image size), a :class:`Point` holds the measured and predicted
seconds per batch, the FLOPs and the ideal latency (FLOPs / fastest peak for the dtype). Figures
(:class:`Fidelity`):

- Spearman rank correlation of predicted vs measured throughput, and of predicted vs measured computational
  efficiency E = ideal latency / latency;
- latency ratio r = predicted / measured: median, worst (largest |log r|), median error = median |r - 1|;
- the same for a FLOPs-only predictor: latency proportional to FLOPs, scaled so that its median ratio is 1
  (its rank correlation is that of 1/FLOPs; its efficiency is constant, so it has no efficiency correlation).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from ..hardware import HardwareProfile
from ..latency import estimate
from ..layout import Table, fit_width
from .measurements import Matched


@dataclass(frozen=True)
class Point:
    """One measured row and its prediction. Times in seconds per batch, FLOPs per batch."""

    label: str
    batch: int
    flops: int
    measured_s: float
    predicted_s: float
    ideal_s: float
    memory_bound_share: float

    @property
    def ratio(self) -> float:
        """Predicted over measured latency (> 1: predicted slower than measured)."""
        return self.predicted_s / self.measured_s

    @property
    def measured_throughput(self) -> float:
        """Measured samples per second."""
        return self.batch / self.measured_s

    @property
    def predicted_throughput(self) -> float:
        """Predicted samples per second."""
        return self.batch / self.predicted_s

    @property
    def measured_efficiency(self) -> float:
        """Measured computational efficiency E = ideal / measured latency."""
        return self.ideal_s / self.measured_s

    @property
    def predicted_efficiency(self) -> float:
        """Predicted computational efficiency E = ideal / predicted latency."""
        return self.ideal_s / self.predicted_s


@dataclass(frozen=True)
class RatioStats:
    """Latency ratios (predicted / measured) of one predictor over the rows."""

    median: float
    worst: float  # the ratio with the largest |log r|
    median_error: float  # median |r - 1|
    within_10: float = math.nan  # share of rows with |r - 1| <= 10 %
    within_25: float = math.nan  # share of rows with |r - 1| <= 25 %

    @classmethod
    def of(cls, ratios: Sequence[float]) -> RatioStats:
        """Statistics of a non-empty list of ratios."""
        errors = [abs(r - 1) for r in ratios]
        return cls(statistics.median(ratios), max(ratios, key=lambda r: abs(math.log(r))), statistics.median(errors),
                   sum(e <= 0.10 + 1e-12 for e in errors) / len(errors),
                   sum(e <= 0.25 + 1e-12 for e in errors) / len(errors))


@dataclass(frozen=True)
class Fidelity:
    """The validation figures over ``models`` rows (NaN correlations when under 3 rows)."""

    models: int
    rho_throughput: float
    rho_efficiency: float
    latency: RatioStats
    flops_rho_throughput: float
    flops_latency: RatioStats
    flops_scale: float  # seconds per FLOP of the FLOPs-only predictor


def points(matched: Sequence[Matched], profile: HardwareProfile, dtype: str | None, fusion: str,
           precision: str = "uniform") -> list[Point]:
    """Predict every matched row on ``profile`` (``dtype``: None -> the row's dtype, else the spec's)."""
    sizes: dict[str, set[int | None]] = {}
    for m in matched:
        sizes.setdefault(m.measurement.model, set()).add(m.measurement.image_size)
    out = []
    for m in matched:
        graph = m.graph()
        summary = estimate(graph, profile, dtype=dtype or m.measurement.dtype, fusion=fusion,
                           precision=precision).summary
        several = len(sizes[m.measurement.model]) > 1  # name the image size only where a model has several
        label = m.measurement.label if several else m.measurement.model
        out.append(Point(label, m.measurement.batch, summary.flops, m.measurement.latency_s, summary.latency_s,
                         summary.ideal_s, summary.memory_bound_share))
    return out


def _spearman(x: Sequence[float], y: Sequence[float]) -> float:
    if len(x) < 3:
        return math.nan
    from scipy.stats import spearmanr  # scipy.stats: slow to import, only needed when scoring

    return float(spearmanr(x, y)[0])


def fidelity(rows: Sequence[Point]) -> Fidelity:
    """The figures of a non-empty list of points."""
    if not rows:
        raise ValueError("no points to score")
    measured = [p.measured_throughput for p in rows]
    per_flop = [p.measured_s / p.flops for p in rows if p.flops]
    scale = 1 / statistics.median(1 / s for s in per_flop) if per_flop else math.nan
    return Fidelity(
        models=len(rows),
        rho_throughput=_spearman([p.predicted_throughput for p in rows], measured),
        rho_efficiency=_spearman([p.predicted_efficiency for p in rows], [p.measured_efficiency for p in rows]),
        latency=RatioStats.of([p.ratio for p in rows]),
        flops_rho_throughput=_spearman([-float(p.flops) / p.batch for p in rows], measured),
        flops_latency=RatioStats.of([scale * p.flops / p.measured_s for p in rows]),
        flops_scale=scale,
    )


def _num(value: float, spec: str) -> str:
    return "n/a" if math.isnan(value) else format(value, spec)


def fidelity_summary(f: Fidelity) -> list[str]:
    """The figures as text lines."""
    lat, base = f.latency, f.flops_latency
    return [
        f"rows matched: {f.models}",
        f"{'':<24} {'rho thpt':>9} {'rho E':>7} {'median ratio':>13} {'median error':>13} {'worst ratio':>12}",
        f"{'roofline model':<24} {_num(f.rho_throughput, '.3f'):>9} {_num(f.rho_efficiency, '.3f'):>7} "
        f"{lat.median:>13.3f} {lat.median_error:>12.1%} {lat.worst:>12.2f}",
        f"{'FLOPs-only (scaled)':<24} {_num(f.flops_rho_throughput, '.3f'):>9} {'n/a':>7} "
        f"{base.median:>13.3f} {base.median_error:>12.1%} {base.worst:>12.2f}",
        "ratio = predicted / measured latency (> 1: predicted slower); rho: Spearman over the rows; E = ideal / "
        "latency",
    ]


TABLE_HEADER = ["model", "batch", "GFLOP/img", "measured/s", "predicted/s", "ratio", "FLOPs ratio", "meas E", "pred E",
                "mem-bound"]
TABLE_DROP_ORDER = ["FLOPs ratio", "GFLOP/img", "mem-bound", "meas E", "pred E", "batch"]  # to fit a terminal


def table_lines(rows: Sequence[Point], flops_scale: float, width: int | None = None) -> list[str]:
    """A per-row table, fastest measured first, fit to ``width`` columns (None: every column): columns left out in
    :data:`TABLE_DROP_ORDER`, then model names cut, and a line saying which."""
    body = [[p.label, str(p.batch), f"{p.flops / p.batch / 1e9:.2f}", f"{p.measured_throughput:,.1f}",
             f"{p.predicted_throughput:,.1f}", f"{p.ratio:.2f}", f"{flops_scale * p.flops / p.measured_s:.2f}",
             f"{p.measured_efficiency:.1%}", f"{p.predicted_efficiency:.1%}", f"{p.memory_bound_share:.0%}"]
            for p in sorted(rows, key=lambda p: -p.measured_throughput)]
    table = Table(list(TABLE_HEADER), body, ["<"] + [">"] * (len(TABLE_HEADER) - 1))
    dropped = fit_width(table, width, TABLE_DROP_ORDER, shrink=0, cut="end")
    return [*table.lines(), *([f"(left out to fit {width} columns: {', '.join(dropped)}; -f json has them)"]
                              if dropped else [])]
