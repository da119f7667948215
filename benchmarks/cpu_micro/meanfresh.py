"""Why a spatial mean is slow in the pass: x.mean((2, 3), keepdim=True) timed alone, 1 thread, least of 5 x 40 calls,
on (a) the same warm tensor every call, (b) a tensor a ReLU has just written (the ReLU untimed), (c) a tensor a
oneDNN depthwise conv has just written, (d) the same tensor after touching 16 MiB (its lines evicted to L3 / DRAM),
(e) a ReLU instead of the mean in case (b). Shapes: EfficientNet-B0's SE inputs and the 1280 x 7^2 head.

Run from the repository root (on this VM, timing: alone on the machine): python benchmarks/cpu_micro/meanfresh.py  (torch, 1 thread).
Cited by: docs/latency-model.md, "Measured and left" (spatial mean).
"""

import math
import time

import torch

torch.set_num_threads(1)
shapes = [(1, 96, 56, 56), (1, 144, 28, 28), (1, 240, 14, 14), (1, 672, 14, 14), (1, 1152, 7, 7), (1, 1280, 7, 7)]
big = torch.empty(4 * 2**20)
print(f"# {time.strftime('%H:%M:%S', time.gmtime())} UTC, torch {torch.__version__}")
with torch.inference_mode():
    for shape in shapes:
        x = torch.randn(shape)
        dw = torch.nn.Conv2d(shape[1], shape[1], 3, padding=1, groups=shape[1]).eval()

        def timed(prep, op):
            best = math.inf
            for _ in range(5):
                for _ in range(40):
                    y = prep()
                    t = time.perf_counter()
                    op(y)
                    best = min(best, time.perf_counter() - t)
            return best

        def mean(y):
            return y.mean((2, 3), keepdim=True)
        r = {
            "warm": timed(lambda: x, mean),
            "after relu": timed(lambda: torch.relu(x), mean),
            "after dw conv": timed(lambda: dw(x), mean),
            "evicted": timed(lambda: (big.fill_(1.0), x)[1], mean),
            "relu after relu": timed(lambda: torch.relu(x), torch.relu),
        }
        print(f"{str(list(shape)):20s} " + "  ".join(f"{k} {v * 1e6:6.1f} us" for k, v in r.items()), flush=True)
