"""torch.cat along channels at 1 and 2 threads (interleaved, min of R per round, 3 rounds) and, on 2 threads, an
elementwise op (clamp_min, out=) on the cat's output right after the cat vs right after a 2-thread ATen write of it.
usage: python catbench.py [R]

Run from the repository root (on this VM, timing: alone on the machine): python benchmarks/cpu_micro/catbench.py [R]  (torch, 1 and 2 threads).
Cited by: docs/latency-model.md, torch.cat paragraph.
"""

import sys
import time

import torch

R = int(sys.argv[1]) if len(sys.argv) > 1 else 40
now = time.perf_counter
cases = {  # name: (list of channel counts, H)
    "densenet 56^2 64+32x6": ([64] + [32] * 6, 56),
    "densenet 28^2 128+32x6": ([128] + [32] * 6, 28),
    "densenet 28^2 128+32x12": ([128] + [32] * 12, 28),
    "densenet 14^2 256+32x12": ([256] + [32] * 12, 14),
    "densenet 14^2 256+32x24": ([256] + [32] * 24, 14),
    "densenet 7^2 512+32x16": ([512] + [32] * 16, 7),
    "ghost 112^2 8+8": ([8, 8], 112),
    "ghost 56^2 36+36": ([36, 36], 56),
    "ghost 28^2 60+60": ([60, 60], 28),
    "ghost 14^2 120+120": ([120, 120], 14),
    "ghost 14^2 240+240": ([240, 240], 14),
    "ghost 7^2 480+480": ([480, 480], 7),
}
torch.manual_seed(0)
print(f"{'case':26s} {'out':>7s} {'slices>32768':>12s} | cat 1t / 2t (us) x | ew after cat / after aten2 (2t, us)")
with torch.inference_mode():
    for name, (chans, H) in cases.items():
        xs = [torch.randn(1, c, H, H) for c in chans]
        out = torch.empty(1, sum(chans), H, H)
        o = torch.empty_like(out)
        big = sum(c * H * H > 32768 for c in chans)
        best = {}

        def rec(k, v):
            best[k] = min(best.get(k, 1e9), v)

        for _r in range(3):
            for _ in range(R):
                for t in (1, 2):
                    torch.set_num_threads(t)
                    s = now()
                    y = torch.cat(xs, 1)
                    rec(("cat", t), now() - s)
                torch.set_num_threads(2)
                y = torch.cat(xs, 1)
                s = now()
                torch.clamp_min(y, 0, out=o)
                rec("ew_cat", now() - s)
                torch.mul(out, 1.0, out=out)
                s = now()
                torch.clamp_min(out, 0, out=o)
                rec("ew_aten", now() - s)
        c1, c2 = best[("cat", 1)] * 1e6, best[("cat", 2)] * 1e6
        print(
            f"{name:26s} {out.numel():7d} {big:5d}/{len(chans):<6d} | {c1:7.1f} {c2:7.1f} x{c1 / c2:4.2f} | {best['ew_cat'] * 1e6:6.1f} {best['ew_aten'] * 1e6:6.1f}",
            flush=True,
        )
