"""The designer for TinyNAS super-block spaces: maximise DeepMAD's objective under either convention.

The variables are the stem width, each super-block's output and inner widths (multiples of 8), kernel and block
count; strides, the head conv, resolution and classes are fixed by the problem (a preset: the official search
keeps them). A vectorized scan of scaled width profiles gives starting points; the integer local search of
:mod:`.solver` (best neighbour over single and paired steps and rescaled discrete moves, then kicks) polishes
them. The result is emitted as a spec and confirmed by the analyzer and the graph reading.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import yaml

from ..analysis import analyze_graph
from ..errors import DesignError
from ..graph import load_graph
from ..spec import Spec, parse_spec
from ..units import si
from ..vocab import Convention
from .entropy import DEFAULT_BETA, Score, official_budgets, score_graph
from .presets import MBCONV_LIMITS, RESNET_LIMITS, Limits, Preset
from .solver import (
    SMOOTH_VARIANCE,
    InfeasibleError,
    _Lattice,
    _Relaxation,
    latency_root_find,
    single_blas_thread,
)
from .superblock import (
    CLASSES,
    Network,
    SuperBlock,
    check_layout,
    network_terms,
    network_yaml,
    superblock_figures,
    terms,
)

STEP = 8


@dataclass(frozen=True)
class SuperProblem:
    """A super-block design problem. Budgets are in the convention's counts (official: `flops` and
    `model_size`; paper: costmodel's MACs and params)."""

    kind: str
    strides: tuple[int, ...]
    flops: float
    params: float | None
    rho: float
    convention: Convention = Convention.OFFICIAL
    resolution: int = 224
    head: int | None = None
    alphas: tuple[float, ...] | None = None
    beta: float = DEFAULT_BETA
    limits: Limits | None = None
    classes: int = CLASSES

    @property
    def space(self) -> Limits:
        """The limits in force (the kind's default when none were given)."""
        return self.limits or (RESNET_LIMITS if self.kind == "k1kxk1" else MBCONV_LIMITS)


def from_preset(p: Preset, convention: Convention = Convention.OFFICIAL, limits: Limits | None = None) -> SuperProblem:
    """The problem of a published search (its budgets are official counts; under ``paper`` the same numbers
    bound costmodel's MACs and params)."""
    net = p.published
    return SuperProblem(net.kind, net.strides, p.flops, p.model_size, p.rho, convention, net.resolution, net.head,
                        p.alphas, p.beta, limits)


@dataclass(frozen=True)
class SuperResult:
    """A solved super-block design and what the analyzer and the graph reading say about it."""

    network: Network
    score: Score  # from the graph, under the problem's convention
    flops: float  # the budget's count (official flops or costmodel MACs) from the graph
    params: float  # official model_size or costmodel params, from the graph
    macs: int  # costmodel's MACs and params (classifier included)
    all_params: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    latency_s: float | None = None  # predicted latency per batch, when a latency budget was given

    @property
    def spec_text(self) -> str:
        """The design as a YAML spec."""
        return network_yaml(self.network)


class _SuperLattice(_Lattice):
    """z = [stem/8, outs/8, btns/8, kernel index, depths] per column; the moves of :class:`_Lattice`."""

    def __init__(self, problem: SuperProblem) -> None:  # noqa: D107 - the base class's moves, own bounds
        self.sp, lim = problem, problem.space
        self.s = len(problem.strides)
        self.has_stem, self.offset, self.n = True, 1, 1 + 4 * self.s
        s = self.s
        lo, hi = np.ones(self.n, int), np.full(self.n, lim.max_channels // STEP)
        lo[0], hi[0] = lim.stem[0] // STEP, lim.stem[1] // STEP
        hi[1 + s:1 + 2 * s] = max(1, int(lim.max_channels * lim.ratio[1]) // STEP)
        lo[1 + 2 * s:1 + 3 * s], hi[1 + 2 * s:1 + 3 * s] = 0, len(lim.kernels) - 1
        hi[1 + 3 * s] = lim.first_depth
        hi[2 + 3 * s:] = lim.max_depth
        self.lo, self.hi = lo, hi
        self.kernels = lim.kernels
        self.moves = self._moves()
        self.exchanges, self.exchange_mask = self._exchanges()

    def network(self, z: np.ndarray) -> Network:
        p, s = self.sp, self.s
        kernels = self.sp.space.kernels
        blocks = tuple(SuperBlock(p.strides[i], int(z[1 + i]) * STEP, int(z[1 + s + i]) * STEP,
                                  kernels[int(z[1 + 2 * s + i])], int(z[1 + 3 * s + i])) for i in range(s))
        return Network(p.kind, p.resolution, int(z[0]) * STEP, blocks, p.head, p.classes)

    def assess(self, z: np.ndarray):  # type: ignore[override]
        p, s, lim = self.sp, self.s, self.sp.space
        ch = z[:1 + 2 * s].astype(float) * STEP
        outs, btns = ch[1:1 + s], ch[1 + s:1 + 2 * s]
        kernels = np.asarray(lim.kernels, float)[z[1 + 2 * s:1 + 3 * s]]
        depths = z[1 + 3 * s:].astype(float)
        t = terms(p.kind, p.resolution, p.strides, p.head, ch[0], list(outs), list(btns), list(kernels),
                  list(depths), p.classes)
        f = superblock_figures(p.kind, t, p.convention, p.alphas, p.beta)
        viol = np.maximum(0.0, f.budget_flops / p.flops - 1)
        if p.params is not None:
            viol += np.maximum(0.0, f.budget_params / p.params - 1)
        viol += np.maximum(0.0, f.log_rhos - math.log(p.rho)).sum(axis=0)
        if lim.non_decreasing:
            chain = np.vstack([ch[0], outs])
            viol += np.maximum(0.0, -np.diff(chain, axis=0) / chain[1:]).sum(axis=0)
        viol += (np.maximum(0.0, lim.ratio[0] * outs - btns) / outs
                 + np.maximum(0.0, btns - lim.ratio[1] * outs) / outs).sum(axis=0)
        return f, viol

    def design(self, z: np.ndarray):  # type: ignore[override]
        return self.network(z)

    def starts(self, keep: int = 4) -> list[np.ndarray]:
        """The ``keep`` best of a scan: widths growing by ``g`` per strided super-block, inner widths at a
        ratio, every kernel, a few depth profiles; each scaled as a whole to the largest feasible size."""
        p, s, lim = self.sp, self.s, self.sp.space
        growth_steps = np.cumsum([1 if st == 2 else 0.5 for st in p.strides]) - 1
        ratios = np.geomspace(max(lim.ratio[0], 1e-3), lim.ratio[1], 4)[[0, 1, 3]]
        first = min(lim.first_depth, 2)
        profiles = [[first] + [d] * (s - 1) for d in (2, 4, 8, 12)]
        columns = []
        for g in (1.4, 2.0):
            for ratio in ratios:
                for k in range(len(lim.kernels)):
                    for depths in profiles:
                        for base in np.geomspace(2, 160, 28):
                            outs = np.clip(np.rint(base * g ** growth_steps), 1, self.hi[1])
                            btns = np.clip(np.rint(outs * ratio), 1, self.hi[1 + s])
                            stem = np.clip(np.rint(min(outs[0], 32 / STEP)), self.lo[0], self.hi[0])
                            columns.append(np.concatenate([[stem], outs, btns, [k] * s, depths]))
        z = np.array(columns, int).T
        z = np.clip(z, self.lo[:, None], self.hi[:, None])
        f, viol = self.assess(z)
        value = np.where(viol == 0, f.objective, -np.inf)
        order = np.argsort(-value)[:keep]
        out = [z[:, j] for j in order if np.isfinite(value[j])]
        if not out:
            out = [z[:, int(viol.argmin())]]
        return out


class _SuperRelaxation(_Relaxation):
    """x = [log stem, log outs, log btns, log k², depths]: SLSQP on the smooth closed forms (SE width btn/4)."""

    def __init__(self, problem: SuperProblem) -> None:  # noqa: D107
        self.sp = problem
        self.s = len(problem.strides)
        self.has_stem, self.offset, self.n = True, 1, 1 + 4 * self.s
        self._key = None
        self._values = None

    def batch(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p, s, lim = self.sp, self.s, self.sp.space
        stem, u, v, kappa, d = x[0], x[1:1 + s], x[1 + s:1 + 2 * s], x[1 + 2 * s:1 + 3 * s], x[1 + 3 * s:]
        t = terms(p.kind, p.resolution, p.strides, p.head, np.exp(stem), list(np.exp(u)), list(np.exp(v)),
                  list(np.exp(kappa / 2)), list(d), p.classes)
        f = superblock_figures(p.kind, t, p.convention, p.alphas, p.beta, SMOOTH_VARIANCE)
        rows = [math.log(p.flops) - np.log(f.budget_flops)[None]]
        if p.params is not None:
            rows.append(math.log(p.params) - np.log(f.budget_params)[None])
        rows.append(math.log(p.rho) - f.log_rhos)
        rows += [v - u - math.log(lim.ratio[0]), math.log(lim.ratio[1]) - (v - u)]
        if lim.non_decreasing:
            rows.append(np.diff(np.vstack([stem, u]), axis=0))
        return f.objective, np.vstack(rows)

    def bounds(self) -> list[tuple[float, float]]:
        lim, s = self.sp.space, self.s
        lo, hi = math.log(STEP), math.log(lim.max_channels)
        depth = [(1.0, float(lim.first_depth))] + [(1.0, float(lim.max_depth))] * (s - 1)
        return ([(math.log(lim.stem[0]), math.log(lim.stem[1]))] + [(lo, hi)] * s
                + [(lo, math.log(lim.max_channels * lim.ratio[1]))] * s
                + [(math.log(lim.kernels[0] ** 2), math.log(lim.kernels[-1] ** 2))] * s + depth)

    def from_lattice(self, z: np.ndarray) -> np.ndarray:
        s = self.s
        kernels = np.asarray(self.sp.space.kernels, float)[z[1 + 2 * s:1 + 3 * s]]
        return np.concatenate([np.log(z[:1 + 2 * s] * STEP), np.log(kernels ** 2), z[1 + 3 * s:]]).astype(float)


def solve(problem: SuperProblem, seeds: tuple[Network, ...] = ()) -> Network:
    """The best integer network found; raises InfeasibleError."""
    check_layout(problem.kind, problem.resolution, problem.strides)
    lattice = _SuperLattice(problem)
    relaxation = _SuperRelaxation(problem)
    scanned = lattice.starts(keep=1)
    x, _, ok = relaxation.solve(relaxation.from_lattice(scanned[0]))
    starts = lattice.neighbourhood(x, keep=1) if ok else scanned
    for net in seeds:
        kernels = problem.space.kernels
        starts.append(np.array([net.stem // STEP] + [b.out // STEP for b in net.blocks]
                               + [b.btn // STEP for b in net.blocks]
                               + [kernels.index(b.kernel) if b.kernel in kernels else 0 for b in net.blocks]
                               + [b.depth for b in net.blocks], int))
    best: tuple[float, float, np.ndarray] | None = None
    for z0 in starts:
        z, value, bad = lattice.search(z0)
        if best is None or (bad, -value) < (best[1], -best[0]):
            best = (value, bad, z)
    assert best is not None
    if best[1] > 0:
        raise InfeasibleError(f"no {problem.kind} network with strides {list(problem.strides)} meets flops <= "
                              f"{si(problem.flops, digits=4)}"
                              + (f", params <= {si(problem.params, digits=4)}" if problem.params else "")
                              + f" and rho <= {problem.rho:g} under the {problem.convention.value} convention")
    return lattice.network(lattice.kick(best[2], best[0])[0])


def network_spec(net: Network) -> Spec:
    """The network as a validated Spec."""
    return parse_spec(yaml.safe_load(network_yaml(net)))


def design_superblocks(
    problem: SuperProblem, seeds: tuple[Network, ...] = (),
    latency: tuple[Callable[[Network], float], float] | None = None,
) -> SuperResult:
    """Solve, then confirm with the analyzer and the graph reading under the problem's convention.

    ``latency``: (a function giving a network's latency in seconds, the budget in seconds): the flop budget
    (the convention's count) is searched until it is met, by the same root find as the block spaces
    (:func:`.solver.latency_root_find`); ``problem.flops`` is where it starts and stays an upper bound.
    """
    start = time.perf_counter()
    notes: list[str] = []
    latency_s = None
    with single_blas_thread():
        if latency is None:
            net = solve(problem, seeds)
        else:
            def solve_at(flops: float, fitting: Sequence[Network]) -> tuple[Network, float]:
                return solve(replace(problem, flops=min(flops, problem.flops)), (*seeds, *fitting)), math.nan

            def objective(n: Network) -> float:
                f = superblock_figures(problem.kind, network_terms(n), problem.convention, problem.alphas, problem.beta)
                return float(f.objective)

            unit = "flop" if problem.convention is Convention.OFFICIAL else "MAC"
            net, _, latency_s = latency_root_find(problem.flops, solve_at, latency[0], objective, latency[1], notes,
                                                  unit)
    graph = load_graph(parse_spec(yaml.safe_load(network_yaml(net))))
    totals = analyze_graph(graph).totals
    s = score_graph(graph, problem.alphas, problem.beta, problem.convention)
    if problem.convention is Convention.OFFICIAL:
        flops, params = official_budgets(graph)
    else:
        flops, params = float(totals.macs), float(totals.params)
    if not (flops <= problem.flops and (problem.params is None or params <= problem.params) and s.rho <= problem.rho):
        raise RuntimeError(f"the graph disagrees with the closed forms for {net}: flops {flops}, params {params}, "
                           f"rho {s.rho:.4f}")
    return SuperResult(net, s, flops, params, totals.macs, totals.params, time.perf_counter() - start, notes,
                       latency_s)


def check_problem(problem: SuperProblem) -> None:
    """DesignError for inconsistent settings."""
    if problem.head is not None and problem.head < 1:
        raise DesignError(f"head conv channels must be positive, got {problem.head}")
