"""How fast `costmodel sweep` evaluates candidates: ratios measured in one run (the machine may be shared).

    python benchmarks/bench_sweep.py [--space arch_specs/spaces/resnet_like.yaml] [--hw a100] [--samples 4096]
    python benchmarks/bench_sweep.py --million      # also run a 10^6-candidate sweep once and time it

Reports, for one device:
1. the naive loop (today's way: ``Spec.model_copy(update={"vars": ...})``, build, analyze, estimate, score per
   candidate) against the sweep's evaluator on one core, cold (empty caches: the first ``--samples`` candidates)
   and warm (the next ones, in rounds interleaved with the naive loop so both see the same load) — candidates/s
   and ratios;
2. whole sweeps (draw, evaluate, write chunks, merge) on 1 and 2 local workers and on a 2-worker Dask LocalCluster,
   each in a fresh Python process (cold caches: nothing inherited from an earlier measurement), on the same
   ``--sweep-samples`` candidates (default 16 x ``--samples``, chunks of ``--chunk`` 128), every worker warmed first
   on ``--warm`` other candidates, interleaved over ``--rounds`` with the *ceiling* (two independent fresh processes
   each running one worker's whole loop over those candidates at once, against one alone: what the machine and the
   interpreter give two processes of this work, with no parent, no IPC and no cache split); start-up (pool or
   cluster, the evaluator, one candidate per worker) measured apart (the timed sweep includes forking the local pool,
   not starting the Dask cluster) — candidates/s, the speed-up over 1 worker (and its share of the ceiling), and CPU
   per candidate: the workers' (on their chunks) and the parent's (receiving and writing chunks, the merge; for Dask
   also the scheduler and nannies, which run in the parent), with the bound W / (1 + parent/workers) that the
   parent's share puts on W workers sharing W cores;
3. the projected wall time of 10^6 candidates; with ``--million``, the measured one (wall time and rate).
The 1-minute load average is printed throughout: on a shared machine only the ratios mean something, and a
2-worker speed-up needs two idle cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from costmodel.analysis import analyze_graph  # noqa: E402
from costmodel.design import score_graph  # noqa: E402
from costmodel.graph import build_graph  # noqa: E402
from costmodel.latency import estimate  # noqa: E402
from costmodel.sweep import Engine, Evaluator, Sampler, SpaceError, Sweep, devices_for, draw, load_space  # noqa: E402
from costmodel.sweep.engine import (  # noqa: E402
    SweepTask,
    evaluator_for,
    local_cluster,
    run_chunk,
    schema_for,
    settle_heap,
)
from costmodel.sweep.evaluate import candidate_spec  # noqa: E402
from costmodel.sweep.fast import FastAnalyzer  # noqa: E402
from costmodel.sweep.output import encode_chunk  # noqa: E402
from costmodel.sweep.sample import BLOCK  # noqa: E402


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


def compare(space_path: Path, hw: str, n: int, slow_n: int,
            rounds: int) -> tuple[float, float, float, int, float]:
    """Candidates/s of the sweep's evaluator in this process, cold (the first ``n``), then warm (``rounds`` of ``n``
    more, each after ``slow_n`` candidates of the naive loop), and of the naive loop; fragments cached; and of the
    evaluator on each warm round's candidates a third time (every fragment cached, and every segment: the plan makes
    one of a node's instances seen twice; as late in a long run)."""
    space = load_space(space_path)
    devices = devices_for([hw])
    analyzer = FastAnalyzer.for_space(space, devices)
    evaluator = Evaluator(space, devices, analyzer)

    def timed(start: int) -> float:
        candidates = draw(space, Sampler.RANDOM, 0, start, start + n)
        began = time.perf_counter()
        evaluator.chunk(0, start, candidates)
        settle_heap()  # as a worker ends each chunk (its caches out of the garbage collector's sight)
        return time.perf_counter() - began

    cold = n / timed(0)
    fast_s = slow_s = cached_s = 0.0
    for k in range(rounds):
        slow_s += naive(space_path, hw, 10**6 + k * slow_n, slow_n)
        fast_s += timed((k + 1) * n)
        timed((k + 1) * n)  # seen a second time: the plan makes their nodes' instances segments (not timed)
        cached_s += timed((k + 1) * n)  # and again: every fragment and segment cached (a long run's rate)
    return cold, rounds * n / fast_s, rounds * slow_n / slow_s, len(analyzer.fragments), rounds * n / cached_s


def whole(space_path: Path, hw: str, n: int, engine: Engine, workers: int, folder: Path, chunk: int = BLOCK,
          warm: int = 0, scheduler: str | None = None, client: Any = None) -> dict[str, float]:
    """A whole sweep (draw, evaluate, write, merge) of ``n`` candidates in chunks of ``chunk``: its seconds, this
    process's CPU seconds over it (``parent``: with 1 local worker that includes the work itself; with a Dask
    LocalCluster, its scheduler and nannies, which run here), of which the merge (``merge``), and the workers' CPU
    seconds on their chunks (``workers``: the sum of what each chunk's worker process spent on it, from
    ``ChunkFile.cpu_s``) -- CPU time, unlike wall time, barely moves with the load of a shared machine.

    ``warm``: first, every worker's evaluator of the run evaluates the same ``warm`` other candidates (seed 1), not
    timed: in this process before the local pool forks from it (its workers inherit the caches), or on each Dask
    worker (``client``, of the cluster at ``scheduler``)."""
    out = folder / f"{engine.value}-{workers}-{n}.parquet"
    run = Sweep(space_path, [hw], out, samples=n, seed=0, chunk_size=chunk)
    if warm:
        if client is not None:
            client.run(_warm, run.task, warm)
        else:
            _warm(run.task, warm)
    cpu, began = _cpu(), time.perf_counter()
    worker_cpu = 0.0
    for result in run.results(engine, workers, scheduler):
        worker_cpu += result.cpu_s
    merging = _cpu()
    try:
        run.finish()
    except SpaceError as exc:  # the start-up's sweep of one candidate per worker may keep none (RegNet's 3 stages)
        if "no feasible candidate" not in str(exc):
            raise
    seconds, done = time.perf_counter() - began, _cpu()
    return {"seconds": seconds, "parent": done - cpu, "merge": done - merging, "workers": worker_cpu}


def _cpu() -> float:
    """CPU seconds of this process so far, all its threads (user and system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _warm(task: SweepTask, n: int) -> None:
    """This process's evaluator of ``task`` run over ``n`` candidates not in the sweep (seed 1), their rows
    encoded (pyarrow's first conversion imports pandas: a second of CPU once per process)."""
    encode_chunk(evaluator_for(task).chunk(0, 0, draw(task.space, Sampler.RANDOM, 1, 0, n)), schema_for(task))


def child(argv: list[str]) -> None:
    """``--child SPACE HW ENGINE WORKERS N CHUNK WARM``: one whole sweep in this fresh process; prints JSON: what
    :func:`whole` measured and (Dask, warmed) the seconds its LocalCluster took to start."""
    space, hw, engine, workers, n, chunk, warm = argv
    folder = Path(tempfile.mkdtemp(prefix="bench_sweep."))
    kind, count = Engine(engine), int(workers)
    try:
        if kind is Engine.DASK and int(warm):  # a cluster of our own (as the sweep starts it), to warm its workers
            from distributed import Client

            began = time.perf_counter()
            with local_cluster(count) as cluster, Client(cluster) as client:
                start = time.perf_counter() - began
                measured = whole(Path(space), hw, int(n), kind, count, folder, int(chunk), int(warm),
                                 cluster.scheduler_address, client)
        else:
            start = 0.0
            measured = whole(Path(space), hw, int(n), kind, count, folder, int(chunk), int(warm))
        print(json.dumps({**measured, "start": start}))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fresh(space: Path, hw: str, engine: Engine, workers: int, n: int, chunk: int, warm: int) -> dict[str, float]:
    """A whole sweep in a fresh Python process (no cache of an earlier measurement helps it): its seconds, its
    cluster's start-up and the 1-minute load average when it ended."""
    command = [sys.executable, __file__, "--child", str(space), hw, engine.value, str(workers), str(n), str(chunk),
               str(warm)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "load": os.getloadavg()[0]}


def loop_child(argv: list[str]) -> None:
    """``--loop SPACE HW N CHUNK WARM``: one worker's whole job in this fresh process, with no parent and no IPC: the
    evaluator warmed on ``WARM`` other candidates (as :func:`whole` warms it), then, on a line on stdin (so that
    two such processes start their timed parts together), :func:`~costmodel.sweep.engine.run_chunk` over every
    chunk of the ``N`` candidates -- what the one local worker of :func:`whole` runs, less writing the chunks and
    the merge. Prints ``ready`` after the warm-up, then JSON: wall and CPU seconds of the timed part."""
    space, hw, n, chunk, warm = argv
    folder = Path(tempfile.mkdtemp(prefix="bench_sweep."))
    try:
        task = Sweep(Path(space), [hw], folder / "loop.parquet", samples=int(n), seed=0, chunk_size=int(chunk)).task
        if int(warm):
            _warm(task, int(warm))
        print("ready", flush=True)
        sys.stdin.readline()
        cpu, began = _cpu(), time.perf_counter()
        for k in range(task.chunks):
            run_chunk(task, k)
        print(json.dumps({"seconds": time.perf_counter() - began, "cpu": _cpu() - cpu}))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def loops(space: Path, hw: str, n: int, chunk: int, warm: int, count: int) -> list[dict[str, float]]:
    """``count`` :func:`loop_child` processes at once (started together after their warm-ups): each one's wall and
    CPU seconds."""
    command = [sys.executable, __file__, "--loop", str(space), hw, str(n), str(chunk), str(warm)]
    processes = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                 for _ in range(count)]
    for process in processes:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if line != "ready":
            for other in processes:  # none left waiting for its start
                other.kill()
                other.wait()
            raise RuntimeError(f"--loop: {line or 'no output'}")
    for process in processes:  # go, both at once
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    return [json.loads(process.communicate()[0].strip().splitlines()[-1]) for process in processes]


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def capacity(n: int = 5_000_000) -> float:
    """How much faster 2 processes run two pure-Python loops than one process runs both, now: the ceiling of any
    2-worker speed-up on this machine at this moment (two vCPUs that are one core's SMT threads, or other load,
    keep it well under 2)."""
    from concurrent.futures import ProcessPoolExecutor

    began = time.perf_counter()
    _spin(n)
    _spin(n)
    serial = time.perf_counter() - began
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_spin, [10, 10]))  # the workers started
        began = time.perf_counter()
        list(pool.map(_spin, [n, n]))
        return serial / (time.perf_counter() - began)


def _cached_pass(task: SweepTask, n: int) -> float:
    """Seconds this process's evaluator of ``task`` takes over the ``n`` candidates it was warmed on (all cached)."""
    candidates = draw(task.space, Sampler.RANDOM, 1, 0, n)
    began = time.perf_counter()
    evaluator_for(task).chunk(0, 0, candidates)
    return time.perf_counter() - began


def evaluator_capacity(space: Path, hw: str, n: int = 500) -> float:
    """:func:`capacity` with the sweep's own work instead of a pure-Python loop: how much faster 2 processes
    evaluate the same ``n`` cached candidates each than one process evaluates them twice, now (both forked from
    this process after it warmed its evaluator on them, and each run once untimed first). Below the pure-Python
    ceiling when the two processes compete for what the loop does not use (caches, memory bandwidth): the part of
    a shortfall that neither the parent nor the transport causes."""
    from concurrent.futures import ProcessPoolExecutor

    folder = Path(tempfile.mkdtemp(prefix="bench_sweep."))
    try:
        task = Sweep(space, [hw], folder / "capacity.parquet", samples=n, seed=1).task
        _warm(task, n)
        _cached_pass(task, n)  # seen a second time: the plan makes their nodes' instances segments
        serial = _cached_pass(task, n) + _cached_pass(task, n)
        with ProcessPoolExecutor(2) as pool:
            list(pool.map(_cached_pass, [task, task], [n, n]))  # started, their copied pages touched
            began = time.perf_counter()
            list(pool.map(_cached_pass, [task, task], [n, n]))
            return serial / (time.perf_counter() - began)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def scaling(space: Path, hw: str, n: int, chunk: int, warm: int, rounds: int) -> dict[str, float]:
    """Whole sweeps of the same ``n`` candidates on 1 and 2 local workers and a 2-worker Dask LocalCluster, each in
    a fresh process, every worker warmed on the same ``warm`` other candidates first (not timed), interleaved over
    ``rounds``; rate = n / seconds of the sweep. Start-up is measured apart: a fresh process's sweep of one
    candidate per worker (pool or cluster start, imports in the workers, the evaluator, one cold candidate).

    Beside each rate, CPU per candidate: the workers' (on their chunks) and the parent's (this side of the pipe:
    receiving and writing chunks, the merge; for Dask also the scheduler and nannies). With as many workers as
    cores the parent takes its CPU from them: the speed-up of W workers is at most W / (1 + p), p = parent CPU /
    workers' CPU, times what the machine gives two processes (the ceiling printed last). Returns the rates."""
    configs = [("local, 1 worker ", Engine.LOCAL, 1), ("local, 2 workers", Engine.LOCAL, 2),
               ("dask, 2 workers ", Engine.DASK, 2)]
    runs: dict[str, list[dict[str, float]]] = {label: [] for label, *_ in configs}
    starts: dict[str, list[float]] = {label: [] for label, *_ in configs}
    loads: list[float] = []
    alone: list[dict[str, float]] = []
    pairs: list[list[dict[str, float]]] = []
    for _ in range(rounds):
        alone += loops(space, hw, n, chunk, warm, 1)  # the ceiling: one worker's loop alone, then two at once
        loads.append(os.getloadavg()[0])
        pairs.append(loops(space, hw, n, chunk, warm, 2))
        loads.append(os.getloadavg()[0])
        for label, engine, workers in configs:
            try:
                start = fresh(space, hw, engine, workers, workers, 1, 0)
                timed = fresh(space, hw, engine, workers, n, chunk, warm)
            except RuntimeError as exc:
                print(f"sweep, {label}: not measured ({exc})")
                continue
            starts[label].append(start["seconds"])
            runs[label].append(timed)
            loads += [start["load"], timed["load"]]
    ceiling, workload = capacity(), evaluator_capacity(space, hw)
    rates: dict[str, float] = {}
    work_one = 0.0
    for label, _, workers in configs:
        if not runs[label]:
            continue

        def mean(key: str, label: str = label) -> float:
            return sum(r[key] for r in runs[label]) / len(runs[label])

        start, seconds = sum(starts[label]) / len(starts[label]), mean("seconds")
        rates[label] = n / seconds
        one = rates.get(configs[0][0])
        ratio = f"  {rates[label] / one:5.2f}x one local worker" if one and label != configs[0][0] else ""
        print(f"sweep, {label}  {rates[label]:9.1f} candidates/s{ratio}  ({n} candidates in {seconds:.1f} s after "
              f"{warm} warm-up each; start-up {start:.1f} s apart; mean of {len(runs[label])})")
        us = 1e6 / n
        parent, merge, work = mean("parent") * us, mean("merge") * us, mean("workers") * us
        if workers == 1:  # in this process: the parent's CPU is the work plus the writing
            work_one = work
            print(f"    CPU per candidate: worker {work:7.1f} us; writing and merging {parent - work:6.1f} us "
                  f"(merge {merge:.1f} us)")
        else:
            p = parent / work
            print(f"    CPU per candidate: workers {work:7.1f} us; parent {parent:6.1f} us (merge {merge:.1f} us), "
                  f"p = {p:.3f}: at most {workers / (1 + p):.2f}x on {workers} cores")
            if work_one:  # each worker's caches see 1/W of the candidates: more misses per candidate
                print(f"    workers' CPU per candidate {work / work_one:.3f}x one worker's: with p, at most "
                      f"{workers * work_one / work / (1 + p):.2f}x on {workers} cores")
    if alone:
        one_s = sum(r["seconds"] for r in alone) / len(alone)
        pair_s = sum(max(r["seconds"] for r in pair) for pair in pairs) / len(pairs)
        bound = 2 * one_s / pair_s
        excess = sum(r["cpu"] for pair in pairs for r in pair) / (2 * len(pairs)) / (
            sum(r["cpu"] for r in alone) / len(alone))
        print(f"ceiling: 2 independent processes, each one worker's loop over the same {n} candidates (run_chunk, "
              f"after {warm} warm-up; no parent, no IPC, no cache split) at once ran {bound:.2f}x one alone (CPU per "
              f"candidate {excess:.3f}x alone's: the machine's part; alone {n / one_s:.1f} candidates/s); mean of "
              f"{len(alone)}")
        for label, _, workers in configs:
            if workers == 2 and label in rates and configs[0][0] in rates:
                achieved = rates[label] / rates[configs[0][0]]
                print(f"    {label.strip()}: {achieved:.2f}x one worker = {achieved / bound:.0%} of the ceiling")
    if loads:
        print(f"  load average during these runs: {min(loads):.1f} to {max(loads):.1f} on {os.cpu_count()} CPUs "
              f"(a 2-worker speed-up needs 2 idle cores); 2 processes ran pure-Python loops {ceiling:.2f}x one just "
              f"after (the ceiling now), and the evaluator on cached candidates {workload:.2f}x one (this work's "
              "ceiling now: what two processes sharing the cores' caches and memory allow, with no parent or "
              "transport)")
    return rates


def split(space_path: Path, hw: str, n: int, chunk: int, warm: int) -> float:
    """What splitting a sweep over 2 workers costs their caches, free of load and of the parallel machine: in this
    one process, one evaluator runs every chunk of ``n`` candidates while two others (each warmed like it on the
    same ``warm`` other candidates) run the even and the odd chunks, chunk by chunk interleaved so that all see the
    same load; returns CPU of the two over CPU of the one (> 1: each of 2 workers meets more cache misses per
    candidate than a single worker that sees them all; the excess fades as the caches fill over a long run)."""
    space = load_space(space_path)
    devices = devices_for([hw])

    def evaluator() -> Evaluator:
        made = Evaluator(space, devices, FastAnalyzer.for_space(space, devices))
        made.chunk(0, 0, draw(space, Sampler.RANDOM, 1, 0, warm))
        return made

    one, halves = evaluator(), (evaluator(), evaluator())
    cpu_one = cpu_two = 0.0
    for k in range(-(-n // chunk)):
        start = k * chunk
        candidates = draw(space, Sampler.RANDOM, 0, start, min(n, start + chunk))
        began = time.process_time()
        one.chunk(k, start, candidates)
        settle_heap()  # as a worker does after each chunk (else the collector walks all three evaluators' caches)
        cpu_one += time.process_time() - began
        began = time.process_time()
        halves[k % 2].chunk(k, start, candidates)
        settle_heap()
        cpu_two += time.process_time() - began
    return cpu_two / cpu_one


def million(space: Path, hw: str, workers: int, total: int = 1_000_000) -> None:
    """A 10^6-candidate sweep on ``workers`` local workers, from cold caches: wall time (everything, from the space
    file to the merged Parquet file) and rate; progress on stderr every 10^5 candidates."""
    folder = Path(tempfile.mkdtemp(prefix="bench_sweep."))
    try:
        print(f"{total:,} candidates, {workers} local worker(s): starting; {load()}", flush=True)
        began = time.perf_counter()
        run = Sweep(space, [hw], folder / "million.parquet", samples=total, seed=0)
        done = 0
        for result in run.results(Engine.LOCAL, workers):
            done += result.drawn
            if done * 10 // total != (done - result.drawn) * 10 // total:
                seconds = time.perf_counter() - began
                print(f"  {done:,} candidates in {seconds:.0f} s ({done / seconds:.0f}/s); {load()}", file=sys.stderr,
                      flush=True)
        summary = run.finish()
        seconds = time.perf_counter() - began
        print(f"{total:,} candidates, {workers} local worker(s): {seconds:.0f} s wall ({seconds / 60:.1f} min), "
              f"{total / seconds:.0f} candidates/s, {summary.rows:,} rows kept; {load()}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
        return
    if sys.argv[1:2] == ["--loop"]:
        loop_child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", type=Path, default=ROOT / "arch_specs/spaces/resnet_like.yaml")
    parser.add_argument("--hw", default="a100")
    parser.add_argument("--samples", type=int, default=4096, help="candidates per measurement")
    parser.add_argument("--naive", type=int, default=60, help="candidates of the naive loop per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of naive loop and warm evaluator")
    parser.add_argument("--sweep-samples", type=int, default=None,
                        help="candidates per whole sweep of the worker comparison (default: 16 x --samples: enough "
                        "chunks that the last one's wait and the pool's start weigh little)")
    parser.add_argument("--chunk", type=int, default=128, help="chunk size of the worker comparison's sweeps")
    parser.add_argument("--warm", type=int, default=None,
                        help="warm-up candidates per worker before the worker comparison's sweeps (default: --samples)")
    parser.add_argument("--split", type=int, default=0, metavar="N",
                        help="also measure, in one process, what splitting N candidates over 2 workers' caches costs")
    parser.add_argument("--million", action="store_true", help="also run a 10^6-candidate sweep once and time it")
    parser.add_argument("--million-workers", type=int, default=1, help="local workers of the 10^6 sweep")
    args = parser.parse_args()
    print(f"{args.space.name}, --hw {args.hw}; {load()}")
    cold, warm, slow, fragments, cached = compare(args.space, args.hw, args.samples, args.naive, args.rounds)
    print(f"naive loop                 {slow:9.1f} candidates/s")
    print(f"sweep evaluator, cold      {cold:9.1f} candidates/s   {cold / slow:5.1f}x the naive loop "
          f"(first {args.samples} candidates)")
    print(f"sweep evaluator, warm      {warm:9.1f} candidates/s   {warm / slow:5.1f}x the naive loop "
          f"(next {args.rounds} x {args.samples}; {fragments} fragments cached)")
    print(f"sweep evaluator, cached    {cached:9.1f} candidates/s   {cached / slow:5.1f}x the naive loop "
          f"(the warm candidates a third time: every fragment and segment cached, as late in a long run)")
    print(load())
    n = args.sweep_samples or 16 * args.samples
    rates = scaling(args.space, args.hw, n, args.chunk, args.samples if args.warm is None else args.warm,
                    args.rounds)
    if args.split:
        ratio = split(args.space, args.hw, args.split, args.chunk, args.samples if args.warm is None else args.warm)
        print(f"cache split: 2 evaluators on alternate chunks of {args.split} candidates spent {ratio:.3f}x the CPU "
              f"of 1 on all of them (one process, interleaved): 2 workers at most {2 / ratio:.2f}x one from this "
              f"alone; {load()}")
    one = rates.get("local, 1 worker ")
    if one:
        print(f"projected 10^6 candidates: {1e6 / one / 60:.1f} min on 1 worker at {one:.0f} candidates/s "
              f"(its caches warm further over a long run: an upper bound); {1e6 / warm / 60:.1f} min at the warm rate")
    if args.million:
        million(args.space, args.hw, args.million_workers)
    print(load())


if __name__ == "__main__":
    main()
