"""Does the roofline latency model rank and size real throughput? Predicted vs timm's measured inference figures.

The measurements (tests/fixtures/timm_benchmark_zoo.csv) are timm's published inference benchmarks on an
RTX 3090 and an RTX 4090: PyTorch eager, AMP (fp16 on tensor cores), NCHW, batch 1024, at each model's
224 px size. Every zoo spec with ``metadata.timm_name`` and a measured row is predicted with the shipped
profile at the same batch, image size and fp16, in each fusion mode, and scored with
costmodel.calibration.fidelity (the figures of ``costmodel validate``): Spearman rank correlation of predicted
vs measured throughput and computational efficiency, the same for a FLOPs-only predictor, the median and worst
ratio of predicted to measured latency and the median latency error |ratio - 1|.

With ``--transfer``: also calibrate each device's profile on its own rows (costmodel.calibration.fit, fusion
none) and score the factors applied to the other device's profile (issue 6's acceptance figures).

Run: python benchmarks/validate_latency.py [--fusion none] [--models] [--transfer]
Refresh the fixture from timm's CSV files: python benchmarks/validate_latency.py --update-fixture DIR
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from costmodel.calibration.fidelity import Fidelity, fidelity, points, table_lines
from costmodel.calibration.fit import bases_of, fit, fitted_profile
from costmodel.calibration.measurements import Matched, match, read_measurements, select_device, spec_index
from costmodel.hardware import load_profile
from costmodel.latency import FUSION_MODES

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests/fixtures/timm_benchmark_zoo.csv"
SOURCES = {  # device (profile file stem) -> timm benchmark file
    "rtx3090": "timm-benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv",
    "rtx4090": "timm-benchmark-infer-amp-nchw-pt291-cu128-4090.csv",
}
IMAGE_SIZE = 224  # the zoo specs' input size
DTYPE = "fp16"  # AMP: convs, linears and matmuls on tensor cores in fp16


def update_fixture(folder: Path) -> None:
    """Copy the rows the zoo needs from timm's benchmark CSVs into the fixture (with a provenance header)."""
    models = spec_index()
    lines = [
        "# Measured inference throughput of the costmodel zoo, copied row for row from timm's published benchmark",
        "# tables (huggingface/pytorch-image-models, results/), kept here so the project does not need them:",
        *[f"#   {device}: {name}" for device, name in SOURCES.items()],
        "# PyTorch eager, AMP (fp16 autocast), NCHW, batch 1024; rows at 224 px.",
        "# Regenerate: python benchmarks/validate_latency.py --update-fixture DIR_WITH_THOSE_FILES",
    ]
    rows: list[dict[str, str]] = []
    for device, name in SOURCES.items():
        with (folder / name).open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row["model"] in models and int(row["infer_img_size"]) == IMAGE_SIZE:
                    rows.append({"device": device, **row})
    with FIXTURE.open("w", encoding="utf-8", newline="") as handle:
        handle.write("\n".join(lines) + "\n")
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {FIXTURE.relative_to(ROOT)}")


def matched_rows(device: str) -> list[Matched]:
    """The fixture's rows of ``device`` matched to zoo specs (every row matches one)."""
    matched, skipped = match(select_device(read_measurements(FIXTURE), device), spec_index())
    assert not skipped, skipped
    return matched


def row(label: str, f: Fidelity) -> str:
    return (f"{label:<30} {f.models:>6} {f.rho_throughput:>9.3f} {f.flops_rho_throughput:>12.3f} "
            f"{f.rho_efficiency:>8.3f} {f.latency.median:>13.3f} {f.latency.median_error:>13.1%} "
            f"{f.latency.worst:>6.2f}")


HEADER = (f"{'device, fusion / profile':<30} {'models':>6} {'rho thpt':>9} {'rho 1/FLOPs':>12} {'rho eff':>8} "
          f"{'median ratio':>13} {'median error':>13} {'worst':>6}")


def transfer() -> None:
    """Fit on each device, score on the other (fusion none)."""
    print(f"\ncalibrated on one device, applied to the other (fusion none, {DTYPE})\n{HEADER}")
    for fit_on, check_on in (("rtx3090", "rtx4090"), ("rtx4090", "rtx3090")):
        base, onto = load_profile(fit_on), load_profile(check_on)
        own = matched_rows(fit_on)
        result = fit(bases_of(own, base, DTYPE, "none"), [m.measurement.latency_s for m in own], base)
        for target, rows in ((None, own), (onto, matched_rows(check_on))):
            profile = fitted_profile(base, result, measurements=FIXTURE.name, sha256="0" * 64, devices=[fit_on],
                                     dtype=DTYPE, fusion="none", onto=target)
            where = f"fit {fit_on}, scored on {check_on if target else fit_on}"
            print(row(where, fidelity(points(rows, profile, DTYPE, "none"))))
        print("  factors: " + ", ".join(f"{k} {v:.3g}" for k, v in result.values.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fusion", choices=FUSION_MODES, action="append", help="fusion mode(s) (default: all)")
    parser.add_argument("--models", action="store_true", help="print the per-model table for every fusion mode")
    parser.add_argument("--transfer", action="store_true", help="also calibrate on one device, score on the other")
    parser.add_argument("--update-fixture", type=Path, metavar="DIR", help="copy rows from timm's CSVs in DIR")
    args = parser.parse_args()
    if args.update_fixture:
        update_fixture(args.update_fixture)
        return
    modes = args.fusion or list(FUSION_MODES)
    print(f"roofline latency vs timm measurements ({DTYPE}, batch 1024, eager AMP, NCHW), shipped profiles\n{HEADER}")
    results = {}
    for device in SOURCES:
        matched = matched_rows(device)
        for mode in modes:
            results[device, mode] = points(matched, load_profile(device), DTYPE, mode)
            print(row(f"{device}, {mode}", fidelity(results[device, mode])))
    print("\nratio = predicted / measured latency (> 1: the model predicts slower than measured)")
    for device in SOURCES:
        for mode in modes if args.models else modes[:1]:
            print(f"\n{device}, fusion {mode}")
            print("\n".join(table_lines(results[device, mode], fidelity(results[device, mode]).flops_scale)))
    if args.transfer:
        transfer()


if __name__ == "__main__":
    main()
