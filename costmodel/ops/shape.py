"""Shape ops: free views (reshape, slice, split, permute, dropout) and copies (concat, pad, upsample, ...).

Views alias their first input and cost nothing. Copies move data (DATA_MOVEMENT) and do no arithmetic, except
upsample, which fvcore counts as 1 (nearest) or 4 (bilinear) MACs per output element. Ops that work along a
dimension may not touch the batch dimension (dim 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from .. import limits
from ..vocab import OpClass
from .base import (
    Attrs,
    NoAttrs,
    NonNegativeInt,
    OpCost,
    OpError,
    PositiveFloat,
    PositiveInt,
    Probability,
    Shape,
    expect_rank,
    normalize_dim,
    numel,
    pair,
    register,
)

Prob = Probability


def _view(*outputs: Shape) -> OpCost:
    return OpCost(outputs=outputs, op_class=OpClass.VIEW, is_view=True)


def _copy(*outputs: Shape, macs: int = 0, flops: int = 0) -> OpCost:
    return OpCost(outputs=outputs, macs=macs, flops=flops, op_class=OpClass.DATA_MOVEMENT)


def feature_dim(dim: int, rank: int, field_name: str = "dim") -> int:
    """Resolve ``dim`` against ``rank``; the batch dimension (0) is not allowed."""
    d = normalize_dim(dim, rank, field_name)
    if d == 0:
        raise OpError(f"{field_name}={dim} is the batch dimension", field=field_name)
    return d


def _infer(sizes: Sequence[int], total: int, field_name: str) -> tuple[int, ...]:
    """Resolve at most one -1 in ``sizes`` so that their product is ``total``."""
    if list(sizes).count(-1) > 1 or any(s == 0 or s < -1 for s in sizes):
        raise OpError(f"{list(sizes)}: sizes must be positive, with at most one -1", field=field_name)
    known = math.prod(s for s in sizes if s != -1)
    out = tuple(total // known if s == -1 else s for s in sizes)
    if math.prod(out) != total:
        raise OpError(f"{list(sizes)} cannot hold the {total} elements of the input", field=field_name)
    return out


def window_grid(height: int, width: int, window: int) -> tuple[int, int]:
    """Windows along H and W for Swin partitioning; H and W must be divisible by ``window``."""
    if height % window or width % window:
        raise OpError(f"window {window} does not divide the {height}x{width} feature map", field="window")
    return height // window, width // window


# ---- free views ------------------------------------------------------------------------------------


class DropoutAttrs(Attrs):
    p: Prob = 0.5


class DropPathAttrs(Attrs):
    p: Prob = 0.0


@register("identity")
def identity(inputs: Sequence[Shape], a: NoAttrs) -> OpCost:
    """Pass the input through unchanged."""
    return _view(inputs[0])


@register("dropout", DropoutAttrs)
def dropout(inputs: Sequence[Shape], a: DropoutAttrs) -> OpCost:
    """Dropout: the identity at inference."""
    return _view(inputs[0])


@register("drop_path", DropPathAttrs)
def drop_path(inputs: Sequence[Shape], a: DropPathAttrs) -> OpCost:
    """Stochastic depth (timm DropPath): the identity at inference."""
    return _view(inputs[0])


class SplitAttrs(Attrs):
    sizes: list[PositiveInt] | PositiveInt
    dim: int = 1


class ChunkAttrs(Attrs):
    chunks: PositiveInt
    dim: int = 1


class SliceAttrs(Attrs):
    dim: int
    start: int = 0
    end: int | None = None
    step: PositiveInt = 1


class SelectAttrs(Attrs):
    dim: int
    index: int


class IndexSelectAttrs(Attrs):
    dim: int
    size: PositiveInt


class ReshapeAttrs(Attrs):
    shape: list[int]


class FlattenAttrs(Attrs):
    start_dim: int = 1
    end_dim: int = -1


class UnflattenAttrs(Attrs):
    dim: int
    sizes: list[int]


class PermuteAttrs(Attrs):
    dims: list[int]


class TransposeAttrs(Attrs):
    dim0: int
    dim1: int


def _with(shape: Shape, dim: int, size: int) -> Shape:
    return (*shape[:dim], size, *shape[dim + 1 :])


def _check_pieces(count: int, field: str) -> None:
    """Refuse a split into more outputs than limits.OP_OUTPUTS before building them."""
    message = limits.OP_OUTPUTS.exceeded(count)
    if message:
        raise OpError(message, field=field)


@register("split", SplitAttrs)
def split(inputs: Sequence[Shape], a: SplitAttrs) -> OpCost:
    """Split along ``dim`` into pieces of ``sizes`` (a list, or one chunk size as torch.split)."""
    (x,) = inputs
    d = feature_dim(a.dim, len(x))
    if isinstance(a.sizes, int):
        _check_pieces(math.ceil(x[d] / a.sizes), "sizes")
        sizes = [min(a.sizes, x[d] - i) for i in range(0, x[d], a.sizes)]
    elif sum(a.sizes) != x[d]:
        raise OpError(f"split sizes {a.sizes} sum to {sum(a.sizes)}, dim {d} has {x[d]}", field="sizes")
    else:
        sizes = a.sizes
    return _view(*(_with(x, d, s) for s in sizes))


@register("chunk", ChunkAttrs)
def chunk(inputs: Sequence[Shape], a: ChunkAttrs) -> OpCost:
    """Split along ``dim`` into ``chunks`` pieces of ceil(size / chunks), the last smaller (torch.chunk)."""
    (x,) = inputs
    d = feature_dim(a.dim, len(x))
    _check_pieces(min(a.chunks, x[d]), "chunks")
    step = math.ceil(x[d] / a.chunks)
    sizes = [min(step, x[d] - i) for i in range(0, x[d], step)]
    if len(sizes) != a.chunks:
        raise OpError(
            f"torch.chunk of size {x[d]} into {a.chunks} gives {len(sizes)} pieces {sizes}", field="chunks"
        )
    return _view(*(_with(x, d, s) for s in sizes))


@register("slice", SliceAttrs)
def slice_(inputs: Sequence[Shape], a: SliceAttrs) -> OpCost:
    """Take x[..., start:end:step, ...] along ``dim``."""
    (x,) = inputs
    d = feature_dim(a.dim, len(x))
    size = len(range(x[d])[a.start : a.end : a.step])
    if size == 0:
        raise OpError(f"slice {a.start}:{a.end}:{a.step} of a dim of size {x[d]} is empty", field="start")
    return _view(_with(x, d, size))


@register("select", SelectAttrs)
def select(inputs: Sequence[Shape], a: SelectAttrs) -> OpCost:
    """Take index ``index`` along ``dim``, removing that dim (e.g. the class token x[:, 0])."""
    (x,) = inputs
    d = feature_dim(a.dim, len(x))
    normalize_dim(a.index, x[d], "index")
    return _view(x[:d] + x[d + 1 :])


@register("index_select", IndexSelectAttrs, aliases=("gather",))
def index_select(inputs: Sequence[Shape], a: IndexSelectAttrs) -> OpCost:
    """Take ``size`` entries along ``dim`` by a fixed index (``x[:, :, perm]``, ``index_select``: CSATv2's
    zigzag order of DCT coefficients): a copy, ``dim`` of size ``size``. Which entries does not change a count."""
    (x,) = inputs
    d = feature_dim(a.dim, len(x))
    return _copy(_with(x, d, a.size))


@register("reshape", ReshapeAttrs, aliases=("view",))
def reshape(inputs: Sequence[Shape], a: ReshapeAttrs) -> OpCost:
    """Reshape each sample to ``shape`` (batch dim excluded; one -1 allowed)."""
    (x,) = inputs
    return _view((x[0], *_infer(a.shape, numel(x[1:]), "shape")))


@register("flatten", FlattenAttrs)
def flatten(inputs: Sequence[Shape], a: FlattenAttrs) -> OpCost:
    """Flatten dims start_dim..end_dim into one."""
    (x,) = inputs
    lo, hi = feature_dim(a.start_dim, len(x), "start_dim"), normalize_dim(a.end_dim, len(x), "end_dim")
    if lo > hi:
        raise OpError(f"start_dim {a.start_dim} comes after end_dim {a.end_dim}", field="end_dim")
    return _view((*x[:lo], numel(x[lo : hi + 1]), *x[hi + 1 :]))


@register("unflatten", UnflattenAttrs)
def unflatten(inputs: Sequence[Shape], a: UnflattenAttrs) -> OpCost:
    """Split dim ``dim`` into ``sizes`` (one -1 allowed)."""
    (x,) = inputs
    d = feature_dim(a.dim, len(x))
    return _view((*x[:d], *_infer(a.sizes, x[d], "sizes"), *x[d + 1 :]))


@register("permute", PermuteAttrs)
def permute(inputs: Sequence[Shape], a: PermuteAttrs) -> OpCost:
    """Reorder dims (a strided view); ``dims`` covers every dim and keeps the batch dim first."""
    (x,) = inputs
    dims = [normalize_dim(d, len(x), "dims") for d in a.dims]
    if sorted(dims) != list(range(len(x))):
        raise OpError(f"dims {a.dims} is not a permutation of the {len(x)} dims of {list(x)}", field="dims")
    if dims[0] != 0:
        raise OpError(f"dims {a.dims} moves the batch dim; dims[0] must be 0", field="dims")
    return _view(tuple(x[d] for d in dims))


@register("transpose", TransposeAttrs)
def transpose(inputs: Sequence[Shape], a: TransposeAttrs) -> OpCost:
    """Swap two non-batch dims (a strided view)."""
    (x,) = inputs
    d0, d1 = feature_dim(a.dim0, len(x), "dim0"), feature_dim(a.dim1, len(x), "dim1")
    out = list(x)
    out[d0], out[d1] = x[d1], x[d0]
    return _view(tuple(out))


# ---- copies ----------------------------------------------------------------------------------------


class ConcatAttrs(Attrs):
    dim: int = 1


class PadAttrs(Attrs):
    pads: list[int]
    mode: Literal["constant", "reflect", "replicate"] = "constant"
    value: float = 0.0


class UpsampleAttrs(Attrs):
    scale_factor: PositiveFloat | list[PositiveFloat] | None = None
    size: PositiveInt | list[PositiveInt] | None = None
    mode: Literal["nearest", "bilinear", "bicubic"] = "nearest"
    align_corners: bool | None = None


class ChannelShuffleAttrs(Attrs):
    groups: PositiveInt


class WindowAttrs(Attrs):
    window: PositiveInt


class WindowReverseAttrs(Attrs):
    window: PositiveInt
    height: PositiveInt
    width: PositiveInt


class RollAttrs(Attrs):
    shifts: int | list[int]
    dims: int | list[int]


@register("concat", ConcatAttrs, inputs=(1, None), aliases=("cat",))
def concat(inputs: Sequence[Shape], a: ConcatAttrs) -> OpCost:
    """Concatenate the inputs along ``dim``; all other dims must match."""
    first = inputs[0]
    d = feature_dim(a.dim, len(first))
    for x in inputs[1:]:
        if len(x) != len(first):
            raise OpError(f"cannot concat shapes {list(first)} and {list(x)}: ranks differ", field="dim")
        bad = [i for i in range(len(x)) if i != d and x[i] != first[i]]
        if bad:
            raise OpError(
                f"cannot concat shapes {list(first)} and {list(x)} along dim {d}: dim {bad[0]} differs",
                field="dim",
            )
    return _copy(_with(first, d, sum(x[d] for x in inputs)))


@register("contiguous")
def contiguous(inputs: Sequence[Shape], a: NoAttrs) -> OpCost:
    """Copy a strided view into a dense tensor."""
    return _copy(inputs[0])


@register("pad", PadAttrs)
def pad(inputs: Sequence[Shape], a: PadAttrs) -> OpCost:
    """Pad as F.pad: ``pads`` lists (before, after) pairs starting from the last dim."""
    (x,) = inputs
    if len(a.pads) % 2 or len(a.pads) // 2 > len(x) - 1:
        raise OpError(f"pads {a.pads}: need (before, after) pairs for <= {len(x) - 1} dims", field="pads")
    pairs = len(a.pads) // 2
    # F.pad's reflect and replicate pad the last 1-3 dims of a batched or unbatched map: 1 pair on 2-d or 3-d,
    # 2 on 3-d or 4-d, 3 on 4-d or 5-d tensors (PyTorch rejects the others)
    if a.mode != "constant" and not (1 <= pairs <= 3 and len(x) - 2 <= pairs <= len(x) - 1):
        ranks = " or ".join(f"{pairs + extra}-d" for extra in (1, 2)) if 1 <= pairs <= 3 else "no"
        raise OpError(f"{a.mode} padding with {pairs} (before, after) pair(s) pads {ranks} tensors, not "
                      f"{len(x)}-d {list(x)} (PyTorch's F.pad)", field="pads")
    out = list(x)
    for i in range(len(a.pads) // 2):
        d, lo, hi = len(x) - 1 - i, a.pads[2 * i], a.pads[2 * i + 1]
        if a.mode == "reflect" and max(lo, hi) >= x[d]:
            raise OpError(f"reflect padding {max(lo, hi)} must be < dim {d} size {x[d]}", field="pads")
        out[d] = x[d] + lo + hi
        if out[d] <= 0:
            raise OpError(f"padding {lo}, {hi} leaves dim {d} of size {x[d]} empty", field="pads")
    return _copy(tuple(out))


@register("upsample", UpsampleAttrs, aliases=("interpolate",))
def upsample(inputs: Sequence[Shape], a: UpsampleAttrs) -> OpCost:
    """Resize [N, C, H, W] by ``scale_factor`` or to ``size`` (nearest, bilinear or bicubic)."""
    (x,) = inputs
    expect_rank(x, 4)
    n, c, h, w = x
    if (a.scale_factor is None) == (a.size is None):
        raise OpError("give exactly one of scale_factor and size", field="scale_factor")
    if a.mode == "nearest" and a.align_corners is not None:  # as nn.Upsample: only the interpolating modes align
        raise OpError("align_corners applies to the bilinear and bicubic modes, not nearest: leave it out",
                      field="align_corners")
    if a.size is not None:
        size = [a.size] * 2 if isinstance(a.size, int) else a.size
        if len(size) != 2:
            raise OpError(f"size {a.size} must be [h, w]", field="size")
        oh, ow = size
    else:
        sf = a.scale_factor
        scale = [sf, sf] if isinstance(sf, float | int) else sf or []
        if len(scale) != 2:
            raise OpError(f"scale_factor {sf} must be a number or [sh, sw]", field="scale_factor")
        oh, ow = math.floor(h * scale[0]), math.floor(w * scale[1])
        if min(oh, ow) == 0:
            raise OpError(f"scale_factor {sf} shrinks {h}x{w} to nothing", field="scale_factor")
    out = (n, c, oh, ow)
    # fvcore: upsample_nearest2d 1 "flop" per output element, upsample_bilinear2d 4, bicubic none (no handler).
    # FLOPs: bilinear 4 taps, bicubic 16 taps, a multiply and an add each; nearest none.
    per = {"nearest": 1, "bilinear": 4, "bicubic": 0}[a.mode]
    return _copy(out, macs=per * numel(out), flops={"nearest": 0, "bilinear": 8, "bicubic": 32}[a.mode] * numel(out))


@register("channel_shuffle", ChannelShuffleAttrs)
def channel_shuffle(inputs: Sequence[Shape], a: ChannelShuffleAttrs) -> OpCost:
    """ShuffleNet channel shuffle of [N, C, ...] across ``groups``."""
    (x,) = inputs
    expect_rank(x, (3, 4, 5))
    if x[1] % a.groups:
        raise OpError(f"channels {x[1]} not divisible by groups {a.groups}", field="groups")
    return _copy(x)


@register("window_partition", WindowAttrs)
def window_partition(inputs: Sequence[Shape], a: WindowAttrs) -> OpCost:
    """Swin: cut [N, H, W, C] into windows, [N*nW, window*window, C]."""
    (x,) = inputs
    expect_rank(x, 4)
    n, h, w, c = x
    nh, nw = window_grid(h, w, a.window)
    return _copy((n * nh * nw, a.window * a.window, c))


@register("window_reverse", WindowReverseAttrs)
def window_reverse(inputs: Sequence[Shape], a: WindowReverseAttrs) -> OpCost:
    """Swin: merge windows [N*nW, window*window, C] back into [N, height, width, C]."""
    (x,) = inputs
    expect_rank(x, 3)
    b, tokens, c = x
    nh, nw = window_grid(a.height, a.width, a.window)
    if tokens != a.window * a.window:
        raise OpError(f"{tokens} tokens per window, window {a.window} needs {a.window**2}", field="window")
    if b % (nh * nw):
        raise OpError(f"{b} windows is not a multiple of the {nh * nw} per image", field="height")
    return _copy((b // (nh * nw), a.height, a.width, c))


@register("roll", RollAttrs)
def roll(inputs: Sequence[Shape], a: RollAttrs) -> OpCost:
    """Cyclic shift along ``dims`` by ``shifts`` (Swin's shifted windows)."""
    (x,) = inputs
    shifts = [a.shifts] if isinstance(a.shifts, int) else a.shifts
    dims = [a.dims] if isinstance(a.dims, int) else a.dims
    if len(shifts) != len(dims):
        raise OpError(f"{len(shifts)} shifts for {len(dims)} dims", field="shifts")
    for d in dims:
        feature_dim(d, len(x), "dims")
    return _copy(x)



class Im2ColAttrs(Attrs):
    kernel: PositiveInt | list[PositiveInt]
    stride: PositiveInt | list[PositiveInt] = 1
    padding: NonNegativeInt | list[NonNegativeInt] = 0
    dilation: PositiveInt | list[PositiveInt] = 1


def _sliding(size: int, kernel: int, stride: int, pad: int, dilation: int, field_name: str) -> int:
    out = (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
    if out <= 0:
        raise OpError(f"kernel {kernel} (dilation {dilation}) does not fit {size} + 2x{pad} padding",
                      field=field_name)
    return out


def _blocks(h: int, w: int, a: Im2ColAttrs) -> tuple[tuple[int, int], int]:
    k, s, p, d = (pair(v, 2, f) for v, f in ((a.kernel, "kernel"), (a.stride, "stride"),
                                                (a.padding, "padding"), (a.dilation, "dilation")))
    count = _sliding(h, k[0], s[0], p[0], d[0], "kernel") * _sliding(w, k[1], s[1], p[1], d[1], "kernel")
    return (k[0], k[1]), count


@register("im2col", Im2ColAttrs, aliases=("unfold",))
def im2col(inputs: Sequence[Shape], a: Im2ColAttrs) -> OpCost:
    """``nn.Unfold``: the sliding k x k blocks of [N, C, H, W] as columns, [N, C*kh*kw, L]; a copy."""
    (x,) = inputs
    expect_rank(x, 4)
    n, c, h, w = x
    (kh, kw), count = _blocks(h, w, a)
    return _copy((n, c * kh * kw, count))


class Col2ImAttrs(Im2ColAttrs):
    output_size: PositiveInt | list[PositiveInt]


@register("col2im", Col2ImAttrs, aliases=("fold",))
def col2im(inputs: Sequence[Shape], a: Col2ImAttrs) -> OpCost:
    """``nn.Fold``: columns [N, C*kh*kw, L] summed back into [N, C, H, W]; 1 FLOP (an add) per input element."""
    (x,) = inputs
    expect_rank(x, 3)
    n, ckk, length = x
    h, w = pair(a.output_size, 2, "output_size")
    (kh, kw), count = _blocks(h, w, a)
    if ckk % (kh * kw) or count != length:
        raise OpError(f"input {list(x)} is not [N, C*{kh}*{kw}, {count}] for output {h}x{w}", field="output_size")
    return _copy((n, ckk // (kh * kw), h, w), flops=numel(x))


class SlidingWindowAttrs(Attrs):
    dim: int
    size: PositiveInt
    step: PositiveInt


@register("sliding_window", SlidingWindowAttrs)
def sliding_window(inputs: Sequence[Shape], a: SlidingWindowAttrs) -> OpCost:
    """``Tensor.unfold(dim, size, step)``: dim becomes (len - size) // step + 1 windows, a new last dim of
    ``size``; a strided view."""
    (x,) = inputs
    d = feature_dim(a.dim, len(x))
    if a.size > x[d]:
        raise OpError(f"window {a.size} is longer than dim {d} of size {x[d]}", field="size")
    out = (*x[:d], (x[d] - a.size) // a.step + 1, *x[d + 1:], a.size)
    return _view(out)
