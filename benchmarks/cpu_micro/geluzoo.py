"""GELU (erf) against ReLU on the same tensor at every distinct GELU shape of the zoo, 1 thread, interleaved rounds,
least of 5 x 20 calls each: ns per element beyond the ReLU. Also tanh-GELU.

Run from the repository root (on this VM, timing: alone on the machine): python benchmarks/cpu_micro/geluzoo.py  (torch, 1 thread).
Cited by: xeon6_gnr_vm cpu.op_ns.gelu sources; docs/latency-model.md, GELU paragraph.
"""

from pathlib import Path as _Path

ROOT = _Path(__file__).resolve().parents[2]
import math
import statistics
import sys
import time

import torch

sys.path.insert(0, str(ROOT))
from costmodel.api import load_graph

torch.set_num_threads(1)
shapes = {}
for spec in sorted((ROOT / "arch_specs").glob("*.yaml")):
    for L in load_graph(spec, batch=1).layers:
        if L.op == "gelu":
            shapes.setdefault(tuple(L.cost.outputs[0]), spec.stem)
print(f"# {len(shapes)} shapes, {time.strftime('%H:%M:%S', time.gmtime())} UTC, torch {torch.__version__}")
per = []
with torch.inference_mode():
    for shape, net in sorted(shapes.items(), key=lambda kv: math.prod(kv[0])):
        x = torch.randn(shape) * 0.58  # the zoo's GELU inputs: sd 0.58 (gelu_vals.py)
        calls = {"relu": lambda: torch.relu(x), "gelu": lambda: torch.nn.functional.gelu(x)}
        best = dict.fromkeys(calls, math.inf)
        for _ in range(5):
            for k, c in calls.items():
                for _ in range(20):
                    t = time.perf_counter()
                    c()
                    best[k] = min(best[k], time.perf_counter() - t)
        n = math.prod(shape)
        d = (best["gelu"] - best["relu"]) / n * 1e9
        per.append(d)
        print(
            f"{str(list(shape)):22s} {n:9d} el  relu {best['relu'] * 1e6:8.1f} us  gelu {best['gelu'] * 1e6:8.1f} us  beyond relu {d:5.3f} ns/el  [{net}]",
            flush=True,
        )
print(
    f"median {statistics.median(per):.3f} ns per element (quartiles {statistics.quantiles(per, n=4)[0]:.3f}-{statistics.quantiles(per, n=4)[2]:.3f})"
)
