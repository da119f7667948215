"""Measured latency of a spec's PyTorch module (:func:`costmodel.bridges.torch.build_module`).

:func:`bench` builds the module, moves it to the device and dtype, warms up, then times ``repeat`` forward passes
(``torch.inference_mode``, eval mode, ``time.perf_counter``; ``torch.cuda.synchronize`` before and after each
pass on CUDA). With ``per_layer``, a separate set of passes times every layer that is an ``nn.Module``
(``SpecModule.layers``) with forward pre-hooks and hooks. Caveat: the hooks themselves cost a few microseconds
per layer, on CUDA they synchronize around every layer (no overlap of launches with work), and layers run as
plain functions (shape ops, arithmetic, matmul, SDPA: ``SpecModule.functional``) are not timed, so per-layer
times do not add up to the whole-model time. Units: seconds.

For noisy machines (:class:`Protocol`, :func:`bench_all`): ``min_time`` keeps timing a model until its passes add
up to that many seconds (and at least ``repeat`` passes); ``rounds`` interleaves several models round-robin, each
round timing every model in turn, so that a slow drift of the machine's speed (other tenants of a VM's host, clock
changes) hits every model alike instead of the block of models measured while it lasted. The pure timing loops
(:func:`timed_passes`, :func:`interleaved`) take the pass and the clock as arguments, so they are tested without
PyTorch or real time.
"""

from __future__ import annotations

import ctypes
import math
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..analysis import analyze_graph
from ..errors import BridgeError
from ..fileio import proc_field
from ..graph import Graph
from ..vocab import STEADY_HEAP, BenchDevice, Dtype, Malloc
from .common import first_line
from .torch import build_module, example_inputs, require_torch

TORCH_DTYPES: dict[Dtype, str] = {Dtype.FP32: "float32", Dtype.FP16: "float16", Dtype.BF16: "bfloat16"}
DEVICES: tuple[str, ...] = BenchDevice.values()


@dataclass(frozen=True)
class Timing:
    """Repeated timings of one thing, in seconds, in the order they were taken. ``rounds``: how many of the samples
    each interleaved round took (:func:`interleaved`; empty: one block)."""

    samples: tuple[float, ...]
    rounds: tuple[int, ...] = field(default=())
    faults: float | None = None  # minor page faults per timed pass, the process's (all threads); None: not counted

    @property
    def median(self) -> float:
        """Median over the samples."""
        return statistics.median(self.samples)

    @property
    def iqr(self) -> float:
        """Interquartile range (inclusive quartiles; 0 for one sample)."""
        if len(self.samples) < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.samples, n=4, method="inclusive")
        return q3 - q1

    @property
    def min(self) -> float:
        """Fastest sample."""
        return min(self.samples)

    @property
    def max(self) -> float:
        """Slowest sample."""
        return max(self.samples)

    @property
    def drift(self) -> float:
        """Median of the second half of the samples over the median of the first half, minus 1 (0 for fewer than
        4 samples; an odd middle sample is left out): > 0 when the passes got slower during the run."""
        half = len(self.samples) // 2
        if half < 2:
            return 0.0
        return statistics.median(self.samples[-half:]) / statistics.median(self.samples[:half]) - 1

    def round_medians(self) -> tuple[float, ...]:
        """The median of each interleaved round's samples (one value, the median, for a single block)."""
        if not self.rounds:
            return (self.median,)
        out, start = [], 0
        for size in self.rounds:
            out.append(statistics.median(self.samples[start:start + size]))
            start += size
        return tuple(out)


@dataclass(frozen=True)
class BenchResult:
    """One spec measured on one device: the whole forward pass and, with ``per_layer``, each hooked layer."""

    model: str  # the spec's metadata.timm_name, else its name (what measurement files match on)
    spec: str
    device: str
    dtype: str
    batch: int
    image_size: int | None  # px, when the first input is a square image [C, H, H]
    params: int
    macs: int  # per batch
    threads: int
    runtime: str  # "torch <version>" and how it ran: " malloc-steady", " channels_last", " compile"
    timing: Timing
    layers: dict[str, Timing] | None = None
    malloc: Malloc | None = None  # how the heap was left between passes on a CPU (None: another device)

    @property
    def throughput(self) -> float:
        """Samples per second at the median latency."""
        return self.batch / self.timing.median


def image_size(graph: Graph) -> int | None:
    """H of the first input when it is a square image (per-sample shape [C, H, H]), else None."""
    shape = next(iter(graph.inputs.values()))[1:]
    return shape[-1] if len(shape) == 3 and shape[-1] == shape[-2] else None


def _device(torch, device: str):  # noqa: ANN001, ANN202 - torch is a module object
    if device not in DEVICES:
        raise BridgeError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == BenchDevice.CUDA and not torch.cuda.is_available():
        raise BridgeError("CUDA is not available on this machine (torch.cuda.is_available() is False); "
                          "use --device cpu")
    return torch.device(device)


def _timer(torch, device: str) -> Callable[[], float]:  # noqa: ANN001
    if device == BenchDevice.CUDA:
        def now() -> float:
            torch.cuda.synchronize()
            return time.perf_counter()
        return now
    return time.perf_counter


MAX_PASSES = 100_000  # timed_passes stops here whatever min_time asks (a pass timed at 0 s would never add up)


@dataclass(frozen=True)
class Protocol:
    """How many passes to time. ``repeat``: at least this many per model; ``min_time``: and at least this many
    seconds of timed passes per model; ``rounds``: split them into this many rounds, the models taken round-robin
    within each (each round asks for ceil(repeat / rounds) passes and min_time / rounds seconds per model, and
    starts every model with one untimed pass, so it is timed with its weights back in cache after the others ran);
    ``warmup``: untimed passes of each model before its first round."""

    repeat: int = 10
    warmup: int = 3
    min_time: float = 0.0
    rounds: int = 1

    def __post_init__(self) -> None:
        if self.warmup < 0 or self.repeat < 1 or self.rounds < 1 or not 0 <= self.min_time < math.inf:
            raise BridgeError("warmup and min_time must be >= 0 (min_time finite), repeat and rounds >= 1")


def timed_passes(run: Callable[[], object], now: Callable[[], float], repeat: int,
                 min_time: float = 0.0) -> list[float]:
    """Time ``run`` with the clock ``now`` until at least ``repeat`` passes and ``min_time`` seconds of them
    (at most :data:`MAX_PASSES`); the durations in order."""
    samples: list[float] = []
    total = 0.0
    while (len(samples) < repeat or total < min_time) and len(samples) < MAX_PASSES:
        start = now()
        run()
        elapsed = now() - start
        samples.append(elapsed)
        total += elapsed
    return samples


def interleaved(runs: Sequence[Callable[[], object]], now: Callable[[], float], protocol: Protocol,
                faults: Callable[[], int] | None = None) -> list[Timing]:
    """Time every pass in ``runs`` under ``protocol``: the warm-up passes of each, then ``rounds`` rounds, each
    timing every run in turn (round-robin). One :class:`Timing` per run, its ``rounds`` the samples per round;
    with ``faults`` (a running count, :func:`minor_faults`) its ``faults`` the count's rise per timed pass."""
    for run in runs:
        for _ in range(protocol.warmup):
            run()
    per_round = math.ceil(protocol.repeat / protocol.rounds)
    seconds = protocol.min_time / protocol.rounds
    samples: list[list[float]] = [[] for _ in runs]
    sizes: list[list[int]] = [[] for _ in runs]
    counted = [0] * len(runs)
    for _ in range(protocol.rounds):
        for i, run in enumerate(runs):
            if protocol.rounds > 1:
                run()
            before = faults() if faults else 0
            taken = timed_passes(run, now, per_round, seconds)
            counted[i] += (faults() - before) if faults else 0
            samples[i] += taken
            sizes[i].append(len(taken))
    return [Timing(tuple(values), tuple(size) if protocol.rounds > 1 else (),
                   count / len(values) if faults else None)
            for values, size, count in zip(samples, sizes, counted, strict=True)]


def minor_faults() -> int:
    """The process's minor page faults so far (all its threads; ``getrusage``'s ``ru_minflt``); 0 where the
    platform has no ``resource`` module."""
    try:
        import resource
    except ImportError:  # Windows
        return 0
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)


# glibc's mallopt(3) parameters (malloc.h) and what bench sets them to
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
NEVER_TRIM = 2**31 - 1  # bytes free at the top of the heap before glibc gives them back (mallopt takes an int)
MMAP_FROM = 32 * 2**20  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit, the CPU profiles' default cpu.mmap_threshold_mb


def hold_malloc_steady() -> bool:
    """For the rest of the process, hold glibc's heap as a long-running process's settles: never give the top of the
    heap back to the kernel (``M_TRIM_THRESHOLD``), and map afresh per allocation only buffers from 32 MiB
    (``M_MMAP_THRESHOLD``, where glibc's own moving threshold ends up; setting it stops the move), which the latency
    model prices as fresh pages (``cpu.page_fault_us``). True when set; False where the C library is not glibc
    (nothing changed: bench then times the heap as it is)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(M_TRIM_THRESHOLD, NEVER_TRIM)) and bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_FROM))
    except (OSError, AttributeError):  # no C library symbols in this process
        return False


def round_speeds(timings: Sequence[Timing]) -> list[float]:
    """The machine's speed per interleaved round, common to all models: per round, the median over the models of
    (that round's median pass / the model's median over its rounds). 1.0 everywhere: no drift; 1.1 in a round:
    every model ran about 10 % slower then. Empty for timings without rounds."""
    rows = [t.round_medians() for t in timings if t.rounds]
    if not rows or len({len(r) for r in rows}) != 1:
        return []
    scaled = [[value / statistics.median(row) for value in row] for row in rows]
    return [statistics.median(column) for column in zip(*scaled, strict=True)]


@dataclass
class _Prepared:
    """A spec's module and inputs on the device, ready to run."""

    graph: Graph
    spec: str
    module: object
    inputs: tuple
    runtime: str


def available_bytes(torch, device: str) -> int | None:  # noqa: ANN001
    """Bytes free for a run on ``device``: the CPU's ``MemAvailable`` (/proc/meminfo), CUDA's free memory
    (``torch.cuda.mem_get_info``); None where it cannot be read."""
    if device == BenchDevice.CUDA:
        return int(torch.cuda.mem_get_info()[0])
    kib = proc_field("/proc/meminfo", "MemAvailable")
    return int(kib) * 1024 if kib is not None and kib.isdigit() else None


def check_fits(torch, graph: Graph, device: str, dtype: str) -> None:  # noqa: ANN001
    """Refuse a model whose weights and peak live activations -- the least a forward pass holds, by the cost
    model's count at ``dtype`` -- exceed the memory ``device`` has free: allocating them failed with PyTorch's
    error, or, on a CPU whose kernel overcommits, ran the machine out of memory."""
    totals = analyze_graph(graph, dtype).totals
    need = totals.weight_bytes + totals.peak_activation_bytes
    free = available_bytes(torch, device)
    if free is not None and need > free:
        raise BridgeError(f"{graph.name} at batch {graph.batch}: its weights and peak live activations alone take "
                          f"{need / 1e9:.3g} GB in {dtype}, and {device} has {free / 1e9:.3g} GB free; lower the "
                          "batch or the input size")


def _prepare(torch, graph: Graph, device: str, dtype: str, spec: str | Path, channels_last: bool,  # noqa: ANN001
             compile: bool, steady: bool = False) -> _Prepared:  # noqa: A002
    if dtype not in TORCH_DTYPES:
        raise BridgeError(f"bench runs {', '.join(TORCH_DTYPES)}; got dtype {dtype!r}")
    target = _device(torch, device)
    check_fits(torch, graph, device, dtype)
    torch_dtype = getattr(torch, TORCH_DTYPES[Dtype(dtype)])
    try:
        module = build_module(graph).to(device=target, dtype=torch_dtype).eval()
        inputs = tuple(x.to(device=target, dtype=torch_dtype) for x in example_inputs(graph))
    except RuntimeError as exc:  # PyTorch's allocation failures (torch.OutOfMemoryError is one)
        raise BridgeError(f"{graph.name}: cannot build the module and its inputs on {device} in {dtype}: "
                          f"{first_line(exc)}") from None
    runtime = f"torch {torch.__version__}" + (f" {STEADY_HEAP}" if steady else "")
    if channels_last:
        module = module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # nn.Module.to takes it
        inputs = tuple(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in inputs)
        runtime += " channels_last"
    if compile:
        module = torch.compile(module)
        runtime += " compile"
    return _Prepared(graph, str(spec), module, inputs, runtime)


def _guarded(prepared: _Prepared, device: str, dtype: str, compile: bool) -> Callable[[], object]:  # noqa: A002
    """One forward pass of ``prepared``, its failures as :class:`BridgeError` naming the model."""
    module, inputs, name = prepared.module, prepared.inputs, prepared.graph.name

    def run() -> object:
        try:
            return module(*inputs)  # type: ignore[operator]  # an nn.Module
        except RuntimeError as exc:  # e.g. an op without a kernel for this dtype on this device
            raise BridgeError(f"{name}: forward pass failed on {device} in {dtype}: {exc}") from None
        except BridgeError:
            raise
        except Exception as exc:  # torch.compile's backends raise their own types (no compiler, unsupported op)
            if not compile:
                raise
            raise BridgeError(f"{name}: torch.compile failed on {device} in {dtype}: {first_line(exc)}") from None
    return run


def bench_all(
    graphs: Sequence[tuple[Graph, str | Path]], *, device: BenchDevice | str = BenchDevice.CPU,
    dtype: Dtype | str = Dtype.FP32, protocol: Protocol | None = None, per_layer: bool = False,
    channels_last: bool = False, compile: bool = False, malloc: Malloc | str = Malloc.STEADY,  # noqa: A002
) -> list[BenchResult]:
    """Time each (graph, spec path) under ``protocol`` (see the module docstring). With ``protocol.rounds`` > 1
    every module is built first and the models are timed round-robin (all modules in memory at once); otherwise
    one after another, each built, timed and released in turn. ``channels_last``: module and 4-D inputs in NHWC
    memory format; ``compile``: ``torch.compile`` the module (the warm-up, at least one pass, compiles);
    ``malloc``: on a CPU, steady holds glibc's heap for the rest of the process first (:func:`hold_malloc_steady`).
    All three are named in the result's ``runtime`` (malloc-steady where it was held). Raises :class:`BridgeError`
    for a missing PyTorch, an unavailable device, an unsupported dtype or an op that fails to run (or compile)."""
    protocol = protocol or Protocol()
    if compile and protocol.warmup < 1:
        protocol = Protocol(protocol.repeat, 1, protocol.min_time, protocol.rounds)
    torch = require_torch()
    now = _timer(torch, str(device))
    on_cpu = str(device) == BenchDevice.CPU
    steady = on_cpu and Malloc(malloc) == Malloc.STEADY and hold_malloc_steady()
    faults = minor_faults if on_cpu else None

    def result(prepared: _Prepared, timing: Timing) -> BenchResult:
        layers = None
        if per_layer:
            with torch.inference_mode():
                layers = _per_layer(prepared.module, prepared.inputs, now, protocol.repeat)
        graph = prepared.graph
        totals = analyze_graph(graph).totals
        meta = graph.spec.metadata
        return BenchResult(
            model=getattr(meta, "timm_name", None) or graph.name, spec=prepared.spec, device=str(device),
            dtype=str(dtype), batch=graph.batch, image_size=image_size(graph), params=totals.params,
            macs=totals.macs, threads=torch.get_num_threads(), runtime=prepared.runtime, timing=timing,
            layers=layers, malloc=(Malloc.STEADY if steady else Malloc.SYSTEM) if on_cpu else None,
        )

    if protocol.rounds > 1:
        prepared = [_prepare(torch, g, str(device), str(dtype), spec, channels_last, compile, steady)
                    for g, spec in graphs]
        with torch.inference_mode():
            timings = interleaved([_guarded(p, str(device), str(dtype), compile) for p in prepared], now, protocol,
                                  faults)
        return [result(p, t) for p, t in zip(prepared, timings, strict=True)]
    out = []
    for graph, spec in graphs:
        one = _prepare(torch, graph, str(device), str(dtype), spec, channels_last, compile, steady)
        with torch.inference_mode():
            (timing,) = interleaved([_guarded(one, str(device), str(dtype), compile)], now, protocol, faults)
        out.append(result(one, timing))
    return out


def bench(
    graph: Graph, *, device: BenchDevice | str = BenchDevice.CPU, dtype: Dtype | str = Dtype.FP32, warmup: int = 3,
    repeat: int = 10, per_layer: bool = False, spec: str | Path = "", channels_last: bool = False,
    compile: bool = False, min_time: float = 0.0, malloc: Malloc | str = Malloc.STEADY,  # noqa: A002
) -> BenchResult:
    """Time ``graph``'s module: :func:`bench_all` of one spec, ``repeat`` passes (and ``min_time`` seconds) after
    ``warmup`` untimed ones."""
    if warmup < 0 or repeat < 1:
        raise BridgeError("warmup must be >= 0 and repeat >= 1")
    (result,) = bench_all([(graph, spec)], device=device, dtype=dtype, protocol=Protocol(repeat, warmup, min_time),
                          per_layer=per_layer, channels_last=channels_last, compile=compile, malloc=malloc)
    return result


def _per_layer(module, inputs: Sequence, now: Callable[[], float], repeat: int) -> dict[str, Timing]:  # noqa: ANN001
    """Per hooked layer, one duration per pass (a layer run twice in a pass: the sum)."""
    current: dict[str, float] = {}
    started: dict[str, float] = {}
    handles = []
    for path, layer in module.layers.items():
        def pre(_m, _args, path: str = path) -> None:  # noqa: ANN001
            started[path] = now()

        def post(_m, _args, _out, path: str = path) -> None:  # noqa: ANN001
            current[path] = current.get(path, 0.0) + now() - started.pop(path)

        handles += [layer.register_forward_pre_hook(pre), layer.register_forward_hook(post)]
    runs: dict[str, list[float]] = {path: [] for path in module.layers}
    try:
        module(*inputs)  # one pass with the hooks in place before timing
        for _ in range(repeat):
            current.clear()
            module(*inputs)
            for path, seconds in current.items():
                runs[path].append(seconds)
    finally:
        for handle in handles:
            handle.remove()
    return {path: Timing(tuple(values)) for path, values in runs.items() if values}


CSV_COLUMNS = ("model", "infer_img_size", "infer_samples_per_sec", "infer_step_time", "infer_batch_size",
               "param_count", "infer_gmacs", "device", "dtype", "infer_step_time_iqr", "infer_step_time_min",
               "infer_step_time_max", "repeats", "threads", "runtime", "spec", "rounds", "drift",
               "page_faults_per_pass")


def measurement_row(result: BenchResult, device_label: str | None = None) -> dict[str, str]:
    """A row of the measurement file format (docs/calibration.md): timm's columns plus the bench's own.
    Times in ms per batch (timm's unit), params in millions, GMACs per sample."""
    t = result.timing
    return {
        "model": result.model, "infer_img_size": str(result.image_size or ""),
        "infer_samples_per_sec": f"{result.throughput:.6g}", "infer_step_time": f"{t.median * 1e3:.6g}",
        "infer_batch_size": str(result.batch), "param_count": f"{result.params / 1e6:.4f}",
        "infer_gmacs": f"{result.macs / result.batch / 1e9:.4f}", "device": device_label or result.device,
        "dtype": result.dtype, "infer_step_time_iqr": f"{t.iqr * 1e3:.6g}", "infer_step_time_min": f"{t.min * 1e3:.6g}",
        "infer_step_time_max": f"{t.max * 1e3:.6g}", "repeats": str(len(t.samples)), "threads": str(result.threads),
        "runtime": result.runtime, "spec": result.spec, "rounds": str(len(t.rounds) or 1),
        "drift": f"{t.drift:.4f}", "page_faults_per_pass": "" if t.faults is None else f"{t.faults:.1f}",
    }


def measurements_csv(results: Sequence[BenchResult], device_label: str | None = None) -> str:
    """The measurement file (CSV with a comment line) for ``costmodel calibrate`` / ``validate``."""
    import csv
    import io

    out = io.StringIO()
    out.write("# costmodel bench: median of repeated forward passes (torch.inference_mode); times in ms per batch\n")
    writer = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(measurement_row(r, device_label) for r in results)
    return out.getvalue()


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms" if seconds < 1 else f"{seconds:.3f} s"


def _faults(timing: Timing) -> str:
    return "" if timing.faults is None else f", {timing.faults:,.0f} page faults per pass"


def summary_line(result: BenchResult, predicted_s: float | None = None, key: str | None = None) -> str:
    """``resnet18: cpu fp32 batch 1: median 35.2 ms (IQR ..., min ..., max ...; 10 runs), 28.4 samples/s``, with
    the prediction and the ratio predicted / measured when given."""
    t = result.timing
    text = (f"{result.model}: {result.device} {result.dtype} batch {result.batch}: median {_ms(t.median)} "
            f"(IQR {_ms(t.iqr)}, min {_ms(t.min)}, max {_ms(t.max)}; {len(t.samples)} runs"
            f"{f' in {len(t.rounds)} rounds' if t.rounds else ''}, "
            f"{result.threads} threads{_faults(t)}), {result.throughput:,.1f} samples/s")
    if predicted_s is not None:
        text += f"; predicted {_ms(predicted_s)} on {key}, ratio {predicted_s / t.median:.2f}"
    return text


def layer_lines(result: BenchResult, predicted: dict[str, float] | None = None) -> list[str]:
    """Per hooked layer: measured median (us), and with ``predicted`` (path -> seconds) the prediction and ratio."""
    layers = result.layers or {}
    width = max([len("layer"), *(len(p) for p in layers)])
    head = f"{'layer':<{width}} {'measured us':>12}"
    if predicted is not None:
        head += f" {'predicted us':>12} {'ratio':>6}"
    lines = [head]
    for path, timing in layers.items():
        line = f"{path:<{width}} {timing.median * 1e6:>12.1f}"
        if predicted is not None and path in predicted:
            p = predicted[path]
            line += f" {p * 1e6:>12.1f} {p / timing.median:>6.2f}"
        lines.append(line)
    hooked = sum(t.median for t in layers.values())
    lines.append(f"sum of {len(layers)} hooked layers {_ms(hooked)} vs whole pass {_ms(result.timing.median)} "
                 f"(hooks add overhead; layers run as functions are not timed)")
    return lines
