"""Measured latency files: timm's benchmark tables and ``costmodel bench`` output, matched to zoo specs.

A measurement file is a CSV (lines starting with ``#`` are comments) with at least the columns of timm's
inference benchmark tables (``REQUIRED``): ``model``, ``infer_img_size`` (px; may be empty for a spec whose
input is not a square image), ``infer_samples_per_sec``, ``infer_step_time`` (ms per batch) and
``infer_batch_size``. Optional: ``device`` (a file may hold several devices), ``dtype``, ``param_count``
(millions), ``infer_gmacs``; other columns (``costmodel bench`` adds its spread and runtime) are ignored.

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

import yaml

from ..errors import MeasurementError
from ..graph import Graph, load_graph
from ..spec.loader import ZOO_DIR

REQUIRED = ("model", "infer_img_size", "infer_samples_per_sec", "infer_step_time", "infer_batch_size")
OPTIONAL = ("device", "dtype", "param_count", "infer_gmacs")  # more columns (bench's spread, runtime) are ignored



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
    line: int = 0  # line number in the file

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
        """The spec expanded at the measured batch and image size."""
        m = self.measurement
        shapes = None
        if m.image_size:
            inputs = (yaml.safe_load(self.spec.read_text(encoding="utf-8")) or {}).get("inputs") or {}
            name, shape = next(iter(inputs.items()))
            shapes = {name: [*shape[:-2], m.image_size, m.image_size]}
        return load_graph(self.spec, batch=m.batch, input_shapes=shapes)


def _number(text: str, column: str, path: Path, line: int, kind: type = float) -> float:
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise MeasurementError(f"line {line}: column {column}: expected a number, got {text!r}",
                               file=str(path)) from None
    if not math.isfinite(value) or value <= 0:
        raise MeasurementError(f"line {line}: column {column}: expected a positive number, got {text!r}",
                               file=str(path))
    return value


def read_measurements(path: str | Path) -> MeasurementFile:
    """Parse a measurement file; a missing file, missing columns or a bad number is a :class:`MeasurementError`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MeasurementError(f"cannot read measurements: {exc.strerror or exc}", file=str(path)) from None
    text = data.decode("utf-8", errors="replace")
    numbered = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip() and not line.startswith("#")]
    if not numbered:
        raise MeasurementError("no CSV header: the file is empty", file=str(path))
    reader = csv.DictReader(line for _, line in numbered)
    columns = tuple(reader.fieldnames or ())
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise MeasurementError(f"missing column(s) {', '.join(missing)} (a measurement file needs "
                               f"{', '.join(REQUIRED)})", file=str(path))
    rows = []
    for (line, _), row in zip(numbered[1:], reader, strict=True):
        size = (row["infer_img_size"] or "").strip()
        params = (row.get("param_count") or "").strip()
        rows.append(Measurement(
            model=row["model"].strip(),
            batch=int(_number(row["infer_batch_size"], "infer_batch_size", path, line, int)),
            image_size=int(_number(size, "infer_img_size", path, line, int)) if size else None,
            throughput=_number(row["infer_samples_per_sec"], "infer_samples_per_sec", path, line),
            device=(row.get("device") or "").strip() or None,
            dtype=(row.get("dtype") or "").strip() or None,
            param_count_m=_number(params, "param_count", path, line) if params else None,
            line=line,
        ))
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
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError):
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
