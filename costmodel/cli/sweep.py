"""`costmodel sweep SPACE.yaml`: sample a design space, analyse every candidate, write Parquet or CSV."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ..sweep import Engine, Sampler, Sweep
from .common import app, fail, user_errors
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
