"""GRN (SpecModule's GlobalResponseNorm, as timm) at the zoo's shapes and layouts, 1 thread: minimum of interleaved
calls, against F.relu on the same tensor; and its ATen calls one by one. ns per element.

Run from the repository root (on this VM, timing: alone on the machine): python benchmarks/cpu_micro/grn.py  (torch, 1 thread).
Cited by: xeon6_gnr_vm cpu.strided_norm_ns sources.
"""

from pathlib import Path as _Path

ROOT = _Path(__file__).resolve().parents[2]
import functools
import math
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, str(ROOT))
from costmodel.bridges.torch_ops.layers import GlobalResponseNorm

torch.set_num_threads(1)


def best_of(calls, rounds=3, each=15):
    best = dict.fromkeys(calls, math.inf)
    for c in calls.values():
        c()
        c()
    for _ in range(rounds):
        for n, c in calls.items():
            for _ in range(each):
                t = time.perf_counter()
                c()
                best[n] = min(best[n], time.perf_counter() - t)
    return best


# (label, channels, side, layout): cl = NCHW shape, channels-last strides (after LayerNorm2d / a cl conv);
# nchw = contiguous NCHW; nhwc = [N, H, W, C] contiguous with channels last (channels_first: false)
SHAPES = [
    ("atto s0", 160, 56, "cl"),
    ("atto s1", 320, 28, "cl"),
    ("atto s2", 640, 14, "cl"),
    ("atto s3", 1280, 7, "cl"),
    ("atto s0 nchw", 160, 56, "nchw"),
    ("atto s2 nchw", 640, 14, "nchw"),
    ("nano s0", 320, 56, "cl"),
    ("nano s1", 640, 28, "cl"),
    ("tiny s0", 384, 56, "nhwc"),
    ("tiny s1", 768, 28, "nhwc"),
    ("tiny s2", 1536, 14, "nhwc"),
    ("tiny s3", 3072, 7, "nhwc"),
]
with torch.inference_mode():
    for label, c, s, lay in SHAPES:
        if lay == "nhwc":
            x = torch.randn(1, s, s, c)
            grn = GlobalResponseNorm(c, False, 4).eval()
            sp = (1, 2)
            cd = 3
        else:
            x = torch.randn(1, c, s, s)
            grn = GlobalResponseNorm(c, True, 4).eval()
            sp = (2, 3)
            cd = 1
            if lay == "cl":
                x = x.contiguous(memory_format=torch.channels_last)
        xg = x.norm(p=2, dim=sp, keepdim=True)
        xn = xg / (xg.mean(dim=cd, keepdim=True) + 1e-6)
        y = x * xn
        w = grn.weight.view(grn.shape)
        b = grn.bias.view(grn.shape)
        z = torch.addcmul(b, w, y)
        calls = {
            "relu": functools.partial(F.relu, x),
            "grn": functools.partial(grn, x),
            "norm": functools.partial(torch.norm, x, 2, sp, True),
            "mul": functools.partial(torch.mul, x, xn),
            "addcmul": functools.partial(torch.addcmul, b, w, y),
            "add": functools.partial(torch.add, x, z),
        }
        bt = best_of(calls)
        n = x.numel()
        print(
            f"{label:13s} {lay:4s} {n / 1e6:5.2f} M el  relu {bt['relu'] * 1e6:7.1f} us  grn {bt['grn'] * 1e6:7.1f} us = "
            f"{(bt['grn'] - bt['relu']) / n * 1e9:5.2f} ns/el beyond relu | norm {bt['norm'] * 1e6:6.1f} mul {bt['mul'] * 1e6:6.1f} "
            f"addcmul {bt['addcmul'] * 1e6:6.1f} add {bt['add'] * 1e6:6.1f} us",
            flush=True,
        )
