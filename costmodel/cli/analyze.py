"""`analyze`, `schema`, `ops` and `hw`: counts, latency and what the registry and the profiles hold."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..analysis import analyze_graph
from ..errors import HardwareError, one_line, shown
from ..graph import Graph, load_graph
from ..layout import Table, fit_width, terminal_width, wrap
from ..ops import REGISTRY
from ..report.tables import FORMATS, render
from ..spec.schema import Spec
from ..vocab import DEFAULT_FUSION, DEFAULT_PRECISION, DeviceKind, Format, SortKey
from .common import (
    DtypeOption,
    FusionOption,
    OptionalFormatOption,
    PrecisionOption,
    SetOption,
    TableJsonOption,
    app,
    check_writable,
    choice_option,
    emit_json,
    fail,
    output_format,
    parse_batches,
    parse_inputs,
    parse_set,
    screen_width,
    user_errors,
    write_output,
)
from .progress import track

if TYPE_CHECKING:
    from ..latency import LatencyResult, ModelLatency

# The hardware profiles and the latency model are imported by the code that uses them (--hw, `hw`), so a plain
# count does not pay for them at start-up.

DEFAULT_DEPTH = 2  # the table's default view: stages (stages.N), as torchinfo and fvcore print a few levels


def parse_depth(text: str | None, default: int | None) -> int | None:
    """``--depth``: a positive level, ``all`` (None: every layer), or not given (``default``)."""
    if text is None:
        return default
    if text.strip().lower() == "all":
        return None
    if text.strip().isdigit() and int(text) >= 1:
        return int(text)
    raise fail(f"--depth expects a positive integer or 'all', got {text!r}")


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
    spec: Annotated[Path, typer.Argument(help="architecture spec: a YAML file (arch_specs/convnext_t.yaml) or a zoo "
                                              "name (convnext_t; see `costmodel zoo list`)")],
    batch: Annotated[int | None, typer.Option(min=1, help="batch size (default: the spec's)")] = None,
    dtype: DtypeOption = None,
    input: Annotated[list[str] | None, typer.Option(
        "--input", help="override an input's per-sample shape: NAME=3,256,256 (repeatable)")] = None,
    fmt: OptionalFormatOption = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file")] = None,
    depth: Annotated[str | None, typer.Option(
        help="aggregate rows by path depth (2: stages.N), or 'all' for every layer (default: 2 in the table and "
             "Markdown, all in JSON and CSV)")] = None,
    top: Annotated[int | None, typer.Option(min=1, help="only the N largest rows (by --sort; every layer unless "
                                                        "--depth)")] = None,
    sort: Annotated[SortKey | None, choice_option(
        SortKey, "--sort", help="order rows, largest first (latency: on the first --hw; memory: bytes read + written; "
                                "default with --top: latency, else MACs)")] = None,
    hw: Annotated[list[str] | None, typer.Option(
        "--hw", help="hardware profile (name, alias or YAML path) for roofline latency; repeatable")] = None,
    fusion: FusionOption = DEFAULT_FUSION,
    sweep_batch: Annotated[str | None, typer.Option(
        "--sweep-batch", help="also print throughput at these batch sizes, e.g. 1,8,64,256 (needs --hw)")] = None,
    peak: Annotated[str | None, typer.Option(
        help="what-if: TFLOP/s for the dtype on the --hw devices' GEMM unit, or a factor on every peak (x2)")] = None,
    bandwidth: Annotated[str | None, typer.Option(
        help="what-if: memory bandwidth of the --hw devices in GB/s, or a factor (x1.5)")] = None,
    overhead: Annotated[str | None, typer.Option(
        help="what-if: launch overhead per kernel in µs, or a factor (x0.5)")] = None,
    host_overhead: Annotated[str | None, typer.Option(
        "--host-overhead", help="the host that issues the ops to a GPU: µs per op in eager PyTorch, or a factor (x3); "
                                "default the --hw profile's host_overhead_us")] = None,
    precision: PrecisionOption = DEFAULT_PRECISION,
    threads: Annotated[int | None, typer.Option(
        min=1, help="threads on a CPU profile (default: the profile's cpu.threads); an error on a GPU profile alone, "
                    "a warning beside a CPU one")] = None,
    set_: SetOption = None,
) -> None:
    """Per-layer params, MACs, FLOPs, activations and memory of SPEC, with totals; with --hw, latency too."""
    fmt = Format(output_format(fmt, output, FORMATS))
    if output is not None:
        check_writable(output, "the table to")  # before the work, not after it
    if sort is SortKey.LATENCY and not hw:
        raise fail("--sort latency needs at least one --hw profile")
    levels = parse_depth(depth, default=DEFAULT_DEPTH if fmt in (Format.TABLE, Format.MARKDOWN) and top is None
                         else None)
    batches = parse_batches(sweep_batch) if sweep_batch is not None else []
    if batches and not hw:
        raise fail("--sweep-batch needs at least one --hw profile")
    if batches and fmt == Format.CSV:
        raise fail("--sweep-batch needs --format table, markdown or json (the CSV holds the per-layer table only)")
    shapes = parse_inputs(input or [])
    graph = load_graph(spec, batch=batch, input_shapes=shapes, overrides=parse_set(set_))
    analysis = analyze_graph(graph, dtype)
    if hw:  # the dtype the latency is priced at: --dtype, else the spec's (not fp32 whatever the spec says)
        from ..latency.precision import check_precision

        try:
            check_precision(precision, analysis.dtype)
        except ValueError as exc:
            raise fail(str(exc)) from None
    latency: list[LatencyResult] = []
    sweeps: dict[str, list[ModelLatency]] = {}
    if (peak or bandwidth or overhead or host_overhead) and not hw:
        raise fail("--peak, --bandwidth, --overhead and --host-overhead change --hw profiles: give at least one --hw")
    if hw:
        from ..hardware import load_profile, threaded
        from ..hardware.whatif import what_if
        from ..latency import batch_sweep, estimate
    profiles = [load_profile(name) for name in dict.fromkeys(hw or [])]
    cpus = [p for p in profiles if p.kind == DeviceKind.CPU]
    if threads is not None and cpus and len(cpus) < len(profiles):  # with no CPU profile: threaded()'s error
        others = ", ".join(dict.fromkeys(p.key for p in profiles if p.kind != DeviceKind.CPU))
        typer.echo(f"warning: --threads {threads} sets the thread count of the CPU profiles only ({others}: as they "
                   "are)", err=True)
    for base in profiles:
        runs = threads if base.kind == DeviceKind.CPU or not cpus else None
        profile = what_if(threaded(base, runs), dtype=analysis.dtype, peak=peak,
                          bandwidth=bandwidth, overhead=overhead, host=host_overhead)
        key = profile.key
        if any(result.summary.key == key for result in latency):
            continue
        latency.append(estimate(graph, profile, dtype=analysis.dtype, fusion=fusion, key=key, precision=precision))
        if batches:  # a batch the spec cannot take: named with the spec as given (Graph.source)
            sweeps[key] = [point for size in track(batches, f"batch sweep on {key}")
                           for point in batch_sweep(graph, profile, [size], dtype=analysis.dtype, fusion=fusion,
                                                    key=key, precision=precision)]
    write_output(render(analysis, fmt, levels, latency, sweeps, top=top, sort=sort, width=screen_width(output)),
                 output)
    warning = opaque_warning(graph)
    if warning:
        typer.echo(warning, err=True)


@app.command()
def schema() -> None:
    """Print the spec's JSON Schema (for editor validation and completion)."""
    typer.echo(json.dumps(Spec.model_json_schema(), indent=2))


@app.command()
def ops(fmt: TableJsonOption = Format.TABLE) -> None:
    """List the registered ops with their attributes."""
    unique = sorted({op.name: op for op in REGISTRY.values()}.values(), key=lambda op: op.name)
    if fmt == "json":
        emit_json([{"name": op.name, "doc": op.doc, "aliases": list(op.aliases),
                    "attributes": list(op.attrs.model_fields)} for op in unique])
        return
    screen = terminal_width()  # a line longer than the terminal wraps under the descriptions
    for op in unique:
        aliases = f" (alias: {', '.join(op.aliases)})" if op.aliases else ""
        attrs = ", ".join(op.attrs.model_fields) or "-"
        doc = wrap([f"{op.name:<30} {op.doc}{aliases}"], screen, " " * 31)
        typer.echo("\n".join([*doc, *wrap([f"{'':<30} attributes: {attrs}"], screen)]))


hw_app = typer.Typer(help="Hardware profiles: what ships, and what a profile holds.", no_args_is_help=True)
app.add_typer(hw_app, name="hw")


@hw_app.command("list")
@user_errors
def hw_list(fmt: TableJsonOption = Format.TABLE) -> None:
    """List the hardware profiles (shipped and in COSTMODEL_HW_PATH): the key to pass to --hw, the kind, the
    device's name and its aliases."""
    from ..hardware import list_profiles

    broken: list[HardwareError] = []
    profiles = list_profiles(broken)
    for error in broken:  # a file on COSTMODEL_HW_PATH that does not load was left out without a word
        typer.echo(f"warning: left out: {error}", err=True)
    if fmt == "json":
        emit_json([{"key": p.key, "name": p.name, "aliases": p.aliases, "kind": p.kind} for p in profiles])
        return
    rows = [[p.key, str(p.kind), p.name, ", ".join(p.aliases)] for p in profiles]
    table = Table(["key", "kind", "name", "aliases"], rows, ["<"] * 4)
    fit_width(table, terminal_width(), (), shrink=3, cut="end")
    typer.echo("\n".join(table.lines()))


@hw_app.command("show")
@user_errors
def hw_show(name: Annotated[str, typer.Argument(help="profile key, name, alias or YAML path")],
            fmt: TableJsonOption = Format.TABLE) -> None:
    """Show one profile's figures, ridge points and the source of each figure."""
    from ..hardware import load_profile, profile_summary

    profile = load_profile(name)
    if fmt == "json":
        emit_json({"key": profile.key, **profile.model_dump()})
        return
    rows = [("key", profile.key), *profile_summary(profile)]
    width = max(len(key) for key, _ in rows)
    screen = terminal_width()  # a value or source longer than the terminal wraps under its own start
    for key, value in rows:
        typer.echo("\n".join(wrap([f"{key:<{width}}  {value}"], screen, " " * (width + 2))))
    typer.echo("sources:")
    for field, source in profile.sources.items():
        typer.echo("\n".join(wrap([f"  {field}: {source}"], screen, "  ")))


PROFILE_KEY_CHARS = 64
PROFILE_KEY = rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{PROFILE_KEY_CHARS - 1}}}"  # what `hw new` takes: a file stem, plain YAML


@hw_app.command("new")
@user_errors
def hw_new(
    name: Annotated[str, typer.Argument(help="the new profile's key (its file is NAME.yaml)")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="where to write (default: ./NAME.yaml)")] = None,
) -> None:
    """Write a commented template of a new hardware profile to fill in (every figure marked TODO)."""
    from ..hardware.whatif import profile_template

    if not re.fullmatch(PROFILE_KEY, name):  # it is written into the YAML and its comments as it is
        raise fail(one_line(f"hw new {shown(name, 60)}: a profile key is letters, digits, '_', '-' and '.', starting "
                            f"with a letter or digit, at most {PROFILE_KEY_CHARS} characters"))
    path = output or Path(f"{name}.yaml")
    if path.exists():
        raise fail(f"{path} exists; choose another name or -o FILE (nothing was written)")
    write_output(profile_template(name), path)
