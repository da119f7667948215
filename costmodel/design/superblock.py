"""TinyNAS super-block spaces (DeepMAD's official code release), their closed forms under both conventions, and
the YAML they emit.

A network is a 3×3 stride-2 stem conv (BN, ReLU), super-blocks, an optional 1×1 head conv (BN, ReLU), a global
average pool and a linear classifier. A super-block is ``depth`` blocks of one kind with its own stride (1 or 2,
on its first block), output width ``out``, inner width ``btn`` and kernel ``kernel``:

- ``k1kxk1`` (TinyNAS ``SuperResK1KXK1``): 1×1 → k×k (stride) → 1×1, BN after each, ReLU; the first block's
  shortcut is a 2×2 stride-2 average pool (stride 2 only) and a 1×1 conv + BN; later blocks add the identity.
- ``k1dwsek1`` (``SuperResK1DWSEK1``): 1×1 expand → depthwise k×k (stride) → squeeze-excite (avg pool, 1×1
  conv + BN, SiLU, 1×1 conv + BN, sigmoid; ``se = max(1, round(btn/4) // 8) * 8`` channels) → 1×1, BN, SiLU after
  the add; the residual exists only when in == out (with a 2×2 average pool at stride 2), no projection.

:func:`terms` gives, for integer or real widths (numpy arrays: one candidate per element), the budgets as the
official code counts them (``flops``: conv MACs + 2 per BN output + 1 per ReLU/SiLU output + 1 per average-pool
input + 1 per projection-add output, SE left out, no classifier; ``model_size``: parameters without the
classifier), as costmodel counts them (``macs``, ``params``), and the entropy terms of both conventions.
docs/designer.md derives every term and cites the official file and line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import DesignError
from ..vocab import Convention
from . import costs
from .entropy import DEFAULT_BETA, default_alphas
from .space import CLASSES

KINDS = ("k1kxk1", "k1dwsek1")
STEM_KERNEL = 3
SE_RATIO = 0.25


@dataclass(frozen=True)
class SuperBlock:
    """One super-block: ``depth`` blocks, the first with ``stride``; widths are channel counts."""

    stride: int
    out: int
    btn: int
    kernel: int
    depth: int


@dataclass(frozen=True)
class Network:
    """A TinyNAS-style network: stem, super-blocks of one kind, optional head conv, pool, classifier."""

    kind: str
    resolution: int  # input side, pixels
    stem: int  # stem output channels
    blocks: tuple[SuperBlock, ...]
    head: int | None = None  # 1×1 head conv output channels
    classes: int = CLASSES
    name: str = field(default="", compare=False)

    @property
    def strides(self) -> tuple[int, ...]:
        """The super-blocks' strides."""
        return tuple(b.stride for b in self.blocks)


@dataclass
class SuperblockTerms:
    """Closed-form figures of one or many networks (arrays over candidates)."""

    flops: np.ndarray  # official `flops` (see the module docstring)
    model_size: np.ndarray  # official `model_size`: params without the classifier
    macs: np.ndarray  # costmodel's `macs`, classifier included
    params: np.ndarray  # costmodel's params = TinyNAS deploy model's, classifier included
    stage_logs: list[np.ndarray]  # Σ log w (full log, nats) of each entropy stage's layers
    stage_layers: list[int]  # conv layers in each entropy stage
    stage_channels: list[np.ndarray]  # output channels at each stage's end
    official_sides: list[int]  # the feature-map side the official code assigns to each stage's end
    true_sides: list[int]  # the real side at each stage's end
    depths: list[np.ndarray]  # blocks of each super-block
    stage_of_block: list[int]  # entropy stage of each super-block


def _se_channels(btn: np.ndarray) -> np.ndarray:
    """Squeeze-excite channels of the official SE: ``max(1, round(btn · 0.25) // 8) · 8`` (round half to even,
    as Python's round); smooth ``btn / 4`` for non-integer widths (the relaxation)."""
    btn = np.asarray(btn, float)
    exact = np.maximum(1, np.floor(np.round(btn * SE_RATIO) / 8)) * 8
    return np.where(btn == np.round(btn), exact, btn * SE_RATIO)


def stage_plan(strides: Sequence[int], head: bool) -> list[int]:
    """Entropy stage of each item (stem, super-blocks, head): a new stage starts at every stride-2 item but
    the first (the official ``get_stage_info``)."""
    items = [2, *strides] + ([1] if head else [])
    plan, stage = [], 0
    for idx, stride in enumerate(items):
        if idx > 0 and stride == 2:
            stage += 1
        plan.append(stage)
    return plan


def check_layout(kind: str, resolution: int, strides: Sequence[int]) -> None:
    """Raise DesignError for a kind, stride or resolution the space cannot build."""
    if kind not in KINDS:
        raise DesignError(f"unknown super-block kind {kind!r}; choose one of {', '.join(KINDS)}")
    if any(s not in (1, 2) for s in strides):
        raise DesignError(f"super-block strides must be 1 or 2, got {list(strides)}")
    side = -(-resolution // 2)
    for i, s in enumerate(strides):
        if s == 2 and side % 2:
            raise DesignError(f"super-block {i + 1} halves a {side} px map: the 2x2 average-pool shortcut needs an "
                              f"even side; use a --resolution divisible by {2 ** (1 + sum(strides[:i + 1]) // 2)}")
        side //= s


def terms(
    kind: str, resolution: int, strides: Sequence[int], head: int | None, stem: np.ndarray | float,
    outs: Sequence[np.ndarray | float], btns: Sequence[np.ndarray | float], kernels: Sequence[np.ndarray | float],
    depths: Sequence[np.ndarray | float], classes: int = CLASSES,
) -> SuperblockTerms:
    """Budgets and entropy terms of networks given widths, kernels and depths (floats or arrays)."""
    check_layout(kind, resolution, strides)
    plan = stage_plan(strides, head is not None)
    n_stages = plan[-1] + 1
    zero = np.zeros(np.broadcast(stem, *outs, *btns, *kernels, *depths).shape)
    logs = [zero.copy() for _ in range(n_stages)]
    stage_channels: list[np.ndarray] = [zero for _ in range(n_stages)]
    official = [0] * n_stages
    true = [0] * n_stages
    c0 = np.asarray(stem, float)
    r = resolution / 2  # official float side (CnnNet.get_flops divides by the stride)
    side = -(-resolution // 2)  # real side after the stem (pad 1)
    off_side = resolution // 2  # official integer side (get_output_resolution)
    flops = (27 * c0 + 3 * c0) * r * r
    model_size = 27 * c0 + 2 * c0
    macs, params = costs.conv_bn(side * side, 3, c0, 9)
    logs[0] = logs[0] + math.log(27.0)
    stage_channels[0] = c0 + zero
    official[0], true[0] = off_side, side
    c_in = c0
    is_se = kind == "k1dwsek1"
    for i, s in enumerate(strides):
        c, m, d = np.asarray(outs[i], float), np.asarray(btns[i], float), np.asarray(depths[i], float)
        k2 = np.asarray(kernels[i], float) ** 2
        a0, side = side * side, -(-side // s)
        a1 = side * side
        if is_se:
            e = _se_channels(m)
            se_params = 2 * m * e + 2 * e + 2 * m
            # the pool, the two 1x1 convs on a 1x1 map (no bias) and their BNs
            se_cost = costs.add(costs.mean_pool(a1, m), costs.conv_bn(1, m, e, 1), costs.conv_bn(1, e, m, 1))
            body = costs.add(costs.conv_bn(a1, m, m, k2, depthwise=True), se_cost, costs.conv_bn(a1, m, c, 1))
            first = costs.add(costs.conv_bn(a0, c_in, m, 1), body)
            rest = costs.add(costs.conv_bn(a1, c, m, 1), body)
            residual = np.where(c_in == c, 1.0, 0.0) * (s == 2)
            f_first = (c_in * m + 2 * m + (m * k2 + 2 * m) / s**2 + (m * c + 2 * c) / s**2 + m + m / s**2
                       + c / s**2 + residual * c_in)
            f_rest = c * m + 2 * m + m * k2 + 2 * m + m * c + 2 * c + 2 * m + c
            p_first = c_in * m + 2 * m + m * k2 + 2 * m + se_params + m * c + 2 * c
            p_rest = c * m + 2 * m + m * k2 + 2 * m + se_params + m * c + 2 * c
            log_first = np.log(c_in) + np.log(k2) + np.log(m)
            log_rest = np.log(c) + np.log(k2) + np.log(m)
        else:
            f_first = (c_in * m + 2 * m + (m * m * k2 + 2 * m) / s**2 + (m * c + 2 * c) / s**2 + m + m / s**2
                       + c / s**2 + (s == 2) * c_in + (c_in * c + 2 * c) / s**2 + c / s**2)
            f_rest = c * m + 2 * m + m * m * k2 + 2 * m + m * c + 2 * c + 2 * m + c
            p_first = c_in * m + 2 * m + m * m * k2 + 2 * m + m * c + 2 * c + c_in * c + 2 * c
            p_rest = c * m + 2 * m + m * m * k2 + 2 * m + m * c + 2 * c
            body = costs.add(costs.conv_bn(a1, m, m, k2), costs.conv_bn(a1, m, c, 1))
            first = costs.add(costs.conv_bn(a0, c_in, m, 1), body, costs.conv_bn(a1, c_in, c, 1))  # + projection
            rest = costs.add(costs.conv_bn(a1, c, m, 1), body)
            log_first = np.log(c_in) + np.log(m * k2) + np.log(m)
            log_rest = np.log(c) + np.log(m * k2) + np.log(m)
        flops = flops + r * r * (f_first + (d - 1) * f_rest / s**2)
        model_size = model_size + p_first + (d - 1) * p_rest
        macs, params = costs.add((macs, params), first, costs.scaled(rest, d - 1))
        j = plan[i + 1]
        logs[j] = logs[j] + log_first + (d - 1) * log_rest
        stage_channels[j] = c + zero
        r /= s
        off_side = 1 if is_se else off_side // s
        official[j], true[j] = off_side, side
        c_in = c
    if head is not None:
        h = float(head)
        flops = flops + (c_in * h + 3 * h) * r * r
        model_size = model_size + c_in * h + 2 * h
        macs, params = costs.add((macs, params), costs.conv_bn(side * side, c_in, h, 1))
        logs[-1] = logs[-1] + np.log(c_in)
        stage_channels[-1] = h + zero
        c_in = h + zero
    macs, params = costs.add((macs, params), costs.classifier(side * side, c_in, classes))
    stage_layers = [0] * n_stages
    stage_layers[0] += 1
    if head is not None:
        stage_layers[-1] += 1
    return SuperblockTerms(np.asarray(flops, float) + zero, np.asarray(model_size, float) + zero,
                 np.asarray(macs, float) + zero, np.asarray(params, float) + zero, logs, stage_layers,
                 stage_channels, official, true, [np.asarray(d, float) + zero for d in depths],
                 plan[1:len(strides) + 1])


@dataclass
class SuperblockFigures:
    """Objective, entropy, ρ and penalty under one convention (arrays over candidates)."""

    objective: np.ndarray
    entropy: np.ndarray
    stage_entropies: np.ndarray  # (stages, candidates), α not applied
    penalty: np.ndarray
    log_rhos: np.ndarray  # (stages, candidates)
    budget_flops: np.ndarray  # the budget's count: official `flops` or costmodel `macs`
    budget_params: np.ndarray  # official `model_size` or costmodel params


def penalty_depths(kind: str, convention: Convention, t: SuperblockTerms) -> list[np.ndarray]:
    """The block counts whose spread the depth penalty charges.

    Official (``strategy.py``): every super-block's ``L``; in a ``k1kxk1`` network the first two super-blocks
    are dropped (super-blocks 3–5). Paper (costmodel's graph reading): blocks per entropy stage, block stages
    after the first.
    """
    if convention is Convention.OFFICIAL:
        return t.depths[2:] if kind == "k1kxk1" else list(t.depths)
    per_stage: dict[int, np.ndarray] = {}
    for stage, d in zip(t.stage_of_block, t.depths, strict=True):
        per_stage[stage] = per_stage.get(stage, 0) + d
    return [per_stage[k] for k in sorted(per_stage)][1:]


def superblock_figures(
    kind: str, t: SuperblockTerms, convention: Convention, alphas: Sequence[float] | None = None,
    beta: float = DEFAULT_BETA, smooth: float = 0.0,
) -> SuperblockFigures:
    """DeepMAD's objective under ``convention`` from closed-form terms (``smooth`` > 0 only in a relaxation)."""
    n = len(t.stage_logs)
    weights = np.asarray(alphas if alphas is not None else default_alphas(n), float)
    if weights.size != n:
        raise DesignError(f"{weights.size} stage weights (--alpha) for {n} stages")
    layers = []
    for j in range(n):
        count = np.full_like(t.stage_logs[0], float(t.stage_layers[j]))
        for stage, d in zip(t.stage_of_block, t.depths, strict=True):
            if stage == j:
                count = count + 3 * d
        layers.append(count)
    cum_logs = np.cumsum(np.array(t.stage_logs), axis=0)
    cum_layers = np.cumsum(np.array(layers), axis=0)
    official = convention is Convention.OFFICIAL
    sides = t.official_sides if official else t.true_sides
    size_logs = np.array([np.log(np.asarray(c, float)) + math.log(s * s) for c, s in zip(t.stage_channels, sides,
                                                                                          strict=True)])
    entropies = size_logs * cum_logs * (0.5 if official else 1.0)
    entropy = np.tensordot(weights, entropies, axes=1)
    depths = penalty_depths(kind, convention, t)
    if depths:
        stacked = np.array(np.broadcast_arrays(*depths))
        penalty = beta * np.exp(np.sqrt(stacked.var(axis=0) + smooth))
    else:
        penalty = beta * np.ones_like(entropy)
    log_rhos = np.log(cum_layers) - cum_logs / cum_layers
    return SuperblockFigures(entropy - penalty, entropy, entropies, penalty, log_rhos,
                   t.flops if official else t.macs, t.model_size if official else t.params)


def network_terms(net: Network) -> SuperblockTerms:
    """:func:`terms` of one integer network."""
    b = net.blocks
    return terms(net.kind, net.resolution, net.strides, net.head, net.stem, [x.out for x in b], [x.btn for x in b],
                 [x.kernel for x in b], [x.depth for x in b], net.classes)


# -- specs ----------------------------------------------------------------------------------------------------

_BLOCKS = {
    "k1kxk1": """\
  block:                      # TinyNAS ResK1KXK1: 1x1 -> kxk (stride) -> 1x1, BN each, ReLU; shortcut avg pool + 1x1
    params: {out: null, btn: null, kernel: 3, stride: 1, project: false}
    nodes:
      - {name: conv1, op: conv2d, out: btn, kernel: 1}
      - {name: bn1, op: batch_norm}
      - {name: act1, op: relu}
      - {name: conv2, op: conv2d, out: btn, kernel: kernel, stride: stride, padding: kernel // 2}
      - {name: bn2, op: batch_norm}
      - {name: act2, op: relu}
      - {name: conv3, op: conv2d, out: out, kernel: 1}
      - {name: bn3, op: batch_norm}
      - {name: pool, op: avg_pool2d, inputs: x, kernel: 2, stride: 2, when: stride == 2}
      - {name: proj, op: conv2d, inputs: pool, out: out, kernel: 1, when: project}
      - {name: proj_bn, op: batch_norm, when: project}
      - {name: add, op: add, inputs: [bn3, proj_bn]}
      - {name: act3, op: relu}
  superblock:                 # the first block has the stride and the projection shortcut
    params: {index: null}
    nodes:
      - name: blocks
        block: block
        repeat: "depths[index]"
        out: "outs[index]"
        btn: "btns[index]"
        kernel: "kernels[index]"
        overrides: {0: {stride: "strides[index]", project: true}}
""",
    "k1dwsek1": """\
  block:                      # TinyNAS ResK1DWSEK1: 1x1 -> dw kxk (stride) -> SE -> 1x1, BN each, SiLU
    params: {in_chs: null, out: null, btn: null, kernel: 3, stride: 1}
    nodes:
      - {name: conv1, op: conv2d, out: btn, kernel: 1}
      - {name: bn1, op: batch_norm}
      - {name: act1, op: silu}
      - {name: conv2, op: conv2d, out: btn, kernel: kernel, stride: stride, padding: kernel // 2, groups: btn}
      - {name: bn2, op: batch_norm}
      - {name: act2, op: silu}
      - {name: se_pool, op: adaptive_avg_pool2d, output_size: 1}
      - {name: se_conv1, op: conv2d, out: "max(1, round(btn * 0.25) // 8) * 8", kernel: 1}
      - {name: se_bn1, op: batch_norm}
      - {name: se_act, op: silu}
      - {name: se_conv2, op: conv2d, out: btn, kernel: 1}
      - {name: se_bn2, op: batch_norm}
      - {name: se_gate, op: sigmoid}
      - {name: se_scale, op: mul, inputs: [act2, se_gate]}
      - {name: conv3, op: conv2d, out: out, kernel: 1}
      - {name: bn3, op: batch_norm}
      - {name: pool, op: avg_pool2d, inputs: x, kernel: 2, stride: 2, when: stride == 2 and in_chs == out}
      - {name: add, op: add, inputs: [bn3, pool], when: in_chs == out}
      - {name: act3, op: silu}
  superblock:                 # the first block has the stride; a residual only where in == out
    params: {index: null}
    nodes:
      - name: blocks
        block: block
        repeat: "depths[index]"
        in_chs: "(stem if index == 0 else outs[index - 1]) if i == 0 else outs[index]"
        out: "outs[index]"
        btn: "btns[index]"
        kernel: "kernels[index]"
        stride: "strides[index] if i == 0 else 1"
""",
}


def _list(values: Sequence[int]) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


def network_yaml(net: Network, description: str = "", source: str = "") -> str:
    """A readable spec (YAML text) of ``net``, in TinyNAS's structure (stem, super-blocks, head)."""
    name = net.name or f"deepmad_{net.kind}"
    b = net.blocks
    lines = [
        f"name: {name}",
        f"description: {description or f'DeepMAD-style design by costmodel design, TinyNAS {net.kind} super-blocks.'}",
        "metadata:",
        '  paper: "DeepMAD: Mathematical Architecture Design for Deep Convolutional Neural Network '
        '(Shen et al., CVPR 2023)"',
        f"  source: \"{source or 'costmodel design'}\"",
        "inputs:",
        f"  image: [3, {net.resolution}, {net.resolution}]",
        "vars:",
        f"  stem: {net.stem}",
        f"  strides: {_list([x.stride for x in b])}  # of each super-block's first block",
        f"  outs: {_list([x.out for x in b])}  # super-block output channels",
        f"  btns: {_list([x.btn for x in b])}  # bottleneck / expanded channels",
        f"  kernels: {_list([x.kernel for x in b])}",
        f"  depths: {_list([x.depth for x in b])}  # blocks per super-block (L)",
    ]
    if net.head is not None:
        lines.append(f"  head: {net.head}  # 1x1 head conv channels")
    lines += [f"  classes: {net.classes}", "defaults:", "  conv2d: {bias: false}       # every conv is followed by BN",
              "", "blocks:", _BLOCKS[net.kind].rstrip("\n"), "", "nodes:",
              "  - {name: stem, op: conv2d, out: stem, kernel: 3, stride: 2, padding: 1}",
              "  - {name: stem_bn, op: batch_norm}", "  - {name: stem_act, op: relu}",
              "  - {name: stages, block: superblock, repeat: \"len(depths)\", index: i}"]
    if net.head is not None:
        lines += ["  - {name: head, op: conv2d, out: head, kernel: 1}", "  - {name: head_bn, op: batch_norm}",
                  "  - {name: head_act, op: relu}"]
    lines += ["  - {name: global_pool, op: global_avg_pool, flatten: true}",
              "  - {name: fc, op: linear, out: classes}", ""]
    return "\n".join(lines)
