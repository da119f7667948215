"""Shape-aware efficiency of tensor-core GEMMs on a GPU: tile and wave quantization (docs/latency-model.md).

A GPU runs a GEMM (or an implicit-GEMM convolution) C[M, N] = A[M, K] B[K, N] by splitting C into tiles of
``tm x tn`` outputs, one thread block (CTA) per tile, stepping through K ``tk`` at a time; the CTAs run in waves
of one per SM. Three effects make a GEMM of an awkward shape slower than its FLOPs say (NVIDIA, "Matrix
Multiplication Background User's Guide", DU-09799-001, 2023: section 2.3 "Typical tile dimensions in cuBLAS and
performance", 3.1 "Tile quantization", 3.2 "Wave quantization"):

- tile quantization: a partial tile at the edge of M or N costs a whole tile (ceil(M / tm) x tm rows are
  computed), and K is padded to a multiple of ``tk``;
- wave quantization: ``tiles`` CTAs take ceil(tiles / SMs) waves, the last one partly idle;
- when the tiles cannot fill one wave, K is split among several CTAs per tile (split-K, by powers of two;
  the partial sums' reduction is not charged);
- smaller tiles quantize less but reuse each operand they load fewer times; the guide: "larger tiles have more
  data reuse, allowing them to use less bandwidth and be more efficient than smaller tiles". A tile's reuse is
  tm x tn / (tm + tn) multiply-adds per element loaded; a tile reusing less than a 128 x 128 tile (64) is
  taken to run at reuse / 64 of the tensor rate (128 x 128 x 32 is CUTLASS's default tensor-core threadblock
  tile for fp16 on Ampere and Ada: the smallest tile it ships as saturating the tensor cores).

The library is taken to pick, per GEMM, the tile of :data:`TILES` (the guide's list) that finishes first. The
result is the fraction of the tensor rate the GEMM's useful work attains, relative to a large well-shaped GEMM;
it multiplies the profile's compute efficiency (which stays what it was: the fraction a large GEMM reaches).
Only for ops on a GPU's matrix unit, and only where the profile lists its SM count (``gpu.sms``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..graph import Layer
from ..hardware import HardwareProfile
from ..ops.base import Attrs, numel

TILES: tuple[tuple[int, int], ...] = ((256, 128), (128, 256), (128, 128), (256, 64), (64, 256), (128, 64),
                                      (64, 128), (64, 64))  # (tm, tn): the guide's section 2.3 list
TILE_K = 32  # K step of a tensor-core mainloop for 16-bit operands (CUTLASS's 128x128x32 threadblock tile)
FULL_REUSE = 128 * 128 / (128 + 128)  # multiply-adds per loaded element of a 128 x 128 tile: full tensor rate


@dataclass(frozen=True)
class GemmShape:
    """``groups`` independent GEMMs of M x N outputs with reduction length K (a batched or grouped GEMM)."""

    groups: int
    m: int
    n: int
    k: int


def gemm_shape(layer: Layer[Attrs]) -> GemmShape | None:
    """The GEMM an op runs as, from its output shape and MACs: a convolution (attrs with ``groups``) as an
    implicit GEMM over NC... outputs (M = batch x spatial, N = out channels per group, K = MACs per output);
    an op with weights (linear, patch embedding) as one GEMM over its flattened leading dims; one without
    (matmul) as a batch of [M, N] products. None where there is nothing to shape (no MACs, no output)."""
    cost = layer.cost
    if not cost.outputs or cost.macs <= 0:
        return None
    out = cost.outputs[0]
    elements = numel(out)
    if elements <= 0 or len(out) < 2:
        return None
    k = max(1, round(cost.macs / elements))
    groups = getattr(layer.attrs, "groups", None)
    if isinstance(groups, int) and len(out) >= 3:
        channels = out[1]
        return GemmShape(groups, elements // channels, max(1, channels // groups), k)
    n = out[-1]
    if cost.params > 0:
        return GemmShape(1, elements // n, n, k)
    m = out[-2]
    return GemmShape(max(1, elements // (m * n)), m, n, k)


def tile_efficiency(shape: GemmShape, sms: int) -> float:
    """Useful work over the work of the best tile choice (see the module doc): in (0, 1]."""
    k_steps = math.ceil(shape.k / TILE_K)
    best = math.inf
    for tm, tn in TILES:
        tiles = shape.groups * math.ceil(shape.m / tm) * math.ceil(shape.n / tn)
        slowdown = FULL_REUSE / min(FULL_REUSE, tm * tn / (tm + tn))
        splits = 1
        while True:  # split-K by powers of two while the tiles leave SMs idle (CUTLASS/cuBLAS split-K)
            waves = math.ceil(tiles * splits / sms)
            cost = waves * sms * tm * tn * math.ceil(k_steps / splits) * TILE_K * slowdown  # MAC slots
            best = min(best, cost)
            if tiles * splits * 2 > sms or splits * 2 > k_steps:
                break
            splits *= 2
    return min(1.0, shape.groups * shape.m * shape.n * shape.k / best)


def shape_efficiency(layer: Layer[Attrs], profile: HardwareProfile, unit: str) -> float:
    """The factor an op's tensor-core compute time is divided by (1: not a GPU matrix-unit GEMM, or no SM count)."""
    sms = profile.gpu.sms if profile.gpu is not None else None
    if unit != "matrix" or sms is None:
        return 1.0
    shape = gemm_shape(layer)
    return tile_efficiency(shape, sms) if shape is not None else 1.0
