"""`compare` (models side by side, Pareto plot) and `report` (a Markdown + HTML page with tables and plots)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import UserError
from ..latency import DEFAULT_FUSION
from ..report.compare import (
    FORMATS,
    Comparison,
    compare_model,
    load_profiles,
    pareto_points,
    render_comparison,
    setting,
)
from ..vocab import Dtype, Format
from .common import (
    DtypeOption,
    FusionOption,
    OptionalFormatOption,
    SetOption,
    app,
    check_writable,
    choice_option,
    fail,
    output_format,
    parse_set,
    screen_width,
    user_errors,
    write_output,
)
from .progress import track

HwOption = Annotated[list[str] | None, typer.Option(
    "--hw", help="hardware profile (name, alias or YAML path); repeatable")]
BatchOption = Annotated[int | None, typer.Option(min=1, help="batch size (default: each spec's)")]




@app.command()
@user_errors
def compare(
    specs: Annotated[list[Path] | None, typer.Argument(
        help="architecture specs (YAML), e.g. arch_specs/*.yaml", show_default=False)] = None,
    hw: HwOption = None,
    batch: BatchOption = None,
    dtype: Annotated[Dtype | None, choice_option(Dtype, "--dtype", help="element type (default: each spec's)")] = None,
    fusion: FusionOption = DEFAULT_FUSION,
    fmt: OptionalFormatOption = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write the table to this file")] = None,
    pareto: Annotated[Path | None, typer.Option(
        "--pareto", help="also write the Pareto plot (latency vs top-1, or vs GMACs when a model has no top-1) "
                       "to STEM.png and STEM.svg; needs --hw", metavar="STEM")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", hidden=True, help="old name of --pareto; warns")] = None,
    set_: SetOption = None,
) -> None:
    """Models side by side: params, GMACs, activations, peak memory and, per --hw device, latency, throughput,
    efficiency and memory-bound share. Without --hw the table has no latency columns."""
    if not specs:
        raise fail("no models to compare: give one or more spec files, e.g. arch_specs/*.yaml")
    fmt = Format(output_format(fmt, output, FORMATS))
    if plot is not None:
        if pareto is not None:
            raise fail("give the Pareto plot's file once: --pareto (--plot is its old name)")
        typer.echo("warning: --plot is now --pareto (it writes the Pareto plot); --plot will go", err=True)
        pareto = plot
    if pareto is not None and pareto.suffix.lower() in (".png", ".svg"):
        pareto = pareto.with_suffix("")  # --pareto pareto.png: the stem, both files written
    plot = pareto
    if plot is not None and not hw:
        raise fail("--pareto needs at least one --hw profile (the Pareto plot puts latency on one axis)")
    if output is not None:
        check_writable(output, "the table to")
    if plot is not None:
        for suffix in (".png", ".svg"):
            check_writable(plot.with_name(plot.name + suffix), "the plot to")
    overrides = parse_set(set_)
    profiles = load_profiles(hw or [])
    rows = []
    for spec in track(specs, "analysing models"):
        try:
            rows.append(compare_model(spec, profiles, batch=batch, dtype=dtype, fusion=fusion, overrides=overrides))
        except UserError as exc:
            message = str(exc)
            raise fail(message if str(spec) in message else f"{spec}: {message}") from None
    comparison = Comparison(rows, {p.key: p.name for p in profiles}, fusion)
    written = _pareto_plot(comparison, plot) if plot is not None else []
    try:
        write_output(render_comparison(comparison, fmt, screen_width(output)), output)
    except typer.Exit:
        for path in written:  # nothing half-written: the table failed, so the plot goes too
            path.unlink(missing_ok=True)
        raise
    for path in written:
        typer.echo(f"wrote {path}", err=True)


def _pareto_plot(comparison: Comparison, stem: Path) -> list[Path]:
    from ..plots import pareto_figure, plot_title, save_figure

    points, x_label, y_label = pareto_points(comparison)
    rows = comparison.rows
    subject = rows[0].name if len(rows) == 1 else f"{len(rows)} models"
    devices = comparison.devices
    device = next(iter(devices.values())) if len(devices) == 1 else ", ".join(devices)
    batches, dtypes = {r.batch for r in rows}, {r.dtype for r in rows}
    if len(batches) == len(dtypes) == 1:
        title = plot_title(subject, device, dtypes.pop(), batches.pop(), comparison.fusion)
    else:  # specs with their own batch or dtype: say so rather than pick one
        title = (f"{subject} on {device}: {setting(r.dtype for r in rows)}, batch {setting(r.batch for r in rows)}, "
                 f"fusion {comparison.fusion}")
    return save_figure(pareto_figure(points, title, x_label, y_label), stem)  # PlotError: user_errors


@app.command()
@user_errors
def report(
    spec: Annotated[Path, typer.Argument(help="architecture spec (YAML), e.g. arch_specs/convnext_t.yaml")],
    output: Annotated[Path, typer.Option("--output", "-o", help="the report folder, e.g. reports/convnext_t/",
                                         show_default=False)],
    hw: HwOption = None,
    batch: Annotated[int | None, typer.Option(min=1, help="batch size (default: the spec's)")] = None,
    dtype: DtypeOption = None,
    fusion: FusionOption = DEFAULT_FUSION,
    force: Annotated[bool, typer.Option(
        "--force", help="write into a folder that holds other files (only the report's own files are replaced)")]
        = False,
    set_: SetOption = None,
) -> None:
    """A shareable report of SPEC on the --hw devices: index.md and a self-contained index.html with the model,
    latency, per-stage and slowest-layer tables, and roofline, waterline, stage-gap, breakdown and throughput plots
    (PNG and SVG) in the folder. The folder must be new, empty or a previous report (which is updated); other
    files in it are never touched."""
    from ..report.page import (
        check_folder,
        write_report,  # matplotlib: imported only when a report is drawn
    )

    if not hw:
        raise fail("a report needs at least one --hw profile")
    overrides = parse_set(set_)
    check_folder(output, force)  # before any work: ReportError, one line via user_errors
    profiles = load_profiles(hw)
    command = " ".join(["costmodel report", str(spec), *(f"--hw {name}" for name in dict.fromkeys(hw)),
                        *([f"--batch {batch}"] if batch else []), *([f"--dtype {dtype}"] if dtype else []),
                        *([f"--fusion {fusion}"] if fusion != DEFAULT_FUSION else []),
                        *(f"--set {value}" for value in set_ or []), f"-o {output}"])
    written = write_report(spec, profiles, output, batch=batch, dtype=dtype, fusion=fusion, command=command,
                           progress=track, force=force, overrides=overrides)  # ReportError: one line via user_errors
    typer.echo(f"wrote {output}/ ({len(written)} files)", err=True)
