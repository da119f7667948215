"""2 threads: a reader's time right after different writers of its input (min of R calls per round, ROUNDS rounds,
cases interleaved call by call). Readers: clamp_min(out=o) (ATen at::parallel_for, preallocated output) and a 3x3
depthwise conv (oneDNN jit_dw with jit:blk reorders). Writers of the reader's input y:
  lib   : y = depthwise conv output (oneDNN, 2 threads; dst reorder aBcd16b -> abcd)
  libA  : a depthwise conv on other data, then y written by torch.mul(x, 1, out=y) on 2 threads (the 'after oneDNN' state)
  aten2 : torch.mul(x, 1, out=y) on 2 threads       serial: the same on 1 thread (the calling thread's core)
usage: python xfer3.py [R] [ROUNDS]

Run from the repository root (on this VM, timing: alone on the machine): python benchmarks/cpu_micro/xfer3.py [R] [ROUNDS]  (torch, 2 threads).
Cited by: docs/latency-model.md, cross-core handoff after library writers.
"""

import sys
import time

import torch
import torch.nn as nn

R = int(sys.argv[1]) if len(sys.argv) > 1 else 60
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
shapes = [(128, 28), (192, 28), (384, 14), (960, 7), (64, 56)]
now = time.perf_counter
torch.manual_seed(0)
print(
    "us: min over each round's calls, rounds separated by '/'; charge = the model's handoff for half the tensor at 49 ns/KiB"
)
with torch.inference_mode():
    for C, H in shapes:
        x = torch.randn(1, C, H, H)
        x2 = torch.randn(1, C, H, H)
        o = torch.empty(1, C, H, H)
        y = torch.empty(1, C, H, H)
        dw = nn.Conv2d(C, C, 3, padding=1, groups=C, bias=False).eval()
        dwb = nn.Conv2d(C, C, 3, padding=1, groups=C, bias=False).eval()
        torch.set_num_threads(2)
        for _ in range(5):
            dw(x)
            dwb(x)
        rounds = []
        for _r in range(ROUNDS):
            best = {}

            def rec(k, v):
                best[k] = min(best.get(k, 1e9), v)

            for _ in range(R):
                for reader in ("ew", "dw"):
                    fn = (lambda t: torch.clamp_min(t, 0, out=o)) if reader == "ew" else dwb
                    for c in ("lib", "libA", "aten2", "serial"):
                        if c == "lib":
                            yy = dw(x)
                        elif c == "libA":
                            dw(x2)
                            torch.mul(x, 1.0, out=y)
                            yy = y
                        elif c == "aten2":
                            torch.mul(x, 1.0, out=y)
                            yy = y
                        else:
                            torch.set_num_threads(1)
                            torch.mul(x, 1.0, out=y)
                            torch.set_num_threads(2)
                            yy = y
                        t = now()
                        fn(yy)
                        rec((reader, c), now() - t)
            rounds.append(best)
        kib = C * H * H * 4 / 1024
        cells = []
        for reader in ("ew", "dw"):
            for c in ("lib", "libA", "aten2", "serial"):
                cells.append(f"{reader}<{c} " + "/".join(f"{rd[(reader, c)] * 1e6:.1f}" for rd in rounds))
        print(f"{C}x{H}^2 ({kib:.0f} KiB, charge {kib / 2 * 49e-3:.1f} us): " + " | ".join(cells), flush=True)
