"""Out-of-sample check on GPUs the project never fitted to: NVIDIA's published PyTorch inference tables.

Run: python benchmarks/published_gpu.py [--rows]          (validate_latency.py --published calls it)
Refresh the fixture from a clone of NVIDIA/DeepLearningExamples:
    python benchmarks/published_gpu.py --update-fixture GIT_DIR

The fixture (tests/fixtures/published_gpu_inference.csv, columns in FIXTURE_COLUMNS, described in
docs/latency-model.md, "Published GPU tables") holds the rows of the "Inference performance results" tables of
PyTorch/Classification/ConvNets/{resnet50v1.5,resnext101-32x4d,se-resnext101-32x4d,efficientnet}/README.md: V100 16GB
(DGX-1), T4 and A100 80GB (DGX A100), FP32 / TF32 / AMP, batch 1 to 256, NGC container pytorch-21.03. Every number is
copied from the README; the memory format comes from the configs.yml the tables were run with and the launcher from the
README's command or the inference script it names.

Scoring: the shipped profiles (v100, t4, a100_80gb), nothing fitted, eager PyTorch (--fusion none): FP32 as fp32
(uniform), TF32 as tf32 (uniform: NVIDIA's TF32 mode is PyTorch's default on Ampere, torch.backends.cudnn.allow_tf32
True; the README's "Enabling TF32" says so), AMP as --dtype fp16 --precision amp; an AMP row run channels-last
(configs.yml's memory_format: nhwc) is priced without the NCHW <-> NHWC transposes eager NCHW pays (the layout term
zeroed: cuDNN runs NHWC natively), and with every depthwise conv on cuDNN (PyTorch sends a channels-last one there:
none pays the issue-rate price of its own NCHW kernel, costmodel/latency/depthwise.py).
Measured latency per batch = batch / "Throughput Avg" (the mean of per-iteration
images/s: NVIDIA's "Latency Avg" is the mean of per-iteration times and carries outliers: in many rows it exceeds the
95th percentile; both are in the fixture).
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import statistics
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from costmodel.api import load_graph
from costmodel.graph import Graph
from costmodel.hardware import HardwareProfile, load_profile
from costmodel.latency import estimate
from costmodel.latency.model import KernelTerms, kernel_busy, kernel_terms, model_seconds
from costmodel.latency.roofline import host_overhead
from costmodel.vocab import EfficiencyClass

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests/fixtures/published_gpu_inference.csv"
SPECS = ROOT / "benchmarks/published_specs"
REPO = "NVIDIA/DeepLearningExamples"
CONVNETS = "PyTorch/Classification/ConvNets"
# the commit whose READMEs hold the tables (the last to touch them; the tables were last updated in 7bdfc81, 2021-04-20)
README_COMMIT = "5843f4e5a1220dd98936e477d8597d8a77320666"
# the configs.yml and scripts the tables were run with: the commit that updated the performance numbers
CONFIG_COMMIT = "7bdfc81d258746323bf0d3ca57e0ad302a4c3a74"
READMES = ("resnet50v1.5", "resnext101-32x4d", "se-resnext101-32x4d", "efficientnet")
FIXTURE_COLUMNS = ("device", "model", "precision", "batch", "image_size", "throughput_img_s", "latency_avg_ms",
                   "latency_p95_ms", "latency_p99_ms", "software", "memory_format", "launch", "source")

# README heading -> (fixture device, configs.yml platform for the resnets, for efficientnet)
DEVICES = {
    "NVIDIA DGX-1 (1x V100 16GB)": ("V100-SXM2-16GB (DGX-1)", "DGX1V", "DGX1V-16G"),
    "NVIDIA V100 (1x V100 16GB)": ("V100-SXM2-16GB (DGX-1)", "DGX1V", "DGX1V-16G"),
    "NVIDIA T4": ("T4", "T4", "T4"),
    "NVIDIA A100 (1x A100 80GB)": ("A100-SXM4-80GB (DGX A100)", "DGXA100", "DGXA100"),
}
PRECISIONS = {"FP32": "FP32", "TF32": "TF32", "Mixed Precision": "AMP"}
IMAGE_SIZES = {"efficientnet-b4": 380, "efficientnet-widese-b4": 380}  # configs.yml image_size; the rest 224

# scoring: fixture device -> shipped profile; model -> spec; precision -> (dtype, precision policy)
PROFILES = {"V100-SXM2-16GB (DGX-1)": "v100", "T4": "t4", "A100-SXM4-80GB (DGX A100)": "a100_80gb"}
MODEL_SPECS = {
    "resnet50": "resnet50",  # the zoo's: torchvision's v1.5 (stride on the 3x3), as NVIDIA's resnet50
    "resnext101-32x4d": str(SPECS / "nvidia_resnext101_32x4d.yaml"),
    "se-resnext101-32x4d": str(SPECS / "nvidia_se_resnext101_32x4d.yaml"),
    "efficientnet-b0": "efficientnet_b0",
    "efficientnet-b4": str(SPECS / "nvidia_efficientnet_b4.yaml"),
    "efficientnet-widese-b0": str(SPECS / "nvidia_efficientnet_widese_b0.yaml"),
    "efficientnet-widese-b4": str(SPECS / "nvidia_efficientnet_widese_b4.yaml"),
}
SETTINGS = {"FP32": ("fp32", "uniform"), "TF32": ("tf32", "uniform"), "AMP": ("fp16", "amp")}
REGIMES = (("batch 1", 1, 1), ("batch 2-16", 2, 16), ("batch 32-256", 32, 256))


# ---------------------------------------------------------------------------------------------------- the fixture


def git_show(git_dir: Path, commit: str, path: str) -> str:
    return subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"], check=True,
                          capture_output=True, text=True).stdout


def number(cell: str) -> str:
    """The number in a table cell (``1261 img/s`` -> ``1261``, ``10.37 ms`` -> ``10.37``), as written."""
    found = re.search(r"[0-9]+(?:\.[0-9]+)?", cell)
    if found is None:
        raise ValueError(f"no number in {cell!r}")
    return found.group(0)


def readme_rows(text: str, readme: str) -> Iterable[dict[str, str]]:
    """Every row of the README's inference latency tables, with the heading it sits under."""
    section = device = precision = software = ""
    path = f"{CONVNETS}/{readme}/README.md"
    for line in text.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip()
            level = len(line) - len(line.lstrip("#"))
            if level <= 4:
                section = title
            if title.startswith("Inference performance: "):
                device = title.removeprefix("Inference performance: ")
            heading = re.match(r"(FP32|TF32|Mixed Precision) Inference Latency", title)
            precision = PRECISIONS[heading.group(1)] if heading else precision if level == 6 else ""
            continue
        found = re.search(r"[Pp]y[Tt]orch[- ](\d\d\.\d\d) NGC container", line)
        if found and section == "Inference performance results":
            software = f"NGC pytorch-{found.group(1)}"
        if section != "Inference performance results" or not precision or not line.startswith("|"):
            continue
        cells = [c.strip().strip("*").strip() for c in line.strip().strip("|").split("|")]
        if not cells[-1] or cells[-1].startswith(":") or cells[-1].startswith("Latency"):
            continue
        model = cells.pop(0) if len(cells) == 6 else "resnet50" if readme == "resnet50v1.5" else readme
        batch, throughput, avg, p95, p99 = cells
        yield {"device": device, "model": model, "precision": precision, "batch": batch,
               "image_size": str(IMAGE_SIZES.get(model, 224)), "throughput_img_s": number(throughput),
               "latency_avg_ms": number(avg), "latency_p95_ms": number(p95), "latency_p99_ms": number(p99),
               "software": software,
               "source": f"{REPO}@{README_COMMIT}:{path}#Inference performance: {device}"}


def extract(git_dir: Path) -> list[dict[str, str]]:
    """The fixture's rows from a git clone of NVIDIA/DeepLearningExamples (--git-dir)."""
    configs = yaml.safe_load(git_show(git_dir, CONFIG_COMMIT, f"{CONVNETS}/configs.yml"))
    tree = set(subprocess.run(["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", CONFIG_COMMIT,
                               f"{CONVNETS}/efficientnet/inference"], check=True, capture_output=True,
                              text=True).stdout.split())
    out = []
    for readme in READMES:
        for row in readme_rows(git_show(git_dir, README_COMMIT, f"{CONVNETS}/{readme}/README.md"), readme):
            name, resnet_platform, effnet_platform = DEVICES[row["device"]]
            platform = effnet_platform if row["model"].startswith("efficientnet") else resnet_platform
            config = configs["models"][row["model"]][platform]
            config = config.get(row["precision"]) or config.get("FP32" if row["precision"] == "TF32" else "")
            fmt = config.get("memory_format", "nchw") if config else ""
            precision = row["precision"]
            script = f"{CONVNETS}/efficientnet/inference/{precision}/{platform}_{row['model']}_{precision}.sh"
            launch = "launch.py, 1 process (README command)"
            if script in tree:
                text = git_show(git_dir, CONFIG_COMMIT, script)
                procs = re.search(r"--nproc_per_node (\d+)", text)
                launch = f"multiproc.py {procs.group(1)} processes ({script.split('/', 4)[-1]})" if procs else launch
            elif row["model"].startswith("efficientnet"):
                launch = "not stated (no inference script for this platform)"
            out.append({**row, "device": name, "memory_format": fmt, "launch": launch})
    return out


def write_fixture(rows: list[dict[str, str]], path: Path = FIXTURE) -> None:
    with path.open("w", newline="") as f:
        f.write("# NVIDIA DeepLearningExamples, PyTorch ConvNets READMEs, 'Inference performance results' (copied by\n"
                "# benchmarks/published_gpu.py --update-fixture); columns: docs/latency-model.md,\n"
                "# 'Published GPU tables'\n")
        writer = csv.DictWriter(f, fieldnames=FIXTURE_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@dataclass(frozen=True)
class Published:
    """One fixture row: a model at one batch on one device and precision, as NVIDIA published it."""

    device: str
    model: str
    precision: str
    batch: int
    image_size: int
    throughput: float  # images/s, "Throughput Avg"
    latency_avg_ms: float
    memory_format: str
    launch: str
    software: str
    source: str

    @property
    def latency_s(self) -> float:
        """Seconds per batch from the mean throughput (module doc)."""
        return self.batch / self.throughput


def read_fixture(path: Path = FIXTURE) -> list[Published]:
    """The fixture's rows; a row without a source, a device, a number or a positive batch is an error."""
    text = "".join(line for line in path.open() if not line.startswith("#"))
    out = []
    for i, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        missing = [c for c in FIXTURE_COLUMNS if not (row.get(c) or "").strip()]
        if missing:
            raise ValueError(f"{path.name}: data row {i}: empty {', '.join(missing)}")
        out.append(Published(row["device"], row["model"], row["precision"], int(row["batch"]),
                             int(row["image_size"]), float(row["throughput_img_s"]), float(row["latency_avg_ms"]),
                             row["memory_format"], row["launch"], row["software"], row["source"]))
        if out[-1].batch < 1 or out[-1].throughput <= 0:
            raise ValueError(f"{path.name}: data row {i}: batch and throughput must be positive")
    return out


# ---------------------------------------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class Scored:
    row: Published
    predicted_s: float
    kernels: int  # kernels the host issues (the model's)
    device_s: float  # the device's busy time alone (launches included)
    busy: tuple[float, ...] = ()  # per kernel in issue order, seconds the device is busy (kernel_busy)

    @property
    def ratio(self) -> float:
        return self.predicted_s / self.row.latency_s

    @property
    def host_bound(self) -> bool:
        """The model's verdict: the host stream (kernels x host overhead) is the slower one."""
        return self.predicted_s > self.device_s * 1.05


def predict(graph: Graph, profile: HardwareProfile, row: Published) -> Scored:
    """Eager PyTorch on the shipped profile with the row's precision; an NHWC run without the layout transposes."""
    dtype, precision = SETTINGS[row.precision]
    terms = kernel_terms(graph, profile, dtype, "none", precision)
    if row.memory_format == "nhwc":
        terms = [replace(t, layout_s=0.0, layout_bytes=0, compute_s=cudnn_depthwise(t)) for t in terms]
    busy = [kernel_busy(t, profile) for t in terms]
    predicted = model_seconds(busy, profile)
    device = sum(busy) + len(busy) * profile.launch_overhead_us * 1e-6
    return Scored(row, predicted, len(terms), device, tuple(busy))


def cudnn_depthwise(terms: KernelTerms) -> tuple[float, ...]:
    """The kernel's compute seconds with every depthwise conv priced as cuDNN runs it, at its FLOPs over the unit's
    peak: PyTorch sends a channels-last depthwise conv to cuDNN whatever its dtype and shape
    (``ConvParams::use_cudnn_depthwise``), so no conv of an NHWC run pays the issue-rate price of PyTorch's own NCHW
    kernel (costmodel/latency/depthwise.py), which kernel_terms charges by the NCHW routing."""
    return tuple(layer.cost.flops / unit.peak_flops if key == EfficiencyClass.DEPTHWISE else seconds
                 for layer, key, unit, seconds in zip(terms.members, terms.keys, terms.units, terms.compute_s,
                                                      strict=True)) if terms.members else terms.compute_s


def with_host(scored: Scored, host_us: float, *, overlap: bool = True) -> float:
    """Seconds per batch of ``scored``'s kernels on its profile with the host issuing one op every ``host_us``: the
    model's two streams (:func:`~costmodel.latency.roofline.timeline`), or with ``overlap`` False the two in series
    (host time + device time, the alternative the timeline replaces)."""
    profile = load_profile(PROFILES[scored.row.device])
    if not overlap:
        return scored.device_s + len(scored.busy) * host_us * 1e-6
    return model_seconds(scored.busy, profile.model_copy(update={"host_overhead_us": host_us}))


def score(rows: list[Published]) -> list[Scored]:
    graphs: dict[tuple[str, int], Graph] = {}
    profiles = {name: load_profile(name) for name in set(PROFILES.values())}
    out = []
    for row in rows:
        if row.model not in MODEL_SPECS:
            continue
        key = (row.model, row.image_size)
        if key not in graphs:
            graphs[key] = load_graph(MODEL_SPECS[row.model], batch=1, input_shapes={"image": (3, row.image_size,
                                                                                              row.image_size)})
        out.append(predict(graphs[key].with_batch(row.batch), profiles[PROFILES[row.device]], row))
    return out


def check_estimate(scored: Scored) -> float:
    """The full :func:`estimate` for an NCHW row (what ``costmodel analyze`` prints), to check :func:`predict`."""
    dtype, precision = SETTINGS[scored.row.precision]
    graph = load_graph(MODEL_SPECS[scored.row.model], batch=scored.row.batch,
                       input_shapes={"image": (3, scored.row.image_size, scored.row.image_size)})
    return estimate(graph, load_profile(PROFILES[scored.row.device]), dtype=dtype, fusion="none",
                    precision=precision).summary.latency_s


def summary_lines(scored: list[Scored]) -> list[str]:
    lines = [f"{'device':27} {'precision':9} {'batches':12} {'rows':>4} {'median ratio':>12} {'median |err|':>12} "
             f"{'within 25%':>10} {'model: host-bound':>17}"]
    groups: dict[tuple[str, str], list[Scored]] = {}
    for s in scored:
        groups.setdefault((s.row.device, s.row.precision), []).append(s)
    for (device, precision), members in groups.items():
        for label, low, high in (*REGIMES, ("all", 1, 1 << 30)):
            chosen = [s for s in members if low <= s.row.batch <= high]
            if not chosen:
                continue
            ratios = [s.ratio for s in chosen]
            err = statistics.median(abs(r - 1) for r in ratios)
            within = sum(abs(r - 1) <= 0.25 for r in ratios) / len(ratios)
            host = sum(s.host_bound for s in chosen) / len(chosen)
            lines.append(f"{device:27} {precision:9} {label:12} {len(chosen):4} {statistics.median(ratios):12.3f} "
                         f"{err:11.1%} {within:10.0%} {host:17.0%}")
    return lines


def family(model: str) -> str:
    """The family a row is summed under in :func:`family_lines`: the four EfficientNets as one, each ResNet alone."""
    return "efficientnet" if model.startswith("efficientnet") else model


def family_lines(scored: list[Scored], low: int = 32, high: int = 256) -> list[str]:
    """Device-bound rows (batch ``low``-``high``) per device, precision and model family: which family sets each table's
    median (the V100's large-batch median is the EfficientNets', docs/latency-model.md, 3 December 15:40)."""
    lines = [f"per model family, batch {low}-{high} (median ratio, median |err|, rows):"]
    groups: dict[tuple[str, str], dict[str, list[float]]] = {}
    for s in scored:
        if low <= s.row.batch <= high:
            groups.setdefault((s.row.device, s.row.precision), {}).setdefault(family(s.row.model), []).append(s.ratio)
    for (device, precision), families in groups.items():
        cells = [f"{name} {statistics.median(r):.3f} {statistics.median(abs(x - 1) for x in r):.1%} ({len(r)})"
                 for name, r in families.items()]
        lines.append(f"  {device:27} {precision:5} " + ";  ".join(cells))
    return lines


def host_lines(scored: list[Scored]) -> list[str]:
    """Batch 1: the measured latency per kernel the model issues, against the profile's host overhead."""
    lines = ["batch 1, measured latency / kernels issued (what the host would have to spend per op if it alone set "
             "the latency):"]
    for s in scored:
        if s.row.batch == 1:
            profile_us = host_overhead(load_profile(PROFILES[s.row.device])) * 1e6
            lines.append(f"  {s.row.device:27} {s.row.precision:5} {s.row.model:22} {s.kernels:4} kernels  "
                         f"measured {s.row.latency_s * 1e3:6.2f} ms = "
                         f"{s.row.latency_s / s.kernels * 1e6:5.1f} us/kernel"
                         f"  (profile {profile_us:.0f} us; predicted {s.predicted_s * 1e3:6.2f} ms)")
    return lines


def tables_of(scored: list[Scored]) -> dict[tuple[str, str, str], list[Scored]]:
    """Rows per (device, precision, model) table, by batch."""
    tables: dict[tuple[str, str, str], list[Scored]] = {}
    for s in sorted(scored, key=lambda s: s.row.batch):
        tables.setdefault((s.row.device, s.row.precision, s.row.model), []).append(s)
    return tables


def host_per_kernel(s: Scored) -> float:
    """µs per kernel the host spends if it alone set ``s``'s measured latency (a batch-1 row: host-bound)."""
    return s.row.latency_s / s.kernels * 1e6


def turn_batch(latencies: list[tuple[int, float]], rise: float = 1.25) -> int | None:
    """The first batch whose latency exceeds ``rise`` x the batch-1 latency: where the device stream takes over from
    the host's (None: never within the table)."""
    first = latencies[0][1]
    return next((b for b, t in latencies if t > rise * first), None)


def overlap_lines(scored: list[Scored]) -> list[str]:
    """The host stream given the host: each table's host cost per kernel taken from its own batch-1 row (measured
    latency / kernels), then its batches 2-256 predicted with it, two streams overlapped (the model) and in series."""
    lines = ["host given: each table's batch-1 row sets its host cost per kernel (measured / kernels); the other "
             "batches predicted with it (ratio = predicted / measured)"]
    tables = {k: v for k, v in tables_of(scored).items() if v[0].row.batch == 1}
    pairs: dict[str, list[tuple[int, float]]] = {"overlapped (model)": [], "in series": [], "shipped host": []}
    turns = []
    for members in tables.values():
        host = host_per_kernel(members[0])
        for s in members[1:]:
            pairs["overlapped (model)"].append((s.row.batch, with_host(s, host) / s.row.latency_s))
            pairs["in series"].append((s.row.batch, with_host(s, host, overlap=False) / s.row.latency_s))
            pairs["shipped host"].append((s.row.batch, s.ratio))
        measured = turn_batch([(s.row.batch, s.row.latency_s) for s in members])
        given = turn_batch([(s.row.batch, with_host(s, host)) for s in members])
        shipped = turn_batch([(s.row.batch, s.predicted_s) for s in members])
        turns.append((measured, given, shipped))
    for label, low, high in (("batch 2-16", 2, 16), ("batch 32-256", 32, 256)):
        for name, values in pairs.items():
            ratios = [r for b, r in values if low <= b <= high]
            lines.append(f"  {label:12} {name:19} {len(ratios):4} rows  median ratio {statistics.median(ratios):6.3f}"
                         f"  median |err| {statistics.median(abs(r - 1) for r in ratios):6.1%}  within 25% "
                         f"{sum(abs(r - 1) <= 0.25 for r in ratios) / len(ratios):4.0%}")
    same = sum(m == g for m, g, _ in turns)
    near = sum(m is not None and g is not None and max(m, g) <= 2 * min(m, g) for m, g, _ in turns)
    shipped_near = sum(m is not None and s is not None and max(m, s) <= 2 * min(m, s) for m, _, s in turns)
    lines.append(f"  batch where the latency first exceeds 1.25x batch 1's ({len(turns)} tables): host given: the "
                 f"same batch in {same}, within a factor 2 in {near}; shipped host: within a factor 2 in "
                 f"{shipped_near}")
    return lines


def host_transfer_lines(scored: list[Scored]) -> list[str]:
    """Leave one host out: a host's µs per kernel at batch 1 applied to another host's batch-1 rows, as the median over
    all its rows, and model by model (the same model and precision, TF32 with FP32, on both hosts)."""
    hosts: dict[str, list[Scored]] = {}
    for s in scored:
        if s.row.batch == 1:
            hosts.setdefault(s.row.device, []).append(s)

    def family(s: Scored) -> tuple[str, str]:
        return s.row.model, "FP32" if s.row.precision == "TF32" else s.row.precision

    lines = ["host carried to another host (batch 1, median ratio): one host's median us per kernel over its rows; "
             "[same model]: the us per kernel of the same model and precision on the source host"]
    for source, members in hosts.items():
        us = statistics.median(host_per_kernel(s) for s in members)
        by_model = {family(s): host_per_kernel(s) for s in members}
        cells = []
        for target, rows in hosts.items():
            if target == source:
                continue
            cell = f"{target} {statistics.median(with_host(s, us) / s.row.latency_s for s in rows):.2f}"
            matched = [with_host(s, by_model[family(s)]) / s.row.latency_s for s in rows if family(s) in by_model]
            if matched:
                cell += f" [same model {statistics.median(matched):.2f}, {len(matched)} rows]"
            cells.append(cell)
        lines.append(f"  from {source:27} {us:5.1f} us/kernel:  " + ";  ".join(cells))
    return lines


def largest_batch_lines(scored: list[Scored]) -> list[str]:
    """Each table's largest batch (the device-bound end), and the measured throughput's change from batch 64 to it."""
    lines = ["largest batch of each table (device-bound), and measured images/s there over images/s at batch 64:"]
    tables: dict[tuple[str, str, str], list[Scored]] = {}
    for s in scored:
        tables.setdefault((s.row.device, s.row.precision, s.row.model), []).append(s)
    for (device, precision, model), members in tables.items():
        last = max(members, key=lambda s: s.row.batch)
        at64 = next((s for s in members if s.row.batch == 64), None)
        trend = f"{last.row.throughput / at64.row.throughput:5.2f}" if at64 else "    -"
        lines.append(f"  {device:27} {precision:5} {model:22} batch {last.row.batch:3}  measured "
                     f"{last.row.latency_s * 1e3:7.2f} ms  predicted {last.predicted_s * 1e3:7.2f} ms  ratio "
                     f"{last.ratio:5.2f}  images/s vs batch 64 {trend}")
    return lines


def device_pair_lines(scored: list[Scored], least_batch: int = 64) -> list[str]:
    """Device against device on the same model, precision and batch (``least_batch`` and up: device-bound): the ratio
    on one over the ratio on the other, which is the predicted speed-up of the first over the measured one. The
    profiles' relative figures, whatever their common level."""
    lines = [f"device against device, same model, precision (TF32 with FP32) and batch >= {least_batch}: ratio on the "
             "second / ratio on the first (< 1: the second predicted too fast relative to the first)"]
    found = {(s.row.device, "FP32" if s.row.precision == "TF32" else s.row.precision, s.row.model, s.row.batch): s
             for s in scored if s.row.batch >= least_batch}
    devices = list(dict.fromkeys(PROFILES))
    for i, first in enumerate(devices):
        for second in devices[i + 1:]:
            for precision in ("FP32", "AMP"):
                pairs = [(s, found[(second, p, m, b)]) for (d, p, m, b), s in found.items()
                         if d == first and p == precision and (second, p, m, b) in found]
                if not pairs:
                    continue
                ratios = [b.ratio / a.ratio for a, b in pairs]
                speedup = statistics.median(a.row.latency_s / b.row.latency_s for a, b in pairs)
                lines.append(f"  {PROFILES[second]} / {PROFILES[first]} {precision:4} {len(pairs):3} rows, "
                             f"{len({a.row.model for a, _ in pairs})} models: measured speed-up {speedup:.2f}x "
                             f"(median); ratio / ratio median {statistics.median(ratios):.3f}, range "
                             f"{min(ratios):.3f}-{max(ratios):.3f}")
    return lines


def row_lines(scored: list[Scored]) -> list[str]:
    lines = [f"{'device':27} {'prec':5} {'model':22} {'batch':>5} {'measured ms':>11} {'predicted ms':>12} "
             f"{'ratio':>6} {'bound':>6}"]
    for s in scored:
        lines.append(f"{s.row.device:27} {s.row.precision:5} {s.row.model:22} {s.row.batch:5} "
                     f"{s.row.latency_s * 1e3:11.2f} {s.predicted_s * 1e3:12.2f} {s.ratio:6.2f} "
                     f"{'host' if s.host_bound else 'device':>6}")
    return lines


def report(rows_too: bool = False) -> list[str]:
    rows = read_fixture()
    scored = score(rows)
    skipped = sorted({r.model for r in rows if r.model not in MODEL_SPECS})
    unscored = f"; no spec for {', '.join(skipped)}" if skipped else ""
    lines = [f"Published GPU tables ({len(rows)} rows, {len(scored)} scored{unscored}): shipped profiles, eager, "
             "nothing fitted", "ratio = predicted / measured latency (> 1: predicted slower)"]
    lines += summary_lines(scored)
    lines += family_lines(scored)
    lines += host_lines(scored)
    lines += largest_batch_lines(scored)
    lines += device_pair_lines(scored)
    lines += overlap_lines(scored)
    lines += host_transfer_lines(scored)
    if rows_too:
        lines += row_lines(scored)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", action="store_true", help="print every scored row")
    parser.add_argument("--update-fixture", metavar="GIT_DIR", type=Path,
                        help="rewrite the fixture from a git clone of NVIDIA/DeepLearningExamples (its --git-dir)")
    args = parser.parse_args(argv)
    if args.update_fixture:
        rows = extract(args.update_fixture)
        write_fixture(rows)
        print(f"wrote {len(rows)} rows to {FIXTURE.relative_to(ROOT)}")
        return 0
    print("\n".join(report(args.rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
