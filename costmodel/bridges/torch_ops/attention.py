"""Attention as timm runs it (non-fused, so every matmul is visible): multi-head self-attention (ViT's Attention,
Swin's WindowAttention with relative position bias and the shifted-window mask), SDPA, and Swin's pieces."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import BridgeError
from ...graph import Layer
from ...graph.windows import shift_geometry
from . import BuildContext, builds
from .shape import window_partition, window_reverse

MASKED = -100.0  # timm's value for scores across a shifted-window seam


def relative_position_index(window: int) -> torch.Tensor:
    """[L, L] indices into the (2w-1)^2 table for L = window^2 tokens (timm's get_relative_position_index)."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)  # [L, L, 2], each 0..2w-2
    return rel[:, :, 0] * (2 * window - 1) + rel[:, :, 1]


def shifted_window_mask(height: int, width: int, window: int, shift_h: int, shift_w: int) -> torch.Tensor:
    """[nW, L, L] additive mask, 0 within a region and -100 across the seams of the shifted map (timm)."""
    labels = torch.zeros(1, height, width, 1)
    regions_h = ((0, -window), (-window, -shift_h), (-shift_h, None))
    regions_w = ((0, -window), (-window, -shift_w), (-shift_w, None))
    for count, ((h0, h1), (w0, w1)) in enumerate((h, w) for h in regions_h for w in regions_w):
        labels[:, h0:h1, w0:w1, :] = count
    windows = window_partition(labels, window).squeeze(-1)  # [nW, L]
    diff = windows.unsqueeze(1) - windows.unsqueeze(2)
    return torch.zeros_like(diff).masked_fill(diff != 0, MASKED)


class RelativePositionBias(nn.Module):
    """A learned ((2w-1)^2, heads) table gathered into the [1, heads, L, L] score bias (Swin)."""

    relative_position_index: torch.Tensor  # a buffer

    def __init__(self, window: int, heads: int) -> None:
        super().__init__()
        self.relative_position_bias_table = nn.Parameter(torch.randn((2 * window - 1) ** 2, heads) * 0.02)
        self.register_buffer("relative_position_index", relative_position_index(window), persistent=False)

    def forward(self, q: torch.Tensor | None = None) -> torch.Tensor:
        length = self.relative_position_index.shape[0]
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(length, length, -1)
        return bias.permute(2, 0, 1).contiguous().unsqueeze(0)


class ShiftWindowMask(nn.Module):
    """Add the shifted-window mask to scores [N * nW, heads, L, L] (the mask is a constant buffer)."""

    mask: torch.Tensor  # a buffer

    def __init__(self, height: int, width: int, window: int, shift_h: int, shift_w: int) -> None:
        super().__init__()
        self.register_buffer("mask", shifted_window_mask(height, width, window, shift_h, shift_w), persistent=False)

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        windows, length = self.mask.shape[0], self.mask.shape[-1]
        heads = scores.shape[1]
        scores = scores.reshape(-1, windows, heads, length, length) + self.mask.unsqueeze(1).unsqueeze(0)
        return scores.reshape(-1, heads, length, length)


class MultiHeadAttention(nn.Module):
    """qkv -> q * scale, q @ k^T (+ relative position bias, + shift mask, causal) -> softmax -> @ v -> proj, as
    timm's Attention (on [N, L, D]) and WindowAttention (``window`` > 0: on [N, H, W, C], partitioned into windows,
    rolled by ``shift`` first and back after, as Swin's block does around its attention)."""

    def __init__(self, dim: int, heads: int, head_dim: int, out: int, qkv_bias: bool, proj_bias: bool,
                 causal: bool = False, window: int = 0, shift: int = 0, rel_pos_bias: bool = False,
                 grid: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.heads, self.head_dim, self.scale = heads, head_dim, head_dim**-0.5
        self.causal, self.window, self.shift = causal, window, shift
        self.qkv = nn.Linear(dim, 3 * heads * head_dim, bias=qkv_bias)
        self.proj = nn.Linear(heads * head_dim, out, bias=proj_bias)
        self.rel_pos = RelativePositionBias(window, heads) if rel_pos_bias else None
        self.mask: ShiftWindowMask | None = None
        if shift and grid is not None:
            self.mask = ShiftWindowMask(*grid, window, shift, shift)

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        """Attention over [B, L, D] sequences."""
        b, length, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, length, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        scores = (q * self.scale) @ k.transpose(-2, -1)
        if self.rel_pos is not None:
            scores = scores + self.rel_pos()
        if self.mask is not None:
            scores = self.mask(scores)
        if self.causal:
            future = torch.ones(length, length, dtype=torch.bool, device=x.device).triu(1)
            scores = scores.masked_fill(future, float("-inf"))
        y = scores.softmax(dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(b, length, self.heads * self.head_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.window:
            return self.attend(x)
        _, height, width, _ = x.shape
        if self.shift:
            if self.mask is None or self.mask.mask.shape[0] != (height // self.window) * (width // self.window):
                self.mask = ShiftWindowMask(height, width, self.window, self.shift, self.shift).to(x.device)
            x = torch.roll(x, (-self.shift, -self.shift), (1, 2))
        y = window_reverse(self.attend(window_partition(x, self.window)), self.window, height, width)
        return torch.roll(y, (self.shift, self.shift), (1, 2)) if self.shift else y


@builds("attention")
def attention(layer: Layer, ctx: BuildContext) -> nn.Module:
    a = layer.attrs
    x = layer.input_shapes[0]
    dim = x[-1]
    grid = (x[1], x[2]) if a.window else None
    return MultiHeadAttention(dim, a.heads, a.head_dim or dim // a.heads, a.out or dim, a.qkv_bias, a.proj_bias,
                              a.causal, a.window, a.shift, a.rel_pos_bias, grid)


@builds("scaled_dot_product_attention")
def sdpa(layer: Layer, ctx: BuildContext) -> Any:
    causal, scale = layer.attrs.causal, None if layer.attrs.scale else 1.0

    def run(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if k.shape[1] != q.shape[1]:  # grouped-query attention: each k, v head serves H / Hk q heads
            k, v = (t.repeat_interleave(q.shape[1] // k.shape[1], dim=1) for t in (k, v))
        if causal and mask is not None:  # torch takes one or the other: fold the causal part into the mask
            future = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).triu(1)
            mask = mask + torch.zeros(future.shape, dtype=q.dtype, device=q.device).masked_fill(future, float("-inf"))
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, scale=scale)

    return run


@builds("relative_position_bias")
def relative_position_bias(layer: Layer, ctx: BuildContext) -> nn.Module:
    return RelativePositionBias(layer.attrs.window, layer.input_shapes[0][1])


@builds("shift_window_mask")
def shift_window_mask(layer: Layer, ctx: BuildContext) -> nn.Module:
    """The mask depends on the feature map and the shift, which the op does not carry: take them from the nearest
    window_partition upstream (its input is [N, H, W, C]) and the roll that feeds it (graph/windows.py)."""
    geometry = shift_geometry(layer, ctx.by_path)
    if isinstance(geometry, str):
        raise BridgeError(geometry, path=layer.path)
    return ShiftWindowMask(geometry.height, geometry.width, layer.attrs.window, geometry.shift_h, geometry.shift_w)


@builds("matmul")
def matmul(layer: Layer, ctx: BuildContext) -> Any:
    return torch.matmul
