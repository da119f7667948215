"""The project's own fuzzer, at a fixed small budget (seeded, so a failure reproduces): every fuzzed spec, profile,
measurement CSV, ONNX model, design space (through `sweep`), measurement file (through `calibrate`), option value
(analyze, compare, hw, plots) and spoiled sweep result (through `plot sweep`) either works or fails with one of
costmodel's errors, in one line naming the file (or the option), within 10 s of CPU time (60 s of wall time: a case
that blocks). benchmarks/fuzz.py runs the long campaign (10,000 specs in-process, 1,000 through the CLI)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from costmodel.hardware import load_profile

from . import fuzzing

SEED = 13  # the number; benchmarks/fuzz.py takes --seed


def _run(fuzz: Callable[[fuzzing.Tally], None]) -> fuzzing.Tally:
    tally = fuzzing.Tally()
    fuzz(tally)
    failures = "\n".join(f"{kind} {file}: {problem}" for kind, file, problem in tally.failures[:20])
    assert not tally.failures, f"{len(tally.failures)} of {tally.total} cases failed:\n{failures}"
    return tally


def test_fuzzed_specs(tmp_path: Path) -> None:
    tally = _run(lambda t: fuzzing.fuzz_specs(tmp_path, SEED, 150, t, load_profile("a100")))
    assert tally.ok > 0 and tally.user_errors > 0  # both outcomes are exercised


def test_fuzzed_specs_through_the_cli(tmp_path: Path) -> None:
    _run(lambda t: fuzzing.fuzz_cli(tmp_path, SEED, 40, t, subprocess_every=20))


def test_fuzzed_profiles(tmp_path: Path) -> None:
    _run(lambda t: fuzzing.fuzz_profiles(tmp_path, SEED, 60, t))


def test_fuzzed_measurement_files(tmp_path: Path) -> None:
    _run(lambda t: fuzzing.fuzz_csvs(tmp_path, SEED, 60, t))


def test_fuzzed_design_spaces_through_sweep(tmp_path: Path) -> None:
    _run(lambda t: fuzzing.fuzz_spaces(tmp_path, SEED, 12, t))


def test_fuzzed_measurement_files_through_calibrate(tmp_path: Path) -> None:
    _run(lambda t: fuzzing.fuzz_calibrations(tmp_path, SEED, 12, t))


def test_fuzzed_options_through_the_cli(tmp_path: Path) -> None:
    _run(lambda t: fuzzing.fuzz_options(tmp_path, SEED, 30, t))


def test_fuzzed_sweep_results_through_plot_sweep(tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    _run(lambda t: fuzzing.fuzz_plot_sweep(tmp_path, SEED, 6, t))


def test_fuzzed_specs_count_what_pytorch_counts(tmp_path: Path, torch) -> None:
    """Random ops with random attributes, run in PyTorch: shapes, params and MACs agree, and what PyTorch refuses
    costmodel refuses (it counted conv_transpose2d output_padding >= stride, reflect padding of one pair on a 4-d map
    and align_corners with nearest upsampling, found by this fuzzer at seeds 1 and 9711)."""
    tally = _run(lambda t: fuzzing.fuzz_against_torch(tmp_path, SEED, 300, t))
    assert tally.ok > 250


def test_fuzzed_specs_survive_an_onnx_round_trip(tmp_path: Path, torch, onnx) -> None:
    """The same random specs exported to ONNX and imported back keep their params, MACs and output shapes (a
    LayerNorm without bias, or a norm without affine weights, came back with them: seed 13105)."""
    tally = _run(lambda t: fuzzing.fuzz_onnx_round_trip(tmp_path, SEED, 25, t))
    assert tally.ok > 10


def test_fuzzed_specs_survive_an_import_through_torch_export(tmp_path: Path, torch) -> None:
    """The same random specs as PyTorch modules imported back through torch.export keep their params, MACs and output
    shapes, or fail in one line (a no-op model was an IndexError: seed 28936)."""
    tally = _run(lambda t: fuzzing.fuzz_torch_round_trip(tmp_path, SEED, 60, t))
    assert tally.ok > 40


def test_fuzzed_onnx_models(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    _run(lambda t: fuzzing.fuzz_onnx(tmp_path, SEED, 15, t))


@pytest.mark.parametrize("expression", fuzzing.HOSTILE_EXPRESSIONS)
def test_hostile_expressions(tmp_path: Path, expression: str) -> None:
    """Every hostile expression in every numeric place of a small spec: evaluated or refused, fast, in one line."""
    import yaml

    tally = fuzzing.Tally()
    for key in ("out", "kernel", "repeat", "when"):
        spec = {"name": "x", "inputs": {"x": [3, 8, 8]}, "vars": {"dims": [1, 2]},
                "nodes": [{"op": "conv2d", "out": 4, "kernel": 1, key: expression}]}
        path = fuzzing.write_case(tmp_path, f"{key}.yaml", yaml.safe_dump(spec, allow_unicode=True))
        tally.record("expression", path, lambda path=path: fuzzing.analyze_spec_file(path))
    assert not tally.failures, tally.failures


def test_json_written_to_the_output_file_is_what_the_check_reads(tmp_path: Path) -> None:
    """With -o, JSON goes to the file and stdout is empty: the check read stdout and called a good run invalid JSON
    (seed 60611's options: compare ... -o sub/out.json -f json); it reads the file, and still finds a NaN there."""
    out = tmp_path / "out.json"
    command = ["compare", "a", "b", "-o", str(out), "-f", "json"]
    out.write_text('{"a": 1}')
    assert fuzzing.check_cli_result(out, 0, "", f"wrote {out}\n", command) is None
    out.write_text('{"a": NaN}')
    assert "invalid JSON" in (fuzzing.check_cli_result(out, 0, "", "", command) or "")
    assert "invalid JSON" in (fuzzing.check_cli_result(out, 0, "", "", ["analyze", "a", "-f", "json"]) or "")


def test_calibrates_json_is_on_stdout_though_it_writes_a_profile_to_the_output(tmp_path: Path) -> None:
    """calibrate's -o is the fitted profile (YAML) and its JSON report goes to stdout: the check read the profile
    as the JSON and failed a run that behaved (seed 38339's calibrations: calibrate m.csv --hw rtx3090 -o f.yaml
    -f json)."""
    fitted = tmp_path / "fitted.yaml"
    fitted.write_text("name: fitted\n")
    command = ["calibrate", "m.csv", "--hw", "rtx3090", "-o", str(fitted), "-f", "json"]
    assert fuzzing.check_cli_result(fitted, 0, '{"rows": 2}', f"wrote {fitted}\n", command) is None
    assert "invalid JSON" in (fuzzing.check_cli_result(fitted, 0, '{"rows": NaN}', "", command) or "")


def test_the_time_limit_is_cpu_time_so_a_loaded_machine_does_not_fail_a_case() -> None:
    """The per-case limit was 10 s of wall time, and a case of 2 s of CPU failed on a loaded 2-core machine. A case is
    now judged by its CPU time: waiting (here a sleep, on a loaded machine the other jobs' turns) does not count, a
    loop that computes for ever still stops at the limit, and one that blocks for ever at the wall limit."""
    import time

    tally = fuzzing.Tally()
    tally.record("waits", Path("a"), lambda: time.sleep(0.5), limit_s=0.2)
    assert (tally.ok, tally.failures) == (1, [])

    def spin() -> None:
        while True:
            pass

    tally.record("spins", Path("b"), spin, limit_s=0.2)
    assert [problem.split(":")[0] for _, _, problem in tally.failures] == ["timeout"]
    assert "over 0.2 s of CPU time" in tally.failures[0][2]
    with pytest.raises(fuzzing.CaseTimeout, match=r"over 0\.2 s$"), fuzzing.time_limit(10, wall_s=0.2):
        time.sleep(5)
