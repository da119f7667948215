"""`costmodel sweep SPACE.yaml`: sample a design space, analyse every candidate, write Parquet or CSV."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import PlotError, one_line, shown
from ..sweep.choices import Engine, Sampler
from .common import app, fail, user_errors
from .plots import figure_stem, plot_app
from .progress import track


@app.command()
@user_errors
def sweep(
    space: Annotated[Path, typer.Argument(help="design-space file (YAML), e.g. arch_specs/spaces/regnet.yaml")],
    output: Annotated[Path, typer.Option("--output", "-o", help="results file: .parquet or .csv")],
    samples: Annotated[int | None, typer.Option(
        min=1, help="candidates to draw (grid: at most this many; default the whole grid)")] = None,
    seed: Annotated[int, typer.Option(min=0, help="random seed (same seed, same file)")] = 0,
    sampler: Annotated[Sampler, typer.Option(help="random | grid | sobol (scrambled, quasi-random)")] = Sampler.RANDOM,
    hw: Annotated[list[str] | None, typer.Option(
        "--hw", help="hardware profile for latency/throughput columns; repeatable")] = None,
    engine: Annotated[Engine, typer.Option(help="local (processes here) | dask (dask.distributed)")] = Engine.LOCAL,
    workers: Annotated[int | None, typer.Option(
        min=1, help="worker processes (local, or a Dask LocalCluster; default: the CPUs here)")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address tcp://HOST:PORT (default: start a LocalCluster)")] = None,
    resume: Annotated[bool, typer.Option(help="continue the partial run of the same arguments")] = False,
) -> None:
    """Draw candidates of SPACE, analyse each (params, MACs, FLOPs, activations, peak memory, DeepMAD entropy
    and effectiveness, latency and throughput per --hw) and write those meeting the constraints to --output."""
    from ..sweep import Sweep

    if scheduler is not None and engine is not Engine.DASK:
        raise fail("--scheduler needs --engine dask")
    run = Sweep(space, hw or [], output, samples=samples, seed=seed, sampler=sampler, resume=resume)
    task = run.task
    done = task.total - sum(min(task.chunk_size, task.total - c * task.chunk_size) for c in run.todo)
    if done:
        typer.echo(f"resuming: {done} of {task.total} candidates already done", err=True)
    start = time.perf_counter()
    try:
        for _ in track(run.results(engine, workers, scheduler), f"sweep {task.space.name}", task.total,
                       size=lambda result: result.drawn, unit="candidates", done=done):
            pass
    except KeyboardInterrupt:
        raise fail(f"interrupted: finished chunks are in {run.store.folder}; rerun with --resume") from None
    summary = run.finish()
    seconds = time.perf_counter() - start
    drawn_now = task.total - done
    typer.echo(f"wrote {output}: " + "\n".join(summary.lines()), err=True)
    typer.echo(f"{drawn_now} candidates in {seconds:.1f} s ({drawn_now / max(seconds, 1e-9):,.0f} candidates/s)",
               err=True)


def _numbers(frame: Any, column: str, results: Path) -> Any:
    """A column of sweep results as floats (an empty cell: NaN, left out of the figures); a cell that is not a number
    (a per-stage list, text) is one error line naming the file, the column and the row (1: the first candidate)."""
    import numpy as np
    import pandas as pd

    values = pd.to_numeric(frame[column], errors="coerce")
    bad = frame[column][values.isna() & frame[column].notna()]
    if len(bad):
        raise fail(one_line(f"{results}: column {column!r}, row {frame.index.get_loc(bad.index[0]) + 1}: expected a "
                            f"number, got {shown(bad.iloc[0], 40)}"))
    return np.asarray(values.to_numpy(float))


@plot_app.command("sweep")
@user_errors
def plot_sweep(
    results: Annotated[Path, typer.Argument(help="results of costmodel sweep (.parquet or .csv)")],
    metric: Annotated[str, typer.Option(
        help="column for the Pareto front's y axis (larger is better), e.g. entropy or throughput.a100")] = "entropy",
    color_by: Annotated[str | None, typer.Option(
        "--color-by", help="variable colouring latency vs MACs (default: the first one; lists by their sum)")] = None,
    device: Annotated[str | None, typer.Option(
        help="device of the latency-vs-MACs figure (a latency.DEVICE column; default: the first)")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="output stem: writes STEM_pareto, STEM_edf and STEM_latency_macs (.png, .svg); "
        "a folder: the results file's stem in it; default: the results file's stem")] = None,
) -> None:
    """Pareto front (METRIC vs latency per device), complexity EDFs and latency vs MACs of a sweep's results."""
    from ..plots import complexity_edf_figure, latency_macs_figure, numeric_column, save_figures, sweep_pareto_figure
    from ..sweep import read_results
    from ..sweep.output import RESULT_FORMATS

    if results.suffix.lower() not in RESULT_FORMATS:  # read_results' own words are about an output's name
        raise fail(f"{results}: not the results of costmodel sweep (a .parquet or .csv file)")
    if not results.is_file():  # pyarrow's FileNotFoundError says only the path
        raise fail(f"{results}: cannot read results: {'it is a folder' if results.is_dir() else 'no such file'}")
    frame = read_results(results)
    if frame.empty:
        raise fail(f"{results}: no candidates to plot")
    columns = [str(c) for c in frame.columns]
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        raise fail(one_line(f"{results}: column(s) {', '.join(map(repr, twice))} appear twice"))
    missing = [c for c in ("params", "macs") if c not in columns]
    if missing:
        raise fail(one_line(f"{results}: no {' or '.join(missing)} column: not the results of costmodel sweep "
                            f"(columns: {shown(', '.join(columns), 300)})"))
    devices = [c.split(".", 1)[1] for c in columns if c.startswith("latency.")]
    if metric not in columns:
        raise fail(one_line(f"--metric {metric!r} is not a column of {results} (columns: "
                            f"{shown(', '.join(columns), 300)})"))
    if not devices:
        raise fail(f"{results} has no latency columns: sweep with --hw")
    device = device or devices[0]
    if device not in devices:
        raise fail(one_line(f"--device {device!r}: {results} has latency for {', '.join(map(repr, devices))}"))
    variables = columns[1:columns.index("params")]
    color_by = color_by or (variables[0] if variables else None)
    if color_by not in variables:
        raise fail(one_line(f"--color-by {color_by!r} is not a variable of {results} (variables: "
                            f"{', '.join(map(repr, variables))})"))
    stem = figure_stem(output, results.with_suffix(""))
    name = f"{results.stem} ({len(frame)} candidates)"
    latency = {d: _numbers(frame, f"latency.{d}", results) for d in devices}
    macs = _numbers(frame, "macs", results)
    with warnings.catch_warnings():  # numpy's overflow warnings on such values are not lines of ours
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            figures = {
                "pareto": sweep_pareto_figure(latency, _numbers(frame, metric, results), metric,
                                              f"{name}: {metric} vs latency"),
                "edf": complexity_edf_figure({"macs": macs, "params": _numbers(frame, "params", results),
                                              **{f"latency.{d}": v for d, v in latency.items()}},
                                             f"{name}: complexity EDFs"),
            }
            colour, prefix = numeric_column(list(frame[color_by]))
            figures["latency_macs"] = latency_macs_figure(macs, latency[device], colour, f"{prefix}{color_by}", device,
                                                          f"{name}: latency vs MACs")
            for kind, fig in figures.items():  # every figure laid out before any is written: all three or none
                try:
                    fig.draw_without_rendering()
                except (ValueError, OverflowError) as exc:  # matplotlib cannot tick an axis of such values (1e308)
                    raise PlotError(f"cannot lay out the {kind} figure of these values ({exc})") from None
        except PlotError as exc:  # nothing to draw in a column, or values no axis can show: the file's problem
            raise fail(one_line(f"{results}: {exc}")) from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        written = save_figures({stem.with_name(f"{stem.name}_{kind}"): fig for kind, fig in figures.items()})
    for path in written:  # all three figures or none (one that cannot be written takes back the others)
        typer.echo(f"wrote {path}", err=True)
