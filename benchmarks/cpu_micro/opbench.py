"""One op alone (a one-node spec, built as costmodel bench builds it: costmodel.bridges.torch.build_module) at 1 and 2
threads, interleaved, min of REPS calls per round, ROUNDS rounds (min over rounds; spread = max/min of the round minima),
against the model's 1- and 2-thread prediction (xeon6_gnr_vm, no handoff: a single kernel).
usage: python opbench.py KIND OUT.json [every]   KIND: dw | bn | relu | relu6 | silu | add

Run from the repository root (on this VM, timing: alone on the machine): python benchmarks/cpu_micro/opbench.py KIND OUT.json [EVERY]  (torch, 1 and 2 threads).
Cited by: xeon6_gnr_vm cpu.parallel sources (per-op efficiency).
"""

from pathlib import Path as _Path

ROOT = _Path(__file__).resolve().parents[2]
import glob
import json
import math
import os
import sys
import time

sys.path.insert(0, str(ROOT))
import torch

from costmodel.api import load_graph
from costmodel.bridges.torch import build_module, example_inputs
from costmodel.hardware import load_profile
from costmodel.latency import estimate

KIND, OUT = sys.argv[1], sys.argv[2]
EVERY = int(sys.argv[3]) if len(sys.argv) > 3 else 1
REPS, ROUNDS = int(os.environ.get("REPS", 15)), int(os.environ.get("ROUNDS", 3))
prof = load_profile("xeon6_gnr_vm")


def zoo_shapes():
    seen = {}
    for f in sorted(glob.glob(str(ROOT / "arch_specs" / "*.yaml"))):
        g = load_graph(f, batch=1)
        for l in g.layers:
            s = l.input_shapes[0] if l.input_shapes else None
            if (
                KIND == "dw"
                and l.op == "conv2d"
                and l.attrs.groups > 1
                and l.attrs.groups == s[1] == l.cost.outputs[0][1]
            ):
                seen.setdefault((s[1], s[2], s[3], json.dumps(l.attrs.kernel), json.dumps(l.attrs.stride)), 0)
            elif KIND in ("attention", "layer_norm", "gelu") and l.op == KIND:
                a = l.attrs
                seen.setdefault((json.dumps(list(s[1:])), getattr(a, "heads", 0)), 0)
            elif KIND == "linear" and l.op == "linear":
                seen.setdefault((json.dumps(list(s[1:])), l.cost.outputs[0][-1]), 0)
            elif KIND == "bn" and l.op == "batch_norm" and len(s) == 4 or KIND in ("relu", "relu6", "silu", "add") and l.op == KIND and len(s) == 4:
                seen.setdefault((s[1], s[2], s[3]), 0)
    return sorted(seen)[::EVERY]


def spec_of(key):
    if KIND == "dw":
        C, H, W, k, s = key
        k = json.loads(k)
        s = json.loads(s)
        pad = [v // 2 for v in k] if isinstance(k, list) else k // 2
        node = {
            "name": "op",
            "op": "conv2d",
            "out": C,
            "kernel": k,
            "stride": s,
            "padding": pad,
            "groups": C,
            "bias": False,
        }
        C_in = C
    elif KIND in ("attention", "layer_norm", "gelu"):
        shape, heads = key
        node = {"name": "op", "op": KIND}
        if KIND == "attention":
            node["heads"] = heads
        return {"name": "x", "inputs": {"x": json.loads(shape)}, "nodes": [node]}
    elif KIND == "linear":
        shape, out = key
        return {"name": "x", "inputs": {"x": json.loads(shape)}, "nodes": [{"name": "op", "op": "linear", "out": out}]}
    else:
        C, H, W = key
        C_in = C
        node = {"name": "op", "op": {"bn": "batch_norm"}.get(KIND, KIND)}
        if KIND == "add":
            return {
                "name": "x",
                "inputs": {"a": [C, H, W], "b": [C, H, W]},
                "nodes": [{"name": "op", "op": "add", "inputs": ["a", "b"]}],
            }
    return {"name": "x", "inputs": {"image": [C_in, H, W]}, "nodes": [node]}


rows = []
now = time.perf_counter
torch.manual_seed(0)
with torch.inference_mode():
    for key in zoo_shapes():
        g = load_graph(spec_of(key), batch=1)
        m = build_module(g).eval()
        xs = example_inputs(g)
        p = [estimate(g, prof, threads=t).summary.latency_s for t in (1, 2)]
        mins = {1: [], 2: []}
        for _r in range(ROUNDS):
            for t in (1, 2):
                torch.set_num_threads(t)
                m(*xs)
                m(*xs)
                b = math.inf
                for _ in range(REPS):
                    s = now()
                    m(*xs)
                    b = min(b, now() - s)
                mins[t].append(b)
        m1, m2 = min(mins[1]), min(mins[2])
        rows.append({"key": list(key), "m1": m1, "m2": m2, "p1": p[0], "p2": p[1], "r1": mins[1], "r2": mins[2]})
        print(
            f"{str(key):42s} m {m1 * 1e6:8.1f} {m2 * 1e6:8.1f} x{m1 / m2:5.2f} | p {p[0] * 1e6:8.1f} {p[1] * 1e6:8.1f} x{p[0] / p[1]:5.2f} | spread {max(mins[1]) / m1:.2f} {max(mins[2]) / m2:.2f}",
            flush=True,
        )
json.dump(rows, open(OUT, "w"), indent=0)
