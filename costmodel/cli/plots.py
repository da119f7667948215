"""`costmodel plot ...`: roofline, efficiency gap, waterline, breakdown and throughput figures (PNG + SVG).

Thin: the figures are built by costmodel.plots; this module loads specs and profiles, checks the options and
writes ``STEM.png`` and ``STEM.svg``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..fileio import safe_file_name, written_in_place
from ..graph import Graph, load_graph
from ..hardware import HardwareProfile, load_profile
from ..latency import DEFAULT_FUSION, LatencyResult, ModelLatency, batch_sweep, estimate
from ..vocab import Fusion
from .common import (
    DtypeOption,
    FusionOption,
    SetOption,
    app,
    choice_option,
    fail,
    parse_batches,
    parse_set,
    user_errors,
    write_output,
)
from .progress import track

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..plots import GapPoint

# costmodel.plots (matplotlib) is imported inside the commands that draw, so other commands start fast.

plot_app = typer.Typer(help="Figures of the latency model, written as PNG and SVG.", no_args_is_help=True)
app.add_typer(plot_app, name="plot")

# Why each figure needs a device (the end of the "needs --hw" message).
NEEDS_HW = {
    "roofline": "the roofline is a device's",
    "waterline": "the waterline is a device's ridge point",
    "gap": "the ideal latency is FLOPs / a device's peak",
    "breakdown": "latency is a device's",
    "throughput": "throughput is a device's",
}
DEFAULT_PANELS = [Fusion.NONE, Fusion.BLOCK]

Specs = Annotated[list[Path] | None, typer.Argument(help="architecture spec(s) (YAML), e.g. arch_specs/*.yaml",
                                                    show_default=False)]
Spec1 = Annotated[list[Path] | None, typer.Argument(help="architecture spec (YAML), e.g. arch_specs/convnext_t.yaml",
                                                    show_default=False)]
Hw = Annotated[list[str] | None, typer.Option("--hw", help="hardware profile: name, alias or YAML path",
                                              show_default=False)]
HwMany = Annotated[list[str] | None, typer.Option(
    "--hw", help="hardware profile: name, alias or YAML path; repeatable", show_default=False)]
Batch = Annotated[int | None, typer.Option(min=1, help="batch size (default: the spec's)")]
Panels = Annotated[list[Fusion] | None, choice_option(
    Fusion, "--fusion", help="fusion mode per panel, repeatable (default: none and block)")]
Output = Annotated[Path | None, typer.Option(
    "--output", "-o", help="output stem: writes STEM.png and STEM.svg (a folder: <model>_<kind>_<hw> in it; default: "
                           "<model>_<kind>_<hw> here)")]


def _profiles(kind: str, hw: list[str] | None, many: bool = False) -> list[HardwareProfile]:
    if not hw:
        raise fail(f"plot {kind} needs --hw: {NEEDS_HW[kind]}")
    if len(hw) > 1 and not many:
        raise fail(f"plot {kind} takes one --hw, got {len(hw)}")
    profiles: dict[str, HardwareProfile] = {}
    for name in hw:
        profile = load_profile(name)
        profiles.setdefault(profile.key, profile)
    return list(profiles.values())


def _specs(kind: str, specs: list[Path] | None, many: bool = True) -> list[Path]:
    if not specs:
        raise fail(f"plot {kind} needs at least one SPEC (e.g. arch_specs/resnet50.yaml)")
    if len(specs) > 1 and not many:
        raise fail(f"plot {kind} takes one SPEC, got {len(specs)}")
    return specs




def figure_stem(output: Path | None, default: Path) -> Path:
    """Where a command's figures go (STEM.png, STEM.svg): ``-o fig.png`` or ``fig.svg`` -> ``fig``; ``-o`` an existing
    folder -> the default name inside it (it was a stem beside the folder: ``-o figs/`` wrote ``figs.png``); any
    other ``-o`` as it is; no ``-o`` -> ``default``."""
    if output is None:
        return default
    if written_in_place(output):  # -o /dev/null: STEM.png beside it would be a new file in /dev
        raise fail(f"-o {output} is a device; -o takes the stem of the figures' file names (or a folder)")
    if output.is_dir():
        return output / default.name
    return output.with_suffix("") if output.suffix in (".png", ".svg") else output  # -o fig.png: fig.png, fig.svg


def _stem(output: Path | None, models: list[str], kind: str, keys: list[str]) -> Path:
    model = "-".join(models) if len(models) <= 3 else f"{len(models)}models"
    default = Path(safe_file_name(f"{model}_{kind}_{'-'.join(keys)}", 200))  # in the current folder, whatever the names
    return figure_stem(output, default)


def _write(fig: Figure, stem: Path) -> None:
    from ..plots import save_figure

    for path in save_figure(fig, stem):
        typer.echo(f"wrote {path}", err=True)


def _load(specs: list[Path], batch: int | None, set_: list[str] | None) -> list[Graph]:
    overrides = parse_set(set_)
    return [load_graph(spec, batch=batch, overrides=overrides) for spec in track(specs, "loading specs")]


def _modes(kind: str, spec: list[Path] | None, hw: list[str] | None, dtype: str | None, batch: int | None,
           fusion: list[Fusion] | None, set_: list[str] | None
           ) -> tuple[Graph, HardwareProfile, dict[str, LatencyResult]]:
    """What roofline and waterline share: one spec, one device, one result per fusion mode."""
    path = _specs(kind, spec, many=False)[0]
    profile = _profiles(kind, hw)[0]
    modes = list(dict.fromkeys(fusion or DEFAULT_PANELS))
    graph = load_graph(path, batch=batch, overrides=parse_set(set_))
    return graph, profile, {mode: estimate(graph, profile, dtype=dtype, fusion=mode) for mode in modes}


@plot_app.command("roofline")
@user_errors
def roofline(spec: Spec1 = None, hw: Hw = None, dtype: DtypeOption = None, batch: Batch = None, fusion: Panels = None,
             output: Output = None, set_: SetOption = None) -> None:
    """The device's roofline with every op (fusion none) or kernel (fused modes) of SPEC on it."""
    from ..plots import plot_title, roofline_figure

    graph, profile, results = _modes("roofline", spec, hw, dtype, batch, fusion, set_)
    s = next(iter(results.values())).summary
    fig = roofline_figure(results, profile, plot_title(graph.spec.name, profile.name, s.dtype, s.batch))
    _write(fig, _stem(output, [graph.spec.name], "roofline", [profile.key]))


@plot_app.command("waterline")
@user_errors
def waterline(spec: Spec1 = None, hw: Hw = None, dtype: DtypeOption = None, batch: Batch = None, fusion: Panels = None,
              output: Output = None, set_: SetOption = None) -> None:
    """SPEC's kernels along cumulative latency, their arithmetic intensity against the ridge-point waterline."""
    from ..plots import plot_title, waterline_figure

    graph, profile, results = _modes("waterline", spec, hw, dtype, batch, fusion, set_)
    s = next(iter(results.values())).summary
    fig = waterline_figure(results, plot_title(graph.spec.name, profile.name, s.dtype, s.batch))
    _write(fig, _stem(output, [graph.spec.name], "waterline", [profile.key]))


@plot_app.command("gap")
@user_errors
def gap(specs: Specs = None, hw: Hw = None, dtype: DtypeOption = None, batch: Batch = None,
        fusion: FusionOption = DEFAULT_FUSION, per_stage: Annotated[bool, typer.Option(
            "--per-stage", help="the gap per stage of one model instead of per model")] = False,
        measured: Annotated[Path | None, typer.Option(
            "--measured", help="measured throughput (timm benchmark CSV or `costmodel bench -o` output): the gap "
                               "runs to each matched model's measured latency", show_default=False)] = None,
        device: Annotated[str | None, typer.Option(
            "--device", help="the --measured file's device column value (default: the --hw profile's name)",
            show_default=False)] = None,
        output: Output = None, set_: SetOption = None) -> None:
    """Efficiency gap (Lavin 2024): ideal (FLOPs / peak) against predicted latency per image, or measured with
    --measured (the prediction then a small x), labelled with the computational efficiency E; y = published
    top-1 when every spec has one."""
    from ..plots import efficiency_gap_figure, gap_point, plot_title, stage_gap_figure

    paths = _specs("gap --per-stage" if per_stage else "gap", specs, many=not per_stage)
    overrides = parse_set(set_)
    if overrides and measured is not None:
        raise fail("--measured compares the specs as measured; it does not combine with --set")
    profile = _profiles("gap", hw)[0]
    if per_stage:
        if measured is not None:
            raise fail("--measured draws one gap per model; it does not combine with --per-stage")
        graph = load_graph(paths[0], batch=batch, overrides=overrides)
        result = estimate(graph, profile, dtype=dtype, fusion=fusion)
        s = result.summary
        fig = stage_gap_figure(result, plot_title(graph.spec.name, profile.name, s.dtype, s.batch, fusion))
        _write(fig, _stem(output, [graph.spec.name], "stage_gap", [profile.key]))
        return
    if measured is not None:
        points, summaries, note = _measured_points(paths, profile, measured, device, batch, dtype, fusion)
    else:
        points, summaries, note = [], [], ""
        for path in track(paths, "estimating", total=len(paths)):
            graph = load_graph(path, batch=batch, overrides=overrides)
            result = estimate(graph, profile, dtype=dtype, fusion=fusion)
            points.append(gap_point(graph.spec.name, result, top1=graph.spec.metadata.top1))
            summaries.append(result.summary)
    names = [p.name for p in points]
    subject = names[0] if len(names) == 1 else f"{len(names)} models"
    title = plot_title(subject, profile.name, _one("dtype", summaries), _one("batch", summaries), fusion) + note
    _write(efficiency_gap_figure(points, title), _stem(output, names, "gap", [profile.key]))


def _measured_points(paths: list[Path], profile: HardwareProfile, measured: Path, device: str | None,
                     batch: int | None, dtype: str | None,
                     fusion: str) -> tuple[list[GapPoint], list[ModelLatency], str]:
    """Points with measured latency; what was skipped or compared differently said on stderr; a title suffix
    naming the file, device and measured batch."""
    from ..calibration.measurements import read_measurements
    from ..plots.measured import measured_gap_points

    file = read_measurements(measured)
    gaps = measured_gap_points(paths, profile, file, device=device, batch=batch, dtype=dtype, fusion=fusion,
                               progress=track)
    if gaps.skipped:
        typer.echo(f"skipped {len(gaps.skipped)} model(s) in {measured} that are none of the specs: "
                   f"{', '.join(gaps.skipped)}", err=True)
    if len(gaps.unmeasured) == len(paths):
        raise fail(f"{measured}: no row matches any of the specs (by metadata.timm_name or name)")
    if gaps.unmeasured:
        typer.echo(f"no measurement for {', '.join(gaps.unmeasured)}: predicted only", err=True)
    for line in gaps.notes:
        typer.echo(line, err=True)
    where = [gaps.device] if gaps.device else []
    batches = sorted(set(gaps.measured_batches))
    where.append(f"batch {batches[0]}" if len(batches) == 1 else "mixed batches")
    return gaps.points, [r.summary for r in gaps.results], f"; measured ({', '.join(where)}): {measured.name}"


def _one(field: str, summaries: list[ModelLatency]) -> Any:
    """The value of ``field`` shared by all summaries, else 'mixed'."""
    values = list(dict.fromkeys(getattr(s, field) for s in summaries))
    return values[0] if len(values) == 1 else "mixed"


def _label(model: str, key: str, models: list[str], keys: list[str]) -> str:
    if len(keys) == 1:
        return model
    return key if len(models) == 1 else f"{model} @ {key}"


@plot_app.command("breakdown")
@user_errors
def breakdown(specs: Specs = None, hw: HwMany = None, dtype: DtypeOption = None, batch: Batch = None,
              fusion: FusionOption = DEFAULT_FUSION, output: Output = None, set_: SetOption = None) -> None:
    """Latency by op class and by stage, one stacked bar per model and device."""
    from ..plots import breakdown_figure, plot_title

    paths = _specs("breakdown", specs)
    profiles = _profiles("breakdown", hw, many=True)
    graphs = _load(paths, batch, set_)
    models, keys = [g.spec.name for g in graphs], [p.key for p in profiles]
    results: dict[str, LatencyResult] = {}
    pairs = [(g, p) for g in graphs for p in profiles]
    for graph, profile in track(pairs, "estimating"):
        label = _label(graph.spec.name, profile.key, models, keys)
        results[label] = estimate(graph, profile, dtype=dtype, fusion=fusion)
    summaries = [r.summary for r in results.values()]
    subject = models[0] if len(models) == 1 else f"{len(models)} models"
    device = ", ".join(p.name for p in profiles)
    fig = breakdown_figure(results, plot_title(subject, device, _one("dtype", summaries), _one("batch", summaries),
                                               fusion))
    _write(fig, _stem(output, models, "breakdown", keys))


@plot_app.command("throughput")
@user_errors
def throughput(specs: Specs = None, hw: HwMany = None, dtype: DtypeOption = None, fusion: FusionOption = DEFAULT_FUSION,
               batches: Annotated[str, typer.Option(
                   "--batches", help="batch sizes, e.g. 1,8,64,256")] = "1,8,64,256",
               output: Output = None, set_: SetOption = None) -> None:
    """Images/s against batch size, one line per model and device, where it saturates marked."""
    from ..plots import throughput_figure

    paths = _specs("throughput", specs)
    profiles = _profiles("throughput", hw, many=True)
    sizes = parse_batches(batches, "--batches")
    graphs = _load(paths, None, set_)
    models, keys = [g.spec.name for g in graphs], [p.key for p in profiles]
    sweeps: dict[str, list[ModelLatency]] = {}
    for graph, profile in track([(g, p) for g in graphs for p in profiles], "sweeping batch sizes"):
        label = _label(graph.spec.name, profile.key, models, keys)
        sweeps[label] = batch_sweep(graph, profile, sizes, dtype=dtype, fusion=fusion)  # errors name the spec
    subject = models[0] if len(models) == 1 else f"{len(models)} models"
    device = ", ".join(p.name for p in profiles)
    dtypes = list(dict.fromkeys(s.dtype for sw in sweeps.values() for s in sw))
    title = (f"{subject} on {device}: {dtypes[0] if len(dtypes) == 1 else 'mixed'}, "
             f"batch {', '.join(map(str, sizes))}, fusion {fusion}")
    _write(throughput_figure(sweeps, title), _stem(output, models, "throughput", keys))


@plot_app.command("interactive")
@user_errors
def interactive(spec: Spec1 = None, hw: Hw = None, dtype: DtypeOption = None, batch: Batch = None,
                fusion: Panels = None, output: Output = None, set_: SetOption = None) -> None:
    """A self-contained HTML page (no network) with SPEC's roofline and waterline per fusion mode: hovering a
    point or bar shows the kernel's op paths, shapes, latency and bound. Writes STEM.html."""
    from ..plots import plot_title
    from ..plots.interactive import interactive_html

    graph, profile, results = _modes("interactive", spec, hw, dtype, batch, fusion, set_)
    s = next(iter(results.values())).summary
    page = interactive_html(graph, results, plot_title(graph.spec.name, profile.name, s.dtype, s.batch))
    stem = _stem(output, [graph.spec.name], "interactive", [profile.key])
    write_output(page, stem.with_name(stem.name + ".html") if stem.suffix != ".html" else stem)
