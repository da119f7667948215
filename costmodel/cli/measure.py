"""`bench`, `calibrate` and `validate`: measured latency, fitted efficiency factors and prediction fidelity."""

from __future__ import annotations

import math
import os
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..bridges.bench import TORCH_DTYPES
from ..calibration.defaults import CPU_PRIOR_WEIGHT, DEFAULT_PRIOR_WEIGHT
from ..errors import HardwareError, MeasurementError
from ..graph import load_graph
from ..hardware import load_profile, threaded
from ..latency import DEFAULT_FUSION, DEFAULT_PRECISION, check_dtype, estimate
from ..layout import terminal_width, wrap
from ..spec import load_spec
from ..vocab import DEFAULT_CARRY, BenchDevice, Carry, DeviceKind, Dtype, Format, Malloc, Pass
from .common import (
    FusionOption,
    PrecisionOption,
    SetOption,
    TableJsonOption,
    app,
    check_writable,
    choice_option,
    emit_json,
    fail,
    parse_inputs,
    parse_set,
    user_errors,
    write_output,
)

if TYPE_CHECKING:
    from ..bridges.bench import BenchResult
    from ..calibration.measurements import Matched, Measurement, MeasurementFile
    from ..hardware import HardwareProfile

# The calibration modules (numpy, scipy) and the bench runner are imported inside the commands that use them.

MeasurementsArg = Annotated[Path, typer.Argument(
    help="measurement CSV: timm benchmark table shape or `costmodel bench -o` output")]
DeviceOpt = Annotated[str | None, typer.Option(
    "--device", help="use the rows of this device (the file's device column); needed when it holds several")]
DtypeOpt = Annotated[Dtype | None, choice_option(
    Dtype, "--dtype", help="element type of the measurements (default: the file's dtype column, else the spec's); "
                           "fp16 for timm's AMP tables")]
SpecsOpt = Annotated[list[Path] | None, typer.Option(
    "--specs", help="folder of specs to match model names in (repeatable; the shipped zoo is always searched)")]




UNSTABLE_IQR = 0.10  # bench warns when the spread (IQR) of the timed passes exceeds this share of the median
# bench warns when the second half of a model's passes is this much slower or faster than the first (median vs
# median), or the machine's speed moved this much between interleaved rounds: the machine drifted during the run
DRIFT = 0.05
# bench warns when a pass on a heap not held steady takes this many minor page faults or more (at ~1 us each on this
# project's VMs, cpu.page_fault_us: 0.1 ms, about 1 % of a small model's pass at batch 1)
FAULTS_PER_PASS = 100


def bench_warnings(result: BenchResult, profile: HardwareProfile | None) -> list[str]:
    """What makes a bench figure untrustworthy: a wide spread of the timings, or a thread count that is not the
    one the CPU profile it is compared with assumes."""
    warnings = []
    t = result.timing
    if len(t.samples) >= 2 and t.median > 0 and t.iqr / t.median > UNSTABLE_IQR:
        warnings.append(f"{result.model}: unstable timings, IQR {t.iqr / t.median:.0%} of the median over "
                        f"{len(t.samples)} runs (other load on the machine?); raise --repeat, pin --threads, "
                        "and prefer the minimum or a quieter machine")
    if abs(t.drift) > DRIFT:
        warnings.append(f"{result.model}: the second half of the passes ran {t.drift:+.0%} against the first "
                        "(median vs median): the machine's speed drifted during the run (or --warmup is too "
                        "short); interleave the models with --rounds so a drift hits them all alike")
    if result.malloc == Malloc.SYSTEM and t.faults is not None and t.faults >= FAULTS_PER_PASS:
        warnings.append(f"{result.model}: {t.faults:,.0f} page faults per pass: the C library gave memory back "
                        "between passes and each pass touched it afresh, a cost that depends on what the process "
                        "ran before; the latency model assumes a heap held steady (bench's --malloc steady, on "
                        "glibc)")
    cpu = getattr(profile, "cpu", None) if profile is not None else None
    expected = getattr(cpu, "threads", None) or getattr(cpu, "cores", None)
    if profile is not None and str(profile.kind) == "cpu" and expected and result.threads != expected:
        warnings.append(f"{result.model}: ran with {result.threads} thread(s) but {profile.key} assumes {expected}; "
                        f"pass --threads {expected} or a profile for {result.threads} thread(s)")
    return warnings


def drift_lines(results: list[BenchResult]) -> tuple[list[str], list[str]]:
    """With interleaved rounds: a line giving the machine's speed per round (common to all models), and a warning
    when it moved by more than :data:`DRIFT` over the run."""
    from ..bridges.bench import round_speeds

    speeds = round_speeds([r.timing for r in results])
    if len(speeds) < 2:
        return [], []
    line = ("time per round relative to each model's median over the rounds (median over the models): "
            + " ".join(f"{s:.3f}" for s in speeds))
    spread = max(speeds) / min(speeds) - 1
    warnings = []
    if spread > DRIFT:
        warnings.append(f"the machine's speed moved {spread:.0%} between rounds; interleaving spread it over all "
                        "models alike, but the level of this file is that of the run's hour: compare files only "
                        "after one common scale, and prefer the fastest pass")
    return [line], warnings


def in_sample_warnings(profile: HardwareProfile, file: MeasurementFile, device: str | None = None) -> list[str]:
    """A profile calibrated on these very measurements scores in-sample: say so; not for a transfer (``--apply-to``)
    scored on rows of other devices than those it was fitted on (``device``: the rows scored; None: all the file's)."""
    cal = profile.calibration
    scored = {device} if device else set(file.devices)
    transfer_elsewhere = (cal is not None and cal.applied_to is not None and bool(scored)
                          and not scored & set(cal.devices))
    if cal is not None and cal.sha256 == file.sha256 and not transfer_elsewhere:
        return [f"{profile.key} was calibrated on these measurements ({cal.measurements}): the figures are "
                "in-sample and flatter it; validate on measurements it was not fitted on (other models or "
                "devices), or see calibrate's leave-one-out figure"]
    return []


def device_warnings(profile: HardwareProfile, matched: list[Matched]) -> list[str]:
    """Rows whose ``device`` column names none of ``profile``'s identifiers (key, name, aliases, file stem, and for a
    profile calibrated on its own device, the device values it was fitted on): scored or fitted on another device's
    speed, they say nothing true about this one; say so (a warning: a label of one's own, `bench --label mybox`,
    names no profile)."""
    cal = profile.calibration
    names = [profile.key, profile.name, *profile.aliases, *([Path(profile.source).stem] if profile.source else []),
             *(cal.devices if cal is not None and cal.applied_to is None else [])]
    known = {_letters(n) for n in names} - {""}
    devices = sorted({m.measurement.device for m in matched if m.measurement.device})
    other = [d for d in devices if not any(k in _letters(d) or (len(_letters(d)) >= 3 and _letters(d) in k)
                                           for k in known)]
    if not other:
        return []
    return [f"the rows' device column says {', '.join(map(repr, other))}, which names none of {profile.key}'s key, "
            f"name and aliases: check that --hw {profile.key} is the device they were measured on"]


def _letters(text: str) -> str:
    """``text`` lowercased, letters and digits only: 'RTX 4090' and 'rtx-4090' are both 'rtx4090'."""
    return "".join(c for c in text.lower() if c.isascii() and c.isalnum())


def threads_warnings(profile: HardwareProfile, matched: list[Matched]) -> list[str]:
    """Rows whose ``threads`` column (costmodel bench records it) is not the thread count ``profile`` is priced at:
    a 1-thread file scored or fitted at a 2-thread profile's speed-up says nothing true; say so."""
    cpu = profile.cpu
    ran = sorted({m.measurement.threads for m in matched if m.measurement.threads})
    if cpu is None or not ran or ran == [cpu.threads]:
        return []
    return [f"the rows ran with {', '.join(map(str, ran))} thread(s) (their threads column) but {profile.key} is "
            f"priced at {cpu.threads}: pass --threads {ran[0]}" + (" and keep one thread count per file"
                                                                  if len(ran) > 1 else "")]


def faults_warnings(matched: list[Matched]) -> list[str]:
    """Rows timed with the heap left to the system (their runtime column lacks ``malloc-steady``) that took
    :data:`FAULTS_PER_PASS` minor page faults per pass or more: a cost of what the measuring process ran before,
    which the latency model does not price below 32 MiB (docs/calibration.md, "The heap between passes")."""
    rows = [m.measurement for m in matched if m.measurement.heap_steady is False
            and (m.measurement.page_faults or 0.0) >= FAULTS_PER_PASS]
    if not rows:
        return []
    worst = max(rows, key=lambda r: r.page_faults or 0.0)
    return [f"{len(rows)} row(s) took {FAULTS_PER_PASS} page faults per pass or more with the heap left to the system "
            f"(their runtime column lacks malloc-steady; {worst.model}: {worst.page_faults:,.0f}): a cost of what the "
            "measuring process ran before, not priced; measure again with costmodel bench (--malloc steady, the "
            "default)"]


def _matched(measurements: Path, device: str | None, specs: list[Path] | None,
             which: Pass = Pass.MEDIAN) -> tuple[MeasurementFile, list[Matched]]:
    """Read (each row's ``which`` pass), select the device's rows (each measured once), match them to specs; list
    skipped models on stderr; none matched -> exit 2."""
    from ..calibration.measurements import check_distinct, match, read_measurements, select_device, spec_index

    file = read_measurements(measurements, which)
    rows = select_device(file, device)
    check_distinct(rows, file.path)
    matched, skipped = match(rows, spec_index(specs or []))
    if skipped:
        typer.echo(f"skipped {len(skipped)} model(s) with no matching spec: {', '.join(skipped)}", err=True)
    if not matched:
        raise fail(f"{measurements}: no row matches a spec (by metadata.timm_name or name); pass --specs DIR")
    return file, matched


def _check_dtypes(profile: HardwareProfile, dtype: str | None, matched: list[Matched],
                  precision: str = DEFAULT_PRECISION) -> str:
    """Check the profile runs every dtype used, and ``precision`` goes with each (amp: a half type); the dtype(s)
    as text for the record."""
    from ..latency.precision import check_precision

    first: dict[str, Measurement | None] = {}  # dtype -> the first row whose dtype column gives it (None: not one)
    for m in matched:
        row = m.measurement if dtype is None and m.measurement.dtype else None
        first.setdefault(dtype or m.measurement.dtype or load_spec(m.spec).dtype, row)
    used = sorted(first)
    for name in used:
        row = first[name]
        try:
            check_dtype(profile, name)
        except HardwareError as exc:  # the file's dtype column asked for it: the file's line, not the profile's fault
            if row is None:
                raise
            raise MeasurementError(f"line {row.line}: {row.label}: column dtype {name}: {exc.message}",
                                   file=row.file) from None
        try:
            check_precision(precision, name)
        except ValueError as exc:
            raise fail(str(exc)) from None
    return ",".join(used)


CarryOption = Annotated[Carry | None, choice_option(
    Carry, "--carry", help=f"with --apply-to, what the fit carries onto the target: level (each roof's fitted level "
                           f"on the target's own factors, and on a GPU the depthwise convs' factor at the target's "
                           f"CUDA-core rate), shape (on a GPU that factor alone; per class, how the fitted factors "
                           f"stand against each other on each roof, at the target's level) or all (every fitted "
                           f"value); default {DEFAULT_CARRY}; docs/calibration.md, 'Transfer'")]
PassOption = Annotated[Pass, choice_option(
    Pass, "--pass", help="which pass each row's latency is: median (infer_samples_per_sec, any table) or fastest "
                         "(infer_step_time_min, costmodel bench's files: the one to fit on a noisy machine, "
                         "docs/calibration.md)")]
ThreadsOption = Annotated[int | None, typer.Option(
    min=1, help="threads the measurements ran with, on a CPU profile (default: the profile's cpu.threads)")]


@app.command()
@user_errors
def calibrate(
    measurements: MeasurementsArg,
    hw: Annotated[str, typer.Option("--hw", help="base profile: its peaks, bandwidth and starting factors")],
    output: Annotated[Path, typer.Option("--output", "-o", help="write the fitted profile (YAML) here")],
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    fusion: FusionOption = DEFAULT_FUSION,
    specs: SpecsOpt = None,
    apply_to: Annotated[str | None, typer.Option(
        "--apply-to", help="write this profile (its peaks and bandwidth) with the factors fitted on --hw")] = None,
    prior_weight: Annotated[float | None, typer.Option(
        min=0, help=f"pull of each factor toward the base profile's (0: none; default {DEFAULT_PRIOR_WEIGHT}, "
                    f"{CPU_PRIOR_WEIGHT} on a CPU profile)")] = None,
    fmt: TableJsonOption = Format.TABLE,
    precision: PrecisionOption = DEFAULT_PRECISION,
    threads: ThreadsOption = None,
    carry: CarryOption = None,
    which: PassOption = Pass.MEDIAN,
) -> None:
    """Fit the efficiency factors and launch overhead of --hw to measured latencies; write the fitted profile."""
    from ..calibration.fit import (
        DOCS,
        bases_of,
        calibrated,
        carried,
        fitted_profile,
        identifiability_warnings,
        is_cpu,
        profile_yaml,
        transfer_warnings,
    )

    if prior_weight is not None and not math.isfinite(prior_weight):  # inf passes typer's min=0
        raise fail(f"--prior-weight must be a finite number >= 0, got {prior_weight}")
    if carry is not None and apply_to is None:
        raise fail(f"--carry {carry} says what a transfer takes onto --apply-to's profile; give --apply-to too "
                   "(without it the fitted profile is --hw's own, with every fitted value)")
    carry = carry or DEFAULT_CARRY
    check_writable(output, "the fitted profile to")  # before the fit, not after it
    base = threaded(load_profile(hw), threads)
    onto = threaded(load_profile(apply_to), threads) if apply_to else None
    if onto is not None and is_cpu(base) != is_cpu(onto):
        raise HardwareError(f"--apply-to {apply_to}: {base.key} is fitted with "
                            f"{'CPU scales' if is_cpu(base) else 'efficiency factors'}, which apply only to a profile "
                            f"{'with' if is_cpu(base) else 'without'} a cpu section (docs/calibration.md, 'The fit')")
    file, matched = _matched(measurements, device, specs, which)
    dtypes = _check_dtypes(base, dtype, matched, precision)
    if onto is not None:
        _check_dtypes(onto, dtype, matched, precision)
    bases = bases_of(matched, base, dtype, fusion, precision)
    measured = [m.measurement.latency_s for m in matched]
    result, held_out, choice = calibrated(bases, measured, base, prior_weight=prior_weight)
    devices = file.devices if device is None else [device]
    moved = carried(result, base, onto, carry, dtypes) if onto is not None else None
    profile = fitted_profile(base, result, measurements=file.path.name, sha256=file.sha256, devices=devices,
                             dtype=dtypes, fusion=fusion, onto=onto, carry=carry, values=moved)
    lines = [f"fitted {base.key} on {len(matched)} rows of {file.path.name} ({dtypes}, fusion {fusion}): "
             f"residual RMS of log(predicted/measured) {result.residual_rms:.3f}",
             f"{'parameter':<16} {'base':>7} {'fitted':>7} {'bounds':>13} {'share':>6}  note"]
    width = terminal_width()  # a parameter's note wraps under the note column
    for name, p in result.parameters.items():
        bounds = f"[{p.lower:g}, {p.upper:g}]"
        note = (f"at {p.at_bound} bound" if p.at_bound else "") if name in result.fitted else "not fitted (share < 1%)"
        row = f"{name:<16} {p.base:>7.3f} {p.value:>7.3f} {bounds:>13} {p.latency_share:>6.1%}  "
        lines += wrap([row + (note or DOCS[name])], width, " " * len(row))
    if onto is not None and moved is not None:  # both or neither
        lines += wrap([f"applied to {onto.key} (--carry {carry}): its peaks, bandwidth and caches with "
                       + ", ".join(f"{n} {v:.3f}" for n, v in moved.items())], width)
    in_sample = statistics.median(abs(p / m - 1) for p, m in zip(result.predicted_s, measured, strict=True))
    loo = None
    if held_out is not None:
        loo = statistics.median(abs(p / m - 1) for p, m in zip(held_out, measured, strict=True))
        lines.append(f"median |error|: in-sample {in_sample:.1%}, leave-one-out {loo:.1%} (what to expect on "
                     "models it was not fitted on)")
        if choice is not None:
            lines.append("design: " + "; ".join(
                f"{' + '.join(design)}{' (chosen)' if design == choice.design else ''}: leave-one-out {error:.1%}"
                for design, error in choice.errors.items()) + " (the smaller wins; docs/calibration.md)")
    else:
        lines.append(f"median |error| in-sample {in_sample:.1%} (leave-one-out needs 3 rows or more)")
    warnings = [*device_warnings(base, matched), *threads_warnings(base, matched), *faults_warnings(matched),
                *identifiability_warnings(result),
                *(transfer_warnings(base, onto, carry) if onto is not None else [])]
    if fmt == "json":
        for warning in warnings:
            typer.echo(f"warning: {warning}", err=True)
        emit_json({"base_profile": base.key, "measurements": str(file.path), "rows": len(matched), "dtype": dtypes,
                   "fusion": fusion, "median_error": {"in_sample": in_sample, "leave_one_out": loo},
                   "design": None if choice is None else {
                       "chosen": list(choice.design),
                       "leave_one_out": {" + ".join(d): e for d, e in choice.errors.items()}},
                   "warnings": warnings, "fit": result, "profile": profile, "output": output})
    else:
        typer.echo("\n".join([*wrap(lines, width),  # a line that fits (a parameter's, wrapped already) as it is
                              *wrap([f"warning: {w}" for w in warnings], width)]))
    write_output(profile_yaml(profile), output)


@app.command()
@user_errors
def validate(
    measurements: MeasurementsArg,
    hw: Annotated[str, typer.Option("--hw", help="profile to predict with (name, alias or YAML path)")],
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    fusion: FusionOption = DEFAULT_FUSION,
    specs: SpecsOpt = None,
    plot: Annotated[Path | None, typer.Option(
        help="write a predicted-vs-measured throughput scatter plot to PLOT.png and PLOT.svg")] = None,
    fmt: TableJsonOption = Format.TABLE,
    precision: PrecisionOption = DEFAULT_PRECISION,
    threads: ThreadsOption = None,
    which: PassOption = Pass.MEDIAN,
) -> None:
    """Score predicted against measured latency: rank correlations, latency ratios, a FLOPs-only baseline."""
    from ..calibration.fidelity import fidelity, fidelity_summary, points, table_lines

    profile = threaded(load_profile(hw), threads)
    file, matched = _matched(measurements, device, specs, which)
    dtypes = _check_dtypes(profile, dtype, matched, precision)
    rows = points(matched, profile, dtype, fusion, precision)
    scores = fidelity(rows)
    where = f"{device} rows of " if device else ""
    in_sample = in_sample_warnings(profile, file, device)
    for warning in [*in_sample, *device_warnings(profile, matched), *threads_warnings(profile, matched),
                    *faults_warnings(matched)]:
        typer.echo(f"warning: {warning}", err=True)
    if fmt == "json":
        emit_json({"profile": profile.key, "measurements": str(file.path), "device": device, "dtype": dtypes,
                   "fusion": fusion, "in_sample": bool(in_sample), "scores": scores, "rows": rows})
    else:
        header = f"{profile.key} ({profile.name}) vs {where}{file.path.name}: {dtypes}, fusion {fusion}"
        width = terminal_width()
        typer.echo("\n".join([*wrap([header], width), *wrap(fidelity_summary(scores), width), "",
                              *table_lines(rows, scores.flops_scale, width)]))
    if plot is not None:
        from ..plots import save_figure, scatter_figure

        title = f"{profile.name} vs {where}{file.path.name}: {dtypes}, fusion {fusion}"
        for path in save_figure(scatter_figure(rows, title), plot):  # a PlotError exits 2 (user_errors)
            typer.echo(f"wrote {path}", err=True)


@app.command()
@user_errors
def bench(
    specs: Annotated[list[Path], typer.Argument(help="architecture spec(s) (YAML)")],
    device: Annotated[BenchDevice, choice_option(BenchDevice, "--device", help="where to run")] = BenchDevice.CPU,
    batch: Annotated[int | None, typer.Option(min=1, help="batch size (default: the spec's)")] = None,
    dtype: Annotated[Dtype, choice_option(
        Dtype, "--dtype", help=f"element type (bench runs {', '.join(TORCH_DTYPES)})")] = Dtype.FP32,
    warmup: Annotated[int, typer.Option(min=0, help="untimed passes first")] = 3,
    repeat: Annotated[int, typer.Option(min=1, help="timed passes (median and spread over these), at least")] = 10,
    min_time: Annotated[float, typer.Option(
        "--min-time", min=0.0, help="and time each model for at least this many seconds (more passes on a noisy "
                                    "machine: the spread and the fastest pass settle)")] = 0.0,
    rounds: Annotated[int, typer.Option(
        min=1, help="interleave: split the passes into this many rounds, every model timed in turn in each "
                    "(round-robin), so a slow drift of the machine hits all models alike")] = 1,
    hw: Annotated[str | None, typer.Option(
        "--hw", help="also print the latency predicted on this profile and the ratio predicted / measured")] = None,
    fusion: FusionOption = DEFAULT_FUSION,
    per_layer: Annotated[bool, typer.Option(
        "--per-layer", help="also time each module layer with forward hooks (docs/calibration.md: caveats)")] = False,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="write the measurements as CSV (the format calibrate and validate read)")] = None,
    label: Annotated[str | None, typer.Option(
        help="value of the CSV's device column (default: --device), e.g. the machine's name")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="torch.set_num_threads (CPU)")] = None,
    input: Annotated[list[str] | None, typer.Option(
        "--input", help="override an input's per-sample shape: NAME=3,256,256 (repeatable)")] = None,
    channels_last: Annotated[bool, typer.Option(
        "--channels-last", help="module and image inputs in channels-last (NHWC) memory format")] = False,
    compile: Annotated[bool, typer.Option(  # noqa: A002
        "--compile", help="torch.compile the module first (compare with --fusion compile predictions)")] = False,
    malloc: Annotated[Malloc, choice_option(
        Malloc, "--malloc", help="CPU: steady holds glibc's heap between passes as a long-running process's "
                                 "settles (the latency model's assumption); system leaves it as is (a fresh "
                                 "process refaults its activations every pass)")] = Malloc.STEADY,
    fmt: TableJsonOption = Format.TABLE,
    set_: SetOption = None,
) -> None:
    """Run SPEC's PyTorch module and time it: median and spread of repeated forward passes; with --hw, the
    predicted latency beside it."""
    from ..bridges.bench import Protocol, bench_all, layer_lines, measurements_csv, summary_line

    if dtype not in TORCH_DTYPES:
        raise fail(f"bench runs {', '.join(TORCH_DTYPES)}; got --dtype {dtype!r}")
    if output is not None:  # before the minutes of timing, not after
        check_writable(output, "the measurements to")
    if label is not None and ("\n" in label or "\r" in label):  # the file's device column: calibrate refuses it
        raise fail(f"--label: a device name cannot span lines, got {label!r}")
    if not math.isfinite(min_time):  # inf passes typer's min=0.0: every model timed for MAX_PASSES passes
        raise fail(f"--min-time must be a finite number of seconds >= 0, got {min_time}")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if threads is not None and threads > cpus:  # torch.set_num_threads(10**6) ended in a segmentation fault
        raise fail(f"--threads {threads}: this process may run on {cpus} CPU(s), and bench times real runs: at most "
                   f"{cpus} (more threads than CPUs measures their contention, not the model)")
    profile = load_profile(hw) if hw else None
    if profile is not None:
        check_dtype(profile, dtype)
        if (device == BenchDevice.CPU) != (profile.kind == DeviceKind.CPU):  # `bench --hw a100` timed the CPU
            typer.echo(f"warning: --hw {profile.key} is a {profile.kind.upper()} profile but bench runs on --device "
                       f"{device}: the predicted latency and the ratio compare two devices", err=True)
    shapes = parse_inputs(input or [])
    overrides = parse_set(set_)
    graphs = [(spec, load_graph(spec, batch=batch, input_shapes=shapes, overrides=overrides))
              for spec in specs]  # all specs load first
    if threads is not None:
        from ..bridges.torch import require_torch

        require_torch().set_num_threads(threads)
    protocol = Protocol(repeat=repeat, warmup=warmup, min_time=min_time, rounds=rounds)
    # one model after another, each printed when done; interleaved rounds need all the modules at once
    batches = [graphs] if rounds > 1 else [[g] for g in graphs]
    results = []
    predictions: list[float | None] = []
    for chunk in batches:
        timed = bench_all([(g, s) for s, g in chunk], device=device, dtype=dtype, protocol=protocol,
                          per_layer=per_layer, channels_last=channels_last, compile=compile, malloc=malloc)
        for result, (_, graph) in zip(timed, chunk, strict=True):
            results.append(result)
            prediction = estimate(graph, profile, dtype=dtype, fusion=fusion) if profile else None
            for warning in bench_warnings(result, profile):
                typer.echo(f"warning: {warning}", err=True)
            if fmt == "json":
                predictions.append(prediction.summary.latency_s if prediction else None)
                continue
            typer.echo("\n".join(wrap([summary_line(result, prediction.summary.latency_s if prediction else None,
                                                     profile.key if profile else None)], terminal_width())))
            if per_layer:
                predicted = {op.path: op.latency_s for op in prediction.ops} if prediction else None
                typer.echo("\n".join(layer_lines(result, predicted)))
    lines, warnings = drift_lines(results)
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    if fmt != "json" and lines:
        typer.echo("\n".join(lines))
    if fmt == "json":
        from ..jsonable import jsonable

        emit_json([{**jsonable(r), "predicted_s": p, "profile": profile.key if profile else None}
                   for r, p in zip(results, predictions, strict=True)])
    if output is not None:
        write_output(measurements_csv(results, label), output)
