"""Xeon 6 VM files scored with profile variants (YAML files): sd of log ratio after one common scale, share within
+-10 %, and the few-shot median share (validate_latency's few_shot, its output parsed). Usage: variants.py YAML...

Run from the repository root (no timing: it scores zoo files): python benchmarks/cpu_micro/variants.py PROFILE.yaml... [--2t] [--zen].
Cited by: docs/latency-model.md, profile-variant scoring (session 28).
"""

from pathlib import Path as _Path

ROOT = _Path(__file__).resolve().parents[2]
import contextlib
import io
import math
import pathlib
import re
import statistics
import sys

sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))
import validate_latency as v

files = [
    (v.XEON_FIXTURES[1], 1, "12:40"),
    (v.XEON_REPEAT[1], 1, "12:51"),
    (v.XEON_AFTERNOON_FILES[1], 1, "15:09"),
    (v.XEON_NOISY_FILES[1], 1, "17:53"),
]
if "--2t" in sys.argv:
    sys.argv.remove("--2t")
    files = [
        (v.XEON_FIXTURES[2], 2, "12:41"),
        (v.XEON_REPEAT[2], 2, "12:52"),
        (v.XEON_AFTERNOON_FILES[2], 2, "15:11"),
        (v.XEON_NOISY_FILES[2], 2, "17:55"),
    ]
if "--zen" in sys.argv:
    sys.argv.remove("--zen")
    n = 2 if "--2t" in sys.argv else 1
    files = [
        (v.CPU_FIXTURES[1], 1, "20:53"),
        (v.CPU_REPEAT[1], 1, "20:55"),
        (v.CPU_OTHER_DAY[1], 1, "03:37"),
        (v.CPU_FIXTURES[2], 2, "20:54"),
        (v.CPU_REPEAT[2], 2, "20:57"),
        (v.CPU_OTHER_DAY[2], 2, "03:38"),
    ]
for prof in sys.argv[1:]:
    out = []
    for path, n, when in files:
        dev = "epyc_zen3_vm_b" if "zen" in prof else "xeon6_gnr_vm"
        case = v.Case(when, path, f"{dev}_{n}t", prof, "fp32", "uniform", "none", n, "min")
        rows, base = case.rows(), case.hw()
        pts = v.points(rows, base, case.dtype, case.fusion, case.precision)
        r = [p.predicted_s / m.measurement.latency_s for m, p in zip(rows, pts, strict=False)]
        lg = [math.log(x) for x in r]
        mu = statistics.mean(lg)
        sd = statistics.pstdev(lg)
        w = sum(abs(x - mu) < math.log(1.1) for x in lg) / len(lg)
        med = statistics.median(abs(x - 1) for x in r)
        measured = [m.measurement.latency_s for m in rows]
        bases = v.bases_of(rows, base, case.dtype, case.fusion, case.precision)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            v.few_shot(case, rows, base, measured, bases)
        fs = re.search(r"median share of the other models within \+-10 %: (\d+)%", buf.getvalue()).group(1)
        rec = re.search(r"recommended.*within \+-10 % (\d+)%", buf.getvalue()).group(1)
        out.append(f"{when} {n}t: |err| {med:.1%} sd {sd:.3f} w10 {w:.0%} fewshot {fs}% rec {rec}%")
    print(pathlib.Path(prof).name, "|", " | ".join(out), flush=True)
