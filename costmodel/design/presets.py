"""DeepMAD's seven published searches: space, resolution, budgets, ρ0, α, β and the published network.

Facts from TinyNAS (alibaba/lightweight-neural-architecture-search at 8ccaf88):
``configs/classification/deepmad_*.py`` (budgets, image size, score settings, the initial structure whose
strides and head conv the search keeps) and ``configs/classification/models/deepmad-*.txt`` (the published
best structures). Budgets are the official counts (``flops``, ``model_size``: no classifier).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import DesignError
from .superblock import Network, SuperBlock


@dataclass(frozen=True)
class Limits:
    """A super-block space's bounds (the official mutators' limits by default, docs/designer.md)."""

    kernels: tuple[int, ...]
    ratio: tuple[float, float]  # btn / out
    first_depth: int = 3  # blocks in the first super-block (mutators: ``min(3, L)`` for block 1)
    max_depth: int = 30
    max_channels: int = 2048  # super-block outputs (``the_maximum_channel``)
    stem: tuple[int, int] = (16, 64)
    non_decreasing: bool = False  # outputs may shrink (the published R18/R34 do)


# space_k1kxk1.py: kernels [3, 5], btn >= out / 10 (btn_minimum_ratio), btn <= out, maximum_channel 2048
RESNET_LIMITS = Limits(kernels=(3, 5), ratio=(0.1, 1.0), max_channels=2048)
# space_k1dwsek1.py: kernels [3, 5, 7], btn ratio 1.5 .. 6.0, maximum_channel 1280
MBCONV_OFFICIAL_LIMITS = Limits(kernels=(3, 5, 7), ratio=(1.5, 6.0), max_channels=1280, non_decreasing=True)
# costmodel's default MBConv ratio: 4 .. 6 (docs/designer.md "Why MBConv collapses to ratio 1")
MBCONV_LIMITS = Limits(kernels=(3, 5, 7), ratio=(4.0, 6.0), max_channels=1280, non_decreasing=True)


@dataclass(frozen=True)
class Preset:
    """One published DeepMAD search and its result."""

    name: str
    flops: float  # official `flops` budget
    model_size: float  # official `model_size` budget
    rho: float
    published: Network
    alphas: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 8.0)
    beta: float = 10.0

    @property
    def kind(self) -> str:
        """The super-block kind."""
        return self.published.kind


def _net(name: str, kind: str, resolution: int, stem: int, rows: list[tuple[int, int, int, int, int]],
         head: int | None = None) -> Network:
    """rows: (out, kernel, stride, L, btn) per super-block, as in deepmad-published-structures.md."""
    return Network(kind, resolution, stem, tuple(SuperBlock(s, out, btn, k, depth) for out, k, s, depth, btn in rows),
                   head, name=name)


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("deepmad-r18", 1.82e9, 11.69e6, 0.3, _net("deepmad_r18", "k1kxk1", 224, 32, [
        (96, 5, 2, 1, 40), (384, 5, 2, 6, 40), (384, 5, 2, 9, 64), (1024, 3, 1, 10, 104), (672, 5, 2, 12, 104)])),
    Preset("deepmad-r34", 3.68e9, 21.80e6, 0.3, _net("deepmad_r34", "k1kxk1", 224, 24, [
        (128, 5, 2, 1, 24), (512, 5, 2, 10, 48), (896, 5, 2, 13, 88), (1024, 5, 1, 11, 104),
        (616, 5, 2, 14, 128)])),
    Preset("deepmad-r50", 4.13e9, 25.55e6, 0.3, _net("deepmad_r50", "k1kxk1", 224, 32, [
        (128, 5, 2, 1, 40), (512, 5, 2, 11, 48), (872, 5, 2, 12, 88), (1024, 5, 1, 13, 104),
        (1232, 5, 2, 15, 120)])),
    Preset("deepmad-29m-224", 4.5e9, 29e6, 0.5, _net("deepmad_29m_224", "k1dwsek1", 224, 40, [
        (40, 5, 1, 2, 240), (85, 5, 2, 4, 512), (134, 5, 2, 6, 800), (201, 5, 2, 6, 1208), (312, 5, 2, 5, 1872)],
        head=1792)),
    Preset("deepmad-29m-288", 4.5e9, 29e6, 0.5, _net("deepmad_29m_288", "k1dwsek1", 288, 40, [
        (61, 5, 2, 4, 368), (96, 5, 2, 4, 576), (145, 5, 2, 5, 872), (217, 5, 1, 6, 1304), (328, 5, 2, 4, 1968)],
        head=1792)),
    Preset("deepmad-50m", 8.7e9, 50e6, 0.5, _net("deepmad_50m", "k1dwsek1", 224, 48, [
        (112, 5, 2, 7, 672), (168, 5, 2, 9, 1008), (252, 5, 2, 7, 1512), (378, 5, 2, 3, 2272), (576, 3, 1, 1, 3456)],
        head=2048)),
    Preset("deepmad-89m", 15.4e9, 89e6, 0.5, _net("deepmad_89m", "k1dwsek1", 224, 56, [
        (136, 5, 2, 10, 816), (204, 5, 2, 9, 1224), (326, 5, 2, 7, 1952), (490, 5, 2, 4, 2944),
        (744, 3, 1, 1, 4464)], head=2560)),
)}


def preset(name: str) -> Preset:
    """The preset called ``name``; DesignError listing the known ones otherwise."""
    try:
        return PRESETS[name.lower()]
    except KeyError:
        raise DesignError(f"unknown --preset {name!r}; choose one of {', '.join(PRESETS)}") from None
