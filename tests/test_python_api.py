"""costmodel.analyze for scripts and notebooks: every kind of spec argument, devices, a short repr, an HTML table,
to_dict equal to the CLI's JSON, and a DataFrame."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import costmodel
from costmodel.cli import app
from costmodel.errors import SpecError
from costmodel.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
CONVNEXT = ROOT / "arch_specs/convnext_t.yaml"
SMALL = """
name: small
inputs: {image: [3, 32, 32]}
nodes:
  - {name: conv, op: conv2d, out: 8, kernel: 3, padding: 1}
  - {name: pool, op: global_avg_pool, flatten: true}
  - {name: fc, op: linear, out: 10}
"""
SMALL_PARAMS = 8 * 27 + 8 + 8 * 10 + 10  # conv weights + bias, fc weights + bias, by hand


def test_every_kind_of_spec_gives_the_same_counts() -> None:
    results = [costmodel.analyze(SMALL), costmodel.analyze(yaml.safe_load(SMALL)),
               costmodel.analyze(costmodel.spec.parse_spec(yaml.safe_load(SMALL)))]
    assert {r.params for r in results} == {SMALL_PARAMS}
    assert results[0].macs == 8 * 32 * 32 * 27 + 8 * 32 * 32 + 80  # conv, pool (1 per element), fc
    by_path, by_name, by_spec = (costmodel.analyze(CONVNEXT), costmodel.analyze("convnext_t"),
                                 costmodel.analyze(load_spec(CONVNEXT)))
    assert by_path.params == by_name.params == by_spec.params == 28_589_128  # timm convnext_tiny
    # YAML text longer than a file name may be (255 bytes) is still YAML text, not an OSError from the file check
    long_text = SMALL + "".join(f"# comment line {i} to make the text longer than a file name\n" for i in range(8))
    assert len(long_text) > 300 and costmodel.analyze(long_text).params == SMALL_PARAMS


def test_bad_dict_is_a_spec_error_not_a_type_error() -> None:
    with pytest.raises(SpecError):
        costmodel.analyze({"name": "x"})
    with pytest.raises(TypeError, match="spec must be"):
        costmodel.analyze(42)  # type: ignore[arg-type]


def test_devices_and_repr() -> None:
    result = costmodel.analyze("convnext_t", hw=["a100", "rtx4090", "a100_80gb"], batch=2, dtype="fp16")
    assert list(result.latency) == ["a100_80gb", "rtx4090"]  # an alias and its key count once
    assert result.batch == 2 and result.dtype == "fp16" and result.totals.macs == result.macs
    assert all(s > 0 for s in result.latency_s.values())
    text = repr(result)
    assert len(text) < 200 and "convnext_t" in text and "a100_80gb" in text
    assert costmodel.analyze("convnext_t", hw="a100").latency_s["a100_80gb"] == pytest.approx(
        costmodel.analyze("convnext_t", hw=["a100"]).latency_s["a100_80gb"])


def test_to_dict_is_the_cli_json() -> None:
    result = costmodel.analyze("convnext_t", hw="a100")
    cli = json.loads(CliRunner().invoke(app, ["analyze", str(CONVNEXT), "--hw", "a100", "-f", "json"]).output)
    assert result.to_dict() == cli


def test_notebook_html_has_a_table() -> None:
    from IPython.core.formatters import HTMLFormatter

    result = costmodel.analyze("convnext_t", hw="a100")
    html = HTMLFormatter()(result)  # what a notebook calls
    assert html is not None and html.count("<tr>") == 1 + 9 + 1  # header, the 9 rows at depth 2, totals
    assert "stages.2" in html and "28.59M" in html and "a100_80gb" in html
    assert "stages.2" in result.table() and "stages.2.blocks.0.dwconv" in result.table(depth=None)


def test_to_pandas() -> None:
    pd = pytest.importorskip("pandas")
    frame = costmodel.analyze("convnext_t", hw="a100").to_pandas()
    assert isinstance(frame, pd.DataFrame)
    assert frame["params"].sum() == 28_589_128 and "a100_80gb.latency_s" in frame.columns
    assert frame.loc["stages.0.blocks.0.dwconv", "op"] == "conv2d"
