"""Every distinct conv of the zoo that PyTorch runs with oneDNN on ONE thread (latency.cpu.runs_on_onednn at 1 thread;
patch_embed convs too), nn.Conv2d on a standard-normal NCHW input: best of 12 plain calls (1 thread), then 3 calls with
oneDNN's verbose output (least per primitive): the input's reorder, the weights', the convolution, the output's.
Prints one row per shape. Usage: dnnconv.py [EVERY] [KIND...]  (kinds: dw dwstride grouped patchify dense)

Run from the repository root (on this VM, timing: alone on the machine): python benchmarks/cpu_micro/dnnconv.py [EVERY] [KIND...]  (torch, 1 thread; OFFSET=1 for the other half).
Cited by: xeon6_gnr_vm sources (oneDNN conv reorders); docs/latency-model.md, oneDNN reorder section.
"""

from pathlib import Path as _Path

ROOT = _Path(__file__).resolve().parents[2]
import collections
import math
import os
import sys
import time

import torch

sys.path.insert(0, str(ROOT))
from costmodel.api import load_graph
from costmodel.latency.contiguity import strided_layout
from costmodel.latency.cpu import onednn_only_when_threaded, runs_on_onednn
from costmodel.ops.base import pair

torch.set_num_threads(1)
every = int(sys.argv[1]) if len(sys.argv) > 1 else 1
kinds = set(sys.argv[2:])
found = {}
for spec in sorted((ROOT / "arch_specs").glob("*.yaml")):
    G = load_graph(spec, batch=1)
    nhwc = strided_layout(G, cpu=True).channels_last
    for L in G.layers:
        if L.op == "patch_embed":
            p = pair(L.attrs.patch, 2, "patch")
            s = L.input_shapes[0]
            key = (s[1], L.attrs.out, s[2], s[3], p, p, (0, 0), 1, "patchify", False)
        elif L.op == "conv2d" and runs_on_onednn(L, "fp32", 1) and not onednn_only_when_threaded(L, "fp32"):
            a = L.attrs
            s = L.input_shapes[0]
            o = L.cost.outputs[0]
            k, st = pair(a.kernel, 2, "k"), pair(a.stride, 2, "s")
            if a.dilation not in (1, [1, 1]) or isinstance(a.padding, str):
                continue
            pad = pair(a.padding, 2, "p")
            kind = (
                ("dwstride" if max(st) > 1 else "dw")
                if a.groups == s[1] == o[1]
                else "grouped"
                if a.groups > 1
                else "patchify"
                if k == st and max(k) > 1
                else "dense"
            )
            key = (s[1], o[1], s[2], s[3], k, st, pad, a.groups, kind, L.path in nhwc)
        else:
            continue
        found.setdefault(key, spec.stem)
keys = sorted(k for k in found if not kinds or k[-2] in kinds or ("nhwc" in kinds and k[-1]))[
    int(os.environ.get("OFFSET", 0)) :: every
]
print(f"# {len(keys)} shapes, {time.strftime('%H:%M:%S', time.gmtime())} UTC, torch {torch.__version__}", flush=True)
for cin, cout, h, w, k, st, pad, groups, kind, cl in keys:
    conv = torch.nn.Conv2d(cin, cout, k, stride=st, padding=pad, groups=groups, bias=True).eval()
    x = torch.randn(1, cin, h, w)
    if cl:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        for _ in range(3):
            y = conv(x)
        best = math.inf
        for _ in range(12):
            t = time.perf_counter()
            conv(x)
            best = min(best, time.perf_counter() - t)
        tmp = f"/tmp/dnnconv_{os.getpid()}.txt"
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
        text = open(tmp).read()
        os.remove(tmp)
    calls, impl = [], ""
    for line in text.splitlines():
        if line.startswith("@@V"):
            calls.append(collections.Counter())
        elif line.startswith("onednn_verbose") and ",exec," in line and calls:
            f = line.split(",")
            kd = f[f.index("exec") + 2]
            desc = f[-2]
            ms = float(f[-1])
            if kd == "convolution":
                calls[-1]["conv"] += ms * 1e-3
                impl = f[f.index("exec") + 3]
            elif kd == "reorder":
                if desc == f"1x{cin}x{h}x{w}" and "src" not in calls[-1]:
                    calls[-1]["src"] += ms * 1e-3
                elif desc.startswith("1x"):
                    calls[-1]["dst"] += ms * 1e-3
                else:
                    calls[-1]["wei"] += ms * 1e-3
    least = {q: min(c[q] for c in calls) for q in ("src", "wei", "conv", "dst")}
    nin, nout = cin * h * w, y.numel()
    rest = best - sum(least.values())
    print(
        f"{kind + ('/nhwc' if cl else ''):13s} {cin:4d}->{cout:4d} {h:3d}x{w:<3d} k{k[0]}s{st[0]}g{groups:<4d} {impl:18s} in {nin:8d} out {nout:8d} "
        f"call {best * 1e6:8.1f} us  src {least['src'] * 1e6:7.1f} dst {least['dst'] * 1e6:7.1f} wei {least['wei'] * 1e6:6.1f} conv {least['conv'] * 1e6:8.1f} rest {rest * 1e6:7.1f}  "
        f"reorder ns/elem {(least['src'] + least['dst']) / (nin + nout) * 1e9:5.3f}  [{found[(cin, cout, h, w, k, st, pad, groups, kind, cl)]}]",
        flush=True,
    )
