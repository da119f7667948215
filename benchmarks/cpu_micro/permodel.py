"""Per model, predicted / measured 2-thread speed-up on the Xeon VM's zoo files, with and without cross_core_ns_per_kib.

Run from the repository root (no timing: it scores the Xeon zoo runs validate_latency.py names): python benchmarks/cpu_micro/permodel.py.
Cited by: docs/latency-model.md, cross-core figure per model (session 27).
"""

from pathlib import Path as _Path

ROOT = _Path(__file__).resolve().parents[2]
import math
import sys

sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))
import validate_latency as V

cases = {c.label: c for c in V.CASES}
for run in V.CPU_RUNS:
    if len(run.files) != 2 or "Xeon" not in run.threads_label:
        continue
    one, two = (cases[l] for l in run.labels)
    out = {}
    for tag, ns in (("without", 0.0), ("with", None)):

        def hw(case):
            p = case.hw()
            if ns is None:
                return p
            return p.model_copy(update={"cpu": p.cpu.model_copy(update={"cross_core_ns_per_kib": ns})})

        a = V.points(one.rows(), hw(one), one.dtype, one.fusion, one.precision)
        b = V.points(two.rows(), hw(two), two.dtype, two.fusion, two.precision)
        out[tag] = {p.label: r for p, r in zip(a, [x / y for x, y in V.latency_ratios(a, b)], strict=False)}
    print(run.threads_label)
    rows = sorted(out["with"], key=lambda k: -abs(math.log(out["without"][k])))
    for k in rows[:12]:
        print(f"  {k:<36} speed-up predicted/measured {out['without'][k]:.3f} -> {out['with'][k]:.3f}")
