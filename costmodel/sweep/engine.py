"""Where chunks run: in this process, in local worker processes, or on a Dask cluster.

Every engine runs the same pure function, :func:`run_chunk` (a task and a chunk index -> the chunk's rows encoded
as an Arrow IPC stream, :class:`~.output.ChunkFile`), and yields results as they finish, in any order; the caller
writes each one and merges them in index order. The worker does all the per-candidate work (drawing, evaluating,
building the columns, encoding): the parent only writes the bytes it gets back (and puts a chunk's parts
together), so with as many workers as cores it takes little CPU from them (``benchmarks/bench_sweep.py`` measures
both sides). A worker's task is several chunks (or their parts) at once, fewer as the run ends
(:func:`batch_size`): a task's fixed costs in the parent -- above all a Dask scheduler's -- are paid per ~1,000
candidates, not per chunk.

- ``local``: one worker runs in this process; more are each a single-process
  :class:`concurrent.futures.ProcessPoolExecutor` that receives the task once, when it starts, and then only
  chunk numbers, handed out by :class:`Handout` (with an ``affinity`` in the space file, each worker its own part
  of every chunk; without, whole chunks from one queue).
- ``dask``: ``dask.distributed`` (the optional extra ``costmodel[dask]``); a ``tcp://HOST:PORT`` scheduler, or a
  ``LocalCluster`` of ``workers`` single-threaded processes on the loopback interface, its housekeeping slowed
  (:data:`DASK_QUIET`) so that it leaves the cores to the chunks. The task is scattered
  once (every task names it; each worker keeps one evaluator per run); a chunk whose worker dies is re-run on
  another by the scheduler (its ``allowed-failures``).
"""

from __future__ import annotations

import gc
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from .choices import Engine
from .evaluate import Device, Evaluator, metric_columns
from .output import ChunkFile, combine_parts, encode_chunk, schema
from .sample import BLOCK, Sampler, draw_part
from .space import Space, SpaceError


@dataclass(frozen=True)
class SweepTask:
    """Everything a worker needs to run any chunk of a sweep (picklable)."""

    token: str  # identifies the run: workers keep one evaluator per token
    space: Space
    devices: tuple[Device, ...]
    sampler: Sampler
    seed: int
    total: int
    fast: bool = True
    chunk_size: int = BLOCK

    @property
    def chunks(self) -> int:
        """Number of chunks."""
        return -(-self.total // self.chunk_size)


@dataclass
class _WorkerRun:
    """What a process keeps of the run whose chunks it evaluates (one run at a time), each part built on first use:
    the evaluator (its caches serve every chunk) and the Parquet schema of the rows."""

    key: tuple[str, bool]  # the run's token, and whether it uses the fast path (not part of the token)
    evaluator: Evaluator | None = None
    schema: Any = None


_RUN: list[_WorkerRun] = []  # per worker process: the run it evaluates now
_HEAP_OURS = [True]  # whether this process's heap is the sweep's to freeze (False in a caller's process that froze)


def _worker_run(task: SweepTask) -> _WorkerRun:
    """This process's state of ``task``'s run; another run's is dropped first, and the heap that
    :func:`settle_heap` froze for it is back in the collector's sight."""
    key = (task.token, task.fast)
    if not _RUN or _RUN[0].key != key:
        _RUN[:] = [_WorkerRun(key)]
        if _HEAP_OURS[0]:
            gc.unfreeze()
    return _RUN[0]


def evaluator_for(task: SweepTask) -> Evaluator:
    """This process's evaluator of ``task`` (built once: its caches serve every chunk of the run)."""
    state = _worker_run(task)
    if state.evaluator is None:
        metrics = None
        if task.fast:
            from .fast import FastAnalyzer

            metrics = FastAnalyzer.for_space(task.space, task.devices)
        state.evaluator = Evaluator(task.space, task.devices, metrics)
    return state.evaluator


def schema_for(task: SweepTask) -> Any:
    """This process's Parquet schema of ``task``'s rows (the parent's :func:`~.output.schema`, built once)."""
    state = _worker_run(task)
    if state.schema is None:
        state.schema = schema(task.space, metric_columns(task.devices))
    return state.schema


def run_chunk(task: SweepTask, chunk: int, part: int = 0, parts: int = 1) -> ChunkFile:
    """Draw and evaluate chunk ``chunk`` of ``task`` -- of its candidates, those of part ``part`` of ``parts``
    (:func:`~.sample.affinity_part`; all of them with one part); their rows encoded as an Arrow IPC stream (a
    part's the parent puts together with the chunk's other parts)."""
    began, wall = time.process_time(), time.time()
    start = chunk * task.chunk_size
    stop = min(task.total, start + task.chunk_size)
    drawn = draw_part(task.space, task.sampler, task.seed, start, stop, part, parts)
    result = evaluator_for(task).chunk(chunk, start, [values for _, values in drawn], [i for i, _ in drawn])
    done = encode_chunk(result, schema_for(task))
    settle_heap()
    done.cpu_s = time.process_time() - began
    done.spans = [(os.getpid(), wall, time.time(), done.cpu_s)]
    return done


def settle_heap() -> None:
    """After a chunk: what this process holds now (above all the evaluator's caches, hundreds of MB of small
    objects late in a run) is moved out of the cyclic garbage collector's sight (``gc.freeze``), after a collection
    of the young generations so that no fresh garbage is frozen with it. Python's collector otherwise walks the
    whole heap again and again as the caches grow: a fifth of a worker's CPU between candidates 1,000 and 3,000
    of the ResNet-like space (docs/sweep.md). Nothing is lost: frozen objects are still freed when their last
    reference goes (the caches hold no reference cycles, and a candidate makes none); only cyclic garbage already
    old at a freeze waits for the next run's :func:`gc.unfreeze` (:func:`evaluator_for`)."""
    if _HEAP_OURS[0]:
        gc.collect(1)
        gc.freeze()


@contextmanager
def _callers_heap() -> Iterator[None]:
    """Chunks run in the caller's process (one local worker): its heap is frozen after each chunk only if nothing
    was frozen in it before the run, and unfrozen when the run ends (or is abandoned) -- a library caller's
    process is not the sweep's to freeze; one that froze objects of its own keeps them so, and no more."""
    ours = gc.get_freeze_count() == 0
    _HEAP_OURS[:] = [ours]
    try:
        yield
    finally:
        _HEAP_OURS[:] = [True]
        if ours:
            gc.unfreeze()


ChunkFn = Callable[[SweepTask, int, int, int], ChunkFile]  # (task, chunk, part, parts) -> the part's rows


def run(task: SweepTask, chunks: Sequence[int], engine: Engine = Engine.LOCAL, workers: int | None = None,
        scheduler: str | None = None, fn: ChunkFn = run_chunk) -> Iterator[ChunkFile]:
    """Run ``chunks`` of ``task`` on ``engine``; yields each chunk's result (whole) as it finishes."""
    workers = workers or default_workers()
    if engine is Engine.DASK:
        yield from _dask(task, chunks, workers, scheduler, fn)
    elif workers == 1 or len(chunks) <= 1:
        with _callers_heap():
            for chunk in chunks:
                yield fn(task, chunk, 0, 1)
    else:
        yield from _processes(task, chunks, workers, fn)


def run_chunks(fn: ChunkFn, task: SweepTask, chunks: Sequence[int], part: int = 0, parts: int = 1) -> list[ChunkFile]:
    """One task of a worker: ``fn`` on part ``part`` of each of ``chunks`` in turn."""
    return [fn(task, chunk, part, parts) for chunk in chunks]


MIN_PART = 64  # candidates per part of a chunk, on average, at least: a part's fixed costs (encoding, transport)
IN_FLIGHT = 2  # tasks handed to each worker at a time: one running, one queued so it never waits on us
# Candidates per task at most when a task takes several chunks (or parts): a task's fixed costs -- a Dask task
# ~8 ms of CPU in the sweep's process, where its scheduler runs; a local one two messages and two wake-ups --
# spread over ~1 s of work, instead of over one chunk of 128 (p = 0.13 on Dask, docs/sweep.md).
TASK_CANDIDATES = 1024


def parts_for(task: SweepTask, workers: int) -> int:
    """Parts each chunk is cut into for ``workers`` workers: one per worker where the space has an ``affinity``
    (1 without: chunks go whole), at most one per :data:`MIN_PART` candidates of a chunk -- then several workers
    share a part (worker ``w`` has part ``w % parts``)."""
    if task.space.affinity is None:
        return 1
    return max(1, min(workers, task.chunk_size // MIN_PART))


def batch_size(left: int, sharers: int, most: int) -> int:
    """Chunks in the next task taken from a queue of ``left`` chunks that ``sharers`` workers draw from: a share
    of what is left (guided self-scheduling: ``left / (2 x IN_FLIGHT x sharers)``), at most ``most`` and at least
    one. Tasks start large (few messages, little of the parent's CPU) and shrink to single chunks at the end,
    so that the workers still finish together (at the end one waits for at most one chunk)."""
    return max(1, min(most, left // (2 * IN_FLIGHT * sharers)))


def batches(chunks: Sequence[int], sharers: int, most: int) -> list[list[int]]:
    """``chunks`` cut in order into the tasks :func:`batch_size` gives one queue (handed out ahead, as to a Dask
    scheduler)."""
    out, at = [], 0
    while at < len(chunks):
        size = batch_size(len(chunks) - at, sharers, most)
        out.append(list(chunks[at:at + size]))
        at += size
    return out


class Handout:
    """Which work each of ``workers`` workers gets next, and the chunks whose parts are all back.

    With ``parts`` > 1 every chunk is cut into parts by the space's ``affinity`` (:func:`~.sample.affinity_part`);
    worker ``w`` is handed part ``w % parts`` of each chunk in order, so that its caches meet the misses of its part
    of the space alone (with 1 part the workers share one queue of whole chunks). A task holds several chunks'
    parts (:func:`batch_size`: fewer tasks, less of the parent's CPU), the last ones one each. A worker whose part
    is all handed out takes the last chunk's part of the part with most left (its caches meet some misses twice,
    but no worker waits). A chunk is whole -- its rows in index order, as one worker makes it -- once all its
    parts are back (:func:`~.output.combine_parts`); which worker ran which part changes nothing in it."""

    def __init__(self, task: SweepTask, chunks: Sequence[int], parts: int, workers: int | None = None) -> None:
        self.parts = parts  # workers beyond ``parts`` share them: worker w has part w % parts
        self.todo = [deque(chunks) for _ in range(parts)]
        self.back: dict[int, list[ChunkFile]] = {}
        self.columns = schema(task.space, metric_columns(task.devices)) if parts > 1 else None
        self.sharers = -(-(workers or parts) // parts)  # workers drawing from each part's queue
        self.most = max(1, TASK_CANDIDATES * parts // task.chunk_size)  # chunks per task (a part's candidates)

    def next(self, worker: int) -> tuple[list[int], int] | None:
        """(chunks, part) for ``worker`` to run next; None when nothing is left to hand out."""
        own = self.todo[worker % self.parts]
        if own:
            return [own.popleft() for _ in range(batch_size(len(own), self.sharers, self.most))], worker % self.parts
        most = max(range(self.parts), key=lambda part: len(self.todo[part]))
        return ([self.todo[most].pop()], most) if self.todo[most] else None

    def back_from(self, done: ChunkFile) -> ChunkFile | None:
        """Take one part back; the whole chunk when it was the last one missing."""
        if self.parts == 1:
            return done
        got = self.back.setdefault(done.chunk, [])
        got.append(done)
        if len(got) < self.parts:
            return None
        del self.back[done.chunk]
        return combine_parts(got, self.columns)


def default_workers() -> int:
    """The CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


_TASK: list[SweepTask] = []  # in a local worker process: the task it was started with


def _start_worker(task: SweepTask) -> None:
    _TASK[:] = [task]


def _in_worker(fn: ChunkFn, chunks: Sequence[int], part: int = 0, parts: int = 1) -> list[ChunkFile]:
    return run_chunks(fn, _TASK[0], chunks, part, parts)


def _processes(task: SweepTask, chunks: Sequence[int], workers: int, fn: ChunkFn) -> Iterator[ChunkFile]:
    """Each worker a pool of one process of its own, handed its tasks (:class:`Handout`), :data:`IN_FLIGHT` at a
    time."""
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

    parts = parts_for(task, workers)
    handout = Handout(task, chunks, parts, workers)
    with ExitStack() as stack:
        pools = [stack.enter_context(ProcessPoolExecutor(max_workers=1, initializer=_start_worker, initargs=(task,)))
                 for _ in range(workers)]
        running: dict[Future[list[ChunkFile]], int] = {}  # -> the worker running it
        busy = [0] * workers
        try:
            while True:
                for worker, pool in enumerate(pools):
                    while busy[worker] < IN_FLIGHT and (work := handout.next(worker)) is not None:
                        running[pool.submit(_in_worker, fn, *work, parts)] = worker
                        busy[worker] += 1
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    busy[running.pop(future)] -= 1
                    for done in future.result():
                        whole = handout.back_from(done)
                        if whole is not None:
                            yield whole
        finally:
            for future in running:
                future.cancel()


# Dask's housekeeping in a LocalCluster we start, slowed from its defaults (a 20 ms event-loop tick, a 500 ms
# system monitor, a 100 ms memory monitor, a 1 s work-stealing pass, a stack-sampling profiler every 10 ms in
# each worker): idle, 2 workers cost 90 ms of CPU per second in this process and 117 ms in the workers with the
# defaults, 16 and 10 ms with these (psutil, load 5, 2 December) -- CPU that on 2 cores the workers' chunks lose.
# Tasks are queued on the scheduler and handed out as workers free up (worker-saturation), so no stealing is
# needed to balance; a dead worker's chunks are still re-run (the scheduler's allowed-failures, not stealing).
DASK_QUIET: dict[str, Any] = {
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.worker.profile.enabled": False,
    "distributed.scheduler.work-stealing": False,
}


def local_cluster(workers: int) -> Any:
    """A ``LocalCluster`` of ``workers`` single-threaded processes on the loopback interface, no dashboard, with
    :data:`DASK_QUIET`'s housekeeping (its nannies hand that configuration to the worker processes they start and
    restart). Raises ImportError without dask.distributed."""
    import dask
    from distributed import LocalCluster

    with dask.config.set(DASK_QUIET):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                            dashboard_address=None)


def _dask(task: SweepTask, chunks: Sequence[int], workers: int, scheduler: str | None,
          fn: ChunkFn) -> Iterator[ChunkFile]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise SpaceError("--engine dask needs dask.distributed: pip install 'costmodel[dask]'") from None
    cluster: Any = None
    try:
        if scheduler is None:
            cluster = local_cluster(workers)
            client = Client(cluster)
        else:
            client = Client(scheduler, timeout=30)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise SpaceError(f"cannot reach the Dask scheduler {scheduler or 'LocalCluster'}: {exc}") from None
    try:
        shared = client.scatter(task, broadcast=True)
        addresses = sorted(client.scheduler_info()["workers"]) if task.space.affinity is not None else []
        if parts_for(task, len(addresses)) > 1 and len(chunks) > 1:
            yield from _affine_dask(client, shared, task, chunks, addresses, fn)
            return
        # whole chunks, several to a task (batches: as many workers as the cluster has now share the queue; the
        # scheduler hands the tasks out in order, to whichever worker frees up, including ones that join later)
        sharers = max(1, len(client.scheduler_info()["workers"]))
        futures = [client.submit(run_chunks, fn, shared, batch, 0, 1, pure=False,
                                 key=f"costmodel-sweep-{task.token}-{batch[0]}+{len(batch)}")
                   for batch in batches(chunks, sharers, max(1, TASK_CANDIDATES // task.chunk_size))]
        for future in as_completed(futures):
            results = future.result()
            future.release()
            yield from results
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _affine_dask(client: Any, shared: Any, task: SweepTask, chunks: Sequence[int], addresses: Sequence[str],
                 fn: ChunkFn) -> Iterator[ChunkFile]:
    """Chunks cut into parts for the cluster's workers (:func:`parts_for`, :class:`Handout`), :data:`IN_FLIGHT`
    tasks at a time per worker, each asked of its worker but free to run on another (a lost worker's parts run
    elsewhere)."""
    from distributed import as_completed

    parts = parts_for(task, len(addresses))
    handout = Handout(task, chunks, parts, len(addresses))
    busy = [0] * len(addresses)  # per worker: more workers than parts share them (Handout)
    worker_of: dict[str, int] = {}
    flowing = as_completed()

    def hand_out() -> None:
        for worker, address in enumerate(addresses):
            while busy[worker] < IN_FLIGHT and (work := handout.next(worker)) is not None:
                batch, part = work
                future = client.submit(run_chunks, fn, shared, batch, part, parts, pure=False, workers=[address],
                                       allow_other_workers=True,
                                       key=f"costmodel-sweep-{task.token}-{batch[0]}+{len(batch)}-{part}of{parts}")
                worker_of[future.key] = worker
                busy[worker] += 1
                flowing.add(future)

    hand_out()
    for future in flowing:
        results = future.result()
        busy[worker_of.pop(future.key)] -= 1
        future.release()
        hand_out()
        for result in results:
            whole = handout.back_from(result)
            if whole is not None:
                yield whole
