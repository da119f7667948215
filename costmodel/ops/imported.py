"""Ops that imported graphs need: a traced tensor that does not depend on the inputs, a reshape that moves
work into or out of the batch dimension, and the explicit ``opaque`` placeholder for an unsupported op.

``opaque`` is never written by the importers unless the user asks (``--allow-opaque``); its MACs and FLOPs are
zero by construction and every report flags it (see docs/conventions.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..vocab import OpClass
from .base import Attrs, NonNegativeInt, OpCost, OpError, PositiveInt, Shape, numel, register


class ParamTensorAttrs(Attrs):
    shape: list[NonNegativeInt]
    params: NonNegativeInt = 0


@register("param_tensor", ParamTensorAttrs)
def param_tensor(inputs: Sequence[Shape], a: ParamTensorAttrs) -> OpCost:
    """A tensor of ``shape`` (as traced, broadcast by its reader) computed from parameters or buffers only;
    ``params`` learnable elements behind it (0 for buffers). The input only orders it in the graph."""
    return OpCost(outputs=(tuple(a.shape),), params=a.params, op_class=OpClass.DATA_MOVEMENT,
                  extra_read_elems=numel(a.shape))


class BatchReshapeAttrs(Attrs):
    shape: list[PositiveInt]
    fold: PositiveInt = 1  # the batch dim is multiplied by fold / unfold
    unfold: PositiveInt = 1


@register("batch_reshape", BatchReshapeAttrs)
def batch_reshape(inputs: Sequence[Shape], a: BatchReshapeAttrs) -> OpCost:
    """View [N, ...] as [N * fold / unfold, *shape] (windows or heads moved into or out of the batch dim)."""
    (x,) = inputs
    if (x[0] * a.fold) % a.unfold:
        raise OpError(f"batch {x[0]} x {a.fold} is not divisible by {a.unfold}", field="unfold")
    out = (x[0] * a.fold // a.unfold, *a.shape)
    if numel(out) != numel(x):
        raise OpError(f"cannot view {list(x)} as {list(out)}", field="shape")
    return OpCost(outputs=(out,), op_class=OpClass.VIEW, is_view=True)


class BatchRepeatAttrs(Attrs):
    repeats: PositiveInt


@register("batch_repeat", BatchRepeatAttrs)
def batch_repeat(inputs: Sequence[Shape], a: BatchRepeatAttrs) -> OpCost:
    """[N, ...] -> [N * repeats, ...], each sample repeated ``repeats`` times in a row (``repeat_interleave`` on
    dim 0: GCViT's global query shared by an image's windows); a copy."""
    (x,) = inputs
    return OpCost(outputs=((x[0] * a.repeats, *x[1:]),), op_class=OpClass.DATA_MOVEMENT)


class OpaqueAttrs(Attrs):
    source: str  # the framework op it stands for, e.g. aten_einsum, onnx_Einsum
    shapes: list[list[NonNegativeInt]]  # output shapes as traced, batch dim first
    params: NonNegativeInt = 0  # parameters the op reads (counted: they exist whatever the op does)
    batch: PositiveInt = 1  # the batch the shapes were traced at


@register("opaque", OpaqueAttrs, inputs=(1, None))
def opaque(inputs: Sequence[Shape], a: OpaqueAttrs) -> OpCost:
    """An op the importer could not map (only with --allow-opaque): traced shapes, 0 MACs and 0 FLOPs, flagged."""
    batch = inputs[0][0] if inputs[0] else a.batch
    outs = tuple((s[0] * batch // a.batch, *s[1:]) if s else () for s in (tuple(s) for s in a.shapes))
    return OpCost(outputs=outs, params=a.params, op_class=OpClass.DATA_MOVEMENT)
