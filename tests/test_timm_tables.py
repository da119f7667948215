"""timm's other published inference tables (validate_latency.py section 6): each fixture parses, names its source
(repository, commit, path in timm's results/ folder), and is scored with the profile, dtype, precision and fusion its
file name says. Parsing only: the scoring needs the cache of imported specs (benchmarks/wide_set.py)."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from types import ModuleType

import pytest

from costmodel.calibration.measurements import read_measurements
from costmodel.errors import MeasurementError
from costmodel.hardware import load_profile

SOURCE = re.compile(r"huggingface/pytorch-image-models@[0-9a-f]{40}:results/(?P<file>benchmark-infer-(?P<mode>amp|"
                    r"amp_bf16|bf16)-nchw-pt\d{3}-cu\d{3}-(?P<device>[a-z0-9]+)(?P<dynamo>-dynamo)?\.csv)")
# timm's device names in its file names -> the shipped profile (hardware_profiles/)
DEVICES = {"5090": "rtx5090", "pro6000maxq": "rtx_pro_6000_maxq", "rtx4090": "rtx4090", "rtx3090": "rtx3090"}
# timm's benchmark.py: --amp (autocast fp16), --amp-dtype bfloat16, --model-dtype bfloat16 (the model cast)
MODES = {"amp": ("fp16", "amp"), "amp_bf16": ("bf16", "amp"), "bf16": ("bf16", "uniform")}


def test_every_fixture_parses_and_names_its_source(validate: ModuleType) -> None:
    files = sorted(p.name for p in validate.TIMM_TABLES_DIR.glob("*.csv"))
    assert files == sorted(t.file for t in validate.TIMM_TABLES)  # every fixture is scored, every table has one
    commits = set()
    for table in validate.TIMM_TABLES:
        source = SOURCE.fullmatch(validate.timm_source(table.path))
        assert source, table.file
        assert source["file"] == table.file
        commits.add(validate.timm_source(table.path).split("@")[1].split(":")[0])
        assert table.profile == DEVICES[source["device"]]
        load_profile(table.profile)
        assert (table.dtype, table.precision) == MODES[source["mode"]]
        assert table.fusion == ("compile" if source["dynamo"] else "none")
        rows = read_measurements(table.path).rows
        models = [r.model for r in rows]
        assert len(models) >= 60 and len(set(models)) == len(models), table.file  # one row per model
        with table.path.open(encoding="utf-8") as handle:
            steps = {r["model"]: float(r["infer_step_time"])
                     for r in csv.DictReader(text for text in handle if not text.startswith("#"))}
        for row in rows:  # two columns copied independently: batch / throughput is timm's step time (ms)
            assert row.batch * 1e3 / row.throughput == pytest.approx(steps[row.model], rel=0.01), (table.file, row)
    assert len(commits) == 1  # one snapshot of timm's repository


def test_a_fixture_without_its_source_is_an_error(validate: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    first = validate.TIMM_TABLES[0].path.read_text(encoding="utf-8").split("\n", 1)[1]
    path.write_text(first, encoding="utf-8")
    with pytest.raises(MeasurementError, match="must name the source"):
        validate.timm_source(path)


def test_a_table_given_as_a_path_skips_its_comment_lines(validate: ModuleType, wide_stand_in) -> None:
    row = "resnet18,224,9260.29,110.57,1024,11.69"
    wide_set = wide_stand_in({"rtx3090": [row], "rtx4090": [row]}, {"resnet18": "resnet18"})
    path = Path(wide_set.REFERENCE) / "timm_table.csv"
    path.write_text("# source: somewhere\n# a comment\nmodel,infer_img_size,infer_samples_per_sec,infer_step_time,"
                    f"infer_batch_size,param_count,infer_macts\n{row},2.48\nresnet18,224,9000,28.4,256,11.69,2.48\n",
                    encoding="utf-8")
    rows = validate.wide_rows(path, wide_set.cached_specs())
    assert [(m.measurement.model, m.measurement.batch) for m in rows] == [("resnet18", 1024)]


def test_a_table_is_read_once_and_its_activations_judge_its_rows(validate: ModuleType, wide_stand_in,
                                                                 monkeypatch) -> None:
    """wide_rows opens the table once (read_measurements; it opened it a second time for infer_macts), and drops a
    row whose own infer_macts is not the spec's count (resnet18: 2.48 M conv/linear outputs, spec_counts)."""
    row = "resnet18,224,9260.29,110.57,1024,11.69"
    wide_set = wide_stand_in({"rtx3090": [row], "rtx4090": [row]}, {"resnet18": "resnet18"})
    path = Path(wide_set.REFERENCE) / "timm_table.csv"
    header = "model,infer_img_size,infer_samples_per_sec,infer_step_time,infer_batch_size,param_count,infer_macts\n"
    opened: list[Path] = []
    real_open = Path.open

    def spy(self: Path, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if self.name == path.name:
            opened.append(self)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", spy)
    _, _, counted = validate.spec_counts(wide_set.cached_specs()["resnet18"])
    for activations, kept in ((counted, ["resnet18"]), (counted * 1.05, [])):
        text = f"{activations:.4f}"
        path.write_text(f"{header}{row},{text}\n", encoding="utf-8")
        dropped: list[str] = []
        opened.clear()
        rows = validate.wide_rows(path, wide_set.cached_specs(), dropped)
        assert [m.measurement.model for m in rows] == kept and len(opened) == 1
        assert dropped == ([] if kept else
                           [f"resnet18 ({float(text):g} M activations in the table, {counted:.2f} M in the spec)"])
