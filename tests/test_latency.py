"""The roofline latency model: hand-computed single ops, fusion, cache, model figures, properties and the CLI.

The synthetic profile: vector fp32 10 TFLOP/s, matrix fp16 100 TFLOP/s, 1000 GB/s, launch 2 us, efficiencies
1.0 (and 0.5 in one case). Expected figures are written as arithmetic from the ops' shapes, fp16 (2 bytes).
"""

from __future__ import annotations

import json
import statistics
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from costmodel import load_graph
from costmodel.calibration.fit import basis, factors, with_parameters
from costmodel.cli import app
from costmodel.hardware import HardwareError, HardwareProfile, load_profile
from costmodel.latency import FUSION_MODES, estimate, group_layers, kernel_terms, unit_for

ROOT = Path(__file__).resolve().parents[1]
ZOO = sorted((ROOT / "arch_specs").glob("*.yaml"))
runner = CliRunner()

US = 1e-6
VECTOR = 10e12  # FLOP/s
MATRIX = 100e12
BW = 1000e9  # bytes/s
LAUNCH = 2 * US


def profile_data(efficiency: float = 1.0, l2_mb: float | None = None) -> dict:
    data = {
        "name": "Test Device", "kind": "gpu",
        "peak": {"vector": {"fp32": 10.0}, "matrix": {"fp16": 100.0}},
        "memory": {"type": "HBM3", "bandwidth_gbs": 1000, "capacity_gb": 16},
        "launch_overhead_us": 2.0,
        "efficiency": {"compute": efficiency, "memory": efficiency},
        "sources": {"peak.vector.fp32": "test", "peak.matrix.fp16": "test", "memory.bandwidth_gbs": "test"},
    }
    if l2_mb is not None:
        data["caches"] = {"l2_mb": l2_mb}
    return data


def device(efficiency: float = 1.0, l2_mb: float | None = None) -> HardwareProfile:
    return HardwareProfile.model_validate(profile_data(efficiency, l2_mb))


def graph_of(write_spec, body: str, inputs: str = "{x: [96, 56, 56]}", batch: int = 1, dtype: str = "fp16"):
    text = f"name: t\ndtype: {dtype}\ninputs: {inputs}\nnodes:\n" + textwrap.indent(textwrap.dedent(body), "  ")
    return load_graph(write_spec(text), batch=batch)


def only_kernel(result):
    (kernel,) = result.kernels
    return kernel


# ------------------------------------------------------------------------------------------- single ops


def test_depthwise_7x7_runs_on_the_vector_unit_and_is_compute_bound(write_spec) -> None:
    graph = graph_of(write_spec, "- {name: dw, op: conv2d, out: 96, kernel: 7, padding: 3, groups: 96}")
    n = 96 * 56 * 56  # output elements
    flops = 2 * n * 49 + n  # a MAC per tap, plus the bias
    moved = (n + 96 * 49 + 96 + n) * 2  # input, weights + bias, output
    result = estimate(graph, device())
    op = result.ops[0]
    assert op.unit == "vector" and op.flops == flops and op.dram_read + op.dram_written == moved
    assert op.intensity == pytest.approx(flops / moved)
    assert op.ridge == pytest.approx(VECTOR / BW)  # no vector fp16 rate: the fp32 rate
    kernel = only_kernel(result)
    assert kernel.compute_s == pytest.approx(flops / VECTOR)
    assert kernel.memory_s == pytest.approx(moved / BW)
    assert kernel.latency_s == pytest.approx(flops / VECTOR + LAUNCH) and kernel.bound == "compute"

    half = only_kernel(estimate(graph, device(efficiency=0.5)))  # half the rate and half the bandwidth
    assert half.latency_s == pytest.approx(flops / (0.5 * VECTOR) + LAUNCH)
    assert half.memory_s == pytest.approx(moved / (0.5 * BW))


def test_pointwise_conv_runs_on_the_matrix_unit(write_spec) -> None:
    graph = graph_of(write_spec, "- {name: pw, op: conv2d, out: 1024, kernel: 1, bias: false}",
                     inputs="{x: [256, 14, 14]}", batch=8)
    flops = 2 * 8 * 14 * 14 * 256 * 1024
    moved = (8 * 256 * 14 * 14 + 256 * 1024 + 8 * 1024 * 14 * 14) * 2
    result = estimate(graph, device())
    op, kernel = result.ops[0], only_kernel(result)
    assert op.unit == "matrix" and op.ridge == pytest.approx(MATRIX / BW)
    assert op.intensity == pytest.approx(flops / moved)
    assert kernel.compute_s == pytest.approx(flops / MATRIX) and kernel.memory_s == pytest.approx(moved / BW)
    assert kernel.latency_s == pytest.approx(flops / MATRIX + LAUNCH) and kernel.bound == "compute"


def test_large_gemm_fp16_on_matrix_and_fp32_on_vector(write_spec) -> None:
    graph = graph_of(write_spec, "- {name: fc, op: linear, out: 4096, bias: false}", inputs="{x: [4096, 4096]}")
    flops = 2 * 4096**3
    result = estimate(graph, device())
    assert only_kernel(result).latency_s == pytest.approx(flops / MATRIX + LAUNCH)
    assert only_kernel(result).memory_s == pytest.approx(3 * 4096 * 4096 * 2 / BW)
    assert result.summary.efficiency == pytest.approx((flops / MATRIX) / (flops / MATRIX + LAUNCH))

    fp32 = estimate(graph, device(), dtype="fp32")  # no matrix fp32 rate: the vector unit, 4-byte elements
    assert fp32.ops[0].unit == "vector"
    assert only_kernel(fp32).latency_s == pytest.approx(flops / VECTOR + LAUNCH)
    assert only_kernel(fp32).memory_s == pytest.approx(3 * 4096 * 4096 * 4 / BW)


# Large fp16 GEMMs (torch.mm, cuBLAS, FP32 accumulate, the best of squares 1,024-10,240) as published for the boards,
# copied from the sources (zzc0721/torch-performance-test-data database.md; waynehacking8/blackwell-tensorcore-kernels
# results/bench.csv for the Max-Q): TFLOP/s, one figure per board of the profile's product. A power-capped card runs
# them well below its datasheet peak. a100_40gb: the SXM4 80GB board (the same module's compute; the database's 40 GB
# boards are not SXM4 or do not say).
PUBLISHED_GEMM_TFLOPS = {"t4": (41.91, 42.71, 41.93), "l4": (68.83,), "v100": (94.84,),
                         "rtx_pro_6000_maxq": (235.13,), "a100_80gb": (258.74,), "a100_40gb": (258.74,),
                         "h100_sxm": (760.04, 758.14), "h200": (759.40,), "h100_pcie": (458.03,)}


@pytest.mark.parametrize("stem", sorted(PUBLISHED_GEMM_TFLOPS))
def test_measured_compute_factor_prices_a_large_gemm_at_the_published_rate(stem) -> None:
    """efficiency.compute of these profiles is a published large-GEMM rate over the datasheet peak: the priced rate
    of a large GEMM on the tensor cores (peak x factor) is the boards' median within the factor's rounding."""
    profile = load_profile(stem)
    rate = profile.peak.matrix["fp16"] * profile.efficiency.compute
    assert rate == pytest.approx(statistics.median(PUBLISHED_GEMM_TFLOPS[stem]), rel=0.01)


def test_every_nvidia_gpu_profile_follows_one_compute_recipe() -> None:
    """Every NVIDIA GPU profile with an SM count sets efficiency.compute and efficiency.vector_gemm from published
    large-GEMM measurements (checked above and below), or is one of the parts no measurement was found for, which
    keep the 0.9 default for both units."""
    unmeasured = {"a10", "jetson_agx_orin"}
    geforce = {"rtx3090", "rtx4090", "rtx5090"}  # measured above the whitepaper peak: capped at 1.0
    for path in sorted((Path(__file__).resolve().parents[1] / "hardware_profiles").glob("*.yaml")):
        profile = load_profile(path.stem)
        if profile.kind != "gpu" or profile.gpu is None or not profile.name.startswith("NVIDIA"):
            continue
        if path.stem in unmeasured:
            assert profile.efficiency.compute == 0.9 and profile.efficiency.vector_gemm is None, path.stem
            continue
        if path.stem in geforce:
            assert profile.efficiency.compute == 1.0, path.stem
        else:
            assert path.stem in PUBLISHED_GEMM_TFLOPS, f"{path.stem}: no published large-GEMM rate for its factor"
        assert path.stem in PUBLISHED_SGEMM_TFLOPS, f"{path.stem}: no published SGEMM rate for its vector_gemm"


# Large fp32 GEMMs with TF32 off (cuBLAS SGEMM on the CUDA cores), the same boards and sources: TFLOP/s.
PUBLISHED_SGEMM_TFLOPS = {"t4": (4.17, 4.43, 4.35), "l4": (15.38,), "v100": (14.06,), "rtx_pro_6000_maxq": (56.15,),
                          "a100_80gb": (19.18,), "a100_40gb": (19.18,), "h100_sxm": (51.88, 52.11),
                          "h200": (51.34,), "h100_pcie": (36.95,), "rtx3090": (24.46, 24.84, 24.79),
                          "rtx4090": (55.01, 54.77, 46.48, 54.67), "rtx5090": (69.16, 67.57)}


@pytest.mark.parametrize("stem", sorted(PUBLISHED_SGEMM_TFLOPS))
def test_vector_gemm_factor_prices_a_large_fp32_gemm_at_the_published_rate(stem) -> None:
    """efficiency.vector_gemm is the CUDA cores' published SGEMM rate over their datasheet peak: a large fp32 GEMM
    (no fp32 matrix rate on these parts) is priced at the boards' median within the factor's rounding."""
    profile = load_profile(stem)
    unit = unit_for(profile, "gemm", "fp32")
    assert unit.name == "vector" and unit.scale == pytest.approx(profile.efficiency.vector_gemm
                                                                 / profile.efficiency.compute)
    rate = unit.peak_flops * profile.efficiency.compute / 1e12
    assert rate == pytest.approx(statistics.median(PUBLISHED_SGEMM_TFLOPS[stem]), rel=0.01)


def test_v100_prices_each_unit_at_its_own_factor(write_spec) -> None:
    """By hand, on the V100 (tensor 0.76 of 125, CUDA-core GEMMs 0.90 of 15.7, other vector ops 0.76 of 15.7): a
    4096^3 GEMM in fp32 runs on the CUDA cores, 2 x 4096^3 / (15.7e12 x 0.90) = 9.73 ms (14.1 TFLOP/s, the published
    14.06), where the tensor factor would give 11.52 ms; in fp16 on the tensor cores (128 x 128 tiles: 1024 tiles on
    80 SMs, 13 waves, shape efficiency 1024 / 1040, the best of the guide's tiles: 256 x 128 gives 512 / 560)
    2 x 4096^3 / (125e12 x 0.76 x 1024 / 1040) = 1.47 ms; an fp32 ReLU stays at the profile's compute factor. A
    fitted gemm factor (per_op, 0.5) replaces the tensor one and scales the CUDA-core one by the same ratio:
    15.7e12 x 0.5 x 0.90 / 0.76."""
    v100 = load_profile("v100")
    graph = graph_of(write_spec, "- {name: fc, op: linear, out: 4096, bias: false}", inputs="{x: [4096, 4096]}")
    flops = 2 * 4096**3
    fp32 = only_kernel(estimate(graph, v100, dtype="fp32"))
    assert fp32.compute_s == pytest.approx(flops / (15.7e12 * 0.90)) and fp32.bound == "compute"
    fp16 = only_kernel(estimate(graph, v100, dtype="fp16"))
    assert fp16.compute_s == pytest.approx(flops / (125e12 * 0.76 * 1024 / 1040))
    relu = graph_of(write_spec, "- {name: act, op: relu}", inputs="{x: [4096, 4096]}")
    assert estimate(relu, v100, dtype="fp32").ops[0].compute_s == pytest.approx(4096**2 / (15.7e12 * 0.76))
    fitted = with_parameters(v100, {"gemm": 0.5})
    assert only_kernel(estimate(graph, fitted, dtype="fp32")).compute_s == pytest.approx(
        flops / (15.7e12 * 0.5 * 0.90 / 0.76))
    for profile in (v100, fitted):  # the calibration basis prices both units the same way (one pricing function)
        for dtype in ("fp32", "fp16"):
            assert basis(graph, profile, dtype, "none").latency(*factors(profile)) == pytest.approx(
                estimate(graph, profile, dtype=dtype).summary.latency_s, rel=1e-12)


def test_t4_prices_a_wave_filling_gemm_at_its_power_capped_rate(write_spec) -> None:
    """By hand: a 5120^3 fp16 GEMM on the T4 (40 SMs) cuts into 20 x 40 = 800 tiles of 256 x 128, 20 full waves, K a
    multiple of 32: shape efficiency 1; compute 2 x 5120^3 / (65e12 x 0.65) = 6.35 ms (42.25 TFLOP/s, inside the three
    boards' 41.9-42.7), where the datasheet peak alone would give 4.13 ms."""
    graph = graph_of(write_spec, "- {name: fc, op: linear, out: 5120, bias: false}", inputs="{x: [5120, 5120]}")
    kernel = only_kernel(estimate(graph, load_profile("t4")))
    assert kernel.compute_s == pytest.approx(2 * 5120**3 / (65e12 * 0.65)) and kernel.bound == "compute"


def test_elementwise_add_is_memory_bound(write_spec) -> None:
    graph = graph_of(write_spec, "- {name: add, op: add, inputs: [a, b]}",
                     inputs="{a: [64, 56, 56], b: [64, 56, 56]}", batch=4)
    n = 4 * 64 * 56 * 56
    result = estimate(graph, device())
    op, kernel = result.ops[0], only_kernel(result)
    assert op.flops == n and op.intensity == pytest.approx(n / (3 * n * 2))
    assert kernel.compute_s == pytest.approx(n / VECTOR)
    assert kernel.latency_s == pytest.approx(3 * n * 2 / BW + LAUNCH) and kernel.bound == "memory"
    half = only_kernel(estimate(graph, device(efficiency=0.5)))
    assert half.latency_s == pytest.approx(3 * n * 2 / (0.5 * BW) + LAUNCH)


def test_tiny_op_is_overhead_bound(write_spec) -> None:
    graph = graph_of(write_spec, "- {name: act, op: relu}", inputs="{x: [8]}")
    kernel = only_kernel(estimate(graph, device()))
    assert kernel.bound == "overhead" and kernel.latency_s == pytest.approx(2 * 8 * 2 / BW + LAUNCH)


def test_view_ops_cost_nothing_and_launch_nothing(write_spec) -> None:
    graph = graph_of(write_spec, """
        - {name: flat, op: flatten}
        - {name: drop, op: dropout}
        - {name: act, op: relu}
    """)
    result = estimate(graph, device())
    flat, drop, act = result.ops
    for view in (flat, drop):
        assert view.latency_s == 0 and view.dram_read == view.dram_written == 0 and view.kernel == ""
    assert result.summary.kernels == 1 and act.dram_read == 96 * 56 * 56 * 2  # reads x through the views


def test_partial_views_are_read_part_by_part(write_spec) -> None:
    graph = graph_of(write_spec, """
        - {name: halves, op: chunk, chunks: 2, dim: 1}
        - {name: add, op: add, inputs: ["halves:0", "halves:1"]}
    """, inputs="{x: [64, 8, 8]}")
    n = 64 * 8 * 8
    result = estimate(graph, device())
    assert result.summary.kernels == 1 and result.ops[1].dram_read == n * 2  # both halves: all of x, once
    assert result.ops[1].dram_written == n // 2 * 2


def test_unit_mapping_per_class() -> None:
    data = profile_data()
    data["peak"]["vector"]["fp16"] = 20.0
    data["sources"]["peak.vector.fp16"] = "test"
    profile = HardwareProfile.model_validate(data)
    assert unit_for(profile, "gemm", "fp16").name == "matrix"
    assert unit_for(profile, "attention", "fp16").name == "matrix"
    for op_class in ("depthwise", "norm", "elementwise", "reduction", "data_movement"):
        unit = unit_for(profile, op_class, "fp16")
        assert (unit.name, unit.dtype, unit.peak_flops) == ("vector", "fp16", 20e12)  # the vector fp16 rate
    assert unit_for(device(), "norm", "fp16").dtype == "fp32"  # none listed: the fp32 vector rate
    with pytest.raises(HardwareError, match="no bf16 peak"):
        unit_for(device(), "gemm", "bf16")


# ---------------------------------------------------------------------------------------------- fusion

CONV_BN_RELU = """
- {name: conv, op: conv2d, out: 64, kernel: 3, padding: 1, bias: false}
- {name: bn, op: batch_norm}
- {name: act, op: relu}
"""


def test_epilogue_fusion_keeps_intermediates_on_chip(write_spec) -> None:
    graph = graph_of(write_spec, CONV_BN_RELU, inputs="{x: [64, 56, 56]}")
    n = 64 * 56 * 56
    weights = 64 * 64 * 9 + 2 * 64
    none = estimate(graph, device(), fusion="none")
    assert none.summary.kernels == 3 and none.summary.dram_bytes == (n + 64 * 64 * 9 + n + 2 * n + 128 + 2 * n) * 2
    fused = estimate(graph, device(), fusion="epilogue")
    kernel = only_kernel(fused)
    assert kernel.ops == ("conv", "bn", "act")
    assert kernel.dram_bytes == (n + weights + n) * 2  # the input, both weights, only the final output
    flops = 2 * n * 64 * 9 + 2 * n + n  # conv, folded BN (2 per element), ReLU
    assert kernel.compute_s == pytest.approx(2 * n * 64 * 9 / MATRIX + 3 * n / VECTOR)
    assert kernel.flops == flops and kernel.latency_s == pytest.approx(kernel.compute_s + LAUNCH)


def test_residual_add_folds_but_still_reads_its_second_input(write_spec) -> None:
    graph = graph_of(write_spec, """
        - {name: conv, op: conv2d, out: 64, kernel: 1, bias: false}
        - {name: add, op: add, inputs: [x, conv]}
    """, inputs="{x: [64, 56, 56]}")
    n = 64 * 56 * 56
    kernel = only_kernel(estimate(graph, device(), fusion="epilogue"))
    assert kernel.dram_bytes == (n + 64 * 64 + n) * 2  # x read once (conv and add share it), sum written


def test_block_fusion_groups_each_innermost_block_instance(write_spec) -> None:
    spec = write_spec("""
        name: t
        dtype: fp16
        inputs: {x: [32, 28, 28]}
        blocks:
          unit:
            nodes:
              - {name: conv1, op: conv2d, out: 32, kernel: 1, bias: false}
              - {name: act, op: relu}
              - {name: conv2, op: conv2d, out: 32, kernel: 3, padding: 1, bias: false}
              - {name: add, op: add, inputs: [x, conv2]}
        nodes:
          - {name: blocks, block: unit, repeat: 2}
          - {name: pool, op: global_avg_pool, flatten: true}
    """)
    graph = load_graph(spec)
    kernels = [[layer.path for layer in k] for k in group_layers(graph, "block")]
    assert kernels == [["blocks.0.conv1", "blocks.0.act", "blocks.0.conv2", "blocks.0.add"],
                       ["blocks.1.conv1", "blocks.1.act", "blocks.1.conv2", "blocks.1.add"], ["pool"]]
    n = 32 * 28 * 28
    block = estimate(graph, device(), fusion="block").kernels[0]
    assert block.dram_bytes == (n + 32 * 32 + 32 * 32 * 9 + n) * 2  # block input, weights, block output


def test_cache_serves_the_previous_kernels_output(write_spec) -> None:
    graph = graph_of(write_spec, "- {name: a, op: relu}\n- {name: b, op: relu}", inputs="{x: [64, 56, 56]}")
    size = 64 * 56 * 56 * 2  # 401,408 bytes: fits in half of a 1 MB cache, not in half of 0.5 MB
    cached = estimate(graph, device(l2_mb=1))
    assert [op.cached for op in cached.ops] == [False, True]
    assert cached.ops[1].cache_read == size and cached.ops[1].dram_read == 0
    assert cached.summary.dram_bytes == 3 * size  # x read, a written, b written
    assert cached.kernels[1].latency_s == pytest.approx(size / BW + LAUNCH)
    too_small = estimate(graph, device(l2_mb=0.5))
    assert not too_small.ops[1].cached and too_small.summary.dram_bytes == 4 * size


# ------------------------------------------------------------------------------------------ model figures


def test_model_figures_add_up() -> None:
    graph = load_graph(ROOT / "arch_specs/convnext_t.yaml", batch=8)
    profile = load_profile("a100")
    result = estimate(graph, profile, dtype="fp16")
    m = result.summary
    assert m.key == "a100_80gb" and m.batch == 8 and m.dtype == "fp16"
    assert m.latency_s == pytest.approx(sum(op.latency_s for op in result.ops))
    assert m.latency_s == pytest.approx(sum(m.by_class.values())) == pytest.approx(sum(m.by_stage.values()))
    assert m.throughput == pytest.approx(8 / m.latency_s) and m.latency_per_image_s == pytest.approx(m.latency_s / 8)
    assert m.ideal_s == pytest.approx(m.flops / 312e12) and m.efficiency == pytest.approx(m.ideal_s / m.latency_s)
    assert m.achieved_flops == pytest.approx(m.flops / m.latency_s) and 0 < m.efficiency < 1
    assert set(m.by_stage) >= {"stages.0", "stages.3", "stem"} and "depthwise" in m.by_class
    # every op of ConvNeXt-T is a kernel, eager (the permutes are views), and so are the bias add after each of its 4
    # convs with a bias (stem, 3 downsamples: cuDNN runs them without it, latency/layout.py) and the .contiguous() copy
    # before each of its 18 blocks' LayerNorm over a permuted (channels-last view of NCHW) map (latency/contiguity.py)
    assert 0 <= m.memory_bound_share <= 1 and m.kernels == 137 + 4 + 18


def test_dtype_moves_everything() -> None:
    graph = load_graph(ROOT / "arch_specs/resnet50.yaml", batch=64)
    profile = load_profile("a100")
    fp16, fp32 = estimate(graph, profile, dtype="fp16").summary, estimate(graph, profile, dtype="fp32").summary
    transposes = sum(t.layout_bytes for t in kernel_terms(graph, profile, "fp16"))  # eager fp16 convs only
    assert transposes > 0 == sum(t.layout_bytes for t in kernel_terms(graph, profile, "fp32"))
    assert fp32.dram_bytes >= 2 * (fp16.dram_bytes - transposes)  # more than 2x: fewer fp32 tensors fit in the L2
    assert fp32.latency_s > 3 * fp16.latency_s and fp32.flops == fp16.flops
    with pytest.raises(HardwareError, match="no fp8 peak"):
        estimate(graph, profile, dtype="fp8")


@settings(max_examples=25, deadline=None)
@given(spec=st.sampled_from(ZOO), batch=st.integers(1, 64), hw=st.sampled_from(["a100", "rtx3090", "rtx4090", "t4"]))
def test_fusion_never_increases_bytes_or_latency(spec: Path, batch: int, hw: str) -> None:
    graph = load_graph(spec, batch=batch)
    profile = load_profile(hw)
    results = {mode: estimate(graph, profile, dtype="fp16", fusion=mode).summary for mode in FUSION_MODES}
    # each mode groups the kernels of the mode it refines: compile and epilogue coarsen none, block coarsens epilogue
    for coarse, fine in ((results[c], results[f]) for c, f in
                         (("epilogue", "none"), ("block", "epilogue"), ("compile", "none"))):
        assert coarse.dram_bytes <= fine.dram_bytes
        assert coarse.latency_s <= fine.latency_s * (1 + 1e-12)
        assert coarse.kernels <= fine.kernels and coarse.flops == fine.flops


@settings(max_examples=15, deadline=None)
@given(spec=st.sampled_from(ZOO), batch=st.integers(1, 128), fusion=st.sampled_from(FUSION_MODES))
def test_latency_grows_with_batch(spec: Path, batch: int, fusion: str) -> None:
    profile = load_profile("rtx4090")
    small, large = (estimate(load_graph(spec, batch=b), profile, dtype="fp16", fusion=fusion).summary
                    for b in (batch, 2 * batch))
    # latency never falls; it may stay flat where the GPU is underfilled (a GEMM whose tiles do not fill one
    # wave of SMs takes one wave at either batch: latency/shape.py) or the host stream binds (then equal up to the
    # rounding of the sums: convnextv2_atto at batch 1 and 2 on the RTX 4090 differ in the 16th digit)
    assert large.latency_s >= small.latency_s * (1 - 1e-12) and large.dram_bytes > small.dram_bytes


# ------------------------------------------------------------------------------------------------- CLI

CONVNEXT = str(ROOT / "arch_specs/convnext_t.yaml")


def test_cli_adds_latency_columns_and_summary() -> None:
    result = runner.invoke(app, ["analyze", CONVNEXT, "--hw", "a100", "--dtype", "fp16", "--batch", "256",
                                 "--depth", "2"])
    assert result.exit_code == 0, result.output
    assert "a100_80gb (NVIDIA A100 SXM4 80GB), fp16, batch 256, fusion none" in result.output
    assert "images/s" in result.output and "efficiency E" in result.output and "by stage: " in result.output
    header = next(line for line in result.output.splitlines() if line.startswith("layer"))
    assert header.split()[-4:] == ["latency", "bound", "FLOP/B", "cache"]


def test_cli_json_and_csv_hold_one_column_set_per_device(tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    args = ["analyze", CONVNEXT, "--hw", "a100", "--hw", "rtx4090", "--dtype", "fp16", "--fusion", "epilogue"]
    result = runner.invoke(app, [*args, "-f", "json", "-o", str(out), "--sweep-batch", "1,8"])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert set(data["latency"]) == {"a100_80gb", "rtx4090"}
    summary = data["latency"]["rtx4090"]["summary"]
    assert summary["fusion"] == "epilogue" and summary["latency_s"] > 0
    dw = next(layer for layer in data["layers"] if layer["path"] == "stages.0.blocks.0.dwconv")
    assert dw["latency"]["a100_80gb"]["bound"] in ("compute", "memory", "overhead")
    assert isinstance(dw["latency"]["a100_80gb"]["latency_s"], float)
    assert [p["batch"] for p in data["sweep"]["a100_80gb"]] == [1, 8]
    csv_out = runner.invoke(app, [*args, "-f", "csv"]).output
    header = csv_out.splitlines()[0].split(",")
    assert "a100_80gb.latency_s" in header and "rtx4090.bound" in header and "rtx4090.intensity" in header


def test_cli_sweep_prints_a_throughput_curve() -> None:
    result = runner.invoke(app, ["analyze", CONVNEXT, "--hw", "a100", "--dtype", "fp16", "--sweep-batch",
                                 "1,8,64,256"])
    assert result.exit_code == 0, result.output
    curve = result.output.split("throughput vs batch:")[1].splitlines()[2:]
    throughput = [float(line.split()[-5].replace(",", "")) for line in curve]  # images/s
    assert len(throughput) == 4 and throughput == sorted(throughput)
    # host+launch: the share of the latency the device is not busy; it falls as the batch grows (device-bound)
    overhead = [float(line.split()[-1].rstrip("%")) for line in curve]
    assert overhead == sorted(overhead, reverse=True) and overhead[0] > overhead[-1]


@pytest.mark.parametrize(("args", "message"), [
    (["--hw", "nosuchgpu"], "Known profiles: a10, a100_40gb"),
    (["--hw", "tpu_v5e", "--dtype", "fp16"], "has no fp16 peak"),
    (["--hw", "a100", "--fusion", "all"], "unknown --fusion"),
    (["--hw", "a100", "--sweep-batch", "1,x"], "--sweep-batch expects"),
    (["--sweep-batch", "1,8"], "needs at least one --hw"),
])
def test_cli_bad_input_is_one_error_line_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["analyze", CONVNEXT, *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.startswith("error: ")
    assert "Traceback" not in result.output


def test_cli_malformed_or_incomplete_profile_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    result = runner.invoke(app, ["analyze", CONVNEXT, "--hw", str(broken)])
    assert result.exit_code == 2 and "malformed YAML" in result.output
    partial = tmp_path / "partial.yaml"
    data = profile_data()
    del data["memory"]
    partial.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["analyze", CONVNEXT, "--hw", str(partial)])
    assert result.exit_code == 2 and "memory: required field is missing" in result.output


def test_cli_profile_by_path_is_keyed_by_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "my_gpu.yaml"
    path.write_text(yaml.safe_dump(profile_data()))
    result = runner.invoke(app, ["analyze", CONVNEXT, "--hw", str(path), "--dtype", "fp16", "-f", "json"])
    assert result.exit_code == 0, result.output
    assert list(json.loads(result.output)["latency"]) == ["my_gpu"]
