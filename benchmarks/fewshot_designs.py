"""Few-shot calibration designs on this machine's CPU: which parameters 10 measured models can determine.

Run: python benchmarks/fewshot_designs.py [--draws 20] [--seed0 100] [--no-calibrate] [--designs NAME ...]
                                         [--fixtures FILE:THREADS ...]

For every design below, over random draws of 10 of the 38 zoo models of a CPU fixture: fit on the 10, then the
median |error| in-sample, leave-one-out over the 10 (what ``costmodel calibrate`` prints), on the other 28, and the
share of the other 28 within +-10 % and +-25 %. Each fixture is scored on each model's fastest pass, with the
shipped profile ``epyc_zen3_vm_b`` at the fixture's thread count. Nothing here changes a shipped constant: the
designs re-price the profile's own terms.

Designs. Every kernel's latency at the profile's factors splits into a compute term, a memory term (roofline
max of the two, plus layout copies at the memory rate) and a per-call term (launch overhead plus the CPU's fixed
costs: op-class dispatch, depthwise and per-element op costs, fork/join). A design multiplies some of them:
``s`` the whole latency (the device's speed: clock, contention on a shared host: what drifts between sessions on
this VM), ``c`` every compute term, ``m`` every memory term, ``d`` every per-call term, and per efficiency class
compute factors; every multiplier except ``s`` carries a prior ``w x log(multiplier)`` toward the profile.
``calibrate`` is costmodel calibrate's own fit (costmodel.calibration.fit.fit: on this CPU the device and cost scales,
prior 0.3, the same as ``s+d w0.3``), ``calibrate per-class`` its fit until 3 December (per-class efficiencies, the
memory efficiency and the launch overhead, prior 0.1).
``auto`` picks, per draw, the design with the smallest leave-one-out error over the 10 (model selection inside the
10, no look at the others). ``dense`` is one compute multiplier for dense convs, GEMMs and attention; a design
named ``huber`` minimizes a Huber loss of the log ratios (scipy's ``loss="huber"``, ``f_scale`` 0.1: rows off by
more than about 10 % count linearly, not squared) instead of their squares.

Besides the random draws, two fixed sets of 10 chosen from the specs and the shipped profile alone (no
measurement, no residual): ``D-optimal``, greedily the models that make the fit's normal matrix largest
(det(X'X), X the rows' shares of predicted latency in dense compute, depthwise, streaming kernels, memory-bound
time and per-call costs, and a 1 for the device scale), and ``medoids``, one model per cluster of those shares
(k-medoids, k = 10): a set that spans the op classes. ``LOO 38`` is leave-one-model-out over all the models (the
structural ceiling: what a fit with every other model reaches).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from costmodel.calibration.fit import (
    KEYS,
    LAYOUT_INDEX,
    OVERHEAD,
    PARAMETERS,
    Basis,
    bases_of,
    factors,
    fit,
    pinned,
    predict,
    with_parameters,
)
from costmodel.hardware import HardwareProfile
from costmodel.latency.roofline import timeline
from costmodel.vocab import EfficiencyClass

sys.path.insert(0, str(Path(__file__).resolve().parent))
import validate_latency as V  # noqa: E402

FEW = 10
CLASS_GROUPS = {  # per-class compute multipliers of the "classes" designs
    "conv": (EfficiencyClass.CONV,), "gemm": (EfficiencyClass.GEMM, EfficiencyClass.ATTENTION),
    "depthwise": (EfficiencyClass.DEPTHWISE,),
    "dense": (EfficiencyClass.CONV, EfficiencyClass.GEMM, EfficiencyClass.ATTENTION),
    "stream": (EfficiencyClass.ELEMENTWISE, EfficiencyClass.NORM, EfficiencyClass.REDUCTION,
               EfficiencyClass.DATA_MOVEMENT),
}


@dataclass(frozen=True)
class Terms:
    """One model's kernels priced at the profile's factors: compute seconds per efficiency key, memory seconds
    (layout copies included, added after the max), per-call seconds, and the host's per-kernel seconds."""

    compute: np.ndarray  # [kernels, keys]
    memory: np.ndarray  # [kernels]
    layout: np.ndarray  # [kernels]
    call: np.ndarray  # [kernels]
    host_s: float

    def latency(self, s: float, compute: np.ndarray, m: float, d: float) -> float:
        busy = np.maximum(self.compute @ compute, self.memory * m) + self.layout * m
        return s * float(timeline(busy, self.call * d, self.host_s * d).sum())


def terms(b: Basis, profile: HardwareProfile) -> Terms:
    ceff, meff, overhead = factors(pinned(profile))
    layout = np.zeros(b.kernels) if b.layout is None else b.layout / meff[LAYOUT_INDEX]
    fixed = np.zeros(b.kernels) if b.fixed is None else b.fixed
    return Terms(b.compute / ceff, b.memory / meff[b.head], layout, overhead + fixed, b.host_s)


@dataclass(frozen=True)
class Design:
    name: str
    params: tuple[str, ...]  # from s, c, m, d and the CLASS_GROUPS names
    prior: float = 0.1
    loss: str = "linear"  # scipy least_squares' loss on the log ratios: "linear" (squares) or "huber"

    def unpack(self, x: np.ndarray) -> tuple[float, np.ndarray, float, float]:
        v = dict(zip(self.params, np.exp(x), strict=True))
        compute = np.full(len(KEYS), v.get("c", 1.0))
        for group, keys in CLASS_GROUPS.items():
            for key in keys:
                compute[KEYS.index(key)] *= v.get(group, 1.0)
        return v.get("s", 1.0), compute, v.get("m", 1.0), v.get("d", 1.0)

    def fit(self, rows: Sequence[Terms], measured: Sequence[float]) -> Callable[[Terms], float]:
        logm = np.log(np.asarray(measured))
        if not self.params:
            return lambda t: t.latency(1.0, np.ones(len(KEYS)), 1.0, 1.0)
        priored = np.array([p != "s" for p in self.params], dtype=float) * self.prior

        def residuals(x: np.ndarray) -> np.ndarray:
            args = self.unpack(x)
            model = np.log([t.latency(*args) for t in rows]) - logm
            return np.concatenate([model, priored * x])

        x = least_squares(residuals, np.zeros(len(self.params)), bounds=(-5, 5), method="trf", loss=self.loss,
                          f_scale=0.1).x
        args = self.unpack(x)
        return lambda t: t.latency(*args)


DESIGNS = [
    Design("shipped", ()),
    Design("s", ("s",)),
    Design("s+d", ("s", "d")),
    Design("s+d w0.3", ("s", "d"), 0.3),
    Design("s+c+d", ("s", "c", "d")),
    Design("s+c+d w0.3", ("s", "c", "d"), 0.3),
    Design("s+c+m+d", ("s", "c", "m", "d")),
    Design("s+c+m+d w0.3", ("s", "c", "m", "d"), 0.3),
    Design("s+c+m+d w0.3 huber", ("s", "c", "m", "d"), 0.3, "huber"),
    Design("s+c+m+d w1", ("s", "c", "m", "d"), 1.0),
    Design("s+dense+dw+m+d w0.3", ("s", "dense", "depthwise", "m", "d"), 0.3),
    Design("s+dense+dw+m+d w0.3 hub", ("s", "dense", "depthwise", "m", "d"), 0.3, "huber"),
    Design("s+classes+m+d w0.3", ("s", "conv", "gemm", "depthwise", "stream", "m", "d"), 0.3),
]
AUTO_FROM = ("s", "s+d", "s+c+d", "s+c+m+d")  # the nested family auto chooses from by leave-one-out


def calibrate_design(bases: Sequence[Basis], profile: HardwareProfile, design: Sequence[str] | None = None,
                     prior_weight: float | None = None) -> Callable[..., Callable[[int], float]]:
    """costmodel calibrate's fit as a design over row indices (``design``: other parameters than it fits)."""
    def make(train: Sequence[int], measured: Sequence[float]) -> Callable[[int], float]:
        result = fit([bases[i] for i in train], list(measured), profile, design=design, prior_weight=prior_weight)
        fitted = with_parameters(pinned(profile), {n: result.values[n] for n in result.fitted})
        return lambda i: float(predict([bases[i]], fitted)[0])
    return make


@dataclass
class Score:
    in_sample: list[float]
    loo: list[float]
    others: list[float]
    within_10: list[float]
    within_25: list[float]
    fixed: dict[str, tuple[float, float]] | None = None  # set name -> (median error, share within 10 %) on the rest
    loo_all: float = math.nan  # share within 10 % of leave-one-model-out over every model
    # per draw, on the models in neither the draw nor the first fixed set: that set's share within 10 % less the draw's
    paired: list[float] = field(default_factory=list)


GROUPS = ("dense", "depthwise", "stream")  # the compute columns of the selection's design matrix


def shares(t: Terms) -> np.ndarray:
    """d log latency / d log multiplier of one model at the profile's factors, for the dense, depthwise and
    streaming compute multipliers, the memory one and the per-call one: which parts of the model its latency is."""
    step, base = 0.01, math.log(t.latency(1.0, np.ones(len(KEYS)), 1.0, 1.0))
    out = []
    for group in GROUPS:
        compute = np.ones(len(KEYS))
        for key in CLASS_GROUPS[group]:
            compute[KEYS.index(key)] = 1 + step
        out.append(math.log(t.latency(1.0, compute, 1.0, 1.0)) - base)
    out.append(math.log(t.latency(1.0, np.ones(len(KEYS)), 1 + step, 1.0)) - base)
    out.append(math.log(t.latency(1.0, np.ones(len(KEYS)), 1.0, 1 + step)) - base)
    return np.array(out) / math.log1p(step)


def d_optimal(features: np.ndarray, k: int = FEW) -> list[int]:
    """Greedily the k rows that maximize det(X'X + 1e-6 I), X = [1, features]: the rows that determine a linear
    fit's coefficients best (a D-optimal design)."""
    x = np.hstack([np.ones((len(features), 1)), features])
    chosen: list[int] = []
    for _ in range(k):
        def score(i: int) -> float:
            rows = x[[*chosen, i]]
            return float(np.linalg.slogdet(rows.T @ rows + 1e-6 * np.eye(x.shape[1]))[1])
        chosen.append(max((i for i in range(len(x)) if i not in chosen), key=score))
    return sorted(chosen)


def medoids(features: np.ndarray, k: int = FEW, rounds: int = 50) -> list[int]:
    """k-medoids of the rows (Euclidean): k models, each the most central of a cluster of alike models. Starts from
    the most central model and then, greedily, the model farthest from those chosen; deterministic."""
    dist = np.linalg.norm(features[:, None, :] - features[None, :, :], axis=2)
    chosen = [int(np.argmin(dist.sum(axis=1)))]
    while len(chosen) < k:
        chosen.append(int(np.argmax(dist[:, chosen].min(axis=1))))
    for _ in range(rounds):
        label = np.argmin(dist[:, chosen], axis=1)
        new = []
        for c in range(k):
            members = np.flatnonzero(label == c)
            new.append(int(members[np.argmin(dist[np.ix_(members, members)].sum(axis=1))]))
        if sorted(new) == sorted(chosen):
            break
        chosen = new
    return sorted(chosen)


def med_err(pred: Sequence[float], meas: Sequence[float]) -> float:
    return statistics.median(abs(p / m - 1) for p, m in zip(pred, meas, strict=True))


def evaluate(make: Callable[[Sequence[int], Sequence[float]], Callable[[int], float]], measured: list[float],
             train: list[int], test: list[int]) -> tuple[float, float, float, float, float]:
    model = make(train, [measured[i] for i in train])
    in_sample = med_err([model(i) for i in train], [measured[i] for i in train])
    loo = []
    for i in train:
        rest = [j for j in train if j != i]
        loo.append(make(rest, [measured[j] for j in rest])(i))
    pred = [model(i) for i in test]
    errors = [abs(p / measured[i] - 1) for p, i in zip(pred, test, strict=True)]
    return (in_sample, med_err(loo, [measured[i] for i in train]), statistics.median(errors),
            sum(e <= 0.10 for e in errors) / len(errors), sum(e <= 0.25 for e in errors) / len(errors))


def run(fixture: Path, threads: int, draws: Sequence[int], with_calibrate: bool,
        fixed_sets: dict[str, list[str]] | None = None, only: Sequence[str] = ()) -> tuple[dict[str, Score], list[str]]:
    case = V.Case(fixture.name, fixture, f"epyc_zen3_vm_b_{threads}t", V.CPU_PROFILE, "fp32", "uniform", "none",
                  threads, "min")
    rows, profile = case.rows(), case.hw()
    names = [m.measurement.model for m in rows]
    measured = [m.measurement.latency_s for m in rows]
    bases = bases_of(rows, profile, case.dtype, case.fusion, case.precision)
    priced = [terms(b, profile) for b in bases]
    makers: dict[str, Callable[[Sequence[int], Sequence[float]], Callable[[int], float]]] = {}
    for design in (d for d in DESIGNS if not only or d.name in only):
        def make(train: Sequence[int], meas: Sequence[float], design: Design = design) -> Callable[[int], float]:
            model = design.fit([priced[i] for i in train], meas)
            return lambda i: model(priced[i])
        makers[design.name] = make
    if with_calibrate:
        makers["calibrate"] = calibrate_design(bases, profile)
        # what calibrate fitted on a CPU profile until 3 December: per-class efficiencies, memory, overhead, w 0.1
        makers["calibrate per-class"] = calibrate_design(bases, profile, [p.name for p in PARAMETERS] + [OVERHEAD],
                                                         0.1)
    scores = {name: Score([], [], [], [], []) for name in [*makers, *(["auto"] if all(n in makers for n in AUTO_FROM)
                                                                        else [])]}
    for draw in draws:
        order = list(range(len(rows)))
        random.Random(draw).shuffle(order)
        train, test = sorted(order[:FEW]), sorted(order[FEW:])
        results = {name: evaluate(make, measured, train, test) for name, make in makers.items()}
        if all(n in results for n in AUTO_FROM):
            best = min(AUTO_FROM, key=lambda n: results[n][1])
            results["auto"] = results[best]
        for name, values in results.items():
            for key, value in zip(("in_sample", "loo", "others", "within_10", "within_25"), values, strict=True):
                getattr(scores[name], key).append(value)
    first = next(iter((fixed_sets or {}).values()), None)
    if first is not None:
        chosen = sorted(names.index(n) for n in first)
        for name, make in makers.items():
            fixed_model = make(chosen, [measured[i] for i in chosen])
            for draw in draws:
                order = list(range(len(rows)))
                random.Random(draw).shuffle(order)
                train = sorted(order[:FEW])
                common = [i for i in range(len(rows)) if i not in train and i not in chosen]
                model = make(train, [measured[i] for i in train])
                share = [sum(abs(m(i) / measured[i] - 1) <= 0.10 for i in common) / len(common)
                         for m in (fixed_model, model)]
                scores[name].paired.append(share[0] - share[1])
    for name, make in makers.items():
        scores[name].fixed = {}
        for label, chosen in (fixed_sets or {}).items():
            train = sorted(names.index(n) for n in chosen)
            test = [i for i in range(len(rows)) if i not in train]
            model = make(train, [measured[i] for i in train])
            errors = [abs(model(i) / measured[i] - 1) for i in test]
            scores[name].fixed[label] = (statistics.median(errors), sum(e <= 0.10 for e in errors) / len(errors))
        loo = []
        for i in range(len(rows)):
            rest = [j for j in range(len(rows)) if j != i]
            loo.append(abs(make(rest, [measured[j] for j in rest])(i) / measured[i] - 1))
        scores[name].loo_all = sum(e <= 0.10 for e in loo) / len(loo)
    return scores, names


def selections(fixture: Path, threads: int) -> dict[str, list[str]]:
    """The two fixed sets of FEW models (D-optimal, medoids), chosen from the specs and the shipped profile at one
    thread: ``fixture`` (measured at ``threads``) names the models (its measurements are not read)."""
    case = V.Case(fixture.name, fixture, f"epyc_zen3_vm_b_{threads}t", V.CPU_PROFILE, "fp32", "uniform", "none", 1,
                  "min")
    rows, profile = case.rows(), case.hw()
    names = [m.measurement.model for m in rows]
    features = np.array([shares(terms(b, profile)) for b in bases_of(rows, profile, case.dtype, case.fusion,
                                                                      case.precision)])
    return {"medoids": [names[i] for i in medoids(features)], "D-optimal": [names[i] for i in d_optimal(features)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--seed0", type=int, default=100, help="first draw's seed (validate_latency uses 0-4)")
    parser.add_argument("--no-calibrate", action="store_true", help="skip costmodel calibrate's own fit (slower)")
    parser.add_argument("--designs", nargs="*", default=(), help="only these designs (names as printed)")
    parser.add_argument("--fixtures", nargs="*", default=None,
                        help="fixture:threads pairs (default: the s22 four and the s23 four)")
    args = parser.parse_args()
    pairs = ([(Path(f.split(":")[0]), int(f.split(":")[1])) for f in args.fixtures] if args.fixtures else
             [(V.CPU_FIXTURES[1], 1), (V.CPU_REPEAT[1], 1), (V.CPU_FIXTURES[2], 2), (V.CPU_REPEAT[2], 2),
              *((V.FIXTURES / f"cpu_bench_epyc_zen3_vm_b_{n}t_{hhmm}.csv", n) for n, hhmm in
                ((1, "0337"), (1, "0339"), (2, "0338"), (2, "0341")))])
    sets = {"documented": list(V.FEW_SHOT_SET), **selections(*pairs[0])}
    for label, chosen in sets.items():
        print(f"{label} set of {FEW}: {', '.join(chosen)}")
    print("(documented: validate_latency.FEW_SHOT_SET; medoids and D-optimal: from the specs and the shipped "
          "profile at one thread, no measurement)")
    draws = range(args.seed0, args.seed0 + args.draws)
    summary: dict[str, list[tuple[float, ...]]] = {}
    for fixture, threads in pairs:
        scores, _ = run(fixture, threads, draws, not args.no_calibrate, sets, args.designs)
        print(f"\n{fixture.name} ({threads} thread{'s' if threads > 1 else ''}), {args.draws} draws of {FEW} "
              f"(seeds {args.seed0}-{args.seed0 + args.draws - 1}); medians over the draws; fixed sets: median "
              "|error| / within 10 % on the other models")
        print(f"  {'design':<24} {'in-sample':>9} {'LOO':>6} {'others':>7} {'within 10%':>10} {'(min-max)':>10} "
              f"{'within 25%':>10} {'LOO 38':>7} {'documented':>12} {'medoids':>12} {'D-optimal':>12} {'paired':>7}")
        for name, s in scores.items():
            fixed = s.fixed or {}
            cells = [f"{fixed[k][0]:>5.1%} / {fixed[k][1]:>3.0%}" if k in fixed else "-"
                     for k in ("documented", "medoids", "D-optimal")]
            print(f"  {name:<24} {statistics.median(s.in_sample):>9.1%} {statistics.median(s.loo):>6.1%} "
                  f"{statistics.median(s.others):>7.1%} {statistics.median(s.within_10):>10.0%} "
                  f"{min(s.within_10):>4.0%}-{max(s.within_10):<4.0%} {statistics.median(s.within_25):>10.0%} "
                  f"{s.loo_all:>7.0%} {' '.join(f'{c:>12}' for c in cells)} "
                  f"{statistics.mean(s.paired) if s.paired else math.nan:>+7.1%}")
            summary.setdefault(name, []).append((statistics.median(s.within_10), s.loo_all,
                                                 *(fixed[k][1] for k in ("documented", "medoids", "D-optimal")
                                                   if k in fixed),
                                                 *([statistics.mean(s.paired)] if s.paired else [])))
    print(f"\nmeans over the {len(pairs)} files: median share of the others within 10 % (random draws), LOO 38 within "
          "10 %, the documented, medoids and D-optimal sets, paired (the documented set less the draw on the models in "
          "neither, mean over draws)")
    for name, values in summary.items():
        print(f"  {name:<24} " + " ".join(f"{float(np.mean([v[j] for v in values if len(v) > j])):>6.1%}"
                                          for j in range(max(len(v) for v in values))))


if __name__ == "__main__":
    main()
