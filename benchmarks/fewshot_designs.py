"""Few-shot calibration designs on a CPU: which parameters 10 measured models can determine.

Run: python benchmarks/fewshot_designs.py [--draws 20] [--seed0 100] [--no-calibrate] [--designs NAME ...]
                                         [--fixtures FILE[:THREADS] ...] [--hw PROFILE] [--save FILE] [--combine FILE]

For every design below, over random draws of 10 of the 38 zoo models of a CPU fixture: fit on the 10, then the
median |error| in-sample, leave-one-out over the 10 (what ``costmodel calibrate`` prints), on the other 28, and the
share of the other 28 within +-10 % and +-25 %. Each fixture is scored on each model's fastest pass, with the shipped
profile of its machine at the fixture's thread count. The fixtures: by default every scored CPU run of
validate_latency (``CPU_RUNS``: the Zen 3 VM's and the Xeon 6 VM's files, each with its profile); ``--fixtures``
takes costmodel bench files instead (validate_latency's ``--extra`` rules: THREADS defaults to the file's threads
column), scored with ``--hw`` or else the profile their device column names (``PROFILE_Nt``, costmodel bench's
label convention: ``xeon6_gnr_vm_1t`` -> ``xeon6_gnr_vm``). A run of all of them takes longer than the session's
heavy-job limit: ``--save FILE`` appends each fixture's summary to FILE (JSON lines) and ``--combine FILE`` prints the
means over the fixtures saved there, per machine and overall, without fitting. Nothing here changes a shipped
constant: the designs re-price the profile's own terms.

Designs. Every kernel's latency at the profile's factors splits into a compute term, a memory term (roofline
max of the two, plus layout copies at the memory rate) and a per-call term (launch overhead plus the CPU's fixed
costs: op-class dispatch, depthwise and per-element op costs, fork/join). A design multiplies some of them:
``s`` the whole latency (the device's speed: clock, contention on a shared host: what drifts between sessions on
this VM), ``c`` every compute term, ``m`` every memory term, ``d`` every per-call term, and per efficiency class
compute factors; every multiplier except ``s`` carries a prior ``w x log(multiplier)`` toward the profile.
``calibrate`` is costmodel calibrate's own fit (costmodel.calibration.fit.fit with its CPU design, ``CPU_FITTED``,
and prior, ``CPU_PRIOR_WEIGHT``), ``calibrate per-class`` its fit until 3 December (per-class efficiencies, the
memory efficiency and the launch overhead, prior 0.1).
``auto`` (``auto w0.3``) picks, per draw, the design of its family (:data:`AUTOS`) with the smallest leave-one-out
error over the 10 (model selection inside the 10, no look at the others). ``dense`` is one compute multiplier for
dense convs, GEMMs and attention; a design named ``huber`` minimizes a Huber loss of the log ratios (scipy's
``loss="huber"``, ``f_scale`` 0.1: rows off by more than about 10 % count linearly, not squared) instead of their
squares.

Besides the random draws, the documented 10 (validate_latency.FEW_SHOT_SET) and two fixed sets of 10 chosen from
the specs and the machine's shipped profile at one thread alone (no measurement, no residual): ``D-optimal``,
greedily the models that make the fit's normal matrix largest (det(X'X), X the rows' shares of predicted latency
in dense compute, depthwise, streaming kernels, memory-bound time and per-call costs, and a 1 for the device scale),
and ``medoids``, one model per cluster of those shares (k-medoids, k = 10): a set that spans the op classes.
``LOO 38`` is leave-one-model-out over all the models (the structural ceiling: what a fit with every other model
reaches).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

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
    Design("s+c+d w0.03", ("s", "c", "d"), 0.03),
    Design("s+c+d w0.3", ("s", "c", "d"), 0.3),
    Design("s+c+d w1", ("s", "c", "d"), 1.0),
    Design("s+c+m+d", ("s", "c", "m", "d")),
    Design("s+c+m+d w0.3", ("s", "c", "m", "d"), 0.3),
    Design("s+c+m+d w0.3 huber", ("s", "c", "m", "d"), 0.3, "huber"),
    Design("s+c+m+d w1", ("s", "c", "m", "d"), 1.0),
    Design("s+dense+dw+m+d w0.3", ("s", "dense", "depthwise", "m", "d"), 0.3),
    Design("s+dense+dw+m+d w0.3 hub", ("s", "dense", "depthwise", "m", "d"), 0.3, "huber"),
    Design("s+classes+m+d w0.3", ("s", "conv", "gemm", "depthwise", "stream", "m", "d"), 0.3),
]
AUTOS = {  # name -> the nested family it chooses from, per draw, by leave-one-out over the 10
    "auto": ("s", "s+d", "s+c+d", "s+c+m+d"), "auto w0.3": ("s+d w0.3", "s+c+d w0.3")}


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


def run(case: V.Case, draws: Sequence[int], with_calibrate: bool, fixed_sets: dict[str, list[str]] | None = None,
        only: Sequence[str] = ()) -> tuple[dict[str, Score], list[str]]:
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
    autos = {name: family for name, family in AUTOS.items() if all(n in makers for n in family)}
    scores = {name: Score([], [], [], [], []) for name in [*makers, *autos]}
    for draw in draws:
        order = list(range(len(rows)))
        random.Random(draw).shuffle(order)
        train, test = sorted(order[:FEW]), sorted(order[FEW:])
        results = {name: evaluate(make, measured, train, test) for name, make in makers.items()}
        for name, family in autos.items():
            results[name] = results[min(family, key=lambda n: results[n][1])]
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


def selections(case: V.Case) -> dict[str, list[str]]:
    """The two fixed sets of FEW models (D-optimal, medoids), chosen from the specs and ``case``'s profile at one
    thread: ``case`` names the models (its measurements are not read)."""
    case = replace(case, threads=1)
    rows, profile = case.rows(), case.hw()
    names = [m.measurement.model for m in rows]
    features = np.array([shares(terms(b, profile)) for b in bases_of(rows, profile, case.dtype, case.fusion,
                                                                      case.precision)])
    return {"medoids": [names[i] for i in medoids(features)], "D-optimal": [names[i] for i in d_optimal(features)]}


def device_profile(path: Path) -> str:
    """The shipped profile a costmodel bench file's device column names: ``PROFILE_Nt`` (``xeon6_gnr_vm_1t`` ->
    ``xeon6_gnr_vm``), or the column as it is. Raises ``ValueError`` for a file of several devices or none."""
    devices = sorted({r.device or "" for r in V.read_measurements(path).rows})
    if len(devices) != 1 or not devices[0]:
        raise ValueError(f"{path}: one device per file (its device column), found {devices}")
    match = re.fullmatch(r"(.+)_\d+t", devices[0])
    return match.group(1) if match else devices[0]


def cases_of(fixtures: Sequence[str] | None, hw: str | None) -> list[V.Case]:
    """The fixtures to score: validate_latency's scored CPU runs, or costmodel bench files (``FILE[:THREADS]``) with
    ``hw`` or the profile their device column names (:func:`device_profile`)."""
    if not fixtures:
        return [case for cpu_run in V.CPU_RUNS for case in cpu_run.cases()]
    # FILE[:THREADS] as validate_latency reads it: a name with a colon that is a file is the file
    return [V.extra_case(text, V.extra_profile(hw) if hw else
                         device_profile(Path(text if Path(text).is_file() else text.rpartition(":")[0])))
            for text in fixtures]


COLUMNS = ("random 10", "LOO 38", "documented", "medoids", "D-optimal", "paired")  # the summary's, per design


def summary_lines(saved: Sequence[dict[str, Any]], baseline: str = "s+d w0.3") -> list[str]:
    """Means over fixtures (``--save``'s records: fixture, profile, design -> COLUMNS values) per profile and over
    all: per design, the median share of the others within 10 % over the random draws, LOO 38 within 10 %, the
    fixed sets' shares within 10 % and the paired difference (the documented set less the draw); and against
    ``baseline`` (else the first design saved) on the same draws."""
    if not any(baseline in r["draws"] for r in saved):
        baseline = next(iter(saved[0]["designs"]))
    out = [f"means over the fixtures: {', '.join(COLUMNS)} (shares within +-10 %; paired: the documented set less "
           "the draw on the models in neither, mean over draws); vs " f"{baseline}: the design's share of the others "
           "within 10 % less its on the same draws (mean over draws and files), and on how many files it is ahead / "
           "behind (mean over the file's draws)"]
    groups = {f"{p} ({sum(r['profile'] == p for r in saved)} files)": [r for r in saved if r["profile"] == p]
              for p in dict.fromkeys(r["profile"] for r in saved)}
    groups[f"all ({len(saved)} files)"] = list(saved)
    for label, records in groups.items():
        out.append(f"  {label}")
        for name in dict.fromkeys(n for r in records for n in r["designs"]):
            values = [r["designs"][name] for r in records if name in r["designs"]]
            cells = [float(np.nanmean([v[j] for v in values])) for j in range(len(COLUMNS))]
            versus = [float(np.mean(np.subtract(r["draws"][name], r["draws"][baseline]))) for r in records
                      if name in r["draws"] and baseline in r["draws"]]
            out.append(f"    {name:<24} " + " ".join(f"{c:>7.1%}" for c in cells) +
                       (f"   {np.mean(versus):>+6.1%} {sum(v > 0 for v in versus)} / {sum(v < 0 for v in versus)}"
                        if versus else ""))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--seed0", type=int, default=100, help="first draw's seed (validate_latency uses 0-4)")
    parser.add_argument("--no-calibrate", action="store_true", help="skip costmodel calibrate's own fit (slower)")
    parser.add_argument("--designs", nargs="*", default=(), help="only these designs (names as printed)")
    parser.add_argument("--fixtures", nargs="*", default=None, metavar="FILE[:THREADS]",
                        help="costmodel bench files (default: validate_latency's scored CPU runs)")
    parser.add_argument("--hw", default=None, help="the profile scoring --fixtures (default: their device column's)")
    parser.add_argument("--save", type=Path, help="append each fixture's summary to this file (JSON lines)")
    parser.add_argument("--combine", type=Path, help="only print the means over the summaries saved in this file")
    parser.add_argument("--baseline", default="s+d w0.3", help="the design the others are compared with, draw by draw")
    args = parser.parse_args()
    if args.combine:
        print("\n".join(summary_lines([json.loads(t) for t in args.combine.read_text().splitlines() if t.strip()],
                                       args.baseline)))
        return
    cases = cases_of(args.fixtures, args.hw)
    documented = {"documented": list(V.FEW_SHOT_SET)}
    fixed: dict[str, dict[str, list[str]]] = {}
    for case in cases:
        if case.profile not in fixed:
            fixed[case.profile] = {**documented, **selections(case)}
            for label, chosen in fixed[case.profile].items():
                print(f"{label} set of {FEW} ({case.profile}): {', '.join(chosen)}")
    print("(documented: validate_latency.FEW_SHOT_SET; medoids and D-optimal: from the specs and the machine's shipped "
          "profile at one thread, no measurement)")
    draws = range(args.seed0, args.seed0 + args.draws)
    saved = []
    for case in cases:
        scores, _ = run(case, draws, not args.no_calibrate, fixed[case.profile], args.designs)
        print(f"\n{case.fixture.name} ({case.profile}, {case.threads} thread{'s' if case.threads != 1 else ''}), "
              f"{args.draws} draws of {FEW} (seeds {args.seed0}-{args.seed0 + args.draws - 1}); medians over the "
              "draws; fixed sets: median |error| / within 10 % on the other models")
        print(f"  {'design':<24} {'in-sample':>9} {'LOO':>6} {'others':>7} {'within 10%':>10} {'(min-max)':>10} "
              f"{'within 25%':>10} {'LOO 38':>7} {'documented':>12} {'medoids':>12} {'D-optimal':>12} {'paired':>7}")
        record: dict[str, Any] = {"fixture": case.fixture.name, "profile": case.profile, "threads": case.threads,
                                  "seeds": [args.seed0, args.seed0 + args.draws - 1], "designs": {}, "draws": {}}
        for name, s in scores.items():
            sets = s.fixed or {}
            cells = [f"{sets[k][0]:>5.1%} / {sets[k][1]:>3.0%}" if k in sets else "-"
                     for k in ("documented", "medoids", "D-optimal")]
            paired = statistics.mean(s.paired) if s.paired else math.nan
            print(f"  {name:<24} {statistics.median(s.in_sample):>9.1%} {statistics.median(s.loo):>6.1%} "
                  f"{statistics.median(s.others):>7.1%} {statistics.median(s.within_10):>10.0%} "
                  f"{min(s.within_10):>4.0%}-{max(s.within_10):<4.0%} {statistics.median(s.within_25):>10.0%} "
                  f"{s.loo_all:>7.0%} {' '.join(f'{c:>12}' for c in cells)} {paired:>+7.1%}")
            record["designs"][name] = [statistics.median(s.within_10), s.loo_all,
                                       *(sets[k][1] if k in sets else math.nan
                                         for k in ("documented", "medoids", "D-optimal")), paired]
            record["draws"][name] = s.within_10
        saved.append(record)
        if args.save:
            with args.save.open("a") as out:
                out.write(json.dumps(record) + "\n")
    print()
    print("\n".join(summary_lines(saved, args.baseline)))

if __name__ == "__main__":
    main()
