"""Results on disk: finished chunks in ``OUTPUT.partial/``, merged in index order into Parquet or CSV at the end.

A worker encodes its chunk itself (:func:`encode_chunk`: the rows as an Arrow IPC stream, the counts beside
them) and sends back only that :class:`ChunkFile`, so the parent's work per chunk is two small file writes,
whatever the number of rows. A chunk is written to ``chunk-NNNNNNN.arrow`` (atomically, after its ``.json``
counts) the moment it comes back from any worker, so an interrupted run loses at most the chunks in flight;
``--resume`` reads the folder and runs only the missing chunks. Writing a chunk twice (a chunk re-run after a
lost worker) replaces the same file with the same rows, so nothing is lost or duplicated. The merge reads the
chunks without decoding (IPC) and encodes the output once, one Parquet row group per chunk, so the final file
depends only on the rows — the same seed gives the same bytes whatever the engine. (Chunks were Parquet files
before: the worker's encoding and the merge's decoding of each were work the output's one encoding makes
unnecessary.)
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import output_stream, write_atomic
from .evaluate import ChunkResult
from .space import Space, SpaceError, Variable

RESULT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
SWEEP_MANIFEST = "run.json"
CHUNK_FORMAT = "arrow-ipc-stream"  # how a finished chunk's rows are kept (the manifest's ``chunk_format``)


def results_format(path: Path) -> str:
    """``parquet`` or ``csv`` from the file name."""
    fmt = RESULT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SpaceError(f"output {path}: the name must end in .parquet or .csv")
    return fmt


def partial_dir(path: Path) -> Path:
    """The folder of finished chunks of a run writing ``path``."""
    return path.with_name(path.name + ".partial")


def schema(space: Space, metric_columns: Sequence[str]) -> Any:
    """The pyarrow schema: index, sampled variables (typed by their definition), derived variables (numbers as
    float64, lists as JSON text), metrics (int64 counts, float64 scores and times)."""
    import pyarrow as pa

    fields = [pa.field("index", pa.int64())]
    for name, var in space.variables.items():
        fields.append(pa.field(name, _variable_type(var)))
    for name in space.data.derived:
        fields.append(pa.field(name, pa.string()))
    for name in metric_columns:
        integer = name in ("params", "macs", "flops", "activations", "peak_memory")
        fields.append(pa.field(name, pa.int64() if integer else pa.float64()))
    return pa.schema(fields)


def _variable_type(var: Variable) -> Any:
    import pyarrow as pa

    if var.shape:
        return pa.string()
    if var.int_range is not None:
        return pa.int64()
    if var.choices is None:
        return pa.float64()
    if all(isinstance(c, bool) for c in var.choices):
        return pa.bool_()
    if all(isinstance(c, int) and not isinstance(c, bool) for c in var.choices):
        return pa.int64()
    if all(isinstance(c, int | float) and not isinstance(c, bool) for c in var.choices):
        return pa.float64()
    return pa.string()


def _cells(kind: Any) -> Callable[[list[Any]], list[Any]]:
    """How a column's values are stored: non-text values of a text column as JSON, numbers of a float column as
    floats, others as they are (None stays None: a missing value)."""
    import pyarrow as pa

    if kind == pa.string():
        return lambda values: [v if isinstance(v, str) else json.dumps(v) for v in values]
    if kind == pa.float64():
        return lambda values: [v if v is None else float(v) for v in values]
    return lambda values: values


@dataclass
class ChunkFile:
    """A finished chunk (or part of one) as a worker sends it back: its counts and its rows as an Arrow IPC
    stream."""

    chunk: int
    drawn: int
    rows: int
    data: bytes  # the rows, by index, as an Arrow IPC stream (the chunk's ``.arrow`` file)
    rejected: dict[str, int] = field(default_factory=dict)
    invalid: int = 0
    first_invalid: str | None = None
    cpu_s: float = 0.0  # CPU seconds of the worker's process on this chunk (drawing, evaluating, encoding)
    first_invalid_index: int | None = None  # the candidate of ``first_invalid``
    # where each part ran: (process id, wall-clock start and end in s since the epoch, CPU s), for benchmarks
    spans: list[tuple[int, float, float, float]] = field(default_factory=list)

    def counts(self) -> dict[str, Any]:
        """The counts, as the chunk's ``.json`` holds them."""
        return {"drawn": self.drawn, "rejected": self.rejected, "invalid": self.invalid,
                "first_invalid": self.first_invalid}


def encode_chunk(result: ChunkResult, columns: Any) -> ChunkFile:
    """``result``'s rows (a chunk's, or a part's) as an Arrow IPC stream of schema ``columns``, with its counts (in
    a worker). Not Parquet: the output is encoded once, by the merge, from these (:meth:`ChunkStore.merge`)."""
    import pyarrow as pa

    rows = result.rows
    arrays = [pa.array(_cells(f.type)([row.get(f.name) for row in rows]), type=f.type) for f in columns]
    return ChunkFile(result.chunk, result.drawn, len(rows), _ipc(pa.Table.from_arrays(arrays, schema=columns)),
                     dict(result.rejected), result.invalid, result.first_invalid,
                     first_invalid_index=result.first_invalid_index)


def _ipc(table: Any) -> bytes:
    """``table`` as the bytes of an Arrow IPC stream."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    return sink.getvalue().to_pybytes()


def read_rows(data: bytes) -> Any:
    """The table of an Arrow IPC stream (:func:`encode_chunk`), read without decoding (raises pyarrow.ArrowInvalid
    on bytes that are not one)."""
    import pyarrow as pa

    return pa.ipc.open_stream(data).read_all()


def combine_parts(parts: Sequence[ChunkFile], columns: Any) -> ChunkFile:
    """The whole chunk from its parts (a chunk's candidates split among workers by the space's ``affinity``): the
    rows in index order, as one worker makes the whole chunk (so the same bytes), the counts summed, the first
    invalid candidate the lowest-numbered one, the CPU seconds summed (in the parent)."""
    import pyarrow as pa

    # put in index order by Arrow (few Python objects: a parent with a large heap would otherwise pay its garbage
    # collector's walks), and kept as IPC: no Parquet encoding here (the merge encodes the output once)
    table = pa.concat_tables([read_rows(part.data) for part in parts])
    order = np.argsort(table.column("index").to_numpy(), kind="stable")
    table = table.take(pa.array(order)).combine_chunks()
    rejected: dict[str, int] = {}
    for part in parts:
        for text, n in part.rejected.items():
            rejected[text] = rejected.get(text, 0) + n
    invalid = [part for part in parts if part.first_invalid_index is not None]
    first = min(invalid, key=lambda part: part.first_invalid_index or 0) if invalid else None
    return ChunkFile(parts[0].chunk, sum(p.drawn for p in parts), table.num_rows, _ipc(table), rejected,
                     sum(p.invalid for p in parts), first.first_invalid if first else None,
                     sum(p.cpu_s for p in parts), first.first_invalid_index if first else None,
                     [span for part in parts for span in part.spans])


def read_manifest(output: Path) -> Any:
    """The parsed manifest of the partial run of ``output`` (``OUTPUT.partial/run.json``), None when there is none
    or it is not JSON."""
    try:
        return json.loads((partial_dir(output) / SWEEP_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class ChunkStore:
    """The ``.partial`` folder of one run: its manifest and finished chunks."""

    def __init__(self, output: Path, manifest: dict[str, Any], columns: Any, resume: bool) -> None:
        self.output = output
        self.folder = partial_dir(output)
        self.schema = columns
        self.manifest = manifest
        if self.folder.exists():
            if not resume:
                raise SpaceError(f"{self.folder} holds a partial run: pass --resume to continue it, or remove it")
            previous = read_manifest(output)
            if previous is None:
                raise SpaceError(f"{self.folder} has no readable {SWEEP_MANIFEST}: remove the folder")
            if previous.get("chunk_format") != manifest.get("chunk_format"):
                raise SpaceError(f"--resume: {self.folder} holds chunks an older costmodel wrote (as "
                                 f"{previous.get('chunk_format', 'Parquet')}); remove the folder and run again")
            if previous != manifest:
                diff = sorted(k for k in {*previous, *manifest} if previous.get(k) != manifest.get(k))
                raise SpaceError(f"--resume: the partial run in {self.folder} was started with a different "
                                 f"{', '.join(diff)}; rerun with the same arguments or remove the folder")
        else:
            try:
                self.folder.mkdir(parents=True)
                write_atomic(self.folder / SWEEP_MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
            except OSError as exc:  # an output the user cannot write (a read-only or virtual folder, a full disk)
                shutil.rmtree(self.folder, ignore_errors=True)
                raise SpaceError(f"cannot write {output}: {exc.strerror or exc} (at {self.folder})") from None

    def done(self) -> set[int]:
        """Chunks already written."""
        return {int(p.stem.split("-")[1]) for p in self.folder.glob("chunk-*.arrow")}

    def write(self, done: ChunkFile) -> None:
        """Write one chunk a worker encoded (its counts first, then its rows: the .arrow marks it done)."""
        write_atomic(self.folder / f"chunk-{done.chunk:07d}.json", json.dumps(done.counts(), sort_keys=True).encode())
        write_atomic(self.folder / f"chunk-{done.chunk:07d}.arrow", done.data)

    def counts(self, chunks: Sequence[int]) -> dict[str, Any]:
        """Summed counts of ``chunks``: drawn, kept, rejected per constraint, invalid and the first invalid."""
        out: dict[str, Any] = {"drawn": 0, "rejected": {}, "invalid": 0, "first_invalid": None}
        for chunk in chunks:
            data = json.loads((self.folder / f"chunk-{chunk:07d}.json").read_text(encoding="utf-8"))
            out["drawn"] += data["drawn"]
            out["invalid"] += data["invalid"]
            out["first_invalid"] = out["first_invalid"] or data["first_invalid"]
            for text, n in data["rejected"].items():
                out["rejected"][text] = out["rejected"].get(text, 0) + n
        return out

    def discard(self) -> None:
        """Remove the partial folder (a run that produced nothing to write)."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def merge(self, chunks: Sequence[int], fmt: str) -> int:
        """Write the output from ``chunks`` in order (atomically) and remove the partial folder; returns rows."""
        try:
            rows = self._write(chunks, fmt)
        except OSError as exc:  # a full disk, a folder made at the output's name meanwhile: the chunks stay
            raise SpaceError(f"cannot write {self.output}: {exc.strerror or exc}; the finished chunks stay in "
                             f"{self.folder}: rerun with --resume") from None
        shutil.rmtree(self.folder)
        return rows

    def _write(self, chunks: Sequence[int], fmt: str) -> int:
        """Write the output's rows (:func:`fileio.output_stream`: atomically, a symbolic link stays one, a FIFO is
        written in place); returns how many. Raises OSError."""
        import pyarrow.parquet as pq

        rows = 0
        with output_stream(self.output) as handle:
            if fmt == "parquet":
                with pq.ParquetWriter(handle, self.schema) as writer:
                    for chunk in chunks:
                        table = self._chunk(chunk)
                        rows += table.num_rows
                        writer.write_table(table)
            else:
                text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
                writer_csv = csv.writer(text, lineterminator="\n")
                writer_csv.writerow(self.schema.names)
                for chunk in chunks:
                    table = self._chunk(chunk)
                    rows += table.num_rows
                    for record in zip(*(table.column(n).to_pylist() for n in self.schema.names), strict=True):
                        writer_csv.writerow([_csv_text(v) for v in record])
                text.flush()
                text.detach()
        return rows

    def _chunk(self, chunk: int) -> Any:
        """The rows of a finished chunk, read without decoding (an Arrow IPC stream)."""
        import pyarrow as pa

        path = self.folder / f"chunk-{chunk:07d}.arrow"
        try:
            table = read_rows(path.read_bytes())
        except (OSError, pa.ArrowInvalid) as exc:
            raise SpaceError(f"{self.folder}: chunk {chunk} cannot be read ({exc}); remove the folder") from None
        if not table.schema.equals(self.schema):
            raise SpaceError(f"{self.folder}: chunk {chunk} does not hold this run's columns; remove the folder")
        return table


def _csv_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def read_results(path: Path) -> Any:
    """A results file (Parquet or CSV) as a pandas DataFrame."""
    import pandas as pd

    fmt = results_format(path)
    try:
        return pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise SpaceError(f"cannot read results: {exc}", file=str(path)) from None
