"""CPU per candidate of the sweep's evaluator on a stream of new candidates, in this one process (no engine, no
files): the quick A/B for changes to ``costmodel/sweep/fast.py`` (run it from two checkouts, interleaved).

    python benchmarks/sweep_stream.py [--space arch_specs/spaces/resnet_like.yaml] [--hw a100] [--warm 1000]
                                      [--samples 8192] [--chunk 1024] [--gc settle|as-is|off]

Evaluates ``--warm`` candidates (not timed), then ``--samples`` new ones in chunks of ``--chunk``, and prints the
candidates per CPU second over all of them, over the first chunk and over the last, with the 1-minute load average.
``--gc``: after each chunk what a worker does (``settle``: ``costmodel.sweep.engine.settle_heap``, the heap frozen),
nothing (``as-is``: Python's collector as it comes), or the collector off throughout (``off``).

``--progress N``: a line every N candidates (the CPU rate since the last line, the cache's estimated bytes and how
often it was dropped, whole or its segments only): what a long sweep's worker goes through.

``--pair R``: instead, after the warm-up (and, with ``--cached``, the ``--samples`` candidates twice, so that their
fragments and segments are cached), ``R`` rounds of one forked process evaluating the ``--samples`` candidates alone,
then two forked processes each evaluating all of them at once: the CPU per candidate two processes spend side by
side over one's alone, the part of a 2-worker sweep's excess that the machine (shared cores' caches, memory) causes,
with no cache split, parent or transport.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from costmodel.sweep import Evaluator, Sampler, devices_for, draw, load_space  # noqa: E402
from costmodel.sweep.engine import settle_heap  # noqa: E402
from costmodel.sweep.fast import FastAnalyzer  # noqa: E402
from costmodel.sweep.space import Space  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", type=Path, default=ROOT / "arch_specs/spaces/resnet_like.yaml")
    parser.add_argument("--hw", action="append", default=None, help="device (repeat for several; default a100)")
    parser.add_argument("--warm", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=8192)
    parser.add_argument("--chunk", type=int, default=1024)
    parser.add_argument("--gc", choices=["settle", "as-is", "off"], default="settle")
    parser.add_argument("--pair", type=int, default=0, metavar="R", help="rounds of 1 vs 2 forked processes")
    parser.add_argument("--cached", action="store_true", help="--pair on cached candidates")
    parser.add_argument("--progress", type=int, default=0, metavar="N",
                        help="every N candidates, a line: CPU rate since the last, the cache's estimated bytes, its "
                        "drops (whole, segments only), fragments and segments held, peak resident memory")
    parser.add_argument("--cache-mib", type=int, default=None, help="the evaluator's cache budget (MiB)")
    args = parser.parse_args()
    space = load_space(args.space)
    devices = devices_for(args.hw or ["a100"])
    analyzer = FastAnalyzer.for_space(space, devices)
    if args.cache_mib is not None:
        analyzer.budget.limit = args.cache_mib * 2**20
    evaluator = Evaluator(space, devices, analyzer)
    if args.gc == "off":
        gc.disable()

    def run(start: int, n: int) -> float:
        candidates = draw(space, Sampler.RANDOM, 0, start, start + n)
        began = time.process_time()
        evaluator.chunk(0, start, candidates)
        if args.gc == "settle":
            settle_heap()
        return time.process_time() - began

    run(0, args.warm)
    if args.pair:
        pair(args, run, evaluator, space)
        return
    parts: list[tuple[int, float]] = []
    for start in range(args.warm, args.warm + args.samples, args.chunk):
        n = min(args.chunk, args.warm + args.samples - start)
        parts.append((n, run(start, n)))
        done = start + n - args.warm
        if args.progress and done // args.progress != (done - n) // args.progress:
            since = parts[-max(1, args.progress // args.chunk):]
            print(json.dumps({"candidates": done, "rate": round(sum(k for k, _ in since) / sum(t for _, t in since)),
                              "cache_mib": round(analyzer.budget.used / 2**20), "drops": analyzer.drops,
                              "segment_drops": analyzer.composed_drops, "fragments": len(analyzer.fragments),
                              "segments": len(analyzer.segments),
                              "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                              "load": round(os.getloadavg()[0], 1)}), flush=True)
    rate = sum(n for n, _ in parts) / sum(seconds for _, seconds in parts)
    print(json.dumps({"space": args.space.stem, "gc": args.gc, "rate": rate,
                      "first_chunk": parts[0][0] / parts[0][1], "last_chunk": parts[-1][0] / parts[-1][1],
                      "load": round(os.getloadavg()[0], 1)}))


def pair(args: argparse.Namespace, run: Callable[[int, int], float], evaluator: Evaluator, space: Space) -> None:
    """``--pair``: CPU per candidate of two forked processes side by side over one's alone (module doc)."""
    from multiprocessing import get_context

    start, n = args.warm, args.samples
    if args.cached:
        run(start, n)
        run(start, n)
    candidates = draw(space, Sampler.RANDOM, 0, start, start + n)

    def work(queue: Any) -> None:
        began = time.process_time()
        evaluator.chunk(0, start, candidates)
        queue.put((time.process_time() - began) / n * 1e6)

    context = get_context("fork")
    spent: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.pair):
        for count in (1, 2):
            queue = context.Queue()
            processes = [context.Process(target=work, args=(queue,)) for _ in range(count)]
            for process in processes:
                process.start()
            for process in processes:
                process.join()
            spent[count] += [queue.get() for _ in processes]
    print(json.dumps({"space": args.space.stem, "cached": args.cached, "alone_us": statistics.median(spent[1]),
                      "pair_us": statistics.median(spent[2]),
                      "pair_over_alone": statistics.median(spent[2]) / statistics.median(spent[1]),
                      "load": round(os.getloadavg()[0], 1)}))


if __name__ == "__main__":
    main()
