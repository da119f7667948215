"""Text for the designer's results, the scores of existing networks and the entropy-MACs frontier (PNG)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from ..analysis import Analysis
from ..errors import DesignError, shown
from ..jsonable import dumps
from ..units import si
from ..vocab import Convention
from .entropy import Score
from .sbsolve import SuperProblem, SuperResult
from .solver import Budget, InfeasibleError, Problem, Result

_SUFFIX = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6}


def parse_count(text: str, what: str = "--macs") -> float:
    """``'4.13G' -> 4.13e9``, ``'25.55M' -> 25.55e6``, ``'1e9' -> 1e9`` (K, M, G, T; case-insensitive)."""
    value = text.strip().upper()
    suffix = value[-1] if value and value[-1] in "KMGT" else ""
    try:
        number = float(value[:len(value) - len(suffix)]) * _SUFFIX[suffix]
    except ValueError:
        raise DesignError(f"{what} expects a number with an optional K, M, G or T suffix (e.g. 4.13G), "
                          f"got {shown(text, 40)}") from None
    if not (number > 0 and math.isfinite(number)):
        raise DesignError(f"{what} must be a positive, finite number, got {shown(text, 40)}")
    return number


def parse_seconds(text: str) -> float:
    """``'1.5ms' -> 0.0015`` (s, ms, µs or us; a bare number is milliseconds)."""
    value = text.strip().lower()
    unit = next((u for u in ("ms", "µs", "us", "s") if value.endswith(u)), "")
    try:
        number = float(value[:len(value) - len(unit)]) * _SECONDS.get(unit, 1e-3)
    except ValueError:
        raise DesignError(f"--latency expects a time such as 1.5ms, got {shown(text, 40)}") from None
    if not (number > 0 and math.isfinite(number)):
        raise DesignError(f"--latency must be a positive, finite time, got {shown(text, 40)}")
    return number


def parse_budgets(text: str, params: float | None, rho: float) -> list[Budget]:
    """``'1G,2G:12M,4.13G'``: MAC budgets, each with an optional ``:params``, else ``params``."""
    budgets = []
    for item in (part.strip() for part in text.split(",")):
        if item:
            macs, _, own = item.partition(":")
            budgets.append(Budget(parse_count(macs, "--sweep"), parse_count(own, "--sweep") if own else params, rho))
    if not budgets:
        raise DesignError(f"--sweep expects MAC budgets separated by commas (e.g. 0.5G,1G,2G:12M), got {text!r}")
    return budgets


_FAMILY = {"resnet": "ResNet bottleneck", "mbconv": "MobileNet inverted bottleneck", "convnext": "ConvNeXt block"}


def _side(area: int) -> str:
    side = math.isqrt(area)
    return f"{side}x{side}" if side * side == area else f"{area} px"


def budget_text(budget: Budget) -> str:
    """``MACs <= 4.13G, params <= 25.55M, rho <= 0.3``."""
    parts = [f"MACs <= {si(budget.macs, digits=4)}"]
    if budget.params is not None:
        parts.append(f"params <= {si(budget.params, digits=4)}")
    return ", ".join(parts + [f"rho <= {budget.rho:g}"])


def score_table(score: Score, rows: Sequence[dict[str, str]] | None = None) -> list[str]:
    """One line per stage: resolution, channels, layers, blocks, H_i and ρ_i (and design columns if given)."""
    extra = list(rows[0]) if rows else []
    header = ["stage", "output", "channels", "layers", "blocks", *extra, "H_i", "rho_i"]
    body = []
    for i, (stage, h, rho) in enumerate(zip(score.stages, score.entropies, score.rhos, strict=True)):
        cells = [str(i), _side(stage.area), str(stage.channels), str(len(stage.widths)), str(stage.blocks or "-")]
        cells += [rows[i][key] for key in extra] if rows else []
        body.append(cells + [f"{h:,.0f}", f"{rho:.3f}"])
    widths = [max(len(row[j]) for row in [header, *body]) for j in range(len(header))]
    lines = ["  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in [header, *body]]
    return [lines[0], "-" * len(lines[0]), *lines[1:]]


def score_summary(score: Score) -> list[str]:
    """The objective's parts on two lines."""
    depths = ", ".join(str(d) for d in score.penalty_depths)
    alphas = ", ".join(f"{a:g}" for a in score.alphas)
    return [f"entropy sum(alpha_i*H_i) {score.entropy:,.1f} (alpha [{alphas}])  -  penalty beta*exp(std[{depths}]) "
            f"{score.penalty:,.1f}  =  objective {score.objective:,.1f}",
            f"effectiveness rho {score.rho:.3f} (largest rho_i)  |  {score.depth} main-path conv layers"]


def result_text(problem: Problem, result: Result, latency_budget_s: float | None = None) -> str:
    """What ``costmodel design`` prints for one solved problem."""
    d, b = result.design, problem.budget
    se = " with squeeze-excite" if d.se else ""
    rows = []
    for i in range(len(result.score.stages)):
        j = i if d.family == "convnext" else i - 1  # the block stage shown on this entropy stage
        if j < 0:
            rows.append({"mid": "-", "kernel": "3 (stem)"})
        else:
            stem = " +stem" if d.family == "convnext" and i == 0 else ""
            rows.append({"mid": str(d.mids[j]), "kernel": f"{d.kernels[j]}{stem}"})
    lines = [f"DeepMAD design: {_FAMILY[d.family]}{se} space, {d.resolution} px input, {d.stages} block stages",
             f"budgets: {budget_text(b)}" + (f", latency <= {latency_budget_s * 1e3:.4g} ms" if latency_budget_s
                                             else ""),
             f"solved in {result.seconds:.2f} s (relaxed objective {result.relaxed_objective:,.1f}, integer "
             f"{result.score.objective:,.1f})", ""]
    lines += score_table(result.score, rows)
    lines += ["", *score_summary(result.score)]
    params = f", budget {si(b.params, digits=4)}" if b.params is not None else ""
    lines.append(f"analyzer: MACs {result.macs:,} = {si(result.macs, digits=4)} (budget {si(b.macs, digits=4)}; "
                 f"multiply-accumulates as timm's GMACs)  |  params {result.params:,} = "
                 f"{si(result.params, digits=4)}{params}")
    if result.latency_s is not None:
        lines.append(f"latency {result.latency_s * 1e3:.4g} ms per batch (roofline model)")
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


_CONVENTION = {
    Convention.PAPER: "paper convention: stages split where the resolution changes",
    Convention.OFFICIAL: "official convention: TinyNAS's code, docs/designer.md",
}


def budget_figures(score: Score, analysis: Analysis, official: tuple[float, float] | None) -> dict[str, float]:
    """The budget figures of a scored network under its convention: official ``flops``/``model_size`` or
    costmodel's ``macs``/``params`` (both of costmodel's always, for reference)."""
    out = {"macs": float(analysis.totals.macs), "params": float(analysis.totals.params)}
    if official is not None:
        out["official_flops"], out["official_model_size"] = official
    return out


def score_text(name: str, score: Score, analysis: Analysis, official: tuple[float, float] | None = None) -> str:
    """What ``costmodel design score`` prints for an existing network."""
    lines = [f"{name}: DeepMAD entropy by stage ({_CONVENTION[score.convention]})", ""]
    lines += score_table(score)
    lines += ["", *score_summary(score),
              f"analyzer: MACs {si(analysis.totals.macs, digits=4)}  |  "
              f"params {si(analysis.totals.params, digits=4)}"]
    if official is not None:
        lines.append(f"official budgets: flops {official[0]:,.0f} = {si(official[0], digits=4)} (MACs + "
                     f"BN/ReLU/pooling, no SE, no classifier)  |  model_size {official[1]:,.0f} = "
                     f"{si(official[1], digits=4)} (no classifier)")
    return "\n".join(lines) + "\n"


def score_json(name: str, score: Score, analysis: Analysis, official: tuple[float, float] | None = None) -> str:
    """``design score --format json``: every figure of the score under its convention, and the budgets."""
    stages = [{"groups": list(st.groups), "area": st.area, "channels": st.channels, "layers": len(st.widths),
               "blocks": st.blocks, "alpha": a, "entropy": h, "rho": r}
              for st, a, h, r in zip(score.stages, score.alphas, score.entropies, score.rhos, strict=True)]
    data = {"name": name, "convention": score.convention.value, "stages": stages, "entropy": score.entropy,
            "penalty": score.penalty, "penalty_depths": list(score.penalty_depths), "objective": score.objective,
            "effectiveness": score.rho, "budgets": budget_figures(score, analysis, official)}
    return dumps(data)  # a penalty past the largest float (inf) is null: JSON has no infinity


def superblock_text(
    problem: SuperProblem, result: SuperResult, published: tuple[str, float] | None = None,
    latency_budget_s: float | None = None,
) -> str:
    """What ``costmodel design`` prints for a super-block design (a preset or --space k1kxk1|k1dwsek1)."""
    net, official = result.network, problem.convention is Convention.OFFICIAL
    lim = problem.space
    flops_name, params_name = ("flops", "model_size") if official else ("MACs", "params")
    lines = [f"DeepMAD design: TinyNAS {net.kind} super-blocks, strides {list(net.strides)}, "
             + (f"head conv {net.head}, " if net.head else "") + f"{net.resolution} px, {problem.convention.value} "
             "convention",
             f"space: kernels {list(lim.kernels)}, btn/out {lim.ratio[0]:g}..{lim.ratio[1]:g}, first super-block <= "
             f"{lim.first_depth} blocks, outputs <= {lim.max_channels}",
             f"budgets: {flops_name} <= {si(problem.flops, digits=4)}"
             + (f", {params_name} <= {si(problem.params, digits=4)}" if problem.params else "")
             + f", rho <= {problem.rho:g}"
             + (f", latency <= {latency_budget_s * 1e3:.4g} ms" if latency_budget_s else ""),
             f"solved in {result.seconds:.2f} s", ""]
    header = f"{'super-block':<11}  {'stride':>6}  {'out':>5}  {'btn':>5}  {'ratio':>5}  {'kernel':>6}  {'L':>3}"
    lines += [header, "-" * len(header), f"{'stem':<11}  {2:>6}  {net.stem:>5}  {'-':>5}  {'-':>5}  {3:>6}  {'-':>3}"]
    for i, b in enumerate(net.blocks):
        lines.append(f"{i + 1:<11}  {b.stride:>6}  {b.out:>5}  {b.btn:>5}  {b.btn / b.out:>5.2f}  {b.kernel:>6}  "
                     f"{b.depth:>3}")
    if net.head:
        lines.append(f"{'head':<11}  {1:>6}  {net.head:>5}  {'-':>5}  {'-':>5}  {1:>6}  {'-':>3}")
    lines += ["", *score_table(result.score), "", *score_summary(result.score),
              f"{flops_name} {result.flops:,.0f} = {si(result.flops, digits=4)} (budget "
              f"{si(problem.flops, digits=4)})  |  {params_name} {result.params:,.0f} = {si(result.params, digits=4)}"
              + (f" (budget {si(problem.params, digits=4)})" if problem.params else ""),
              f"analyzer: MACs {si(result.macs, digits=4)}  |  params {si(result.all_params, digits=4)} "
              "(classifier included)"]
    if result.latency_s is not None:
        lines.append(f"latency {result.latency_s * 1e3:.4g} ms per batch (roofline model)")
    if published is not None:
        name, value = published
        lines.append(f"published {name}: objective {value:,.1f} under the same convention; this design "
                     f"{result.score.objective / value - 1:+.1%}")
    return "\n".join(lines) + "\n"


def sweep_text(problem: Problem, budgets: Sequence[Budget], results: Sequence[Result | InfeasibleError]) -> str:
    """The entropy-MACs frontier, one line per budget."""
    header = f"{'MACs budget':>11}  {'params budget':>13}  {'objective':>11}  {'entropy':>11}  {'MACs':>8}  " \
             f"{'params':>8}  {'rho':>5}  {'layers':>6}  depths"
    lines = [f"entropy-MACs frontier: {_FAMILY[problem.family]} space, {problem.resolution} px, rho <= "
             f"{problem.budget.rho:g}", "", header, "-" * len(header)]
    for budget, result in zip(budgets, results, strict=True):
        params = si(budget.params, digits=4) if budget.params is not None else "-"
        if isinstance(result, InfeasibleError):
            lines.append(f"{si(budget.macs, digits=4):>11}  {params:>13}  infeasible: {result}")
            continue
        s = result.score
        lines.append(f"{si(budget.macs, digits=4):>11}  {params:>13}  {s.objective:>11,.0f}  {s.entropy:>11,.0f}  "
                     f"{si(result.macs, digits=4):>8}  {si(result.params, digits=4):>8}  {s.rho:>5.3f}  {s.depth:>6}  "
                     f"{list(result.design.depths)}")
    return "\n".join(lines) + "\n"


def plot_frontier(
    results: Sequence[Result | InfeasibleError], path: Path, references: Sequence[tuple[str, float, float]] = (),
    title: str = "",
) -> list[Path]:
    """Objective against MACs (G) of the solved budgets, written to ``path`` (its suffix picks the format, PNG
    when it has none); ``references``: (name, MACs, objective) points, e.g. hand-designed networks scored with
    the same formula. Drawn by :mod:`costmodel.plots` (no pyplot). Returns the files written."""
    from ..plots import figure_format, frontier_figure, save_figure  # matplotlib: only when a plot is asked for

    fmt = figure_format(path)
    solved = [(r.macs, r.score.objective) for r in results if isinstance(r, Result)]
    fig = frontier_figure(solved, references, title)
    return save_figure(fig, path.with_suffix(""), (fmt,))
