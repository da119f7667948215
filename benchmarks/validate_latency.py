"""Does the roofline latency model rank and size real throughput? Predicted vs timm's measured inference figures.

The measurements (tests/fixtures/timm_benchmark_zoo.csv) are timm's published inference benchmarks on an
RTX 3090 and an RTX 4090: PyTorch eager, AMP (fp16 on tensor cores), NCHW, batch 1024, at each model's
224 px size (299 for inception_v3). For every zoo spec with ``metadata.timm_name`` and a measured row, the
model is predicted with the shipped profile at the same batch, image size and fp16, in each fusion mode.

Printed per device and fusion mode: the Spearman rank correlation of predicted vs measured throughput, the
same for a FLOPs-only predictor (throughput proportional to 1/FLOPs), the Spearman correlation of predicted
vs measured computational efficiency (achieved FLOP/s), and the median and worst ratio of predicted to
measured latency; then a per-model table. Targets (issue 3): throughput rho > 0.95, efficiency rho > 0.8,
median latency error within 30 %, with the profiles' default (uncalibrated) efficiency factors.

Run: python benchmarks/validate_latency.py [--fusion none] [--models]
Refresh the fixture from timm's CSV files: python benchmarks/validate_latency.py --update-fixture DIR
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import yaml
from scipy.stats import spearmanr

from costmodel import load_graph
from costmodel.hardware import load_profile
from costmodel.latency import FUSION_MODES, estimate

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests/fixtures/timm_benchmark_zoo.csv"
SOURCES = {  # device (profile file stem) -> timm benchmark file
    "rtx3090": "timm-benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv",
    "rtx4090": "timm-benchmark-infer-amp-nchw-pt291-cu128-4090.csv",
}
IMAGE_SIZE = {"inception_v3": 299}  # every other model: 224 px
DTYPE = "fp16"  # AMP: convs, linears and matmuls on tensor cores in fp16


@dataclass(frozen=True)
class Point:
    """One model on one device in one fusion mode: measured and predicted throughput (images/s)."""

    model: str
    flops_per_image: float
    measured: float
    predicted: float
    memory_bound_share: float

    @property
    def latency_ratio(self) -> float:
        """Predicted latency over measured latency."""
        return self.measured / self.predicted


def zoo() -> dict[str, Path]:
    """timm name -> spec file, for every zoo spec that names its timm model."""
    names = {}
    for path in sorted((ROOT / "arch_specs").glob("*.yaml")):
        meta = (yaml.safe_load(path.read_text()) or {}).get("metadata") or {}
        if meta.get("timm_name"):
            names[meta["timm_name"]] = path
    return names


def update_fixture(folder: Path) -> None:
    """Copy the rows the zoo needs from timm's benchmark CSVs into the fixture (with a provenance header)."""
    models = zoo()
    lines = [
        "# Measured inference throughput of the costmodel zoo, copied row for row from timm's published benchmark",
        "# tables (huggingface/pytorch-image-models, results/), kept here so the project does not need them:",
        *[f"#   {device}: {name}" for device, name in SOURCES.items()],
        "# PyTorch eager, AMP (fp16 autocast), NCHW, batch 1024; rows at 224 px (299 for inception_v3).",
        "# Regenerate: python benchmarks/validate_latency.py --update-fixture DIR_WITH_THOSE_FILES",
    ]
    rows: list[dict[str, str]] = []
    for device, name in SOURCES.items():
        with (folder / name).open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row["model"] in models and int(row["infer_img_size"]) == IMAGE_SIZE.get(row["model"], 224):
                    rows.append({"device": device, **row})
    with FIXTURE.open("w", encoding="utf-8", newline="") as handle:
        handle.write("\n".join(lines) + "\n")
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {FIXTURE.relative_to(ROOT)}")


def measurements() -> list[dict[str, str]]:
    """The fixture's rows (comment lines skipped)."""
    with FIXTURE.open(encoding="utf-8") as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


def predict(device: str, fusion: str) -> tuple[list[Point], list[str]]:
    """Points for every zoo model measured on ``device``; and the zoo models without a measurement."""
    models = zoo()
    profile = load_profile(device)
    points, seen = [], set()
    for row in measurements():
        if row["device"] != device or row["model"] not in models:
            continue
        spec, size, batch = models[row["model"]], int(row["infer_img_size"]), int(row["infer_batch_size"])
        graph = load_graph(spec, batch=batch, input_shapes={next(iter(_inputs(spec))): [3, size, size]})
        summary = estimate(graph, profile, dtype=DTYPE, fusion=fusion, key=device).summary
        points.append(Point(row["model"], summary.flops / batch, float(row["infer_samples_per_sec"]),
                            summary.throughput, summary.memory_bound_share))
        seen.add(row["model"])
    return points, sorted(set(models) - seen)


def _inputs(spec: Path) -> dict:
    return yaml.safe_load(spec.read_text())["inputs"]


def figures(points: list[Point]) -> dict[str, float]:
    """Rank correlations and latency-ratio statistics of one device and fusion mode."""
    measured = [p.measured for p in points]
    ratios = [p.latency_ratio for p in points]
    return {
        "rho": spearmanr([p.predicted for p in points], measured)[0],
        "rho_flops": spearmanr([1 / p.flops_per_image for p in points], measured)[0],
        "rho_eff": spearmanr([p.predicted * p.flops_per_image for p in points],
                             [p.measured * p.flops_per_image for p in points])[0],
        "median": statistics.median(ratios),
        "worst": max(ratios, key=lambda r: abs(math.log(r))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fusion", choices=FUSION_MODES, action="append", help="fusion mode(s) (default: all)")
    parser.add_argument("--models", action="store_true", help="print the per-model table for every fusion mode")
    parser.add_argument("--update-fixture", type=Path, metavar="DIR", help="copy rows from timm's CSVs in DIR")
    args = parser.parse_args()
    if args.update_fixture:
        update_fixture(args.update_fixture)
        return
    modes = args.fusion or list(FUSION_MODES)
    results = {(device, mode): predict(device, mode) for device in SOURCES for mode in modes}
    missing = sorted({m for _, unmeasured in results.values() for m in unmeasured})
    print(f"roofline latency vs timm measurements ({DTYPE}, batch 1024, eager AMP, NCHW)")
    if missing:
        print(f"zoo models without a measured row (skipped): {', '.join(missing)}")
    print()
    print(f"{'device':<8} {'fusion':<9} {'models':>6} {'rho thpt':>9} {'rho 1/FLOPs':>12} {'rho eff':>8} "
          f"{'median lat ratio':>17} {'worst':>6}")
    for (device, mode), (points, _) in results.items():
        f = figures(points)
        print(f"{device:<8} {mode:<9} {len(points):>6} {f['rho']:>9.3f} {f['rho_flops']:>12.3f} "
              f"{f['rho_eff']:>8.3f} {f['median']:>17.2f} {f['worst']:>6.2f}")
    print("\nlatency ratio = predicted / measured latency (> 1: the model predicts slower than measured)")
    for device in SOURCES:
        for mode in modes if args.models else modes[:1]:
            points = results[(device, mode)][0]
            print(f"\n{device}, fusion {mode}")
            print(f"{'model':<30} {'measured/s':>10} {'predicted/s':>11} {'lat ratio':>9} {'meas TFLOP/s':>12} "
                  f"{'pred TFLOP/s':>12} {'mem-bound':>9}")
            for p in sorted(points, key=lambda p: -p.measured):
                print(f"{p.model:<30} {p.measured:>10,.0f} {p.predicted:>11,.0f} {p.latency_ratio:>9.2f} "
                      f"{p.measured * p.flops_per_image / 1e12:>12.1f} {p.predicted * p.flops_per_image / 1e12:>12.1f} "
                      f"{100 * p.memory_bound_share:>8.0f}%")


if __name__ == "__main__":
    main()
