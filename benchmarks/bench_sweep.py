"""How fast `costmodel sweep` evaluates candidates: ratios measured in one run (the machine may be shared).

    python benchmarks/bench_sweep.py [--space arch_specs/spaces/resnet_like.yaml] [--hw a100] [--samples 4096]
    python benchmarks/bench_sweep.py --million      # also run a 10^6-candidate sweep once and time it

Reports, for one device:
1. the naive loop (today's way: ``Spec.model_copy(update={"vars": ...})``, build, analyze, estimate, score per
   candidate) against the sweep's evaluator on one core, cold (empty caches: the first ``--samples`` candidates)
   and warm (the next ones, in rounds interleaved with the naive loop so both see the same load) — candidates/s
   and ratios;
2. whole sweeps (draw, evaluate, write chunks, merge) on 1 and 2 local worker processes and on a 2-worker Dask
   LocalCluster — candidates/s and the speed-up over 1 worker;
3. the projected wall time of 10^6 candidates at the best rate; with ``--million``, the measured one.
The 1-minute load average is printed before and after: on a shared machine only the ratios mean something.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from costmodel.analysis import analyze_graph  # noqa: E402
from costmodel.design import score_graph  # noqa: E402
from costmodel.graph import build_graph  # noqa: E402
from costmodel.latency import estimate  # noqa: E402
from costmodel.sweep import Engine, Evaluator, Sampler, Sweep, devices_for, draw, load_space  # noqa: E402
from costmodel.sweep.evaluate import candidate_spec  # noqa: E402
from costmodel.sweep.fast import FastAnalyzer  # noqa: E402


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


def naive(space_path: Path, hw: str, start: int, n: int) -> float:
    """Seconds the loop people write today takes for candidates ``start`` .. ``start + n``."""
    space = load_space(space_path)
    device = devices_for([hw])[0]
    evaluator = Evaluator(space, [device])
    specs = [candidate_spec(space.spec, evaluator.derive(v), evaluator.spec_names)
             for v in draw(space, Sampler.RANDOM, 0, start, start + n)]
    began = time.perf_counter()
    for spec in specs:
        try:
            graph = build_graph(spec)
            analyze_graph(graph, space.data.dtype)
            estimate(graph, device.profile, dtype=space.data.dtype, precision=space.data.precision)
            score_graph(graph)
        except Exception:  # noqa: BLE001 - an invalid candidate costs what it costs
            pass
    return time.perf_counter() - began


def compare(space_path: Path, hw: str, n: int, slow_n: int, rounds: int) -> tuple[float, float, float, int]:
    """Candidates/s of the sweep's evaluator in this process, cold (the first ``n``), then warm (``rounds`` of ``n``
    more, each after ``slow_n`` candidates of the naive loop), and of the naive loop; fragments cached."""
    space = load_space(space_path)
    devices = devices_for([hw])
    data = space.data
    analyzer = FastAnalyzer(space.spec, devices, data.dtype, data.batch, space.spec_vars(), data.precision)
    evaluator = Evaluator(space, devices, analyzer)

    def timed(start: int) -> float:
        candidates = draw(space, Sampler.RANDOM, 0, start, start + n)
        began = time.perf_counter()
        evaluator.chunk(0, start, candidates)
        return time.perf_counter() - began

    cold = n / timed(0)
    fast_s = slow_s = 0.0
    for k in range(rounds):
        slow_s += naive(space_path, hw, 10**6 + k * slow_n, slow_n)
        fast_s += timed((k + 1) * n)
    return cold, rounds * n / fast_s, rounds * slow_n / slow_s, len(analyzer.fragments)


def whole(space_path: Path, hw: str, n: int, engine: Engine, workers: int, folder: Path) -> float:
    """Candidates/s of a whole sweep (draw, evaluate, write, merge)."""
    out = folder / f"{engine.value}-{workers}.parquet"
    began = time.perf_counter()
    run = Sweep(space_path, [hw], out, samples=n, seed=0)
    for _ in run.results(engine, workers):
        pass
    run.finish()
    return n / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", type=Path, default=ROOT / "arch_specs/spaces/resnet_like.yaml")
    parser.add_argument("--hw", default="a100")
    parser.add_argument("--samples", type=int, default=4096, help="candidates per measurement")
    parser.add_argument("--naive", type=int, default=60, help="candidates of the naive loop per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of naive loop and warm evaluator")
    parser.add_argument("--million", action="store_true", help="also run a 10^6-candidate sweep (1 worker)")
    args = parser.parse_args()
    print(f"{args.space.name}, --hw {args.hw}; {load()}")
    cold, warm, slow, fragments = compare(args.space, args.hw, args.samples, args.naive, args.rounds)
    print(f"naive loop                 {slow:9.1f} candidates/s")
    print(f"sweep evaluator, cold      {cold:9.1f} candidates/s   {cold / slow:5.1f}x the naive loop "
          f"(first {args.samples} candidates)")
    print(f"sweep evaluator, warm      {warm:9.1f} candidates/s   {warm / slow:5.1f}x the naive loop "
          f"(next {args.rounds} x {args.samples}; {fragments} fragments cached)")
    print(load())
    folder = Path(tempfile.mkdtemp(prefix="bench_sweep."))
    try:
        n = 2 * args.samples
        one = whole(args.space, args.hw, n, Engine.LOCAL, 1, folder)
        two = whole(args.space, args.hw, n, Engine.LOCAL, 2, folder)
        print(f"sweep, local, 1 worker     {one:9.0f} candidates/s")
        print(f"sweep, local, 2 workers    {two:9.0f} candidates/s   {two / one:5.2f}x one worker")
        try:
            dask = whole(args.space, args.hw, n, Engine.DASK, 2, folder)
            print(f"sweep, dask, 2 workers     {dask:9.0f} candidates/s   {dask / one:5.2f}x one local worker")
        except Exception as exc:  # noqa: BLE001 - dask is an optional extra
            print(f"sweep, dask: not measured ({exc})")
        best = max(one, two)
        print(f"projected 10^6 candidates: {1e6 / best / 60:.1f} min at {best:.0f} candidates/s (caches warm further "
              f"over a long run: an upper bound); {1e6 / warm / 60:.1f} min per worker at the warm rate")
        if args.million:
            began = time.perf_counter()
            whole(args.space, args.hw, 1_000_000, Engine.LOCAL, 1, folder)
            print(f"10^6 candidates, 1 worker: {time.perf_counter() - began:.0f} s wall")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(load())


if __name__ == "__main__":
    main()
