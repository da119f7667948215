"""oneDNN's dense conv primitive against MKL's GEMM on the same MACs, ONE thread, one run (a ratio within a run, so
the host's drift cancels). For every distinct dense (ungrouped, not 1x1) conv of the zoo that PyTorch runs with oneDNN
on one thread (latency.cpu.runs_on_onednn; NCHW input of more than 3 channels, as most of the zoo's are), nn.Conv2d
on a standard-normal input: the convolution primitive's time (ONEDNN_VERBOSE, least of 3 calls after 5 warm ones:
what the latency model's compute term stands for; the reorders are priced apart), and MKL's rate on the same MACs:
F.linear of the im2col shape (K = C_in / groups x k x k, N = C_out / groups) at M and at 2 M rows (M = output pixels;
least of REPS calls each, rounds interleaved with the conv), the rate of the extra M rows (the slope over rows, as
benchmarks/cpu_roofline.py --gemm-rows measures efficiency.per_op.gemm.compute: the weight packing, priced apart, is
in both calls and cancels), times the groups for a grouped conv. Prints per shape both rates as a share of one core's
PEAK GFLOP/s and their ratio, then the median ratio per kind (dense k x k stride s; grouped). Sets glibc's malloc
steady (no page faults per call).

Run from the repository root (on this VM, timing: alone on the machine):
    python benchmarks/cpu_micro/convgemm.py [PEAK_GFLOPS (default 230.4)]
Cited by: xeon6_gnr_vm sources (efficiency.per_op.conv.compute); docs/latency-model.md.
"""

import collections
import ctypes
import math
import os
import statistics
import sys
import time
from pathlib import Path

ctypes.CDLL("libc.so.6").mallopt(-1, 2**31 - 1)  # M_TRIM_THRESHOLD: no heap trim after a call
ctypes.CDLL("libc.so.6").mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from costmodel.api import load_graph  # noqa: E402
from costmodel.latency.contiguity import strided_layout  # noqa: E402
from costmodel.latency.cpu import runs_on_onednn  # noqa: E402
from costmodel.ops.base import pair  # noqa: E402

PEAK = float(sys.argv[1]) if len(sys.argv) > 1 else 230.4
REPS = int(os.environ.get("REPS", 8))
torch.set_num_threads(1)
found: dict[tuple, str] = {}
for spec in sorted((ROOT / "arch_specs").glob("*.yaml")):
    G = load_graph(spec, batch=1)
    nhwc = strided_layout(G, cpu=True).channels_last
    for L in G.layers:
        if L.op != "conv2d" or L.path in nhwc or not runs_on_onednn(L, "fp32", 1):
            continue
        a, s, o = L.attrs, L.input_shapes[0], L.cost.outputs[0]
        k, st = pair(a.kernel, 2, "k"), pair(a.stride, 2, "s")
        if k == (1, 1) or s[1] <= 3 or a.groups == s[1] or a.dilation not in (1, [1, 1]) or isinstance(a.padding, str):
            continue
        if k == st or o[2] * o[3] < 8:  # patchify convs; a conv over a single pixel or few (VGG's fc1 as a 7x7)
            continue
        found.setdefault((s[1], o[1], s[2], s[3], k, st, pair(a.padding, 2, "p"), a.groups), spec.stem)


def primitive_us(conv: torch.nn.Module, x: torch.Tensor) -> float:
    tmp = f"/tmp/convgemm_{os.getpid()}.txt"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    saved = os.dup(1)
    sys.stdout.flush()
    os.dup2(fd, 1)
    with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
        for _ in range(3):
            print("@@V", flush=True)
            conv(x)
    sys.stdout.flush()
    os.dup2(saved, 1)
    os.close(fd)
    calls: list[float] = []
    for line in open(tmp).read().splitlines():
        if line.startswith("@@V"):
            calls.append(0.0)
        elif line.startswith("onednn_verbose") and ",exec," in line and ",convolution," in line and calls:
            calls[-1] += float(line.split(",")[-1]) * 1e3
    os.remove(tmp)
    return min(calls)


print(f"# {len(found)} shapes, {time.strftime('%H:%M:%S', time.gmtime())} UTC, torch {torch.__version__}, "
      f"load {os.getloadavg()[0]:.2f}, peak {PEAK} GFLOP/s", flush=True)
ratios = collections.defaultdict(list)
for (cin, cout, h, w, k, st, pad, groups), model in sorted(found.items()):
    conv = torch.nn.Conv2d(cin, cout, k, stride=st, padding=pad, groups=groups, bias=True).eval()
    x = torch.randn(1, cin, h, w)
    with torch.inference_mode():
        y = conv(x)
        pixels = y.shape[2] * y.shape[3]
        kk, nn_ = cin // groups * k[0] * k[1], cout // groups
        a1, a2 = torch.randn(pixels, kk), torch.randn(2 * pixels, kk)
        wt = torch.randn(nn_, kk)
        flops = 2 * pixels * kk * cout
        for _ in range(5):
            conv(x)
            F.linear(a1, wt)
            F.linear(a2, wt)
        prim, g1, g2 = math.inf, math.inf, math.inf
        for _ in range(3):
            prim = min(prim, primitive_us(conv, x))
            for _ in range(REPS):
                t = time.perf_counter()
                F.linear(a1, wt)
                t2 = time.perf_counter()
                F.linear(a2, wt)
                t3 = time.perf_counter()
                g1, g2 = min(g1, (t2 - t) * 1e6), min(g2, (t3 - t2) * 1e6)
    gemm = (g2 - g1) * groups  # us for the conv's MACs at MKL's slope rate
    e_conv, e_gemm = flops / prim / 1e3 / PEAK, flops / gemm / 1e3 / PEAK
    group = f"k{k[0]}s{st[0]}" + (f"g{groups}" if groups > 1 else "")
    ratios["grouped" if groups > 1 else group].append(e_conv / e_gemm)
    print(f"{cin:4d}->{cout:4d} {h:3d}x{w:<3d} {group:8s} MFLOP {flops / 1e6:8.1f}  conv primitive {prim:8.1f} us "
          f"({e_conv:.3f} of peak)  GEMM slope [{pixels} x {kk}] x [{kk} x {nn_}] x {groups} {gemm:8.1f} us "
          f"({e_gemm:.3f})  conv/GEMM rate {e_conv / e_gemm:.3f}  [{model}]", flush=True)
every = [r for g, rs in ratios.items() if g != "grouped" for r in rs]
for group, rs in sorted(ratios.items()):
    print(f"{group}: {len(rs)} shapes, conv/GEMM rate median {statistics.median(rs):.3f}")
print(f"dense: {len(every)} shapes, conv/GEMM rate median {statistics.median(every):.3f}, quartiles "
      f"{', '.join(f'{q:.3f}' for q in statistics.quantiles(every, n=4))}; load {os.getloadavg()[0]:.2f}, "
      f"{time.strftime('%H:%M:%S', time.gmtime())} UTC")
