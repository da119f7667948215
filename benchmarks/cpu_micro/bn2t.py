"""BN (eval, NCHW) at 1 and 2 threads: input warm (same tensor each call) vs written just before by one thread
(x.copy_(src) with torch.set_num_threads(1), untimed) -- does a 2-thread BN lose to data sitting in core 0's cache?

Run from the repository root (on this VM, timing: alone on the machine): python benchmarks/cpu_micro/bn2t.py  (torch, 1 and 2 threads).
Cited by: xeon6_gnr_vm cpu.cross_core_ns_per_kib sources; docs/latency-model.md (session 27).
"""

import math
import time

import torch

SHAPES = [
    (16, 112),
    (48, 56),
    (72, 28),
    (120, 28),
    (240, 14),
    (480, 14),
    (672, 7),
    (960, 7),
    (256, 56),
    (512, 28),
    (1024, 14),
    (128, 56),
]
with torch.inference_mode():
    for c, s in SHAPES:
        bn = torch.nn.BatchNorm2d(c).eval()
        x = torch.rand(1, c, s, s)
        src = torch.rand(1, c, s, s)
        res = {}
        for _ in range(3):
            for t in (1, 2):
                for mode in ("warm", "fresh1t"):
                    best = math.inf
                    for _ in range(20):
                        if mode == "fresh1t":
                            torch.set_num_threads(1)
                            x.copy_(src)
                            torch.set_num_threads(t)
                        else:
                            torch.set_num_threads(t)
                        st = time.perf_counter()
                        bn(x)
                        best = min(best, time.perf_counter() - st)
                    res[(t, mode)] = min(res.get((t, mode), math.inf), best)
        e = c * s * s
        print(
            f"bn {c:5} x {s:3}^2 ({e / 1e3:6.0f}k): "
            + "  ".join(f"{t}t {m} {res[(t, m)] * 1e6:7.1f}" for t in (1, 2) for m in ("warm", "fresh1t"))
            + f"  | sp warm {res[(1, 'warm')] / res[(2, 'warm')]:.2f} fresh {res[(1, 'fresh1t')] / res[(2, 'fresh1t')]:.2f}",
            flush=True,
        )
