"""Validate the latency model against every measurement the project has: shipped profiles, fits, transfers, CPU.

Run: python benchmarks/validate_latency.py [--models] [--skip-fits] [--wide] [--cpu | --gpu]
     [--published | --timm-tables] [--extra FILE[:THREADS] ... [--hw PROFILE]]
Refresh the GPU fixtures from timm's CSV files: python benchmarks/validate_latency.py --update-fixture DIR

Sections (docs/latency-model.md, "Validation", holds the committed output):
1. Shipped profiles, no fitting: timm's RTX 3090 / RTX 4090 tables (eager AMP and, on the 4090, torch.compile),
   two CPUs at batch 1, each row naming its machine: the Zen 3 VM of sessions 21-25 (1 and 2 threads, the same runs
   repeated minutes later and on another day) and the Intel Xeon 6 VM of session 26 (1 and 2 threads, measured before
   its profile existed), with the FLOPs-only baseline; the 2-thread speed-up, predicted against measured.
2. Fitted (costmodel calibrate's fit): in-sample and leave-one-model-out (LOMO) per device; leave-one-device-out
   (LODO: the efficiencies fitted on one GPU applied to the other's peaks); on each CPU, fitted on 10 models and
   scored on the others.
3. Design space: MobileNetV3-like subnets (benchmarks/design_space.py) measured on this CPU at batch 1: rank
   correlation of the predicted latency and of MACs with the measured latency.

4. With --wide: the same GPU figures over every model of timm's shared tables (../shared/reference) whose spec
   `costmodel import` built into the cache (benchmarks/wide_set.py --generate; $COSTMODEL_CACHE/timm_specs):
   shipped profiles, 10-fold cross-validated fits per device, and the fits carried between the GPUs.
5. Published GPU tables (benchmarks/published_gpu.py; not with --cpu; --published runs only this section): NVIDIA's
   DeepLearningExamples inference tables for V100, T4 and A100, FP32/TF32/AMP, batch 1-256, scored with the shipped
   profiles per device, precision and batch regime: devices the project never fitted to.
6. With --wide (--timm-tables runs only this section): timm's other published tables (its repository's results/
   folder, the wide set's rows in tests/fixtures/timm_tables/, each naming its source): RTX 5090 and RTX PRO 6000
   Blackwell Max-Q (PyTorch 2.9.1, eager and torch.compile, AMP fp16 / bf16), RTX 4090 (PyTorch 2.4) and RTX 3090
   (PyTorch 2.1, 1.13), scored with the shipped profiles on the cached wide-set specs, selected as in section 4.

Columns: rho thpt (Spearman of predicted vs measured throughput), rho 1/FLOPs (the FLOPs-only baseline's),
rho eff (of the computational efficiency), median ratio (predicted / measured latency), median |error|, and
the shares of models within +-10 % and +-25 %.
"""

from __future__ import annotations

import argparse
import csv
import functools
import math
import random
import statistics
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from scipy.stats import spearmanr

# this checkout's costmodel, not the editable install's (which may be another worktree's): run from a worktree, score it
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from costmodel.api import load_graph  # noqa: E402
from costmodel.calibration.fidelity import Fidelity, Point, fidelity, points, table_lines  # noqa: E402
from costmodel.calibration.fit import (  # noqa: E402
    Basis,
    Fit,
    bases_of,
    calibrated,
    fit,
    fitted_profile,
    identifiability_warnings,
    pinned,
    predict,
    with_parameters,
)
from costmodel.calibration.measurements import (  # noqa: E402
    Matched,
    Measurement,
    match,
    read_measurements,
    select_device,
    spec_index,
)
from costmodel.errors import MeasurementError  # noqa: E402
from costmodel.graph import Graph  # noqa: E402
from costmodel.hardware import HardwareProfile, load_profile, threaded  # noqa: E402
from costmodel.hardware.profile import THIS_CPU  # noqa: E402
from costmodel.latency import estimate  # noqa: E402
from costmodel.vocab import DEFAULT_CARRY, Carry, Pass  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import design_space  # noqa: E402  (the sibling benchmark module)
import published_gpu  # noqa: E402
import wide_set  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests/fixtures"
GPU_FIXTURE = FIXTURES / "timm_benchmark_zoo.csv"
COMPILE_FIXTURE = FIXTURES / "timm_benchmark_zoo_compile.csv"
# The CPU rows of section 1 name their machine. The Zen 3 VM ("Zen 3 VM" rows; the project's VM of sessions 21-25,
# epyc_zen3_vm_b), the scored files: the lead's quiet zoo runs at 1, 2, 1 and 2 threads
# back to back (2 December, 20:53-20:58 UTC, load about 1, IQRs mostly 1-3 %); the first pair is scored and fitted,
# the second pair is the same models measured again minutes later (reproducibility, and a second score).
CPU_FIXTURES = {n: FIXTURES / f"cpu_bench_epyc_zen3_vm_b_{n}t_{hhmm}.csv" for n, hhmm in ((1, 2053), (2, 2054))}
CPU_REPEAT = {n: FIXTURES / f"cpu_bench_epyc_zen3_vm_b_{n}t_{hhmm}.csv" for n, hhmm in ((1, 2055), (2, 2057))}
# the same 38 models on another day (3 December, 03:37-03:42 UTC, 1, 2, 1, 2 threads, load about 1): scored, never
# fitted, the out-of-sample check that a change is not fitted to the first day's files (section 2 runs the few-shot
# workflow on them as a user would on any device: calibrate on 10, score the others; the shipped profile is untouched)
CPU_OTHER_DAY = {n: FIXTURES / f"cpu_bench_epyc_zen3_vm_b_{n}t_{hhmm}.csv" for n, hhmm in ((1, "0337"), (2, "0338"))}
# earlier runs of the same models on this VM, kept to show the drift between sessions (not scored): 11:56 (1t, load
# 1-3) and 14:01 UTC (2t), and the lead's first quiet pair, 18:19-18:24 UTC (1.9x slower than 20:53 at one thread)
CPU_EARLIER = {1: FIXTURES / "cpu_bench_epyc_zen3_vm_b_1t.csv", 2: FIXTURES / "cpu_bench_epyc_zen3_vm_b_2t.csv"}
CPU_QUIET = {n: FIXTURES / f"cpu_bench_epyc_zen3_vm_b_quiet_{n}t.csv" for n in (1, 2)}
CPU_PROFILE = "epyc_zen3_vm_b"
# The Intel Xeon 6 (Granite Rapids) VM of session 26 ("Xeon 6 VM" rows, xeon6_gnr_vm): the 38 models at 1 and 2
# threads, measured by the lead before any profile of this CPU existed (3 December 12:39-12:43 UTC, quiet); the profile
# was built afterwards from Intel's sheets and microbenchmarks, so both files are out of sample; section 2 runs the
# few-shot workflow on them (10 models fitted, the other 28 scored)
XEON_FIXTURES = {n: FIXTURES / f"cpu_bench_xeon6_gnr_vm_{n}t.csv" for n in (1, 2)}
# the same 38 models measured again by the lead minutes later (12:50-12:54 UTC, quiet, still before the profile):
# reproducibility and a second score, never fitted
XEON_REPEAT = {n: FIXTURES / f"cpu_bench_xeon6_gnr_vm_{n}t_b.csv" for n in (1, 2)}
# the same VM at session 27's start (3 December 15:09-15:12 UTC, quiet; that session looked for mechanisms in their
# residuals, so in sample for its changes, out of sample for later ones): scored and few-shot fitted
XEON_AFTERNOON_FILES = {n: FIXTURES / f"cpu_bench_xeon6_gnr_vm_{n}t_{hhmm}.csv" for n, hhmm in ((1, 1509), (2, 1511))}
# the same VM in a noisy hour of its host (3 December 17:53-18:01 UTC, the lead's session 28, before any change of
# that session): the zoo 1.2x slower than at 15:09, dispatch-bound nets most (up to 1.6x), dense-compute nets least
# (1.1x); scored and few-shot fitted like the others, plus a second 1-thread run minutes later (reproducibility)
XEON_NOISY_FILES = {n: FIXTURES / f"cpu_bench_xeon6_gnr_vm_{n}t_{hhmm}.csv" for n, hhmm in ((1, 1753), (2, 1755))}
XEON_NOISY_REPEAT = {1: FIXTURES / "cpu_bench_xeon6_gnr_vm_1t_1759.csv"}
# the same VM in a quiet, fast hour (3 December 20:41-21:09 UTC, the lead's session 29, before any change of that
# session's latency model; scalar clock 4.18 GHz): a pair and its repeat minutes later with the heap left to the system
# (bench before --malloc), and a pair with the heap held steady (bench --malloc steady, now the default)
XEON_EVENING_FILES = {n: FIXTURES / f"cpu_bench_xeon6_gnr_vm_{n}t_{hhmm}.csv" for n, hhmm in ((1, 2041), (2, 2043))}
XEON_EVENING_REPEAT = {n: FIXTURES / f"cpu_bench_xeon6_gnr_vm_{n}t_{hhmm}.csv" for n, hhmm in ((1, 2045), (2, 2044))}
XEON_STEADY_FILES = {n: FIXTURES / f"cpu_bench_xeon6_gnr_vm_{n}t_{hhmm}.csv" for n, hhmm in ((1, 2105), (2, 2107))}
# and late that evening (22:00-22:03 UTC), AFTER session 29's latency-model changes and before anything was chosen on
# it: out of sample for all of them (heap held steady)
XEON_LATE_FILES = {n: FIXTURES / f"cpu_bench_xeon6_gnr_vm_{n}t_{hhmm}.csv" for n, hhmm in ((1, 2200), (2, 2201))}
XEON_LATE_REPEAT = {n: FIXTURES / f"cpu_bench_xeon6_gnr_vm_{n}t_{hhmm}.csv" for n, hhmm in ((1, 2217), (2, 2219))}
XEON_PROFILE = "xeon6_gnr_vm"


@dataclass(frozen=True)
class CpuRun:
    """One run of the 38 zoo models on a CPU, a costmodel bench file per thread count (device column PROFILE_Nt): the
    one table the CPU rows of section 1 (:meth:`cases`), their 2-vs-1-thread lines, the fits of section 2 and the
    reproducibility lines (:data:`REPEATED`) take their labels and files from."""

    machine: str  # the rows' label starts with it: "Zen 3 VM"
    run: str  # which run: FIRST_RUN (the one fitted), "second run", "another day", ...
    profile: str  # the shipped profile that scores it
    files: dict[int, Path]  # thread count -> file
    started: dict[int, str]  # thread count -> when the file's run started, UTC (the reproducibility lines name it)

    def label(self, threads: int) -> str:
        return f"{self.machine} {threads} thread{'s' if threads > 1 else ''}, {self.run}"

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.label(n) for n in self.files)

    @property
    def threads_label(self) -> str:
        """The label of its 2-vs-1-thread line."""
        return f"{self.machine} 2 vs 1 thread{'' if self.run == FIRST_RUN else f', {self.run}'}"

    def cases(self) -> list[Case]:
        """Its section-1 rows: each file scored with the shipped profile at its thread count, fastest pass."""
        return [Case(self.label(n), file, f"{self.profile}_{n}t", self.profile, "fp32", "uniform", "none", n, "min")
                for n, file in self.files.items()]


FIRST_RUN = "fp32"  # the run of a machine that section 2 fits (its rows' labels end with it)
ZEN3, XEON = "Zen 3 VM", "Xeon 6 VM"
ZEN3_RUN = CpuRun(ZEN3, FIRST_RUN, CPU_PROFILE, CPU_FIXTURES, {1: "2 Dec 20:53", 2: "2 Dec 20:54"})
ZEN3_REPEAT = CpuRun(ZEN3, "second run", CPU_PROFILE, CPU_REPEAT, {1: "2 Dec 20:55", 2: "2 Dec 20:57"})
ZEN3_OTHER_DAY = CpuRun(ZEN3, "another day", CPU_PROFILE, CPU_OTHER_DAY, {1: "3 Dec 03:37", 2: "3 Dec 03:38"})
XEON_RUN = CpuRun(XEON, FIRST_RUN, XEON_PROFILE, XEON_FIXTURES, {1: "3 Dec 12:40", 2: "3 Dec 12:41"})
XEON_REPEAT_RUN = CpuRun(XEON, "second run", XEON_PROFILE, XEON_REPEAT, {1: "3 Dec 12:51", 2: "3 Dec 12:52"})
XEON_AFTERNOON = CpuRun(XEON, "afternoon", XEON_PROFILE, XEON_AFTERNOON_FILES, {1: "3 Dec 15:09", 2: "3 Dec 15:11"})
XEON_NOISY = CpuRun(XEON, "noisy hour", XEON_PROFILE, XEON_NOISY_FILES, {1: "3 Dec 17:53", 2: "3 Dec 17:55"})
XEON_EVENING = CpuRun(XEON, "evening", XEON_PROFILE, XEON_EVENING_FILES, {1: "3 Dec 20:41", 2: "3 Dec 20:43"})
XEON_STEADY = CpuRun(XEON, "evening, heap steady", XEON_PROFILE, XEON_STEADY_FILES,
                     {1: "3 Dec 21:05", 2: "3 Dec 21:07"})
XEON_LATE = CpuRun(XEON, "late evening", XEON_PROFILE, XEON_LATE_FILES, {1: "3 Dec 22:00", 2: "3 Dec 22:01"})
XEON_LATE_SECOND = CpuRun(XEON, "late evening, second run", XEON_PROFILE, XEON_LATE_REPEAT,
                          {1: "3 Dec 22:17", 2: "3 Dec 22:19"})
# scored in section 1, fitted in 2
CPU_RUNS = (ZEN3_RUN, ZEN3_REPEAT, ZEN3_OTHER_DAY, XEON_RUN, XEON_REPEAT_RUN, XEON_AFTERNOON, XEON_NOISY, XEON_EVENING,
            XEON_STEADY, XEON_LATE, XEON_LATE_SECOND)
CPU_CASES = tuple(label for run in CPU_RUNS for label in run.labels)
SPACES = [  # (label, fixture, profile): the design-space sample measured on a CPU at batch 1, one thread
    ("Xeon 6 VM", FIXTURES / "cpu_bench_mbv3_space_xeon6_1t.csv", XEON_PROFILE),
    ("Zen 3 VM", FIXTURES / "cpu_bench_mbv3_space_zen3_1t.csv", CPU_PROFILE),
    ("Zen 5 VM (earlier, load 11)", FIXTURES / "cpu_bench_mbv3_space_1t.csv", "epyc_zen5_vm"),
]
SPACE_COUNT, SPACE_SEED = 60, 0
FEW_SHOT, FEW_SHOT_DRAWS = 10, 5  # calibrate on this many CPU models, over this many random draws
# the 10 models docs/calibration.md tells users to bench: the medoids of the zoo's shares of predicted latency in dense
# compute, depthwise, streaming kernels, memory and per-call costs on the shipped profile of main 688f8c9
# (benchmarks/fewshot_designs.py prints how they are chosen and today's medoids; no measurement is read)
FEW_SHOT_SET = ("efficientnet_b1", "ghostnet_100", "mnasnet_100", "mobilenetv3_large_100", "mobileone_s0",
                "poolformer_s12", "repvgg_b0", "repvit_m1", "resnet18", "vit_small_patch16_224")
SOURCES = {  # fixture -> (device, timm benchmark file)
    GPU_FIXTURE: [("rtx3090", "timm-benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv"),
                  ("rtx4090", "timm-benchmark-infer-amp-nchw-pt291-cu128-4090.csv")],
    COMPILE_FIXTURE: [("rtx4090", "timm-benchmark-infer-amp-nchw-pt291-cu128-4090-dynamo.csv")],
}
IMAGE_SIZE = 224  # the zoo specs' input size
# Networks of timm's tables that a zoo spec builds with other vars and that contain every layer of the zoo model (same
# op, attributes and shapes) and more; their rows, copied from the same tables, are in SUPERSET_FIXTURE. timm's cfg
# 'vgg19' is 'vgg16' with four convs, not three, in the 256- and 512-channel groups.
SUPERSETS: dict[str, tuple[tuple[str, dict[str, object]], ...]] = {"vgg16": (("vgg19", {"depths": [2, 2, 4, 4, 4]}),)}
SUPERSET_FIXTURE = FIXTURES / "timm_benchmark_supersets.csv"
# A row slower than a network that runs every kernel it runs, and more, by over this share contradicts its own table:
# one of the two rows did not time what the other did (a throttled or shared GPU, another library path); the row of
# the contained model is dropped and named. Not a fit: the rule knows nothing of the latency model.
CONSISTENCY_MARGIN = 0.10
GPU_DTYPE, GPU_PRECISION = "fp16", "amp"  # timm's "amp" tables: torch.autocast(fp16), fp32 weights


@dataclass(frozen=True)
class Case:
    """One validation row: which measurements, which profile, dtype, precision and fusion (runtime)."""

    label: str
    fixture: Path
    device: str
    profile: str
    dtype: str
    precision: str
    fusion: str
    threads: int | None = None
    statistic: str = "median"  # or "min": score the fastest pass (costmodel bench's infer_step_time_min)

    def rows(self) -> list[Matched]:
        which = Pass.FASTEST if self.statistic == "min" else Pass.MEDIAN
        matched, skipped = match(select_device(read_measurements(self.fixture, which), self.device), spec_index())
        assert not skipped, skipped
        if self.fixture in SOURCES:  # timm's GPU tables: drop the rows their own table contradicts
            bad = self.contradicted()
            matched = [m for m in matched if m.measurement.model not in bad]
        return matched

    def hw(self) -> HardwareProfile:
        profile = load_profile(self.profile)
        return threaded(profile, self.threads)

    def superset_rows(self) -> list[tuple[Measurement, Graph]]:
        """The SUPERSETS rows of this case's table, each with its graph at batch 1 (the zoo spec with the superset's
        vars)."""
        if self.fixture not in SOURCES or not SUPERSET_FIXTURE.exists():
            return []
        device = f"{self.device}-compile" if self.fixture == COMPILE_FIXTURE else self.device
        measurements = read_measurements(SUPERSET_FIXTURE)
        if device not in measurements.devices:
            return []
        found = {(row.model, row.image_size, row.batch): row for row in select_device(measurements, device)}
        index = spec_index()
        out = []
        for name, supersets in SUPERSETS.items():
            for other, overrides in supersets:
                row = found.get((other, IMAGE_SIZE, 1024))
                if row is not None:
                    out.append((row, load_graph(index[name], batch=1, overrides=overrides)))
        return out

    def contradicted(self) -> dict[str, str]:
        """Model -> why its row is dropped (:func:`contradicted`), for timm's GPU tables; worked out once per table."""
        key = (self.fixture, self.device)
        if self.fixture in SOURCES and key not in _CONTRADICTED:
            matched, _ = match(select_device(read_measurements(self.fixture), self.device), spec_index())
            _CONTRADICTED[key] = contradicted(matched, self.superset_rows())
        return _CONTRADICTED.get(key, {})


_CONTRADICTED: dict[tuple[Path, str], dict[str, str]] = {}


CASES = [
    Case("rtx3090 eager amp", GPU_FIXTURE, "rtx3090", "rtx3090", GPU_DTYPE, GPU_PRECISION, "none"),
    Case("rtx4090 eager amp", GPU_FIXTURE, "rtx4090", "rtx4090", GPU_DTYPE, GPU_PRECISION, "none"),
    Case("rtx4090 compile amp", COMPILE_FIXTURE, "rtx4090", "rtx4090", GPU_DTYPE, GPU_PRECISION, "compile"),
    Case("rtx3090 eager fp16 (uniform)", GPU_FIXTURE, "rtx3090", "rtx3090", GPU_DTYPE, "uniform", "none"),
    Case("rtx4090 eager fp16 (uniform)", GPU_FIXTURE, "rtx4090", "rtx4090", GPU_DTYPE, "uniform", "none"),
    *(case for run in CPU_RUNS for case in run.cases()),
    Case("Zen 3 VM (earlier), 1t, fp32", FIXTURES / "cpu_bench_epyc_zen3_vm_1t.csv", "epyc_zen3_vm_1t", CPU_PROFILE,
         "fp32", "uniform", "none", 1),
    Case("Zen 5 VM (earlier), 1t, fp32", FIXTURES / "cpu_bench_epyc_zen5_vm_1t.csv", "epyc_zen5_vm_1t",
         "epyc_zen5_vm", "fp32", "uniform", "none", 1),
]


def extra_profile(name: str) -> str:
    """The profile that scores the --extra files (``--hw``): the name as given, ``this-cpu`` as the key of the profile
    it detects. Raises :class:`HardwareError` (a ``ValueError``) for an unknown profile or an undetected CPU."""
    profile = load_profile(name)
    return profile.key if name.strip().lower() == THIS_CPU else name


def extra_case(text: str, profile: str) -> Case:
    """A CPU zoo file to score besides the committed ones (``--extra FILE[:THREADS]``): costmodel bench's CSV of one
    device, scored with ``profile`` (a shipped profile's name, or a YAML file; :func:`extra_profile`) on each model's
    fastest pass; THREADS defaults to the file's ``threads`` column (one value). Raises ``ValueError`` for a missing
    file, a file of several devices or thread counts, or a bad THREADS (and read_measurements' ``MeasurementError``
    for a malformed file)."""
    name, given = (text, "") if Path(text).is_file() else text.rpartition(":")[::2]
    path = Path(name)
    if not path.is_file():
        raise ValueError(f"--extra {text}: no such file")
    rows = read_measurements(path).rows
    devices = sorted({r.device or "" for r in rows})
    if len(devices) != 1 or not devices[0]:
        raise ValueError(f"--extra {text}: one device per file (its device column), found "
                         f"{', '.join(d or 'a row without one' for d in devices)}")
    counts = sorted({r.threads or 0 for r in rows})
    threads = (int(given) if given.isdigit() else 0) if given else counts[0] if len(counts) == 1 else 0
    if threads < 1:
        raise ValueError(f"--extra {text}: give the thread count as FILE:THREADS (the file's threads column has "
                         f"{', '.join(str(n) if n else 'none' for n in counts)})")
    return Case(f"{path.stem} ({threads}t)", path, devices[0], profile, "fp32", "uniform", "none", threads, "min")


def pass_times(fixture: Path, column: str) -> dict[str, float]:
    """Model -> seconds of one of its measured passes (a costmodel bench column in ms)."""
    with fixture.open(encoding="utf-8") as handle:
        return {r["model"]: float(r[column]) / 1e3
                for r in csv.DictReader(line for line in handle if not line.startswith("#"))}


def fastest(fixture: Path) -> dict[str, float]:
    """Model -> seconds of its fastest measured pass (infer_step_time_min)."""
    return pass_times(fixture, "infer_step_time_min")


def medians(fixture: Path) -> dict[str, float]:
    """Model -> seconds of its median measured pass (infer_step_time)."""
    return pass_times(fixture, "infer_step_time")

HEADER = (f"{'case':<34} {'models':>6} {'rho thpt':>9} {'rho 1/FLOPs':>12} {'rho eff':>8} {'median ratio':>13} "
          f"{'median |err|':>13} {'within 10%':>11} {'within 25%':>11}")


def line(label: str, f: Fidelity) -> str:
    lat = f.latency
    return (f"{label:<34} {f.models:>6} {f.rho_throughput:>9.3f} {f.flops_rho_throughput:>12.3f} "
            f"{f.rho_efficiency:>8.3f} {lat.median:>13.3f} {lat.median_error:>13.1%} {lat.within_10:>11.0%} "
            f"{lat.within_25:>11.0%}")


def shape_line(points: list[Point]) -> str:
    """The shape of the errors after one common scale (the median ratio), what a calibration's device scale leaves:
    the standard deviation of log(predicted / measured) and the share of models within +-10 % once scaled."""
    scaled = agreement({str(i): p.predicted_s for i, p in enumerate(points)},
                       {str(i): p.measured_s for i, p in enumerate(points)})
    spread = statistics.pstdev(math.log(p.ratio) for p in points)
    return (f"  after one common scale ({scaled.scale:.3f}): sd of log ratio {spread:.3f}, within 10% "
            f"{scaled.within_10:.0%}")


def latency_ratios(first: list[Point], second: list[Point]) -> list[tuple[float, float]]:
    """Per model in both lists, (predicted, measured) ratio of its latency in ``first`` to that in ``second``."""
    by_model = {p.label: p for p in second}
    return [(f.predicted_s / by_model[f.label].predicted_s, f.measured_s / by_model[f.label].measured_s)
            for f in first if f.label in by_model]


def speedup_line(label: str, eager: list[Point], compiled: list[Point]) -> str:
    """torch.compile's speed-up over eager per model (eager latency / compiled latency), predicted against measured,
    over the models in both lists: a check of how the runtimes differ (fusion, convolution layout) that does not
    depend on the profile's efficiency level, which cancels in the ratio."""
    logs = [math.log(p / m) for p, m in latency_ratios(eager, compiled)]
    middle, spread = math.exp(statistics.median(logs)), statistics.median(abs(x) for x in logs)
    return (f"{label:<34} {len(logs):>6}  compile/eager speed-up, predicted / measured: median {middle:.3f}, "
            f"median |log ratio| {spread:.3f}")


def devices_line(label: str, first: list[Point], second: list[Point]) -> str:
    """Per model in both tables, the model's error on the first device over its error on the second ((predicted /
    measured) / (predicted / measured)): where the two tables disagree beyond what the profiles' peaks and bandwidths
    say. A common level (the GPU, or the software stack, faster than its profile in everything) shifts every model
    alike; a spread says the disagreement is per model (docs/calibration.md, "Transfer")."""
    ratios = sorted(p / m for p, m in latency_ratios(first, second))
    quartiles = statistics.quantiles(ratios, n=4)
    return (f"{label:<34} {len(ratios):>6}  error on the first / error on the second, per model: median "
            f"{statistics.median(ratios):.3f}, quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f}")


def threads_line(label: str, one: list[Point], two: list[Point]) -> str:
    """The 2-thread speed-up per model (1-thread latency / 2-thread latency), predicted against measured, over the
    models in both lists: the threading terms alone (the 1-thread level, right or wrong, cancels in the ratio)."""
    pairs = latency_ratios(one, two)
    logs = [math.log(p / m) for p, m in pairs]
    spread = statistics.median(abs(x) for x in logs)
    return (f"{label:<34} {len(pairs):>6}  2-thread speed-up predicted {statistics.median(p for p, _ in pairs):.2f}x, "
            f"measured {statistics.median(m for _, m in pairs):.2f}x (medians); predicted / measured: median "
            f"{math.exp(statistics.median(logs)):.3f}, median |log ratio| {spread:.3f}")


def update_fixture(folder: Path) -> None:
    """Copy the rows the zoo needs from timm's benchmark CSVs into the fixtures (with a provenance header)."""
    models = spec_index()
    for fixture, sources in SOURCES.items():
        compiled = fixture == COMPILE_FIXTURE
        lines = [
            "# Measured inference throughput of the costmodel zoo, copied row for row from timm's published benchmark",
            "# tables (huggingface/pytorch-image-models, results/), kept here so the project does not need them:",
            *[f"#   {device}: {name}" for device, name in sources],
            f"# PyTorch {'torch.compile (Inductor, default mode)' if compiled else 'eager'}, AMP (fp16 autocast), "
            "NCHW, batch 1024; rows at 224 px.",
            "# Regenerate: python benchmarks/validate_latency.py --update-fixture DIR_WITH_THOSE_FILES",
        ]
        rows: list[dict[str, str]] = []
        for device, name in sources:
            with (folder / name).open(encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    if row["model"] in models and int(row["infer_img_size"]) == IMAGE_SIZE:
                        rows.append({"device": device, **row})
        with fixture.open("w", encoding="utf-8", newline="") as handle:
            handle.write("\n".join(lines) + "\n")
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {len(rows)} rows to {fixture.relative_to(ROOT)}")


def refit(bases: list[Basis], measured: list[float], base: HardwareProfile, train: list[int]) -> HardwareProfile:
    """``base`` with the factors fitted on the rows ``train``."""
    result = fit([bases[i] for i in train], [measured[i] for i in train], base)
    return with_parameters(base, {n: result.values[n] for n in result.fitted})


def fitted_values(device: str, result: Fit) -> str:
    """The factors a LODO transfer starts from: what the fit on all of one device's rows found (base in brackets)."""
    return ("  fitted on " + device + ": " + ", ".join(f"{n} {result.values[n]:.3f} ({result.parameters[n].base:.3f})"
                                                      for n in result.fitted))


def lodo_suffix(carry: Carry) -> str:
    """A LODO line's label after the devices: nothing for what `calibrate --apply-to` carries by default, else the
    --carry value."""
    return "" if carry is DEFAULT_CARRY else f" {carry}"


def with_predictions(plain: list[Point], predicted: list[float]) -> list[Point]:
    return [replace(p, predicted_s=s) for p, s in zip(plain, predicted, strict=True)]


def fitted_section(cases: dict[str, Case], with_cpu: bool = True) -> None:
    """In-sample and LOMO per GPU, LODO between the GPUs, CPU fitted on 10 models."""
    print(f"\n2. Fitted by costmodel calibrate's fit (prior toward the shipped profile)\n{HEADER}")
    state = {}
    for key in ("rtx3090 eager amp", "rtx4090 eager amp", "rtx4090 compile amp", *CPU_CASES):
        if key not in cases:
            continue
        case = cases[key]
        if not case.fixture.exists():
            continue
        rows, base = case.rows(), case.hw()
        measured = [m.measurement.latency_s for m in rows]
        bases = bases_of(rows, base, case.dtype, case.fusion, case.precision)
        plain = points(rows, base, case.dtype, case.fusion, case.precision)
        everyone = list(range(len(rows)))
        in_sample = predict(bases, refit(bases, measured, base, everyone))
        print(line(f"{key}, in-sample", fidelity(with_predictions(plain, list(in_sample)))))
        held_out = [float(predict([bases[i]], refit(bases, measured, base, [j for j in everyone if j != i]))[0])
                    for i in everyone]
        print(line(f"{key}, LOMO", fidelity(with_predictions(plain, held_out))))
        state[key] = (rows, base, measured, bases)
    for source, target in (("rtx3090 eager amp", "rtx4090 eager amp"), ("rtx4090 eager amp", "rtx3090 eager amp")):
        if source not in state or target not in state:
            continue
        rows, base, measured, bases = state[source]
        result = fit(bases, measured, base)
        print(fitted_values(source.split()[0], result))
        onto = cases[target]
        for carry in Carry:
            profile = fitted_profile(base, result, measurements=GPU_FIXTURE.name, sha256="0" * 64, devices=[source],
                                     dtype=GPU_DTYPE, fusion="none", onto=onto.hw(), carry=carry)
            print(line(f"LODO fit {source.split()[0]} -> {target.split()[0]}{lodo_suffix(carry)}",
                       fidelity(points(onto.rows(), profile, onto.dtype, onto.fusion, onto.precision))))
    for cpu in CPU_CASES:
        if cpu in state:
            few_shot(cases[cpu], *state[cpu])
    if with_cpu:
        reproducibility()


# runs only compared with others, never scored: the same models again minutes after the other day's run, the lead's
# first quiet pair and earlier runs of the session (the drift between sessions), and the earlier Zen 3 VM (one thread)
ZEN3_OTHER_DAY_REPEAT = CpuRun(ZEN3, "another day, second run", CPU_PROFILE,
                               {1: FIXTURES / "cpu_bench_epyc_zen3_vm_b_1t_0339.csv",
                                2: FIXTURES / "cpu_bench_epyc_zen3_vm_b_2t_0341.csv"},
                               {1: "3 Dec 03:39", 2: "3 Dec 03:41"})
ZEN3_QUIET = CpuRun(ZEN3, "first quiet run", CPU_PROFILE, CPU_QUIET, {1: "2 Dec 18:19", 2: "2 Dec 18:22"})
ZEN3_EARLIER = CpuRun(ZEN3, "earlier", CPU_PROFILE, CPU_EARLIER, {1: "2 Dec 11:56", 2: "2 Dec 14:01"})
EARLIER_ZEN3 = CpuRun("the earlier Zen 3 VM", FIRST_RUN, CPU_PROFILE, {1: FIXTURES / "cpu_bench_epyc_zen3_vm_1t.csv"},
                      {1: "an earlier session"})
XEON_NOISY_SECOND = CpuRun(XEON, "noisy hour, second run", XEON_PROFILE, XEON_NOISY_REPEAT, {1: "3 Dec 17:59"})
XEON_EVENING_SECOND = CpuRun(XEON, "evening, second run", XEON_PROFILE, XEON_EVENING_REPEAT,
                             {1: "3 Dec 20:45", 2: "3 Dec 20:44"})
REPEATED = (  # (run, reference run): the same models measured twice, compared at each thread count both have
    (XEON_REPEAT_RUN, XEON_RUN), (XEON_NOISY_SECOND, XEON_NOISY), (XEON_AFTERNOON, XEON_RUN),
    (XEON_NOISY, XEON_RUN), (XEON_EVENING_SECOND, XEON_EVENING), (XEON_STEADY, XEON_EVENING),
    (XEON_LATE_SECOND, XEON_LATE),
    (ZEN3_REPEAT, ZEN3_RUN), (ZEN3_OTHER_DAY_REPEAT, ZEN3_OTHER_DAY),
    (ZEN3_OTHER_DAY, ZEN3_RUN),  # the next day against the scored day (its ConvNeXt-T/S were timed on their 1x1 form)
    (ZEN3_QUIET, ZEN3_RUN), (ZEN3_EARLIER, ZEN3_RUN),  # the drift between sessions (the scale: the change of level)
    (EARLIER_ZEN3, ZEN3_RUN),
)


def repeated_lines() -> list[tuple[str, Path, Path]]:
    """(label, file, reference file) of each :data:`REPEATED` pair at each thread count both runs have; the label
    names the machine(s), the thread count and when each run started."""
    out = []
    for run, reference in REPEATED:
        machines = run.machine if run.machine == reference.machine else f"{run.machine} vs {reference.machine}"
        for n in sorted(run.files.keys() & reference.files.keys()):
            out.append((f"{machines}, {n} thread{'s' if n > 1 else ''}, {run.started[n]} vs {reference.started[n]} UTC",
                        run.files[n], reference.files[n]))
    return out


@dataclass(frozen=True)
class Agreement:
    """How two measurements of the same models agree after one common scale (their median ratio); the ratios are
    first / second, the second file in the place of the measurement a prediction is scored against."""

    models: int
    scale: float  # median over the models of first / second
    within_10: float  # share of models whose scaled ratio is within +-10 % of 1
    median_difference: float  # median |scaled ratio - 1|
    ceiling_10: float  # share within +-10 % that a perfect model could reach against one of the two files


def agreement(first: dict[str, float], second: dict[str, float]) -> Agreement:
    """Compare two files' latencies (model -> seconds) over their common models. ``ceiling_10``: if each file's
    log latency carries independent noise of one spread sigma, the scaled log ratio has sigma * sqrt(2), estimated
    robustly as 1.4826 x its median absolute value; an exact model's error against one file then has spread
    sigma, and this is the Gaussian share of it within +-10 %. No fit reaches more of one file than that."""
    common = sorted(set(first) & set(second))
    if not common:
        raise ValueError("no model in both measurements")
    ratios = [first[m] / second[m] for m in common]
    scale = statistics.median(ratios)
    scaled = [r / scale for r in ratios]
    sigma = 1.4826 * statistics.median(abs(math.log(r)) for r in scaled) / math.sqrt(2)
    if sigma == 0:
        ceiling = 1.0
    else:
        cdf = statistics.NormalDist(0.0, sigma).cdf
        ceiling = cdf(math.log(1.1)) - cdf(math.log(0.9))
    return Agreement(len(common), scale, sum(abs(r - 1) <= 0.10 for r in scaled) / len(scaled),
                     statistics.median(abs(r - 1) for r in scaled), ceiling)


def reproducibility() -> None:
    """How far two measurements of the same models on the same CPU agree (fastest and median passes, after one
    common scale): a model cannot be within +-10 % of one of them for many more models than the two agree on, so
    this bounds what any fit can reach on these fixtures (``ceiling``: :func:`agreement`)."""
    print("  reproducibility (the same models measured twice, after one common scale):")
    for label, *paths in repeated_lines():
        if not all(path.exists() for path in paths):
            continue
        for statistic, read in (("fastest", fastest), ("median", medians)):
            a = agreement(read(paths[0]), read(paths[1]))
            print(f"    {label}, {statistic} pass: {a.models} models, scale {a.scale:.3f}, within +-10 % "
                  f"{a.within_10:.0%}, median |difference| {a.median_difference:.1%}; ceiling for one file "
                  f"{a.ceiling_10:.0%}")


def few_shot(case: Case, rows: list[Matched], base: HardwareProfile, measured: list[float],
             bases: list[Basis]) -> None:
    """The workflow of docs/calibration.md: bench FEW_SHOT models, calibrate, predict the others. Over
    FEW_SHOT_DRAWS random draws of the FEW_SHOT models: the fit's in-sample error and its leave-one-out error over
    the FEW_SHOT (what costmodel calibrate prints) next to the error on the models it did not see, the shipped
    profile's error on those same models, and the share of them within +-10 %."""
    print(f"  {case.label}: calibrated on {FEW_SHOT} models, scored on the other {len(rows) - FEW_SHOT} "
          f"({FEW_SHOT_DRAWS} random draws)")
    print(f"  {'draw':>6} {'in-sample':>10} {'LOO':>6} {'others':>8} {'shipped':>8} {'within 10%':>11} "
          f"{'within 25%':>11}  {'warnings':<8}  design")
    shares = []
    for draw in range(FEW_SHOT_DRAWS):
        order = list(range(len(rows)))
        random.Random(draw).shuffle(order)
        train, test = sorted(order[:FEW_SHOT]), sorted(order[FEW_SHOT:])
        result, loo, _ = calibrated([bases[i] for i in train], [measured[i] for i in train], base)
        assert loo is not None  # FEW_SHOT rows: 3 or more
        profile = with_parameters(pinned(base), {n: result.values[n] for n in result.fitted})
        held = predict([bases[i] for i in test], profile)
        shipped = predict([bases[i] for i in test], base)
        errors = [abs(p / measured[i] - 1) for p, i in zip(held, test, strict=True)]
        in_sample = statistics.median(abs(p / m - 1) for p, m in zip(result.predicted_s, result.measured_s,
                                                                      strict=True))
        loo_error = statistics.median(abs(p / measured[i] - 1) for p, i in zip(loo, train, strict=True))
        within = sum(e <= 0.10 for e in errors) / len(errors)
        shares.append(within)
        print(f"  {draw:>6} {in_sample:>10.1%} {loo_error:>6.1%} {statistics.median(errors):>8.1%} "
              f"{statistics.median(abs(p / measured[i] - 1) for p, i in zip(shipped, test, strict=True)):>8.1%} "
              f"{within:>11.0%} {sum(e <= 0.25 for e in errors) / len(errors):>11.0%}  "
              f"{len(identifiability_warnings(result)):<8}  {' + '.join(result.fitted)}")
    print(f"  median share of the other models within +-10 %: {statistics.median(shares):.0%}")
    names = [m.measurement.model for m in rows]
    train = sorted(names.index(n) for n in FEW_SHOT_SET if n in names)
    if len(train) == FEW_SHOT:
        test = [i for i in range(len(rows)) if i not in train]
        result, _, _ = calibrated([bases[i] for i in train], [measured[i] for i in train], base)
        profile = with_parameters(pinned(base), {n: result.values[n] for n in result.fitted})
        errors = [abs(p / measured[i] - 1) for p, i in zip(predict([bases[i] for i in test], profile), test,
                                                           strict=True)]
        print(f"  the recommended {FEW_SHOT} (docs/calibration.md), scored on the other {len(test)}: median |error| "
              f"{statistics.median(errors):.1%}, within +-10 % {sum(e <= 0.10 for e in errors) / len(errors):.0%}, "
              f"within +-25 % {sum(e <= 0.25 for e in errors) / len(errors):.0%}")


def space_section() -> None:
    """Rank correlation over the design space: costmodel vs MACs alone, against each CPU's measurements."""
    print(f"\n3. Design space: {SPACE_COUNT} MobileNetV3-like subnets (k 3/5/7, e 3/4/6, depth 2-4, 160-224 px), "
          "batch 1, one thread, ranked by the fastest pass")
    with tempfile.TemporaryDirectory() as folder:
        design_space.write(Path(folder), SPACE_COUNT, SPACE_SEED)
        index = spec_index([Path(folder)])
        for label, fixture, name in SPACES:
            if not fixture.exists():
                print(f"  {label}: no measurements ({fixture.name} missing)")
                continue
            rows, skipped = match(read_measurements(fixture).rows, index)
            assert not skipped, skipped
            best = fastest(fixture)
            profile = threaded(load_profile(name), 1)
            measured, predicted, macs = [], [], []
            for m in rows:
                graph = load_graph(m.spec, batch=m.measurement.batch)
                measured.append(best[m.measurement.model])
                predicted.append(estimate(graph, profile, dtype="fp32").summary.latency_s)
                macs.append(sum(layer.cost.macs for layer in graph.layers))
            ratios = sorted(p / m for p, m in zip(predicted, measured, strict=True))
            print(f"  {label} ({name}, {len(rows)} subnets): Spearman vs measured latency: costmodel "
                  f"{spearmanr(predicted, measured)[0]:.3f}, MACs alone {spearmanr(macs, measured)[0]:.3f}; "
                  f"median ratio {ratios[len(ratios) // 2]:.3f}")
            names = [m.measurement.model for m in rows]
            times = dict(zip(names, measured, strict=True))
            shapes = [(what, agreement(dict(zip(names, estimates, strict=True)), times))
                      for what, estimates in (("costmodel", predicted), ("MACs", macs))]
            print("    after one common scale (the level dropped, the shape across subnets kept): " + "; ".join(
                f"{what} median |error| {a.median_difference:.1%}, within +-10 % {a.within_10:.0%}"
                for what, a in shapes))


WIDE_CASES = (("rtx3090", "rtx3090 eager amp", "rtx3090", "none"), ("rtx4090", "rtx4090 eager amp", "rtx4090", "none"),
              ("rtx4090 compile", "rtx4090 compile amp", "rtx4090", "compile"))
FOLDS = 10


PARAMS_TOLERANCE = 0.02  # a row whose param_count or activations differ more from the spec's measured another network


def layer_signatures(graph: Graph) -> Counter[tuple[object, ...]]:
    """Each layer as what it runs: op, attributes, input and output shapes (not its name or where its inputs come
    from), counted."""
    return Counter((layer.op, repr(layer.attrs), tuple(tuple(graph.shape(ref)) for ref in layer.inputs),
                    tuple(tuple(shape) for shape in layer.cost.outputs)) for layer in graph.layers)


def contains(big: Graph, small: Graph) -> bool:
    """Whether ``big`` runs every layer ``small`` runs (the same op on the same shapes, as often) and more."""
    outer, inner = layer_signatures(big), layer_signatures(small)
    return outer.total() > inner.total() and all(outer[key] >= count for key, count in inner.items())


def contradicted(rows: list[Matched], others: list[tuple[Measurement, Graph]] = ()) -> dict[str, str]:
    """Model -> why its row contradicts its table: a network measured in the same table, at the same batch and image
    size, contains it (:func:`contains`) and ran faster by over CONSISTENCY_MARGIN. ``rows`` (one table) are checked
    against each other and against ``others`` (rows of networks that are not specs of their own, with graphs)."""
    built = [(m.measurement, Matched(replace(m.measurement, batch=1), m.spec).graph()) for m in rows]  # shapes
    out: dict[str, str] = {}
    for row, graph in built:
        for other, big in [*built, *others]:
            if (other.model == row.model or (other.batch, other.image_size) != (row.batch, row.image_size)
                    or other.latency_s >= row.latency_s * (1 - CONSISTENCY_MARGIN)):
                continue
            if contains(big, graph):  # both built at batch 1: containment does not depend on the batch
                out[row.model] = (f"{row.model} ({row.throughput:,.0f}/s) slower than {other.model} "
                                  f"({other.throughput:,.0f}/s), which runs every layer it runs and more")
                break
    return out


@functools.cache
def spec_counts(spec: Path) -> tuple[int, float, float]:
    """A cached spec's input image size, its params and its ``gemm_outputs`` (millions, batch 1): read once however
    many tables and rows name it (:func:`wide_rows`)."""
    from costmodel.spec import load_spec

    size = next(iter(load_spec(spec).inputs.values()))[-1]
    layers = load_graph(spec, batch=1).layers
    return (size, sum(layer.cost.params for layer in layers) / 1e6,
            sum(layer.cost.gemm_outputs for layer in layers) / 1e6)


def wide_rows(table: str | Path, specs: dict[str, Path], dropped: list[str] | None = None) -> list[Matched]:
    """Rows of a timm table for the cached specs, at the spec's own image size (one row per model: the largest
    batch). ``table``: a key of the shared tables (``wide_set.TABLES``) or the path of a timm table (section 6's
    fixtures; ``#`` lines skipped, as :func:`read_measurements` skips them). A row whose ``param_count``, or whose
    ``infer_macts`` (fvcore's count of conv / linear / matmul outputs, the spec's ``gemm_outputs``), disagrees with
    the spec's by over 2 % is dropped, its model named in ``dropped``: it measured another form of the network (the
    RTX 3090 table times re-parameterisable models such as MobileOne, and FastViT, whose parameter count barely
    moves, in their training form; the specs are the deployed form). So is a row that its table contradicts
    (:func:`contradicted`)."""
    source = table if isinstance(table, Path) else wide_set.REFERENCE / wide_set.TABLES[table]
    best: dict[str, Matched] = {}
    for row in read_measurements(source).rows:
        path = specs.get(row.model)
        if path is None:
            continue
        if row.image_size not in (None, spec_counts(path)[0]):
            continue
        if row.model not in best or row.batch > best[row.model].measurement.batch:
            best[row.model] = Matched(row, path)
    kept = []
    for m in best.values():
        published = m.measurement.param_count_m
        _, params, acts = spec_counts(m.spec)
        if published is not None and abs(params / published - 1) > PARAMS_TOLERANCE:
            if dropped is not None:
                dropped.append(f"{m.measurement.model} ({published:g} M in the table, {params:.2f} M in the spec)")
            continue
        row = m.measurement
        counted = row.activations_m
        if counted and abs(acts / counted - 1) > PARAMS_TOLERANCE:
            if dropped is not None:
                dropped.append(f"{row.model} ({counted:g} M activations in the table, {acts:.2f} M in the spec)")
            continue
        kept.append(m)
    bad = contradicted(kept)  # a row slower than a network of the same table that contains it
    if dropped is not None:
        dropped.extend(bad.values())
    return [m for m in kept if m.measurement.model not in bad]


def kfold(bases: list[Basis], measured: list[float], base: HardwareProfile) -> list[float]:
    """Each row predicted by a fit on the other folds (FOLDS folds, rows dealt round-robin in a fixed shuffle)."""
    order = list(range(len(bases)))
    random.Random(0).shuffle(order)
    out = [0.0] * len(bases)
    for fold in range(FOLDS):
        test = order[fold::FOLDS]
        train = [i for i in order if i not in test]
        if not test:
            continue
        profile = refit(bases, measured, base, train)
        for i, value in zip(test, predict([bases[i] for i in test], profile), strict=True):
            out[i] = float(value)
    return out


def wide_section(show_models: bool) -> None:
    """Section 4: the shared tables' models with a cached imported spec."""
    specs = wide_set.cached_specs()
    print(f"\n4. Wide set: timm's shared tables, models with a cached imported spec ({len(specs)} of "
          f"{len(wide_set.table_models())} in both eager tables; {wide_set.cache_dir()})")
    if not specs:
        print("  no cached specs: run benchmarks/wide_set.py --generate first")
        return
    print(HEADER)
    state = {}
    for table, label, profile_name, fusion in WIDE_CASES:
        dropped: list[str] = []
        rows = wide_rows(table, specs, dropped)
        base = load_profile(profile_name)
        plain = points(rows, base, GPU_DTYPE, fusion, GPU_PRECISION)
        print(line(f"{label}, shipped", fidelity(plain)))
        measured = [m.measurement.latency_s for m in rows]
        bases = bases_of(rows, base, GPU_DTYPE, fusion, GPU_PRECISION)
        print(line(f"{label}, {FOLDS}-fold", fidelity(with_predictions(plain, kfold(bases, measured, base)))))
        state[table] = (rows, base, measured, bases, plain)
        if table == "rtx4090":
            print(devices_line("rtx3090 vs rtx4090 eager", state["rtx3090"][4], plain))
        if table == "rtx4090 compile":
            print(speedup_line("rtx4090 compile vs eager", state["rtx4090"][4], plain))
        if dropped:
            print(f"  {table}: dropped (param count or activations differ: another form of the network; or slower than "
                  "a network that contains it): "
                  f"{', '.join(dropped)}")
        if show_models:
            print("\n".join(table_lines(plain, fidelity(plain).flops_scale)))
    for source, target in (("rtx3090", "rtx4090"), ("rtx4090", "rtx3090")):
        rows, base, measured, bases, _ = state[source]
        result = fit(bases, measured, base)
        print(fitted_values(source, result))
        onto_rows, onto, _, onto_bases, onto_plain = state[target]
        for carry in Carry:
            profile = fitted_profile(base, result, measurements=wide_set.TABLES[source], sha256="0" * 64,
                                     devices=[source], dtype=GPU_DTYPE, fusion="none", onto=onto, carry=carry)
            predicted = [float(s) for s in predict(onto_bases, profile)]  # the basis re-prices: no estimate per row
            print(line(f"LODO fit {source} -> {target}{lodo_suffix(carry)}",
                       fidelity(with_predictions(onto_plain, predicted))))


TIMM_TABLES_DIR = FIXTURES / "timm_tables"
TIMM_SOURCE = "# source: "  # the first line of each fixture: huggingface/pytorch-image-models@COMMIT:results/FILE


@dataclass(frozen=True)
class TimmTable:
    """One of timm's published inference tables beyond the shared ones (section 6): its fixture (named as the file
    in timm's results/ folder), the shipped profile of the device that ran it, and what it ran (dtype, precision,
    fusion: timm's "amp" is torch.autocast fp16, "amp_bf16" autocast bf16, "bf16" the model cast to bf16; "-dynamo"
    torch.compile)."""

    label: str
    file: str
    profile: str
    dtype: str = GPU_DTYPE
    precision: str = GPU_PRECISION
    fusion: str = "none"

    @property
    def path(self) -> Path:
        return TIMM_TABLES_DIR / self.file


TIMM_TABLES = (  # NCHW only (timm's NHWC tables time another memory format); every one scored, none fitted to
    TimmTable("rtx5090 pt2.9.1 eager amp", "benchmark-infer-amp-nchw-pt291-cu130-5090.csv", "rtx5090"),
    TimmTable("rtx5090 pt2.9.1 compile amp", "benchmark-infer-amp-nchw-pt291-cu130-5090-dynamo.csv", "rtx5090",
              fusion="compile"),
    TimmTable("pro6000mq pt2.9.1 eager amp", "benchmark-infer-amp-nchw-pt291-cu130-pro6000maxq.csv",
              "rtx_pro_6000_maxq"),
    TimmTable("pro6000mq pt2.9.1 compile amp", "benchmark-infer-amp-nchw-pt291-cu130-pro6000maxq-dynamo.csv",
              "rtx_pro_6000_maxq", fusion="compile"),
    TimmTable("pro6000mq pt2.9.1 compile amp-bf16", "benchmark-infer-amp_bf16-nchw-pt291-cu130-pro6000maxq-dynamo.csv",
              "rtx_pro_6000_maxq", dtype="bf16", fusion="compile"),
    TimmTable("pro6000mq pt2.9.1 compile bf16", "benchmark-infer-bf16-nchw-pt291-cu130-pro6000maxq-dynamo.csv",
              "rtx_pro_6000_maxq", dtype="bf16", precision="uniform", fusion="compile"),
    TimmTable("rtx4090 pt2.4 eager amp", "benchmark-infer-amp-nchw-pt240-cu124-rtx4090.csv", "rtx4090"),
    TimmTable("rtx4090 pt2.4 compile amp", "benchmark-infer-amp-nchw-pt240-cu124-rtx4090-dynamo.csv", "rtx4090",
              fusion="compile"),
    TimmTable("rtx3090 pt2.1 eager amp", "benchmark-infer-amp-nchw-pt210-cu121-rtx3090.csv", "rtx3090"),
    TimmTable("rtx3090 pt1.13 eager amp", "benchmark-infer-amp-nchw-pt113-cu117-rtx3090.csv", "rtx3090"),
)


def timm_source(path: Path) -> str:
    """The source a section-6 fixture names on its first line (repo@commit:path); none is a MeasurementError."""
    with path.open(encoding="utf-8") as handle:
        first = handle.readline().rstrip("\n")
    if not first.startswith(TIMM_SOURCE):
        raise MeasurementError(f"the first line must name the source ('{TIMM_SOURCE}REPO@COMMIT:PATH')", file=str(path))
    return first.removeprefix(TIMM_SOURCE)


def timm_tables_section(show_models: bool) -> None:
    """Section 6: timm's other published tables (tests/fixtures/timm_tables), the wide set's cached specs, the
    shipped profiles: devices and software versions the profiles' GPU work never scored against."""
    specs = wide_set.cached_specs()
    print(f"\n6. timm's other published tables ({TIMM_TABLES_DIR.relative_to(ROOT)}), models with a cached imported "
          f"spec ({len(specs)}; {wide_set.cache_dir()}), shipped profiles, no fitting")
    if not specs:
        print("  no cached specs: run benchmarks/wide_set.py --generate first")
        return
    print(HEADER)
    for table in TIMM_TABLES:
        dropped: list[str] = []
        rows = wide_rows(table.path, specs, dropped)
        plain = points(rows, load_profile(table.profile), table.dtype, table.fusion, table.precision)
        print(line(table.label, fidelity(plain)))
        print(f"  {table.profile}, --dtype {table.dtype} --precision {table.precision} --fusion {table.fusion}; "
              f"{timm_source(table.path)}")
        if dropped:
            print(f"  dropped (param count or activations differ: another form of the network; or slower than a "
                  f"network that contains it): {', '.join(dropped)}")
        if show_models:
            print("\n".join(table_lines(plain, fidelity(plain).flops_scale)))
    print("ratio = predicted / measured latency (> 1: the model predicts slower than measured)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", action="store_true", help="print the per-model tables")
    parser.add_argument("--skip-fits", action="store_true", help="only the shipped-profile section")
    parser.add_argument("--wide", action="store_true", help="also score every cached imported spec of the shared "
                        "tables (benchmarks/wide_set.py)")
    parser.add_argument("--cpu", action="store_true", help="only this machine's CPU in sections 1 and 2 (no GPU "
                        "tables: minutes instead of tens of minutes)")
    parser.add_argument("--gpu", action="store_true", help="only the GPU tables in sections 1 and 2, no CPU few-shot, "
                        "reproducibility or design-space lines (with --wide: and section 4)")
    parser.add_argument("--published", action="store_true", help="only section 5, NVIDIA's published V100/T4/A100 "
                        "tables (benchmarks/published_gpu.py; add --models for every row)")
    parser.add_argument("--timm-tables", action="store_true", help="only section 6, timm's other published tables "
                        "(RTX 5090, RTX PRO 6000 Max-Q, RTX 4090 PT 2.4, RTX 3090 PT 2.1 / 1.13) on the cached wide-set"
                        " specs (also run by --wide; add --models for every row)")
    parser.add_argument("--update-fixture", type=Path, metavar="DIR", help="copy rows from timm's CSVs in DIR")
    parser.add_argument("--extra", action="append", default=[], metavar="FILE[:THREADS]",
                        help="also score this costmodel bench CSV of a CPU in section 1 (the --hw profile, fastest "
                        "pass; THREADS defaults to the file's threads column; repeatable: the i-th 1-thread file and "
                        "the i-th 2-thread file give a speed-up line)")
    parser.add_argument("--hw", default=THIS_CPU, metavar="PROFILE",
                        help=f"the profile that scores the --extra files (default {THIS_CPU}: the shipped profile "
                        "whose cpu.detect matches this machine; a name or a YAML file)")
    args = parser.parse_args()
    if args.update_fixture:
        update_fixture(args.update_fixture)
        return
    if args.cpu and args.gpu:
        parser.error("--cpu and --gpu exclude each other")
    if args.published:
        published_section(args.models)
        return
    if args.timm_tables:
        timm_tables_section(args.models)
        return
    try:
        profile = extra_profile(args.hw) if args.extra else ""
        extras = [extra_case(text, profile) for text in args.extra]
    except (ValueError, MeasurementError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    chosen = ([c for c in CASES if c.label in CPU_CASES] if args.cpu
              else [c for c in CASES if c.device.startswith("rtx")] if args.gpu else CASES)
    chosen = [*chosen, *extras]
    cases = {c.label: c for c in chosen}
    print(f"1. Shipped profiles, no fitting\n{HEADER}")
    if extras:
        print(f"  (the --extra files: profile {extras[0].profile}, --hw {args.hw})")
    results = {}
    for case in chosen:
        if not case.fixture.exists():
            print(f"{case.label:<34} (no measurements: {case.fixture.name} missing)")
            continue
        results[case.label] = points(case.rows(), case.hw(), case.dtype, case.fusion, case.precision)
        print(line(case.label, fidelity(results[case.label])))
        if case.fusion == "none" and case.dtype == "fp32":  # the CPU cases: what a device scale cannot absorb
            print(shape_line(results[case.label]))
        if case.contradicted():
            print(f"  dropped (contradicted by its own table): {'; '.join(case.contradicted().values())}")
    if {"rtx4090 eager amp", "rtx4090 compile amp"} <= set(results):
        print(speedup_line("rtx4090 compile vs eager", results["rtx4090 eager amp"], results["rtx4090 compile amp"]))
    if {"rtx3090 eager amp", "rtx4090 eager amp"} <= set(results):
        print(devices_line("rtx3090 vs rtx4090 eager", results["rtx3090 eager amp"], results["rtx4090 eager amp"]))
    pairs = {run.threads_label: run.labels for run in CPU_RUNS if len(run.files) == 2}
    for one, two in zip([c for c in extras if c.threads == 1], [c for c in extras if c.threads == 2], strict=False):
        pairs[f"{two.fixture.stem} vs {one.fixture.stem}"] = (one.label, two.label)
    for label, (one, two) in pairs.items():
        if {one, two} <= set(results):
            print(threads_line(label, results[one], results[two]))
    print("ratio = predicted / measured latency (> 1: the model predicts slower than measured)")
    if args.models:
        for label, pts in results.items():
            print(f"\n{label}")
            print("\n".join(table_lines(pts, fidelity(pts).flops_scale)))
    if not args.skip_fits:
        fitted_section(cases, with_cpu=not args.gpu)
    if not args.gpu:
        space_section()
    if args.wide:
        wide_section(args.models)
    if not args.cpu:
        published_section(args.models)
    if args.wide and not args.cpu:
        timm_tables_section(args.models)


def published_section(rows: bool) -> None:
    """Section 5: NVIDIA's published inference tables, shipped profiles (benchmarks/published_gpu.py)."""
    print("\n5. " + "\n".join(published_gpu.report(rows)))


if __name__ == "__main__":
    main()
