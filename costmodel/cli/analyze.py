"""`analyze`, `schema`, `ops` and `hw`: counts, latency and what the registry and the profiles hold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..analysis import analyze_graph
from ..graph import Graph, load_graph
from ..hardware import list_profiles, load_profile, profile_summary, threaded
from ..latency import DEFAULT_FUSION, DEFAULT_PRECISION, LatencyResult, ModelLatency, batch_sweep, estimate
from ..latency.precision import check_precision
from ..ops import REGISTRY
from ..report import render
from ..spec.schema import Spec
from ..vocab import Format
from .common import (
    DtypeOption,
    FormatOption,
    FusionOption,
    PrecisionOption,
    app,
    fail,
    parse_batches,
    parse_inputs,
    user_errors,
    write_output,
)
from .progress import track


def opaque_warning(graph: Graph) -> str | None:
    """One warning line when the graph holds ``opaque`` nodes (unsupported ops imported with --allow-opaque)."""
    from collections import Counter

    opaque = Counter(str(getattr(layer.attrs, "source", "?")) for layer in graph.layers if layer.op == "opaque")
    if not opaque:
        return None
    n = sum(opaque.values())
    return (f"warning: {n} opaque node(s) ({100 * n / len(graph.layers):.1f}% of {len(graph.layers)} layers) count "
            "0 MACs and 0 FLOPs: " + ", ".join(f"{op} x{c}" for op, c in opaque.most_common())
            + " (imported with --allow-opaque)")


@app.command()
@user_errors
def analyze(
    spec: Annotated[Path, typer.Argument(help="architecture spec (YAML), e.g. arch_specs/convnext_t.yaml")],
    batch: Annotated[int | None, typer.Option(min=1, help="batch size (default: the spec's)")] = None,
    dtype: DtypeOption = None,
    input: Annotated[list[str] | None, typer.Option(
        "--input", help="override an input's per-sample shape: NAME=3,256,256 (repeatable)")] = None,
    fmt: FormatOption = Format.TABLE,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file")] = None,
    depth: Annotated[int | None, typer.Option(min=1, help="aggregate rows by path depth (2: stages.N)")] = None,
    hw: Annotated[list[str] | None, typer.Option(
        "--hw", help="hardware profile (name, alias or YAML path) for roofline latency; repeatable")] = None,
    fusion: FusionOption = DEFAULT_FUSION,
    sweep_batch: Annotated[str | None, typer.Option(
        "--sweep-batch", help="also print throughput at these batch sizes, e.g. 1,8,64,256 (needs --hw)")] = None,
    precision: PrecisionOption = DEFAULT_PRECISION,
    threads: Annotated[int | None, typer.Option(
        min=1, help="threads on a CPU profile (default: the profile's cpu.threads)")] = None,
) -> None:
    """Per-layer params, MACs, FLOPs, activations and memory of SPEC, with totals; with --hw, latency too."""
    if hw:
        try:
            check_precision(precision, dtype or "fp32")
        except ValueError as exc:
            raise fail(str(exc)) from None
    batches = parse_batches(sweep_batch) if sweep_batch is not None else []
    if batches and not hw:
        raise fail("--sweep-batch needs at least one --hw profile")
    if batches and fmt == Format.CSV:
        raise fail("--sweep-batch needs --format table, markdown or json (the CSV holds the per-layer table only)")
    shapes = parse_inputs(input or [])
    graph = load_graph(spec, batch=batch, input_shapes=shapes)
    analysis = analyze_graph(graph, dtype)
    latency: list[LatencyResult] = []
    sweeps: dict[str, list[ModelLatency]] = {}
    for name in dict.fromkeys(hw or []):
        profile = threaded(load_profile(name), threads)
        key = profile.key
        if any(result.summary.key == key for result in latency):
            continue
        latency.append(estimate(graph, profile, dtype=analysis.dtype, fusion=fusion, key=key, precision=precision))
        if batches:
            sweeps[key] = [point for size in track(batches, f"batch sweep on {key}")
                           for point in batch_sweep(graph, profile, [size], dtype=analysis.dtype, fusion=fusion,
                                                    key=key, precision=precision)]
    write_output(render(analysis, fmt, depth, latency, sweeps), output)
    warning = opaque_warning(graph)
    if warning:
        typer.echo(warning, err=True)


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
        typer.echo(f"{profile.name:<36} {profile.kind:<4}{aliases}")


@hw_app.command("show")
@user_errors
def hw_show(name: Annotated[str, typer.Argument(help="profile name, alias or YAML path")]) -> None:
    """Show one profile's figures, ridge points and sources."""
    profile = load_profile(name)
    rows = profile_summary(profile)
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        typer.echo(f"{key:<{width}}  {value}")


