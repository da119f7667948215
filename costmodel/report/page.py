"""A shareable report of one model on several devices: ``index.md`` and a self-contained ``index.html`` with the
tables and the plots (PNG and SVG files beside them).

Tables: model summary, latency per device, latency per fusion mode, per-stage latency, the ten slowest layers per
device. Plots: per device a roofline (fusion none and block), a waterline (none, epilogue, block) and the stage
efficiency gap; across devices the latency breakdown and throughput against batch. The files are built in a
hidden temporary folder and moved into place, so a failure leaves nothing half-written; files the report does not
write are never touched. docs/reports.md describes it.
"""

from __future__ import annotations

import base64
import html
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..analysis import Analysis, aggregate, analyze_graph
from ..errors import PlotError, ReportError
from ..fileio import file_mode, folder_mode, missing_folders, replace_all, temp_beside, unwritable_reason
from ..graph import Graph, load_graph
from ..hardware import HardwareProfile
from ..latency import DEFAULT_FUSION, FUSION_MODES, LatencyResult, ModelLatency, aggregate_ops, batch_sweep, estimate
from ..latency.model import STAGE_DEPTH
from ..layout import percent
from ..spec import Metadata
from ..units import duration, si, size
from ..vocab import Fusion
from .tables import markdown_line, markdown_marks

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SWEEP_BATCHES = tuple(2**i for i in range(11))  # 1 .. 1024: the throughput curve
TOP_LAYERS = 10
ROOFLINE_MODES = (Fusion.NONE, Fusion.BLOCK)
EAGER = " (eager PyTorch: every op its own kernel)"


Progress = Callable[[Iterable[Any], str, int], Iterable[Any]]


def _quiet(items: Iterable[Any], _description: str, _total: int) -> Iterable[Any]:
    return items


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows: the analysis, per device the estimate of every fusion mode, and the sweeps."""

    spec: str
    metadata: Metadata
    analysis: Analysis
    profiles: list[HardwareProfile]
    fusion: str  # the mode of the tables, stage gap and breakdown
    results: dict[str, dict[str, LatencyResult]]  # profile key -> fusion mode -> result
    sweeps: dict[str, list[ModelLatency]]  # profile key -> one summary per batch size
    command: str = ""
    graph: Graph | None = None  # for the interactive pages (None: the page links none)

    def result(self, key: str) -> LatencyResult:
        """The estimate on one device at the report's fusion mode."""
        return self.results[key][self.fusion]


COMPUTE_STEPS = 2  # per device, yielded by _compute: the estimate, the batch sweep
PROFILE_FIGURES = ("roofline", "waterline", "stage_gap")  # per device (stem_<key>), then the shared ones
SHARED_FIGURES = ("breakdown", "throughput")


def step_count(n_profiles: int) -> int:
    """The steps :func:`write_report` goes through for ``n_profiles`` devices (its progress bar's total):
    :func:`_compute`'s, one per figure of :func:`report_figures`, one for the pages."""
    return (COMPUTE_STEPS + len(PROFILE_FIGURES)) * n_profiles + len(SHARED_FIGURES) + 1


def _compute(spec: str | Path, profiles: Sequence[HardwareProfile], batch: int | None, dtype: str | None,
             fusion: str, batches: Sequence[int], command: str, box: dict[str, ReportData],
             overrides: Mapping[str, Any] | None = None) -> Iterator[str]:
    """Analyse and estimate (one step per device), then sweep the batch sizes (one step per device). The
    published accuracy is left out when ``overrides`` change the model (as in ``compare``)."""
    graph = load_graph(spec, batch=batch, overrides=overrides)
    analysis = analyze_graph(graph, dtype)
    results: dict[str, dict[str, LatencyResult]] = {}
    for profile in profiles:
        results[profile.key] = {mode: estimate(graph, profile, dtype=analysis.dtype, fusion=mode)
                                for mode in FUSION_MODES}
        yield f"estimate on {profile.key}"
    sweeps: dict[str, list[ModelLatency]] = {}
    for profile in profiles:
        sweeps[profile.key] = batch_sweep(graph, profile, batches, dtype=analysis.dtype, fusion=fusion)  # errors:
        # the spec named as given (Graph.source)
        yield f"batch sweep on {profile.key}"
    from .compare import published

    box["data"] = ReportData(str(spec), published(spec, graph.spec.metadata, overrides), analysis, list(profiles),
                             fusion, results, sweeps, command, graph)


# --- figures ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FigureSpec:
    """One plot of the report: file stem, caption and how to build it."""

    stem: str
    caption: str
    build: Callable[[], Figure]


def report_figures(data: ReportData) -> list[FigureSpec]:
    """The report's plots, in page order."""
    from ..plots import (
        breakdown_figure,
        plot_title,
        roofline_figure,
        stage_gap_figure,
        throughput_figure,
        waterline_figure,
    )

    a = data.analysis
    out: list[FigureSpec] = []
    for p in data.profiles:
        runs = data.results[p.key]

        def title(fusion: str | None, profile: HardwareProfile = p) -> str:
            return plot_title(a.model, profile.name, a.dtype, a.batch, fusion)

        per_device: dict[str, tuple[str, Callable[[], Figure]]] = {
            "roofline": (f"Roofline on {p.name}, fusion none and block",
                         lambda runs=runs, p=p, t=title(None): roofline_figure(  # type: ignore[misc]
                             {m: runs[m] for m in ROOFLINE_MODES}, p, t)),
            "waterline": (f"Waterline on {p.name}, fusion {', '.join(FUSION_MODES)}",
                          lambda runs=runs, t=title(None): waterline_figure(runs, t)),  # type: ignore[misc]
            "stage_gap": (f"Efficiency gap per stage on {p.name}, fusion {data.fusion}",
                          lambda r=runs[data.fusion], t=title(data.fusion): stage_gap_figure(r, t)),  # type: ignore[misc]
        }
        out += [FigureSpec(f"{stem}_{p.key}", *per_device[stem]) for stem in PROFILE_FIGURES]
    keys = [p.key for p in data.profiles]
    devices = data.profiles[0].name if len(keys) == 1 else ", ".join(keys)  # the legends name devices by key
    batches = [m.batch for m in data.sweeps[keys[0]]]
    sweep_title = (f"{a.model} on {devices}: {a.dtype}, batch {batches[0]} to {batches[-1]}, fusion {data.fusion}")
    shared: dict[str, tuple[str, Callable[[], Figure]]] = {
        "breakdown": (f"Latency by op class and by stage, fusion {data.fusion}",
                      lambda: breakdown_figure({k: data.result(k) for k in keys},
                                               plot_title(a.model, devices, a.dtype, a.batch, data.fusion))),
        "throughput": (f"Throughput against batch size, fusion {data.fusion}",
                       lambda: throughput_figure(data.sweeps, sweep_title)),
    }
    out += [FigureSpec(stem, *shared[stem]) for stem in SHARED_FIGURES]
    return out


# --- tables -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageTable:
    """Cells as text; ``align``: one ``<`` or ``>`` per column."""

    header: list[str]
    rows: list[list[str]]
    align: str


def _pct(fraction: float) -> str:
    return percent(fraction)


def model_table(data: ReportData) -> PageTable:
    """What the model is: counts per image and per batch, memory, published accuracy."""
    a, t, meta = data.analysis, data.analysis.totals, data.metadata
    inputs = ", ".join(f"{name} {'x'.join(map(str, shape))}" for name, shape in a.inputs.items())
    rows = [
        ["spec", data.spec],
        ["batch, dtype, input", f"{a.batch}, {a.dtype}, {inputs}"],
        ["params", f"{si(t.params)} ({size(t.weight_bytes)} of weights)"],
        ["GMACs per image", f"{t.macs / a.batch / 1e9:.2f} ({si(t.macs)} MACs per batch)"],
        ["activations per image", f"{si(t.activations / a.batch)} (conv / linear / matmul outputs)"],
        ["peak activation memory", f"{size(t.peak_activation_bytes)} at {t.peak_at} (live tensors, whole batch)"],
    ]
    if meta.top1 is not None:
        source = (meta.model_extra or {}).get("top1_source") or meta.source or ""
        top5 = f", top-5 {meta.top5:g}%" if meta.top5 is not None else ""
        rows.append(["ImageNet-1k accuracy", f"top-1 {meta.top1:g}%{top5}" + (f" ({source})" if source else "")])
    return PageTable(["figure", "value"], rows, "<<")


def latency_table(data: ReportData) -> PageTable:
    """One row per device at the report's fusion mode."""
    header = ["device", "latency / batch", "per image", "images/s", "achieved TFLOP/s", "E", "ideal",
              "memory-bound", "launch overhead", "kernels", "DRAM traffic"]
    rows = []
    for p in data.profiles:
        m = data.result(p.key).summary
        rows.append([f"{p.key} ({p.name})", duration(m.latency_s), duration(m.latency_per_image_s),
                     f"{m.throughput:,.0f}", f"{m.achieved_flops / 1e12:.1f}", _pct(m.efficiency),
                     duration(m.ideal_s), _pct(m.memory_bound_share), _pct(m.overhead_share), str(m.kernels),
                     size(m.dram_bytes)])
    return PageTable(header, rows, "<" + ">" * (len(header) - 1))


def fusion_table(data: ReportData) -> PageTable:
    """Latency per batch and E under each fusion mode, per device."""
    header = ["device", *(f"{mode}: latency, E, kernels" for mode in FUSION_MODES)]
    rows = [[p.key, *(f"{duration(s.latency_s)}, {_pct(s.efficiency)}, {s.kernels}"
                      for s in (data.results[p.key][mode].summary for mode in FUSION_MODES))]
            for p in data.profiles]
    return PageTable(header, rows, "<" + ">" * len(FUSION_MODES))


def stage_table(data: ReportData) -> PageTable:
    """Per stage (path prefix of depth 2): params, GMACs per image, and per device latency, share and bound."""
    counts = {row.path: row for row in aggregate(data.analysis.layers, STAGE_DEPTH)}
    by_device = {p.key: aggregate_ops(data.result(p.key).ops, STAGE_DEPTH) for p in data.profiles}
    several = len(data.profiles) > 1
    header = ["stage", "params", "GMACs/img"]
    header += [f"{name} {p.key}" if several else name for p in data.profiles for name in ("latency", "share", "bound")]
    rows = []
    for stage, row in counts.items():
        cells = [stage, si(row.params), f"{row.macs / data.analysis.batch / 1e9:.3f}"]
        busy = False
        for p in data.profiles:
            op = by_device[p.key].get(stage)
            total = data.result(p.key).summary.latency_s
            if op is None or not op.kernel:
                cells += ["-", "-", "-"]
                continue
            busy = busy or op.latency_s > 0
            cells += [duration(op.latency_s), _pct(op.latency_s / total) if total else "-", op.bound]
        if busy or row.params:
            rows.append(cells)
    return PageTable(header, rows, "<>>" + ">><" * len(data.profiles))


def top_layers_table(data: ReportData, key: str, count: int = TOP_LAYERS) -> PageTable:
    """The ``count`` layers with the largest latency share on one device."""
    result = data.result(key)
    total = result.summary.latency_s
    ops = sorted((op for op in result.ops if op.kernel), key=lambda op: -op.latency_s)[:count]
    rows = [[str(i), op.path, op.op, op.op_class, duration(op.latency_s), _pct(op.latency_s / total) if total else "-",
             op.bound, f"{op.intensity:.1f}" if op.intensity is not None else "-", op.unit]
            for i, op in enumerate(ops, 1)]
    return PageTable(["#", "layer", "op", "class", "latency", "share", "bound", "FLOP/B", "unit"], rows,
                 "><<<>><><")


# --- the page ---------------------------------------------------------------------------------------------------

Block = tuple[str, Any]  # ("h1" | "h2" | "h3" | "p", text), ("table", PageTable), ("figure", FigureSpec) or
#                          ("link", (text, file))


def interactive_name(key: str) -> str:
    """The file of a device's interactive roofline and waterline (``costmodel plot interactive``'s page)."""
    return f"interactive_{key}.html"


def blocks(data: ReportData, figs: Sequence[FigureSpec]) -> list[Block]:
    """The page, in order, independent of the output format."""
    a = data.analysis
    devices = ", ".join(p.name for p in data.profiles)
    by_stem = {f.stem: f for f in figs}
    out: list[Block] = [
        ("h1", f"{a.model}: cost and latency on {devices}"),
        ("p", f"{a.dtype}, batch {a.batch}, fusion {data.fusion}{EAGER if data.fusion == 'none' else ''}. Latency "
              "is predicted by costmodel's roofline model (docs/latency-model.md), not measured."
              + (f" Generated by `{data.command}`." if data.command else "")),
        ("h2", "Model"), ("table", model_table(data)),
        ("h2", "Latency per device"),
        ("p", "E: computational efficiency, ideal latency (FLOPs / peak of the fastest unit) over predicted latency. "
              "Memory-bound and launch overhead: shares of the latency."),
        ("table", latency_table(data)),
        ("h3", "Fusion modes"), ("table", fusion_table(data)),
        ("h2", "Plots"),
    ]
    for p in data.profiles:
        out += [("h3", f"{p.name}")]
        if data.graph is not None:
            out += [("link", (f"Interactive roofline and waterline on {p.name}, every fusion mode (hover a kernel "
                              "for its ops, shapes, latency and bound)", interactive_name(p.key)))]
        out += [("figure", by_stem[f"{kind}_{p.key}"]) for kind in ("roofline", "waterline", "stage_gap")]
    out += [("h3", "Across devices"), ("figure", by_stem["breakdown"]), ("figure", by_stem["throughput"])]
    out += [("h2", "Stages"), ("p", "Latency per stage (path prefix of depth 2), its share of the model's latency "
                                    "and the bound that holds for most of its time."), ("table", stage_table(data))]
    for p in data.profiles:
        out += [("h2", f"Top {TOP_LAYERS} layers by latency on {p.name}"), ("table", top_layers_table(data, p.key))]
    return out


def page_markdown(page: Sequence[Block]) -> str:
    """Markdown: tables as GitHub tables, figures as PNG links (SVG linked beside)."""
    lines: list[str] = []
    for kind, value in page:
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + value, ""]
        elif kind == "p":
            lines += [value, ""]
        elif kind == "link":
            lines += [f"[{value[0]}]({value[1]})", ""]
        elif kind == "table":
            lines += [markdown_line(value.header), markdown_line(markdown_marks(value.align)),
                      *(markdown_line(row) for row in value.rows), ""]
        else:
            lines += [f"![{value.caption}]({value.stem}.png)", "", f"*{value.caption}* ([SVG]({value.stem}.svg))", ""]
    return "\n".join(lines)


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .6em}
th{background:#f3f3f3}td.r{text-align:right}figure{margin:1.5em 0}img{max-width:100%;height:auto}
figcaption{color:#555;font-size:.9em}code{background:#f3f3f3;padding:0 .2em}"""


def page_html(page: Sequence[Block], folder: Path, title: str) -> str:
    """Self-contained HTML: figures inlined as base64 PNG from ``folder``, minimal CSS, no external assets."""
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f"<title>{html.escape(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>"]
    for kind, value in page:
        if kind in ("h1", "h2", "h3"):
            parts.append(f"<{kind}>{html.escape(value)}</{kind}>")
        elif kind == "p":
            parts.append(f"<p>{_inline_code(value)}</p>")
        elif kind == "link":
            parts.append(f'<p><a href="{html.escape(value[1])}">{html.escape(value[0])}</a></p>')
        elif kind == "table":
            parts.append(_html_table(value))
        else:
            png = base64.b64encode((folder / f"{value.stem}.png").read_bytes()).decode("ascii")
            caption = html.escape(value.caption)
            parts.append(f'<figure id="{value.stem}"><img src="data:image/png;base64,{png}" alt="{caption}">'
                         f"<figcaption>{caption}</figcaption></figure>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _inline_code(text: str) -> str:
    pieces = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


def _html_table(table: PageTable) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    cell = {">": '<td class="r">', "<": "<td>"}
    body = "".join("<tr>" + "".join(f"{cell[a]}{html.escape(c)}</td>" for c, a in zip(row, table.align, strict=True))
                   + "</tr>" for row in table.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# --- writing ----------------------------------------------------------------------------------------------------


REPORT_MANIFEST = ".costmodel-report"  # in a report folder: the files the report wrote, one per line
REPORT_SUFFIXES = (".md", ".html", ".png", ".svg")


def _manifest(out_dir: Path) -> set[str] | None:
    """The files a previous report wrote into ``out_dir`` (None when it holds no report of costmodel's)."""
    try:
        return {line for line in (out_dir / REPORT_MANIFEST).read_text(encoding="utf-8").splitlines() if line}
    except (OSError, UnicodeDecodeError):
        pass
    files = [p for p in out_dir.iterdir() if not p.name.startswith(".")]
    if (out_dir / "index.md").is_file() and all(p.is_file() and p.suffix in REPORT_SUFFIXES for p in files):
        return set()  # a report written before manifests: replace what we write, delete nothing
    return None


def check_folder(out_dir: Path, force: bool = False) -> None:
    """Raise :class:`ReportError` unless a report may be written into ``out_dir`` (checked before any work): a
    new or empty folder, or a previous report's; any other folder only with ``force`` (then only the files the
    report writes are replaced: nothing else in the folder is touched)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"cannot write the report to {out_dir}: it is a file, not a folder")
    reason = unwritable_reason(out_dir / "index.md")
    if reason:
        raise ReportError(f"cannot write the report to {out_dir}: {reason}")
    if out_dir.is_dir() and not force and any(out_dir.iterdir()) and _manifest(out_dir) is None:
        raise ReportError(f"cannot write the report to {out_dir}: the folder holds other files; choose a new or "
                          "empty folder (or add --force to write the report's files there, leaving the others)")


def write_report(
    spec: str | Path, profiles: Sequence[HardwareProfile], out_dir: Path, *, batch: int | None = None,
    dtype: str | None = None, fusion: str = DEFAULT_FUSION, batches: Sequence[int] = SWEEP_BATCHES,
    command: str = "", progress: Progress = _quiet, overrides: Mapping[str, Any] | None = None,
    force: bool = False,
) -> list[Path]:
    """Write ``out_dir/index.md``, ``index.html`` and the plots (PNG, SVG); returns the files, sorted.

    ``progress(steps, description, total)`` wraps the step iterator (e.g. ``cli.progress.track``). Raises
    :class:`ReportError` for an unusable folder (see :func:`check_folder`), ``ValueError`` without profiles; spec
    and hardware errors pass through. Files are rendered into a hidden temporary folder inside ``out_dir`` and
    each moved into place only when all are complete; a failure leaves the folder as it was (and removes the
    folders it created). Only the report's own files are written, and only files a previous report listed in
    its manifest are removed.
    """
    if not profiles:
        raise ValueError("a report needs at least one hardware profile")
    if fusion not in FUSION_MODES:
        raise ValueError(f"unknown fusion mode {fusion!r}")
    check_folder(out_dir, force)
    box: dict[str, ReportData] = {}
    written: list[Path] = []
    steps = _steps(spec, profiles, out_dir, batch, dtype, fusion, batches, command, box, overrides, written)
    for _ in progress(steps, f"report {out_dir.name}", step_count(len(profiles))):
        pass
    return sorted(written)


def _steps(spec: str | Path, profiles: Sequence[HardwareProfile], out_dir: Path, batch: int | None,
           dtype: str | None, fusion: str, batches: Sequence[int], command: str,
           box: dict[str, ReportData], overrides: Mapping[str, Any] | None, written: list[Path]) -> Iterator[str]:
    yield from _compute(spec, profiles, batch, dtype, fusion, batches, command, box, overrides)
    data = box["data"]
    from ..plots import save_figure

    created = missing_folders(out_dir)
    tmp: Path | None = None
    try:
        out_dir.mkdir(parents=True, exist_ok=True, mode=folder_mode())
        tmp = Path(tempfile.mkdtemp(dir=out_dir, prefix=".costmodel-tmp-"))
        figs = report_figures(data)
        for fig in figs:
            save_figure(fig.build(), tmp / fig.stem)
            yield fig.stem
        if data.graph is not None:
            from ..plots import plot_title
            from ..plots.interactive import interactive_html

            a = data.analysis
            for p in data.profiles:
                title = plot_title(a.model, p.name, a.dtype, a.batch)
                page_text = interactive_html(data.graph, data.results[p.key], title)
                (tmp / interactive_name(p.key)).write_text(page_text, encoding="utf-8")
        page = blocks(data, figs)
        title = f"{data.analysis.model}: cost and latency report"
        (tmp / "index.md").write_text(page_markdown(page), encoding="utf-8")
        (tmp / "index.html").write_text(page_html(page, tmp, title), encoding="utf-8")
        written.extend(_move_into_place(tmp, out_dir))
        yield "pages"
    except PlotError as exc:
        _undo(created)
        raise ReportError(str(exc).replace(str(tmp), str(out_dir))) from None
    except OSError as exc:
        _undo(created)
        raise ReportError(f"cannot write the report to {out_dir}: {exc.strerror or exc}") from None
    except BaseException:
        _undo(created)
        raise
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _undo(created: list[Path]) -> None:
    """Remove the folders this run created (innermost first), with whatever it left in them."""
    if created:
        shutil.rmtree(created[-1], ignore_errors=True)


def _move_into_place(tmp: Path, out_dir: Path) -> list[Path]:
    """Move every file of ``tmp`` into ``out_dir`` (atomic renames, with shareable permissions, all or nothing), remove
    the files a previous report listed that this one does not write, and record the manifest."""
    previous = _manifest(out_dir) or set()
    names = sorted(p.name for p in tmp.iterdir() if p.is_file())
    for name in names:
        os.chmod(tmp / name, file_mode())
    replace_all([(tmp / name, out_dir / name) for name in names])  # all or nothing: no new PNG beside an old page
    for stale in sorted(previous - set(names)):
        if "/" not in stale and stale.endswith(REPORT_SUFFIXES) and (out_dir / stale).is_file():
            (out_dir / stale).unlink(missing_ok=True)
    fd, manifest_tmp = temp_beside(out_dir / REPORT_MANIFEST)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("".join(f"{name}\n" for name in names))
    os.replace(manifest_tmp, out_dir / REPORT_MANIFEST)
    return [out_dir / name for name in names]


__all__ = ["SWEEP_BATCHES", "ReportData", "ReportError", "PageTable", "blocks", "check_folder", "report_figures",
           "page_html", "page_markdown", "write_report"]
