"""Embeddings: ViT/Swin patch embedding, class tokens, learned position embeddings and learned biases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from ..vocab import OpClass
from .base import (
    Attrs,
    NoAttrs,
    OpCost,
    OpError,
    PositiveInt,
    Shape,
    broadcast_shapes,
    expect_rank,
    numel,
    register,
)
from .conv import ConvAttrs, conv2d


class PatchEmbedAttrs(Attrs):
    out: PositiveInt
    patch: PositiveInt | list[PositiveInt]
    bias: bool = True
    layout: Literal["tokens", "nhwc", "nchw"] = "tokens"


class ClassTokenAttrs(Attrs):
    tokens: PositiveInt = 1


class LearnedBiasAttrs(Attrs):
    shape: list[PositiveInt]


@register("patch_embed", PatchEmbedAttrs, conv=True, torch_counted=True)
def patch_embed(inputs: Sequence[Shape], a: PatchEmbedAttrs) -> OpCost:
    """Patchify [N, C, H, W] with a conv of kernel = stride = patch; tokens [N, L, out], nhwc or nchw out."""
    try:
        cost = conv2d(inputs, ConvAttrs(out=a.out, kernel=a.patch, stride=a.patch, bias=a.bias))
    except OpError as e:
        raise OpError(e.message, field="patch" if e.field in ("kernel", "stride") else e.field) from None
    n, c, h, w = cost.outputs[0]
    layouts = {"tokens": (n, h * w, c), "nhwc": (n, h, w, c), "nchw": (n, c, h, w)}
    return replace(cost, outputs=(layouts[a.layout],))


@register("class_token", ClassTokenAttrs, aliases=("cls_token",))
def class_token(inputs: Sequence[Shape], a: ClassTokenAttrs) -> OpCost:
    """Prepend ``tokens`` learned tokens to [N, L, D] (a concat)."""
    (x,) = inputs
    expect_rank(x, 3)
    n, length, d = x
    return OpCost(outputs=((n, length + a.tokens, d),), params=a.tokens * d, op_class=OpClass.DATA_MOVEMENT)


@register("pos_embed", NoAttrs)
def pos_embed(inputs: Sequence[Shape], a: NoAttrs) -> OpCost:
    """Add a learned [L, D] position embedding to [N, L, D]."""
    (x,) = inputs
    expect_rank(x, 3)
    return OpCost(outputs=(x,), params=numel(x[1:]), flops=numel(x), op_class=OpClass.ELEMENTWISE)


@register("learned_bias", LearnedBiasAttrs, aliases=("param_add",))
def learned_bias(inputs: Sequence[Shape], a: LearnedBiasAttrs) -> OpCost:
    """Add a learned tensor of per-sample ``shape`` (broadcast against the input without its batch dim)."""
    (x,) = inputs
    try:
        out = (x[0], *broadcast_shapes([x[1:], tuple(a.shape)]))
    except OpError as e:
        raise OpError(f"bias {a.shape} vs input {list(x)}: {e.message}", field="shape") from None
    return OpCost(outputs=(out,), params=numel(a.shape), flops=numel(out), op_class=OpClass.ELEMENTWISE)
