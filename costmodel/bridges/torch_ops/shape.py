"""Shape ops, run functionally (views and copies as torch does them); identity, dropout, drop_path, upsample and
channel_shuffle use their nn modules. Dims in attributes count the batch dim, as in the op registry."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...graph import Layer
from . import BuildContext, builds


@builds("identity", "drop_path")
def identity(layer: Layer, ctx: BuildContext) -> nn.Module:
    return nn.Identity()  # drop_path (stochastic depth) is the identity at inference


@builds("dropout")
def dropout(layer: Layer, ctx: BuildContext) -> nn.Module:
    return nn.Dropout(layer.attrs.p)


@builds("split")
def split(layer: Layer, ctx: BuildContext) -> Any:
    sizes, dim = layer.attrs.sizes, layer.attrs.dim
    return lambda x: torch.split(x, sizes, dim)


@builds("chunk")
def chunk(layer: Layer, ctx: BuildContext) -> Any:
    chunks, dim = layer.attrs.chunks, layer.attrs.dim
    return lambda x: torch.chunk(x, chunks, dim)


@builds("slice")
def slice_(layer: Layer, ctx: BuildContext) -> Any:
    a = layer.attrs
    dim = a.dim % len(layer.input_shapes[0])
    index = (slice(None),) * dim + (slice(a.start, a.end, a.step),)
    return lambda x: x[index]


@builds("select")
def select(layer: Layer, ctx: BuildContext) -> Any:
    dim, index = layer.attrs.dim, layer.attrs.index
    return lambda x: x.select(dim, index)


@builds("index_select")
def index_select(layer: Layer, ctx: BuildContext) -> Any:
    """The first ``size`` entries along ``dim``, cyclically (the spec keeps the count, not the index)."""
    dim, size = layer.attrs.dim, layer.attrs.size
    return lambda x: x.index_select(dim, torch.arange(size, device=x.device) % x.shape[dim])


@builds("reshape")
def reshape(layer: Layer, ctx: BuildContext) -> Any:
    # The per-sample shape as inferred (-1 resolved), the batch left free: a constant shape in traced exports.
    shape = layer.cost.outputs[0][1:]
    return lambda x: x.reshape(-1, *shape)


@builds("flatten")
def flatten(layer: Layer, ctx: BuildContext) -> Any:
    start, end = layer.attrs.start_dim, layer.attrs.end_dim
    return lambda x: torch.flatten(x, start, end)


@builds("unflatten")
def unflatten(layer: Layer, ctx: BuildContext) -> Any:
    dim, sizes = layer.attrs.dim, tuple(layer.attrs.sizes)
    return lambda x: x.unflatten(dim, sizes)


@builds("permute")
def permute(layer: Layer, ctx: BuildContext) -> Any:
    dims = tuple(layer.attrs.dims)
    return lambda x: x.permute(dims)


@builds("transpose")
def transpose(layer: Layer, ctx: BuildContext) -> Any:
    dim0, dim1 = layer.attrs.dim0, layer.attrs.dim1
    return lambda x: x.transpose(dim0, dim1)


@builds("concat")
def concat(layer: Layer, ctx: BuildContext) -> Any:
    dim = layer.attrs.dim
    return lambda *xs: torch.cat(xs, dim)


@builds("contiguous")
def contiguous(layer: Layer, ctx: BuildContext) -> Any:
    return lambda x: x.contiguous()


@builds("pad")
def pad(layer: Layer, ctx: BuildContext) -> Any:
    a = layer.attrs
    pads = tuple(a.pads)
    if a.mode == "constant":
        return lambda x: F.pad(x, pads, "constant", a.value)
    return lambda x: F.pad(x, pads, a.mode)


@builds("upsample")
def upsample(layer: Layer, ctx: BuildContext) -> nn.Module:
    a = layer.attrs
    size = a.size if a.size is None or isinstance(a.size, int) else tuple(a.size)
    factor = a.scale_factor if a.scale_factor is None or isinstance(a.scale_factor, float) else tuple(a.scale_factor)
    return nn.Upsample(size=size, scale_factor=factor, mode=a.mode, align_corners=a.align_corners)


@builds("channel_shuffle")
def channel_shuffle(layer: Layer, ctx: BuildContext) -> nn.Module:
    return nn.ChannelShuffle(layer.attrs.groups)


@builds("roll")
def roll(layer: Layer, ctx: BuildContext) -> Any:
    shifts, dims = layer.attrs.shifts, layer.attrs.dims
    shifts = shifts if isinstance(shifts, int) else tuple(shifts)
    dims = dims if isinstance(dims, int) else tuple(dims)
    return lambda x: torch.roll(x, shifts, dims)


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """[N, H, W, C] -> [N * nW, window * window, C], windows in row-major order (timm's window_partition)."""
    _, h, w, c = x.shape
    return _partition(x, window, h, w, c)


def _partition(x: torch.Tensor, window: int, height: int, width: int, channels: int) -> torch.Tensor:
    x = x.view(-1, height // window, window, width // window, window, channels)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, channels)


def window_reverse(windows: torch.Tensor, window: int, height: int, width: int) -> torch.Tensor:
    """[N * nW, window * window, C] -> [N, height, width, C] (timm's window_reverse)."""
    return _reverse(windows, window, height, width, windows.shape[-1])


def _reverse(windows: torch.Tensor, window: int, height: int, width: int, channels: int) -> torch.Tensor:
    x = windows.view(-1, height // window, width // window, window, window, channels)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, height, width, channels)


# The window ops take the map size and channels from the graph (constants in traced exports); the batch is free.


@builds("window_partition")
def window_partition_op(layer: Layer, ctx: BuildContext) -> Any:
    _, height, width, channels = layer.input_shapes[0]
    window = layer.attrs.window
    return lambda x: _partition(x, window, height, width, channels)


@builds("window_reverse")
def window_reverse_op(layer: Layer, ctx: BuildContext) -> Any:
    a, channels = layer.attrs, layer.input_shapes[0][-1]
    return lambda x: _reverse(x, a.window, a.height, a.width, channels)


def _window_args(a: Any) -> dict[str, Any]:
    return {"kernel_size": _pair(a.kernel), "dilation": _pair(a.dilation), "padding": _pair(a.padding),
            "stride": _pair(a.stride)}


def _pair(value: Any) -> Any:
    return value if isinstance(value, int) else tuple(value)


@builds("im2col")
def im2col(layer: Layer, ctx: BuildContext) -> nn.Module:
    return nn.Unfold(**_window_args(layer.attrs))


@builds("col2im")
def col2im(layer: Layer, ctx: BuildContext) -> nn.Module:
    return nn.Fold(_pair(layer.attrs.output_size), **_window_args(layer.attrs))  # type: ignore[attr-defined]


@builds("sliding_window")
def sliding_window(layer: Layer, ctx: BuildContext) -> Any:
    a = layer.attrs
    dim, size, step = a.dim, a.size, a.step  # type: ignore[attr-defined]
    return lambda x: x.unfold(dim, size, step)
