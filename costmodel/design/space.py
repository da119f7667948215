"""The design spaces: three block families, their closed-form costs and entropy terms, and the YAML they emit.

A design is a stem followed by ``S`` block stages; every block stage halves the resolution in its first
block (ConvNeXt: a 2×2 stride-2 downsampling conv before every stage but the first, after a stride-4 stem).

- ``resnet``: ResNet bottleneck 1×1 → k×k (stride) → 1×1, BN after each conv, ReLU, projection shortcut
  (1×1 stride-2 conv + BN) in each stage's first block; 3×3 stride-2 stem. ``mids`` are the k×k channels.
- ``mbconv``: MobileNetV2 inverted bottleneck 1×1 expand → depthwise k×k (stride) → [squeeze-excite,
  ``mids // 4`` channels] → 1×1 project, BN, SiLU, residual when shapes agree; 3×3 stride-2 stem.
  ``mids`` are the expanded channels.
- ``convnext``: ConvNeXt block, depthwise k×k → LayerNorm → 1×1 (``mids``) → GELU → 1×1 → layer scale →
  residual; 4×4 stride-4 patchify stem + LayerNorm. The stem shares stage 1's resolution, so it is part of
  entropy stage 0 and there is no separate stem width.

:func:`design_terms` gives MACs and params **exactly as the analyzer counts them** (docs/conventions.md) for
integer designs, and the same formulas are smooth in the channels and depths for the relaxation. Every
argument may be a float or a numpy array (one candidate per element): the solver scores thousands of
integer neighbours at once. Exactness rests on float64 holding integers exactly up to 2**53.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from . import costs
from .entropy import DesignError

FAMILIES = ("resnet", "mbconv", "convnext")
KERNELS = (3, 5, 7)
CLASSES = 1000
CHANNEL_STEP = 8  # hardware-friendly channel multiple

# mids / widths, per family: bottleneck ratio (ResNet: 1/4), expansion (MobileNetV2: 6), MLP ratio (ConvNeXt: 4)
# MBConv: 4 .. 6 by default, not 1 .. 6: the entropy drives an unbounded ratio to its floor (docs/designer.md,
# "Why MBConv collapses to ratio 1"); --mid-ratio overrides.
MID_RATIO: dict[str, tuple[float, float]] = {"resnet": (0.125, 1.0), "mbconv": (4.0, 6.0), "convnext": (1.0, 6.0)}


@dataclass(frozen=True)
class Design:
    """An integer network of one family. Channels are counts, kernels odd sizes, depths blocks per stage."""

    family: str
    resolution: int  # input image side (pixels)
    stem: int  # stem output channels (ConvNeXt: equals widths[0])
    widths: tuple[int, ...]  # output channels of each block stage
    mids: tuple[int, ...]  # bottleneck / expanded / MLP hidden channels of each stage
    kernels: tuple[int, ...]  # k of each stage's k×k conv
    depths: tuple[int, ...]  # blocks per stage
    se: bool = False  # mbconv only: squeeze-excite in every block
    classes: int = CLASSES
    name: str = field(default="", compare=False)

    @property
    def stages(self) -> int:
        """Number of block stages."""
        return len(self.widths)


@dataclass
class DesignTerms:
    """Closed-form figures of one or many designs (arrays broadcast over candidates).

    ``areas`` and per-stage lists follow the *entropy* stages (ConvNeXt's stem merges into stage 0).
    """

    macs: np.ndarray  # multiply-accumulates per image, as costmodel's `macs`
    params: np.ndarray  # learnable parameters
    areas: list[int]  # output area H·W of each entropy stage (pixels)
    channels: list[np.ndarray]  # output channels of each entropy stage
    layers: list[np.ndarray]  # main-path conv layers in each entropy stage
    log_widths: list[np.ndarray]  # Σ log w over each entropy stage's main-path convs (nats)


def conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output side of a conv (pixels), as costmodel's conv ops compute it."""
    return (size + 2 * padding - kernel) // stride + 1


def stage_sides(family: str, resolution: int, stages: int) -> list[int]:
    """Output side (pixels) of the stem and of each block stage. Raises DesignError when a stage would not
    shrink the map (every stage must halve it, or stages would merge)."""
    if stages < 1:
        raise DesignError(f"--stages {stages}: a design needs at least one block stage")
    if family not in FAMILIES:
        raise DesignError(f"unknown design space {family!r}; choose one of {', '.join(FAMILIES)}")
    if family == "convnext":
        if resolution < 4:
            raise DesignError(f"--resolution {resolution}: the ConvNeXt stem needs at least 4 px")
        sides = [conv_out(resolution, 4, 4, 0)]
        sides.append(sides[0])  # stage 1 keeps the stem's resolution
    else:
        sides = [conv_out(resolution, 3, 2, 1)]
    while len(sides) < stages + 1:
        if sides[-1] < 2:
            halvings = len(sides) - (2 if family == "convnext" else 1)
            raise DesignError(
                f"--stages {stages}: each stage halves the feature map, but a {resolution} px input reaches 1 px "
                f"after the stem and {halvings} stage(s); use at most {halvings} stages or a larger --resolution")
        sides.append(conv_out(sides[-1], 2, 2, 0) if family == "convnext" else conv_out(sides[-1], 3, 2, 1))
    return sides


def _log(x: np.ndarray | float) -> np.ndarray:
    return np.log(x)


def design_terms(
    family: str, resolution: int, stem: np.ndarray | float, widths: Sequence[np.ndarray | float],
    mids: Sequence[np.ndarray | float], kernels: Sequence[np.ndarray | float], depths: Sequence[np.ndarray | float],
    se: bool = False, classes: int = CLASSES,
) -> DesignTerms:
    """MACs, params and entropy terms of designs given channels, kernels and depths (floats or arrays)."""
    stages = len(widths)
    sides = stage_sides(family, resolution, stages)
    areas = [s * s for s in sides]
    if family == "convnext":
        return _convnext(areas, widths, mids, kernels, depths, classes)
    macs, params = costs.conv_bn(areas[0], 3, stem, 9)  # 3x3 stem conv (no bias) + BN
    shape = np.asarray(stem, float)
    channels, layers, logs = [stem], [np.ones_like(shape)], [np.full_like(shape, np.log(27.0))]
    c_in = stem
    for i in range(stages):
        a0, a1 = areas[i], areas[i + 1]
        c, m, k2, d = widths[i], mids[i], np.asarray(kernels[i], float) ** 2, depths[i]
        if family == "resnet":
            body = costs.add(costs.conv_bn(a1, m, m, k2), costs.conv_bn(a1, m, c, 1))
            first = costs.add(costs.conv_bn(a0, c_in, m, 1), body, costs.conv_bn(a1, c_in, c, 1))  # + projection
            rest = costs.add(costs.conv_bn(a1, c, m, 1), body)
            first_log = _log(c_in) + _log(m * k2) + _log(m)
            rest_log = _log(c) + _log(m * k2) + _log(m)
        else:  # mbconv
            s = m / 4
            se_cost = (costs.add(costs.conv2d(1, m, s, 1, bias=True), costs.conv2d(1, s, m, 1, bias=True))
                       if se else (0.0, 0.0))  # squeeze-excite on the pooled 1x1 map
            body = costs.add(costs.conv_bn(a1, m, m, k2, depthwise=True), se_cost, costs.conv_bn(a1, m, c, 1))
            first = costs.add(costs.conv_bn(a0, c_in, m, 1), body)
            rest = costs.add(costs.conv_bn(a1, c, m, 1), body)
            first_log = _log(c_in) + _log(k2) + _log(m)
            rest_log = _log(c) + _log(k2) + _log(m)
        macs, params = costs.add((macs, params), first, costs.scaled(rest, d - 1))
        channels.append(c)
        layers.append(np.asarray(3 * d))
        logs.append(first_log + (d - 1) * rest_log)
        c_in = c
    macs, params = costs.add((macs, params), costs.classifier(areas[-1], c_in, classes))
    return DesignTerms(np.asarray(macs, float), np.asarray(params, float), areas,
                 [np.asarray(x, float) for x in channels], [np.asarray(x, float) for x in layers],
                 [np.asarray(x, float) for x in logs])


def _convnext(
    areas: list[int], widths: Sequence, mids: Sequence, kernels: Sequence, depths: Sequence, classes: int
) -> DesignTerms:
    """ConvNeXt: stem (4x4/4 conv + LN) at areas[0] == areas[1]; stages 2.. start with LN + 2x2/2 conv."""
    c0 = widths[0]
    macs, params = costs.add(costs.conv2d(areas[0], 3, c0, 16, bias=True), costs.layer_norm(areas[0], c0))
    channels, layers, logs = [], [], []
    stage_layers, stage_log = 1.0, np.log(48.0)
    c_in = c0
    for i in range(len(widths)):
        a1 = areas[i + 1]
        c, m, k2, d = widths[i], mids[i], np.asarray(kernels[i], float) ** 2, depths[i]
        if i > 0:  # downsample: LN + 2x2 stride-2 conv
            down = costs.add(costs.layer_norm(areas[i], c_in), costs.conv2d(a1, c_in, c, 4, bias=True))
            macs, params = costs.add((macs, params), down)
            stage_layers, stage_log = 1.0, _log(4 * c_in)
        block = costs.add(costs.conv2d(a1, c, c, k2, depthwise=True, bias=True), costs.layer_norm(a1, c),
                          costs.conv2d(a1, c, m, 1, bias=True), costs.conv2d(a1, m, c, 1, bias=True),
                          costs.layer_scale(c))
        macs, params = costs.add((macs, params), costs.scaled(block, d))
        channels.append(c)
        layers.append(stage_layers + 3 * d)
        logs.append(stage_log + d * (_log(k2) + _log(c) + _log(m)))
        c_in = c
    # global pool, LN on the pooled vector, linear head
    macs, params = costs.add((macs, params), costs.mean_pool(areas[-1], c_in), costs.layer_norm(1, c_in),
                             costs.fc(c_in, classes))
    return DesignTerms(np.asarray(macs, float), np.asarray(params, float), areas[1:],
                 [np.asarray(x, float) for x in channels], [np.asarray(x, float) for x in layers],
                 [np.asarray(x, float) for x in logs])


def evaluate_design(design: Design) -> DesignTerms:
    """:func:`design_terms` for one integer design."""
    return design_terms(design.family, design.resolution, design.stem, design.widths, design.mids, design.kernels,
                    design.depths, design.se, design.classes)


# -- specs ----------------------------------------------------------------------------------------------------

def _list(values: Sequence[int]) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


_RESNET_BLOCKS = """\
blocks:
  downsample:                 # projection shortcut: 1x1 conv (stride) + BN
    params: {out: null, stride: 1}
    nodes:
      - {name: conv, op: conv2d, out: out, kernel: 1, stride: stride}
      - {name: bn, op: batch_norm}
  bottleneck:                 # 1x1 -> kxk (stride) -> 1x1, BN after each, ReLU, + shortcut
    params: {out: null, mid: null, kernel: 3, stride: 1, project: false}
    nodes:
      - {name: conv1, op: conv2d, out: mid, kernel: 1}
      - {name: bn1, op: batch_norm}
      - {name: act1, op: relu}
      - {name: conv2, op: conv2d, out: mid, kernel: kernel, stride: stride, padding: kernel // 2}
      - {name: bn2, op: batch_norm}
      - {name: act2, op: relu}
      - {name: conv3, op: conv2d, out: out, kernel: 1}
      - {name: bn3, op: batch_norm}
      - {name: downsample, block: downsample, inputs: x, out: out, stride: stride, when: project}
      - {name: add, op: add, inputs: [bn3, downsample]}
      - {name: act3, op: relu}
  stage:                      # the first block halves the resolution and projects the shortcut
    params: {index: null}
    nodes:
      - name: blocks
        block: bottleneck
        repeat: "depths[index]"
        out: "widths[index]"
        mid: "mids[index]"
        kernel: "kernels[index]"
        overrides: {0: {stride: 2, project: true}}

nodes:
  - {name: stem, op: conv2d, out: stem, kernel: 3, stride: 2, padding: 1}
  - {name: stem_bn, op: batch_norm}
  - {name: stem_act, op: relu}
  - {name: stages, block: stage, repeat: "len(depths)", index: i}
  - {name: global_pool, op: global_avg_pool, flatten: true}
  - {name: fc, op: linear, out: classes}
"""

_MBCONV_BLOCKS = """\
blocks:
  mbconv:                     # 1x1 expand -> dw kxk (stride) -> [SE] -> 1x1 project, BN, SiLU
    params: {in_chs: null, out: null, mid: null, kernel: 3, stride: 1}
    nodes:
      - {name: conv_pw, op: conv2d, out: mid, kernel: 1}
      - {name: bn1, op: batch_norm}
      - {name: act1, op: silu}
      - {name: conv_dw, op: conv2d, out: mid, kernel: kernel, stride: stride, padding: kernel // 2, groups: mid}
      - {name: bn2, op: batch_norm}
      - {name: act2, op: silu}
      - {name: se_pool, op: reduce_mean, dims: [2, 3], keepdim: true, when: se}
      - {name: se_reduce, op: conv2d, out: mid // 4, kernel: 1, bias: true, when: se}
      - {name: se_act, op: silu, when: se}
      - {name: se_expand, op: conv2d, out: mid, kernel: 1, bias: true, when: se}
      - {name: se_gate, op: sigmoid, when: se}
      - {name: se_scale, op: mul, inputs: [act2, se_gate], when: se}
      - {name: conv_pwl, op: conv2d, out: out, kernel: 1}
      - {name: bn3, op: batch_norm}
      - {name: add, op: add, inputs: [bn3, x], when: stride == 1 and in_chs == out}
  stage:                      # the first block halves the resolution
    params: {index: null}
    nodes:
      - name: blocks
        block: mbconv
        repeat: "depths[index]"
        in_chs: "(stem if index == 0 else widths[index - 1]) if i == 0 else widths[index]"
        out: "widths[index]"
        mid: "mids[index]"
        kernel: "kernels[index]"
        stride: "2 if i == 0 else 1"

nodes:
  - {name: stem, op: conv2d, out: stem, kernel: 3, stride: 2, padding: 1}
  - {name: stem_bn, op: batch_norm}
  - {name: stem_act, op: silu}
  - {name: stages, block: stage, repeat: "len(depths)", index: i}
  - {name: global_pool, op: global_avg_pool, flatten: true}
  - {name: classifier, op: linear, out: classes}
"""

_CONVNEXT_BLOCKS = """\
blocks:
  convnext_block:             # dw kxk -> LN -> 1x1 (mid) -> GELU -> 1x1 -> layer scale -> + input
    params: {dim: null, mid: null, kernel: 7}
    nodes:
      - {name: dwconv, op: conv2d, out: dim, kernel: kernel, padding: kernel // 2, groups: dim}
      - {name: norm, op: layer_norm, channels_first: true}
      - {name: pwconv1, op: conv2d, out: mid, kernel: 1}
      - {name: act, op: gelu}
      - {name: pwconv2, op: conv2d, out: dim, kernel: 1}
      - {name: gamma, op: layer_scale, channels_first: true}
      - {name: add, op: add, inputs: [x, gamma]}
  stage:                      # (downsample: LN + 2x2 stride-2 conv, except stage 0) + blocks
    params: {index: null}
    nodes:
      - {name: down_norm, op: layer_norm, channels_first: true, when: index > 0}
      - {name: downsample, op: conv2d, out: "widths[index]", kernel: 2, stride: 2, when: index > 0}
      - name: blocks
        block: convnext_block
        repeat: "depths[index]"
        dim: "widths[index]"
        mid: "mids[index]"
        kernel: "kernels[index]"

nodes:
  - {name: stem, op: conv2d, out: "widths[0]", kernel: 4, stride: 4}
  - {name: stem_norm, op: layer_norm, channels_first: true}
  - {name: stages, block: stage, repeat: "len(depths)", index: i}
  - {name: pool, op: global_avg_pool, flatten: true}
  - {name: head_norm, op: layer_norm}
  - {name: head, op: linear, out: classes}
"""

_MIDS = {"resnet": "bottleneck (kxk)", "mbconv": "expanded (depthwise)", "convnext": "MLP hidden"}
_DESCRIPTION = {
    "resnet": "ResNet bottleneck blocks (1x1 -> kxk -> 1x1)",
    "mbconv": "MobileNet inverted bottlenecks (1x1 -> depthwise kxk -> 1x1)",
    "convnext": "ConvNeXt blocks (depthwise kxk -> LN -> 1x1 -> GELU -> 1x1)",
}


def spec_yaml(design: Design, comment: str = "") -> str:
    """A readable spec (YAML text) of ``design``, written with blocks as the zoo's specs are."""
    name = design.name or f"deepmad_{design.family}"
    se = " with squeeze-excite" if design.se else ""
    lines = [
        f"name: {name}",
        f"description: DeepMAD-style design by costmodel design, {_DESCRIPTION[design.family]}{se}.",
        "metadata:",
        '  paper: "DeepMAD: Mathematical Architecture Design for Deep Convolutional Neural Network '
        '(Shen et al., CVPR 2023)"',
        f"  source: \"{comment or 'costmodel design'}\"",
        "inputs:",
        f"  image: [3, {design.resolution}, {design.resolution}]",
        "vars:",
    ]
    if design.family != "convnext":
        lines.append(f"  stem: {design.stem}")
    lines += [
        f"  depths: {_list(design.depths)}  # blocks per stage",
        f"  widths: {_list(design.widths)}  # stage output channels",
        f"  mids: {_list(design.mids)}  # {_MIDS[design.family]} channels",
        f"  kernels: {_list(design.kernels)}  # of each stage's kxk conv",
    ]
    if design.family == "mbconv":
        lines.append(f"  se: {str(design.se).lower()}")
    lines.append(f"  classes: {design.classes}")
    if design.family != "convnext":
        lines += ["defaults:", "  conv2d: {bias: false}       # every conv is followed by BN"]
    lines.append("")
    body = {"resnet": _RESNET_BLOCKS, "mbconv": _MBCONV_BLOCKS, "convnext": _CONVNEXT_BLOCKS}[design.family]
    return "\n".join(lines) + "\n" + body


def minimal_design(family: str, resolution: int, stages: int, se: bool = False, low: float | None = None) -> Design:
    """The cheapest design of a space: every stage one block of the fewest channels, 3x3 kernels (``low``:
    the smallest m/c ratio, default the family's)."""
    low = MID_RATIO[family][0] if low is None else low
    c = CHANNEL_STEP
    m = max(CHANNEL_STEP, math.ceil(low * c / CHANNEL_STEP) * CHANNEL_STEP)
    return Design(family, resolution, c, (c,) * stages, (m,) * stages, (3,) * stages, (1,) * stages, se)
