"""Where chunks run: in this process, in local worker processes, or on a Dask cluster.

Every engine runs the same pure function, :func:`run_chunk` (a task and a chunk index -> the chunk's rows), and
yields results as they finish, in any order; the caller writes each one and merges them in index order.

- ``local``: one worker runs in this process; more use a :class:`concurrent.futures.ProcessPoolExecutor`.
- ``dask``: ``dask.distributed`` (the optional extra ``costmodel[dask]``); a ``tcp://HOST:PORT`` scheduler, or a
  ``LocalCluster`` of ``workers`` single-threaded processes on the loopback interface. The task is scattered
  once; a chunk whose worker dies is re-run on another by the scheduler (its ``allowed-failures``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .choices import Engine
from .evaluate import ChunkResult, Device, Evaluator
from .sample import BLOCK, Sampler, draw
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


_EVALUATORS: dict[str, Evaluator] = {}  # per worker process: the evaluator (and its caches) of each run


def evaluator_for(task: SweepTask) -> Evaluator:
    """This process's evaluator of ``task`` (built once: its caches serve every chunk of the run)."""
    found = _EVALUATORS.get(task.token)
    if found is None:
        metrics = None
        if task.fast:
            from .fast import FastAnalyzer

            data = task.space.data
            metrics = FastAnalyzer(task.space.spec, task.devices, data.dtype, data.batch, task.space.spec_vars(),
                                   data.precision)
        found = Evaluator(task.space, task.devices, metrics)
        _EVALUATORS.clear()
        _EVALUATORS[task.token] = found
    return found


def run_chunk(task: SweepTask, chunk: int) -> ChunkResult:
    """Draw and evaluate chunk ``chunk`` of ``task``."""
    start = chunk * task.chunk_size
    stop = min(task.total, start + task.chunk_size)
    return evaluator_for(task).chunk(chunk, start, draw(task.space, task.sampler, task.seed, start, stop))


ChunkFn = Callable[[SweepTask, int], ChunkResult]


def run(task: SweepTask, chunks: Sequence[int], engine: Engine = Engine.LOCAL, workers: int | None = None,
        scheduler: str | None = None, fn: ChunkFn = run_chunk) -> Iterator[ChunkResult]:
    """Run ``chunks`` of ``task`` on ``engine``; yields each chunk's result as it finishes."""
    workers = workers or default_workers()
    if engine is Engine.DASK:
        yield from _dask(task, chunks, workers, scheduler, fn)
    elif workers == 1 or len(chunks) <= 1:
        for chunk in chunks:
            yield fn(task, chunk)
    else:
        yield from _processes(task, chunks, workers, fn)


def default_workers() -> int:
    """The CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _processes(task: SweepTask, chunks: Sequence[int], workers: int, fn: ChunkFn) -> Iterator[ChunkResult]:
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

    pending = list(chunks)[::-1]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        running: set[Future[ChunkResult]] = set()
        try:
            while pending or running:
                while pending and len(running) < 2 * workers:
                    running.add(pool.submit(fn, task, pending.pop()))
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        finally:
            for future in running:
                future.cancel()


def _dask(task: SweepTask, chunks: Sequence[int], workers: int, scheduler: str | None,
          fn: ChunkFn) -> Iterator[ChunkResult]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise SpaceError("--engine dask needs dask.distributed: pip install 'costmodel[dask]'") from None
    cluster: Any = None
    try:
        if scheduler is None:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address="127.0.0.1:0")
            client = Client(cluster)
        else:
            client = Client(scheduler, timeout=30)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise SpaceError(f"cannot reach the Dask scheduler {scheduler or 'LocalCluster'}: {exc}") from None
    try:
        shared = client.scatter(task, broadcast=True)
        futures = [client.submit(fn, shared, chunk, key=f"costmodel-sweep-{task.token}-{chunk}", pure=False)
                   for chunk in chunks]
        for future in as_completed(futures):
            result = future.result()
            future.release()
            yield result
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
