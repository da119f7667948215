"""Measured latency files: timm's benchmark tables and ``costmodel bench`` output, matched to zoo specs.

A measurement file is a CSV (lines starting with ``#`` are comments) with at least the columns of timm's
inference benchmark tables (``REQUIRED``): ``model``, ``infer_img_size`` (px; may be empty for a spec whose
input is not a square image), ``infer_samples_per_sec``, ``infer_step_time`` (ms per batch) and
``infer_batch_size``. Optional: ``device`` (a file may hold several devices), ``dtype``, ``param_count``
(millions), ``infer_gmacs``, ``infer_macts`` (millions), and ``costmodel bench``'s ``threads``,
``page_faults_per_pass`` and ``runtime`` (whether the heap was held steady); other columns (bench's spread) are
ignored.

A row's ``model`` is matched to a spec by the spec's ``metadata.timm_name``, else its ``name``; rows naming
no known spec are skipped (and listed). Units: latency in seconds per batch, throughput in samples/s.
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from .. import limits
from ..errors import MeasurementError, SpecError, shown
from ..graph import Graph, load_graph
from ..spec.loader import ZOO_DIR, load_spec, read_spec_data
from ..vocab import STEADY_HEAP, Dtype, Pass
from ..yamlio import YamlError, decode_text

REQUIRED = ("model", "infer_img_size", "infer_samples_per_sec", "infer_step_time", "infer_batch_size")
# more columns (bench's spread, runtime) are ignored
OPTIONAL = ("device", "dtype", "param_count", "infer_gmacs", "infer_macts", "threads", "page_faults_per_pass",
            "runtime")



@dataclass(frozen=True)
class Measurement:
    """One measured row: a model at one batch size and image size on one device."""

    model: str
    batch: int
    image_size: int | None  # px; None: the spec's own input shape
    throughput: float  # samples per second
    device: str | None = None
    dtype: str | None = None
    param_count_m: float | None = None  # millions, as timm reports it
    activations_m: float | None = None  # millions per sample: timm's infer_macts (fvcore's conv/linear/matmul outputs)
    threads: int | None = None  # the CPU threads it ran with (costmodel bench's ``threads`` column)
    page_faults: float | None = None  # minor page faults per timed pass (costmodel bench's page_faults_per_pass)
    heap_steady: bool | None = None  # timed with the heap held steady (its runtime column); None: no runtime column
    line: int = 0  # line number in the file
    file: str | None = None  # the file it was read from (named by errors about the row)

    @property
    def latency_s(self) -> float:
        """Seconds per batch: batch / throughput."""
        return self.batch / self.throughput

    @property
    def label(self) -> str:
        """The model name, with the image size when one is given (``resnet50@224``)."""
        return f"{self.model}@{self.image_size}" if self.image_size else self.model


@dataclass(frozen=True)
class MeasurementFile:
    """The parsed file: its path, the sha256 of its bytes, its columns and rows."""

    path: Path
    sha256: str
    columns: tuple[str, ...]
    rows: tuple[Measurement, ...]

    @property
    def devices(self) -> list[str]:
        """Distinct device column values, in file order (empty without a device column)."""
        return list(dict.fromkeys(r.device for r in self.rows if r.device))


@dataclass(frozen=True)
class Matched:
    """A measurement and the spec it was matched to."""

    measurement: Measurement
    spec: Path

    def graph(self) -> Graph:
        """The spec expanded at the measured batch and image size; a spec that does not build there is a
        :class:`MeasurementError` naming the row (its line of the measurement file) and the spec's own error."""
        m = self.measurement
        try:
            shapes: dict[str, Sequence[int]] | None = None
            if m.image_size:
                name, shape = next(iter(load_spec(self.spec).inputs.items()))  # extends: followed
                shapes = {name: cast("list[int]", [*shape[:-2], m.image_size, m.image_size])}  # leading dims kept
            return load_graph(self.spec, batch=m.batch, input_shapes=shapes)
        except SpecError as exc:
            raise MeasurementError(f"line {m.line}: {m.label} at batch {m.batch}: {exc}", file=m.file) from None


LATENCY_RANGE_S = (1e-9, 1e9)  # a row's batch / throughput: no pass of a network takes under a nanosecond (or 30 years)


def _number(text: str | None, column: str, path: Path, line: int, kind: type = float) -> float:
    if text is None:
        raise MeasurementError(f"line {line}: column {column}: the row is too short (no value)", file=str(path))
    try:
        value = kind(text)
    except (TypeError, ValueError, OverflowError):
        raise MeasurementError(f"line {line}: column {column}: expected a number, got {shown(text, 40)}",
                        file=str(path)) from None
    if isinstance(value, int) and value.bit_length() > limits.INTEGER_BITS.value:
        raise MeasurementError(f"line {line}: column {column}: {shown(text, 40)} is out of range", file=str(path))
    if not math.isfinite(value) or value <= 0:
        raise MeasurementError(f"line {line}: column {column}: expected a positive number, got {shown(text, 40)}",
                        file=str(path))
    return value


def _count(text: str, column: str, path: Path, line: int) -> float:
    """A count that may be 0 (a mean per pass: fractional), finite and not negative."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise MeasurementError(f"line {line}: column {column}: expected a count >= 0, got {shown(text, 40)}",
                               file=str(path))
    return value


def _text(row: dict[str, str | None], column: str) -> str:
    return (row.get(column) or "").strip()


def _records(text: str) -> Iterable[tuple[int, list[str]]]:
    """(line number where the record starts, fields) of the CSV ``text``, skipping blank and ``#`` lines; a
    quoted field may span lines."""
    lines = iter(enumerate(text.splitlines(keepends=True), 1))  # ends kept: a line break inside quotes stays
    start = [0]

    def feed() -> Iterable[str]:
        for number, line in lines:
            if not start[0]:
                if not line.strip() or line.startswith("#"):
                    continue
                start[0] = number
            yield line

    reader = csv.reader(feed())
    for record in reader:
        yield start[0], record
        start[0] = 0


FASTEST_COLUMN = "infer_step_time_min"  # costmodel bench: each model's fastest pass, ms per batch


def read_measurements(path: str | Path, which: Pass | str = Pass.MEDIAN) -> MeasurementFile:
    """Parse a measurement file; a missing file, missing columns or a bad number is a :class:`MeasurementError`.
    ``which``: the pass each row's throughput is of: the median (``infer_samples_per_sec``) or, for a ``costmodel
    bench`` file, the fastest (``infer_step_time_min``, ms per batch: throughput = batch / it)."""
    which = Pass(which)
    timed, unit = ("infer_samples_per_sec", "samples/s") if which is Pass.MEDIAN else (FASTEST_COLUMN, "ms per batch")
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(limits.CSV_BYTES.value + 1)
        too_big = limits.CSV_BYTES.exceeded(len(data))
        if too_big:
            raise MeasurementError(f"measurement file too big: {too_big}", file=str(path))
        text = decode_text(data, "measurement file")
    except OSError as exc:
        raise MeasurementError(f"cannot read measurements: {exc.strerror or exc}", file=str(path)) from None
    except YamlError as exc:
        raise MeasurementError(str(exc), file=str(path)) from None
    previous = csv.field_size_limit(limits.CSV_FIELD.value)
    try:
        records = list(_records(text))
    except csv.Error as exc:
        raise MeasurementError(f"malformed CSV: {exc} (set {limits.CSV_FIELD.env} to allow longer fields)"
                        if "field larger" in str(exc) else f"malformed CSV: {exc}", file=str(path)) from None
    finally:
        csv.field_size_limit(previous)
    if not records:
        raise MeasurementError("no CSV header: the file is empty", file=str(path))
    columns = tuple(name.strip() for name in records[0][1])
    missing = [c for c in REQUIRED if c not in columns]
    if which is Pass.FASTEST and FASTEST_COLUMN not in columns:
        raise MeasurementError(f"--pass fastest reads column {FASTEST_COLUMN} (each model's fastest pass, ms per "
                               "batch, as costmodel bench writes it); this file has none: use --pass median",
                               file=str(path))
    if missing:
        raise MeasurementError(f"missing column(s) {', '.join(missing)} (a measurement file needs "
                               f"{', '.join(REQUIRED)})", file=str(path))
    rows = []
    for line, record in records[1:]:
        row: dict[str, str | None] = dict(zip(columns, record, strict=False))
        size, params, threads = _text(row, "infer_img_size"), _text(row, "param_count"), _text(row, "threads")
        activations, faults = _text(row, "infer_macts"), _text(row, "page_faults_per_pass")
        if row.get("model") is None:
            raise MeasurementError(f"line {line}: column model: the row is too short (no value)", file=str(path))
        for column in ("model", "device", "dtype"):
            value = row.get(column) or ""
            if "\n" in value or "\r" in value:  # a quoted field spanning lines: a name printed on one line cannot
                raise MeasurementError(f"line {line}: column {column}: a name cannot span lines, got "
                                       f"{shown(value, 40)}", file=str(path))
        dtype = _text(row, "dtype") or None
        if dtype is not None and dtype not in Dtype.values():
            raise MeasurementError(f"line {line}: column dtype: expected one of {', '.join(Dtype.values())}, got "
                                   f"{shown(dtype, 40)}", file=str(path))
        batch = int(_number(row.get("infer_batch_size"), "infer_batch_size", path, line, int))
        figure = _number(row.get(timed), timed, path, line)
        throughput = figure if which is Pass.MEDIAN else batch / (figure / 1e3)
        measurement = Measurement(
            model=_text(row, "model"),
            batch=batch,
            image_size=int(_number(size, "infer_img_size", path, line, int)) if size else None,
            throughput=throughput,
            device=_text(row, "device") or None,
            dtype=dtype,
            param_count_m=_number(params, "param_count", path, line) if params else None,
            activations_m=_number(activations, "infer_macts", path, line) if activations else None,
            threads=int(_number(threads, "threads", path, line, int)) if threads else None,
            page_faults=_count(faults, "page_faults_per_pass", path, line) if faults else None,
            heap_steady=STEADY_HEAP in _text(row, "runtime").split() if "runtime" in columns else None,
            line=line,
            file=str(path),
        )
        low, high = LATENCY_RANGE_S
        if not low <= measurement.latency_s <= high:  # 1e-320/s: batch / it overflows; 1e308/s: ratios underflow
            value = shown(_text(row, timed), 40)
            raise MeasurementError(f"line {line}: column {timed}: {value} {unit} at batch "
                                   f"{measurement.batch} is {measurement.latency_s:.3g} s per batch; a measured pass "
                                   f"takes {low:g} to {high:g} s", file=str(path))
        rows.append(measurement)
    if not rows:
        raise MeasurementError("no measurement rows", file=str(path))
    return MeasurementFile(path, hashlib.sha256(data).hexdigest(), columns, tuple(rows))


def select_device(file: MeasurementFile, device: str | None) -> list[Measurement]:
    """The rows of one device: ``device`` names a value of the device column; None is allowed when the file
    holds at most one device."""
    devices = file.devices
    if device is None:
        if len(devices) > 1:
            raise MeasurementError(f"the file holds measurements of several devices ({', '.join(devices)}); "
                            f"choose one with --device", file=str(file.path))
        return list(file.rows)
    rows = [r for r in file.rows if r.device == device]
    if not rows:
        have = ", ".join(devices) or "none (no device column)"
        raise MeasurementError(f"no rows for device {device!r}; devices in the file: {have}", file=str(file.path))
    return rows


def check_distinct(rows: Sequence[Measurement], path: Path) -> None:
    """Refuse a row that measures again what an earlier row measured (the same model, batch, image size, device and
    dtype): a fit would count that measurement twice, and leave-one-out would score it on a fit that saw it."""
    first: dict[tuple[str, int, int | None, str | None, str | None], int] = {}
    for row in rows:
        key = (row.model, row.batch, row.image_size, row.device, row.dtype)
        line = first.setdefault(key, row.line)
        if line != row.line:
            raise MeasurementError(
                f"line {row.line}: {row.label} at batch {row.batch}{f' on {row.device}' if row.device else ''} is "
                f"measured already on line {line}: keep one row per model, batch, image size, device and dtype "
                "(of repeated runs, the fastest or the median)", file=str(path))


def spec_index(folders: Iterable[Path] = ()) -> dict[str, Path]:
    """Model name -> spec file over ``folders`` then the shipped zoo: each spec under its ``metadata.timm_name``
    and its ``name`` (the first folder wins)."""
    index: dict[str, Path] = {}
    for folder in [*folders, ZOO_DIR]:
        folder = Path(folder)
        if not folder.is_dir():
            if folder != ZOO_DIR:
                raise MeasurementError(f"spec folder not found: {folder}")
            continue
        for path in sorted(folder.rglob("*.yaml") if folder == ZOO_DIR else folder.glob("*.yaml")):
            try:
                data = read_spec_data(path) or {}  # extends: followed
            except SpecError:
                continue  # not a readable spec: it cannot be matched
            if not isinstance(data, dict):
                continue
            meta = data.get("metadata") or {}
            for key in (meta.get("timm_name") if isinstance(meta, dict) else None, data.get("name")):
                if isinstance(key, str) and key:
                    index.setdefault(key, path)
    return index


def match(rows: Sequence[Measurement], index: dict[str, Path]) -> tuple[list[Matched], list[str]]:
    """Rows matched to specs, and the model names of the rows that match none (each once, in file order)."""
    matched = [Matched(r, index[r.model]) for r in rows if r.model in index]
    skipped = list(dict.fromkeys(r.model for r in rows if r.model not in index))
    return matched, skipped
