"""The long fuzz campaign (issue 13's acceptance run): seeded fuzzed specs in-process and through the CLI, plus
profiles, measurement CSVs, ONNX models, design spaces (through `costmodel sweep`), measurement files (through
`costmodel calibrate`), option values (analyze, compare, hw, design score, zoo, plots), spoiled sweep results
(through `costmodel plot sweep`), random specs run in PyTorch (shapes, params, MACs against PyTorch's) and the same
imported back from ONNX and through torch.export (counts unchanged); these three skipped without torch (and onnx).
Prints, per kind, the cases that worked, the clean one-line errors and the failures (a traceback, a message that is
not one line naming the file, a run over 10 s of CPU time or 60 s of wall time), the slowest case, and the process's
peak memory (ru_maxrss: no case can have used more).

    nice python benchmarks/fuzz.py --seed 1 --specs 10000 --cli 1000 --cli-processes 100 --spaces 200 \
        --calibrations 200 --options 1000 --plot-sweeps 100 --torch 2000 --round-trips 300 \
        --torch-imports 1000 [--only spaces calibrations]

Exit code 1 when any case failed. tests/test_fuzz.py runs the same generators at a small fixed budget in CI.
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from costmodel.hardware import load_profile  # noqa: E402
from tests import fuzzing  # noqa: E402


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory in MB (Linux reports KB)."""
    return resource.getrusage(who).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--specs", type=int, default=10_000, help="fuzzed specs analysed in-process")
    parser.add_argument("--cli", type=int, default=1_000, help="fuzzed specs run through the CLI")
    parser.add_argument("--cli-processes", type=int, default=100,
                        help="of the --cli cases, how many run as a separate `python -m costmodel.cli` process")
    parser.add_argument("--profiles", type=int, default=500)
    parser.add_argument("--csvs", type=int, default=500)
    parser.add_argument("--onnx", type=int, default=100)
    parser.add_argument("--spaces", type=int, default=200, help="fuzzed design spaces through `costmodel sweep`")
    parser.add_argument("--calibrations", type=int, default=200,
                        help="fuzzed measurement files through `costmodel calibrate`")
    parser.add_argument("--options", type=int, default=1000, help="fuzzed option values through the CLI")
    parser.add_argument("--plot-sweeps", type=int, default=100,
                        help="spoiled sweep results through `costmodel plot sweep`")
    parser.add_argument("--torch", type=int, default=2000,
                        help="random specs run in PyTorch: shapes, params and MACs must agree (needs torch)")
    parser.add_argument("--round-trips", type=int, default=300,
                        help="random specs exported from PyTorch to ONNX and imported back (needs torch, onnx)")
    parser.add_argument("--torch-imports", type=int, default=1000,
                        help="random specs as PyTorch modules imported back through torch.export (needs torch)")
    parser.add_argument("--only", nargs="+", metavar="KIND",
                        choices=["specs", "cli", "profiles", "csvs", "onnx", "spaces", "calibrations", "options",
                                 "plot-sweeps", "torch", "round-trips", "torch-imports"],
                        help="run only these kinds")
    args = parser.parse_args()

    every = max(1, args.cli // args.cli_processes) if args.cli_processes else 0
    runs = [
        ("specs", lambda folder, tally: fuzzing.fuzz_specs(folder, args.seed, args.specs, tally, load_profile("a100"))),
        ("cli", lambda folder, tally: fuzzing.fuzz_cli(folder, args.seed + 1, args.cli, tally, every)),
        ("profiles", lambda folder, tally: fuzzing.fuzz_profiles(folder, args.seed + 2, args.profiles, tally)),
        ("csvs", lambda folder, tally: fuzzing.fuzz_csvs(folder, args.seed + 3, args.csvs, tally)),
        ("onnx", lambda folder, tally: fuzzing.fuzz_onnx(folder, args.seed + 4, args.onnx, tally)),
        ("spaces", lambda folder, tally: fuzzing.fuzz_spaces(folder, args.seed + 5, args.spaces, tally)),
        ("calibrations", lambda folder, tally: fuzzing.fuzz_calibrations(folder, args.seed + 6, args.calibrations,
                                                                         tally)),
        ("options", lambda folder, tally: fuzzing.fuzz_options(folder, args.seed + 7, args.options, tally)),
        ("plot-sweeps", lambda folder, tally: fuzzing.fuzz_plot_sweep(folder, args.seed + 8, args.plot_sweeps, tally)),
        ("torch", lambda folder, tally: fuzzing.fuzz_against_torch(folder, args.seed + 9, args.torch, tally)),
        ("round-trips", lambda folder, tally: fuzzing.fuzz_onnx_round_trip(folder, args.seed + 10, args.round_trips,
                                                                           tally)),
        ("torch-imports", lambda folder, tally: fuzzing.fuzz_torch_round_trip(folder, args.seed + 11,
                                                                              args.torch_imports, tally)),
    ]
    runs = [(name, run) for name, run in runs if args.only is None or name in args.only]
    if importlib.util.find_spec("torch") is None:
        runs = [(name, run) for name, run in runs if name not in ("torch", "round-trips", "torch-imports")]
        print("torch, round-trips, torch-imports: skipped (PyTorch is not installed)")
    elif importlib.util.find_spec("onnx") is None:
        runs = [(name, run) for name, run in runs if name != "round-trips"]
        print("round-trips: skipped (onnx is not installed)")
    failed = 0
    print(f"seed {args.seed}; time limit {fuzzing.TIME_LIMIT_S:g} s of CPU time per case (CLI processes +5 s "
          f"start-up), {fuzzing.WALL_LIMIT_S:g} s of wall time")
    print("cli: 'worked' counts runs that behaved (exit 0, or exit 2 with one error line naming the file)")
    print(f"{'kind':12} {'cases':>6} {'worked':>7} {'errors':>7} {'failed':>7} {'slowest s':>10} {'wall s':>7}")
    for name, run in runs:
        tally = fuzzing.Tally()
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            run(Path(folder), tally)
        wall = time.perf_counter() - start
        print(f"{name:12} {tally.total:6d} {tally.ok:7d} {tally.user_errors:7d} {len(tally.failures):7d} "
              f"{tally.slowest[0]:10.2f} {wall:7.0f}", flush=True)
        if tally.exits:
            print(f"    behaved: {', '.join(f'{n} exit {code}' for code, n in sorted(tally.exits.items()))}")
        problems = Counter(f"{kind}: {problem[:160]}" for kind, _, problem in tally.failures)
        for problem, count in problems.most_common(20):
            print(f"    {count} x {problem}")
        failed += len(tally.failures)
    print(f"peak memory: this process {peak_rss_mb():.0f} MB, "
          f"largest CLI child {peak_rss_mb(resource.RUSAGE_CHILDREN):.0f} MB")
    print(f"failures: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
