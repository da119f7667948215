"""Per-model 2-thread speed-up, predicted / measured, over the Xeon runs (fastest pass).

Run from the repository root (no timing: it scores the Xeon zoo runs validate_latency.py names): python benchmarks/cpu_micro/speedup.py.
Cited by: docs/latency-model.md, predicted / measured 2-thread speed-up.
"""

from pathlib import Path as _Path

ROOT = _Path(__file__).resolve().parents[2]
import statistics as st
import sys

sys.path.insert(0, str(ROOT / "benchmarks"))
import validate_latency as v

runs = [v.XEON_RUN, v.XEON_REPEAT_RUN, v.XEON_AFTERNOON, v.XEON_NOISY]
out = {}
for run in runs:
    preds = {}
    for case in run.cases():
        rows, base = case.rows(), case.hw()
        pts = v.points(rows, base, case.dtype, case.fusion, case.precision)
        preds[case.threads] = {m.measurement.model: (p.predicted_s, m.measurement.latency_s) for m, p in zip(rows, pts, strict=False)}
    for k in preds[1]:
        ps = preds[1][k][0] / preds[2][k][0]
        ms = preds[1][k][1] / preds[2][k][1]
        out.setdefault(k, []).append((ps, ms))
print(f"{'model':28s} pred  " + "  ".join(f"meas{i} " for i in range(len(runs))) + " pred/meas(median)")
for k in sorted(out, key=lambda k: st.median(p / m for p, m in out[k])):
    print(
        f"{k:28s} {out[k][0][0]:.2f}  "
        + "  ".join(f"{m:.2f}  " for _, m in out[k])
        + f"  {st.median(p / m for p, m in out[k]):.3f}"
    )
