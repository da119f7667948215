"""Few-shot calibration designs on this machine's CPU: which parameters 10 measured models can determine.

Run: python benchmarks/fewshot_designs.py [--draws 50] [--seed0 100] [--select FILE]

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
``calibrate`` is costmodel calibrate's own fit (costmodel.calibration.fit.fit, its default prior 0.1).
``auto`` picks, per draw, the design with the smallest leave-one-out error over the 10 (model selection inside the
10, no look at the others).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from costmodel.calibration.fit import (
    KEYS,
    LAYOUT_INDEX,
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

        x = least_squares(residuals, np.zeros(len(self.params)), bounds=(-5, 5), method="trf").x
        args = self.unpack(x)
        return lambda t: t.latency(*args)


DESIGNS = [
    Design("shipped", ()),
    Design("s", ("s",)),
    Design("s+d", ("s", "d")),
    Design("s+c+d", ("s", "c", "d")),
    Design("s+c+m+d", ("s", "c", "m", "d")),
    Design("s+c+m+d w0.3", ("s", "c", "m", "d"), 0.3),
    Design("s+c+m+d w1", ("s", "c", "m", "d"), 1.0),
    Design("s+classes+d", ("s", "conv", "gemm", "depthwise", "stream", "d")),
    Design("s+classes+m+d", ("s", "conv", "gemm", "depthwise", "stream", "m", "d")),
    Design("s+classes+m+d w0.3", ("s", "conv", "gemm", "depthwise", "stream", "m", "d"), 0.3),
]
AUTO_FROM = ("s", "s+d", "s+c+d", "s+c+m+d")  # the nested family auto chooses from by leave-one-out


def calibrate_design(bases: Sequence[Basis], profile: HardwareProfile) -> Callable[..., Callable[[int], float]]:
    """costmodel calibrate's fit as a design over row indices."""
    def make(train: Sequence[int], measured: Sequence[float]) -> Callable[[int], float]:
        result = fit([bases[i] for i in train], list(measured), profile)
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


def run(fixture: Path, threads: int, draws: Sequence[int], with_calibrate: bool) -> dict[str, Score]:
    case = V.Case(fixture.name, fixture, f"epyc_zen3_vm_b_{threads}t", V.CPU_PROFILE, "fp32", "uniform", "none",
                  threads, "min")
    rows, profile = case.rows(), case.hw()
    measured = [m.measurement.latency_s for m in rows]
    bases = bases_of(rows, profile, case.dtype, case.fusion, case.precision)
    priced = [terms(b, profile) for b in bases]
    makers: dict[str, Callable[[Sequence[int], Sequence[float]], Callable[[int], float]]] = {}
    for design in DESIGNS:
        def make(train: Sequence[int], meas: Sequence[float], design: Design = design) -> Callable[[int], float]:
            model = design.fit([priced[i] for i in train], meas)
            return lambda i: model(priced[i])
        makers[design.name] = make
    if with_calibrate:
        makers["calibrate"] = calibrate_design(bases, profile)
    scores = {name: Score([], [], [], [], []) for name in [*makers, "auto"]}
    for draw in draws:
        order = list(range(len(rows)))
        random.Random(draw).shuffle(order)
        train, test = sorted(order[:FEW]), sorted(order[FEW:])
        results = {name: evaluate(make, measured, train, test) for name, make in makers.items()}
        best = min(AUTO_FROM, key=lambda n: results[n][1])
        results["auto"] = results[best]
        for name, values in results.items():
            for field, value in zip(("in_sample", "loo", "others", "within_10", "within_25"), values, strict=True):
                getattr(scores[name], field).append(value)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=50)
    parser.add_argument("--seed0", type=int, default=100, help="first draw's seed (validate_latency uses 0-4)")
    parser.add_argument("--no-calibrate", action="store_true", help="skip costmodel calibrate's own fit (slower)")
    parser.add_argument("--fixtures", nargs="*", default=None, help="fixture:threads pairs (default: the s22 four)")
    args = parser.parse_args()
    pairs = ([(Path(f.split(":")[0]), int(f.split(":")[1])) for f in args.fixtures] if args.fixtures else
             [(V.CPU_FIXTURES[1], 1), (V.CPU_REPEAT[1], 1), (V.CPU_FIXTURES[2], 2), (V.CPU_REPEAT[2], 2)])
    draws = range(args.seed0, args.seed0 + args.draws)
    for fixture, threads in pairs:
        scores = run(fixture, threads, draws, not args.no_calibrate)
        print(f"\n{fixture.name} ({threads} thread{'s' if threads > 1 else ''}), {args.draws} draws of {FEW} "
              f"(seeds {args.seed0}-{args.seed0 + args.draws - 1}); medians over the draws")
        print(f"  {'design':<20} {'in-sample':>9} {'LOO':>6} {'others':>7} {'within 10%':>10} {'(min-max)':>10} "
              f"{'within 25%':>10}")
        for name, s in scores.items():
            print(f"  {name:<20} {statistics.median(s.in_sample):>9.1%} {statistics.median(s.loo):>6.1%} "
                  f"{statistics.median(s.others):>7.1%} {statistics.median(s.within_10):>10.0%} "
                  f"{min(s.within_10):>4.0%}-{max(s.within_10):<4.0%} {statistics.median(s.within_25):>10.0%}")



if __name__ == "__main__":
    main()
