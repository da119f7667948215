"""Per-call cost of tiny convs by library path, 1 thread: nn.Conv2d on tiny maps against a ReLU on the same input,
interleaved, minimum over rounds of 200 calls; and which primitive oneDNN runs (verbose, one call).

Run from the repository root (on this VM, timing: alone on the machine): python benchmarks/cpu_micro/tinycall.py  (torch, 1 thread).
Cited by: xeon6_gnr_vm sources (tiny conv per-call cost); docs/latency-model.md, oneDNN reorder section.
"""

import math
import sys
import time

import torch

torch.set_num_threads(1)
cases = {
    "native 1x1 [1,8,4,4]": (torch.nn.Conv2d(8, 8, 1), (1, 8, 4, 4)),
    "native 3x3 [1,8,4,4]": (torch.nn.Conv2d(8, 8, 3, padding=1), (1, 8, 4, 4)),
    "dw 3x3 [1,8,4,4]": (torch.nn.Conv2d(8, 8, 3, padding=1, groups=8), (1, 8, 4, 4)),
    "dw 3x3 s2 [1,8,8,8]": (torch.nn.Conv2d(8, 8, 3, 2, padding=1, groups=8), (1, 8, 8, 8)),
    "grouped 3x3 g2 [1,8,4,4]": (torch.nn.Conv2d(8, 8, 3, padding=1, groups=2), (1, 8, 4, 4)),
    "dense 5x5 [1,8,4,4]": (torch.nn.Conv2d(8, 8, 5, padding=2), (1, 8, 4, 4)),
    "patchify 4x4 s4 [1,8,8,8]": (torch.nn.Conv2d(8, 8, 4, 4), (1, 8, 8, 8)),
    "dense 3x3 [1,8,64,64] (>20480: oneDNN)": (torch.nn.Conv2d(8, 8, 3, padding=1), (1, 8, 64, 64)),
}
with torch.inference_mode():
    xs = {k: torch.randn(s) for k, (c, s) in cases.items()}
    best = {k: math.inf for k in cases}
    rb = {k: math.inf for k in cases}
    for _ in range(5):
        for k, (c, _s) in cases.items():
            x = xs[k]
            for _ in range(200):
                t = time.perf_counter()
                c(x)
                best[k] = min(best[k], time.perf_counter() - t)
            for _ in range(200):
                t = time.perf_counter()
                torch.relu(x)
                rb[k] = min(rb[k], time.perf_counter() - t)
    print(f"# {time.strftime('%H:%M:%S', time.gmtime())} UTC, torch {torch.__version__}, 1 thread")
    for k in cases:
        print(
            f"{k:40s} call {best[k] * 1e6:7.2f} us  relu {rb[k] * 1e6:5.2f} us  call - relu {(best[k] - rb[k]) * 1e6:7.2f} us",
            flush=True,
        )
    for k, (c, _s) in cases.items():
        print("##", k, flush=True)
        with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
            c(xs[k])
        sys.stdout.flush()
