"""A sweep from start to file: check the space and devices, run the missing chunks, merge, summarise."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import limits
from ..fileio import output_problem
from ..hardware import load_profile
from .engine import ChunkFn, Engine, SweepTask, run, run_chunk
from .evaluate import Device, metric_columns
from .output import CHUNK_FORMAT, ChunkFile, ChunkStore, read_manifest, results_format, schema
from .sample import BLOCK, Sampler, total
from .space import Space, SpaceError, check_names, device_label, load_space


@dataclass
class Summary:
    """What a finished sweep wrote and dropped."""

    output: Path
    rows: int
    drawn: int
    rejected: dict[str, int] = field(default_factory=dict)
    invalid: int = 0
    first_invalid: str | None = None

    def lines(self) -> list[str]:
        """A short account for stderr."""
        out = [f"{self.rows} of {self.drawn} candidates kept"]
        for text, n in sorted(self.rejected.items(), key=lambda kv: -kv[1]):
            out.append(f"  {n} rejected by {text!r}")
        if self.invalid:
            out.append(f"  {self.invalid} invalid (first: {self.first_invalid})")
        return out


def devices_for(hw: Sequence[str]) -> tuple[Device, ...]:
    """The ``--hw`` devices, each once (by profile), labelled as :func:`device_label` says."""
    devices: dict[str, Device] = {}
    for name in hw:
        profile = load_profile(name)
        label = device_label(name, profile.key)
        if any(d.profile.key == profile.key for d in devices.values()):
            continue
        if label in devices:
            raise SpaceError(f"--hw {name}: two devices would share the column label {label!r}")
        devices[label] = Device(label, profile)
    return tuple(devices.values())


def check_devices(space: Space, devices: Sequence[Device]) -> None:
    """Every device runs the space's element type (else a :class:`SpaceError` naming the space file), checked
    before anything is written: a worker found it only after the run's folder of chunks was made, and left it."""
    from ..errors import HardwareError
    from ..latency.roofline import check_dtype

    dtype = space.data.dtype or space.spec.dtype
    for device in devices:
        try:
            check_dtype(device.profile, dtype)
        except HardwareError as exc:
            raise SpaceError(f"dtype {dtype} (the space's, else its base spec's): --hw {device.label}: {exc.message}",
                             file=space.file, field="dtype") from None


class Sweep:
    """One run writing ``output``: its task, its store of finished chunks and the chunks still to do."""

    def __init__(self, space_file: Path, hw: Sequence[str], output: Path, *, samples: int | None, seed: int = 0,
                 sampler: Sampler = Sampler.RANDOM, resume: bool = False, fast: bool = True,
                 chunk_size: int | None = None) -> None:
        self.fmt = results_format(output)
        unwritable = output_problem(output)
        if unwritable:  # before any work: a folder at the output's name failed only at the merge, chunks left behind
            raise SpaceError(f"cannot write {output}: {unwritable}")
        space: Space = load_space(space_file)
        devices = devices_for(hw)
        check_names(space, tuple(d.label for d in devices))
        check_devices(space, devices)
        count = total(space, sampler, samples)
        if count < 1:
            raise SpaceError(f"--samples {count}: nothing to sample")
        too_many = limits.SWEEP_CANDIDATES.exceeded(count)
        if too_many:
            what = "--samples" if samples is not None else "the whole grid (cut it with --samples)"
            raise SpaceError(f"{what}: {too_many}", file=space.file)
        if chunk_size is None:
            chunk_size = (_resumed_chunk_size(output) if resume else None) or default_chunk_size(count)
        manifest: dict[str, Any] = {
            "space": _digest(Path(space_file).read_bytes()), "base": _digest(Path(space.spec_file or "").read_bytes()),
            "devices": [[d.label, d.profile.key, d.profile.model_dump(mode="json")] for d in devices],
            "sampler": sampler.value, "seed": seed, "samples": count, "chunk_size": chunk_size,
            "chunk_format": CHUNK_FORMAT,
        }
        token = _digest(json.dumps(manifest, sort_keys=True).encode())[:16]
        self.task = SweepTask(token, space, devices, sampler, seed, count, fast, chunk_size)
        self.columns = metric_columns(devices)
        self.store = ChunkStore(output, manifest, schema(space, self.columns), resume)
        self.todo = [c for c in range(self.task.chunks) if c not in self.store.done()]

    def results(self, engine: Engine = Engine.LOCAL, workers: int | None = None, scheduler: str | None = None,
                fn: ChunkFn = run_chunk) -> Iterator[ChunkFile]:
        """Run the chunks still to do, writing each as it finishes; yields each result after writing it."""
        for result in run(self.task, self.todo, engine, workers, scheduler, fn):
            self.store.write(result)
            yield result

    def finish(self) -> Summary:
        """Merge the chunks into the output (all must be done). An empty feasible set is an error (no file)."""
        chunks = list(range(self.task.chunks))
        missing = sorted(set(chunks) - self.store.done())
        if missing:
            raise SpaceError(f"{len(missing)} chunk(s) not done; rerun with --resume")
        counts = self.store.counts(chunks)
        summary = Summary(self.store.output, 0, counts["drawn"], counts["rejected"], counts["invalid"],
                          counts["first_invalid"])
        if summary.drawn == sum(summary.rejected.values()) + summary.invalid:
            reasons = "; ".join(summary.lines()[1:]).replace("  ", "")
            self.store.discard()
            raise SpaceError(f"no feasible candidate among {summary.drawn}: {reasons}", file=self.task.space.file)
        summary.rows = self.store.merge(chunks, self.fmt)
        return summary


MIN_CHUNK = 128  # candidates per chunk at least: a chunk's fixed costs (encoding, transport) stay ~1 % of it


def default_chunk_size(count: int) -> int:
    """Candidates per chunk of a ``count``-candidate sweep: the largest power of two giving at least 64 chunks,
    between :data:`MIN_CHUNK` and :data:`~.sample.BLOCK` -- small sweeps in enough pieces that workers finish
    together (at the end one waits for at most one chunk: 1/64 of the work), large ones in 1,024s. It depends on the
    count alone, so every engine and worker count writes the same file."""
    size = BLOCK
    while size > MIN_CHUNK and count < 64 * size:
        size //= 2
    return size


def _resumed_chunk_size(output: Path) -> int | None:
    """The chunk size of the partial run of ``output`` being resumed (it may predate today's default), if any."""
    previous = read_manifest(output)
    found = previous.get("chunk_size") if isinstance(previous, dict) else None
    return found if isinstance(found, int) and found > 0 else None


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
