"""A design-space file: a base spec, the variables to sample, derived variables and constraints (docs/sweep.md).

Variables map a point of the unit cube to values: ``choices`` (any values), ``int: [lo, hi]`` (inclusive, with
an optional ``step``), ``uniform: [lo, hi]`` and ``log_uniform: [lo, hi]`` (floats; ``levels`` points for a
grid). ``size: n`` (or ``[n, m]``) makes a per-stage list (of lists) of independent draws. ``derived`` holds
expressions in the spec's safe expression language, evaluated in order. Every sampled or derived name that
is a variable of the base spec replaces it there; the others are helpers and must be used by a later
expression or constraint (so that a typo is an error, not a silent no-op). Constraints are comparisons over
the variables and the metrics (``macs <= 4.1e9``, ``latency.a100 <= 1.5e-3``).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from .. import limits
from ..errors import SpecError
from ..spec import Spec, load_spec
from ..spec.expressions import ExpressionError, expression_names, parse
from ..spec.loader import validation_error, zoo_spec
from ..vocab import Dtype, Precision
from ..yamlio import YamlError, load_yaml

METRICS = ("params", "macs", "flops", "activations", "peak_memory", "entropy", "effectiveness")
"""Per-candidate figures (see docs/sweep.md): counts as the analyzer's totals, ``peak_memory`` in bytes, DeepMAD's
entropy (nats) and effectiveness (the largest ρ); ``latency.DEVICE`` in seconds per batch and
``throughput.DEVICE`` in samples per second for each ``--hw``."""
DEVICE_METRICS = ("latency", "throughput")
_DOTTED = re.compile(r"\b(latency|throughput)\.([A-Za-z_][A-Za-z0-9_]*)")


class SpaceError(SpecError):
    """A design-space file that cannot be used, or a sweep that cannot run (exit code 2)."""


class Variable(BaseModel):
    """One sampled variable: exactly one of ``choices``, ``int``, ``uniform``, ``log_uniform``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    choices: list[Any] | None = Field(None, min_length=1, description="values to choose from")
    int_range: tuple[int, int] | None = Field(None, alias="int", description="inclusive integer range [lo, hi]")
    step: int = Field(1, ge=1, description="spacing of an int range (lo, lo + step, ... <= hi)")
    uniform: tuple[float, float] | None = Field(None, description="float range [lo, hi)")
    log_uniform: tuple[float, float] | None = Field(None, description="float range, uniform in log: lo > 0")
    levels: int | None = Field(None, ge=1, description="grid points of a float range (grid sampling only)")
    size: int | list[int] | None = Field(None, description="per-stage list: n draws, or [n, m] nested lists")
    _discrete: int | None = PrivateAttr(None)  # values one coordinate is drawn from (choices, an int range)

    @model_validator(mode="after")
    def _one_kind(self) -> Variable:
        kinds = [k for k in ("choices", "int_range", "uniform", "log_uniform") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a variable needs exactly one of 'choices', 'int', 'uniform' or 'log_uniform'")
        for name in ("int_range", "uniform", "log_uniform"):
            bounds = getattr(self, name)
            if bounds is not None and not all(math.isfinite(b) for b in bounds):
                raise ValueError(f"range {list(bounds)}: the ends must be finite numbers")
            if bounds is not None and bounds[0] > bounds[1]:
                raise ValueError(f"range {list(bounds)}: the low end exceeds the high end")
        if self.int_range is not None:  # its values are spec variables and int64 columns
            too_big = limits.INTEGER_BITS.exceeded(max(abs(end).bit_length() for end in self.int_range))
            if too_big:
                raise ValueError(f"range {list(self.int_range)}: {too_big}")
        if self.choices is not None and any(isinstance(c, float) and not math.isfinite(c) for c in self.choices):
            raise ValueError("choices must be finite numbers (or other values), not inf or nan")
        if self.log_uniform is not None and self.log_uniform[0] <= 0:
            raise ValueError("log_uniform needs a positive low end")
        sizes = self.shape
        if not 1 <= len(sizes) <= 2 and sizes or any(n < 1 for n in sizes):
            raise ValueError("size must be a positive count or [count, count]")
        too_many = limits.SPACE_DIMS.exceeded(self.dims)
        if too_many:
            raise ValueError(f"size {self.size}: {too_many}")
        self._discrete = self.count if self.levels is None else None  # drawn from: choices, an int range
        return self

    @property
    def shape(self) -> tuple[int, ...]:
        """() for a scalar, (n,) for a list, (n, m) for a list of lists."""
        if self.size is None:
            return ()
        return (self.size,) if isinstance(self.size, int) else tuple(self.size)

    @property
    def dims(self) -> int:
        """Coordinates of the unit cube this variable uses."""
        return math.prod(self.shape)

    @property
    def count(self) -> int | None:
        """How many values one coordinate takes: the choices, the integers of the range, the ``levels`` of a float
        range (None for a float range without them). Counted, not listed: an int range may hold 2^63 values."""
        if self.choices is not None:
            return len(self.choices)
        if self.int_range is not None:
            return (self.int_range[1] - self.int_range[0]) // self.step + 1
        return self.levels

    def level(self, k: int) -> Any:
        """Value ``k`` (0 <= k < :attr:`count`) of one coordinate, in order."""
        if self.choices is not None:
            return self.choices[k]
        if self.int_range is not None:
            return self.int_range[0] + self.step * k
        bounds, levels = self.uniform or self.log_uniform, self.levels
        if bounds is None or levels is None:
            raise ValueError("a float range without 'levels' has no k-th value")
        lo, hi = bounds
        if levels == 1:
            return lo
        if self.uniform is not None:
            return lo + (hi - lo) * k / (levels - 1)
        return math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * k / (levels - 1))

    def value(self, u: float) -> Any:
        """The value of one coordinate at ``u`` in [0, 1)."""
        count = self._discrete
        if count is not None:
            return self.level(min(int(u * count), count - 1))
        if self.uniform is not None:
            lo, hi = self.uniform
            return lo + (hi - lo) * u
        lo, hi = self.log_uniform  # type: ignore[misc]
        return math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * u)

    def assemble(self, flat: list[Any]) -> Any:
        """Coordinates -> the variable's value (scalar, list or list of lists)."""
        shape = self.shape
        if not shape:
            return flat[0]
        if len(shape) == 1:
            return list(flat)
        return [list(flat[i * shape[1]:(i + 1) * shape[1]]) for i in range(shape[0])]


class SpaceFile(BaseModel):
    """The YAML of a design space."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    base: str = Field(description="base spec: a path (relative to this file) or a zoo name (resnet50)")
    batch: int | None = Field(None, ge=1, description="batch size (default: the base spec's)")
    dtype: Dtype | None = Field(None, description="element type for memory and latency (default: the base spec's)")
    precision: Precision = Field(Precision.UNIFORM, description="precision policy for latency: uniform, or amp "
                                 "(torch.autocast with dtype fp16 or bf16 as the half type)")
    variables: dict[str, Variable] = Field(min_length=1)
    derived: dict[str, str | int | float | list[Any]] = Field(default_factory=dict)
    constraints: list[str] = Field(default_factory=list)
    affinity: str | None = Field(None, description="one sampled coordinate (`width[2]`) that decides which worker "
                                 "evaluates a candidate when a sweep runs on several: speed only, never the results")


_COORDINATE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\s*\d+\s*\])*)")


class Space:
    """A loaded, checked design space: the base spec and the sampling, derivation and constraint rules."""

    def __init__(self, data: SpaceFile, spec: Spec, file: str | None, spec_file: str | None) -> None:
        self.data = data
        self.spec = spec
        self.file = file
        self.spec_file = spec_file
        self.variables = data.variables
        self.dims = sum(v.dims for v in data.variables.values())
        self.constraints = [(text, _undot(text)) for text in data.constraints]
        self.affinity = self._affinity()

    def _affinity(self) -> tuple[int, Variable] | None:
        """The unit-cube coordinate named by ``affinity`` (its position among the :attr:`dims` coordinates) and its
        variable; None without one. A scalar variable by its name, an element of a per-stage list by its indices."""
        text = self.data.affinity
        if text is None:
            return None
        found = _COORDINATE.fullmatch(text.strip())
        variables = list(self.variables)
        if found is None or found.group(1) not in self.variables:
            raise self.error(f"affinity {text!r}: not a sampled variable or one element of one "
                             f"({', '.join(variables)})", field="affinity")
        name, var = found.group(1), self.variables[found.group(1)]
        indices = [int(k) for k in re.findall(r"\d+", found.group(2))]
        if len(indices) != len(var.shape) or any(k >= n for k, n in zip(indices, var.shape, strict=True)):
            need = "".join(f"[0..{n - 1}]" for n in var.shape) or " without an index"
            raise self.error(f"affinity {text!r}: {name!r} has shape {list(var.shape)}: name it{need}",
                             field="affinity")
        flat = 0
        for k, n in zip(indices, var.shape, strict=True):
            flat = flat * n + k
        offset = sum(self.variables[other].dims for other in variables[:variables.index(name)])
        return offset + flat, var

    @property
    def name(self) -> str:
        """The space's name."""
        return self.data.name

    def spec_vars(self) -> list[str]:
        """Sampled or derived names that replace variables of the base spec, in order."""
        return [n for n in (*self.variables, *self.data.derived) if n in self.spec.vars]

    def error(self, message: str, path: str | None = None, field: str | None = None) -> SpaceError:
        """A located error in the space file."""
        return SpaceError(message, file=self.file, path=path, field=field)


def _undot(text: str) -> str:
    """``latency.a100`` -> ``latency__a100`` (the expression language has no attributes)."""
    return _DOTTED.sub(lambda m: f"{m.group(1)}__{m.group(2)}", text)


def metric_name(text: str) -> str:
    """The column of an undotted metric name: ``latency__a100`` -> ``latency.a100``."""
    kind, sep, device = text.partition("__")
    return f"{kind}.{device}" if sep and kind in DEVICE_METRICS else text


def device_label(hw: str, key: str) -> str:
    """The column label of a ``--hw`` value: the profile's file stem for a path, else the name as an identifier."""
    if hw.endswith((".yaml", ".yml")) or "/" in hw:
        hw = key
    return re.sub(r"\W+", "_", hw.strip().lower()).strip("_") or key


def load_space(path: str | Path) -> Space:
    """Read and check a space file; every problem is a located :class:`SpaceError`."""
    file = str(path)
    try:  # the one safe, bounded YAML reader: size, UTF-8, depth, aliases, duplicated keys (docs/limits.md)
        raw = load_yaml(path, "space file")
    except YamlError as exc:
        raise SpaceError(str(exc), file=file) from None
    if not isinstance(raw, dict):
        raise SpaceError("a space file must be a YAML mapping with 'name', 'base' and 'variables'", file=file)
    try:
        data = SpaceFile.model_validate(raw)
    except ValidationError as exc:
        err = validation_error(exc, file)
        raise SpaceError(err.message, file=file, path=err.path, field=err.field) from None
    spec_path = _base_path(data.base, Path(path).parent)
    if spec_path is None:
        raise SpaceError(f"base spec {data.base!r} is neither a file (relative to the space file) nor a zoo name",
                         file=file, field="base")
    try:
        spec = load_spec(spec_path)
    except SpecError as exc:
        raise SpaceError(f"base spec: {exc}", file=file, field="base") from None
    space = Space(data, spec, file, str(spec_path))
    dtype = data.dtype or spec.dtype
    if data.precision is Precision.AMP and dtype not in (Dtype.FP16, Dtype.BF16):
        raise SpaceError(f"precision amp needs dtype fp16 or bf16 (the type autocast casts to), not {dtype}",
                         file=file, field="precision")
    check_names(space)
    return space


def _base_path(base: str, folder: Path) -> Path | None:
    for candidate in (folder / base, Path(base)):
        if candidate.is_file():
            return candidate
    return zoo_spec(base)


def check_names(space: Space, devices: tuple[str, ...] | None = None) -> None:
    """Every expression parses and names only known variables; every helper is used; constraints name known
    metrics (and, when ``devices`` is given, only those devices)."""
    data = space.data
    known = set(space.variables)
    clash = known & set(data.derived)
    if clash:
        raise space.error(f"{sorted(clash)[0]!r} is both sampled and derived", "derived", sorted(clash)[0])
    used: set[str] = set()
    for name, value in data.derived.items():
        for text in _texts(value):
            _parse_or_fail(space, text, "derived", name)
            names = expression_names(text)
            unknown = sorted(names - known - {"i"} - set(space.spec.vars))
            if unknown:
                later = [n for n in unknown if n in data.derived]
                why = " (derived variables see only those before them)" if later else ""
                raise space.error(f"unknown variable {unknown[0]!r}{why}; known here: {', '.join(sorted(known))}",
                                  "derived", name)
            used |= names
        known.add(name)
    metrics = set(METRICS)
    for index, (text, plain) in enumerate(space.constraints):
        _parse_or_fail(space, plain, f"constraints.{index}")
        names = expression_names(plain)
        used |= names
        for name in sorted(names - known - metrics):
            kind, sep, device = name.partition("__")
            if sep and kind in DEVICE_METRICS:
                if devices is not None and device not in devices:
                    have = ", ".join(devices) or "none"
                    raise space.error(f"constraint {text!r} needs --hw {device} (devices given: {have})",
                                      f"constraints.{index}")
                continue
            raise space.error(f"unknown variable or metric {name!r} in {text!r} (metrics: {', '.join(METRICS)}, "
                              f"latency.DEVICE, throughput.DEVICE; variables: {', '.join(sorted(known))})",
                              f"constraints.{index}")
    for name in (*space.variables, *data.derived):
        if name not in space.spec.vars and name not in used:
            have = ", ".join(space.spec.vars) or "none"
            raise space.error(f"unknown variable {name!r}: the base spec has no such variable ({have}) and no "
                              "derived variable or constraint uses it", "variables" if name in space.variables
                              else "derived", name)


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return []


def _parse_or_fail(space: Space, text: str, path: str, field: str | None = None) -> None:
    try:
        parse(text)
    except ExpressionError as exc:
        raise space.error(str(exc), path, field) from None
