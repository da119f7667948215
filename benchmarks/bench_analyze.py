"""How fast is `analyze`? In-process timings on convnext_t and on generated chains of 250..2,000 layers.

Run: python benchmarks/bench_analyze.py. Prints the median of repeated warm runs and the time per layer
for each size: cost should grow linearly with the node count (time per layer roughly constant), then the
wall time of a whole `costmodel analyze` process (start-up included: the CLI must not import matplotlib, scipy's
stats/optimize, torch or onnx unless a command needs them).
Targets (issue 2): convnext_t under 20 ms warm; a 2,000-layer network under 1 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from costmodel import analyze
from costmodel.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[1]


def generated(layers: int) -> dict:
    """A residual conv chain with `layers` ops: blocks of 5 ops (conv, bn, relu, dwconv, add)."""
    return {
        "name": f"chain_{layers}",
        "inputs": {"image": [64, 56, 56]},
        "blocks": {"unit": {"nodes": [
            {"name": "conv", "op": "conv2d", "out": 64, "kernel": 1},
            {"name": "bn", "op": "batch_norm"},
            {"name": "act", "op": "relu"},
            {"name": "dw", "op": "conv2d", "out": 64, "kernel": 3, "padding": 1, "groups": 64},
            {"name": "add", "op": "add", "inputs": ["x", "dw"]},
        ]}},
        "nodes": [{"name": "blocks", "block": "unit", "repeat": layers // 5}],
    }


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    spec = load_spec(ROOT / "arch_specs/convnext_t.yaml")
    t = median_seconds(lambda: analyze(spec), 30)
    print(f"convnext_t ({len(analyze(spec).layers)} layers), parsed spec: {t * 1e3:7.2f} ms  (target < 20 ms)")
    t_file = median_seconds(lambda: analyze(ROOT / "arch_specs/convnext_t.yaml"), 30)
    print(f"convnext_t from the YAML file:          {t_file * 1e3:7.2f} ms")
    print("\nlayers   median      per layer")
    for layers in (250, 500, 1000, 2000):
        chain = parse_spec(generated(layers))
        t = median_seconds(lambda chain=chain: analyze(chain), 5)
        print(f"{layers:6d}  {t * 1e3:7.1f} ms  {t / layers * 1e6:7.1f} us")
    print("\ntarget: 2,000 layers < 1 s; a flat 'per layer' column means linear growth")
    command = [sys.executable, "-m", "costmodel.cli", "analyze", str(ROOT / "arch_specs/resnet18.yaml")]
    t = median_seconds(lambda: subprocess.run(command, check=True, capture_output=True), 5)
    print(f"\n`costmodel analyze arch_specs/resnet18.yaml`, whole process: {t * 1e3:7.0f} ms")


if __name__ == "__main__":
    main()
