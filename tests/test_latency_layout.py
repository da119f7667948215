"""NCHW <-> NHWC transposes around eager 16-bit tensor-core convolutions on a GPU (latency/layout.py).

Expected bytes are written by hand from the tensors' shapes: 2 x (input + output elements) x 2 bytes (fp16), the
input transposed to NHWC and the output back to NCHW, each read once and written once.
"""

from __future__ import annotations

import pytest

from costmodel import load_graph
from costmodel.calibration.fit import Basis, basis, factors
from costmodel.hardware import HardwareProfile, load_profile
from costmodel.latency import estimate, kernel_busy, kernel_terms, price_kernel

SPEC = """\
name: t
dtype: fp16
inputs: {x: [8, 32, 32]}
nodes:
  - {name: conv3, op: conv2d, out: 16, kernel: 3, padding: 1}
  - {name: conv1, op: conv2d, out: 16, kernel: 1}
  - {name: dw, op: conv2d, out: 16, kernel: 3, padding: 1, groups: 16}
"""
BATCH = 4
CONV3_BYTES = 2 * (BATCH * 8 * 32 * 32 + BATCH * 16 * 32 * 32) * 2  # = 393,216


def gpu(sms: int | None = 82, data_movement_memory: float = 1.0) -> HardwareProfile:
    data = {
        "name": "Test GPU", "kind": "gpu",
        "peak": {"vector": {"fp32": 10.0}, "matrix": {"fp16": 100.0}},
        "memory": {"type": "HBM3", "bandwidth_gbs": 1000, "capacity_gb": 16},
        "launch_overhead_us": 0.0,
        "efficiency": {"compute": 1.0, "memory": 1.0, "per_op": {"data_movement": {"memory": data_movement_memory}}},
        "sources": {"peak.vector.fp32": "test", "peak.matrix.fp16": "test", "memory.bandwidth_gbs": "test"},
    }
    if sms is not None:
        data["gpu"] = {"sms": sms}
        data["sources"]["gpu.sms"] = "test"
    return HardwareProfile.model_validate(data)


def test_only_eager_half_convs_with_taps_on_a_gpu_pay_transposes(write_spec) -> None:
    graph = load_graph(write_spec(SPEC), batch=BATCH)
    terms = {t.name: t for t in kernel_terms(graph, gpu(), "fp16")}
    assert CONV3_BYTES == 393_216
    assert terms["conv3"].layout_bytes == CONV3_BYTES
    assert terms["conv1"].layout_bytes == 0  # a 1x1 conv is a batched GEMM in NCHW: no layout change
    assert terms["dw"].layout_bytes == 0  # depthwise: CUDA cores
    for fusion in ("compile", "epilogue", "block"):  # channels-last runtimes
        assert all(t.layout_bytes == 0 for t in kernel_terms(graph, gpu(), "fp16", fusion))
    assert all(t.layout_bytes == 0 for t in kernel_terms(graph, gpu(), "fp32"))  # no fp32 matrix rate: vector unit
    # a CPU runs no transposes; its oneDNN convs (batch 4 > 1: the 3x3 and the depthwise one, not the 1x1 on one
    # thread) copy their fp32 weights and biases each call instead, one pass over them, and the native 1x1 conv's GEMM
    # packs its 16 x 16 weights (tests/test_latency_cpu.py)
    cpu = {t.name: t.layout_bytes for t in kernel_terms(graph, load_profile("epyc_zen3_vm_b"), "fp32")}
    assert cpu == {"conv3": (16 * 8 * 9 + 16) * 4, "conv1": 16 * 16 * 4, "dw": (16 * 9 + 16) * 4}


def test_transposes_are_serial_to_the_conv_at_the_data_movement_efficiency(write_spec) -> None:
    graph = load_graph(write_spec(SPEC), batch=BATCH)
    profile = gpu(data_movement_memory=0.5)
    term = next(t for t in kernel_terms(graph, profile, "fp16") if t.name == "conv3")
    compute, memory = price_kernel(term, profile)
    assert kernel_busy(term, profile) == pytest.approx(max(compute, memory) + CONV3_BYTES / (1000e9 * 0.5))
    result = estimate(graph, profile, dtype="fp16")
    kernel = next(k for k in result.kernels if k.name == "conv3")
    plain = next(k for k in estimate(graph, profile, dtype="fp16", fusion="epilogue").kernels if k.name == "conv3")
    assert kernel.dram_bytes == plain.dram_bytes + CONV3_BYTES
    assert kernel.latency_s == pytest.approx(plain.latency_s + CONV3_BYTES / 500e9)
    row = next(o for o in result.ops if o.path == "conv3")
    assert row.dram_read + row.dram_written == kernel.dram_bytes


def test_calibration_prices_the_transposes_like_the_model(write_spec) -> None:
    graph = load_graph(write_spec(SPEC), batch=BATCH)
    profile = load_profile("rtx4090")
    fitted: Basis = basis(graph, profile, "fp16", "none", "amp")
    assert fitted.layout is not None and fitted.layout.sum() > 0
    expected = estimate(graph, profile, dtype="fp16", precision="amp").summary.latency_s
    assert fitted.latency(*factors(profile)) == pytest.approx(expected)


def test_eager_cudnn_convs_add_their_bias_in_a_kernel_of_their_own(write_spec) -> None:
    """at::_convolution (ConvBackend::Cudnn) runs the conv without its bias, then output.add_(bias): one elementwise
    kernel reading and writing the whole fp16 output (by hand: 4 x 16 x 32 x 32 elements x 2 bytes, twice)."""
    graph = load_graph(write_spec(SPEC), batch=BATCH)
    out_bytes = BATCH * 16 * 32 * 32 * 2
    terms = {t.name: t for t in kernel_terms(graph, gpu(), "fp16")}
    for conv in ("conv3", "conv1"):
        bias = terms[f"{conv}:bias"]
        assert bias.consumer == conv and bias.members == () and bias.keys == ("elementwise",)
        assert bias.traffic[0].dram_read == bias.traffic[0].dram_written == out_bytes
        assert bias.memory_s == pytest.approx((2 * out_bytes / 1000e9,))
    assert "dw:bias" not in terms  # PyTorch's depthwise kernel adds the bias itself
    no_bias = load_graph(write_spec(SPEC.replace("kernel: 1}", "kernel: 1, bias: false}")), batch=BATCH)
    assert "conv1:bias" not in {t.name for t in kernel_terms(no_bias, gpu(), "fp16")}
    for fusion in ("compile", "epilogue", "block"):  # generated kernels and engines fuse the bias
        assert not any(t.name.endswith(":bias") for t in kernel_terms(graph, gpu(), "fp16", fusion))
    assert not any(t.name.endswith(":bias") for t in kernel_terms(graph, load_profile("epyc_zen3_vm_b"), "fp32"))
