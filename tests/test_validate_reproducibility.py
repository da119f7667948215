"""benchmarks/validate_latency.py's reproducibility figures: two measurements of the same models compared after one
common scale, and the ceiling they put on any model's share within +-10 % of one of them."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_files_equal_up_to_a_scale_agree_fully(validate) -> None:
    first = {"a": 2.0, "b": 4.0, "c": 6.0}
    a = validate.agreement(first, {m: v / 2 for m, v in first.items()})
    assert (a.models, a.scale, a.within_10, a.median_difference, a.ceiling_10) == (3, 2.0, 1.0, 0.0, 1.0)


def test_agreement_by_hand(validate) -> None:
    # ratios 0.95, 1.0, 1.05, 1.3, 0.7 (median 1.0); "extra" is in one file only and is ignored
    second = {m: 1.0 for m in "abcde"}
    a = validate.agreement({"a": 0.95, "b": 1.0, "c": 1.05, "d": 1.3, "e": 0.7, "extra": 9.0}, second)
    assert a.models == 5 and a.scale == 1.0
    assert a.within_10 == pytest.approx(3 / 5)
    assert a.median_difference == pytest.approx(0.05)
    # sigma = 1.4826 x median |log ratio| / sqrt(2) = 1.4826 x 0.051293 / 1.41421 = 0.053775
    # ceiling = Phi(ln 1.1 / sigma) - Phi(ln 0.9 / sigma) = Phi(1.7724) - Phi(-1.9593) = 0.96184 - 0.02504
    assert a.ceiling_10 == pytest.approx(0.9368, abs=1e-3)


def test_no_common_model_is_an_error(validate) -> None:
    with pytest.raises(ValueError):
        validate.agreement({"a": 1.0}, {"b": 1.0})


def test_the_ceiling_is_what_an_exact_model_reaches_against_one_noisy_file(validate) -> None:
    # two files of the same true latencies, each with independent log-normal noise (sigma 0.12): an exact model
    # (the true latencies) lands within +-10 % of the first file for about the share the ceiling states
    rng = random.Random(0)
    true = {f"m{i}": math.exp(rng.uniform(-3, 0)) for i in range(4000)}
    first = {m: t * math.exp(rng.gauss(0, 0.12)) for m, t in true.items()}
    second = {m: t * math.exp(rng.gauss(0, 0.12)) for m, t in true.items()}
    a = validate.agreement(first, second)
    exact = sum(abs(true[m] / first[m] - 1) <= 0.10 for m in true) / len(true)
    assert a.ceiling_10 == pytest.approx(exact, abs=0.03)
    assert a.within_10 < exact  # two noisy files agree less than either agrees with the truth


def test_an_extra_cpu_file_takes_its_device_and_thread_count(validate, tmp_path: Path) -> None:
    """--extra FILE[:THREADS]: a costmodel bench CSV scored with the shipped CPU profile at the file's thread count
    (its ``threads`` column), or the one given; a missing file, a file of several thread counts without one given,
    or a bad count is refused with one line."""
    fixture = ROOT / "tests/fixtures/cpu_bench_epyc_zen3_vm_b_2t_0338.csv"
    case = validate.extra_case(str(fixture), "epyc_zen3_vm_b")
    assert (case.device, case.threads, case.profile, case.statistic) == ("epyc_zen3_vm_b_2t", 2, "epyc_zen3_vm_b",
                                                                         "min")
    assert validate.extra_case(f"{fixture}:1", "xeon6_gnr_vm").threads == 1
    lines = fixture.read_text().splitlines()
    mixed = tmp_path / "mixed.csv"  # the last row claims one thread
    mixed.write_text("\n".join([*lines[:-1], lines[-1].replace(",2,torch", ",1,torch")]) + "\n")
    assert ",1,torch" in mixed.read_text().splitlines()[-1]
    unlabelled = tmp_path / "unlabelled.csv"  # one row without a device: sorting None with names was a TypeError
    unlabelled.write_text("\n".join([*lines[:-1], lines[-1].replace(",epyc_zen3_vm_b_2t,", ",,")]) + "\n")
    assert ",," in unlabelled.read_text().splitlines()[-1]
    for bad, message in ((str(tmp_path / "none.csv"), "no such file"), (str(mixed), "FILE:THREADS"),
                         (f"{fixture}:0", "FILE:THREADS"), (f"{fixture}:two", "FILE:THREADS"),
                         (str(unlabelled), "one device per file .* a row without one")):
        with pytest.raises(ValueError, match=message):
            validate.extra_case(bad, "epyc_zen3_vm_b")
    colon = tmp_path / "bench_06:39.csv"  # a name with a colon is a file, not FILE:THREADS
    colon.write_text(fixture.read_text())
    assert validate.extra_case(str(colon), "epyc_zen3_vm_b").threads == 2
    assert validate.extra_case(f"{colon}:1", "epyc_zen3_vm_b").threads == 1


def test_extra_files_are_scored_with_the_profile_of_this_cpu_or_the_one_given(validate, monkeypatch) -> None:
    """--extra FILE was scored with epyc_zen3_vm_b whatever machine measured it; now with --hw, whose default
    this-cpu stands for the profile that detects the machine (the Xeon 6 VM's /proc/cpuinfo here, recorded); a CPU
    no profile describes is one error, not a silent Zen 3 score."""
    from costmodel.errors import HardwareError
    from costmodel.hardware import profile as P

    xeon = P.host_cpu((ROOT / "tests/fixtures/cpuinfo_xeon6_vm.txt").read_text())
    monkeypatch.setattr(P, "host_cpu", lambda cpuinfo=None: xeon)
    assert validate.extra_profile("this-cpu") == "xeon6_gnr_vm"
    assert validate.extra_profile("rtx4090") == "rtx4090"
    fixture = ROOT / "tests/fixtures/cpu_bench_xeon6_gnr_vm_1t.csv"
    assert validate.extra_case(str(fixture), validate.extra_profile("this-cpu")).hw().key == "xeon6_gnr_vm"
    monkeypatch.setattr(P, "host_cpu", lambda cpuinfo=None: None)
    with pytest.raises(HardwareError, match="this-cpu: cannot read this machine's CPU"):
        validate.extra_profile("this-cpu")
    with pytest.raises(ValueError, match="unknown hardware profile"):
        validate.extra_profile("no_such_cpu")


def test_cpu_rows_take_their_labels_from_one_table_of_runs(validate) -> None:
    """Every CPU row of section 1, its fit in section 2, its 2-vs-1-thread pair and its reproducibility lines come
    from CPU_RUNS / REPEATED: each scored file once, labelled with its machine (the Zen 3 VM's files were labelled
    "this VM" on the Xeon 6 VM); every fixture a reproducibility line compares exists."""
    labels = [case.label for case in validate.CASES]
    assert len(labels) == len(set(labels))
    cpu = [case for case in validate.CASES if case.label in validate.CPU_CASES]
    assert len(cpu) == len(validate.CPU_CASES) == 22
    assert len({case.fixture for case in cpu}) == 22 and all(case.fixture.exists() for case in cpu)
    for case in cpu:
        machine = "Zen 3 VM" if case.profile == "epyc_zen3_vm_b" else "Xeon 6 VM"
        assert case.label.startswith(f"{machine} {case.threads} thread"), case
        assert case.device == f"{case.profile}_{case.threads}t" and str(case.threads) + "t" in case.fixture.name
    lines = validate.repeated_lines()
    assert len(lines) == 24 and all(a.exists() and b.exists() and a != b for _, a, b in lines)
    assert not any("this VM" in label for label, _, _ in lines)
    assert ("Zen 3 VM, 1 thread, 2 Dec 20:55 vs 2 Dec 20:53 UTC", validate.CPU_REPEAT[1], validate.CPU_FIXTURES[1]) \
        in lines


def test_the_shape_line_is_what_one_common_scale_leaves(validate) -> None:
    from costmodel.calibration.fidelity import Point

    def pts(ratios: list[float]) -> list[Point]:
        return [Point(f"m{i}", 1, 1, 1.0, r, 0.1, 0.0) for i, r in enumerate(ratios)]

    assert validate.shape_line(pts([0.8, 0.8, 0.8])).endswith("(0.800): sd of log ratio 0.000, within 10% 100%")
    # ratios 1, 1.2, 1: scale 1, logs 0, ln 1.2, 0: population sd = ln(1.2) x sqrt(2) / 3 = 0.0860; 2 of 3 within 10 %
    assert validate.shape_line(pts([1.0, 1.2, 1.0])).endswith("(1.000): sd of log ratio 0.086, within 10% 67%")


def test_fewshot_designs_scores_each_file_with_its_own_machine(tmp_path: Path) -> None:
    """benchmarks/fewshot_designs.py: by default validate_latency's scored CPU runs, each with its machine's profile;
    a bench file given alone is scored with the profile its device column names (PROFILE_Nt), or --hw's."""
    from .conftest import benchmark_module

    designs = benchmark_module("fewshot_designs")
    cases = designs.cases_of(None, None)
    assert {c.profile for c in cases} == {"epyc_zen3_vm_b", "xeon6_gnr_vm"}
    assert all(c.device == f"{c.profile}_{c.threads}t" for c in cases)
    xeon = ROOT / "tests/fixtures/cpu_bench_xeon6_gnr_vm_2t_1755.csv"
    (case,) = designs.cases_of([str(xeon)], None)
    assert (case.profile, case.threads, case.device) == ("xeon6_gnr_vm", 2, "xeon6_gnr_vm_2t")
    assert designs.cases_of([f"{xeon}:1"], "epyc_zen3_vm_b")[0].profile == "epyc_zen3_vm_b"
    lines = xeon.read_text().splitlines()
    mine = tmp_path / "mine.csv"  # a label of one's own names itself
    mine.write_text("\n".join(line.replace(",xeon6_gnr_vm_2t,", ",mybox,") for line in lines) + "\n")
    assert designs.device_profile(mine) == "mybox"
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("\n".join([*lines[:-1], lines[-1].replace(",xeon6_gnr_vm_2t,", ",mybox,")]) + "\n")
    with pytest.raises(ValueError, match="one device per file"):
        designs.device_profile(mixed)
