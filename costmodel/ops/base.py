"""The op registry: every op is a pure function of input shapes and attributes.

An op is registered with :func:`register`, which records its attribute model (a pydantic model that
rejects unknown fields) and its shape-and-cost function. The cost function receives the input shapes
(each a tuple of ints *including* the batch dimension) and the validated attributes, and returns an
:class:`OpCost`. Counting conventions are documented in ``docs/conventions.md``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from ..vocab import EfficiencyClass, OpClass

if TYPE_CHECKING:
    import numpy as np

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


class Attrs(BaseModel):
    """Base for op attribute models: unknown fields are errors. Validators are built on first use (most runs use
    a few of the ops), so importing the registry stays cheap."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, allow_inf_nan=False)  # 'inf' too


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
