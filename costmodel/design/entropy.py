"""DeepMAD's entropy, effectiveness and depth penalty (Shen et al., CVPR 2023), from formulas or from a graph.

Units: entropies are in nats (natural logarithms) and dimensionless; widths ``w = c_in · k² / groups`` are
counts of input elements per output element; resolutions enter as feature-map areas ``H · W`` (pixels).

The network is read as stages of conv layers. From a :class:`~costmodel.graph.Graph` (see docs/designer.md):

- **main path**: the conv2d layers on the input-to-output path with the most conv layers; shortcut
  projections and other parallel branches are off it, and so are convs that read a globally pooled tensor
  (squeeze-excite gates);
- **stages**: main-path convs are grouped by their top-level node (``layer2``, or ``stages.1`` /
  ``blocks.3`` when the top-level node is repeated); consecutive groups whose last conv has the same
  output resolution form one stage. A stage's resolution and channels are those of its last conv's output;
- **blocks** (for the depth penalty): main-path convs sharing a path prefix that ends at a repeat index
  (``layer2.0``, ``stages.1.blocks.4``), when there are at least two of them; lone convs (stems,
  downsampling layers) are not blocks.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ..errors import DesignError
from ..graph import Graph, Layer
from ..ops import get_op
from ..vocab import Convention

DEFAULT_BETA = 10.0




LAST_STAGE_ALPHA = 8.0


def default_alphas(stages: int) -> list[float]:
    """DeepMAD's stage weights: 1 for every stage, 8 for the last ([1, 1, 1, 1, 8] for five stages)."""
    return [1.0] * (stages - 1) + [LAST_STAGE_ALPHA]


def stage_entropies(
    log_widths: Sequence[Sequence[float]], areas: Sequence[float], channels: Sequence[float]
) -> list[float]:
    """``H_i = log(r_i² · c_i) · Σ_{layers j up to the end of stage i} log w_j`` (nats), one per stage.

    ``log_widths[i]``: the natural logs of stage i's layer widths; ``areas[i]``: its output area r_i²
    (pixels); ``channels[i]``: its output channels.
    """
    out, running = [], 0.0
    for logs, area, c in zip(log_widths, areas, channels, strict=True):
        running += sum(logs)
        out.append(math.log(area * c) * running)
    return out


def effectiveness(log_widths: Sequence[Sequence[float]]) -> list[float]:
    """``ρ_i = L_i / w̄_i`` per stage: L_i the number of layers up to the end of stage i, w̄_i the geometric
    mean of their widths (``exp`` of the mean log width). Dimensionless."""
    out, layers, total = [], 0, 0.0
    for logs in log_widths:
        layers += len(logs)
        total += sum(logs)
        out.append(layers / math.exp(total / layers) if layers else 0.0)
    return out


def depth_penalty(depths: Sequence[float], beta: float = DEFAULT_BETA) -> float:
    """``β · exp(std(depths))`` with the population standard deviation; 0 depths give ``β``; ``math.inf`` past the
    largest float (a std over ~710 blocks), 0 when ``β`` is 0."""
    if not depths or beta == 0:
        return beta
    mean = sum(depths) / len(depths)
    try:
        return beta * math.exp(math.sqrt(sum((d - mean) ** 2 for d in depths) / len(depths)))
    except OverflowError:  # exp(710) and up: no float holds it (a fuzzed space of 8,000-block stages)
        return math.inf


@dataclass(frozen=True)
class Stage:
    """One stage of a network as the entropy sees it."""

    groups: tuple[str, ...]  # the top-level path groups merged into it (``layer2`` or ``stages.1``)
    area: int  # output feature-map area H·W (pixels)
    channels: int  # output channels of its last main-path conv
    widths: tuple[int, ...]  # main-path conv widths c_in·k²/groups, in order
    blocks: int  # blocks (>= 2 main-path convs under one repeat index)


@dataclass(frozen=True)
class Score:
    """DeepMAD's figures for a network: per-stage entropy and ρ, the penalty and the objective."""

    stages: tuple[Stage, ...]
    alphas: tuple[float, ...]
    entropies: tuple[float, ...]  # H_i, nats
    rhos: tuple[float, ...]  # ρ_i
    penalty: float  # β · exp(std of the penalised depths)
    penalty_depths: tuple[int, ...]
    convention: Convention = Convention.PAPER

    @property
    def entropy(self) -> float:
        """``Σ α_i H_i`` (nats)."""
        return sum(a * h for a, h in zip(self.alphas, self.entropies, strict=True))

    @property
    def objective(self) -> float:
        """``Σ α_i H_i − β · exp(std depths)``: what the designer maximises."""
        return self.entropy - self.penalty

    @property
    def rho(self) -> float:
        """The largest ρ_i (the constraint is ρ_i ≤ ρ0 at every stage)."""
        return max(self.rhos)

    @property
    def depth(self) -> int:
        """Main-path conv layers."""
        return sum(len(s.widths) for s in self.stages)


def score(
    stages: Sequence[Stage], alphas: Sequence[float] | None = None, beta: float = DEFAULT_BETA
) -> Score:
    """Entropy, ρ and penalty of a list of stages; ``alphas`` default to :func:`default_alphas`."""
    alphas = list(alphas) if alphas is not None else default_alphas(len(stages))
    if len(alphas) != len(stages):
        raise DesignError(f"{len(alphas)} stage weights (--alpha) for {len(stages)} stages")
    logs = [[math.log(w) for w in s.widths] for s in stages]
    block_depths = [s.blocks for s in stages if s.blocks]
    penalty_depths = tuple(block_depths[1:])
    return Score(
        stages=tuple(stages), alphas=tuple(alphas),
        entropies=tuple(stage_entropies(logs, [s.area for s in stages], [s.channels for s in stages])),
        rhos=tuple(effectiveness(logs)), penalty=depth_penalty(penalty_depths, beta), penalty_depths=penalty_depths,
    )


# -- reading a graph --------------------------------------------------------------------------------------

def _is_conv(layer: Layer) -> bool:
    """A plain 2-D convolution (the registry's ``conv_rank``): what DeepMAD's main path counts."""
    return get_op(layer.op).conv_rank == 2


def _spatial_area(shape: Sequence[int]) -> int:
    return math.prod(shape[2:]) if len(shape) > 2 else 1


def _sources(layer: Layer) -> list[str]:
    return [ref.node for ref in layer.inputs if not ref.node.startswith("input:")]


def _pooled(layer: Layer, sources: Sequence[str], pooled: dict[str, bool]) -> bool:
    if get_op(layer.op).global_pool:
        return _spatial_area(layer.cost.outputs[0]) == 1
    return bool(sources) and all(pooled[s] for s in sources)


def pooled_layers(graph: Graph) -> dict[str, bool]:
    """Per layer path: whether its output is (derived only from) a globally pooled tensor."""
    pooled: dict[str, bool] = {}
    for layer in graph.layers:
        pooled[layer.path] = _pooled(layer, _sources(layer), pooled)
    return pooled


def main_path(graph: Graph) -> list[Layer]:
    """The main-path conv layers (see the module docstring), in graph order."""
    convs: dict[str, int] = {}  # layer path -> most conv layers on a path ending at its output
    previous: dict[str, str | None] = {}
    pooled: dict[str, bool] = {}
    for layer in graph.layers:
        path_step(layer, convs, previous, pooled)
    if not convs:
        return []
    end = max(convs, key=convs.__getitem__)
    return trace_back(end, convs, previous, {layer.path: layer for layer in graph.layers})[0]


def path_step(layer: Layer, convs: dict[str, int], previous: dict[str, str | None], pooled: dict[str, bool]) -> None:
    """One layer of the main-path search: the most conv layers on a path ending at its output (``convs``), the
    source it comes through (``previous``) and whether its output derives only from a globally pooled tensor
    (``pooled``); the dicts must hold every layer it reads. (The sweep runs it over parts of a graph.)"""
    sources = _sources(layer)
    pooled[layer.path] = _pooled(layer, sources, pooled)
    best, best_source = 0, None
    for source in sources:
        if convs[source] > best:
            best, best_source = convs[source], source
    reads_pooled = bool(sources) and all(pooled[s] for s in sources)
    convs[layer.path] = best + (_is_conv(layer) and not reads_pooled)
    previous[layer.path] = best_source


def trace_back(
    end: str, convs: dict[str, int], previous: dict[str, str | None], layers: dict[str, Layer]
) -> tuple[list[Layer], str | None]:
    """The conv layers on the best path ending at ``end``, in graph order, following ``previous`` while it stays
    in ``layers``; and the source where it left them (None at the start of the graph)."""
    chain: list[Layer] = []
    current: str | None = end
    while current is not None and current in layers:
        source = previous[current]
        if convs[current] > (convs[source] if source else 0):
            chain.append(layers[current])
        current = source
    return chain[::-1], current


@functools.lru_cache(maxsize=1 << 16)
def _group(path: str) -> str:
    parts = path.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 and parts[1].isdigit() else parts[0]


@functools.lru_cache(maxsize=1 << 16)
def _block_key(path: str) -> str | None:
    parts = path.split(".")[:-1]
    for end in range(len(parts), 0, -1):
        if parts[end - 1].isdigit():
            return ".".join(parts[:end])
    return None


def conv_width(layer: Layer) -> int:
    """``c_in · k_h · k_w / groups`` of a conv layer."""
    kernel = layer.attrs.kernel  # type: ignore[attr-defined]
    area = math.prod(kernel) if isinstance(kernel, list) else kernel ** (len(layer.input_shapes[0]) - 2)
    return layer.input_shapes[0][1] * area // layer.attrs.groups  # type: ignore[attr-defined]


def grouped_main_path(graph: Graph) -> list[tuple[str, list[Layer]]]:
    """The main-path convs in runs of one top-level group (``layer2``, ``stages.1``, ``stem``). Raises
    DesignError when there are none."""
    return group_chain(main_path(graph), graph.name)


def group_chain(chain: Sequence[Layer], name: str) -> list[tuple[str, list[Layer]]]:
    """A main path in runs of one top-level group; ``name`` (the network's) is for the DesignError raised when
    the chain is empty."""
    if not chain:
        raise DesignError(f"{name}: no conv2d layers on the main path; the entropy needs a CNN")
    groups: list[tuple[str, list[Layer]]] = []
    for layer in chain:
        group = _group(layer.path)
        if groups and groups[-1][0] == group:
            groups[-1][1].append(layer)
        else:
            groups.append((group, [layer]))
    return groups


def count_blocks(layers: Sequence[Layer]) -> int:
    """Blocks among ``layers``: path prefixes ending at a repeat index shared by at least two of them."""
    counts = Counter(_block_key(layer.path) for layer in layers)
    return sum(1 for key, n in counts.items() if key is not None and n >= 2)


def stages_of(graph: Graph) -> list[Stage]:
    """The graph's stages (see the module docstring). Raises DesignError when it has no conv layers."""
    return chain_stages(main_path(graph), graph.name)


def chain_stages(chain: Sequence[Layer], name: str) -> list[Stage]:
    """The stages of a main path (see the module docstring)."""
    return read_stages([chain_layer(layer) for layer in chain], name)


class ChainLayer(NamedTuple):
    """What the stages need of one main-path conv: its top-level group and block (path prefixes), its width
    ``c_in·k²/groups``, and its output's area and channels (the sweep keeps these per cached fragment)."""

    group: str
    block: str | None
    width: int
    area: int
    channels: int


def chain_layer(layer: Layer) -> ChainLayer:
    """A main-path conv as :func:`read_stages` reads it."""
    out = layer.cost.outputs[0]
    return ChainLayer(_group(layer.path), _block_key(layer.path), conv_width(layer), _spatial_area(out), out[1])


def read_stages(chain: Sequence[ChainLayer], name: str) -> list[Stage]:
    """The stages of a main path: runs of one top-level group, consecutive runs of equal output area merged
    (:func:`chain_stages`, :func:`make_stage`); DesignError when there is none (:func:`group_chain`)."""
    if not chain:
        raise DesignError(f"{name}: no conv2d layers on the main path; the entropy needs a CNN")
    return merge_groups(chain_groups(chain), name)


class ChainGroup(NamedTuple):
    """A run of main-path convs of one top-level group, as :func:`merge_groups` reads it: its group, the area and
    channels of its last conv's output, its convs' widths and how many of them each block key (not None) has.
    (The sweep keeps these per cached part of a main path.)"""

    group: str
    area: int
    channels: int
    widths: tuple[int, ...]
    blocks: tuple[tuple[str, int], ...]


def chain_groups(chain: Sequence[ChainLayer]) -> list[ChainGroup]:
    """A main path's runs of one top-level group."""
    runs: list[tuple[str, list[ChainLayer]]] = []
    for piece in chain:
        if runs and runs[-1][0] == piece.group:
            runs[-1][1].append(piece)
        else:
            runs.append((piece.group, [piece]))
    return [ChainGroup(group, pieces[-1].area, pieces[-1].channels, tuple(piece.width for piece in pieces),
                       tuple((key, n) for key, n in Counter(piece.block for piece in pieces).items()
                             if key is not None))
            for group, pieces in runs]


def merge_groups(groups: Sequence[ChainGroup], name: str) -> list[Stage]:
    """The stages of a main path's runs of one group (:func:`chain_groups`; consecutive runs of one group, as the
    parts of a path read apart give them, are one run): consecutive runs of equal output area merged, a stage's
    area and channels those of its last run, its blocks the block keys with at least two of its convs."""
    if not groups:
        raise DesignError(f"{name}: no conv2d layers on the main path; the entropy needs a CNN")
    joined = list(groups)
    if any(a.group == b.group for a, b in zip(groups, groups[1:], strict=False)):  # parts of one run: joined
        joined = []
        for group in groups:
            if joined and joined[-1].group == group.group:
                last = joined[-1]
                counts = dict(last.blocks)
                for key, n in group.blocks:
                    counts[key] = counts.get(key, 0) + n
                joined[-1] = ChainGroup(group.group, group.area, group.channels, last.widths + group.widths,
                                        tuple(counts.items()))
            else:
                joined.append(group)
    merged: list[tuple[list[str], list[ChainGroup]]] = []
    for group in joined:
        if merged and merged[-1][1][-1].area == group.area:
            merged[-1][0].append(group.group)
            merged[-1][1].append(group)
        else:
            merged.append(([group.group], [group]))
    stages = []
    for names, runs in merged:
        if len(runs) == 1:
            blocks = runs[0].blocks
        else:
            total: dict[str, int] = {}
            for run in runs:
                for key, n in run.blocks:
                    total[key] = total.get(key, 0) + n
            blocks = tuple(total.items())
        stages.append(Stage(groups=tuple(names), area=runs[-1].area, channels=runs[-1].channels,
                            widths=runs[0].widths if len(runs) == 1 else sum((run.widths for run in runs), ()),
                            blocks=sum(1 for _, n in blocks if n >= 2)))
    return stages


def make_stage(names: Sequence[str], layers: Sequence[Layer]) -> Stage:
    """A :class:`Stage` of main-path convs: its groups, last output, widths and blocks."""
    last = layers[-1].cost.outputs[0]
    return Stage(groups=tuple(names), area=_spatial_area(last), channels=last[1],
                 widths=tuple(conv_width(layer) for layer in layers), blocks=count_blocks(layers))


def score_graph(
    graph: Graph, alphas: Sequence[float] | None = None, beta: float = DEFAULT_BETA,
    convention: Convention = Convention.PAPER,
) -> Score:
    """DeepMAD's entropy, ρ per stage and depth penalty of an expanded network under ``convention``."""
    if convention is Convention.OFFICIAL:
        return official_score(graph, alphas, beta)
    return score(stages_of(graph), alphas, beta)


# -- the official code's reading (TinyNAS, docs/designer.md "Two conventions") ---------------------------------

def _stride(layer: Layer) -> int:
    stride = layer.attrs.stride  # type: ignore[attr-defined]
    return int(stride[0] if isinstance(stride, list) else stride)


def official_score(graph: Graph, alphas: Sequence[float] | None = None, beta: float = DEFAULT_BETA) -> Score:
    """TinyNAS's DeepMAD score of a graph read as its ``CnnNet``: items are the top-level groups (stem conv,
    super-blocks, head conv); a stage ends before every strided item but the first (``get_stage_info``); the
    feature-map side is the input side divided by each main-path conv's stride (integer division) and is 1
    after any block with a squeeze-excite gate (the official ``SE.get_output_resolution`` returns 1); each
    stage scores ``(log c + log side²) · Σ ½ log w`` over the layers up to its end; the penalty's depths are
    the super-blocks' block counts, without the first two when the first super-block is a plain bottleneck
    (no grouped conv: ``SuperResK1KXK1``)."""
    items = grouped_main_path(graph)
    se_blocks = {_block_key(layer.path) for layer in graph.layers
                 if get_op(layer.op).global_pool and _spatial_area(layer.cost.outputs[0]) == 1} - {None}
    side = graph.inputs[next(iter(graph.inputs))][-1]
    stages: list[Stage] = []
    sides: list[int] = []
    current: list[tuple[str, list[Layer]]] = []
    item_blocks: list[tuple[int, bool]] = []  # (blocks, plain bottleneck) per item
    for idx, (name, layers) in enumerate(items):
        strided = math.prod(_stride(layer) for layer in layers) > 1
        if idx > 0 and strided and current:
            stages.append(_official_stage(current))
            sides.append(side)
            current = []
        current.append((name, layers))
        for layer in layers:
            side //= _stride(layer)
            if _block_key(layer.path) in se_blocks:
                side = 1
        item_blocks.append((count_blocks(layers), all(layer.attrs.groups == 1 for layer in layers)))  # type: ignore[attr-defined]
    stages.append(_official_stage(current))
    sides.append(side)
    alphas = list(alphas) if alphas is not None else default_alphas(len(stages))
    if len(alphas) != len(stages):
        raise DesignError(f"{len(alphas)} stage weights (--alpha) for {len(stages)} stages")
    logs = [[math.log(w) for w in s.widths] for s in stages]
    entropies, running = [], 0.0
    for stage, stage_logs, stage_side in zip(stages, logs, sides, strict=True):
        running += 0.5 * sum(stage_logs)
        entropies.append((math.log(stage.channels) + math.log(stage_side * stage_side)) * running)
    superblocks = [(blocks, plain) for blocks, plain in item_blocks if blocks]
    depths = tuple(blocks for blocks, _ in superblocks)
    if len(superblocks) > 1 and superblocks[0][1]:
        depths = depths[2:]
    return Score(stages=tuple(stages), alphas=tuple(alphas), entropies=tuple(entropies),
                 rhos=tuple(effectiveness(logs)), penalty=depth_penalty(depths, beta), penalty_depths=depths,
                 convention=Convention.OFFICIAL)


def _official_stage(items: list[tuple[str, list[Layer]]]) -> Stage:
    return make_stage([name for name, _ in items], [layer for _, group in items for layer in group])


ACTIVATIONS_COUNTED = frozenset({"relu", "silu", "swish", "relu6", "gelu", "hardswish", "leaky_relu"})


def official_budgets(graph: Graph) -> tuple[float, float]:
    """``(flops, model_size)`` per image as TinyNAS's ``get_flops`` / ``get_model_size`` count them: conv MACs,
    2 per batch-norm output element, 1 per activation output element, 1 per average-pool input element and 1 per
    output element of an add whose inputs are all batch-norm outputs (a projection shortcut's add); nothing
    computed from a globally pooled tensor (squeeze-excite gates, the classifier). ``model_size``: every
    parameter but those of top-level layers after the global pool (the classifier)."""
    pooled = pooled_layers(graph)
    producer = {layer.path: layer.op for layer in graph.layers}
    flops = 0.0
    classifier = 0
    for layer in graph.layers:
        if pooled[layer.path]:
            if _block_key(layer.path) is None:
                classifier += layer.cost.params
            continue
        out = math.prod(layer.cost.outputs[0])
        if layer.op == "conv2d":
            flops += layer.cost.macs
        elif layer.op == "batch_norm":
            flops += 2 * out
        elif layer.op in ACTIVATIONS_COUNTED:
            flops += out
        elif layer.op == "avg_pool2d":
            flops += math.prod(layer.input_shapes[0])
        elif layer.op == "add" and all(producer.get(s) == "batch_norm" for s in _sources(layer)):
            flops += out
    params = sum(layer.cost.params for layer in graph.layers)
    return flops / graph.batch, float(params - classifier)
