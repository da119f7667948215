"""Per-layer time at 1 and 2 threads (interleaved rounds, min per layer), against the model's per-op prediction.
usage: python perlayer.py OUT.json spec.yaml [spec.yaml ...]

Run from the repository root (on this VM, timing: alone on the machine): python benchmarks/cpu_micro/perlayer_handoff.py OUT.json SPEC.yaml...  (torch, 1 and 2 threads).
Cited by: docs/latency-model.md, 2-thread per-layer / cross-core handoff (session 27).
"""

from pathlib import Path as _Path

ROOT = _Path(__file__).resolve().parents[2]
import json
import math
import sys
import time

sys.path.insert(0, str(ROOT))
import torch

from costmodel.api import load_graph
from costmodel.bridges.torch import build_module, example_inputs
from costmodel.hardware import load_profile
from costmodel.latency import estimate

ROUNDS, PASSES = 4, 6
prof = load_profile("xeon6_gnr_vm")
out = {}
for spec in sys.argv[2:]:
    graph = load_graph(spec, batch=1)
    module = build_module(graph).eval()
    inputs = example_inputs(graph)
    now = time.perf_counter
    started, current = {}, {}
    handles = []
    for path, layer in module.layers.items():

        def pre(_m, _a, path=path):
            started[path] = now()

        def post(_m, _a, _o, path=path):
            current[path] = current.get(path, 0.0) + now() - started.pop(path)

        handles += [layer.register_forward_pre_hook(pre), layer.register_forward_hook(post)]
    best = {1: {}, 2: {}}
    whole = {1: math.inf, 2: math.inf}
    with torch.inference_mode():
        for _r in range(ROUNDS):
            for t in (1, 2):
                torch.set_num_threads(t)
                module(*inputs)
                module(*inputs)
                for _ in range(PASSES):
                    current.clear()
                    s = now()
                    module(*inputs)
                    whole[t] = min(whole[t], now() - s)
                    for p, v in current.items():
                        best[t][p] = min(best[t].get(p, math.inf), v)
    for h in handles:
        h.remove()
    pred = {t: {op.path: op.latency_s for op in estimate(graph, prof, threads=t).ops} for t in (1, 2)}
    ptot = {t: estimate(graph, prof, threads=t).summary.latency_s for t in (1, 2)}
    out[spec] = {
        "whole": whole,
        "pred_total": ptot,
        "layers": {p: [best[1][p], best[2][p], pred[1].get(p, 0.0), pred[2].get(p, 0.0)] for p in best[1]},
    }
    print(
        spec,
        f"pass 1t {whole[1] * 1e3:.2f} 2t {whole[2] * 1e3:.2f} ms (x{whole[1] / whole[2]:.2f}); predicted {ptot[1] * 1e3:.2f} / {ptot[2] * 1e3:.2f}",
        flush=True,
    )
json.dump(out, open(sys.argv[1], "w"), indent=1)
