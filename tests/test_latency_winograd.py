"""Winograd FP32 3 x 3 convolutions on a GPU's CUDA cores (latency/winograd.py).

Expected values are Lavin & Gray's F(2x2, 3x3) arithmetic, by hand: a 2 x 2 output tile of a 3 x 3 filter takes
(2 + 3 - 1)^2 = 16 multiplies per input channel, the direct convolution 2 * 2 * 3 * 3 = 36; the conv's FLOPs stay the
direct count and its compute time is FLOPs x 16 / 36 / (peak x efficiency).
"""

from __future__ import annotations

import pytest

from costmodel import load_graph
from costmodel.hardware import HardwareProfile, load_profile
from costmodel.latency import estimate
from costmodel.latency.roofline import unit_for
from costmodel.latency.winograd import runs_winograd

WINOGRAD_MULTIPLIES = (2 + 3 - 1) ** 2  # per 2 x 2 output tile, one input channel
DIRECT_MULTIPLIES = 2 * 2 * 3 * 3


def gpu(sms: int | None = 82) -> HardwareProfile:
    data = {
        "name": "Test GPU", "kind": "gpu",
        "peak": {"vector": {"fp32": 10.0}, "matrix": {"fp16": 100.0, "tf32": 50.0}},
        "memory": {"type": "HBM3", "bandwidth_gbs": 1000, "capacity_gb": 16},
        "launch_overhead_us": 0.0, "efficiency": {"compute": 1.0, "memory": 1.0},
        "sources": {"peak.vector.fp32": "test", "peak.matrix.fp16": "test", "peak.matrix.tf32": "test",
                    "memory.bandwidth_gbs": "test"},
    }
    if sms is not None:
        data["gpu"] = {"sms": sms}
        data["sources"]["gpu.sms"] = "test"
    return HardwareProfile.model_validate(data)


def conv_spec(write_spec, op: str = "conv2d", **conv: object) -> str:
    fields = ", ".join(f"{k}: {v}" for k, v in {"out": 64, "kernel": 3, "padding": 1, "bias": "false", **conv}.items())
    return write_spec(f"name: t\ndtype: fp32\ninputs: {{x: [64, 56, 56]}}\nnodes:\n"
                      f"  - {{name: conv, op: {op}, {fields}}}\n")


def conv_kernel_seconds(write_spec, profile: HardwareProfile, dtype: str = "fp32", **conv: object) -> tuple[int, float]:
    graph = load_graph(conv_spec(write_spec, **conv), batch=8)
    kernel = estimate(graph, profile, dtype=dtype, fusion="none").kernels[0]
    return graph.layers[0].cost.flops, kernel.compute_s


def test_fp32_3x3_stride_1_conv_takes_winograds_multiplies(write_spec) -> None:
    flops, seconds = conv_kernel_seconds(write_spec, gpu())
    assert flops == 2 * 8 * 56 * 56 * 64 * 64 * 9  # the counts stay the direct convolution's
    assert seconds == pytest.approx(flops * WINOGRAD_MULTIPLIES / DIRECT_MULTIPLIES / 10e12)


@pytest.mark.parametrize("conv", [{"stride": 2}, {"dilation": 2, "padding": 2}, {"groups": 2}, {"groups": 64},
                                  {"kernel": 5, "padding": 2}, {"kernel": 1, "padding": 0},
                                  {"kernel": "[3, 1]", "padding": "[1, 0]"}])
def test_other_convs_keep_the_direct_price(write_spec, conv: dict[str, object]) -> None:
    flops, seconds = conv_kernel_seconds(write_spec, gpu(), **conv)
    assert seconds == pytest.approx(flops / 10e12)


def test_tensor_core_dtypes_cpus_and_transposed_convs_are_left_alone(write_spec) -> None:
    graph = load_graph(conv_spec(write_spec), batch=8)
    layer = graph.layers[0]
    profile = gpu()
    assert runs_winograd(layer, profile, "vector", "fp32")
    for dtype in ("fp16", "tf32"):  # tensor-core implicit GEMM
        unit = unit_for(profile, "gemm", dtype)
        assert unit.name == "matrix" and not runs_winograd(layer, profile, unit.name, unit.dtype)
    cpu = load_profile("xeon6_gnr_vm")
    assert not runs_winograd(layer, cpu, unit_for(cpu, "gemm", "fp32").name, "fp32")
    transposed = load_graph(conv_spec(write_spec, op="conv_transpose2d"), batch=8).layers[0]
    assert not runs_winograd(transposed, profile, "vector", "fp32")


def test_shipped_v100_prices_an_fp32_resnet_conv_at_its_cuda_core_rate_over_winograd(write_spec) -> None:
    # the V100's FP32 GEMM factor is efficiency.vector_gemm (0.90 of 15.7 TFLOP/s, the profile's measured SGEMM)
    v100 = load_profile("v100")
    flops, seconds = conv_kernel_seconds(write_spec, v100)
    assert v100.efficiency.vector_gemm == 0.90 and v100.peak.vector["fp32"] == 15.7
    assert seconds == pytest.approx(flops * WINOGRAD_MULTIPLIES / DIRECT_MULTIPLIES / (15.7e12 * 0.90))
