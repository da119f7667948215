"""Transfer between every pair of timm's eager AMP tables: fitted on one, carried onto another, scored there.

Run: COSTMODEL_CACHE=DIR python benchmarks/transfer_matrix.py [--reference DIR]

The tables: the shared RTX 3090 (PyTorch 2.4) and RTX 4090 (PyTorch 2.9.1) tables and timm's other eager AMP NCHW
tables in tests/fixtures/timm_tables (RTX 4090 PyTorch 2.4, RTX 3090 PyTorch 2.1 and 1.13, RTX 5090 and RTX PRO 6000
Blackwell Max-Q PyTorch 2.9.1), each table's rows of the wide set's cached imported specs (benchmarks/wide_set.py),
selected as validate_latency.py's section 4 and 6 select them. Each table is fitted on all its rows (costmodel
calibrate's fit, default prior) and carried onto every other table's profile with each --carry (``fit.carried``);
"none" is the target's shipped profile. Prints per table what its fit found (with the depthwise factor's attained
rate in GB/s and per TFLOP/s of the CUDA cores' peak: what docs/calibration.md, "Transfer", compares across devices),
then per (source, target) pair the median |error| of the target's latencies, and per carry the median and mean over
pairs and the pairs where it beats none. Pairs of one device and two PyTorch versions say what a software stack
changes; pairs of one PyTorch and two devices what a device changes. Minutes: every table's basis is built once.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import validate_latency as V  # noqa: E402  (the sibling benchmark module)
import wide_set  # noqa: E402

from costmodel.calibration.fit import bases_of, carried, fit, pinned, predict, with_parameters  # noqa: E402
from costmodel.hardware import load_profile  # noqa: E402
from costmodel.latency.roofline import unit_for  # noqa: E402
from costmodel.vocab import Carry  # noqa: E402

TABLES = {  # label -> (a shared table's key in wide_set.TABLES or a fixture file, the device's shipped profile)
    "3090 pt2.4": ("rtx3090", "rtx3090"),
    "4090 pt2.9": ("rtx4090", "rtx4090"),
    "4090 pt2.4": ("benchmark-infer-amp-nchw-pt240-cu124-rtx4090.csv", "rtx4090"),
    "3090 pt2.1": ("benchmark-infer-amp-nchw-pt210-cu121-rtx3090.csv", "rtx3090"),
    "3090 pt1.13": ("benchmark-infer-amp-nchw-pt113-cu117-rtx3090.csv", "rtx3090"),
    "5090 pt2.9": ("benchmark-infer-amp-nchw-pt291-cu130-5090.csv", "rtx5090"),
    "pro6000mq pt2.9": ("benchmark-infer-amp-nchw-pt291-cu130-pro6000maxq.csv", "rtx_pro_6000_maxq"),
}
CARRIES = ("none", *(c.value for c in Carry))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", type=Path, default=wide_set.REFERENCE,
                        help=f"folder of the shared timm tables (default {wide_set.REFERENCE})")
    args = parser.parse_args()
    wide_set.REFERENCE = args.reference
    specs = wide_set.cached_specs()
    if not specs:
        print("no cached specs: run benchmarks/wide_set.py --generate first", file=sys.stderr)
        raise SystemExit(2)
    state = {}
    for label, (table, key) in TABLES.items():
        source = table if table in wide_set.TABLES else V.TIMM_TABLES_DIR / table
        rows = V.wide_rows(source, specs)
        profile = load_profile(key)
        bases = bases_of(rows, profile, V.GPU_DTYPE, "none", V.GPU_PRECISION)
        measured = [m.measurement.latency_s for m in rows]
        result = fit(bases, measured, profile)
        state[label] = (profile, bases, measured, result)
        rate = result.values.get("depthwise_memory", 0.0) * profile.memory.bandwidth_gbs
        vector = unit_for(profile, "depthwise", V.GPU_DTYPE).peak_flops / 1e12
        print(f"fit {label:<16} {len(rows):>4} rows, RMS {result.residual_rms:.3f}: "
              + ", ".join(f"{n} {result.values[n]:.3f}" for n in result.fitted)
              + f"; depthwise {rate:.0f} GB/s, {rate / vector:.2f} GB/s per CUDA-core TFLOP/s")
    print(f"\n{'fitted on -> scored on':<36}" + "".join(f"{c:>9}" for c in CARRIES))
    errors: dict[str, list[float]] = {c: [] for c in CARRIES}
    for src, (profile, _, _, result) in state.items():
        for dst, (target, bases, measured, _) in state.items():
            if src == dst:
                continue
            row = []
            for carry in CARRIES:
                values = {} if carry == "none" else carried(result, profile, target, carry, V.GPU_DTYPE)
                predicted = predict(bases, with_parameters(pinned(target), values))
                error = statistics.median(abs(p / m - 1) for p, m in zip(predicted, measured, strict=True))
                errors[carry].append(error)
                row.append(error)
            print(f"{src + ' -> ' + dst:<36}" + "".join(f"{e:>9.1%}" for e in row))
    print(f"{'median over pairs':<36}" + "".join(f"{statistics.median(errors[c]):>9.1%}" for c in CARRIES))
    print(f"{'mean over pairs':<36}" + "".join(f"{statistics.mean(errors[c]):>9.1%}" for c in CARRIES))
    print(f"{'pairs better than none':<36}"
          + "".join(f"{sum(e < n for e, n in zip(errors[c], errors['none'], strict=True)):>9}" for c in CARRIES))


if __name__ == "__main__":
    main()
