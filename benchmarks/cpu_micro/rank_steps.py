"""Rank op kinds by their excess over the zoo: per net, measured step time - predicted / (the net's pred/measured
ratio), summed over the nets; as a share of the zoo's summed measured step time. Usage: rank_steps.py JSON...

Run from the repository root (no timing: it reads the steps_*.json that steps.py writes):
python benchmarks/cpu_micro/rank_steps.py steps_*.json.
Cited by: docs/latency-model.md, per-step timing (session 28, `rank.py` there).
"""

import collections
import json
import sys

agg = collections.defaultdict(lambda: [0, 0.0, 0.0, 0.0, set(), 0.0])
total = 0.0
for f in sys.argv[1:]:
    for spec, d in json.load(open(f)).items():
        rows = d["rows"]
        meas = sum(r[2] for r in rows)
        pred = sum(r[3] for r in rows)
        s = pred / meas
        total += meas
        for _path, k, t, p, _i, _o in rows:
            a = agg[k]
            a[0] += 1
            a[1] += t
            a[2] += p
            a[3] += t - p / s
            a[4].add(spec.split("/")[-1][:-5])
            a[5] += (t - p / s) / meas
print(f"zoo steps total {total * 1e3:.1f} ms")
nn = len({sp for f in sys.argv[1:] for sp in json.load(open(f))})
for k, (n, t, p, ex, nets, rel) in sorted(agg.items(), key=lambda kv: -kv[1][5])[:25]:
    print(
        f"{k:18s} n={n:4d} meas {t * 1e3:8.2f} ms pred {p * 1e3:8.2f}  excess over the net's scale {ex * 1e3:+8.2f} ms = {ex / total * 100:+5.2f} % of zoo  nets {len(nets)}; mean share of a net {rel / nn * 100:5.2f} %"
    )
