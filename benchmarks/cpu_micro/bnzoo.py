"""Eval BatchNorm2d against ReLU on the same NCHW tensor at every distinct batch_norm input shape of the zoo, 1 thread,
interleaved rounds, least of 5 x 20 calls each; a least-squares line of (BN - ReLU) over channels and elements.

Run from the repository root (on this VM, timing: alone on the machine): python benchmarks/cpu_micro/bnzoo.py [EVERY] [OFFSET]  (torch, 1 thread).
Cited by: docs/latency-model.md, "Measured and left" (eval batch norm).
"""

from pathlib import Path as _Path

ROOT = _Path(__file__).resolve().parents[2]
import math
import sys
import time

import numpy as np
import torch

sys.path.insert(0, str(ROOT))
from costmodel.api import load_graph

torch.set_num_threads(1)
shapes = {}
for spec in sorted((ROOT / "arch_specs").glob("*.yaml")):
    for L in load_graph(spec, batch=1).layers:
        if L.op == "batch_norm" and len(L.input_shapes[0]) == 4:
            shapes.setdefault(tuple(L.input_shapes[0]), spec.stem)
every = int(sys.argv[1]) if len(sys.argv) > 1 else 1
keys = sorted(shapes, key=math.prod)[int(sys.argv[2]) if len(sys.argv) > 2 else 0 :: every]
print(
    f"# {len(keys)} of {len(shapes)} shapes, {time.strftime('%H:%M:%S', time.gmtime())} UTC, torch {torch.__version__}"
)
rows = []
with torch.inference_mode():
    for shape in keys:
        bn = torch.nn.BatchNorm2d(shape[1]).eval()
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2)
        x = torch.randn(shape)
        calls = {"relu": lambda: torch.relu(x), "bn": lambda: bn(x)}
        best = dict.fromkeys(calls, math.inf)
        for _ in range(5):
            for k, c in calls.items():
                for _ in range(20):
                    t = time.perf_counter()
                    c()
                    best[k] = min(best[k], time.perf_counter() - t)
        n = math.prod(shape)
        d = best["bn"] - best["relu"]
        rows.append((shape[1], n, d))
        print(
            f"{str(list(shape)):22s} C {shape[1]:5d} {n:9d} el  relu {best['relu'] * 1e6:7.1f} us  bn {best['bn'] * 1e6:7.1f} us  bn-relu {d * 1e6:7.1f} us ({d / n * 1e9:5.3f} ns/el, {d / shape[1] * 1e9:6.1f} ns/ch)  [{shapes[shape]}]",
            flush=True,
        )
C = np.array([r[0] for r in rows], float)
N = np.array([r[1] for r in rows], float)
y = np.array([r[2] for r in rows])
A = np.vstack([np.ones_like(C), C, N]).T
(a, b, c), *_ = np.linalg.lstsq(A, y, rcond=None)
print(f"line: bn - relu = {a * 1e6:.2f} us + {b * 1e9:.1f} ns per channel + {c * 1e9:.3f} ns per element")
