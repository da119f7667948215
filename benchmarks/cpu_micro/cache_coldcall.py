"""The call path's own cost after a working set: a small op (its data 1-16 KiB) timed right after a buffer of B MiB
was filled (B = 0: nothing in between, the warm chain's case), 1 thread, least of R rounds x N calls, B interleaved
within each round. Op classes as the latency model's dispatch_us keys.

Run from the repository root (on this VM, timing: alone on the machine): python benchmarks/cpu_micro/cache_coldcall.py [ROUNDS] [MIB,...].
Cited by: docs/latency-model.md, the cache-level paragraphs (session 28, call-path penalty against the buffer filled in between).
"""

import math
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
R = int(sys.argv[1]) if len(sys.argv) > 1 else 3
N = 20
mib = [float(s) for s in (sys.argv[2].split(",") if len(sys.argv) > 2 else ["0", "1", "1.5", "2", "3", "4", "8", "32"])]
bufs = {b: torch.empty(int(b * 2**18)) for b in mib}
x = torch.randn(1, 16, 8, 8)
seq = torch.randn(1, 16, 64)
w = torch.randn(64, 64)
cw = torch.randn(16, 16, 3, 3)
dw = torch.randn(16, 1, 3, 3)
rm, rv = torch.zeros(16), torch.ones(16)
ops = {
    "elementwise relu": lambda: torch.relu(x),
    "elementwise add": lambda: x + x,
    "elementwise gelu": lambda: F.gelu(x),
    "reduction mean": lambda: x.mean((2, 3), keepdim=True),
    "norm layer_norm": lambda: F.layer_norm(seq, (64,)),
    "norm batch_norm": lambda: F.batch_norm(x, rm, rv),
    "gemm linear": lambda: F.linear(seq, w),
    "conv 3x3": lambda: F.conv2d(x, cw, padding=1),
    "depthwise 3x3": lambda: F.conv2d(x, dw, padding=1, groups=16),
    "softmax": lambda: torch.softmax(seq, -1),
}
print(
    f"# {time.strftime('%H:%M:%S', time.gmtime())} UTC, torch {torch.__version__}, R={R} N={N}; "
    "us per call after filling B MiB",
    flush=True,
)
print(f"{'op':20s} " + " ".join(f"{b:>7g}" for b in mib))
with torch.inference_mode():
    for name, op in ops.items():
        best = {b: math.inf for b in mib}
        for _ in range(R):
            for b in mib:
                for _ in range(N):
                    bufs[b].fill_(1.0)
                    t = time.perf_counter()
                    op()
                    dt = time.perf_counter() - t
                    best[b] = min(best[b], dt)
        print(f"{name:20s} " + " ".join(f"{best[b] * 1e6:7.1f}" for b in mib), flush=True)
