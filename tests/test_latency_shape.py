"""Shape-aware GEMM efficiency on GPUs (latency/shape.py): tile and wave quantization, K padding.

Expected values are written as the tile arithmetic of NVIDIA's "Matrix Multiplication Background" guide, by
hand: tiles = groups x ceil(M / tm) x ceil(N / tn), waves = ceil(tiles / SMs), a tile whose operand reuse
tm*tn/(tm+tn) is below 128x128's (64) runs at reuse/64 of the rate, K padded to a multiple of 32.
"""

from __future__ import annotations

import textwrap

import pytest

from costmodel import load_graph
from costmodel.hardware import HardwareProfile
from costmodel.latency import estimate
from costmodel.latency.shape import GemmShape, gemm_shape, shape_efficiency, tile_efficiency


def gpu(sms: int | None) -> HardwareProfile:
    data = {
        "name": "Test GPU", "kind": "gpu",
        "peak": {"vector": {"fp32": 10.0}, "matrix": {"fp16": 100.0}},
        "memory": {"type": "HBM3", "bandwidth_gbs": 1000, "capacity_gb": 16},
        "launch_overhead_us": 0.0, "efficiency": {"compute": 1.0, "memory": 1.0},
        "sources": {"peak.vector.fp32": "test", "peak.matrix.fp16": "test", "memory.bandwidth_gbs": "test"},
    }
    if sms is not None:
        data["gpu"] = {"sms": sms}
        data["sources"]["gpu.sms"] = "test"
    return HardwareProfile.model_validate(data)


def test_a_square_gemm_loses_only_its_last_partial_wave() -> None:
    # 4096^3 on 108 SMs: 128x128 tiles -> 1024 tiles, 10 waves of 108 (1080 slots); 256x128 the same work
    assert tile_efficiency(GemmShape(1, 4096, 4096, 4096), 108) == pytest.approx(1024 / 1080)


def test_64_output_channels_take_a_narrow_tile_at_lower_reuse() -> None:
    # N = 64: a 128-wide tile wastes half; 256x64 has reuse 256*64/320 = 51.2, so it runs at 51.2/64 = 0.8
    m = 1024 * 224 * 224
    tiles = m // 256
    waves = -(-tiles // 82)
    assert tile_efficiency(GemmShape(1, m, 64, 576), 82) == pytest.approx(0.8 * tiles / (waves * 82))


def test_small_k_is_padded_to_the_k_step() -> None:
    # the RGB stem: K = 3 x 3 x 3 = 27 is computed as 32
    big = GemmShape(1, 4096, 4096, 27)
    assert tile_efficiency(big, 108) == pytest.approx(1024 / 1080 * 27 / 32)


def test_a_grouped_conv_with_narrow_groups() -> None:
    # 3 groups of 24 output channels, K = 24 x 9 = 216 (padded to 224): 256x64 tiles hold 24 of 64 columns
    m = 3_211_264
    tiles = 3 * (m // 256)
    waves = -(-tiles // 82)
    expected = (3 * m * 24) / (waves * 82 * 256 * 64 * 1.25) * 216 / 224
    assert tile_efficiency(GemmShape(3, m, 24, 216), 82) == pytest.approx(expected)


def test_few_tiles_split_k_to_fill_the_sms() -> None:
    # 256 x 256 x 4096 on 132 SMs: 4 tiles of 128x128 leave 128 SMs idle; split-K by 32 gives 128 CTAs of
    # K = 4096 / 32 = 128 each, one wave of 132 slots: 256*256*4096 / (132 * 128*128 * 128)
    assert tile_efficiency(GemmShape(1, 256, 256, 4096), 132) == pytest.approx(256 * 256 * 4096 / (132 * 128**3))
    # a GEMV-like shape (M = 1) wastes the tile's rows: at most 1/64 of a 64-row tile is useful
    assert tile_efficiency(GemmShape(1, 1, 1000, 768), 128) < 1 / 64


def test_gemm_shapes_of_conv_linear_and_matmul(write_spec) -> None:
    text = textwrap.dedent("""\
        name: t
        dtype: fp16
        inputs: {x: [48, 14, 14]}
        nodes:
          - {name: conv, op: conv2d, out: 96, kernel: 3, padding: 1, groups: 2}
          - {name: flat, op: flatten, start_dim: 2}
          - {name: tr, op: permute, dims: [0, 2, 1]}
          - {name: fc, op: linear, out: 64}
          - {name: mm, op: matmul, inputs: [tr, flat]}
        """)
    graph = load_graph(write_spec(text), batch=4)
    layers = graph.by_path
    assert gemm_shape(layers["conv"]) == GemmShape(2, 4 * 14 * 14, 48, 24 * 9)
    assert gemm_shape(layers["fc"]) == GemmShape(1, 4 * 196, 64, 96)
    assert gemm_shape(layers["mm"]) == GemmShape(4, 196, 196, 96)


def test_only_gpu_matrix_ops_with_an_sm_count_are_shaped(write_spec) -> None:
    text = "name: t\ndtype: fp16\ninputs: {x: [64, 56, 56]}\nnodes:\n  - {name: conv, op: conv2d, out: 64, kernel: 1}\n"
    graph = load_graph(write_spec(text), batch=8)
    layer = graph.layers[0]
    assert shape_efficiency(layer, gpu(None), "matrix") == 1.0
    assert shape_efficiency(layer, gpu(82), "vector") == 1.0
    factor = shape_efficiency(layer, gpu(82), "matrix")
    assert 0 < factor < 1
    plain, shaped = (estimate(graph, gpu(s), dtype="fp16").kernels[0] for s in (None, 82))
    assert shaped.compute_s == pytest.approx(plain.compute_s / factor)
    assert shaped.memory_s == pytest.approx(plain.memory_s)  # bytes do not change


def test_an_sm_count_needs_a_source() -> None:
    data = gpu(82).model_dump(mode="json", exclude_none=True)
    del data["sources"]["gpu.sms"]
    with pytest.raises(ValueError, match="gpu.sms"):
        HardwareProfile.model_validate(data)
