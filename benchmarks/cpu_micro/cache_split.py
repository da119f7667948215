"""Is the cost of an op after a large working set the data (x's lines from L3) or the op's own call path (code and
dispatcher data pushed out of L2)? 1 thread, float32 x = [1, C, 7, 7] of S bytes, least of R rounds x N calls,
conditions interleaved: (warm) nothing between calls; (evicted) x.fill_, then a 32 MiB buffer filled, then op(x)
timed; (evicted, call warm) the same, but the op first run untimed on another 4 KiB tensor (its code and the
dispatcher's data back in cache, x still out); (evicted by mm) x.fill_, then torch.mm of [64, 2048] x [2048, 2048]
(a 16 MiB weight, a large GEMM's working set), then op(x).

Run from the repository root (on this VM, timing: alone on the machine): python benchmarks/cpu_micro/cache_split.py [ROUNDS] [KIB,...].
Cited by: docs/latency-model.md, the cache-level paragraphs (session 28, the "evicted" penalty split into data and call path).
"""

import math
import sys
import time

import torch

torch.set_num_threads(1)
R = int(sys.argv[1]) if len(sys.argv) > 1 else 5
N = 20
sizes_kib = [int(s) for s in (sys.argv[2].split(",") if len(sys.argv) > 2 else ["4", "196", "784", "1568", "3136", "6272"])]
big = torch.empty(8 * 2**20)
a, w = torch.randn(64, 2048), torch.randn(2048, 2048)
tiny = torch.randn(1, 20, 7, 7)
ops = {"mean": lambda y: y.mean((2, 3), keepdim=True), "relu": torch.relu, "add": lambda y: y + y}
print(f"# {time.strftime('%H:%M:%S', time.gmtime())} UTC, torch {torch.__version__}, R={R} N={N}", flush=True)
with torch.inference_mode():
    for kib in sizes_kib:
        x = torch.randn(1, kib * 1024 // 196, 7, 7)
        for o, op in ops.items():
            conds = {
                "warm": lambda: None,
                "evicted": lambda: (x.fill_(1.0), big.fill_(1.0)),
                "ev+callwarm": lambda: (x.fill_(1.0), big.fill_(1.0), op(tiny)),
                "ev-by-mm": lambda: (x.fill_(1.0), torch.mm(a, w)),
            }
            best = {k: math.inf for k in conds}
            for _ in range(R):
                for k, prep in conds.items():
                    for _ in range(N):
                        prep()
                        t = time.perf_counter()
                        op(x)
                        dt = time.perf_counter() - t
                        best[k] = min(best[k], dt)
            print(f"{kib:6d} KiB {o:5s} " + "  ".join(f"{k} {v * 1e6:7.1f}" for k, v in best.items()), flush=True)
