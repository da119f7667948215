"""Every reporting command answers --format json with JSON (json.loads parses it); analyze and compare follow
their schemas in docs/schema/; bench and validate warn where their figures mislead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from costmodel.bridges.bench import BenchResult, Timing
from costmodel.cli import app
from costmodel.cli.measure import bench_warnings
from costmodel.hardware import load_profile

ROOT = Path(__file__).resolve().parents[1]
TIMM = ROOT / "tests/fixtures/timm_benchmark_zoo.csv"
runner = CliRunner()

COMMANDS = {
    "analyze": ["analyze", "resnet18", "--hw", "a100"],
    "compare": ["compare", "resnet18", "mobilenetv2_100", "--hw", "a100"],
    "hw list": ["hw", "list"],
    "hw show": ["hw", "show", "a100"],
    "ops": ["ops"],
    "zoo list": ["zoo", "list"],
    "design": ["design", "--macs", "300M", "--max-depth", "4"],
    "design score": ["design", "score", "resnet18"],
    "validate": ["validate", str(TIMM), "--hw", "rtx4090", "--device", "rtx4090", "--dtype", "fp16"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_format_json_parses(name: str) -> None:
    result = runner.invoke(app, [*COMMANDS[name], "--format", "json"])
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)


def test_calibrate_json(tmp_path: Path) -> None:
    out = tmp_path / "fitted.yaml"
    result = runner.invoke(app, ["calibrate", str(TIMM), "--hw", "rtx4090", "--device", "rtx4090", "--dtype", "fp16",
                                 "-o", str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["rows"] == 17 and out.exists() and set(data["fit"]["parameters"]) >= set(data["fit"]["fitted"])


def test_hw_list_json_has_keys() -> None:
    data = json.loads(runner.invoke(app, ["hw", "list", "-f", "json"]).stdout)
    keys = {p["key"] for p in data}
    assert {"a100_80gb", "h200", "rtx4090"} <= keys
    assert all(load_profile(p["key"]).name == p["name"] for p in data)


@pytest.mark.parametrize("command", ["analyze", "compare"])
def test_schema(command: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / f"docs/schema/{command}.schema.json").read_text())
    args = COMMANDS[command] + ["--hw", "rtx4090"]
    if command == "analyze":
        args += ["--sweep-batch", "1,4"]
    data = json.loads(runner.invoke(app, [*args, "-f", "json"]).stdout)
    jsonschema.validate(data, schema)
    broken = {**data, "models" if command == "compare" else "totals": "oops"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def _result(samples: tuple[float, ...], threads: int = 1) -> BenchResult:
    return BenchResult(model="m", spec="m.yaml", device="cpu", dtype="fp32", batch=1, image_size=224, params=1,
                       macs=1, threads=threads, runtime="torch", timing=Timing(samples))


def test_bench_warns_on_unstable_timings() -> None:
    steady = _result((1.00, 1.01, 1.02, 1.00, 1.01))
    assert bench_warnings(steady, None) == []
    noisy = _result((1.0, 1.3, 1.1, 1.4, 1.0))  # IQR 0.3 (inclusive quartiles 1.0 and 1.3) = 27 % of 1.1; halves
    # medians 1.15 and 1.2: no drift warning (+4 %)
    (warning,) = bench_warnings(noisy, None)
    assert "IQR 27% of the median" in warning


def test_design_flops_is_the_old_name_of_macs() -> None:
    new = runner.invoke(app, ["design", "--macs", "300M", "--max-depth", "4", "-f", "json"])
    old = runner.invoke(app, ["design", "--flops", "300M", "--max-depth", "4", "-f", "json"])
    assert old.exit_code == new.exit_code == 0
    assert "--flops is now --macs" in old.stderr and "--flops" not in new.stderr
    assert json.loads(old.stdout)["result"]["macs"] == json.loads(new.stdout)["result"]["macs"]
