"""How much does calibration help on rows it was not fitted on? Uncalibrated, in-sample and leave-one-out figures.

For one measurement file and base profile: the fidelity figures (costmodel.calibration.fidelity, as
``costmodel validate`` prints them) of (1) the base profile, (2) the profile fitted on every row, scored on the
same rows, and (3) leave-one-out: each row predicted by a profile fitted on all the other rows.

Run: python benchmarks/calibrate_loo.py tests/fixtures/cpu_bench_epyc_zen3_vm_1t.csv --hw epyc_zen3_vm_1t
     python benchmarks/calibrate_loo.py tests/fixtures/timm_benchmark_zoo.csv --hw rtx3090 --device rtx3090 \
         --dtype fp16
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from costmodel.calibration.fidelity import Fidelity, fidelity, points
from costmodel.calibration.fit import bases_of, fit, predict, with_parameters
from costmodel.calibration.measurements import match, read_measurements, select_device, spec_index
from costmodel.hardware import load_profile


def line(label: str, f: Fidelity) -> str:
    return (f"{label:<28} {f.rho_throughput:>9.3f} {f.rho_efficiency:>7.3f} {f.latency.median:>13.3f} "
            f"{f.latency.median_error:>13.1%} {f.latency.worst:>6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("measurements")
    parser.add_argument("--hw", required=True)
    parser.add_argument("--device")
    parser.add_argument("--dtype")
    parser.add_argument("--fusion", default="none")
    args = parser.parse_args()
    base = load_profile(args.hw)
    matched, skipped = match(select_device(read_measurements(args.measurements), args.device), spec_index())
    measured = [m.measurement.latency_s for m in matched]
    bases = bases_of(matched, base, args.dtype, args.fusion)
    plain = points(matched, base, args.dtype, args.fusion)
    everything = fit(bases, measured, base)
    in_sample = predict(bases, with_parameters(base, {n: everything.values[n] for n in everything.fitted}))
    held_out = []
    for i in range(len(matched)):
        rest = [j for j in range(len(matched)) if j != i]
        result = fit([bases[j] for j in rest], [measured[j] for j in rest], base)
        held_out.append(predict([bases[i]], with_parameters(base, {n: result.values[n] for n in result.fitted}))[0])
    print(f"{args.measurements} on {base.key}: {len(matched)} rows" + (f" (skipped: {', '.join(skipped)})"
                                                                       if skipped else ""))
    print(f"{'':<28} {'rho thpt':>9} {'rho E':>7} {'median ratio':>13} {'median error':>13} {'worst':>6}")
    scores = fidelity(plain)
    print(line("uncalibrated", scores))
    print(line("calibrated, in-sample", fidelity([replace(p, predicted_s=s) for p, s in zip(plain, in_sample,
                                                                                               strict=True)])))
    print(line("calibrated, leave-one-out", fidelity([replace(p, predicted_s=s) for p, s in zip(plain, held_out,
                                                                                                   strict=True)])))
    base_line = scores.flops_latency
    print(f"{'FLOPs-only (scaled)':<28} {scores.flops_rho_throughput:>9.3f} {'n/a':>7} {base_line.median:>13.3f} "
          f"{base_line.median_error:>13.1%} {base_line.worst:>6.2f}")
    print("fitted on all rows: " + ", ".join(f"{k} {v:.3g}" + (f" ({p.at_bound} bound)" if p.at_bound else "")
                                            for (k, v), p in zip(everything.values.items(),
                                                                 everything.parameters.values(), strict=True)))


if __name__ == "__main__":
    main()
