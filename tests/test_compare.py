"""The compare table and the zoo's published accuracy (spec metadata).

Accuracy: every zoo spec's ``metadata.top1`` / ``top5`` is the row of timm's results-imagenet.csv named in its
``top1_source`` (timm's default pretrained tag at the spec's resolution); the rows are copied verbatim into
tests/fixtures/timm_top1.csv.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from costmodel.spec import load_spec

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
