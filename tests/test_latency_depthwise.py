"""The issue-rate bound of PyTorch's own depthwise kernel on an NVIDIA GPU (latency/depthwise.py).

Expected values by hand: the routing cases are read off ``ConvParams::use_cudnn_depthwise`` and
``check_cudnn_depthwise_workload_with_filter`` (aten/src/ATen/native/Convolution.cpp); the price is outputs x SASS
instructions per output / (128 thread-instructions per SM per clock x SMs x clock), the clock being the FP32 peak over
2 FLOPs x FP32 lanes x SMs; the profiles' lanes are checked against the datasheets' boost clocks, figures the profiles
do not hold.
"""

from __future__ import annotations

import math

import pytest

from costmodel import load_graph
from costmodel.hardware import HardwareProfile, load_profile
from costmodel.latency import estimate
from costmodel.latency.depthwise import NATIVE_INSTRUCTIONS, runs_native_depthwise

PEAK = 10.0  # TFLOP/s, the test GPU's FP32 peak


def gpu(lanes: int | None = 64) -> HardwareProfile:
    data = {
        "name": "Test GPU", "kind": "gpu",
        "peak": {"vector": {"fp32": PEAK}, "matrix": {"fp16": 100.0, "bf16": 100.0, "tf32": 50.0}},
        "memory": {"type": "HBM3", "bandwidth_gbs": 1e6, "capacity_gb": 16},  # memory never binds here
        "launch_overhead_us": 0.0, "efficiency": {"compute": 1.0, "memory": 1.0},
        "gpu": {"sms": 40},
        "sources": {"peak.vector.fp32": "test", "peak.matrix.fp16": "test", "peak.matrix.bf16": "test",
                    "peak.matrix.tf32": "test", "memory.bandwidth_gbs": "test",
                    "gpu.sms": "test"},
    }
    if lanes is not None:
        data["gpu"]["fp32_lanes_per_sm"] = lanes
        data["sources"]["gpu.fp32_lanes_per_sm"] = "test"
    return HardwareProfile.model_validate(data)


def dw_graph(write_spec, channels: int = 64, size: int = 56, batch: int = 8, **conv: object):
    fields = ", ".join(f"{k}: {v}" for k, v in {"out": channels, "kernel": 3, "padding": 1, "groups": channels,
                                                 "bias": "false", **conv}.items())
    path = write_spec(f"name: t\ndtype: fp32\ninputs: {{x: [{channels}, {size}, {size}]}}\nnodes:\n"
                      f"  - {{name: dw, op: conv2d, {fields}}}\n")
    return load_graph(path, batch=batch)


def native(write_spec, dtype: str, channels_last: bool = False, **kw: object) -> bool:
    graph = dw_graph(write_spec, **kw)
    layer = graph.layers[0]
    return runs_native_depthwise(layer, graph.shape(layer.inputs[0]), dtype, channels_last)


@pytest.mark.parametrize(("dtype", "kw", "expected"), [
    ("fp32", {}, True),  # the fp16-only rule: fp32 NCHW always runs PyTorch's kernel
    ("tf32", {}, True),
    ("bf16", {}, True),  # input.scalar_type() == kHalf only
    ("fp16", {}, False),  # stride 1, 3 x 3, >= 32 channels, width >= 7: cuDNN
    ("fp16", {"kernel": 5, "padding": 2}, False),
    ("fp16", {"kernel": 7, "padding": 3}, True),  # "only 1/3/5 filter"
    ("fp16", {"channels": 16}, True),  # "min 32 channels supported"
    ("fp16", {"dilation": 2, "padding": 2}, True),  # "no dilation supported"
    ("fp16", {"size": 6}, True),  # "min width 7"
    ("fp16", {"stride": 2}, True),  # batch 8, 64 channels: under the stride-2 table's limits
    ("fp16", {"stride": 2, "channels": 512}, False),  # ch >= 512
    ("fp16", {"stride": 2, "channels": 256, "size": 28}, False),  # ch >= 256 and w >= 28
    ("fp16", {"stride": 2, "channels": 256, "size": 14}, True),
    ("fp16", {"stride": 2, "batch": 1}, False),  # batch 1: every 3 x 3 and 5 x 5 at stride 2
    ("fp16", {"stride": 3}, True),  # only strides 1 and 2 go to cuDNN
])
def test_routing_follows_use_cudnn_depthwise(write_spec, dtype, kw, expected) -> None:
    assert native(write_spec, dtype, **kw) is expected


def test_a_channels_last_input_always_goes_to_cudnn(write_spec) -> None:
    assert not native(write_spec, "fp32", channels_last=True)


def test_a_dense_conv_is_not_depthwise(write_spec) -> None:
    assert not native(write_spec, "fp32", groups=1)
    assert not native(write_spec, "fp32", groups=2)  # two input channels per group: a grouped GEMM conv


def kernel_compute(write_spec, profile: HardwareProfile, dtype: str = "fp32", fusion: str = "none",
                   **kw: object) -> tuple[int, int, float]:
    graph = dw_graph(write_spec, **kw)
    kernel = estimate(graph, profile, dtype=dtype, fusion=fusion).kernels[0]
    return graph.layers[0].cost.flops, math.prod(graph.layers[0].cost.outputs[0]), kernel.compute_s


@pytest.mark.parametrize(("lanes", "kernel", "dtype", "size"), [
    (64, 3, "fp32", 4), (128, 3, "fp32", 4), (64, 5, "fp32", 4), (64, 3, "bf16", 2), (128, 5, "bf16", 2)])
def test_pytorch_kernel_is_priced_at_the_issue_rate(write_spec, lanes, kernel, dtype, size) -> None:
    flops, outputs, seconds = kernel_compute(write_spec, gpu(lanes), dtype, kernel=kernel, padding=kernel // 2)
    clock_x_sms = PEAK * 1e12 / (2 * lanes)  # SM-clocks per second over all SMs
    issue_s = outputs * NATIVE_INSTRUCTIONS[(kernel, size)] / (128 * clock_x_sms)
    assert issue_s > flops / (PEAK * 1e12)  # the bound binds: ~9x the FFMA time on 64 lanes
    assert seconds == pytest.approx(issue_s)


def test_instruction_counts_exceed_the_ffmas_and_grow_with_the_taps() -> None:
    for (k, _), count in NATIVE_INSTRUCTIONS.items():
        assert count > 3 * k * k + 3 * 20  # per tap an FFMA and two loads at least; three integer divisions
    assert NATIVE_INSTRUCTIONS[(5, 4)] > NATIVE_INSTRUCTIONS[(3, 4)]
    assert NATIVE_INSTRUCTIONS[(3, 2)] > NATIVE_INSTRUCTIONS[(3, 4)]  # a conversion per 16-bit load


@pytest.mark.parametrize(("lanes", "dtype", "fusion", "kw"), [
    (None, "fp32", "none", {}),  # no lane count: no bound
    (64, "fp32", "epilogue", {}),  # an engine runs its own kernels
    (64, "fp32", "compile", {}),  # Inductor's layout optimisation may run it channels-last
    (64, "fp32", "none", {"kernel": 7, "padding": 3}),  # the generic kernel: not counted
    (64, "fp16", "none", {}),  # cuDNN
])
def test_elsewhere_the_flops_price_stays(write_spec, lanes, dtype, fusion, kw) -> None:
    flops, _, seconds = kernel_compute(write_spec, gpu(lanes), dtype, fusion, **kw)
    assert seconds == pytest.approx(flops / (PEAK * 1e12))


def test_only_eager_pays_the_bound(write_spec) -> None:
    flops, _, eager = kernel_compute(write_spec, gpu(), fusion="none")
    compiled = kernel_compute(write_spec, gpu(), fusion="compile")[2]  # Inductor may run it channels-last: cuDNN
    assert compiled == pytest.approx(flops / (PEAK * 1e12)) and eager > 2 * compiled


def test_the_memo_tells_profiles_apart_by_their_lanes(write_spec) -> None:
    one = kernel_compute(write_spec, gpu(64))[2]
    two = kernel_compute(write_spec, gpu(128))[2]
    assert two == pytest.approx(2 * one)  # twice the lanes at the same peak: half the clock


# datasheet boost clocks (MHz), figures the profiles do not hold: FP32 peak / (2 x lanes x SMs) must give them back
BOOST_MHZ = {"v100": 1530, "t4": 1590, "a10": 1695, "a100_40gb": 1410, "a100_80gb": 1410, "h100_pcie": 1755,
             "h100_sxm": 1980, "h200": 1980, "jetson_agx_orin": 1300, "l4": 2040, "rtx3090": 1695, "rtx4090": 2520,
             "rtx5090": 2407}


@pytest.mark.parametrize("name", sorted(BOOST_MHZ))
def test_lanes_give_the_datasheet_clock(name) -> None:
    profile = load_profile(name)
    assert profile.gpu is not None and profile.gpu.fp32_lanes_per_sm is not None
    mhz = profile.peak.vector["fp32"] * 1e6 / (2 * profile.gpu.fp32_lanes_per_sm * profile.gpu.sms)
    assert mhz == pytest.approx(BOOST_MHZ[name], rel=0.01)
