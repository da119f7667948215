"""Where a streaming op's input comes from, 1 thread (this VM): an op timed on a float32 tensor x of S bytes that
(fresh) x.fill_ wrote just before (the previous kernel's output: in L2 up to its 2 MiB, the rest in L3),
(evicted) x.fill_ and then a 32 MiB buffer filled (x's lines pushed out of L2 into L3; a large GEMM's working set),
(warm) the same x again with nothing in between (reference; in L2 when it fits).
Ops: mean over (2, 3) of [1, C, 7, 7] (reads S, writes nothing), relu (reads S, writes S to a new buffer),
x + x (reads S, writes S). Least of R rounds x N calls, conditions interleaved within each round.

Run from the repository root (on this VM, timing: alone on the machine): python benchmarks/cpu_micro/cache_levels.py [ROUNDS] [KIB,...].
Cited by: docs/latency-model.md, the cache-level paragraphs (session 28, cache levels (L2 / L3 streaming rates, fresh vs evicted)).
"""

import math
import sys
import time

import torch

torch.set_num_threads(1)
R = int(sys.argv[1]) if len(sys.argv) > 1 else 5
N = 20
KIB = 1024
sizes_kib = [
    int(s)
    for s in (
        sys.argv[2].split(",")
        if len(sys.argv) > 2
        else ["196", "392", "784", "1176", "1568", "2352", "3136", "4704", "6272", "9408", "12544"]
    )
]
big = torch.empty(8 * 2**20)  # 32 MiB
ops = {"mean": lambda y: y.mean((2, 3), keepdim=True), "relu": torch.relu, "add": lambda y: y + y}
print(f"# {time.strftime('%H:%M:%S', time.gmtime())} UTC, torch {torch.__version__}, R={R} N={N}", flush=True)
with torch.inference_mode():
    for kib in sizes_kib:
        c = kib * KIB // (49 * 4)
        x = torch.randn(1, c, 7, 7)
        conds = {"warm": lambda: None, "fresh": lambda: x.fill_(1.0), "evicted": lambda: (x.fill_(1.0), big.fill_(1.0))}
        best = {(o, k): math.inf for o in ops for k in conds}
        for _ in range(R):
            for o, op in ops.items():
                for k, prep in conds.items():
                    for _ in range(N):
                        prep()
                        t = time.perf_counter()
                        op(x)
                        dt = time.perf_counter() - t
                        best[o, k] = min(best[o, k], dt)
        print(f"{kib:6d} KiB " + "  ".join(f"{o}/{k} {best[o, k] * 1e6:7.1f}" for o in ops for k in conds), flush=True)
