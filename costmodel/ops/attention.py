"""Attention: scaled dot-product attention and the whole multi-head self-attention layer (timm ViT / Swin).

Counted as fvcore counts timm's non-fused path: every matmul (qkv, q@k^T, attn@v, proj) contributes M*K*N
MACs and its output elements to ``gemm_outputs``; softmax is 5 FLOPs per score, scaling q 1 per element,
each mask or bias added to the scores 1 per score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..vocab import OpClass
from .base import (
    Attrs,
    NonNegativeInt,
    OpCost,
    OpError,
    PositiveInt,
    Shape,
    broadcast_shapes,
    expect_rank,
    numel,
    register,
)
from .shape import WindowAttrs, window_grid

SOFTMAX_FLOPS = 5  # per element: max, subtract, exp, sum, divide


@dataclass(frozen=True)
class Counts:
    """MACs, FLOPs and GEMM output elements of a group of kernels."""

    macs: int = 0
    flops: int = 0
    gemm_outputs: int = 0

    def __add__(self, other: Counts) -> Counts:
        outs = self.gemm_outputs + other.gemm_outputs
        return Counts(self.macs + other.macs, self.flops + other.flops, outs)


def gemm(rows: int, inner: int, cols: int, bias: bool = False) -> Counts:
    """A [rows, inner] @ [inner, cols] matmul, plus a bias over its output if ``bias``."""
    macs, outs = rows * inner * cols, rows * cols
    return Counts(macs, 2 * macs + (outs if bias else 0), outs)


def attention_core(
    heads: int, lq: int, lk: int, d: int, dv: int, score_adds: int = 0, scale: bool = True
) -> Counts:
    """``heads`` independent (batch x head) attentions: q*scale, q@k^T, ``score_adds`` adds, softmax, @v."""
    scores = heads * lq * lk
    pointwise = SOFTMAX_FLOPS * scores + score_adds * scores + (heads * lq * d if scale else 0)
    return gemm(heads * lq, d, lk) + gemm(heads * lq, lk, dv) + Counts(flops=pointwise)


def _cost(out: Shape, c: Counts, params: int = 0, extra_read_elems: int = 0) -> OpCost:
    return OpCost(
        outputs=(out,),
        params=params,
        macs=c.macs,
        flops=c.flops,
        gemm_outputs=c.gemm_outputs,
        op_class=OpClass.ATTENTION,
        extra_read_elems=extra_read_elems,
    )


class SdpaAttrs(Attrs):
    causal: bool = False
    scale: bool = True


@register("scaled_dot_product_attention", SdpaAttrs, inputs=(3, 4), aliases=("sdpa",), torch_counted=True)
def scaled_dot_product_attention(inputs: Sequence[Shape], a: SdpaAttrs) -> OpCost:
    """softmax(q @ k^T * scale [+ mask]) @ v over q [N, H, Lq, d], k [N, Hk, Lk, d], v [N, Hk, Lk, dv]; Hk divides
    H (grouped-query / multi-query attention: each k, v head serves H / Hk q heads; the cost is that of H heads)."""
    q, k, v, *mask = inputs
    for shape, name in zip(inputs, ("q", "k", "v", "attn_mask"), strict=False):
        expect_rank(shape, 4, name)
    n, h, lq, d = q
    if k[0] != n or v[:2] != k[:2] or h % k[1]:
        raise OpError(f"q {list(q)}, k {list(k)}, v {list(v)} differ in batch, or k's heads do not divide q's "
                      "(grouped-query attention shares each k, v head among H / Hk q heads)")
    if k[3] != d or v[2] != k[2]:
        raise OpError(f"k {list(k)} must be [N, H, Lk, {d}] and v {list(v)} must be [N, H, {k[2]}, dv]")
    if mask and broadcast_shapes([mask[0], (n, h, lq, k[2])]) != (n, h, lq, k[2]):
        raise OpError(f"attn_mask {list(mask[0])} does not broadcast to the scores [{n}, {h}, {lq}, {k[2]}]")
    c = attention_core(n * h, lq, k[2], d, v[3], score_adds=int(a.causal) + len(mask), scale=a.scale)
    return _cost((n, h, lq, v[3]), c)


@register("relative_position_bias", WindowAttrs)
def relative_position_bias(inputs: Sequence[Shape], a: WindowAttrs) -> OpCost:
    """Swin's relative position bias for q [B, H, L, d]: gathers a learned (2w-1)^2 x H table into [1, H, L, L]."""
    (q,) = inputs
    expect_rank(q, 4, "q")
    _, heads, length, _ = q
    if length != a.window**2:
        raise OpError(f"q has {length} tokens per window; window {a.window} needs {a.window**2}", field="window")
    return OpCost(outputs=((1, heads, length, length),), params=(2 * a.window - 1) ** 2 * heads,
                  op_class=OpClass.DATA_MOVEMENT)


def masked_pairs(height: int, width: int, window: int, shift_h: int, shift_w: int) -> int:
    """(query, key) pairs per image and head that Swin's shifted-window mask sets to -100: pairs of one window in
    different regions of the rolled map. timm's regions split the last row of windows at H - shift_h (rows [H - w,
    H - s) and [H - s, H)) and the last column likewise; a window of regions of n_1, n_2, ... tokens has
    (sum n)^2 - sum n^2 such pairs."""
    rows, cols = height // window, width // window
    row_parts = [[window]] * (rows - 1) + [[window - shift_h, shift_h] if shift_h else [window]]
    col_parts = [[window]] * (cols - 1) + [[window - shift_w, shift_w] if shift_w else [window]]
    total = 0
    for r in row_parts:
        for c in col_parts:
            sizes = [a * b for a in r for b in c]
            total += sum(sizes) ** 2 - sum(n * n for n in sizes)
    return total


@register("shift_window_mask", WindowAttrs)
def shift_window_mask(inputs: Sequence[Shape], a: WindowAttrs) -> OpCost:
    """Add Swin's shifted-window mask (a constant buffer, -100 across window seams) to scores [B, H, L, L]."""
    (scores,) = inputs
    expect_rank(scores, 4, "scores")
    if scores[2] != a.window**2 or scores[3] != a.window**2:
        raise OpError(f"scores {list(scores)} are not [B, H, {a.window**2}, {a.window**2}]", field="window")
    return OpCost(outputs=(scores,), flops=numel(scores))


class AttentionAttrs(Attrs):
    heads: PositiveInt
    head_dim: PositiveInt | None = None
    out: PositiveInt | None = None
    qkv_bias: bool = True
    proj_bias: bool = True
    causal: bool = False
    window: NonNegativeInt = 0
    shift: NonNegativeInt = 0
    rel_pos_bias: bool = False


def sequences(x: Shape, a: AttentionAttrs) -> tuple[int, int, int]:
    """(sequences, tokens per sequence, windows per image) of the attention op on ``x``: [N, L, D] is N sequences of
    L; Swin's [N, H, W, C] is N x nW windows of window^2 tokens (0 windows without a window)."""
    if a.window:
        expect_rank(x, 4, "windowed attention input [N, H, W, C]")
        nh, nw = window_grid(x[1], x[2], a.window)
        return x[0] * nh * nw, a.window * a.window, nh * nw
    expect_rank(x, 3, "attention input [N, L, D]")
    for name in ("shift", "rel_pos_bias"):
        if getattr(a, name):
            raise OpError(f"{name} needs window > 0 (Swin window attention)", field=name)
    return x[0], x[1], 0


def score_elements(x: Shape, a: AttentionAttrs) -> int:
    """Elements of the attention op's scores [sequences, heads, L, L] on input ``x``: the tensor its q @ k^T writes
    and its softmax runs over, internal to the op (its output is [N, L, D])."""
    seqs, length, _ = sequences(x, a)
    return seqs * a.heads * length * length


@register("attention", AttentionAttrs, aliases=("mhsa", "multi_head_attention"), torch_counted=True)
def attention(inputs: Sequence[Shape], a: AttentionAttrs) -> OpCost:
    """Multi-head self-attention (qkv, attention, proj) on [N, L, D], or on Swin windows of [N, H, W, C]."""
    (x,) = inputs
    seqs, length, windows = sequences(x, a)  # windows per image, for the shift mask
    dim = x[-1]
    if a.shift and a.shift >= a.window:
        raise OpError(f"shift {a.shift} must be smaller than window {a.window}", field="shift")
    if a.head_dim is None and dim % a.heads:
        raise OpError(f"dim {dim} not divisible by heads {a.heads}; give head_dim", field="heads")
    hd = a.head_dim or dim // a.heads
    inner, out = a.heads * hd, a.out or dim
    tokens = seqs * length
    adds = int(a.causal) + int(a.shift > 0) + int(a.rel_pos_bias)
    c = (
        gemm(tokens, dim, 3 * inner, a.qkv_bias)
        + attention_core(seqs * a.heads, length, length, hd, hd, score_adds=adds)
        + gemm(tokens, inner, out, a.proj_bias)
    )
    table = (2 * a.window - 1) ** 2 * a.heads if a.rel_pos_bias else 0
    params = dim * 3 * inner + (3 * inner if a.qkv_bias else 0) + inner * out + (out if a.proj_bias else 0)
    # The gathered [heads, L, L] bias and the [nW, L, L] shift mask are read on top of inputs and weights.
    extra = (a.heads if a.rel_pos_bias else 0) * length**2 + (windows if a.shift else 0) * length**2
    return _cost((*x[:-1], out), c, params + table, extra)
