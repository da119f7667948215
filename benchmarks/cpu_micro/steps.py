"""Per step (every layer, functional ones too) measured time vs the model's prediction, xeon6_gnr_vm 1 thread.
Views' measured time goes to the next kernel (as the model charges view_us). Usage: steps.py SPEC... [--top N]

Run from the repository root (on this VM, timing: alone on the machine): python benchmarks/cpu_micro/steps.py SPEC... [--top N]  (PASSES=15 for session 27's run; writes steps_*.json here).
Cited by: docs/latency-model.md, per-step timing (sessions 27 and 28).
"""

import os as _os
from pathlib import Path as _Path

ROOT = _Path(__file__).resolve().parents[2]
import collections
import dataclasses
import json
import statistics
import sys
import time

import torch

sys.path.insert(0, str(ROOT))
from costmodel.bridges.torch import build_module, example_inputs
from costmodel.graph import load_graph
from costmodel.hardware import load_profile
from costmodel.latency.model import estimate

torch.set_num_threads(1)
args = [a for a in sys.argv[1:]]
top = 0
NP = int(_os.environ.get("PASSES", 10))  # session 27's run: PASSES=15
if "--top" in args:
    i = args.index("--top")
    top = int(args[i + 1])
    del args[i : i + 2]
prof = load_profile("xeon6_gnr_vm")
res = {}
for spec in args:
    g = load_graph(spec, batch=1)
    m = build_module(g).eval()
    x = example_inputs(g)
    rec = collections.defaultdict(list)
    cur = {}

    def wrap(step):
        run = step.run

        def f(*a, _run=run, _p=step.path):
            t = time.perf_counter_ns()
            o = _run(*a)
            cur[_p] = time.perf_counter_ns() - t
            return o

        return dataclasses.replace(step, run=f)

    with torch.inference_mode():
        for _ in range(3):
            m(*x)
        plain = []
        for _ in range(10):
            t = time.perf_counter()
            m(*x)
            plain.append(time.perf_counter() - t)
        m._steps = tuple(wrap(s) for s in m._steps)
        passes = []
        for _ in range(NP):
            cur.clear()
            t = time.perf_counter()
            m(*x)
            passes.append(time.perf_counter() - t)
            for k, v in cur.items():
                rec[k].append(v * 1e-9)
    p = estimate(g, prof, dtype="fp32", threads=1)
    pred = {o.path: o.latency_s for o in p.ops}
    lay = {l.path: l for l in g.layers}
    meas = {k: statistics.median(v) for k, v in rec.items()}
    # views to the next kernel
    charged = {}
    pend = 0.0
    for l in g.layers:
        if l.cost.is_view:
            pend += meas.get(l.path, 0.0)
        else:
            charged[l.path] = meas.get(l.path, 0.0) + pend
            pend = 0.0
    last = [l.path for l in g.layers if not l.cost.is_view][-1]
    charged[last] += pend

    def key_of(L):
        key = L.op
        if L.op == "conv2d":
            a = L.attrs
            k = a.kernel if isinstance(a.kernel, int) else a.kernel[0]
            s = a.stride if isinstance(a.stride, int) else a.stride[0]
            key = (
                f"conv{k}x{k}"
                + (f"s{s}" if s != 1 else "")
                + ("_dw" if a.groups > 1 and a.groups == L.input_shapes[0][1] else "_g" if a.groups > 1 else "")
            )
        return key

    agg = collections.defaultdict(lambda: [0, 0.0, 0.0])
    rows = []
    for path, t in charged.items():
        L = lay[path]
        k = key_of(L)
        agg[k][0] += 1
        agg[k][1] += t
        agg[k][2] += pred.get(path, 0.0)
        rows.append(
            (
                path,
                k,
                t,
                pred.get(path, 0.0),
                list(L.input_shapes[0]) if L.input_shapes else None,
                list(L.cost.outputs[0]) if L.cost.outputs else None,
            )
        )
    tot = sum(charged.values())
    print(
        f"== {spec}: plain pass median {statistics.median(plain) * 1e3:.2f} ms (min {min(plain) * 1e3:.2f}), wrapped {statistics.median(passes) * 1e3:.2f}, steps sum {tot * 1e3:.2f}; predicted {p.summary.latency_s * 1e3:.2f} ms, ratio pred/plain {p.summary.latency_s / statistics.median(plain):.3f}"
    )
    for k, (n, mm, q) in sorted(agg.items(), key=lambda kv: -kv[1][1]):
        print(
            f"   {k:26s} n={n:4d} meas {mm * 1e3:8.3f} ms  pred {q * 1e3:8.3f}  ratio {q / mm if mm else 0:5.2f}  gap(meas-pred) {(mm - q) * 1e3:+8.3f} ms"
        )
    if top:
        rows.sort(key=lambda r: -(r[2] - r[3]))
        for r in rows[:top]:
            print(f"      {r[0]:45s} {r[1]:14s} meas {r[2] * 1e6:8.1f} us pred {r[3] * 1e6:8.1f} in {r[4]} out {r[5]}")
    res[spec] = {"plain": statistics.median(plain), "pred": p.summary.latency_s, "rows": rows}
tag = time.strftime("%H%M", time.gmtime())
json.dump(res, open(f"steps_{tag}_{len(res)}.json", "w"))
