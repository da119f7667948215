"""How fast `costmodel sweep` evaluates candidates: ratios measured in one run (the machine may be shared).

    python benchmarks/bench_sweep.py [--space arch_specs/spaces/resnet_like.yaml] [--hw a100] [--samples 4096]
    python benchmarks/bench_sweep.py --million      # also run a 10^6-candidate sweep once and time it
    git show REF:costmodel/sweep/fast.py > /tmp/fast_ref.py
    python benchmarks/bench_sweep.py --baseline /tmp/fast_ref.py   # this evaluator against REF's, then exit

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
   interpreter give two processes of this work, with no parent, no IPC and no cache split), in alternating order
   round by round, with each round's ratios and their median and range (``--long``: late in a long run, where
   the caches are warm, as in a 10^6 sweep); start-up (pool or
   cluster, the evaluator, one candidate per worker) measured apart (the timed sweep includes forking the local pool,
   not starting the Dask cluster) — candidates/s, the speed-up over 1 worker (and its share of the ceiling), and CPU
   per candidate: the workers' (on their chunks) and the parent's (receiving and writing chunks, the merge; for Dask
   also the scheduler and nannies, which run in the parent), with the bound W / (1 + parent/workers) that the
   parent's share puts on W workers sharing W cores; where each sweep's wall time went (before the first chunk
   began, the chunks, after the last; the workers' share of it in a chunk and on a CPU there; every process's CPU
   against the cores' time; the hypervisor's steal); and each 2-worker speed-up as the exact product of its three
   ratios to one worker -- CPU per candidate in chunks (the machine, the cache split), on a CPU while in a chunk
   (the parent's and other processes' CPU), in a chunk (start-up, waits, the tail, the merge) -- so that a slow
   machine (the first, as the ceiling's) is told from a slow design (the other two);
3. with ``--split N``, what splitting N candidates over 2 workers costs their caches (one process, no load): handed
   out by chunk, and by the space's ``affinity`` (each worker its part of every chunk, as the engines do);
4. the projected wall time of 10^6 candidates; with ``--million``, the measured one (wall time and rate).

With ``--baseline FILE`` (a ``costmodel/sweep/fast.py`` of another commit) it reports only this evaluator's speed over
that one's (:func:`against`): both in one process on the same candidates, slice by slice in alternating order.
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
from costmodel.sweep.sample import BLOCK, draw_part  # noqa: E402

LONG_WARM = 40_000  # --long: warm-up candidates per worker (a 10^6 sweep's worker has met every fragment by ~30,000)
LONG_SAMPLES = 32_768  # --long: candidates per timed sweep


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


def against(space_path: Path, hw: str, baseline: Path, n: int, rounds: int, piece: int = 32) -> None:
    """This FastAnalyzer's speed over the one in ``baseline`` (a fast.py of another commit, imported as a module of
    costmodel.sweep, so it runs on today's latency model), one of each in this process on the same candidates: cold
    (the first ``n``, each side in full, the baseline first), warm (``rounds`` x ``n`` more) and cached (the last
    round's again), the warm and cached ones in slices of ``piece`` run by both in alternating order, with the median
    and range of the slices' ratios: a shared machine's load moves both sides of a slice alike."""
    import contextlib
    import gc
    import importlib.util
    import statistics

    spec = importlib.util.spec_from_file_location("costmodel.sweep._baseline", baseline)
    assert spec is not None and spec.loader is not None
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # (dataclasses look their module up)
    spec.loader.exec_module(module)
    space = load_space(space_path)
    devices = devices_for([hw])
    sides = {"baseline": module.FastAnalyzer.for_space(space, devices), "this": FastAnalyzer.for_space(space, devices)}
    evaluator = Evaluator(space, devices)
    specs = [candidate_spec(space.spec, evaluator.derive(v), evaluator.spec_names)
             for v in draw(space, Sampler.RANDOM, 0, 0, n * (rounds + 1))]

    def seconds(side: str, chunk: list[Any]) -> float:
        gc.collect()
        gc.disable()
        began = time.perf_counter()
        for candidate in chunk:
            with contextlib.suppress(Exception):  # an invalid candidate costs what it costs
                sides[side](candidate)
        spent = time.perf_counter() - began
        gc.enable()
        return spent

    print(f"--baseline {baseline}: this evaluator's speed over the baseline's (> 1: faster); {load()}")
    cold = {side: seconds(side, specs[:n]) for side in sides}
    print(f"cold    {n} candidates: baseline {n / cold['baseline']:7.1f}/s, this {n / cold['this']:7.1f}/s, "
          f"{cold['baseline'] / cold['this']:.3f}x")
    for label, chunk in (("warm", specs[n:]), ("cached", specs[rounds * n:])):
        ratios, total = [], dict.fromkeys(sides, 0.0)
        for k, start in enumerate(range(0, len(chunk), piece)):
            part = chunk[start:start + piece]
            spent = {side: seconds(side, part) for side in (sides if k % 2 == 0 else reversed(list(sides)))}
            ratios.append(spent["baseline"] / spent["this"])
            for side in sides:
                total[side] += spent[side]
        print(f"{label:7} {len(chunk)} candidates: baseline {len(chunk) / total['baseline']:7.1f}/s, "
              f"this {len(chunk) / total['this']:7.1f}/s, {total['baseline'] / total['this']:.3f}x; slices of "
              f"{piece}: median {statistics.median(ratios):.3f}x, range {min(ratios):.3f}-{max(ratios):.3f}")
    print(load())


def whole(space_path: Path, hw: str, n: int, engine: Engine, workers: int, folder: Path, chunk: int = BLOCK,
          warm: int = 0, scheduler: str | None = None, client: Any = None) -> dict[str, float]:
    """A whole sweep (draw, evaluate, write, merge) of ``n`` candidates in chunks of ``chunk``: its seconds, this
    process's CPU seconds over it (``parent``: with 1 local worker that includes the work itself; with a Dask
    LocalCluster, its scheduler and nannies, which run here), of which the merge (``merge``), and the workers' CPU
    seconds on their chunks (``workers``: the sum of what each chunk's worker process spent on it, from
    ``ChunkFile.cpu_s``) -- CPU time, unlike wall time, barely moves with the load of a shared machine.

    Where the wall time went, from the chunks' spans (``ChunkFile.spans``: each part's process, wall start and end,
    CPU): ``first`` (seconds before the first chunk began: the pool's fork, the Dask client's connection),
    ``last`` (from the start to the end of the last chunk; after it, the merge and shutting down), ``busy`` (the
    chunks' wall seconds, summed over the workers) and ``processes`` (how many ran chunks); ``children`` (all CPU
    seconds of the worker processes over the sweep, in their chunks or not: those the local pool starts and
    reaps, and a Dask cluster's live ones) and ``steal`` (CPU seconds the hypervisor gave other guests).

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
    family, steal = _family_cpu(), _steal()
    cpu, began, epoch = _cpu(), time.perf_counter(), time.time()
    worker_cpu = 0.0
    spans: list[tuple[int, float, float, float]] = []
    for result in run.results(engine, workers, scheduler):
        worker_cpu += result.cpu_s
        spans += result.spans
    merging = _cpu()
    try:
        run.finish()
    except SpaceError as exc:  # the start-up's sweep of one candidate per worker may keep none (RegNet's 3 stages)
        if "no feasible candidate" not in str(exc):
            raise
    seconds, done = time.perf_counter() - began, _cpu()
    after = _family_cpu()
    children = after[0] - family[0] + sum(t - family[1].get(pid, 0.0) for pid, t in after[1].items())
    return {"seconds": seconds, "parent": done - cpu, "merge": done - merging, "workers": worker_cpu,
            "first": min(s[1] for s in spans) - epoch, "last": max(s[2] for s in spans) - epoch,
            "busy": sum(s[2] - s[1] for s in spans), "processes": len({s[0] for s in spans}),
            "children": children, "steal": _steal() - steal}


def _cpu() -> float:
    """CPU seconds of this process so far, all its threads (user and system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _family_cpu() -> tuple[float, dict[int, float]]:
    """CPU seconds (user and system) of this process's children that have ended and been waited for, and of each
    live descendant process (from ``/proc``; none where there is no ``/proc``)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        parents[int(entry)] = int(fields[1])  # after "pid (comm)": state, ppid, ..., utime (11), stime (12)
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    mine = {os.getpid()}
    live: dict[int, float] = {}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in mine and pid not in mine:
                mine.add(pid)
                live[pid] = times[pid]
                grew = True
    return usage.ru_utime + usage.ru_stime, live


def _steal() -> float:
    """CPU seconds the hypervisor has given other guests, all CPUs together (``/proc/stat``; 0 without it)."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = handle.readline().split()
    except OSError:
        return 0.0
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else 0.0


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


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def scaling(space: Path, hw: str, n: int, chunk: int, warm: int, rounds: int) -> dict[str, float]:
    """Whole sweeps of the same ``n`` candidates on 1 and 2 local workers and a 2-worker Dask LocalCluster, each in
    a fresh process, every worker warmed on the same ``warm`` other candidates first (not timed), and the ceiling
    (:func:`loops`: one worker's loop alone, then two at once), interleaved over ``rounds`` in alternating order
    (ceiling, 1 worker, 2 local, Dask; then the reverse: a drift of the machine's speed within a round weighs on
    both sides of each ratio); rate = n / seconds of the sweep. Start-up is measured apart: a fresh process's sweep
    of one candidate per worker (pool or cluster start, imports in the workers, the evaluator, one cold candidate).

    Beside each rate, CPU per candidate: the workers' (on their chunks) and the parent's (this side of the pipe:
    receiving and writing chunks, the merge; for Dask also the scheduler and nannies). With as many workers as
    cores the parent takes its CPU from them: the speed-up of W workers is at most W / (1 + p), p = parent CPU /
    workers' CPU, times what the machine gives two processes (the ceiling). Each round's ratios (2 workers over
    the same round's 1 worker, the ceiling) are printed too, and their median and range over the rounds: on a VM
    whose speed moves ~30 % between minutes, a ratio within one round is what means something. Returns the
    rates (means over the rounds)."""
    configs = [("local, 1 worker ", Engine.LOCAL, 1), ("local, 2 workers", Engine.LOCAL, 2),
               ("dask, 2 workers ", Engine.DASK, 2)]
    runs: dict[str, list[dict[str, float]]] = {label: [] for label, *_ in configs}
    starts: dict[str, list[float]] = {label: [] for label, *_ in configs}
    per_round: list[dict[str, float]] = []  # each round's seconds per configuration ("ceiling": the pair's)
    loads: list[float] = []
    alone: list[dict[str, float]] = []
    pairs: list[list[dict[str, float]]] = []
    steps: list[tuple[str, Engine, int] | None] = [None, *configs]  # None: the ceiling
    for k in range(rounds):
        seconds: dict[str, float] = {}
        for step in steps if k % 2 == 0 else steps[::-1]:
            if step is None:
                alone += loops(space, hw, n, chunk, warm, 1)
                pairs.append(loops(space, hw, n, chunk, warm, 2))
                seconds["alone"], seconds["pair"] = alone[-1]["seconds"], max(r["seconds"] for r in pairs[-1])
                loads.append(os.getloadavg()[0])
                continue
            label, engine, workers = step
            try:
                start = fresh(space, hw, engine, workers, workers, 1, 0)
                timed = fresh(space, hw, engine, workers, n, chunk, warm)
            except RuntimeError as exc:
                print(f"sweep, {label}: not measured ({exc})")
                continue
            starts[label].append(start["seconds"])
            runs[label].append(timed)
            seconds[label] = timed["seconds"]
            loads += [start["load"], timed["load"]]
        per_round.append(seconds)
        print(f"  round {k + 1}: " + ", ".join(f"{name.strip()} {value:.1f} s" for name, value in seconds.items())
              + f"; {load()}", flush=True)
    rates: dict[str, float] = {}
    shares: dict[str, dict[str, float]] = {}
    work_one = 0.0
    for label, _, workers in configs:
        if not runs[label]:
            continue

        def mean(key: str, label: str = label) -> float:
            return sum(r[key] for r in runs[label]) / len(runs[label])

        start, seconds_mean = sum(starts[label]) / len(starts[label]), mean("seconds")
        rates[label] = n / seconds_mean
        one = rates.get(configs[0][0])
        ratio = f"  {rates[label] / one:5.2f}x one local worker" if one and label != configs[0][0] else ""
        print(f"sweep, {label}  {rates[label]:9.1f} candidates/s{ratio}  ({n} candidates in {seconds_mean:.1f} s "
              f"after {warm} warm-up each; start-up {start:.1f} s apart; mean of {len(runs[label])})")
        us = 1e6 / n
        parent, merge, work = mean("parent") * us, mean("merge") * us, mean("workers") * us
        if workers == 1:  # in this process: the parent's CPU is the work plus the writing
            work_one = work
            print(f"    CPU per candidate: worker {work:7.1f} us; writing and merging {parent - work:6.1f} us "
                  f"(merge {merge:.1f} us)")
        else:
            p = parent / work
            outside = (mean("children") - mean("workers")) * us
            print(f"    CPU per candidate: workers {work:7.1f} us in their chunks (+{outside:.1f} us outside them); "
                  f"parent {parent:6.1f} us (merge {merge:.1f} us), p = {p:.3f}: at most {workers / (1 + p):.2f}x on "
                  f"{workers} cores")
            if work_one:  # each worker's caches see 1/W of the candidates: more misses per candidate
                print(f"    workers' CPU per candidate {work / work_one:.3f}x one worker's: with p, at most "
                      f"{workers * work_one / work / (1 + p):.2f}x on {workers} cores")
        shares[label] = _shares(runs[label], workers)
        _print_wall(runs[label], workers)
        one_shares = shares.get(configs[0][0])
        if workers > 1 and one_shares:  # the speed-up, factor by factor (an identity: their product is the ratio)
            cpu, on, busy = (one_shares[k] / shares[label][k] if k == "cpu" else shares[label][k] / one_shares[k]
                             for k in ("cpu", "on", "busy"))
            print(f"    {rates[label] / rates[configs[0][0]]:.2f}x one worker = {workers} workers x {cpu:.3f} (CPU per "
                  f"candidate in chunks, one's over theirs: the machine and the cache split) x {on:.3f} (on a CPU "
                  f"while in a chunk, theirs over one's: the parent, other processes, the hypervisor) x {busy:.3f} "
                  f"(in a chunk, theirs over one's: start-up, waits, the tail, the merge)")
    if alone:
        one_s = sum(r["seconds"] for r in alone) / len(alone)
        pair_s = sum(max(r["seconds"] for r in pair) for pair in pairs) / len(pairs)
        bound = 2 * one_s / pair_s
        excess = sum(r["cpu"] for pair in pairs for r in pair) / (2 * len(pairs)) / (
            sum(r["cpu"] for r in alone) / len(alone))
        on_alone = sum(r["cpu"] for r in alone) / sum(r["seconds"] for r in alone)
        on_pair = sum(r["cpu"] for pair in pairs for r in pair) / sum(r["seconds"] for pair in pairs for r in pair)
        print(f"ceiling: 2 independent processes, each one worker's loop over the same {n} candidates (run_chunk, "
              f"after {warm} warm-up; no parent, no IPC, no cache split) at once ran {bound:.2f}x one alone (CPU per "
              f"candidate {excess:.3f}x alone's: the machine's part; on a CPU {on_pair:.1%} of their wall against "
              f"{on_alone:.1%} alone; alone {n / one_s:.1f} candidates/s); mean of {len(alone)}")
        for label, _, workers in configs:
            if workers == 2 and label in rates and configs[0][0] in rates:
                achieved = rates[label] / rates[configs[0][0]]
                print(f"    {label.strip()}: {achieved:.2f}x one worker = {achieved / bound:.0%} of the ceiling")
    one_label = configs[0][0]
    for label in [c[0] for c in configs[1:]] + ["ceiling"]:
        if label == "ceiling":
            ratios = [2 * r["alone"] / r["pair"] for r in per_round if "pair" in r]
        else:
            ratios = [r[one_label] / r[label] for r in per_round if one_label in r and label in r]
        if ratios:
            shown = ", ".join(f"{x:.2f}" for x in ratios)
            print(f"per round, {label.strip():16s} over one: median {_median(ratios):.2f}x, range "
                  f"{min(ratios):.2f}-{max(ratios):.2f}x ({shown})")
    if loads:
        print(f"  load average during these runs: {min(loads):.1f} to {max(loads):.1f} on {os.cpu_count()} CPUs "
              "(a 2-worker speed-up needs 2 idle cores)")
    return rates


def _shares(runs: list[dict[str, float]], workers: int) -> dict[str, float]:
    """Over ``runs`` of one configuration: the workers' CPU seconds in chunks (``cpu``), the share of their chunks'
    wall time they were on a CPU (``on``) and the share of ``workers`` x the sweeps' wall time they were in a chunk
    (``busy``). The sweep's wall time is ``cpu / on / busy / workers``, so two configurations' ratio of rates is
    the product of the ratios of these three."""
    cpu, busy, seconds = (sum(r[key] for r in runs) for key in ("workers", "busy", "seconds"))
    return {"cpu": cpu, "on": cpu / busy, "busy": busy / (workers * seconds)}


def _print_wall(runs: list[dict[str, float]], workers: int) -> None:
    """Where one configuration's wall time went (means over ``runs``): before the first chunk, the chunks, after
    the last; how much of it the workers spent in chunks and on a CPU there; all its processes' CPU against the
    cores' time."""
    def mean(key: str) -> float:
        return sum(r[key] for r in runs) / len(runs)

    seconds, first, last = mean("seconds"), mean("first"), mean("last")
    cpu, busy = mean("workers"), mean("busy")
    total = mean("children") + mean("parent")  # with 1 local worker the work runs in the parent: no children
    print(f"    wall {seconds:.2f} s = {first:.2f} s before the first chunk began + {last - first:.2f} s to the end "
          f"of the last + {seconds - last:.2f} s after it (merge {mean('merge'):.2f} s); in a chunk {busy:.2f} s "
          f"of {workers} x {seconds:.2f} ({busy / (workers * seconds):.1%}), on a CPU {cpu / busy:.1%} of that; all "
          f"processes' CPU {total:.2f} s = {total / (workers * seconds):.1%} of {workers} core(s) x the wall "
          f"(the hypervisor took {mean('steal'):.2f} s of the machine's CPUs)")


def split(space_path: Path, hw: str, n: int, chunk: int, warm: int) -> tuple[float, float | None]:
    """What splitting a sweep over 2 workers costs their caches, free of load and of the parallel machine: in this
    one process, one evaluator runs every chunk of ``n`` candidates, while two others (each warmed like it on the
    same ``warm`` other candidates) run the even and the odd chunks (work handed out by chunk), and -- where the
    space has an ``affinity`` -- two more run each chunk's two parts (as :class:`~costmodel.sweep.engine.Handout`
    hands them to 2 workers), chunk by chunk interleaved so that all see the same load; returns CPU of each pair over
    CPU of the one (> 1: each of 2 workers meets more cache misses per candidate than a single worker that sees them
    all; the excess fades as the caches fill over a long run), None for the parts without an affinity."""
    space = load_space(space_path)
    devices = devices_for([hw])

    def evaluator() -> Evaluator:
        made = Evaluator(space, devices, FastAnalyzer.for_space(space, devices))
        made.chunk(0, 0, draw(space, Sampler.RANDOM, 1, 0, warm))
        return made

    one, halves = evaluator(), (evaluator(), evaluator())
    parts = (evaluator(), evaluator()) if space.affinity is not None else None
    cpu_one = cpu_two = cpu_parts = 0.0
    for k in range(-(-n // chunk)):
        start = k * chunk
        stop = min(n, start + chunk)
        candidates = draw(space, Sampler.RANDOM, 0, start, stop)
        began = time.process_time()
        one.chunk(k, start, candidates)
        settle_heap()  # as a worker does after each chunk (else the collector walks all the evaluators' caches)
        cpu_one += time.process_time() - began
        began = time.process_time()
        halves[k % 2].chunk(k, start, candidates)
        settle_heap()
        cpu_two += time.process_time() - began
        if parts is not None:
            for part, made in enumerate(parts):
                drawn = draw_part(space, Sampler.RANDOM, 0, start, stop, part, 2)
                began = time.process_time()
                made.chunk(k, start, [values for _, values in drawn], [i for i, _ in drawn])
                settle_heap()
                cpu_parts += time.process_time() - began
    return cpu_two / cpu_one, (cpu_parts / cpu_one if parts is not None else None)


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
    parser.add_argument("--long", action="store_true",
                        help=f"the worker comparison late in a long run, as in a 10^6 sweep, where the caches are "
                        f"warm: --warm {LONG_WARM} and --sweep-samples {LONG_SAMPLES} unless given (minutes per round)")
    parser.add_argument("--million", action="store_true", help="also run a 10^6-candidate sweep once and time it")
    parser.add_argument("--million-workers", type=int, default=1, help="local workers of the 10^6 sweep")
    parser.add_argument("--baseline", type=Path, default=None, metavar="FILE",
                        help="only compare this evaluator with FILE's (a costmodel/sweep/fast.py of another commit) "
                        "on --samples cold, --rounds x --samples warm candidates")
    args = parser.parse_args()
    if args.baseline is not None:
        against(args.space, args.hw, args.baseline, args.samples, args.rounds)
        return
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
    n = args.sweep_samples or (LONG_SAMPLES if args.long else 16 * args.samples)
    warm_n = args.warm if args.warm is not None else (LONG_WARM if args.long else args.samples)
    rates = scaling(args.space, args.hw, n, args.chunk, warm_n, args.rounds)
    if args.split:
        ratio, by_part = split(args.space, args.hw, args.split, args.chunk, warm_n)
        print(f"cache split: 2 evaluators on alternate chunks of {args.split} candidates spent {ratio:.3f}x the CPU "
              f"of 1 on all of them (one process, interleaved): 2 workers at most {2 / ratio:.2f}x one from this "
              f"alone; {load()}")
        if by_part is not None:
            print(f"cache split by affinity: 2 evaluators each on its part of every chunk (as 2 workers are handed "
                  f"them) spent {by_part:.3f}x the CPU of 1 on all: at most {2 / by_part:.2f}x one from this alone")
    one = rates.get("local, 1 worker ")
    if one:
        print(f"projected 10^6 candidates: {1e6 / one / 60:.1f} min on 1 worker at {one:.0f} candidates/s "
              f"(its caches warm further over a long run: an upper bound); {1e6 / warm / 60:.1f} min at the warm rate")
    if args.million:
        million(args.space, args.hw, args.million_workers)
    print(load())


if __name__ == "__main__":
    main()
