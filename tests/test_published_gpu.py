"""NVIDIA's published GPU inference tables (benchmarks/published_gpu.py): the fixture, the specs, the scoring."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

from costmodel.analysis.metrics import analyze_graph
from costmodel.api import load_graph
from costmodel.hardware import load_profile
from costmodel.latency.model import kernel_busy, kernel_terms, model_seconds

from .conftest import benchmark_module

SOURCE = re.compile(r"NVIDIA/DeepLearningExamples@[0-9a-f]{40}:PyTorch/Classification/ConvNets/"
                    r"(resnet50v1\.5|resnext101-32x4d|se-resnext101-32x4d|efficientnet)/README\.md"
                    r"#Inference performance: .+")


@pytest.fixture(scope="module")
def published() -> ModuleType:
    return benchmark_module("published_gpu")


def test_fixture_parses_and_every_row_has_a_source(published: ModuleType) -> None:
    rows = published.read_fixture()
    # 4 resnet tables x 3 models x 9 batches, efficientnet: A100 4 models x 2 x 9, V100 4 x 2 x 9 less 2 (the V100 FP32
    # tables of efficientnet-b4 and -widese-b4 stop at batch 128)
    assert len(rows) == 3 * 4 * 9 + 4 * 2 * 9 + 4 * 2 * 9 - 2
    for row in rows:
        assert SOURCE.fullmatch(row.source), row.source
        assert row.device in published.PROFILES and row.precision in published.SETTINGS
        assert row.memory_format in ("nchw", "nhwc") and row.software == "NGC pytorch-21.03"
        # two columns copied independently: the mean of per-iteration images/s and the mean per-iteration time agree
        # to within the outliers the mean time carries (batch / throughput is at most 2 % above it, never far below)
        assert 0.6 < row.latency_s * 1e3 / row.latency_avg_ms < 1.03, row
    assert {(r.device, r.precision) for r in rows} == {
        ("V100-SXM2-16GB (DGX-1)", "FP32"), ("V100-SXM2-16GB (DGX-1)", "AMP"), ("T4", "FP32"), ("T4", "AMP"),
        ("A100-SXM4-80GB (DGX A100)", "TF32"), ("A100-SXM4-80GB (DGX A100)", "AMP")}
    # configs.yml@7bdfc81 runs every AMP configuration channels-last and none of the FP32/TF32 ones
    assert all((r.memory_format == "nhwc") == (r.precision == "AMP") for r in rows)


def test_a_row_without_a_source_is_an_error(published: ModuleType, tmp_path: Path) -> None:
    lines = published.FIXTURE.read_text().splitlines()
    data = next(i for i, line in enumerate(lines) if line.startswith("V100"))
    cut = lines[data].rsplit(",", 1)[0] + ","
    path = tmp_path / "rows.csv"
    path.write_text("\n".join([*lines[:data], cut, *lines[data + 1:]]) + "\n")
    with pytest.raises(ValueError, match="empty source"):
        published.read_fixture(path)


def test_readme_tables_are_copied_as_written(published: ModuleType) -> None:
    text = """#### Inference performance results

Our results were obtained by running the applicable training script the pytorch-21.03 NGC container.

##### Inference performance: NVIDIA T4

###### Mixed Precision Inference Latency

| **Batch Size** | **Throughput Avg** | **Latency Avg** | **Latency 95%** | **Latency 99%** |
|:--------------:|:------------------:|:---------------:|:---------------:|:---------------:|
|       1        |      79 img/s      |    12.96 ms     |    15.47 ms     |     20.0 ms     |

## Release notes
| 1 | 2 | 3 | 4 | 5 |
"""
    rows = list(published.readme_rows(text, "resnet50v1.5"))
    assert len(rows) == 1
    assert rows[0] | {"source": ""} == {
        "device": "NVIDIA T4", "model": "resnet50", "precision": "AMP", "batch": "1", "image_size": "224",
        "throughput_img_s": "79", "latency_avg_ms": "12.96", "latency_p95_ms": "15.47", "latency_p99_ms": "20.0",
        "software": "NGC pytorch-21.03", "source": ""}


def test_specs_match_the_published_networks(published: ModuleType) -> None:
    def totals(model: str, size: int = 224) -> tuple[int, int]:
        graph = load_graph(published.MODEL_SPECS[model], batch=1, input_shapes={"image": (3, size, size)})
        totals = analyze_graph(graph).totals
        return totals.params, totals.macs

    # timm's benchmark table (pt240 RTX 3090): resnext101_32x4d 44.18 M params, 8.01 GMACs at 224 (NVIDIA's layers are
    # timm's: widths 128..1024 x 32 groups, expansion 2 = timm's planes 64..512 x 4); tf_efficientnet_b4 at 380 px:
    # 19.34 M, 4.49 GMACs
    params, macs = totals("resnext101-32x4d")
    assert round(params / 1e6, 2) == 44.18 and round(macs / 1e9, 2) == 8.01
    params_b4, macs_b4 = totals("efficientnet-b4", 380)
    assert round(params_b4 / 1e6, 2) == 19.34 and round(macs_b4 / 1e9, 2) == 4.49
    # NVIDIA's SE has 16 hidden channels whatever the width (se_squeeze=16): per block 2 x 16 x C weights + 16 + C
    # biases, C = 256, 512, 1024, 2048 over 3, 4, 23, 3 blocks (timm's seresnext101_32x4d, C/16 wide, has 48.96 M)
    se = sum(n * (2 * 16 * c + 16 + c) for n, c in ((3, 256), (4, 512), (23, 1024), (3, 2048)))
    assert totals("se-resnext101-32x4d")[0] == params + se
    # wide SE (NVIDIA's squeeze_hidden=True): each MBConv block with expansion 6 squeezes its mid = 6 x in channels to
    # mid / 4 instead of in / 4; SE weights 2 x mid x rd plus biases rd + mid. B0's stage table (Tan & Le, Table 1):
    chs, depths = (16, 24, 40, 80, 112, 192, 320), (1, 2, 2, 3, 3, 4, 1)
    wider = 0
    for stage in range(1, 7):
        for block in range(depths[stage]):
            mid = 6 * (chs[stage - 1] if block == 0 else chs[stage])
            wider += (2 * mid * mid // 4 + mid // 4) - (2 * mid * mid // 24 + mid // 24)
    assert totals("efficientnet-widese-b0")[0] == totals("efficientnet-b0")[0] + wider


def test_prediction_is_the_full_estimate_and_nhwc_drops_the_transposes(published: ModuleType) -> None:
    rows = [r for r in published.read_fixture() if r.model == "resnet50" and r.batch == 64
            and r.device.startswith("V100")]
    fp32 = next(r for r in rows if r.precision == "FP32")
    amp = next(r for r in rows if r.precision == "AMP")
    scored = published.score([fp32, amp])
    assert scored[0].predicted_s == pytest.approx(published.check_estimate(scored[0]), rel=1e-9)
    graph = load_graph("resnet50", batch=64)
    profile = load_profile("v100")
    terms = kernel_terms(graph, profile, "fp16", "none", "amp")
    nchw = model_seconds([kernel_busy(t, profile) for t in terms], profile)
    assert sum(t.layout_bytes for t in terms) > 0  # eager NCHW fp16 pays transposes around the 3x3 and 7x7 convs
    assert scored[1].predicted_s < nchw
    assert published.check_estimate(scored[1]) == pytest.approx(nchw, rel=1e-9)
    flat = [replace(t, layout_s=0.0) for t in terms]
    assert scored[1].predicted_s == pytest.approx(model_seconds([kernel_busy(t, profile) for t in flat], profile))


def test_an_nhwc_row_runs_every_depthwise_conv_on_cudnn(published: ModuleType) -> None:
    """PyTorch sends a channels-last depthwise conv to cuDNN (use_cudnn_depthwise): an NHWC row prices each at its
    FLOPs over the unit's peak, where the NCHW routing floors the fp16 stride-2 convs cuDNN's table leaves to
    PyTorch's own kernel (latency/depthwise.py)."""
    row = next(r for r in published.read_fixture() if r.model == "efficientnet-b0" and r.precision == "AMP"
               and r.batch == 256 and r.device.startswith("A100"))
    assert row.memory_format == "nhwc"
    profile = load_profile("a100_80gb")
    terms = kernel_terms(load_graph("efficientnet_b0", batch=256), profile, "fp16", "none", "amp")
    convs = [(t, i) for t in terms for i, key in enumerate(t.keys) if t.members and key == "depthwise"]
    flops_s = {id(t.members[i]): t.members[i].cost.flops / t.units[i].peak_flops for t, i in convs}
    assert any(t.compute_s[i] > 1.5 * flops_s[id(t.members[i])] for t, i in convs)  # floored under NCHW
    for t, i in convs:
        assert published.cudnn_depthwise(t)[i] == pytest.approx(flops_s[id(t.members[i])], rel=1e-12)
    flat = [replace(t, layout_s=0.0, layout_bytes=0, compute_s=published.cudnn_depthwise(t)) for t in terms]
    assert published.score([row])[0].predicted_s == pytest.approx(
        model_seconds([kernel_busy(t, profile) for t in flat], profile), rel=1e-9)


def test_host_given_overlap_series_and_turn_batch(published: ModuleType) -> None:
    """The host-given check: in series is device time + kernels x host (by hand); the model's overlapped streams lie
    between the slower stream alone and that sum; the turn batch is the first past 1.25x batch 1's latency."""
    rows = [r for r in published.read_fixture() if r.model == "resnet50" and r.device.startswith("V100")
            and r.precision == "FP32" and r.batch in (1, 256)]
    one, big = published.score(rows)
    host = published.host_per_kernel(one)
    assert host == pytest.approx(one.row.latency_s / one.kernels * 1e6)
    for s in (one, big):
        series = published.with_host(s, host, overlap=False)
        assert series == pytest.approx(s.device_s + s.kernels * host * 1e-6)
        overlapped = published.with_host(s, host)
        assert max(s.device_s, s.kernels * host * 1e-6) <= overlapped * (1 + 1e-9) <= series
    assert published.with_host(one, host) == pytest.approx(one.kernels * host * 1e-6, rel=0.05)  # host-bound
    assert published.turn_batch([(1, 1.0), (2, 1.2), (4, 1.3), (8, 2.0)]) == 4
    assert published.turn_batch([(1, 1.0), (2, 1.1)]) is None
    lines = published.overlap_lines(published.score(published.read_fixture()[:40]))
    assert lines[0].startswith("host given") and any("in series" in line for line in lines)


def test_family_lines_take_the_median_per_family(published: ModuleType) -> None:
    """Per device, precision and family, the median ratio of the rows at batch 32-256, by hand on three made-up rows."""
    row = published.read_fixture()[0]
    rows = [replace(row, model=m, batch=b, throughput=b / 0.1)  # measured 0.1 s per batch
            for m, b in (("efficientnet-b0", 64), ("efficientnet-b4", 256), ("resnet50", 128), ("resnet50", 16))]
    scored = [published.Scored(r, p, 1, p) for r, p in zip(rows, (0.08, 0.06, 0.11, 0.5), strict=True)]
    lines = published.family_lines(scored)
    assert len(lines) == 2 and lines[0].startswith("per model family, batch 32-256")
    # efficientnet: ratios 0.8 and 0.6 -> median 0.7, |err| 0.2 and 0.4 -> 30 %; resnet50: batch 16 left out -> 1.1
    assert "efficientnet 0.700 30.0% (2)" in lines[1] and "resnet50 1.100 10.0% (1)" in lines[1]
    assert published.family("efficientnet-widese-b4") == "efficientnet"
