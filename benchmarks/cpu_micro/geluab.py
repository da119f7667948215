"""In the network (1 thread): the GELU steps' time as GELU, as ReLU, as GELU(tanh) and as a bare copy of their input,
swapped in turn between passes (interleaved), median over passes; also the pass time. Usage: geluab.py SPEC [passes]

Run from the repository root (on this VM, timing: alone on the machine): python benchmarks/cpu_micro/geluab.py SPEC [PASSES]  (torch, 1 thread).
Cited by: xeon6_gnr_vm cpu.op_ns.gelu sources.
"""

from pathlib import Path as _Path

ROOT = _Path(__file__).resolve().parents[2]
import collections
import dataclasses
import statistics
import sys
import time

import torch

sys.path.insert(0, str(ROOT))
from costmodel.bridges.torch import build_module, example_inputs
from costmodel.graph import load_graph

torch.set_num_threads(1)
spec = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 8
g = load_graph(spec, batch=1)
m = build_module(g).eval()
x = example_inputs(g)
lay = {l.path: l for l in g.layers}
variants = {
    "gelu": None,
    "relu": torch.relu,
    "gelu_tanh": lambda t: torch.nn.functional.gelu(t, approximate="tanh"),
    "sigmoid": torch.sigmoid,
}
mode = ["gelu"]
acc = collections.defaultdict(list)
cur = collections.Counter()


def wrap(step):
    run = step.run
    if lay.get(step.path) is None or lay[step.path].op != "gelu":
        return step

    def f(*a, _run=run):
        fn = variants[mode[0]] or _run
        t = time.perf_counter_ns()
        o = fn(*a)
        cur[mode[0]] += time.perf_counter_ns() - t
        return o

    return dataclasses.replace(step, run=f)


m._steps = tuple(wrap(s) for s in m._steps)
passes = collections.defaultdict(list)
with torch.inference_mode():
    for v in variants:
        mode[0] = v
        m(*x)
        m(*x)
    for _ in range(n):
        for v in variants:
            mode[0] = v
            cur.clear()
            t = time.perf_counter()
            m(*x)
            passes[v].append(time.perf_counter() - t)
            acc[v].append(cur[v] * 1e-9)
ng = sum(1 for l in g.layers if l.op == "gelu")
print(f"{spec} ({time.strftime('%H:%M:%S', time.gmtime())} UTC) {ng} GELU layers, {n} passes per variant:")
for v in variants:
    print(
        f"   as {v:10s}: their steps {statistics.median(acc[v]) * 1e3:8.3f} ms (min {min(acc[v]) * 1e3:8.3f})  pass {statistics.median(passes[v]) * 1e3:8.2f} ms"
    )
