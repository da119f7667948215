"""oneDNN convs (and a linear) at 2 threads: input warm vs rewritten just before by one thread (x.copy_ on 1 thread,
untimed): does a library kernel pay the cross-core handoff as the ATen batch norm does? Extra us vs the model's
(bytes / 2) / 21 GB/s.

Run from the repository root (on this VM, timing: alone on the machine): python benchmarks/cpu_micro/conv2t.py  (torch, 2 threads).
Cited by: docs/latency-model.md, cross-core handoff for oneDNN convs (session 27).
"""

import math
import os
import time

import torch

CASES = [
    ("conv3x3", 64, 64, 56, 3, 1),
    ("conv3x3", 128, 128, 28, 3, 1),
    ("pw", 256, 64, 56, 1, 1),
    ("pw", 64, 256, 28, 1, 1),
    ("dw", 96, 96, 56, 3, 96),
    ("dw", 240, 240, 28, 5, 240),
    ("dw", 480, 480, 14, 3, 480),
]
print("load", os.getloadavg())
with torch.inference_mode():
    for name, cin, cout, s, k, g in CASES:
        m = torch.nn.Conv2d(cin, cout, k, padding=k // 2, groups=g, bias=False).eval()
        x = torch.rand(1, cin, s, s)
        src = torch.rand(1, cin, s, s)
        res = {}
        for _ in range(3):
            for mode in ("warm", "fresh1t"):
                best = math.inf
                for _ in range(15):
                    if mode == "fresh1t":
                        torch.set_num_threads(1)
                        x.copy_(src)
                    torch.set_num_threads(2)
                    st = time.perf_counter()
                    m(x)
                    best = min(best, time.perf_counter() - st)
                res[mode] = min(res.get(mode, math.inf), best)
        nbytes = x.numel() * 4
        print(
            f"{name} {cin}->{cout} @{s} k{k}: 2t warm {res['warm'] * 1e6:8.1f} us, fresh1t {res['fresh1t'] * 1e6:8.1f} us: "
            f"extra {(res['fresh1t'] - res['warm']) * 1e6:7.1f} us; model (B/2)/21GB/s {nbytes / 2 / 21e9 * 1e6:6.1f} us",
            flush=True,
        )
print("load", os.getloadavg())
