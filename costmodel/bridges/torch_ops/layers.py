"""Layers with torch.nn counterparts: conv, linear, norms, activations, pooling; plus timm's small parametric
modules (LayerScale, LayerNorm2d, patch embedding, class token, position embedding) and elementwise arithmetic."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import reduce
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import BridgeError
from ...graph import Layer
from ...ops import get_op
from . import BuildContext, builds


def _tuple(value: int | Sequence[int]) -> Any:  # torch's signatures name tuple lengths per module
    return value if isinstance(value, int) else tuple(value)


def _channels(layer: Layer, channels_first: bool = True) -> int:
    shape = layer.input_shapes[0]
    return shape[1] if channels_first else shape[-1]


# ---- convolutions and linear layers ------------------------------------------------------------------


class _SamePadding:
    """TensorFlow 'same' padding (timm's Conv2dSame): pad so that out = ceil(in / stride), extra on the right."""

    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads: list[int] = []
        for axis in reversed(range(len(self.kernel_size))):  # F.pad lists the last dim first
            size, k, s, d = x.shape[2 + axis], self.kernel_size[axis], self.stride[axis], self.dilation[axis]
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))  # type: ignore[misc]


class Conv1dSame(_SamePadding, nn.Conv1d):
    """nn.Conv1d with TensorFlow 'same' padding."""


class Conv2dSame(_SamePadding, nn.Conv2d):
    """nn.Conv2d with TensorFlow 'same' padding (timm's Conv2dSame)."""


class Conv3dSame(_SamePadding, nn.Conv3d):
    """nn.Conv3d with TensorFlow 'same' padding."""


_CONV = {1: (nn.Conv1d, Conv1dSame), 2: (nn.Conv2d, Conv2dSame), 3: (nn.Conv3d, Conv3dSame)}


def _unshared(module: nn.Module, shared: bool) -> nn.Module:
    """``module`` as is, or, for an op with ``shared: true`` (another layer's weights), with its parameters turned
    into buffers: it computes the same and holds no parameters of its own."""
    if shared:
        for name, param in list(module.named_parameters(recurse=False)):
            delattr(module, name)
            module.register_buffer(name, param.detach())
    return module


@builds("conv1d", "conv2d", "conv3d")
def conv(layer: Layer, ctx: BuildContext) -> nn.Module:
    a = layer.attrs
    plain, same = _CONV[get_op(layer.op).conv_rank or 0]
    cls, padding = (same, 0) if a.padding == "same" else (plain, 0 if a.padding == "valid" else _tuple(a.padding))
    return _unshared(cls(_channels(layer), a.out, _tuple(a.kernel), stride=_tuple(a.stride), padding=padding,
                         dilation=_tuple(a.dilation), groups=a.groups, bias=a.bias), a.shared)


@builds("conv_transpose2d")
def conv_transpose2d(layer: Layer, ctx: BuildContext) -> nn.Module:
    a = layer.attrs
    return _unshared(nn.ConvTranspose2d(_channels(layer), a.out, _tuple(a.kernel), stride=_tuple(a.stride),
                                        padding=_tuple(a.padding), output_padding=_tuple(a.output_padding),
                                        groups=a.groups, bias=a.bias, dilation=_tuple(a.dilation)), a.shared)


@builds("linear")
def linear(layer: Layer, ctx: BuildContext) -> nn.Module:
    return _unshared(nn.Linear(_channels(layer, False), layer.attrs.out, bias=layer.attrs.bias), layer.attrs.shared)


# ---- normalization ------------------------------------------------------------------------------------


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over channel axis 1 of [N, C, ...] (timm's LayerNorm2d): move C last, normalize, move back."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)


class RMSNorm2d(nn.RMSNorm):
    """RMSNorm over channel axis 1 of [N, C, ...]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)


class GlobalResponseNorm(nn.Module):
    """ConvNeXt V2's GRN (as timm's GlobalResponseNorm): x + bias + weight * x * n(x), n = ||x|| over the spatial
    axes divided by its mean over channels; channels at axis 1 or last."""

    def __init__(self, channels: int, channels_first: bool, rank: int) -> None:
        super().__init__()
        self.channel_dim = 1 if channels_first else rank - 1
        self.spatial_dims = tuple(d for d in range(1, rank) if d != self.channel_dim)
        self.shape = [channels if d == self.channel_dim else 1 for d in range(rank)]
        self.weight = nn.Parameter(torch.zeros(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_g = x.norm(p=2, dim=self.spatial_dims, keepdim=True)
        x_n = x_g / (x_g.mean(dim=self.channel_dim, keepdim=True) + 1e-6)
        return x + torch.addcmul(self.bias.view(self.shape), self.weight.view(self.shape), x * x_n)


_BATCH_NORM = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}


@builds("batch_norm")
def batch_norm(layer: Layer, ctx: BuildContext) -> nn.Module:
    rank = len(layer.input_shapes[0])
    if rank not in _BATCH_NORM:
        raise BridgeError(f"batch_norm of a rank-{rank} input has no PyTorch module (ranks 2 to 5)", path=layer.path)
    return _BATCH_NORM[rank](_channels(layer), affine=layer.attrs.affine)


@builds("layer_norm")
def layer_norm(layer: Layer, ctx: BuildContext) -> nn.Module:
    a = layer.attrs
    cls = LayerNorm2d if a.channels_first else nn.LayerNorm
    return cls(_channels(layer, a.channels_first), elementwise_affine=a.affine, bias=a.bias)


@builds("group_norm")
def group_norm(layer: Layer, ctx: BuildContext) -> nn.Module:
    return nn.GroupNorm(layer.attrs.groups, _channels(layer), affine=layer.attrs.affine)


@builds("rms_norm")
def rms_norm(layer: Layer, ctx: BuildContext) -> nn.Module:
    a = layer.attrs
    cls = RMSNorm2d if a.channels_first else nn.RMSNorm
    return cls(_channels(layer, a.channels_first), elementwise_affine=a.weight)


@builds("grn")
def grn(layer: Layer, ctx: BuildContext) -> nn.Module:
    a = layer.attrs
    return GlobalResponseNorm(_channels(layer, a.channels_first), a.channels_first, len(layer.input_shapes[0]))


# ---- activations ----------------------------------------------------------------------------------------

_ACTIVATIONS: dict[str, Any] = {
    "relu": lambda a: nn.ReLU(),
    "relu6": lambda a: nn.ReLU6(),
    "leaky_relu": lambda a: nn.LeakyReLU(a.negative_slope),
    "elu": lambda a: nn.ELU(a.alpha),
    "gelu": lambda a: nn.GELU(approximate=a.approximate),
    "silu": lambda a: nn.SiLU(),
    "hardswish": lambda a: nn.Hardswish(),
    "hardsigmoid": lambda a: nn.Hardsigmoid(),
    "sigmoid": lambda a: nn.Sigmoid(),
    "tanh": lambda a: nn.Tanh(),
    "softmax": lambda a: nn.Softmax(dim=a.dim),
}


@builds(*_ACTIVATIONS)
def activation(layer: Layer, ctx: BuildContext) -> nn.Module:
    return _ACTIVATIONS[layer.op](layer.attrs)


# ---- pooling -----------------------------------------------------------------------------------------------


@builds("max_pool1d", "max_pool2d")
def max_pool(layer: Layer, ctx: BuildContext) -> nn.Module:
    a = layer.attrs
    cls = nn.MaxPool1d if layer.op == "max_pool1d" else nn.MaxPool2d
    stride = None if a.stride is None else _tuple(a.stride)
    return cls(_tuple(a.kernel), stride=stride, padding=_tuple(a.padding), dilation=_tuple(a.dilation),
               ceil_mode=a.ceil_mode)


@builds("avg_pool1d")
def avg_pool1d(layer: Layer, ctx: BuildContext) -> nn.Module:
    a = layer.attrs
    return nn.AvgPool1d(_tuple(a.kernel), stride=_tuple(a.stride if a.stride is not None else a.kernel),
                        padding=_tuple(a.padding), ceil_mode=a.ceil_mode, count_include_pad=a.count_include_pad)


@builds("avg_pool2d")
def avg_pool2d(layer: Layer, ctx: BuildContext) -> nn.Module:
    a = layer.attrs
    stride = None if a.stride is None else _tuple(a.stride)
    return nn.AvgPool2d(_tuple(a.kernel), stride=stride, padding=_tuple(a.padding), ceil_mode=a.ceil_mode,
                        count_include_pad=a.count_include_pad)


@builds("adaptive_avg_pool2d", "adaptive_max_pool2d")
def adaptive_pool(layer: Layer, ctx: BuildContext) -> nn.Module:
    cls = nn.AdaptiveAvgPool2d if layer.op == "adaptive_avg_pool2d" else nn.AdaptiveMaxPool2d
    return cls(_tuple(layer.attrs.output_size))


class GlobalPool(nn.Module):
    """Mean (or max) over every spatial axis of [N, C, *], kept as size-1 axes unless ``flatten`` (timm's
    SelectAdaptivePool2d: adaptive pool to 1, then flatten)."""

    def __init__(self, mode: str, flatten: bool) -> None:
        super().__init__()
        self.mode, self.flatten = mode, flatten

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:  # as timm: exports as ONNX GlobalAveragePool / GlobalMaxPool, which import back as ours
            pool = F.adaptive_avg_pool2d if self.mode == "avg" else F.adaptive_max_pool2d
            y = pool(x, 1)
        else:
            dims = tuple(range(2, x.dim()))
            y = x.mean(dims, keepdim=True) if self.mode == "avg" else x.amax(dims, keepdim=True)
        return y.flatten(1) if self.flatten else y

    def extra_repr(self) -> str:
        return f"mode={self.mode}, flatten={self.flatten}"


@builds("global_avg_pool", "global_max_pool")
def global_pool(layer: Layer, ctx: BuildContext) -> nn.Module:
    return GlobalPool("avg" if layer.op == "global_avg_pool" else "max", layer.attrs.flatten)


@builds("reduce_mean")
def reduce_mean(layer: Layer, ctx: BuildContext) -> Any:
    dims, keepdim = tuple(layer.attrs.dims), layer.attrs.keepdim
    return lambda x: x.mean(dims, keepdim=keepdim)


# ---- elementwise arithmetic -----------------------------------------------------------------------------


@builds("add")
def add(layer: Layer, ctx: BuildContext) -> Any:
    return lambda *xs: reduce(torch.add, xs)


@builds("mul")
def mul(layer: Layer, ctx: BuildContext) -> Any:
    return lambda *xs: reduce(torch.mul, xs)


@builds("sub")
def sub(layer: Layer, ctx: BuildContext) -> Any:
    return torch.sub


@builds("div")
def div(layer: Layer, ctx: BuildContext) -> Any:
    return torch.div


@builds("scale")
def scale(layer: Layer, ctx: BuildContext) -> Any:
    value = layer.attrs.value
    return lambda x: x * value


class LayerScale(nn.Module):
    """x * gamma with a learnable per-channel ``gamma`` (timm's LayerScale; LayerScale2d when channels_first)."""

    def __init__(self, channels: int, channels_first: bool, init_value: float = 1e-5) -> None:
        super().__init__()
        self.channels_first = channels_first
        self.gamma = nn.Parameter(torch.full((channels,), init_value))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_first:
            return x * self.gamma.view(-1, *(1,) * (x.dim() - 2))
        return x * self.gamma


@builds("layer_scale")
def layer_scale(layer: Layer, ctx: BuildContext) -> nn.Module:
    first = layer.attrs.channels_first
    return LayerScale(_channels(layer, first), first)


# ---- embeddings ------------------------------------------------------------------------------------------


class PatchEmbed(nn.Conv2d):
    """A conv with kernel = stride = patch, its output as tokens [N, L, D], NHWC or NCHW (timm's PatchEmbed.proj
    plus its flatten/transpose, or output_fmt='NHWC' as Swin uses it)."""

    def __init__(self, channels: int, out: int, patch: Any, bias: bool, layout: str) -> None:
        super().__init__(channels, out, patch, stride=patch, bias=bias)
        self.layout = layout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        if self.layout == "tokens":
            return y.flatten(2).transpose(1, 2)
        return y.permute(0, 2, 3, 1) if self.layout == "nhwc" else y


@builds("patch_embed")
def patch_embed(layer: Layer, ctx: BuildContext) -> nn.Module:
    a = layer.attrs
    return PatchEmbed(_channels(layer), a.out, _tuple(a.patch), a.bias, a.layout)


class ClassToken(nn.Module):
    """Prepend ``tokens`` learned tokens to [N, L, D] (timm's cls_token)."""

    def __init__(self, tokens: int, dim: int) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.randn(1, tokens, dim) * 1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)


@builds("class_token")
def class_token(layer: Layer, ctx: BuildContext) -> nn.Module:
    return ClassToken(layer.attrs.tokens, _channels(layer, False))


class LearnedBias(nn.Module):
    """x + a learned tensor of per-sample ``shape``, broadcast against x without its batch dim (pos_embed is
    the [L, D] case)."""

    def __init__(self, shape: Sequence[int], std: float = 0.02) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(*shape) * std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        extra = self.weight.dim() - (x.dim() - 1)
        if extra > 0:  # the bias has more axes than a sample: add size-1 axes after the batch
            x = x.reshape(x.shape[0], *(1,) * extra, *x.shape[1:])
        return x + self.weight


@builds("pos_embed")
def pos_embed(layer: Layer, ctx: BuildContext) -> nn.Module:
    return LearnedBias(layer.input_shapes[0][1:])


@builds("learned_bias")
def learned_bias(layer: Layer, ctx: BuildContext) -> nn.Module:
    return LearnedBias(layer.attrs.shape)
