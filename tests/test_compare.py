"""The compare table and the zoo's published accuracy (spec metadata).

Accuracy: every zoo spec's ``metadata.top1`` / ``top5`` is the row of timm's results-imagenet.csv named in its
``top1_source`` (timm's default pretrained tag at the spec's resolution); the rows are copied verbatim into
tests/fixtures/timm_top1.csv.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from costmodel import analyze
from costmodel.cli import app
from costmodel.latency import estimate_spec
from costmodel.report import Comparison, compare_model, load_profiles, pareto_points, render_comparison
from costmodel.spec import load_spec

from .test_cli import GOOD

ROOT = Path(__file__).parent.parent
SPECS = sorted((ROOT / "arch_specs").glob("*.yaml"))
TOP1_SOURCE = re.compile(r"^timm results-imagenet\.csv, (?P<model>[\w.]+) @ (?P<size>\d+)$")


def _timm_rows() -> dict[tuple[str, int], dict[str, str]]:
    with open(Path(__file__).parent / "fixtures" / "timm_top1.csv", encoding="utf-8") as handle:
        return {(row["model"], int(row["img_size"])): row for row in csv.DictReader(handle)}


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_top1_matches_timm_row(path: Path) -> None:
    spec = load_spec(path)
    meta = spec.metadata
    assert meta.timm_name, "every zoo spec names its timm model"
    source = TOP1_SOURCE.match((meta.model_extra or {}).get("top1_source", ""))
    assert source, f"{path.name}: top1_source must read 'timm results-imagenet.csv, <model.tag> @ <size>'"
    model, size = source["model"], int(source["size"])
    assert model.split(".")[0] == meta.timm_name
    assert size == spec.inputs["image"][-1] == spec.inputs["image"][-2]
    row = _timm_rows()[(model, size)]
    assert meta.top1 == float(row["top1"]) and meta.top5 == float(row["top5"])


def test_fixture_holds_only_rows_in_use() -> None:
    used = {TOP1_SOURCE.match(load_spec(p).metadata.model_extra["top1_source"])["model"] for p in SPECS}
    assert {model for model, _ in _timm_rows()} == used


# --- the compare table ------------------------------------------------------------------------------------------

DEVICES = ("a100", "rtx4090")
SMALL = [ROOT / "arch_specs" / "resnet18.yaml", ROOT / "arch_specs" / "mobilenetv2_100.yaml"]
BATCH = 8


@pytest.fixture(scope="module")
def comparison() -> Comparison:
    profiles = load_profiles([*DEVICES, "a100_80gb"])  # a repeat (alias and stem of one file) counts once
    return Comparison([compare_model(p, profiles, batch=BATCH, dtype="fp16") for p in SMALL],
                      {p.key: p.name for p in profiles})


def _published(model: str) -> dict[str, str]:
    with open(Path(__file__).parent / "fixtures" / "timm_reference.csv", encoding="utf-8") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return next(r for r in rows if r["model"] == model and r["img_size"] == "224")


def test_cells_by_hand(comparison: Comparison) -> None:
    """Counts against timm's published figures; latency columns from the latency model's summary by the
    definitions (throughput = batch / latency, E = FLOPs / peak / latency with the peak read from the YAML)."""
    assert list(comparison.devices) == ["a100_80gb", "rtx4090"]
    header, _, *rows = [line.strip("| ").split(" | ") for line in
                        render_comparison(comparison, "markdown").splitlines() if line.startswith("| ")]
    cells = {row[0]: row for row in rows}
    for name, timm in (("resnet18", "resnet18"), ("mobilenetv2_100", "mobilenetv2_100")):
        published = _published(timm)
        row = cells[name]
        assert row[1] == f"{float(published['param_count_m']):.2f}M"
        assert row[2] == f"{float(published['gmacs']):.2f}"
        assert row[3] == f"{float(published['macts_m']):.2f}M"
    # resnet18 on the RTX 4090 (the last four columns), fp16 on the tensor cores at 165.2 TFLOP/s.
    spec = SMALL[0]
    result = estimate_spec(spec, "rtx4090", batch=BATCH, dtype="fp16")
    flops = analyze(spec, batch=BATCH, dtype="fp16").totals.flops
    peak = yaml.safe_load((ROOT / "hardware_profiles" / "rtx4090.yaml").read_text())["peak"]["matrix"]["fp16"]
    latency = sum(k.latency_s for k in result.kernels)
    memory = sum(k.latency_s for k in result.kernels if k.bound == "memory")
    row = cells["resnet18"]
    assert row[-4:] == [f"{1e3 * latency:,.2f}", f"{BATCH / latency:,.0f}",
                        f"{100 * flops / (peak * 1e12) / latency:.1f}%", f"{100 * memory / latency:.0f}%"]
    assert row[5] == "71.5"  # top-1 from the spec's metadata (timm resnet18.a1_in1k)
    assert header[-4:] == ["ms/batch rtx4090", "images/s rtx4090", "E rtx4090", "mem-bound rtx4090"]


def test_json_round_trip_and_csv(comparison: Comparison) -> None:
    data = json.loads(render_comparison(comparison, "json"))
    assert Comparison.from_dict(data) == comparison
    rows = list(csv.DictReader(io.StringIO(render_comparison(comparison, "csv"))))
    assert [r["name"] for r in rows] == ["resnet18", "mobilenetv2_100"]
    for row, model in zip(rows, data["models"], strict=True):
        assert int(row["macs"]) == model["macs"] and int(row["params"]) == model["params"]
        for key in ("a100_80gb", "rtx4090"):
            assert float(row[f"{key}.latency_s"]) == model["latency"][key]["latency_s"]


def test_without_devices_no_latency_columns() -> None:
    comparison = Comparison([compare_model(SMALL[0], [], batch=2)], {})
    text = render_comparison(comparison, "table")
    assert "no --hw" in text and "ms/batch" not in text and "resnet18" in text
    with pytest.raises(ValueError, match="at least one device"):
        pareto_points(comparison)


# --- Pareto points --------------------------------------------------------------------------------------------


def test_pareto_by_top1_when_every_model_has_one(comparison: Comparison) -> None:
    points, x_label, y_label = pareto_points(comparison)
    assert "top-1" in y_label and "ms" in x_label
    assert {p.group for p in points} == {"a100_80gb", "rtx4090"} and len(points) == 4
    by = {(p.name, p.group): p for p in points}
    assert by["resnet18", "rtx4090"].y == 71.504 and by["mobilenetv2_100", "a100_80gb"].y == 72.91
    latency = comparison.rows[0].latency["rtx4090"].latency_s
    assert by["resnet18", "rtx4090"].x == pytest.approx(1e3 * latency / BATCH)


def test_pareto_by_gmacs_when_a_model_has_no_top1(comparison: Comparison, write_spec) -> None:
    profiles = load_profiles(["rtx4090"])
    extra = compare_model(write_spec(GOOD), profiles, batch=BATCH, dtype="fp16")
    rows = [compare_model(SMALL[0], profiles, batch=BATCH, dtype="fp16"), extra]
    points, _, y_label = pareto_points(Comparison(rows, {"rtx4090": "NVIDIA GeForce RTX 4090"}))
    assert y_label == "GMACs per image"
    # the small spec per image: conv 3->8 3x3 on 32x32 (8*27*1024 MACs), global average pool (fvcore: one MAC per
    # input element, 8*1024) and fc 8->10 (80 MACs)
    assert points[1].y == pytest.approx((8 * 27 * 32 * 32 + 8 * 32 * 32 + 80) / 1e9)
    assert points[0].y == pytest.approx(float(_published("resnet18")["gmacs"]), abs=0.005)


# --- the command ------------------------------------------------------------------------------------------------

runner = CliRunner()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_cli_compare_writes_table(tmp_path: Path) -> None:
    out = tmp_path / "zoo.md"
    result = runner.invoke(app, ["compare", *map(str, SMALL), "--hw", "rtx4090", "--dtype", "fp16", "--batch",
                                 str(BATCH), "--format", "markdown", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("### Comparison: 2 models: batch 8, fp16, fusion none")


@pytest.mark.parametrize(("args", "message"), [
    ([], "no models to compare"),
    ([str(SMALL[0]), "--pareto", "{tmp}/pareto"], "--pareto needs at least one --hw"),
    ([str(SMALL[0]), "--plot", "{tmp}/pareto"], "--pareto needs at least one --hw"),  # the old name warns, works
    ([str(SMALL[0]), "--hw", "rtx4090", "-o", "{tmp}/file.txt/out.md"], "cannot write"),
    ([str(SMALL[0]), "--hw", "rtx4090", "--pareto", "{tmp}/file.txt/pareto"], "cannot write"),
    ([str(SMALL[0]), "--hw", "rtx4090", "--pareto", "{tmp}/p", "-o", "{tmp}"], "is a folder"),
    ([str(SMALL[0]), "--format", "xml"], "unknown --format"),
    ([str(SMALL[0]), "--hw", "no_such_device"], "unknown hardware profile"),
    ([str(SMALL[0]), "--fusion", "all"], "unknown --fusion"),
])
def test_cli_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "file.txt").write_text("x")
    result = runner.invoke(app, ["compare", *(a.format(tmp=tmp_path) for a in args)])
    assert result.exit_code == 2, result.output
    assert f"error: {message}" in result.output or message in result.output.splitlines()[-1]
    assert "Traceback" not in result.output
    assert _files(tmp_path) == [tmp_path / "file.txt"]  # nothing written


def test_cli_bad_spec_among_many_is_named(tmp_path: Path, write_spec) -> None:
    bad = write_spec("name: x\ninputs: {image: [3, 8, 8]}\nnodes:\n  - {op: no_such_op}\n", "bad.yaml")
    out = tmp_path / "out.md"
    result = runner.invoke(app, ["compare", str(SMALL[0]), str(bad), str(SMALL[1]), "--hw", "rtx4090", "-o",
                                 str(out)])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {bad}") and not out.exists()


@pytest.mark.parametrize("option", ["--pareto", "--plot"])  # --plot: the old name, warns and works
def test_cli_pareto_writes_valid_images_with_every_point(tmp_path: Path, option: str) -> None:
    """The success path: PNG and SVG beside the given stem, each a valid image; the SVG holds one marker per model
    per device (matplotlib writes a scatter as one ``<use>`` per point in the group named by its gid)."""
    from xml.etree import ElementTree

    from PIL import Image

    result = runner.invoke(app, ["compare", *map(str, SMALL), "--hw", "rtx4090", "--hw", "a100", "--dtype", "fp16",
                                 "--batch", str(BATCH), option, str(tmp_path / "pareto.png")])
    assert result.exit_code == 0, result.output
    assert _files(tmp_path) == [tmp_path / "pareto.png", tmp_path / "pareto.svg"]
    assert "resnet18" in result.output and f"wrote {tmp_path / 'pareto.svg'}" in result.output
    assert ("--plot is now --pareto" in result.output) == (option == "--plot")
    with Image.open(tmp_path / "pareto.png") as image:
        image.verify()
        assert image.format == "PNG" and image.size[0] > 600 and image.size[1] > 400
    root = ElementTree.parse(tmp_path / "pareto.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    groups = {g.get("id"): g for g in root.iter("{http://www.w3.org/2000/svg}g")}
    for device in ("rtx4090", "a100_80gb"):
        markers = list(groups[f"points:{device}"].iter("{http://www.w3.org/2000/svg}use"))
        assert len(markers) == len(SMALL), device
    assert not any(key and key.startswith("points:") and key not in ("points:rtx4090", "points:a100_80gb")
                   for key in groups)


def test_set_that_changes_the_model_drops_its_published_accuracy() -> None:
    """resnet18's 71.5 % top-1 is of resnet18: with depths 1,1,1,1 the row has no top-1 (and the Pareto plot falls
    back to GMACs); setting a variable to the value the spec already has keeps it."""
    profiles = load_profiles(["rtx4090"])
    written = compare_model(SMALL[0], profiles, batch=BATCH)
    same = compare_model(SMALL[0], profiles, batch=BATCH, overrides={"depths": [2, 2, 2, 2]})
    shallow = compare_model(SMALL[0], profiles, batch=BATCH, overrides={"depths": [1, 1, 1, 1]})
    assert written.top1 == same.top1 == 71.504 and written.top5 == same.top5 == 90.086
    assert same.params == written.params
    assert shallow.top1 is None and shallow.top5 is None and shallow.params < written.params
    _, _, y_label = pareto_points(Comparison([written, shallow], {"rtx4090": "NVIDIA GeForce RTX 4090"}))
    assert y_label == "GMACs per image"
    result = runner.invoke(app, ["compare", str(SMALL[0]), "--set", "depths=[1,1,1,1]", "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["models"][0]["top1"] is None
