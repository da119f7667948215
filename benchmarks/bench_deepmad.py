"""DeepMAD's seven published searches under the official convention: costmodel's design against the published
network, solve times, and the cost of letting BLAS use its default threads.

Run: python benchmarks/bench_deepmad.py [--repeats N] [--threads-ab]. For each preset it solves the problem
(`costmodel design --preset ...`), checks the design's official flops, model_size and rho (read off the graph,
not the closed forms) against the official budgets, scores the published network (arch_specs/deepmad/) the same
way and prints both, with the median wall and CPU time of the solves. For the MBConv presets it also solves
with the official mutator limits (btn/out 1.5..6) to show what the default ratio floor of 4 costs.
--threads-ab: the same solve with BLAS at its default threads and limited to one, alternating in one process;
prints the ratio (the machine is shared and noisy: compare only ratios from one run).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from costmodel import load_graph
from costmodel.design.entropy import score_graph
from costmodel.design.presets import MBCONV_OFFICIAL_LIMITS, PRESETS
from costmodel.design.sbsolve import design_superblocks, from_preset, solve
from costmodel.vocab import Convention

ROOT = Path(__file__).resolve().parents[1]


def timed(fn, repeats: int):  # type: ignore[no-untyped-def]
    """(last result, median wall s, median CPU s)."""
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return result, statistics.median(walls), statistics.median(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads-ab", action="store_true")
    args = parser.parse_args()
    print("| preset | published objective | design objective | gain | flops (budget) | model_size (budget) | rho | "
          "ratios btn/out | kernels | depths | wall s | CPU s |")
    print("|---|---:|---:|---:|---|---|---:|---|---|---|---:|---:|")
    failures = 0
    for name, p in PRESETS.items():
        published = load_graph(ROOT / "arch_specs" / "deepmad" / f"{p.published.name}.yaml")
        pub = score_graph(published, p.alphas, p.beta, Convention.OFFICIAL)
        result, wall, cpu = timed(lambda p=p: design_superblocks(from_preset(p)), args.repeats)
        ok = (result.flops <= p.flops and result.params <= p.model_size and result.score.rho <= p.rho
              and result.score.objective > pub.objective)
        failures += not ok
        n = result.network
        print(f"| {name} | {pub.objective:,.1f} | {result.score.objective:,.1f} | "
              f"{result.score.objective / pub.objective - 1:+.1%} | {result.flops / 1e9:.4f}G ({p.flops / 1e9:g}G) | "
              f"{result.params / 1e6:.3f}M ({p.model_size / 1e6:g}M) | {result.score.rho:.3f} | "
              f"{', '.join(f'{b.btn / b.out:.2f}' for b in n.blocks)} | {[b.kernel for b in n.blocks]} | "
              f"{[b.depth for b in n.blocks]} | {wall:.2f} | {cpu:.2f} |{'' if ok else ' FAIL'}")
    print("\nMBConv presets with the official mutator limits (btn/out 1.5..6) instead of the default 4..6:")
    print("| preset | objective, ratio >= 4 | objective, ratio >= 1.5 | cost of the floor | ratios (1.5 floor) |")
    print("|---|---:|---:|---:|---|")
    for name, p in PRESETS.items():
        if p.kind != "k1dwsek1":
            continue
        default = design_superblocks(from_preset(p))
        loose = design_superblocks(from_preset(p, limits=MBCONV_OFFICIAL_LIMITS))
        print(f"| {name} | {default.score.objective:,.1f} | {loose.score.objective:,.1f} | "
              f"{default.score.objective / loose.score.objective - 1:+.1%} | "
              f"{', '.join(f'{b.btn / b.out:.2f}' for b in loose.network.blocks)} |")
    if args.threads_ab:
        from threadpoolctl import threadpool_limits

        problem = from_preset(PRESETS["deepmad-r50"])
        limited, default = [], []
        for _ in range(args.repeats):
            with threadpool_limits(limits=1):
                start = time.perf_counter()
                solve(problem)
                limited.append(time.perf_counter() - start)
            start = time.perf_counter()
            solve(problem)
            default.append(time.perf_counter() - start)
        print(f"\nthreads A/B (deepmad-r50 solve, median of {args.repeats}): default BLAS threads "
              f"{statistics.median(default):.2f} s, one thread {statistics.median(limited):.2f} s, ratio "
              f"{statistics.median(default) / statistics.median(limited):.1f}x")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
