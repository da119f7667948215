"""Precision policies (AMP), the host/device timeline and the compile fusion mode, each against a hand count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from costmodel.api import load_graph
from costmodel.calibration.fit import basis, factors
from costmodel.hardware import load_profile
from costmodel.latency import estimate, group_layers, plan, timeline

ROOT = Path(__file__).resolve().parents[1]
DEIT = ROOT / "arch_specs/deit_tiny.yaml"
RESNET = ROOT / "arch_specs/resnet18.yaml"


def test_timeline_is_the_slower_stream() -> None:
    # host issues at 2, 4, 6; device runs 0.5 + 1 each: kernel 0 ends 3.5, kernel 1 starts at 4 ends 5.5, ...
    assert np.allclose(timeline([1, 1, 1], 0.5, 2.0), [3.5, 2.0, 2.0])
    # device-bound: the host issues everything while the first kernel runs; total = sum of device times
    assert np.allclose(timeline([5, 0, 0, 0], 0.0, 1.0), [6, 0, 0, 0])
    # no host stream (a CPU): plain sum of launch + busy
    assert np.allclose(timeline([1, 2], 0.25, 0.0), [1.25, 2.25])


def test_amp_plan_of_a_vit_follows_autocast() -> None:
    graph = load_graph(DEIT, batch=2)
    amp = plan(graph, "fp16", "amp")
    by_op = {layer.path: layer for layer in graph.layers}
    # LayerNorm writes fp32; linear/attention write fp16; the residual add of fp32 + fp16 is fp32;
    # the position embedding (an fp32 parameter) promotes the stream to fp32
    assert amp.tensor_bytes["blocks.0.norm1", 0] == 4
    assert amp.tensor_bytes["blocks.0.mlp.fc1", 0] == 2
    assert amp.tensor_bytes["blocks.0.mlp.act", 0] == 2
    assert amp.tensor_bytes["blocks.0.add2", 0] == 4
    assert amp.tensor_bytes["pos_embed", 0] == 4
    casts = [c for cs in amp.casts.values() for c in cs]
    # weights: patch embedding + 12 x (attention, fc1, fc2) + head = 38 cast kernels, each of the op's parameters
    weights = [c for c in casts if c.weight]
    assert len(weights) == 1 + 12 * 3 + 1
    assert all(c.elements == by_op[c.consumer].cost.params and (c.src_bytes, c.dst_bytes) == (4, 2) for c in weights)
    # activations: the fp32 image, 12 x (norm1 -> attention, norm2 -> fc1), the fp32 final norm -> head = 26
    assert len(casts) - len(weights) == 1 + 12 * 2 + 1
    # uniform: everything in the dtype, no casts
    uniform = plan(graph, "fp16")
    assert set(uniform.tensor_bytes.values()) == {2} and not uniform.casts


def test_amp_of_a_batchnorm_cnn_is_fp16_but_for_the_input_and_weight_casts() -> None:
    graph = load_graph(RESNET, batch=8)
    profile = load_profile("rtx4090")
    amp, half = (estimate(graph, profile, dtype="fp16", precision=p).summary for p in ("amp", "uniform"))
    convs_and_fc = sum(1 for layer in graph.layers if layer.cost.params and layer.cost.op_class.value == "gemm")
    assert amp.kernels == half.kernels + convs_and_fc + 1  # a weight cast per conv/linear, one image cast
    image = 8 * 3 * 224 * 224
    params = sum(layer.cost.params for layer in graph.layers if layer.cost.op_class.value == "gemm")
    # extra DRAM bytes: the image cast reads 4 and writes 2 bytes per element, and the stem conv then reads the
    # fp16 copy from the L2 (it fits: 2.4 MB), instead of 2 bytes from DRAM: +4; each weight is read at 4 and
    # written at 2 by its cast, then read at 2 as before: +6; BN parameters are read as fp32: +2
    bn = sum(layer.cost.params for layer in graph.layers if layer.op in ("batch_norm", "batch_norm2d", "bn"))
    assert amp.dram_bytes - half.dram_bytes == image * 4 + params * 6 + bn * 2


def test_amp_needs_a_half_type() -> None:
    graph = load_graph(RESNET, batch=1)
    with pytest.raises(ValueError, match="fp16 or bf16"):
        plan(graph, "fp32", "amp")
    with pytest.raises(ValueError, match="unknown precision"):
        plan(graph, "fp16", "mixed")


def test_compile_keeps_library_kernels_and_fuses_the_rest() -> None:
    graph = load_graph(RESNET, batch=1)
    kernels = group_layers(graph, "compile")
    for kernel in kernels:
        classes = [layer.cost.op_class.value for layer in kernel]
        if classes[0] in ("gemm", "depthwise", "attention"):
            assert len(kernel) == 1  # nothing fused into a cuDNN/cuBLAS kernel
        else:
            assert not {"gemm", "depthwise", "attention"} & set(classes)
    # resnet18: 20 convs + fc are library kernels; between them BN(+ReLU)(+add+ReLU) runs of generated kernels
    assert sum(len(k) == 1 and k[0].cost.op_class.value == "gemm" for k in kernels) == 21


def test_host_overhead_sets_small_batch_latency_and_calibration_basis_agrees() -> None:
    graph = load_graph(RESNET, batch=1)
    base = load_profile("rtx4090").model_copy(update={"host_overhead_us": None})
    host = base.model_copy(update={"host_overhead_us": 40.0})
    result = estimate(graph, host, dtype="fp16")
    n = result.summary.kernels
    # host-bound: the host issues n kernels 40 us apart; the device finishes the last one shortly after
    assert n * 40e-6 <= result.summary.latency_s <= n * 40e-6 + max(k.latency_s for k in result.kernels) + 1e-4
    assert result.summary.latency_s == pytest.approx(sum(op.latency_s for op in result.ops))
    compute, memory, overhead = factors(host)
    assert basis(graph, host, "fp16", "none").latency(compute, memory, overhead) == pytest.approx(
        result.summary.latency_s, rel=1e-12)
    # at a large batch the device is the slower stream: the host costs only the first issue (40 us)
    big = load_graph(RESNET, batch=256)
    assert estimate(big, host, dtype="fp16").summary.latency_s == pytest.approx(
        estimate(big, base, dtype="fp16").summary.latency_s + 40e-6, rel=1e-9)


def test_plotted_ridge_of_a_fitted_profile_is_the_models() -> None:
    from costmodel.hardware import OpEfficiency
    from costmodel.plots.roofline import unit_roofs, units_used

    base = load_profile("a100")
    per_op = {"conv": OpEfficiency(compute=0.5, memory=0.9)}
    fitted = base.model_copy(update={"efficiency": base.efficiency.model_copy(update={"per_op": per_op})})
    result = estimate(load_graph(RESNET, batch=64), fitted, dtype="fp16")
    roofs = unit_roofs(result, fitted, units_used(result, fitted))
    conv = next(row for row in result.ops if row.op == "conv2d" and row.unit == "matrix")
    matrix = next(unit for unit in roofs if unit.name == "matrix")
    ceiling, bw = roofs[matrix]
    # by hand: 312 TFLOP/s x 0.5 over 2039 GB/s x 0.9 = 85.0 FLOP/B (the profile-wide 0.75 / 0.85 would give 135)
    assert ceiling / bw == pytest.approx(312e12 * 0.5 / (2039e9 * 0.9)) == pytest.approx(conv.ridge)


def test_cli_threads_and_calibrate_reports_leave_one_out(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from costmodel.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["analyze", str(RESNET), "--hw", "epyc_zen5_vm", "--threads", "2", "--batch", "1"])
    assert result.exit_code == 0, result.output
    assert "AMD EPYC Zen 5 dev VM (2 threads)" in result.output
    # 6 rows of the CPU fixture: in-sample and leave-one-out side by side; on 2 rows, a warning (the CPU fit's 2
    # parameters >= 2 rows)
    rows = (ROOT / "tests/fixtures/cpu_bench_epyc_zen5_vm_1t.csv").read_text().splitlines()
    header = next(i for i, line in enumerate(rows) if line.startswith("model,"))
    few = tmp_path / "few.csv"
    few.write_text("\n".join(rows[header:header + 7]) + "\n")
    result = runner.invoke(app, ["calibrate", str(few), "--hw", "epyc_zen5_vm", "-o", str(tmp_path / "fit.yaml")])
    assert result.exit_code == 0, result.output
    assert "in-sample" in result.output and "leave-one-out" in result.output and "device_scale" in result.output
    few.write_text("\n".join(rows[header:header + 3]) + "\n")
    result = runner.invoke(app, ["calibrate", str(few), "--hw", "epyc_zen5_vm", "-o", str(tmp_path / "fit2.yaml")])
    assert result.exit_code == 0, result.output
    assert "warning: 2 parameters fitted on 2 rows" in result.output


@pytest.mark.parametrize(("dtype", "precision", "hw", "threads"), [
    ("fp32", "uniform", "a100", None), ("fp16", "amp", "jetson_agx_orin", None),
    ("fp32", "uniform", "epyc_zen5_vm", None), ("fp32", "uniform", "xeon6_gnr_vm", 1),
    ("fp32", "uniform", "xeon6_gnr_vm", 2)])
def test_runs_of_layers_priced_alone_add_up_to_the_estimate(dtype: str, precision: str, hw: str,
                                                            threads: int | None) -> None:
    # the sweep prices runs of layers once and re-times them: cut resnet18 before its head (global pool, fc), price
    # each run as a graph of its own (the head's input a graph input the kernel before it just wrote, on a CPU
    # with that kernel's CPU figures) and put the busy times through the timeline: the same latency as estimate()
    # on the whole graph, to the last bit
    from dataclasses import replace

    from costmodel.graph import Graph, TensorRef
    from costmodel.hardware import threaded
    from costmodel.latency import Boundary, kernel_busy, kernel_terms, model_seconds

    graph = load_graph(RESNET, batch=4)
    profile = threaded(load_profile(hw), threads)
    cut = len(graph.layers) - 2
    body, head = graph.layers[:cut], graph.layers[cut:]
    fed = head[0].inputs[0]
    assert fed.node == body[-1].path
    first = Graph("body", graph.spec, graph.batch, graph.dtype, graph.inputs, body, [])
    second = Graph("head", graph.spec, graph.batch, graph.dtype, {"x": graph.shape(fed)},
                   [replace(head[0], inputs=(TensorRef("input:x"),)), head[1]], graph.outputs)
    width = plan(graph, dtype, precision).bytes_of((fed.node, fed.index))
    body_terms = kernel_terms(first, profile, dtype, "none", precision)
    before = next(t.cpu for t in reversed(body_terms) if t.cpu is not None)  # the body's last kernel's
    runs = body_terms + kernel_terms(second, profile, dtype, "none", precision,
                                     Boundary({"x": width}, frozenset({"x"}), before=before))
    whole = kernel_terms(graph, profile, dtype, "none", precision)
    assert [kernel_busy(t, profile) for t in runs] == [kernel_busy(t, profile) for t in whole]
    expected = estimate(graph, load_profile(hw), dtype=dtype, precision=precision, threads=threads).summary.latency_s
    assert model_seconds([kernel_busy(t, profile) for t in runs], profile) == expected
    # without `just_written` the head reads its input from DRAM: slower, so the boundary is what made it equal
    cold = kernel_terms(second, profile, dtype, "none", precision, Boundary({"x": width}))
    warm = next(t for t in runs if t.name == "global_pool")
    assert kernel_busy(cold[0], profile) > kernel_busy(warm, profile)
    # without `before` no cross-core handoff is priced at the cut: the relu before the pool splits its 100,352
    # elements over both cores, the pool (2,048 outputs, under the grain) reads them on one, pulling the half the
    # other core wrote (xeon6_gnr_vm at 2 threads: cpu.cross_core_ns_per_kib); elsewhere it changes nothing
    unknown = kernel_terms(second, profile, dtype, "none", precision, Boundary({"x": width}, frozenset({"x"})))
    handoff = kernel_busy(warm, profile) - kernel_busy(unknown[0], profile)
    if threads == 2:
        nbytes = 4 * 512 * 7 * 7 * 4  # the relu's output, fp32, read from the cache
        assert handoff == pytest.approx(nbytes / 2 / 1024 * 49e-9, rel=1e-12)  # half remote, one puller, 49 ns/KiB
    else:
        assert handoff == 0
    with pytest.raises(ValueError, match="fusion 'none'"):
        kernel_terms(second, profile, dtype, "epilogue", precision, Boundary())
