"""The core's speed against a baseline checkout, as ratios measured in one run (the machine is shared and noisy:
absolute times mean little, ratios of interleaved runs do).

Run: python benchmarks/bench_core.py --base /tmp/base   (a checkout of the baseline, e.g.
``git worktree add /tmp/base dbc36be``). Each figure runs in a fresh process per tree (PYTHONPATH set to the
tree), base and current interleaved, and reports medians. Figures (issue 10):

- cold: a whole ``costmodel analyze arch_specs/convnext_t.yaml`` process over a bare ``python -c pass`` (the three
  interleaved; wall and CPU seconds);
- warm: ``costmodel.analyze("arch_specs/convnext_t.yaml")`` in a warmed-up process;
- flat: graph building of a spec with N top-level nodes (what an ONNX import produces), time per node;
- chain: a repeated block of N layers, time per layer;
- sweep: ``analyze convnext_t --hw a100 --sweep-batch 1,2,...,256`` as a whole process;
- design: ``design()`` of a ResNet space at 4.13 GMACs, 224 px, with the machine's default thread settings;
- compare: ``compare`` of the 17 zoo specs on four devices as a whole process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SNIPPETS = {
    "warm": """
import time, statistics
from costmodel import analyze
analyze("arch_specs/convnext_t.yaml")
times = []
for _ in range(REPEAT):
    t = time.perf_counter(); analyze("arch_specs/convnext_t.yaml"); times.append(time.perf_counter() - t)
print(statistics.median(times))
""",
    "flat": """
import time
from costmodel.graph import build_graph
from costmodel.spec import parse_spec
nodes = [{"name": "n0", "op": "relu"}]
for i in range(1, SIZE):
    nodes.append({"name": f"n{i}", "op": "add", "inputs": [f"n{i - 1}", f"n{max(i - 2, 0)}"]} if i % 2 else
                 {"name": f"n{i}", "op": "relu"})
spec = parse_spec({"name": "flat", "inputs": {"x": [64]}, "nodes": nodes})
t = time.perf_counter(); build_graph(spec); print(time.perf_counter() - t)
""",
    "chain": """
import time
from costmodel.graph import build_graph
from costmodel.spec import parse_spec
spec = parse_spec({"name": "chain", "inputs": {"image": [64, 56, 56]}, "blocks": {"unit": {"nodes": [
    {"name": "conv", "op": "conv2d", "out": 64, "kernel": 1},
    {"name": "bn", "op": "batch_norm"},
    {"name": "act", "op": "relu"},
    {"name": "dw", "op": "conv2d", "out": 64, "kernel": 3, "padding": 1, "groups": 64},
    {"name": "add", "op": "add", "inputs": ["x", "dw"]}]}},
    "nodes": [{"name": "blocks", "block": "unit", "repeat": SIZE // 5}]})
t = time.perf_counter(); build_graph(spec); print(time.perf_counter() - t)
""",
    "design": """
import time
from costmodel.design import Budget, Problem, design
problem = Problem("resnet", Budget(4.13e9, None, 0.3), resolution=224)
t = time.perf_counter(); design(problem); print(time.perf_counter() - t)
""",
}
CLI = [sys.executable, "-m", "costmodel.cli"]
COMMANDS = {
    "cold": [*CLI, "analyze", "arch_specs/convnext_t.yaml"],
    "pass": [sys.executable, "-c", "pass"],
    "sweep": [*CLI, "analyze", "arch_specs/convnext_t.yaml", "--hw", "a100", "--sweep-batch",
              "1,2,4,8,16,32,64,128,256"],
    "compare": [*CLI, "compare", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "arch_specs").glob("*.yaml")),
                "--hw", "a100", "--hw", "rtx4090", "--hw", "h100", "--hw", "rtx3090"],
}


def run(tree: Path, command: list[str]) -> float:
    """Wall seconds of a command run in ``tree`` with ``tree`` on PYTHONPATH."""
    return run_cpu(tree, command)[0]


def run_cpu(tree: Path, command: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of a command run in ``tree`` with ``tree`` on PYTHONPATH. The
    CPU time is less sensitive to the other processes of a loaded machine than the wall time."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=tree, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def snippet(tree: Path, name: str, **values: int) -> float:
    """The seconds a snippet prints, run in a fresh process in ``tree``."""
    code = SNIPPETS[name]
    for key, value in values.items():
        code = code.replace(key, str(value))
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def interleaved(trees: dict[str, Path], measure, repeats: int) -> dict[str, float]:  # noqa: ANN001
    """Median per tree of ``measure(tree)``, the trees taking turns."""
    times: dict[str, list[float]] = {name: [] for name in trees}
    for _ in range(repeats):
        for name, tree in trees.items():
            times[name].append(measure(tree))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="checkout of the baseline")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--only", nargs="*", help="figures to run (default: all)")
    args = parser.parse_args()
    trees = {"base": args.base.resolve(), "current": ROOT}
    want = set(args.only or ["cold", "warm", "flat", "chain", "sweep", "design", "compare"])
    results: dict[str, object] = {}
    n = args.repeats

    if "cold" in want:  # python -c pass takes its turn between the trees' runs, so all three see the same load
        runs: dict[str, list[tuple[float, float]]] = {"base": [], "current": [], "pass": []}
        for _ in range(n):
            for name, tree in trees.items():
                runs[name].append(run_cpu(tree, COMMANDS["cold"]))
            runs["pass"].append(run_cpu(ROOT, COMMANDS["pass"]))
        wall = {name: statistics.median(w for w, _ in values) for name, values in runs.items()}
        cpu = {name: statistics.median(c for _, c in values) for name, values in runs.items()}
        results["cold"] = {"base": wall["base"], "current": wall["current"], "python -c pass": wall["pass"],
                           "base / pass": wall["base"] / wall["pass"],
                           "current / pass": wall["current"] / wall["pass"],
                           "cpu s": cpu, "cpu base / pass": cpu["base"] / cpu["pass"],
                           "cpu current / pass": cpu["current"] / cpu["pass"]}
    if "warm" in want:
        both = interleaved(trees, lambda t: snippet(t, "warm", REPEAT=20), max(3, n // 2))
        results["warm"] = {**both, "speed-up": both["base"] / both["current"]}
    if "flat" in want:
        flat: dict[str, dict[int, float]] = {"base": {}, "current": {}}
        for size in (250, 1000, 4000, 16000):
            names = trees if size <= 4000 else {"current": ROOT}  # the base takes ~30 s at 16,000
            for name, seconds in interleaved(names, lambda t, s=size: snippet(t, "flat", SIZE=s), 3).items():
                flat[name][size] = seconds
        results["flat"] = {name: {size: {"s": s, "us per node": s / size * 1e6} for size, s in sizes.items()}
                           for name, sizes in flat.items()}
    if "chain" in want:
        chain: dict[str, dict[int, float]] = {"base": {}, "current": {}}
        for size in (250, 4000, 16000, 64000):
            names = trees if size <= 16000 else {"current": ROOT}
            for name, seconds in interleaved(names, lambda t, s=size: snippet(t, "chain", SIZE=s), 3).items():
                chain[name][size] = seconds
        results["chain"] = {name: {size: {"s": s, "us per layer": s / size * 1e6} for size, s in sizes.items()}
                            for name, sizes in chain.items()}
    for figure in ("sweep", "compare"):
        if figure in want:
            both = interleaved(trees, lambda t, f=figure: run(t, COMMANDS[f]), max(3, n // 2))
            results[figure] = {**both, "speed-up": both["base"] / both["current"]}
    if "design" in want:
        both = interleaved(trees, lambda t: snippet(t, "design"), 3)
        results["design"] = {**both, "speed-up": both["base"] / both["current"]}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
