"""The command line: a thin layer over the analyzer. Errors in user input exit with code 2."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from .analysis import analyze_graph
from .api import load_graph
from .dtypes import BYTES_PER_ELEMENT
from .errors import SpecError
from .hardware import HardwareError, list_profiles, load_profile, profile_summary
from .latency import DEFAULT_FUSION, FUSION_MODES, LatencyResult, ModelLatency, estimate, profile_key, sweep
from .ops import REGISTRY
from .report import FORMATS, render
from .spec.schema import Spec

app = typer.Typer(
    name="costmodel",
    help="Analytical cost model for neural-network architectures: params, MACs, FLOPs, activations, memory.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` to stderr and return the exit to raise (code 2)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def user_errors(fn: F) -> F:
    """Turn the errors users cause into one clear line and exit code 2 (never a traceback)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (SpecError, HardwareError) as exc:
            raise fail(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def write_output(text: str, output: Path | None) -> None:
    """Print, or write ``output`` atomically (a failed run leaves no half-written file)."""
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, output)
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {output}", err=True)


def parse_inputs(values: list[str]) -> dict[str, list[int]]:
    """``['image=3,256,256'] -> {'image': [3, 256, 256]}``."""
    shapes: dict[str, list[int]] = {}
    for value in values:
        name, sep, dims = value.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            shapes[name.strip()] = [int(d) for d in dims.replace("x", ",").split(",")]
        except ValueError:
            raise fail(f"--input expects NAME=D1,D2,... (e.g. image=3,256,256), got {value!r}") from None
    return shapes


def parse_batches(text: str) -> list[int]:
    """``'1,8,64' -> [1, 8, 64]``: positive batch sizes for ``--sweep-batch``."""
    try:
        batches = [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        batches = []
    if not batches or min(batches) < 1:
        raise fail(f"--sweep-batch expects positive batch sizes separated by commas (e.g. 1,8,64,256), got {text!r}")
    return batches


@app.command()
@user_errors
def analyze(
    spec: Annotated[Path, typer.Argument(help="architecture spec (YAML), e.g. arch_specs/convnext_t.yaml")],
    batch: Annotated[int | None, typer.Option(min=1, help="batch size (default: the spec's)")] = None,
    dtype: Annotated[str | None, typer.Option(help=f"element type: {', '.join(BYTES_PER_ELEMENT)}")] = None,
    input: Annotated[list[str] | None, typer.Option(
        "--input", help="override an input's per-sample shape: NAME=3,256,256 (repeatable)")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help=f"output format: {' | '.join(FORMATS)}")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file")] = None,
    depth: Annotated[int | None, typer.Option(min=1, help="aggregate rows by path depth (2: stages.N)")] = None,
    hw: Annotated[list[str] | None, typer.Option(
        "--hw", help="hardware profile (name, alias or YAML path) for roofline latency; repeatable")] = None,
    fusion: Annotated[str, typer.Option(
        help=f"kernel fusion for latency: {' | '.join(FUSION_MODES)} (none = eager PyTorch)")] = DEFAULT_FUSION,
    sweep_batch: Annotated[str | None, typer.Option(
        "--sweep-batch", help="also print throughput at these batch sizes, e.g. 1,8,64,256 (needs --hw)")] = None,
) -> None:
    """Per-layer params, MACs, FLOPs, activations and memory of SPEC, with totals; with --hw, latency too."""
    if fmt not in FORMATS:
        raise fail(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if dtype is not None and dtype not in BYTES_PER_ELEMENT:
        raise fail(f"unknown --dtype {dtype!r}; choose one of {', '.join(BYTES_PER_ELEMENT)}")
    if fusion not in FUSION_MODES:
        raise fail(f"unknown --fusion {fusion!r}; choose one of {', '.join(FUSION_MODES)}")
    batches = parse_batches(sweep_batch) if sweep_batch is not None else []
    if batches and not hw:
        raise fail("--sweep-batch needs at least one --hw profile")
    if batches and fmt == "csv":
        raise fail("--sweep-batch needs --format table, markdown or json (the CSV holds the per-layer table only)")
    shapes = parse_inputs(input or [])
    graph = load_graph(spec, batch=batch, input_shapes=shapes)
    analysis = analyze_graph(graph, dtype)
    latency: list[LatencyResult] = []
    sweeps: dict[str, list[ModelLatency]] = {}
    for name in dict.fromkeys(hw or []):
        profile = load_profile(name)
        key = profile_key(profile, name)
        if any(result.summary.key == key for result in latency):
            continue
        latency.append(estimate(graph, profile, dtype=analysis.dtype, fusion=fusion, key=key))
        if batches:
            sweeps[key] = sweep(spec, profile, batches, dtype=analysis.dtype, fusion=fusion, key=key,
                                input_shapes=shapes)
    write_output(render(analysis, fmt, depth, latency, sweeps), output)


@app.command()
def schema() -> None:
    """Print the spec's JSON Schema (for editor validation and completion)."""
    typer.echo(json.dumps(Spec.model_json_schema(), indent=2))


@app.command()
def ops() -> None:
    """List the registered ops with their attributes."""
    for op in sorted({op.name: op for op in REGISTRY.values()}.values(), key=lambda op: op.name):
        aliases = f" (alias: {', '.join(op.aliases)})" if op.aliases else ""
        attrs = ", ".join(op.attrs.model_fields) or "-"
        typer.echo(f"{op.name:<30} {op.doc}{aliases}\n{'':<30} attributes: {attrs}")


hw_app = typer.Typer(help="Hardware profiles: what ships, and what a profile holds.", no_args_is_help=True)
app.add_typer(hw_app, name="hw")


@hw_app.command("list")
@user_errors
def hw_list() -> None:
    """List the hardware profiles (shipped and in COSTMODEL_HW_PATH)."""
    for profile in list_profiles():
        aliases = f"  (aliases: {', '.join(profile.aliases)})" if profile.aliases else ""
        typer.echo(f"{profile.name:<36} {profile.kind.value if hasattr(profile.kind, 'value') else profile.kind:<4}"
                   f"{aliases}")


@hw_app.command("show")
@user_errors
def hw_show(name: Annotated[str, typer.Argument(help="profile name, alias or YAML path")]) -> None:
    """Show one profile's figures, ridge points and sources."""
    profile = load_profile(name)
    rows = profile_summary(profile)
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        typer.echo(f"{key:<{width}}  {value}")


def main() -> None:
    """Entry point: run the app; usage errors exit with code 2 as click does."""
    app()


if __name__ == "__main__":
    main()
