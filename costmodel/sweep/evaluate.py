"""One candidate of a space -> its row: variables, counts, DeepMAD scores and latency per device.

:func:`reference_metrics` runs the full analyzer (graph build, :func:`~costmodel.analysis.analyze_graph`,
:func:`~costmodel.latency.estimate` per device, :func:`~costmodel.design.score_graph`); the sweep's fast path
(:mod:`.fast`) must give exactly the same figures, which the tests check on random samples.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import limits
from ..analysis import analyze_graph
from ..design.entropy import score_graph
from ..errors import DesignError, SpecError
from ..graph import build_graph
from ..hardware import HardwareProfile
from ..latency import DEFAULT_PRECISION, estimate
from ..spec import Spec
from ..spec.expressions import ExpressionError, evaluate_expression, expression_names, resolve
from .space import METRICS, Space

Metrics = dict[str, float | int]


@dataclass(frozen=True)
class Device:
    """A ``--hw`` device: its column label and profile."""

    label: str
    profile: HardwareProfile


def candidate_spec(base: Spec, values: Mapping[str, Any], names: Sequence[str]) -> Spec:
    """``base`` with the variables ``names`` replaced by ``values``."""
    return base.model_copy(update={"vars": {**base.vars, **{n: values[n] for n in names}}})


def reference_metrics(spec: Spec, devices: Sequence[Device], dtype: str | None = None,
                      batch: int | None = None, precision: str = DEFAULT_PRECISION) -> Metrics:
    """The full analyzer's figures of one spec (see :data:`~costmodel.sweep.space.METRICS`)."""
    graph = build_graph(spec, batch=batch)
    analysis = analyze_graph(graph, dtype)
    totals = analysis.totals
    out: Metrics = {"params": totals.params, "macs": totals.macs, "flops": totals.flops,
                    "activations": totals.activations, "peak_memory": totals.peak_activation_bytes}
    try:
        score = score_graph(graph)
        out["entropy"], out["effectiveness"] = score.entropy, score.rho
    except DesignError:  # not a CNN: no DeepMAD figures
        out["entropy"] = out["effectiveness"] = math.nan
    for device in devices:
        summary = estimate(graph, device.profile, dtype=analysis.dtype, precision=precision).summary
        out[f"latency.{device.label}"] = summary.latency_s
        out[f"throughput.{device.label}"] = summary.throughput
    return out


@dataclass
class ChunkResult:
    """The rows of one chunk of candidates (feasible ones only, by index) and why the others were dropped."""

    chunk: int
    rows: list[dict[str, Any]]
    rejected: dict[str, int] = field(default_factory=dict)  # constraint text -> candidates it rejected first
    invalid: int = 0  # candidates whose spec does not build
    first_invalid: str | None = None
    drawn: int = 0
    first_invalid_index: int | None = None  # the candidate of ``first_invalid``


class Evaluator:
    """Derives, checks and analyses candidates of one space on a list of devices."""

    def __init__(self, space: Space, devices: Sequence[Device],
                 metrics: Callable[[Spec], Metrics] | None = None) -> None:
        self.space = space
        self.devices = list(devices)
        self.spec_names = space.spec_vars()
        self.derived = list(space.data.derived.items())
        try:
            self.base_env = _spec_globals(space.spec)
        except ExpressionError as exc:
            raise space.error(f"base spec vars: {exc}", "base") from None
        early: list[tuple[str, str]] = []
        late: list[tuple[str, str]] = []
        variables = set(space.variables) | set(space.data.derived)
        for text, plain in space.constraints:
            (early if expression_names(plain) <= variables | set(self.base_env) else late).append((text, plain))
        self.early, self.late = early, late
        self.metrics = metrics or (lambda spec: reference_metrics(spec, self.devices, space.data.dtype,
                                                                  space.data.batch, space.data.precision))

    def derive(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Sampled values plus the derived variables (raises ExpressionError)."""
        env = {**self.base_env, **values}
        for name, expr in self.derived:
            env[name] = resolve(expr, env)
        return env

    def chunk(self, chunk: int, start: int, candidates: Sequence[Mapping[str, Any]],
              indices: Sequence[int] | None = None) -> ChunkResult:
        """Rows of candidates ``start``, ``start + 1``, ... -- or of ``indices``, one per candidate, when given (a
        part of a chunk) -- with infeasible and invalid ones dropped, counted."""
        result = ChunkResult(chunk, [], drawn=len(candidates))
        numbers = range(start, start + len(candidates)) if indices is None else indices
        with limits.held():  # the limits read from the environment once per chunk, not per expression or build
            for index, values in zip(numbers, candidates, strict=True):
                row = self.row(index, values, result)
                if row is not None:
                    result.rows.append(row)
        return result

    def row(self, index: int, values: Mapping[str, Any], result: ChunkResult) -> dict[str, Any] | None:
        """One candidate's row, or None (counted in ``result``) when a constraint rejects it or it is invalid."""
        try:
            env = self.derive(values)
            failed = _first_failed(self.early, env)
            if failed is not None:
                result.rejected[failed] = result.rejected.get(failed, 0) + 1
                return None
            metrics = self.metrics(candidate_spec(self.space.spec, env, self.spec_names))
            failed = _first_failed(self.late, {**env, **{k.replace(".", "__"): v for k, v in metrics.items()}})
        except (SpecError, ExpressionError) as exc:
            result.invalid += 1
            if result.first_invalid is None:
                result.first_invalid, result.first_invalid_index = f"candidate {index}: {exc}", index
            return None
        if failed is not None:
            result.rejected[failed] = result.rejected.get(failed, 0) + 1
            return None
        row: dict[str, Any] = {"index": index}
        for name in (*self.space.variables, *self.space.data.derived):
            row[name] = column_value(env[name])
        row.update(metrics)
        return row


def _spec_globals(spec: Spec) -> dict[str, Any]:
    env: dict[str, Any] = {}
    for name, value in spec.vars.items():
        env[name] = resolve(value, env)
    return env


def _first_failed(constraints: Sequence[tuple[str, str]], env: Mapping[str, Any]) -> str | None:
    for text, plain in constraints:
        if not evaluate_expression(plain, env):
            return text
    return None


def column_value(value: Any) -> Any:
    """A variable's value as stored: lists as JSON text (``[3, 4, 6, 3]``), scalars as they are."""
    if type(value) is list and all(type(v) is int or (type(v) is float and v - v == 0.0) for v in value):
        return repr(value)  # what json.dumps writes for ints and finite floats, sooner
    return json.dumps(value) if isinstance(value, list | tuple | dict) else value


def metric_columns(devices: Sequence[Device]) -> list[str]:
    """The metric columns, in order."""
    return [*METRICS, *(f"{kind}.{d.label}" for d in devices for kind in ("latency", "throughput"))]
