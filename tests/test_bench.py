"""`costmodel bench`: a tiny smoke run (1 warm-up, 2 timed passes), its CSV read back by calibrate/validate, and
the clear errors (PyTorch missing, no CUDA, bad options).

Without PyTorch the runs skip, unless ``COSTMODEL_REQUIRE_TORCH=1`` (CI), where they fail.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from costmodel import load_graph
from costmodel.bridges.bench import Timing, measurement_row
from costmodel.calibration.measurements import match, read_measurements, spec_index
from costmodel.cli import app

runner = CliRunner()

TINY = """
name: tiny_bench_net
inputs: {image: [3, 16, 16]}
nodes:
  - {name: conv, op: conv2d, out: 8, kernel: 3, padding: 1}
  - {name: act, op: relu}
  - {name: pool, op: global_avg_pool, flatten: true}
  - {name: fc, op: linear, out: 4}
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    folder = tmp_path / "specs"
    folder.mkdir()
    path = folder / "tiny.yaml"
    path.write_text(textwrap.dedent(TINY))
    return path


def test_bench_smoke_writes_measurements_that_validate_reads(torch, tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs.csv"
    result = runner.invoke(app, ["bench", str(tiny), "--batch", "2", "--warmup", "1", "--repeat", "2", "--hw",
                                 "epyc_9654", "--per-layer", "-o", str(out), "--label", "this_cpu"])
    assert result.exit_code == 0, result.output
    assert "tiny_bench_net: cpu fp32 batch 2: median" in result.output and "2 runs" in result.output
    assert "predicted" in result.output and "on epyc_9654, ratio" in result.output
    layer_rows = {line.split()[0] for line in result.output.splitlines()}
    assert {"conv", "act", "pool", "fc"} <= layer_rows  # every layer here is an nn.Module: each is timed
    file = read_measurements(out)
    (row,) = file.rows
    assert (row.model, row.batch, row.image_size, row.device, row.dtype) == ("tiny_bench_net", 2, 16, "this_cpu",
                                                                             "fp32")
    assert row.param_count_m == pytest.approx((8 * 3 * 9 + 8 + 8 * 4 + 4) / 1e6, abs=1e-4)
    matched, skipped = match(file.rows, spec_index([tiny.parent]))
    assert len(matched) == 1 and not skipped and matched[0].graph().inputs["image"] == (2, 3, 16, 16)
    scored = runner.invoke(app, ["validate", str(out), "--hw", "epyc_9654", "--specs", str(tiny.parent)])
    assert scored.exit_code == 0, scored.output
    assert "rows matched: 1" in scored.output and "tiny_bench_net" in scored.output


def test_measurement_row_units() -> None:
    from costmodel.bridges.bench import BenchResult

    result = BenchResult(model="m", spec="m.yaml", device="cpu", dtype="fp32", batch=4, image_size=None,
                         params=2_500_000, macs=4 * 300_000_000, threads=2, runtime="torch x",
                         timing=Timing((0.010, 0.020, 0.030, 0.040)))
    row = measurement_row(result)
    assert row["infer_step_time"] == "25" and row["infer_samples_per_sec"] == "160"  # 4 / 0.025 s
    assert row["infer_step_time_iqr"] == "15" and row["infer_step_time_min"] == "10"  # quartiles 17.5, 32.5 ms
    assert row["param_count"] == "2.5000" and row["infer_gmacs"] == "0.3000" and row["infer_img_size"] == ""


def test_torch_missing_names_the_extra(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    result = runner.invoke(app, ["bench", str(tiny)])
    assert result.exit_code == 2 and result.output.startswith("error: ")
    assert "pip install 'costmodel[torch]'" in result.output and "Traceback" not in result.output


def test_cuda_without_a_gpu_exits_2(torch, tiny: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = runner.invoke(app, ["bench", str(tiny), "--device", "cuda", "--repeat", "1", "--warmup", "0"])
    assert result.exit_code == 2 and "CUDA is not available" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--dtype", "int8"], "bench runs fp32, fp16, bf16"),
    (["--device", "tpu"], "unknown --device 'tpu'"),
    (["--hw", "tpu_v5e"], "has no fp32 peak"),
    (["--repeat", "0"], "Invalid value"),
])
def test_bench_bad_options_exit_2(tiny: Path, tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "never.csv"
    result = runner.invoke(app, ["bench", str(tiny), *args, "-o", str(out)])
    assert result.exit_code == 2 and message in result.output
    assert not out.exists()


def test_image_size_of_non_image_inputs(write_spec) -> None:
    from costmodel.bridges.bench import image_size

    assert image_size(load_graph(write_spec("name: t\ninputs: {x: [16]}\nnodes:\n  - {name: a, op: relu}\n"))) is None
    assert image_size(load_graph(write_spec("name: t\ninputs: {x: [3, 8, 8]}\nnodes:\n  - {name: a, op: relu}\n"))) == 8


def test_bench_channels_last_json_and_thread_warning(torch, tiny: Path) -> None:
    result = runner.invoke(app, ["bench", str(tiny), "--warmup", "1", "--repeat", "3", "--channels-last",
                                 "--threads", "1", "--hw", "epyc_9654", "-f", "json"])
    assert result.exit_code == 0, result.output
    import json

    (row,) = json.loads(result.stdout)
    assert row["runtime"].endswith("channels_last") and row["threads"] == 1 and row["predicted_s"] > 0
    assert row["timing"]["median"] == sorted(row["timing"]["samples"])[1]


def test_bench_warns_when_threads_differ_from_the_cpu_profile() -> None:
    from types import SimpleNamespace

    from costmodel.bridges.bench import BenchResult
    from costmodel.cli.measure import bench_warnings

    result = BenchResult(model="m", spec="m.yaml", device="cpu", dtype="fp32", batch=1, image_size=None, params=1,
                         macs=1, threads=2, runtime="torch", timing=Timing((1.0, 1.0, 1.0)))
    one_thread = SimpleNamespace(kind="cpu", key="vm_1t", cpu=SimpleNamespace(threads=1, cores=2))
    (warning,) = bench_warnings(result, one_thread)  # type: ignore[arg-type]
    assert "ran with 2 thread(s) but vm_1t assumes 1" in warning
    assert bench_warnings(result, SimpleNamespace(kind="gpu", key="g", cpu=None)) == []  # type: ignore[arg-type]
