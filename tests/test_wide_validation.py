"""The wide validation set (benchmarks/wide_set.py, validate_latency.py --wide) on a two-model stand-in cache.

The real run imports hundreds of timm models (minutes each, benchmarks only); here two zoo specs stand in for
cached imports and three tiny tables for timm's shared files, so the selection rules are checked: models in
both eager tables only, test models excluded, one row per model at the spec's own image size (the largest
batch), and a cross-validated fit that predicts every row.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def wide(validate, wide_stand_in):
    rows = {  # resnet18 at its own 224 px (two batches) and at 288 px; vgg16 at 224; a test model; one 4090-only
        "rtx3090": ["resnet18,224,9260.29,110.57,1024,11.69,1.82", "resnet18,224,9000,28.4,256,11.69,1.82",
                    "resnet18,288,5600,182.8,1024,11.69,3.01", "vgg16,224,1021.7,1002.2,1024,138.36,15.47",
                    "test_vit,160,109337.21,9.356,1024,0.37,0.04"],
        "rtx4090": ["resnet18,224,13726.3,74.6,1024,11.69,1.82", "vgg16,224,2235.6,458.0,1024,138.36,15.47",
                    "test_vit,160,150000,6.8,1024,0.37,0.04", "only_on_4090,224,1000,1024,1024,1,1"],
        "rtx4090 compile": ["resnet18,224,24941.5,41.1,1024,11.69,1.82", "vgg16,224,3852.4,265.8,1024,150.0,15.47"],
    }
    return validate, wide_stand_in(rows, {"resnet18": "resnet18", "vgg16": "vgg16"})


def test_the_wide_set_takes_models_of_both_eager_tables(wide) -> None:
    _, wide_set = wide
    assert sorted(wide_set.table_models()) == ["resnet18", "vgg16"]  # no test_*, nothing only on one GPU
    assert sorted(wide_set.cached_specs()) == ["resnet18", "vgg16"]


def test_one_row_per_model_at_its_own_size(wide) -> None:
    validate_latency, wide_set = wide
    rows = validate_latency.wide_rows("rtx3090", wide_set.cached_specs())
    chosen = {m.measurement.model: (m.measurement.image_size, m.measurement.batch) for m in rows}
    assert chosen == {"resnet18": (224, 1024), "vgg16": (224, 1024)}


def test_a_row_of_another_form_of_the_network_is_dropped(wide) -> None:
    validate_latency, wide_set = wide
    dropped: list[str] = []
    rows = validate_latency.wide_rows("rtx4090 compile", wide_set.cached_specs(), dropped)
    assert [m.measurement.model for m in rows] == ["resnet18"]  # vgg16's row says 150 M params: not the spec
    assert dropped == ["vgg16 (150 M in the table, 138.36 M in the spec)"]


def test_cross_validation_predicts_every_row(wide) -> None:
    validate_latency, wide_set = wide
    from costmodel.calibration.fit import bases_of
    from costmodel.hardware import load_profile

    rows = validate_latency.wide_rows("rtx4090", wide_set.cached_specs())
    base = load_profile("rtx4090")
    bases = bases_of(rows, base, "fp16", "none", "amp")
    measured = [m.measurement.latency_s for m in rows]
    predicted = validate_latency.kfold(bases, measured, base)
    assert len(predicted) == 2 and all(p > 0 for p in predicted)
