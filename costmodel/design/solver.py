"""The designer: maximise DeepMAD's objective under MAC, parameter and effectiveness budgets.

Two phases (docs/designer.md explains the choices):

1. **Relaxation** (:func:`relax`): log-channels, log-kernel-areas and depths are continuous; objective and
   constraints are the closed forms of :mod:`.space` (smooth), solved by SLSQP from a few starting points.
2. **Integer phase** (:func:`integer_search`): channels in multiples of 8, kernels in {3, 5, 7}, whole
   depths. A discretised neighbourhood of the relaxed optimum (depths rounded down or up × the two nearest
   kernels, channels scaled to fit) is enumerated; the best points start a bounded local search over the
   integer lattice that moves to the best neighbour (one or two coordinates stepped, or a depth/kernel
   change with the channels rescaled: a few thousand neighbours, scored at once with the vectorized closed
   forms) until none is better; infeasible points first descend the constraint violation. The final
   optimum is kicked (one kernel changed) and searched again while that helps.

The result is then built as a spec and run through costmodel's analyzer, which must confirm the MACs,
params and ρ (:func:`design`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
import yaml
from scipy.optimize import minimize

from ..analysis import analyze_graph
from ..graph import load_graph
from ..spec import Spec, parse_spec
from ..units import si
from .entropy import DEFAULT_BETA, DesignError, Score, default_alphas, score_graph
from .space import (
    CHANNEL_STEP,
    CLASSES,
    KERNELS,
    MID_RATIO,
    Design,
    DesignTerms,
    design_terms,
    minimal_design,
    spec_yaml,
    stage_sides,
)

MAX_CHANNELS = 4096
SMOOTH_VARIANCE = 1e-4  # keeps sqrt(variance) differentiable at equal depths in the relaxation


class InfeasibleError(DesignError):
    """No design of the space meets the budgets; the message names the constraint that cannot be met."""


@dataclass(frozen=True)
class Budget:
    """What a design may cost. ``macs``: multiply-accumulates per image as costmodel's ``macs`` (timm's
    "GMACs"); ``params``: learnable parameters (None: unbounded); ``rho``: the effectiveness bound ρ0."""

    macs: float
    params: float | None = None
    rho: float = 0.3


@dataclass(frozen=True)
class Problem:
    """A design problem: the space, the budgets and the objective's weights."""

    family: str
    budget: Budget
    resolution: int = 224  # input side, pixels
    stages: int = 4  # block stages, each halving the resolution
    se: bool = False  # mbconv: squeeze-excite
    alphas: tuple[float, ...] | None = None  # per entropy stage; default [1, ..., 1, 8]
    beta: float = DEFAULT_BETA
    max_first_depth: int = 3  # blocks in the first block stage
    max_depth: int = 30  # blocks in any other stage
    classes: int = CLASSES
    mid_ratio: tuple[float, float] | None = None  # m/c bounds; default MID_RATIO[family]

    @property
    def ratio(self) -> tuple[float, float]:
        """The bounds of inner to output channels (m/c) in force."""
        return self.mid_ratio or MID_RATIO[self.family]

    @property
    def has_stem(self) -> bool:
        """Whether the stem's width is a variable (all spaces but ConvNeXt, whose stem is stage 1's width)."""
        return self.family != "convnext"

    @property
    def offset(self) -> int:
        """Index of the first stage variable in the variable vector (after the stem's, if any)."""
        return 1 if self.has_stem else 0

    @property
    def n_vars(self) -> int:
        """Length of the variable vector: [stem], widths, mids, kernels, depths."""
        return self.offset + 4 * self.stages

    @property
    def entropy_stages(self) -> int:
        """Stages of the entropy: the stem is its own stage except in ConvNeXt (same resolution as stage 1)."""
        return self.stages if self.family == "convnext" else self.stages + 1

    def weights(self) -> np.ndarray:
        """The α of each entropy stage."""
        alphas = self.alphas or default_alphas(self.entropy_stages)
        if len(alphas) != self.entropy_stages:
            raise DesignError(f"{len(alphas)} stage weights (--alpha) for {self.entropy_stages} stages")
        return np.asarray(alphas, float)


@dataclass(frozen=True)
class Result:
    """A solved design: the integer network and what the analyzer and the entropy say about it."""

    design: Design
    score: Score  # from the analyzer's graph
    macs: int  # as the analyzer counts them
    params: int
    relaxed_objective: float  # the continuous optimum (an upper bound only up to the rounding)
    seconds: float  # solve time, wall clock
    latency_s: float | None = None  # per batch, when a latency budget was given
    notes: list[str] = field(default_factory=list)

    @property
    def spec_text(self) -> str:
        """The design as a YAML spec."""
        return spec_yaml(self.design)


# -- the closed-form objective --------------------------------------------------------------------------------

@dataclass
class DesignFigures:
    """Objective and constraint figures of one or many designs (arrays over candidates)."""

    objective: np.ndarray  # Σ α_i H_i − β exp(std of depths), nats
    entropy: np.ndarray  # Σ α_i H_i
    log_rhos: np.ndarray  # log ρ_i, shape (stages, candidates)
    macs: np.ndarray
    params: np.ndarray


def design_figures(problem: Problem, terms: DesignTerms, depths: Sequence, smooth: float = 0.0) -> DesignFigures:
    """DeepMAD's objective and ρ from closed-form terms (``smooth`` > 0 only in the relaxation)."""
    alphas = problem.weights()
    cum_logs = np.cumsum(np.array(np.broadcast_arrays(*terms.log_widths)), axis=0)
    cum_layers = np.cumsum(np.array(np.broadcast_arrays(*terms.layers)), axis=0)
    log_sizes = np.log(np.array([a * c for a, c in zip(terms.areas, np.broadcast_arrays(*terms.channels),
                                                         strict=True)]))
    entropies = log_sizes * cum_logs
    entropy = np.tensordot(alphas, entropies, axes=1)
    later = np.array(np.broadcast_arrays(*depths[1:])) if len(depths) > 1 else None
    if later is None:
        penalty = problem.beta * np.ones_like(entropy)
    else:
        penalty = problem.beta * np.exp(np.sqrt(later.var(axis=0) + smooth))
    log_rhos = np.log(cum_layers) - cum_logs / cum_layers
    return DesignFigures(entropy - penalty, entropy, log_rhos, terms.macs, terms.params)


# -- phase 1: the relaxation ---------------------------------------------------------------------------------

class _Relaxation:
    """x = [log stem (not ConvNeXt), log widths, log mids, log k², depths]; batches are columns of X.

    Values and forward-difference derivatives come from one vectorized evaluation of x and its n
    perturbations, cached per x (SLSQP asks for them one by one).
    """

    STEP = 1e-7

    def __init__(self, problem: Problem) -> None:
        self.p = problem
        self.s, self.has_stem, self.offset, self.n = problem.stages, problem.has_stem, problem.offset, problem.n_vars
        self._key: bytes | None = None
        self._values: tuple[float, np.ndarray, np.ndarray, np.ndarray] | None = None
        low, high = problem.ratio
        self.log_ratio = (math.log(low), math.log(high))

    def split(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        s, o = self.s, self.offset
        u = x[o:o + s]
        stem = x[0] if self.has_stem else u[0]
        return stem, u, x[o + s:o + 2 * s], x[o + 2 * s:o + 3 * s], x[o + 3 * s:o + 4 * s]

    def batch(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Objective (N,) and constraints (m, N) of the columns of x; constraints are >= 0 when feasible."""
        stem, u, v, kappa, d = self.split(x)
        terms = design_terms(self.p.family, self.p.resolution, np.exp(stem), list(np.exp(u)), list(np.exp(v)),
                         list(np.exp(kappa / 2)), list(d), self.p.se, self.p.classes)
        f, b = design_figures(self.p, terms, list(d), SMOOTH_VARIANCE), self.p.budget
        rows = [math.log(b.macs) - np.log(f.macs)[None]]
        if b.params is not None:
            rows.append(math.log(b.params) - np.log(f.params)[None])
        rows.append(math.log(b.rho) - f.log_rhos)
        rows.append(np.diff(np.vstack([stem, u]) if self.has_stem else u, axis=0))
        rows += [np.diff(v, axis=0), v - u - self.log_ratio[0], self.log_ratio[1] - (v - u)]
        return f.objective, np.vstack(rows)

    def _at(self, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        key = x.tobytes()
        if self._key != key or self._values is None:
            points = x[:, None] + np.hstack([np.zeros((self.n, 1)), np.eye(self.n) * self.STEP])
            obj, cons = self.batch(points)
            self._key = key
            self._values = (float(obj[0]), (obj[1:] - obj[0]) / self.STEP, cons[:, 0],
                            (cons[:, 1:] - cons[:, :1]) / self.STEP)
        return self._values

    def bounds(self) -> list[tuple[float, float]]:
        lo, hi = math.log(CHANNEL_STEP), math.log(MAX_CHANNELS)
        mids_hi = math.log(MAX_CHANNELS * self.p.ratio[1])
        kappa = (math.log(KERNELS[0] ** 2), math.log(KERNELS[-1] ** 2))
        depth = [(1.0, float(self.p.max_first_depth))] + [(1.0, float(self.p.max_depth))] * (self.s - 1)
        return ([(lo, hi)] * (self.offset + self.s) + [(lo, mids_hi)] * self.s + [kappa] * self.s + depth)

    def start(self, depths: Sequence[float], kernel: int) -> np.ndarray:
        """Channels doubling per stage, scaled to half the budgets (one vectorized scan); mids at the middle
        ratio."""
        growth = np.log(2.0) * np.arange(self.s)
        bases = np.linspace(math.log(CHANNEL_STEP), math.log(MAX_CHANNELS), 200)
        u = np.minimum(bases[None, :] + growth[:, None], math.log(MAX_CHANNELS))
        stem = [np.minimum(u[0], math.log(32))] if self.has_stem else []
        kappa = np.full((self.s, bases.size), math.log(kernel ** 2))
        x = np.vstack(stem + [u, u + sum(self.log_ratio) / 2, kappa,
                              np.repeat(np.asarray(depths, float)[:, None], bases.size, axis=1)])
        _, cons = self.batch(x)
        budget_rows = 1 if self.p.budget.params is None else 2
        fits = (cons[:budget_rows] >= math.log(2)).all(axis=0)
        return x[:, int(np.flatnonzero(fits)[-1]) if fits.any() else 0]

    def solve(self, x0: np.ndarray) -> tuple[np.ndarray, float, bool]:
        """SLSQP from x0: (x, objective, feasible)."""
        scale = max(1.0, abs(self._at(x0)[0]))
        result = minimize(lambda x: -self._at(x)[0] / scale, x0, jac=lambda x: -self._at(x)[1] / scale,
                          method="SLSQP", bounds=self.bounds(),
                          constraints=[{"type": "ineq", "fun": lambda x: self._at(x)[2],
                                        "jac": lambda x: self._at(x)[3]}],
                          options={"maxiter": 200, "ftol": 1e-9})
        x = np.clip(result.x, *np.array(self.bounds()).T)
        value, _, cons, _ = self._at(x)
        return x, value, bool(cons.min() >= -1e-6)


def relax(problem: Problem, warm: np.ndarray | None = None) -> list[tuple[float, np.ndarray]]:
    """Continuous optima from a few starts, best first: (objective, x). Infeasible ones are dropped.
    ``warm``: a single start instead (a nearby problem's optimum), falling back to the usual starts when it
    leads nowhere feasible."""
    r = _Relaxation(problem)
    s = problem.stages
    if warm is not None:
        x, value, ok = r.solve(np.clip(warm, *np.array(r.bounds()).T))
        if ok:
            return [(value, x)]
    starts = []
    for first, rest in ((1, 1), (2, 3), (problem.max_first_depth, 6)):
        for kernel in (3, 5):
            starts.append(r.start([float(first)] + [float(rest)] * (s - 1), kernel))
    found = []
    for x0 in starts:
        x, value, ok = r.solve(x0)
        if ok:
            found.append((value, x))
    found.sort(key=lambda item: -item[0])
    return found


# -- phase 2: the integer search -------------------------------------------------------------------------------

class _Lattice:
    """Integer points z = [stem/8 (not ConvNeXt), widths/8, mids/8, kernel index, depths], one per column."""

    FACTORS = (0.7, 0.8, 0.9, 0.95, 1.05, 1.1, 1.25, 1.4)
    kernels: tuple[int, ...] = KERNELS

    def __init__(self, problem: Problem) -> None:
        self.p = problem
        self.s, self.has_stem, self.offset, self.n = problem.stages, problem.has_stem, problem.offset, problem.n_vars
        s, o = self.s, self.offset
        lo = np.ones(self.n, int)
        hi = np.full(self.n, MAX_CHANNELS // CHANNEL_STEP)
        hi[o + s:o + 2 * s] = int(MAX_CHANNELS * problem.ratio[1]) // CHANNEL_STEP
        lo[o + 2 * s:o + 3 * s], hi[o + 2 * s:o + 3 * s] = 0, len(KERNELS) - 1
        hi[o + 3 * s] = problem.max_first_depth
        hi[o + 3 * s + 1:] = problem.max_depth
        self.lo, self.hi = lo, hi
        self.moves = self._moves()
        self.exchanges, self.exchange_mask = self._exchanges()

    def _moves(self) -> np.ndarray:
        """Single steps (±1 everywhere, ±4 on channels) and every pair of single steps on two coordinates."""
        singles = []
        channel_coords = range(self.offset + 2 * self.s)
        for j in range(self.n):
            for step in (1, 4) if j in channel_coords else (1,):
                for sign in (1, -1):
                    move = np.zeros(self.n, int)
                    move[j] = sign * step
                    singles.append(move)
        one = np.array(singles).T
        coord = np.abs(one).argmax(axis=0)
        a, b = np.triu_indices(one.shape[1], 1)
        keep = coord[a] != coord[b]
        return np.concatenate([one, one[:, a[keep]] + one[:, b[keep]]], axis=1)

    def _exchanges(self) -> tuple[np.ndarray, np.ndarray]:
        """Discrete moves (a kernel or depth ±1, a block moved between stages, or none) and, for each, the
        channel coordinates of the stages it touches: these moves are tried with rescaled channels."""
        s, o = self.s, self.offset
        moves, stages = [np.zeros(self.n, int)], [list(range(s))]
        for i in range(s):
            for j in (o + 2 * s + i, o + 3 * s + i):
                for sign in (1, -1):
                    move = np.zeros(self.n, int)
                    move[j] = sign
                    moves.append(move)
                    stages.append([i])
        for i in range(s):
            for k in range(s):
                if i != k:
                    move = np.zeros(self.n, int)
                    move[o + 3 * s + i], move[o + 3 * s + k] = 1, -1
                    moves.append(move)
                    stages.append([i, k])
        mask = np.zeros((o + 2 * s, len(moves)), bool)
        for column, touched in enumerate(stages):
            for i in touched:
                mask[[o + i, o + s + i], column] = True
        return np.array(moves).T, mask

    def neighbours(self, z: np.ndarray) -> np.ndarray:
        """Columns: z plus every lattice move, and every discrete move with channels rescaled (all of them,
        or those of the stages it touches) by a few factors — a deeper stage must get narrower."""
        channels = self.offset + 2 * self.s
        base = z[:, None] + self.exchanges
        out = [z[:, None] + self.moves]
        for factor in self.FACTORS:
            scaled = np.maximum(1, np.rint(base[:channels] * factor)).astype(int)
            out.append(np.vstack([scaled, base[channels:]]))
            out.append(np.vstack([np.where(self.exchange_mask, scaled, base[:channels]), base[channels:]]))
        cand = np.hstack(out)
        return cand[:, ((cand >= self.lo[:, None]) & (cand <= self.hi[:, None])).all(axis=0)]

    def design(self, z: np.ndarray) -> Design:
        s, o = self.s, self.offset
        w = tuple(int(v) * CHANNEL_STEP for v in z[o:o + s])
        return Design(self.p.family, self.p.resolution, int(z[0]) * CHANNEL_STEP if self.has_stem else w[0], w,
                      tuple(int(v) * CHANNEL_STEP for v in z[o + s:o + 2 * s]),
                      tuple(KERNELS[int(v)] for v in z[o + 2 * s:o + 3 * s]),
                      tuple(int(v) for v in z[o + 3 * s:o + 4 * s]), self.p.se, self.p.classes)

    def from_design(self, d: Design) -> np.ndarray:
        stem = [d.stem // CHANNEL_STEP] if self.has_stem else []
        return np.array(stem + [w // CHANNEL_STEP for w in d.widths] + [m // CHANNEL_STEP for m in d.mids]
                        + [KERNELS.index(k) for k in d.kernels] + list(d.depths), int)

    def assess(self, z: np.ndarray) -> tuple[DesignFigures, np.ndarray]:
        """Figures and total constraint violation (0: feasible) of the columns of z."""
        s, o, b = self.s, self.offset, self.p.budget
        ch = z[:o + 2 * s].astype(float) * CHANNEL_STEP
        u, v = ch[o:o + s], ch[o + s:o + 2 * s]
        stem = ch[0] if self.has_stem else u[0]
        kernels = np.asarray(KERNELS, float)[z[o + 2 * s:o + 3 * s]]
        depths = list(z[o + 3 * s:].astype(float))
        terms = design_terms(self.p.family, self.p.resolution, stem, list(u), list(v), list(kernels), depths,
                             self.p.se, self.p.classes)
        f = design_figures(self.p, terms, depths)
        viol = np.maximum(0.0, f.macs / b.macs - 1)
        if b.params is not None:
            viol += np.maximum(0.0, f.params / b.params - 1)
        viol += np.maximum(0.0, f.log_rhos - math.log(b.rho)).sum(axis=0)
        chain = np.vstack([stem, u]) if self.has_stem else u
        viol += np.maximum(0.0, -np.diff(chain, axis=0) / chain[1:]).sum(axis=0)
        viol += np.maximum(0.0, -np.diff(v, axis=0) / v[1:]).sum(axis=0)
        low, high = self.p.ratio
        viol += (np.maximum(0.0, low * u - v) / u + np.maximum(0.0, v - high * u) / u).sum(axis=0)
        return f, viol

    def search(self, z: np.ndarray, max_steps: int = 400) -> tuple[np.ndarray, float, float]:
        """Best-neighbour local search from z: (z, objective, violation)."""
        z = np.clip(z, self.lo, self.hi)
        f, viol = self.assess(z[:, None])
        value, bad = float(f.objective[0]), float(viol[0])
        for _ in range(max_steps):
            cand = self.neighbours(z)
            f, viol = self.assess(cand)
            if bad > 0:
                ok = viol == 0
                if ok.any():
                    best = int(np.flatnonzero(ok)[f.objective[ok].argmax()])
                else:
                    best = int(viol.argmin())
                    if viol[best] >= bad:
                        break
            else:
                ok = viol == 0
                if not ok.any() or f.objective[ok].max() <= value + 1e-9:
                    break
                best = int(np.flatnonzero(ok)[f.objective[ok].argmax()])
            z, value, bad = cand[:, best], float(f.objective[best]), float(viol[best])
        return z, value, bad

    def neighbourhood(self, x: np.ndarray, keep: int = 4) -> list[np.ndarray]:
        """Integer starts near a relaxed optimum x: its roundings (channels and depths down, and to nearest;
        the nearest kernels), then the ``keep`` best of every combination of depths rounded down or up and
        kernels among the two sizes nearest the relaxed one, the channels of each scaled together by the
        largest factor (of a grid) that keeps the design feasible."""
        s, o = self.s, self.offset
        channels = np.exp(x[:o + 2 * s]) / CHANNEL_STEP
        logs = np.log(np.asarray(self.kernels, float))
        kernel_options = [np.argsort(np.abs(logs - x[j] / 2))[:2] for j in range(o + 2 * s, o + 3 * s)]
        depths = x[o + 3 * s:]
        starts = [np.concatenate([np.maximum(1, rounding(channels)), [k[0] for k in kernel_options],
                                  np.maximum(1, rounding(depths))]).astype(int) for rounding in (np.floor, np.round)]
        depth_options = [np.unique(np.clip([math.floor(d), math.floor(d) + 1], self.lo[j], self.hi[j]))
                         for j, d in zip(range(o + 3 * s, o + 4 * s), depths, strict=True)]
        combos = np.array(np.meshgrid(*kernel_options, *depth_options, indexing="ij")).reshape(2 * s, -1)
        factors = np.geomspace(0.6, 1.15, 40)
        scaled = np.maximum(1, np.rint(channels[:, None] * factors[None, :])).astype(int)
        f, viol = self.assess(np.vstack([np.repeat(scaled, combos.shape[1], axis=1), np.tile(combos, factors.size)]))
        values = np.where(viol == 0, f.objective, -np.inf).reshape(factors.size, combos.shape[1])
        best_factor, best_value = values.argmax(axis=0), values.max(axis=0)
        for c in np.argsort(-best_value)[:keep]:
            if np.isfinite(best_value[c]):
                starts.append(np.concatenate([scaled[:, best_factor[c]], combos[:, c]]))
        return starts

    def kick(self, z: np.ndarray, value: float) -> tuple[np.ndarray, float]:
        """Iterated local search on a feasible local optimum: change one stage's kernel, search again, keep
        what improves, until nothing does."""
        s, o = self.s, self.offset
        improved = True
        while improved:
            improved = False
            for j in range(o + 2 * s, o + 3 * s):
                for k in range(len(self.kernels)):
                    if k != z[j]:
                        kicked = z.copy()
                        kicked[j] = k
                        z1, value1, bad1 = self.search(kicked)
                        if bad1 == 0 and value1 > value + 1e-9:
                            z, value, improved = z1, value1, True
        return z, value


def integer_search(problem: Problem, relaxed: Sequence[np.ndarray], seeds: Sequence[Design] = ()) -> Design:
    """The best integer design found from the relaxed optima and the seeds; raises InfeasibleError.

    Around each relaxed optimum, every combination of rounded depths (down or up) and kernels (the two
    sizes nearest the relaxed one) is scored with the channels scaled as a whole to the largest feasible
    multiple of 8 (one vectorized evaluation); the best few combinations, and the seeds, are polished by
    the lattice search. The smallest design of the space is the last-resort start.
    """
    lattice = _Lattice(problem)
    starts = [z for x in relaxed for z in lattice.neighbourhood(x)]
    starts += [lattice.from_design(d) for d in seeds if d.family == problem.family and d.stages == problem.stages]
    best: tuple[float, float, np.ndarray] | None = None
    for z0 in starts:
        z, value, bad = lattice.search(z0)
        if best is None or (bad, -value) < (best[1], -best[0]):
            best = (value, bad, z)
    if best is None or best[1] > 0:
        small = lattice.from_design(minimal_design(problem.family, problem.resolution, problem.stages, problem.se,
                                                   problem.ratio[0]))
        z, value, bad = lattice.search(small)
        if best is None or (bad, -value) < (best[1], -best[0]):
            best = (value, bad, z)
    if best[1] > 0:
        relaxation = "" if relaxed else "; SLSQP found no feasible point of the continuous relaxation either"
        raise InfeasibleError(_explain(problem, lattice.design(best[2])) + relaxation)
    return lattice.design(lattice.kick(best[2], best[0])[0])


# -- checks and messages -----------------------------------------------------------------------------------------

def _explain(problem: Problem, closest: Design) -> str:
    """Which constraints the least-violating design found still breaks, and by how much."""
    b = problem.budget
    terms = design_terms(closest.family, closest.resolution, closest.stem, closest.widths, closest.mids,
                     closest.kernels, closest.depths, closest.se, closest.classes)
    f = design_figures(problem, terms, list(closest.depths))
    rho = float(np.exp(f.log_rhos.max()))
    broken, found = [], []
    if f.macs > b.macs:
        broken.append(f"MACs <= {si(b.macs, digits=4)}")
        found.append(f"needs {si(float(f.macs), digits=4)} MACs")
    if b.params is not None and f.params > b.params:
        broken.append(f"params <= {si(b.params, digits=4)}")
        found.append(f"has {si(float(f.params), digits=4)} params")
    if rho > b.rho:
        broken.append(f"effectiveness rho <= {b.rho:g}")
        found.append(f"reaches rho {rho:.3g}")
    others = [c for c, on in ((f"MACs <= {si(b.macs, digits=4)}", f.macs <= b.macs),
                              (f"params <= {si(b.params or 0, digits=4)}",
                               b.params is not None and f.params <= b.params),
                              (f"rho <= {b.rho:g}", rho <= b.rho)) if on]
    hint = (" (rho = depth / geometric-mean width falls only with fewer, wider layers, which cost MACs and params)"
            if rho > b.rho else "")
    return (f"no {problem.family} design with {problem.stages} stages at {problem.resolution} px meets "
            f"{' and '.join(broken)}" + (f" together with {' and '.join(others)}" if others else "")
            + f": the closest design found {' and '.join(found)}{hint}")


def check_budget_floor(problem: Problem) -> None:
    """Raise InfeasibleError when even the smallest design of the space exceeds the MAC or params budget."""
    small = minimal_design(problem.family, problem.resolution, problem.stages, problem.se, problem.ratio[0])
    terms = design_terms(small.family, small.resolution, small.stem, small.widths, small.mids, small.kernels,
                     small.depths, small.se, small.classes)
    b = problem.budget
    where = (f"the smallest {problem.family} network with {problem.stages} stages at {problem.resolution} px "
             f"(1 block of {CHANNEL_STEP} channels per stage, 3x3 kernels, {problem.classes} classes)")
    if float(terms.macs) > b.macs:
        raise InfeasibleError(f"the MACs budget {si(b.macs, digits=4)} cannot be met: {where} needs "
                              f"{si(float(terms.macs), digits=4)} MACs")
    if b.params is not None and float(terms.params) > b.params:
        raise InfeasibleError(f"the params budget {si(b.params, digits=4)} cannot be met: {where} has "
                              f"{si(float(terms.params), digits=4)} params")


def design_spec(design: Design) -> Spec:
    """The design as a validated Spec."""
    return parse_spec(yaml.safe_load(spec_yaml(design)))


LatencyFn = Callable[[Design], float]
D = TypeVar("D")  # a design of any space
LATENCY_ROUNDS = 10


def _solve(
    problem: Problem, seeds: Sequence[Design], warm: np.ndarray | None = None,
) -> tuple[Design, float, np.ndarray | None]:
    """Relaxation then integer search: (integer design, relaxed objective, relaxed optimum x or None)."""
    relaxed = relax(problem, warm)
    found = integer_search(problem, [x for _, x in relaxed[:1]], seeds)
    return (found, relaxed[0][0], relaxed[0][1]) if relaxed else (found, math.nan, None)


def latency_root_find(
    budget: float, solve_at: Callable[[float, Sequence[D]], tuple[D, float]], latency: Callable[[D], float],
    objective: Callable[[D], float], budget_s: float, notes: list[str], unit: str = "MAC",
) -> tuple[D, float, float]:
    """The best design whose latency meets ``budget_s``: a one-dimensional root find on the compute budget.

    ``solve_at(compute budget, designs already within the latency budget)`` gives (design, relaxed objective);
    ``budget`` is the first compute budget tried. Roofline latency is not smooth in the design variables (it is a
    sum of per-layer maxima), but the latency of the *optimal design* as a function of the compute budget is close
    to a power law. Each step solves at a budget, predicts the latency with the analyzer's roofline model, and
    takes a secant step in log-log space (through the two points nearest the target; slope 1 at first) towards
    99 % of the latency budget, kept inside the bracket of the largest fitting and the smallest failing compute
    budget (never closer than 30 % of the bracket to its ends, so it shrinks geometrically even where the latency
    is not monotone in the budget). It stops when that bracket is within 3 %: three to seven solves. Returns
    (design, relaxed objective, latency in seconds)."""
    macs, fits, fails = budget, None, None
    best: tuple[D, float, float] | None = None
    points: list[tuple[float, float]] = []  # (log compute budget, log latency)
    target = math.log(budget_s * 0.99)
    fitting: list[D] = []  # designs within the latency budget: feasible for any larger compute budget
    for _ in range(LATENCY_ROUNDS):
        try:
            found, relaxed_value = solve_at(macs, fitting[-1:])
        except InfeasibleError as exc:  # the compute budget the search reached has no design: the latency's fault
            if best is not None:
                break
            slowest = f"the smallest design tried takes {math.exp(min(points)[1]) * 1e3:.4g} ms; " if points else ""
            raise InfeasibleError(f"the latency budget {budget_s * 1e3:.4g} ms cannot be met: {slowest}below it, "
                                  f"at {si(macs, digits=4)} {unit}s, {exc}") from None
        seconds = latency(found)
        notes.append(f"{unit} budget {si(macs, digits=4)}: latency {seconds * 1e3:.4g} ms")
        points.append((math.log(macs), math.log(seconds)))
        if seconds <= budget_s:
            if best is None or objective(found) > objective(best[0]):
                best = (found, relaxed_value, seconds)
            fits = macs if fits is None else max(fits, macs)
            fitting.append(found)
        else:
            fails = macs if fails is None else min(fails, macs)
        if fits is not None and (fails is None or fails / fits < 1.03):
            break
        near = sorted(points, key=lambda pt: abs(pt[1] - target))[:2]
        slope = 1.0
        if len(near) == 2 and abs(near[0][0] - near[1][0]) > 1e-9:
            slope = min(3.0, max(0.2, (near[0][1] - near[1][1]) / (near[0][0] - near[1][0])))
        guess = near[0][0] + (target - near[0][1]) / slope
        if fits is not None and fails is not None:
            lo, hi = math.log(fits), math.log(fails)
            guess = min(max(guess, lo + 0.3 * (hi - lo)), hi - 0.3 * (hi - lo))
        elif fails is not None:
            guess = min(guess, math.log(fails) - 0.01)
        macs = math.exp(guess)
    if best is None:
        raise InfeasibleError(f"the latency budget {budget_s * 1e3:.4g} ms cannot be met: the best design within "
                              f"{si(macs, digits=4)} {unit}s still takes {seconds * 1e3:.4g} ms")
    return best


def _within_latency(
    problem: Problem, seeds: Sequence[Design], latency: LatencyFn, budget_s: float, notes: list[str],
) -> tuple[Design, float, float]:
    """:func:`latency_root_find` on the MAC budget, each solve after the first warm-started from the previous
    relaxed optimum (channels scaled by the square root of the MAC-budget ratio: MACs grow about as their square)."""
    previous: list[tuple[float, np.ndarray]] = []  # (MAC budget, relaxed optimum) of the last solve
    channels = problem.offset + 2 * problem.stages

    def solve_at(macs: float, fitting: Sequence[Design]) -> tuple[Design, float]:
        current = replace(problem, budget=replace(problem.budget, macs=macs))
        check_budget_floor(current)
        start = None
        if previous:
            start = previous[-1][1].copy()
            start[:channels] += 0.5 * math.log(macs / previous[-1][0])
        found, relaxed_value, x = _solve(current, [*seeds, *fitting], start)
        if x is not None:
            previous.append((macs, x))
        return found, relaxed_value

    return latency_root_find(problem.budget.macs, solve_at, latency, lambda d: score_of(problem, d), budget_s, notes)


def score_of(problem: Problem, candidate: Design) -> float:
    """The closed-form objective of one integer design."""
    terms = design_terms(candidate.family, candidate.resolution, candidate.stem, candidate.widths, candidate.mids,
                         candidate.kernels, candidate.depths, candidate.se, candidate.classes)
    return float(design_figures(problem, terms, list(candidate.depths)).objective)


def single_blas_thread() -> AbstractContextManager[object]:
    """BLAS/OpenMP limited to one thread: SLSQP's small dense solves are slower threaded, and several times
    slower on a loaded machine (benchmarks/bench_design.py measures the ratio)."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    return threadpool_limits(limits=1)


def design(
    problem: Problem, seeds: Sequence[Design] = (), latency: tuple[LatencyFn, float] | None = None,
) -> Result:
    """Solve ``problem``: relaxation, integer search, then the analyzer's confirmation.

    ``seeds``: integer designs to start the local search from as well (a sweep passes the design of the
    previous, tighter budget, so that a looser budget can never score lower). ``latency``: (a function
    giving a design's latency in seconds, the budget in seconds), checked on integer designs, the MAC
    budget searched until it is met (:func:`_within_latency`).
    Raises DesignError for an impossible layout and InfeasibleError when no design meets the budgets.
    """
    start = time.perf_counter()
    stage_sides(problem.family, problem.resolution, problem.stages)
    problem.weights()
    check_budget_floor(problem)
    notes: list[str] = []
    latency_s = None
    with single_blas_thread():
        if latency is None:
            best, relaxed_value, _ = _solve(problem, seeds)
        else:
            best, relaxed_value, latency_s = _within_latency(problem, seeds, latency[0], latency[1], notes)
    spec = design_spec(best)
    graph = load_graph(spec)
    analysis = analyze_graph(graph)
    graph_score = score_graph(graph, problem.alphas, problem.beta)
    b = problem.budget
    if not (analysis.totals.macs <= b.macs and (b.params is None or analysis.totals.params <= b.params)
            and graph_score.rho <= b.rho):  # the closed forms are exact (tests/test_design.py): a regression guard
        raise RuntimeError(f"the analyzer disagrees with the closed forms for {best}: MACs {analysis.totals.macs}, "
                           f"params {analysis.totals.params}, rho {graph_score.rho:.4f}")
    return Result(best, graph_score, analysis.totals.macs, analysis.totals.params, relaxed_value,
                  time.perf_counter() - start, latency_s, notes)


def solve_budgets(problem: Problem, budgets: Sequence[Budget]) -> list[Result | InfeasibleError]:
    """Solve ``problem`` for each budget, from the smallest MAC budget up, each seeded with the design of
    the one before (feasible for a looser budget, so the frontier never goes down). In the given order."""
    order = sorted(range(len(budgets)), key=lambda i: (budgets[i].macs, budgets[i].params or math.inf))
    out: dict[int, Result | InfeasibleError] = {}
    seeds: list[Design] = []
    for i in order:
        try:
            result = design(replace(problem, budget=budgets[i]), seeds=seeds[-1:])
        except InfeasibleError as exc:
            out[i] = exc
            continue
        out[i] = result
        seeds.append(result.design)
    return [out[i] for i in range(len(budgets))]


def roofline_latency(
    hw: str, batch: int, dtype: str | None = None, to_spec: Callable[[Any], Spec] = design_spec,
) -> Callable[[Any], float]:
    """A design's latency (seconds per batch of ``batch`` images) on hardware ``hw`` (a profile name, alias or
    YAML path) by costmodel's roofline model (:func:`costmodel.latency.estimate`, unfused). ``to_spec`` writes
    a design as a spec (super-block networks: :func:`.sbsolve.network_spec`)."""
    from ..hardware import load_profile
    from ..latency import estimate

    profile = load_profile(hw)

    def latency(candidate: Any) -> float:
        return estimate(load_graph(to_spec(candidate), batch=batch), profile, dtype=dtype).summary.latency_s

    return latency
