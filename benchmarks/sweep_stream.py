"""CPU per candidate of the sweep's evaluator on a stream of new candidates, in this one process (no engine, no
files): the quick A/B for changes to ``costmodel/sweep/fast.py`` (run it from two checkouts, interleaved).

    python benchmarks/sweep_stream.py [--space arch_specs/spaces/resnet_like.yaml] [--hw a100] [--warm 1000]
                                      [--samples 8192] [--chunk 1024] [--gc settle|as-is|off]

Evaluates ``--warm`` candidates (not timed), then ``--samples`` new ones in chunks of ``--chunk``, and prints the
candidates per CPU second over all of them, over the first chunk and over the last, with the 1-minute load average.
``--gc``: after each chunk what a worker does (``settle``: ``costmodel.sweep.engine.settle``, the heap frozen),
nothing (``as-is``: Python's collector as it comes), or the collector off throughout (``off``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from costmodel.sweep import Evaluator, Sampler, devices_for, draw, load_space  # noqa: E402
from costmodel.sweep.engine import settle  # noqa: E402
from costmodel.sweep.fast import FastAnalyzer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", type=Path, default=ROOT / "arch_specs/spaces/resnet_like.yaml")
    parser.add_argument("--hw", action="append", default=None, help="device (repeat for several; default a100)")
    parser.add_argument("--warm", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=8192)
    parser.add_argument("--chunk", type=int, default=1024)
    parser.add_argument("--gc", choices=["settle", "as-is", "off"], default="settle")
    args = parser.parse_args()
    space = load_space(args.space)
    devices = devices_for(args.hw or ["a100"])
    evaluator = Evaluator(space, devices, FastAnalyzer.for_space(space, devices))
    if args.gc == "off":
        gc.disable()

    def run(start: int, n: int) -> float:
        candidates = draw(space, Sampler.RANDOM, 0, start, start + n)
        began = time.process_time()
        evaluator.chunk(0, start, candidates)
        if args.gc == "settle":
            settle()
        return time.process_time() - began

    run(0, args.warm)
    parts = [(n, run(start, n)) for start in range(args.warm, args.warm + args.samples, args.chunk)
             for n in [min(args.chunk, args.warm + args.samples - start)]]
    rate = sum(n for n, _ in parts) / sum(seconds for _, seconds in parts)
    print(json.dumps({"space": args.space.stem, "gc": args.gc, "rate": rate,
                      "first_chunk": parts[0][0] / parts[0][1], "last_chunk": parts[-1][0] / parts[-1][1],
                      "load": round(os.getloadavg()[0], 1)}))


if __name__ == "__main__":
    main()
