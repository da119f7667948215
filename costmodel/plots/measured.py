"""Efficiency-gap points with measured latency: a measurement file's rows (costmodel.calibration.measurements)
matched to the specs being plotted.

Each matched spec is predicted at the measured batch and image size, unless a batch is asked for; then the
measured and predicted per-image latencies come from different batch sizes, and a note says so. Latencies
are per image (seconds): measured = 1 / measured images/s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..calibration.measurements import Matched, MeasurementFile, match, select_device
from ..graph import load_graph
from ..hardware import HardwareProfile
from ..latency import DEFAULT_FUSION, LatencyResult, estimate
from ..spec import load_spec
from .gap import GapPoint, gap_point


@dataclass(frozen=True)
class MeasuredGap:
    """Per spec (in the order given) its point and the prediction behind it; what could not be matched."""

    points: list[GapPoint]
    results: list[LatencyResult]
    device: str | None  # the device column value used (None: the file has no device column, or one device)
    skipped: list[str]  # models in the file that are none of the specs
    unmeasured: list[str]  # specs with no row in the file
    measured_batches: list[int]  # the batch size of each row used, in point order (measured points only)
    notes: list[str] = field(default_factory=list)  # what is compared, where it is not the obvious


def _device(file: MeasurementFile, profile: HardwareProfile, device: str | None) -> str | None:
    """The device column value to use: the one asked for, else the profile's key or an alias if the file has it."""
    if device is not None:
        return device
    for name in (profile.key, *profile.aliases):
        if name in file.devices:
            return name
    return None  # select_device: fine for a file of one device, an error naming the devices otherwise


def measured_gap_points(specs: Sequence[Path], profile: HardwareProfile, file: MeasurementFile, *,
                        device: str | None = None, batch: int | None = None, dtype: str | None = None,
                        fusion: str = DEFAULT_FUSION,
                        progress: Callable[[Iterable[Any], str], Iterable[Any]] = lambda items, _: items,
                        ) -> MeasuredGap:
    """Match ``file``'s rows of one device to ``specs`` (by ``metadata.timm_name``, else ``name``) and build one
    :class:`GapPoint` per spec: measured where matched, predicted always.

    ``device``: the file's device column value (default: the profile's key or alias, if present). ``batch``:
    predict at this batch (and prefer rows measured at it); default: each row's own batch. ``dtype``: default
    the row's dtype column, else the spec's. Raises SpecError for an unreadable spec or an ambiguous device.
    """
    chosen_device = _device(file, profile, device)
    rows = select_device(file, chosen_device)
    index: dict[str, Path] = {}
    for path in specs:
        spec = load_spec(path)
        for key in (spec.metadata.timm_name, spec.name):
            if key:
                index.setdefault(key, Path(path))
    matched, skipped = match(rows, index)
    points, results, unmeasured, notes = [], [], [], []
    measured_batches: list[int] = []
    for path in progress(specs, "estimating"):
        mine = [m for m in matched if m.spec == Path(path)]
        preferred = [m for m in mine if m.measurement.batch == batch] or mine
        row = preferred[0] if preferred else None
        if row is None:
            graph = load_graph(path, batch=batch)
            unmeasured.append(graph.spec.name)
        else:
            m = row.measurement
            measured_batches.append(m.batch)
            if len(mine) > 1:
                notes.append(f"{m.model}: {len(mine)} rows; using line {m.line} (batch {m.batch})")
            if batch is not None and batch != m.batch:
                notes.append(f"{m.model}: measured at batch {m.batch}, predicted at batch {batch} "
                             "(per-image latencies compared)")
                row = Matched(replace(m, batch=batch), row.spec)
            graph = row.graph()
        result = estimate(graph, profile, dtype=dtype or (row.measurement.dtype if row else None), fusion=fusion)
        measured_s = 1.0 / row.measurement.throughput if row is not None else None
        points.append(gap_point(graph.spec.name, result, top1=graph.spec.metadata.top1, measured_s=measured_s))
        results.append(result)
    return MeasuredGap(points, results, chosen_device, skipped, unmeasured, measured_batches, notes)
