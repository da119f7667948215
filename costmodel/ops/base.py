"""The op registry: every op is a pure function of input shapes and attributes.

An op is registered with :func:`register`, which records its attribute model (an :class:`Attrs`, validated as
pydantic validates, unknown fields rejected) and its shape-and-cost function. The cost function receives the
input shapes (each a tuple of ints *including* the batch dimension) and the validated attributes, and returns an
:class:`OpCost`. Counting conventions are documented in ``docs/conventions.md``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, Literal, TypeVar, Union, get_args, get_origin

from ..vocab import EfficiencyClass, OpClass

if TYPE_CHECKING:
    import numpy as np
    from pydantic import BaseModel
    from pydantic.fields import FieldInfo
    from typing_extensions import Self, dataclass_transform
else:
    def dataclass_transform(**_: Any) -> Callable[[type], type]:
        return lambda cls: cls

Shape = tuple[int, ...]
# A size in a per-op cost function (an element or channel count): an int in the ops themselves, a float or a
# numpy array (one candidate per element) in the designer's closed forms (costmodel.design.costs), which call
# the same functions so that a change of counting convention here reaches them.
Size = TypeVar("Size", int, float, "np.ndarray")


class OpError(ValueError):
    """A shape or attribute problem found by an op. ``field`` names the offending attribute."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class OpCost:
    """What one op instance produces and costs. All counts are for the whole batch.

    - ``outputs``: output shapes, batch dimension included.
    - ``params``: learnable parameters (PyTorch's ``p.numel()`` over parameters; buffers excluded).
    - ``macs``: multiply-accumulates as fvcore's FlopCountAnalysis counts them (timm's "GMACs").
    - ``flops``: floating-point operations, every op (a MAC is 2 FLOPs); see docs/conventions.md.
    - ``gemm_outputs``: output elements of conv/linear/matmul ops (fvcore's ActivationCountAnalysis,
      timm's ``infer_macts``); 0 for other ops.
    - ``op_class``: unit/latency class.
    - ``is_view``: the output aliases the first input (no kernel, no memory traffic).
    - ``extra_read_elems``: elements read beyond inputs and weights (e.g. a gathered bias table); rare.
    """

    outputs: tuple[Shape, ...]
    params: int = 0
    macs: int = 0
    flops: int = 0
    gemm_outputs: int = 0
    op_class: OpClass = OpClass.ELEMENTWISE
    is_view: bool = False
    extra_read_elems: int = 0


class _Bound:
    """A constraint in an attribute annotation (``Annotated[int, _Bound(...)]``): a test for the fast path and the
    name of the pydantic type that states it for the slow one (:meth:`Attrs.pydantic_model`)."""

    def __init__(self, name: str, test: Callable[[Any], bool]) -> None:
        self.name = name
        self.test = test


# Constrained attribute types. For mypy the plain types, as pydantic's PositiveInt & co are; at run time an
# annotation the fast path checks without importing pydantic, and that :meth:`Attrs.pydantic_model` turns into
# pydantic's own type (same validation, same error messages).
if TYPE_CHECKING:
    PositiveInt = int
    NonNegativeInt = int
    PositiveFloat = float
    Probability = float
else:
    PositiveInt = Annotated[int, _Bound("PositiveInt", lambda v: v > 0)]
    NonNegativeInt = Annotated[int, _Bound("NonNegativeInt", lambda v: v >= 0)]
    PositiveFloat = Annotated[float, _Bound("PositiveFloat", lambda v: v > 0)]
    Probability = Annotated[float, _Bound("Probability", lambda v: 0 <= v <= 1)]

_FAIL: Any = object()  # what a fast check returns for a value it does not accept as it is
_Check = Callable[[Any], Any]
_NO_DEFAULT: Any = object()


def _exact(kind: type) -> _Check:
    return lambda v: v if type(v) is kind else _FAIL


def _finite_float(v: Any) -> Any:
    return v if type(v) is float and math.isfinite(v) else _FAIL


def _fast_check(tp: Any) -> _Check | None:
    """A check of a value against an attribute type that accepts only values pydantic would keep as they are (an
    int for ``int``, a finite float for ``float``, a list of such for ``list[...]``, ...) and returns what pydantic
    returns for them; anything else (a value pydantic would convert or refuse) gives ``_FAIL``. None: a type this
    check does not know (the model always validates with pydantic)."""
    origin = get_origin(tp)
    if origin is Annotated:
        base, *meta = get_args(tp)
        inner = _fast_check(base)
        if inner is None or not all(isinstance(m, _Bound) for m in meta):
            return None
        tests = [m.test for m in meta]

        def bounded(v: Any) -> Any:
            out = inner(v)
            return out if out is _FAIL or all(test(out) for test in tests) else _FAIL
        return bounded
    if tp in (int, bool, str):
        return _exact(tp)
    if tp is float:
        return _finite_float
    if tp is type(None):
        return lambda v: v if v is None else _FAIL
    if origin is Literal:
        choices = get_args(tp)
        if not all(type(c) is str for c in choices):
            return None
        allowed = frozenset(choices)
        return lambda v: v if type(v) is str and v in allowed else _FAIL
    if origin is list:
        (item,) = get_args(tp)
        each = _fast_check(item)
        if each is None:
            return None

        def listed(v: Any) -> Any:
            if type(v) is not list:
                return _FAIL
            out = [each(x) for x in v]
            return _FAIL if any(x is _FAIL for x in out) else out
        return listed
    if origin is Union or type(tp).__name__ == "UnionType":
        members = [_fast_check(m) for m in get_args(tp)]
        if any(m is None for m in members):
            return None
        checks: list[_Check] = [m for m in members if m is not None]

        def either(v: Any) -> Any:  # the members accept disjoint sets of values as they are: the first that does
            for check in checks:
                out = check(v)
                if out is not _FAIL:
                    return out
            return _FAIL
        return either
    return None


def _pydantic_type(tp: Any) -> Any:
    """An attribute annotation with pydantic's constrained types in place of the fast path's."""
    import pydantic

    origin = get_origin(tp)
    if origin is Annotated:
        base, bound = get_args(tp)
        if bound.name == "Probability":
            return Annotated[float, pydantic.Field(ge=0, le=1)]
        return getattr(pydantic, bound.name)
    if origin is list:
        return list[_pydantic_type(get_args(tp)[0])]  # type: ignore[misc]
    if origin is Union or type(tp).__name__ == "UnionType":
        return Union[tuple(_pydantic_type(m) for m in get_args(tp))]  # noqa: UP007
    return tp


class _AttrsMeta(type):
    @property
    def model_fields(cls) -> dict[str, FieldInfo]:
        """The attribute names (in order) and their pydantic fields."""
        return cls.pydantic_model().model_fields  # type: ignore[attr-defined, no-any-return]


@dataclass_transform(kw_only_default=True, frozen_default=True)
class Attrs(metaclass=_AttrsMeta):
    """Base for op attribute models: typed, immutable, unknown fields are errors.

    Validation is pydantic's (:meth:`pydantic_model`, built on first need), with a fast path that imports nothing:
    values pydantic keeps as they are (an int for an ``int``, a positive int for a ``PositiveInt``, a listed word
    for a ``Literal``, a list of such...) are taken as they are; anything else (a value to convert, an error) goes
    through the pydantic model, so results and error messages are pydantic's."""

    aliases: ClassVar[dict[str, tuple[str, ...]]] = {}
    """Field -> the input keys it may be given under (pydantic's ``AliasChoices``), the field's name first."""

    def __init__(self, **data: Any) -> None:
        object.__setattr__(self, "__dict__", type(self).validated(data))

    @classmethod
    def model_validate(cls, data: Any) -> Self:
        """Validate a mapping of attribute values (``ConvAttrs.model_validate({"out": 64, "kernel": 3})``)."""
        obj = object.__new__(cls)
        object.__setattr__(obj, "__dict__", cls.validated(data))
        return obj

    @classmethod
    def _fields(cls) -> dict[str, tuple[_Check | None, Any]]:
        """Field -> (fast check or None, default or _NO_DEFAULT), in pydantic's order (base classes' first)."""
        fields: dict[str, tuple[_Check | None, Any]] | None = cls.__dict__.get("_fields_cache")
        if fields is None:
            import typing

            fields = {}
            for name, tp in typing.get_type_hints(cls, include_extras=True).items():
                if get_origin(tp) is ClassVar:
                    continue
                default = next((klass.__dict__[name] for klass in cls.__mro__ if name in klass.__dict__), _NO_DEFAULT)
                fields[name] = (_fast_check(tp), default)
            cls._fields_cache = fields  # type: ignore[attr-defined]
        return fields

    @classmethod
    def validated(cls, data: Any) -> dict[str, Any]:
        """The attribute values of ``data``, validated as pydantic does (its errors: ``pydantic.ValidationError``)."""
        fields = cls._fields()
        if type(data) is dict and all(key in fields for key in data):
            values: dict[str, Any] = {}
            for name, (check, default) in fields.items():
                if name in data:
                    value = _FAIL if check is None else check(data[name])
                elif default is _NO_DEFAULT:
                    value = _FAIL
                else:
                    value = default
                if value is _FAIL:
                    break
                values[name] = value
            else:
                return values
        model = cls.pydantic_model().model_validate(data)
        return {name: getattr(model, name) for name in fields}

    @classmethod
    def pydantic_model(cls) -> type[BaseModel]:
        """The pydantic model these attributes validate with: the same fields, constraints and defaults."""
        model: type[BaseModel] | None = cls.__dict__.get("_pydantic_cache")
        if model is None:
            import typing

            from pydantic import AliasChoices, ConfigDict, Field, create_model

            definitions: dict[str, Any] = {}
            for name, tp in typing.get_type_hints(cls, include_extras=True).items():
                if get_origin(tp) is ClassVar:
                    continue
                default = cls._fields()[name][1]
                info = Field(... if default is _NO_DEFAULT else default,
                             validation_alias=AliasChoices(*cls.aliases[name]) if name in cls.aliases else None)
                definitions[name] = (_pydantic_type(tp), info)
            model = create_model(cls.__name__, __config__=ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False),
                                 __module__=cls.__module__, **definitions)
            cls._pydantic_cache = model  # type: ignore[attr-defined]
        return model

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:
        return hash((type(self), *self.__dict__.values()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"

    def model_dump(self, *, mode: str = "python", exclude_none: bool = False) -> dict[str, Any]:
        """The attribute values as a dict (lists copied), as pydantic's ``model_dump``."""
        def copied(value: Any) -> Any:
            return [copied(v) for v in value] if isinstance(value, list) else value

        return {k: copied(v) for k, v in self.__dict__.items() if not (exclude_none and v is None)}


class NoAttrs(Attrs):
    """For ops that take no attributes."""


A = TypeVar("A", bound=Attrs)


@dataclass(frozen=True)
class OpDef(Generic[A]):
    """A registered op: its name, attribute model, cost function, input arity, and the facts other layers need.

    - ``conv``: a convolution (dense, grouped, transposed, patch embedding): its instances of class gemm are
      priced under the profile's ``conv`` efficiency (:meth:`efficiency_class`).
    - ``conv_rank``: the spatial rank (1-3) of a plain forward convolution (``nn.ConvNd``); None otherwise.
    - ``torch_counted``: PyTorch's ``FlopCounterMode`` counts its multiply-adds (2 FLOPs each), so our MACs over
      such layers equal its total / 2.
    - ``global_pool``: it can pool the spatial dimensions away (global and adaptive pooling, mean over axes).
    """

    name: str
    attrs: type[A]
    fn: Callable[[Sequence[Shape], A], OpCost]
    min_inputs: int = 1
    max_inputs: int | None = 1  # None: any number
    doc: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)
    conv: bool = False
    conv_rank: int | None = None
    torch_counted: bool = False
    global_pool: bool = False

    def efficiency_class(self, op_class: OpClass) -> EfficiencyClass:
        """The key an instance's efficiency factors are looked up under: ``conv`` for a convolution of class
        gemm, else its op class (views have none: they launch nothing)."""
        if op_class is OpClass.VIEW:
            raise ValueError(f"{self.name}: a view launches no kernel and has no efficiency class")
        if self.conv and op_class is OpClass.GEMM:
            return EfficiencyClass.CONV
        return EfficiencyClass(op_class.value)


REGISTRY: dict[str, OpDef[Any]] = {}


def register(
    name: str,
    attrs: type[Attrs] = NoAttrs,
    *,
    inputs: int | tuple[int, int | None] = 1,
    aliases: Sequence[str] = (),
    conv: bool = False,
    conv_rank: int | None = None,
    torch_counted: bool = False,
    global_pool: bool = False,
) -> Callable[[Callable[[Sequence[Shape], A], OpCost]], Callable[[Sequence[Shape], A], OpCost]]:
    """Register ``fn(input_shapes, attrs) -> OpCost`` under ``name`` (and ``aliases``).

    ``inputs`` is the exact number of inputs, or ``(min, max)`` with ``max=None`` for any number; the other
    keywords are the op's facts (see :class:`OpDef`).
    """
    lo, hi = (inputs, inputs) if isinstance(inputs, int) else inputs

    def deco(fn: Callable[[Sequence[Shape], A], OpCost]) -> Callable[[Sequence[Shape], A], OpCost]:
        op: OpDef[Any] = OpDef(name, attrs, fn, lo, hi, (fn.__doc__ or "").strip().split("\n")[0], tuple(aliases),
                   conv=conv or conv_rank is not None, conv_rank=conv_rank, torch_counted=torch_counted,
                   global_pool=global_pool)
        for key in (name, *aliases):
            if key in REGISTRY:
                raise RuntimeError(f"op {key!r} registered twice")
            REGISTRY[key] = op
        return fn

    return deco


def get_op(name: str) -> OpDef[Any]:
    """The op registered as ``name``; an unknown name is an :class:`OpError` naming the closest op."""
    try:
        return REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, REGISTRY, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise OpError(f"unknown op {name!r}{hint} (`costmodel ops` lists them)", field="op") from None


# ---- small shape helpers shared by the op families -------------------------------------------------


def numel(shape: Sequence[int]) -> int:
    """Number of elements of a shape."""
    return math.prod(shape)


def pair(value: int | Sequence[int], n: int, field_name: str) -> tuple[int, ...]:
    """Expand an int to an n-tuple, or check a sequence has n entries."""
    if isinstance(value, int):
        return (value,) * n
    if len(value) != n:
        raise OpError(f"expected {n} values, got {len(value)}", field=field_name)
    return tuple(value)


def expect_rank(shape: Shape, rank: int | Sequence[int], what: str = "input") -> None:
    """Raise unless ``shape`` has one of the allowed ranks (batch included)."""
    ranks = (rank,) if isinstance(rank, int) else tuple(rank)
    if len(shape) not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise OpError(f"{what} must have rank {want} (batch included), got shape {list(shape)}")


def expect_min_rank(shape: Shape, rank: int, what: str = "input") -> None:
    """Raise unless ``shape`` has at least ``rank`` dimensions (batch included)."""
    if len(shape) < rank:
        raise OpError(f"{what} must have rank >= {rank} (batch included), got shape {list(shape)}")


def normalize_dim(dim: int, rank: int, field_name: str = "dim") -> int:
    """Resolve a possibly negative dimension index against ``rank``."""
    if not -rank <= dim < rank:
        raise OpError(f"dim {dim} out of range for rank {rank}", field=field_name)
    return dim % rank


def broadcast_shapes(shapes: Sequence[Shape]) -> Shape:
    """NumPy broadcasting of several shapes; an :class:`OpError` if they do not broadcast."""
    rank = max(len(s) for s in shapes)
    out: list[int] = []
    for axis in range(-rank, 0):
        sizes = {s[axis] for s in shapes if len(s) >= -axis} - {1}
        if len(sizes) > 1:
            raise OpError(f"shapes {[list(s) for s in shapes]} do not broadcast")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)
