"""CPU execution in the latency model (latency/cpu.py): dispatch by op class, depthwise cost, serial small ops and
fork/join at N threads, each against a hand count from the profile's figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from costmodel.api import load_graph
from costmodel.calibration import fit as F
from costmodel.graph import build_graph
from costmodel.hardware import HardwareError, load_profile, threaded
from costmodel.latency import estimate
from costmodel.latency.cpu import Split, cpu_kernel, onednn_only_when_threaded
from costmodel.spec import parse_spec

ROOT = Path(__file__).resolve().parents[1]
PROFILE = "epyc_zen3_vm_b"  # 2 cores x 32 FLOP/cycle x 3.23 GHz, 17.9 GB/s per core, launch 7.3 us, sync 2 us
TWO_CORES = "epyc_zen5_vm"  # 2 cores, no SMT x 32 FLOP/cycle x 3.0 GHz, 24.1 GB/s per core (48.2 chip), sync 2 us


def _graph(nodes: list[dict], shape: list[int]):
    return build_graph(parse_spec({"name": "t", "inputs": {"x": shape}, "nodes": nodes}), batch=1)


def _smt(smt_yield: float):
    """epyc_zen3_vm_b as if its 2 vCPUs were one core's 2 SMT threads at 2.45 GHz (one core's peak and bandwidth)."""
    profile = load_profile(PROFILE)
    cpu = profile.cpu.model_copy(update={"cores": 1, "threads_per_core": 2, "smt_yield": smt_yield, "clock_ghz": 2.45,
                                         "parallel_efficiency": 1.0, "conv1x1_threaded_us": None,
                                         "conv1x1_threaded_speedup": None, "parallel": {}})  # SMT alone
    return profile.model_copy(update={
        "cpu": cpu, "peak": profile.peak.model_copy(update={"vector": {"fp32": 0.0784}}),
        "memory": profile.memory.model_copy(update={"bandwidth_gbs": 17.9})})


def _plain(profile):
    """``profile`` without its eager-framework costs (dispatch by class, depthwise and op costs per element)."""
    cpu = profile.cpu.model_copy(update={"dispatch_us": {}, "depthwise_ns": 0.0, "op_ns": {}})
    return profile.model_copy(update={"cpu": cpu})


def test_dispatch_and_depthwise_costs_add_the_profile_figures() -> None:
    profile = load_profile(PROFILE)
    cpu = profile.cpu
    graph = _graph([{"name": "pw", "op": "conv2d", "out": 8, "kernel": 1}, {"name": "bn", "op": "batch_norm"},
                    {"name": "act", "op": "relu"},
                    {"name": "dw", "op": "conv2d", "out": 8, "kernel": 3, "padding": 1, "groups": 8}], [8, 4, 4])
    full = estimate(graph, profile, dtype="fp32", threads=1).summary.latency_s
    plain = estimate(graph, _plain(profile), dtype="fp32", threads=1).summary.latency_s
    # by hand: one conv, one batch norm, one ReLU (no extra), one depthwise conv with 8 x 4 x 4 = 128 outputs
    extra_us = (cpu.dispatch_us["conv"] + cpu.dispatch_us["norm"] + cpu.dispatch_us["depthwise"]
                + 128 * cpu.depthwise_ns / 1e3)
    assert (full - plain) * 1e6 == pytest.approx(extra_us, rel=1e-9)
    assert extra_us == pytest.approx(10 + 18 + 98 + 0.0768)  # the figures of hardware_profiles/epyc_zen3_vm_b.yaml


def test_small_ops_run_on_one_thread_large_ones_split_and_pay_fork_join() -> None:
    profile = load_profile(TWO_CORES)
    small = _graph([{"name": "act", "op": "relu"}], [8, 4, 4])  # 128 elements < GRAIN_SIZE 32768
    large = _graph([{"name": "act", "op": "relu"}], [64, 32, 32])  # 65,536 elements: at::parallel_for splits it
    one, two = (estimate(small, profile, dtype="fp32", threads=n).summary.latency_s for n in (1, 2))
    assert two == pytest.approx(one, rel=1e-12)  # serial: one core's peak and bandwidth, no fork/join
    one, two = (estimate(large, profile, dtype="fp32", threads=n).kernels[0] for n in (1, 2))
    launch, sync = profile.launch_overhead_us * 1e-6, profile.cpu.sync_us * 1e-6
    busy_one = one.latency_s - launch
    # two cores: half the compute, twice the bandwidth (2 x 24.1 GB/s = the chip's 48.2), plus one fork/join
    assert two.latency_s == pytest.approx(launch + sync + busy_one / 2, rel=1e-9)


@pytest.mark.parametrize("smt_yield", [0.0, 0.25])
def test_smt_siblings_share_one_core(smt_yield: float) -> None:
    """Two threads on the two SMT siblings of one core: a parallel kernel gets 1 + yield cores' worth of compute
    and one core's bandwidth, and pays the fork/join; a serial one runs as on one thread."""
    profile = _smt(smt_yield)
    conv = _graph([{"name": "c", "op": "conv2d", "out": 64, "kernel": 3, "padding": 1}], [64, 32, 32])
    one, two = (estimate(conv, _plain(profile), dtype="fp32", threads=n).kernels[0] for n in (1, 2))
    launch, sync = profile.launch_overhead_us * 1e-6, profile.cpu.sync_us * 1e-6
    assert one.bound == "compute"  # 75.5 MFLOP at 0.84 x 78.4 GFLOP/s against 0.67 MB at 14.3 GB/s
    # oneDNN's per-call copy of the 64 x 64 x 3 x 3 fp32 weights (and 64 biases), one pass over them at one core's
    # 17.9 GB/s x 0.8 (DDR4): memory traffic, which an SMT sibling does not speed up
    reorder = (64 * 64 * 9 + 64) * 4 / (17.9e9 * 0.8)
    work = one.latency_s - launch - reorder
    assert two.latency_s == pytest.approx(launch + sync + reorder + work / (1 + smt_yield), rel=1e-9)
    small = _graph([{"name": "act", "op": "relu"}], [8, 4, 4])
    one, two = (estimate(small, profile, dtype="fp32", threads=n).summary.latency_s for n in (1, 2))
    assert two == pytest.approx(one, rel=1e-12)


def test_cpu_kernel_figures_by_hand() -> None:
    two = threaded(load_profile(TWO_CORES), 2)
    serial = cpu_kernel(two, "elementwise", 100)
    assert (serial.parallel, serial.compute_scale, serial.memory_scale, serial.fixed_s) == (False, 2.0, 2.0, 0.0)
    dw = cpu_kernel(two, "depthwise", 10_000, depthwise_elements=10_000)
    assert dw.parallel and dw.compute_scale == dw.memory_scale == 1.0
    assert dw.fixed_s == pytest.approx((38 + 2) * 1e-6 + 10_000 * 0.7e-9 / 2)  # dispatch + fork/join + per element
    smt = threaded(_smt(0.0), 2)  # one core, its two SMT threads, yield 0: nothing to split onto
    serial = cpu_kernel(smt, "elementwise", 100)
    assert (serial.parallel, serial.compute_scale, serial.memory_scale, serial.fixed_s) == (False, 1.0, 1.0, 0.0)
    dw = cpu_kernel(smt, "depthwise", 10_000, depthwise_elements=10_000)
    assert dw.parallel and dw.fixed_s == pytest.approx((98 + 2) * 1e-6 + 10_000 * 0.6e-9)
    gpu = cpu_kernel(load_profile("rtx4090"), "depthwise", 10, depthwise_elements=10)
    assert (gpu.parallel, gpu.compute_scale, gpu.memory_scale, gpu.fixed_s) == (False, 1.0, 1.0, 0.0)


@pytest.mark.parametrize("threads", [1, 2])
def test_basis_reprices_a_cpu_profile_exactly_like_estimate(threads: int) -> None:
    base = threaded(load_profile(PROFILE), threads)
    profile = F.with_parameters(base, {"conv": 0.5, "gemm": 0.3, "stream": 0.6, "memory": 0.9, "depthwise": 0.2,
                                       "overhead": 3.0})
    for spec in ("mobilenetv3_small_100", "convnextv2_atto"):
        g = load_graph(ROOT / f"arch_specs/{spec}.yaml", batch=1)
        b = F.basis(g, base, "fp32", "none")
        expected = estimate(g, profile, dtype="fp32").summary.latency_s
        assert F.predict([b], profile)[0] == pytest.approx(expected, rel=1e-12)


def test_dispatch_table_keys_are_efficiency_classes(tmp_path: Path) -> None:
    text = (ROOT / "hardware_profiles" / f"{PROFILE}.yaml").read_text().replace("norm: 18", "normalisation: 18")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(HardwareError, match="dispatch_us"):
        load_profile(str(bad))


def test_validate_and_calibrate_take_the_thread_count(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from costmodel.cli import app

    rows = (ROOT / "tests/fixtures/cpu_bench_epyc_zen3_vm_b_1t.csv").read_text().splitlines()
    header = next(i for i, line in enumerate(rows) if line.startswith("model,"))
    few = tmp_path / "few.csv"
    few.write_text("\n".join(rows[header:header + 4]) + "\n")  # 3 ConvNeXts: large ops, parallel at 2 threads
    runner = CliRunner()
    one, two = (runner.invoke(app, ["validate", str(few), "--hw", PROFILE, "--threads", n, "-f", "json"])
                for n in ("1", "2"))
    assert one.exit_code == 0 and two.exit_code == 0, one.output + two.output
    import json

    def speed(result) -> list[float]:  # noqa: ANN001
        data = json.loads(result.stdout)  # the file's 1-thread rows priced at 2 threads warn on stderr
        key = next(k for k, v in data.items() if isinstance(v, list) and v and "predicted_throughput" in v[0])
        return [row["predicted_throughput"] for row in data[key]]

    # two threads speed these large models up (--threads reaches the model), and never by 2x or more: two cores do
    # at most twice one core's work in a given time (Amdahl), and every kernel's per-call costs (launch, dispatch)
    # are paid in full on either thread count
    assert all(1.0 < b / a < 2.0 for a, b in zip(speed(one), speed(two), strict=True))
    out = tmp_path / "fit.yaml"
    fitted = runner.invoke(app, ["calibrate", str(few), "--hw", PROFILE, "--threads", "2", "-o", str(out)])
    assert fitted.exit_code == 0, fitted.output
    assert load_profile(str(out)).cpu.threads == 2


def test_parallel_kernels_scale_at_their_class_efficiency() -> None:
    """epyc_zen3_vm_b at 2 threads (cpu_roofline.py --fork-join --all, 19:51 and 20:59 UTC): a parallel kernel's
    work runs 2 cores x its class's efficiency as fast as on one thread and pays its class's fork/join: a 3x3 conv
    (oneDNN) 0.975 and 43 us, an x + y sized op (at::parallel_for) the CPU-wide 0.945 and 2 us, a linear layer
    (MKL) 0.90 and 2 us, a depthwise conv 0.815 and 2 us; dispatch is per call, not split. The depthwise conv's 64
    channels are 8 blocks of 8 in oneDNN's chunks of 3 (jit_uni_dw_conv_kernel_utils.cpp, AVX2): 3, 3 and 2 blocks,
    each over 32 rows; balance211 gives the first thread 48 of the 96 (chunk, row) items, 32 x 3 + 16 x 3 = 144
    block-rows, the second 16 x 3 + 32 x 2 = 112: the busiest thread has 144 / 256 of the work, not half."""
    profile = load_profile(PROFILE)
    cases = (  # graph, class dispatch (us), sync (us), efficiency, weights oneDNN copies per call (fp32, with biases),
        # the busiest thread's share of the work
        (_graph([{"name": "c", "op": "conv2d", "out": 64, "kernel": 3, "padding": 1}], [64, 32, 32]), 10, 43, 0.975,
         64 * 64 * 9 + 64, 1 / 2),
        (_graph([{"name": "a", "op": "relu"}], [64, 32, 32]), 0, 2, 0.945, 0, 1 / 2),  # 65,536 elements: split
        # MKL packs the 256 x 256 weights per call (the bias is not packed)
        (_graph([{"name": "l", "op": "linear", "out": 256}], [1024, 256]), 5, 2, 0.90, 256 * 256, 1 / 2),
        (_graph([{"name": "d", "op": "conv2d", "out": 64, "kernel": 3, "padding": 1, "groups": 64}], [64, 32, 32]),
         98, 2, 0.815, 64 * 9 + 64, 144 / 256),
    )
    launch = profile.launch_overhead_us * 1e-6
    for graph, dispatch_us, sync_us, efficiency, copied, share in cases:
        one, two = (estimate(graph, profile, dtype="fp32", threads=n).kernels[0] for n in (1, 2))
        reorder = copied * 4 / (17.9e9 * 0.8)  # one pass at one core's bandwidth x 0.8; two cores: half
        work_one = one.latency_s - launch - dispatch_us * 1e-6 - reorder
        expected = launch + (dispatch_us + sync_us) * 1e-6 + work_one * share / efficiency + reorder / 2
        assert two.latency_s == pytest.approx(expected, rel=1e-9)


def test_a_class_without_figures_takes_its_parent_then_the_cpu_wide_ones() -> None:
    """``cpu.parallel``: conv falls back to gemm's figures (as the efficiency table does), other classes to the
    CPU-wide ``sync_us`` and ``parallel_efficiency``; one figure of an entry left out falls back alone."""
    from costmodel.hardware.profile import ParallelFigures

    two = threaded(load_profile(TWO_CORES), 2)  # sync 2 us, efficiency 1, no class figures
    cpu = two.cpu.model_copy(update={"parallel": {"gemm": ParallelFigures(sync_us=30.0, efficiency=0.5),
                                                  "depthwise": ParallelFigures(efficiency=0.8)}})
    figures = two.model_copy(update={"cpu": cpu})
    conv = cpu_kernel(figures, "conv", 65_536)  # dispatch 2.6 us (epyc_zen5_vm) + gemm's 30 us, work / 0.5
    assert (conv.compute_scale, conv.memory_scale, conv.fixed_s) == (2.0, 2.0, pytest.approx((2.6 + 30) * 1e-6))
    dw = cpu_kernel(figures, "depthwise", 65_536)  # dispatch 38 us + the CPU-wide 2 us, work / 0.8
    assert dw.compute_scale == pytest.approx(1.25) and dw.fixed_s == pytest.approx((38 + 2) * 1e-6)
    assert cpu_kernel(figures, "elementwise", 65_536) == cpu_kernel(two, "elementwise", 65_536)


def test_op_costs_per_element_split_over_the_threads() -> None:
    """``cpu.op_ns``: a GELU on 64 x 32 x 32 = 65,536 elements costs 0.70 ns per element (measured on the quiet
    machine) on one core on top of its roofline terms (epyc_zen3_vm_b); at 2 threads the kernel is split, and so is
    that cost (2 x 0.945)."""
    profile = load_profile(PROFILE)
    graph = _graph([{"name": "g", "op": "gelu"}], [64, 32, 32])
    for threads, split in ((1, 1.0), (2, 2 * 0.945)):
        full = estimate(graph, profile, dtype="fp32", threads=threads).summary.latency_s
        plain = estimate(graph, _plain(profile), dtype="fp32", threads=threads).summary.latency_s
        assert full - plain == pytest.approx(65_536 * 0.70e-9 / split, rel=1e-9)
    relu = _graph([{"name": "r", "op": "relu"}], [64, 32, 32])  # not in the table: nothing added
    assert (estimate(relu, profile, dtype="fp32", threads=1).summary.latency_s
            == estimate(relu, _plain(profile), dtype="fp32", threads=1).summary.latency_s)
    pool = _graph([{"name": "p", "op": "max_pool2d", "kernel": 2}], [64, 32, 32])  # per OUTPUT element: 16,384
    full, plain = (estimate(pool, p, dtype="fp32", threads=1).summary.latency_s for p in (profile, _plain(profile)))
    assert full - plain == pytest.approx(16_384 * 22.8e-9, rel=1e-9)


@pytest.mark.parametrize(("node", "shape", "elements", "ns"), [
    # PoolFormer's token mixer: 3x3, stride 1, padding 1 keeps 64 x 32 x 32 = 65,536 outputs, 10.2 ns each
    ({"op": "avg_pool2d", "kernel": 3, "stride": 1, "padding": 1, "count_include_pad": False}, [64, 32, 32],
     65_536, 10.2),
    ({"op": "avg_pool2d", "kernel": 2, "stride": 2}, [64, 32, 32], 16_384, 10.2),  # DenseNet's: 64 x 16 x 16
    ({"op": "softmax", "dim": -1}, [4, 49, 49], 9_604, 1.17),  # LeViT's stage-2 scores: 4 heads x 49 x 49
])
def test_avg_pool_and_softmax_cost_per_output_element(node: dict, shape: list[int], elements: int,
                                                      ns: float) -> None:
    """``cpu.op_ns`` on epyc_zen3_vm_b: avg_pool2d on NCHW (PyTorch's scalar cpu_avg_pool loop, measured 8-11 ns per
    output beyond the vectorized channels-last pool) and softmax (an exp per element and three passes over each row,
    1.0-1.5 ns per element beyond a ReLU), per output element, on one thread."""
    profile = load_profile(PROFILE)
    graph = _graph([{"name": "layer", **node}], shape)
    full, plain = (estimate(graph, p, dtype="fp32", threads=1).summary.latency_s for p in (profile, _plain(profile)))
    assert full - plain == pytest.approx(elements * ns * 1e-9, rel=1e-9)


@pytest.mark.parametrize(("node", "shape", "scores"), [
    ({"op": "attention", "heads": 3}, [197, 192], 3 * 197 * 197),  # DeiT-T's layer: 116,427 scores
    # Swin's stage 1 as one op: 8 x 8 windows of 7 x 7 = 49 tokens, 3 heads: 64 x 3 x 49 x 49 = 460,992 scores
    ({"op": "attention", "heads": 3, "window": 7, "shift": 3, "rel_pos_bias": True}, [56, 56, 96], 64 * 3 * 49 * 49),
])
def test_attention_op_cost_is_per_score(node: dict, shape: list[int], scores: int) -> None:
    """``cpu.op_ns.attention`` on xeon6_gnr_vm (1.1 ns, measured: SpecModule's attention layer beyond its GEMM calls
    run bare) is per element of the scores [sequences, heads, L, L], which the op computes internally, not per
    output element ([1, 197, 192]: 37,824; Swin's [1, 56, 56, 96]: 301,056)."""
    profile = load_profile("xeon6_gnr_vm")
    assert profile.cpu.op_ns["attention"] == 1.1
    graph = _graph([{"name": "layer", **node}], shape)
    full, plain = (estimate(graph, p, dtype="fp32", threads=1).summary.latency_s for p in (profile, _plain(profile)))
    dispatch = profile.cpu.dispatch_us["attention"] * 1e-6  # _plain drops the per-call cost too
    assert full - plain - dispatch == pytest.approx(scores * 1.1e-9, rel=1e-9)


@pytest.mark.parametrize(("side", "window", "shift"), [(56, 7, 3), (28, 7, 3), (14, 7, 3), (12, 4, 2), (16, 8, 4)])
def test_masked_pairs_count_the_shift_masks_entries(side: int, window: int, shift: int) -> None:
    """ops/attention.py masked_pairs against the mask the bench builds as timm does (a torch tensor of -100 across
    the seams): Swin-T's 56^2 map has 14 split edge windows of 2 x 28 x 21 = 1,176 pairs and a corner of
    49^2 - (16^2 + 2 x 12^2 + 9^2) = 1,776: 18,240."""
    torch = pytest.importorskip("torch")
    from costmodel.bridges.torch_ops.attention import shifted_window_mask
    from costmodel.ops.attention import masked_pairs

    expected = int(torch.count_nonzero(shifted_window_mask(side, side, window, shift, shift)))
    assert masked_pairs(side, side, window, shift, shift) == expected
    if side == 56:
        assert expected == 14 * 2 * 28 * 21 + 49**2 - (16**2 + 2 * 12**2 + 9**2) == 18_240


def test_shift_mask_cost_is_per_masked_score_swin_t() -> None:
    """``cpu.op_ns.shift_window_mask`` on xeon6_gnr_vm (60 ns per masked score: the denormal probabilities the softmax
    makes of the -100 entries, multiplied by p @ v with FP assists) over Swin-T's shifted blocks, by hand: stage 1
    (56^2, 3 heads) one block x 3 x 18,240, stage 2 (28^2, 6 heads) one x 6 x 8,832, stage 3 (14^2, 12 heads) three x
    12 x 4,128; stage 4's 7^2 map is one window and does not shift."""
    profile = load_profile("xeon6_gnr_vm")
    assert profile.cpu.op_ns["shift_window_mask"] == 60
    graph = load_graph(ROOT / "arch_specs" / "swin_t.yaml")
    table = {k: v for k, v in profile.cpu.op_ns.items() if k != "shift_window_mask"}
    without = profile.model_copy(update={"cpu": profile.cpu.model_copy(update={"op_ns": table})})
    full, plain = (estimate(graph, p, dtype="fp32", threads=1).summary.latency_s for p in (profile, without))
    masked = 1 * 3 * 18_240 + 1 * 6 * 8_832 + 3 * 12 * 4_128
    assert full - plain == pytest.approx(masked * 60e-9, rel=1e-9)


def test_op_costs_name_registered_ops(tmp_path: Path) -> None:
    text = (ROOT / "hardware_profiles" / f"{PROFILE}.yaml").read_text().replace("gelu: 0.70", "gelux: 0.70")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    graph = _graph([{"name": "r", "op": "relu"}], [8, 4, 4])
    with pytest.raises(HardwareError, match="gelux"):
        estimate(graph, load_profile(str(bad)), dtype="fp32")


def test_a_1x1_conv_changes_library_with_the_thread_count() -> None:
    """A 1x1 stride-1 conv at batch 1 on more than 20,480 input elements runs natively on one thread and with oneDNN
    on two (PyTorch's ConvParams::use_mkldnn): at 2 threads it pays the measured +66 us per call instead of the
    fork/join, and its work runs 1.78x as fast as on one thread (not 2 x 0.975). On one thread the native GEMM also
    packs its 64 x 64 weights (one pass at 17.9 GB/s x 0.8); the measured switch cost includes oneDNN's copy."""
    profile = load_profile(PROFILE)
    conv = _graph([{"name": "c", "op": "conv2d", "out": 64, "kernel": 1}], [64, 32, 32])  # 65,536 input elements
    one, two = (estimate(conv, profile, dtype="fp32", threads=n).kernels[0] for n in (1, 2))
    launch, dispatch = profile.launch_overhead_us * 1e-6, 10e-6
    pack = 64 * 64 * 4 / (17.9e9 * 0.8)
    work_one = one.latency_s - launch - dispatch - pack
    assert two.latency_s == pytest.approx(launch + dispatch + 66e-6 + work_one / 1.78, rel=1e-9)


def test_a_switching_1x1_conv_priced_by_its_parts_by_hand() -> None:
    """xeon6_gnr_vm prices the switch by its parts (no lumped speed-up): on two threads a 1x1 conv 64 -> 64 at 32^2
    (65,536 input, 65,536 output elements) is a oneDNN conv of the conv class (its work split as any parallel conv's,
    0.925 efficiency) that pays cpu.conv1x1_threaded_us (48 us) in place of the class's 15 us fork/join, 0.27 ns per
    element of its input and output for oneDNN's reorders (35.4 us), and one pass over its 16 KiB of weights; on one
    thread nothing of that (the native GEMM packs the weights instead)."""
    profile = threaded(load_profile("xeon6_gnr_vm"), 2)
    cpu = profile.cpu
    assert (cpu.conv1x1_threaded_us, cpu.conv1x1_reorder_ns, cpu.conv1x1_threaded_speedup) == (48, 0.27, None)
    plain = cpu_kernel(profile, "conv", 65_536)
    switched = cpu_kernel(profile, "conv", 65_536, onednn_when_threaded=True, reorder_elements=2 * 65_536)
    assert (switched.compute_scale, switched.memory_scale) == (plain.compute_scale, plain.memory_scale)
    assert (switched.fixed_s - plain.fixed_s) * 1e6 == pytest.approx(48 - 15 + 2 * 65_536 * 0.27e-3, rel=1e-9)
    assert (switched.fixed_s - plain.fixed_s) * 1e6 == pytest.approx(68.39, abs=0.01)
    one = threaded(load_profile("xeon6_gnr_vm"), 1)  # one thread: not parallel, nothing added
    assert cpu_kernel(one, "conv", 65_536, onednn_when_threaded=True, reorder_elements=2 * 65_536) == cpu_kernel(
        one, "conv", 65_536)
    conv = _graph([{"name": "c", "op": "conv2d", "out": 64, "kernel": 1, "bias": False}], [64, 32, 32])
    two = estimate(conv, profile, dtype="fp32", threads=2).kernels[0]
    lumped = estimate(conv, load_profile(PROFILE), dtype="fp32", threads=2).kernels[0]  # epyc_zen3_vm_b: 1.78x
    assert two.dram_bytes - lumped.dram_bytes == 64 * 64 * 4  # the weights' reorder; the lump includes its copy


@pytest.mark.parametrize(("cin", "cout", "side", "one_us", "two_us"), [
    (72, 20, 28, 21.0, 111.5),  # GhostNet's narrow convs on large maps: slower on two threads
    (16, 24, 56, 23.1, 108.0),
    (112, 672, 14, 200.1, 172.5),  # about even
    (1024, 512, 14, 1399.0, 803.6),  # ResNet-50's wide ones: faster
    (1536, 384, 14, 1584.8, 954.1),  # InceptionNeXt-T's MLP
])
def test_the_switch_slows_narrow_1x1_convs_and_speeds_up_wide_ones(cin: int, cout: int, side: int, one_us: float,
                                                                  two_us: float) -> None:
    """On this project's Xeon 6 VM (benchmarks/cpu_roofline.py --conv1x1-parts and a script of the same calls,
    3 December 2026 15:32-15:42 UTC, session 27), nn.Conv2d 1x1 at batch 1 on one thread (native GEMM) and on two
    (oneDNN): where two threads are clearly slower or faster, the model says the same, and it puts the 2-thread call
    within 0.75-1.4x of the measured one (the lumped figures it replaces: 0.74-1.81x). The one-node graph's 1-thread
    time is 1.2-2.6x the measured (its input is priced from DRAM; the benchmark's is in cache), so the speed-ups'
    sizes are not compared."""
    graph = _graph([{"name": "c", "op": "conv2d", "out": cout, "kernel": 1, "bias": False}], [cin, side, side])
    profile = load_profile("xeon6_gnr_vm")
    one, two = (estimate(graph, profile, dtype="fp32", threads=n).summary.latency_s for n in (1, 2))
    measured = one_us / two_us
    if measured < 0.8 or measured > 1.25:
        assert (one / two < 1) is (measured < 1)
    assert 0 < one / two <= 2 and 0.75 < two / (two_us * 1e-6) < 1.4


@pytest.mark.parametrize(("node", "shape", "batch", "switches"), [
    ({"out": 64, "kernel": 1}, [64, 32, 32], 1, True),  # 65,536 input elements > 20,480
    ({"out": 64, "kernel": 1}, [20, 32, 32], 1, False),  # 20,480: native on any thread count
    ({"out": 64, "kernel": 1}, [8, 4, 4], 2, True),  # batch 2 > 1: oneDNN when threaded, whatever the size
    ({"out": 64, "kernel": 1}, [64, 8, 8], 16, False),  # batch 16: oneDNN on one thread too
    ({"out": 64, "kernel": 1, "stride": 2}, [64, 32, 32], 1, False),  # strided: oneDNN on one thread too
    ({"out": 64, "kernel": 1, "groups": 2}, [64, 32, 32], 1, False),  # grouped: oneDNN on one thread too
    ({"out": 64, "kernel": 3, "padding": 1}, [64, 32, 32], 1, False),  # 3x3: oneDNN on one thread too
])
def test_which_convs_change_library(node: dict, shape: list[int], batch: int, switches: bool) -> None:
    graph = build_graph(parse_spec({"name": "t", "inputs": {"x": shape},
                                    "nodes": [{"name": "c", "op": "conv2d", **node}]}), batch=batch)
    assert onednn_only_when_threaded(graph.layers[0], "fp32") is switches
    assert not onednn_only_when_threaded(graph.layers[0], "bf16")  # half types go to oneDNN whatever the threads


def test_threading_fields_default_to_perfect_scaling() -> None:
    """A profile without the threading figures (epyc_zen5_vm) prices a switching 1x1 conv like any parallel
    kernel: capacity (2 cores) x efficiency 1, and the fork/join."""
    two = threaded(load_profile(TWO_CORES), 2)
    assert two.cpu.parallel_efficiency == 1.0 and two.cpu.conv1x1_threaded_us is None
    plain = cpu_kernel(two, "conv", 65_536)
    switched = cpu_kernel(two, "conv", 65_536, onednn_when_threaded=True)
    assert plain == switched
    assert (plain.compute_scale, plain.memory_scale, plain.fixed_s) == (1.0, 1.0, pytest.approx((2.6 + 2) * 1e-6))
    # with only the efficiency set, a switching 1x1 conv still scales like any parallel kernel: 1 / 0.5 = 2
    half = two.model_copy(update={"cpu": two.cpu.model_copy(update={"parallel_efficiency": 0.5})})
    switched = cpu_kernel(half, "conv", 65_536, onednn_when_threaded=True)
    assert switched == cpu_kernel(half, "conv", 65_536)
    assert (switched.compute_scale, switched.memory_scale) == (2.0, 2.0)


@pytest.mark.parametrize(("node", "shape", "threads", "onednn"), [
    ({"out": 64, "kernel": 3, "padding": 1}, [64, 32, 32], 1, True),  # 65,536 input elements > 20,480
    ({"out": 64, "kernel": 3, "padding": 1}, [16, 32, 32], 1, False),  # 16,384: PyTorch's native im2col + GEMM
    ({"out": 64, "kernel": 5, "padding": 2}, [16, 32, 32], 1, True),  # a kernel larger than 3x3: oneDNN
    ({"out": 16, "kernel": 3, "padding": 1, "groups": 16}, [16, 32, 32], 1, True),  # grouped (depthwise)
    ({"out": 64, "kernel": 1}, [64, 32, 32], 1, False),  # 1x1 stride 1 on one thread: native GEMM
    ({"out": 64, "kernel": 1}, [64, 32, 32], 2, True),  # ... on two: oneDNN
    ({"out": 64, "kernel": 1, "stride": 2}, [64, 32, 32], 1, True),  # strided
])
def test_which_convs_run_on_onednn(node: dict, shape: list[int], threads: int, onednn: bool) -> None:
    """ConvParams::use_mkldnn (aten/src/ATen/native/Convolution.cpp) for fp32 at batch 1."""
    from costmodel.latency.cpu import runs_on_onednn

    layer = _graph([{"name": "c", "op": "conv2d", **node}], shape).layers[0]
    assert runs_on_onednn(layer, "fp32", threads) is onednn
    assert not runs_on_onednn(layer, "bf16", threads)  # only fp32 is modelled


def test_onednn_convs_copy_their_weights_every_call() -> None:
    """An eager oneDNN conv copies its weights once more per call (ideep's reorder to the blocked layout), measured
    at about one pass over them at the stream-copy rate (--weight-reorder: 0.83-1.13 x): params x 4 bytes of layout
    traffic on a CPU; a native conv packs its weights for its GEMM instead (no bias); none under fusion or on a
    GPU."""
    from costmodel.latency.model import kernel_terms

    profile = threaded(load_profile(PROFILE), 1)
    conv = _graph([{"name": "c", "op": "conv2d", "out": 64, "kernel": 3, "padding": 1}], [64, 32, 32])
    small = _graph([{"name": "c", "op": "conv2d", "out": 64, "kernel": 3, "padding": 1}], [16, 32, 32])
    (term,) = kernel_terms(conv, profile, "fp32")
    assert term.layout_bytes == (64 * 64 * 9 + 64) * 4
    assert term.layout_s == pytest.approx(term.layout_bytes / 17.9e9)  # one core's bandwidth, efficiency 1
    # native (im2col + a BLAS GEMM): no oneDNN copy, but the GEMM packs its 64 x 16 x 3 x 3 weights (no bias)
    assert kernel_terms(small, profile, "fp32")[0].layout_bytes == 64 * 16 * 9 * 4
    assert kernel_terms(conv, profile, "fp32", fusion="epilogue")[0].layout_bytes == 0
    assert kernel_terms(conv, load_profile("a100_80gb"), "fp32")[0].layout_bytes == 0


def test_a_gemm_packs_its_weights_every_call_a_gemv_does_not() -> None:
    """An fp32 linear layer of more than one row is a BLAS GEMM that packs its K x N weights on every call (Goto and
    van de Geijn 2008; measured with --gemm-rows): one pass over them, in_features x out x 4 bytes, as layout traffic;
    a single row (a batch-1 classifier) is a GEMV and packs nothing; no pass under fusion, on a GPU or at fp16."""
    from costmodel.latency.model import kernel_terms

    profile = threaded(load_profile(PROFILE), 1)
    tokens = _graph([{"name": "fc", "op": "linear", "out": 512}], [196, 128])  # LeViT's MLP: 196 tokens, 128 -> 512
    (term,) = kernel_terms(tokens, profile, "fp32")
    assert term.layout_bytes == 128 * 512 * 4
    assert term.layout_s == pytest.approx(128 * 512 * 4 / 17.9e9)  # one core's bandwidth, efficiency 1 here
    head = _graph([{"name": "fc", "op": "linear", "out": 1000}], [512])  # one row: a GEMV
    assert kernel_terms(head, profile, "fp32")[0].layout_bytes == 0
    assert kernel_terms(tokens, profile, "fp32", fusion="epilogue")[0].layout_bytes == 0
    assert kernel_terms(tokens, load_profile("a100_80gb"), "fp32")[0].layout_bytes == 0
    # a native 1x1 conv (one thread) is the same GEMM over its pixels: 96 -> 24 channels at 56^2 packs 96 x 24 weights;
    # a squeeze-excite 1x1 conv on a 1 x 1 map is a GEMV and packs nothing
    point = _graph([{"name": "pw", "op": "conv2d", "out": 24, "kernel": 1}], [96, 56, 56])
    assert kernel_terms(point, profile, "fp32")[0].layout_bytes == 96 * 24 * 4
    se = _graph([{"name": "se", "op": "conv2d", "out": 24, "kernel": 1}], [96, 1, 1])
    assert kernel_terms(se, profile, "fp32")[0].layout_bytes == 0


def test_buffers_above_the_mmap_threshold_pay_their_fresh_pages() -> None:
    """Per call, a buffer over glibc's 32 MiB mmap threshold is a fresh mapping: its 4 KiB pages cost
    cpu.page_fault_us each (1.9 us, epyc_zen3_vm_b) on first touch. VGG-16's fc1 (a 7x7 conv over a 7x7 input, 512 ->
    4096) has oneDNN copy its (4096 x 512 x 49 + 4096) x 4 = 411,058,176 bytes of weights: 100,356 pages; a ReLU
    writing 64 x 512 x 512 floats (64 MiB) 16,384 pages; one writing 64 x 224 x 224 floats (12.8 MB) none."""
    from costmodel.latency.model import kernel_terms

    profile = threaded(load_profile(PROFILE), 1)
    free = profile.model_copy(update={"cpu": profile.cpu.model_copy(update={"page_fault_us": 0.0})})
    cases = ((_graph([{"name": "fc1", "op": "conv2d", "out": 4096, "kernel": 7}], [512, 7, 7]), 100_356),
             (_graph([{"name": "r", "op": "relu"}], [64, 512, 512]), 16_384),
             (_graph([{"name": "r", "op": "relu"}], [64, 224, 224]), 0))
    for graph, pages in cases:
        (paid,), (unpaid,) = kernel_terms(graph, profile, "fp32"), kernel_terms(graph, free, "fp32")
        assert paid.fixed_s - unpaid.fixed_s == pytest.approx(pages * 1.9e-6, rel=1e-9, abs=1e-15)


def test_view_layers_cost_their_call_on_a_cpu() -> None:
    """Eager PyTorch on a CPU runs each view layer (cpu.view_us, 4.4 us on epyc_zen3_vm_b): charged to the kernel it
    precedes (a trailing view to the last kernel); none under fusion, none on a profile without the figure."""
    from costmodel.latency.model import kernel_terms

    profile = threaded(load_profile(PROFILE), 1)
    free = profile.model_copy(update={"cpu": profile.cpu.model_copy(update={"view_us": 0.0})})
    graph = _graph([{"name": "a", "op": "relu"}, {"name": "r", "op": "reshape", "shape": [8, 16]},
                    {"name": "p", "op": "permute", "dims": [0, 2, 1]}, {"name": "b", "op": "relu"},
                    {"name": "f", "op": "flatten", "start_dim": 1}], [8, 4, 4])
    paid = {t.name: t.fixed_s for t in kernel_terms(graph, profile, "fp32")}
    unpaid = {t.name: t.fixed_s for t in kernel_terms(graph, free, "fp32")}
    assert paid["a"] == unpaid["a"]
    assert paid["b"] - unpaid["b"] == pytest.approx(3 * 4.4e-6, rel=1e-9)  # reshape, permute; flatten after it
    fused = kernel_terms(graph, profile, "fp32", fusion="epilogue")
    assert [t.fixed_s for t in fused] == [t.fixed_s for t in kernel_terms(graph, free, "fp32", fusion="epilogue")]


def test_the_speedups_benchmark_layers_build_and_split_as_the_model_says() -> None:
    """benchmarks/cpu_roofline.py --speedups: its layers are valid one-node graphs; the model's 2-thread speed-up of a
    ResNet 3x3 conv is the conv class's capacity x efficiency (2 x 0.975) less its per-call costs, so between 1.5 and
    1.95, and a 1x1 conv that moves to oneDNN gains less than a 3x3 conv of the same stage."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import cpu_roofline
    finally:
        sys.path.pop(0)
    graphs = dict(cpu_roofline.speedup_graphs())
    assert len(graphs) == len(cpu_roofline.SPEEDUP_LAYERS)
    profile = load_profile(PROFILE)

    def speedup(label: str) -> float:
        one, two = (estimate(graphs[label], profile, dtype="fp32", threads=n).summary.latency_s for n in (1, 2))
        return one / two

    assert 1.5 < speedup("3x3 conv 64 @ 56^2") < 2 * 0.975
    assert speedup("1x1 conv 64 -> 256 @ 56^2") < speedup("3x3 conv 64 @ 56^2")


def _cores(n: int, name: str = TWO_CORES):
    """``name``'s profile with ``n`` cores (its per-core figures; the chip's bandwidth n x per core), no eager costs,
    efficiency 1 and no class figures: what the split alone does."""
    profile = _plain(load_profile(name))
    cpu = profile.cpu.model_copy(update={"cores": n, "parallel_efficiency": 1.0, "parallel": {},
                                         "conv1x1_threaded_us": None, "conv1x1_threaded_speedup": None})
    scale = n / profile.cpu.cores
    return profile.model_copy(update={
        "cpu": cpu, "peak": profile.peak.model_copy(update={"vector": {d: v * scale for d, v in
                                                                       profile.peak.vector.items()}}),
        "memory": profile.memory.model_copy(update={"bandwidth_gbs": n * profile.cpu.bandwidth_per_core_gbs})})


def test_parallel_for_uses_at_most_one_thread_per_grain() -> None:
    """at::parallel_for (aten/src/ATen/ParallelOpenMP.h, invoke_parallel): min(threads, divup(n, grain)) threads,
    chunks of divup(n, threads used). A ReLU of 40,000 elements (grain 32,768) on 8 threads runs on 2, 20,000 each:
    half its one-thread time plus one fork/join; 65,536 x 4 elements on 8 threads: 8 chunks of 32,768."""
    eight = _cores(8)
    launch, sync = eight.launch_overhead_us * 1e-6, eight.cpu.sync_us * 1e-6
    for elements, shares in ((40_000, 2), (4 * 65_536, 8)):
        relu = _graph([{"name": "act", "op": "relu"}], [elements])
        one, many = (estimate(relu, eight, dtype="fp32", threads=n).kernels[0].latency_s for n in (1, 8))
        assert many == pytest.approx(launch + sync + (one - launch) / shares, rel=1e-9)
    small = _graph([{"name": "act", "op": "relu"}], [32_768])  # not more than one grain: one thread
    one, many = (estimate(small, eight, dtype="fp32", threads=n).summary.latency_s for n in (1, 8))
    assert many == pytest.approx(one, rel=1e-12)


def test_norms_split_channels_or_rows_whatever_their_size() -> None:
    """batch_norm_cpu_contiguous_impl and LayerNormKernelImplInternal: at::parallel_for with a grain of 1 over N x C
    channels / the rows. A batch norm of 6 channels x 64^2 (24,576 elements, under the grain) on 4 threads: 4
    threads, 2 channels each (a third of the work); a layer norm of 5 rows x 4,096 on 4 threads: 2 rows at most."""
    from costmodel.latency.cpu import Split, split_of

    four = _cores(4)
    launch, sync = four.launch_overhead_us * 1e-6, four.cpu.sync_us * 1e-6
    for node, shape, items, share in (({"name": "bn", "op": "batch_norm"}, [6, 64, 64], 6, 2 / 6),
                                      ({"name": "ln", "op": "layer_norm"}, [5, 4096], 5, 2 / 5)):
        graph = _graph([node], shape)
        assert split_of(graph.layers[0], "fp32", threaded(four, 4)) == Split(items, grain=1)
        one, many = (estimate(graph, four, dtype="fp32", threads=n).kernels[0].latency_s for n in (1, 4))
        assert many == pytest.approx(launch + sync + (one - launch) * share, rel=1e-9)


def test_onednn_convs_split_batch_channel_blocks_and_rows() -> None:
    """balance211 over oneDNN's work items (jit_avx2_convolution.cpp: mb x div_up(oc / 8, 4) x oh; the depthwise
    kernel, jit_uni_dw_convolution.cpp: mb x div_up(C / 8, 3) x oh on AVX2). A 3x3 conv 512 -> 64 on a 7 x 7 map has
    2 x 7 = 14 items: on 8 AVX2 cores the busiest thread gets 2 of them, a speed-up of 7, not 8; a depthwise conv of
    144 channels at 56 x 56, 6 x 56 = 336."""
    from costmodel.latency.cpu import Split, split_of

    eight = threaded(_cores(8, PROFILE), 8)  # epyc_zen3_vm_b: AVX2
    conv = _graph([{"name": "c", "op": "conv2d", "out": 64, "kernel": 3, "padding": 1}], [512, 7, 7]).layers[0]
    split = split_of(conv, "fp32", eight)
    assert split == Split(14)
    on = cpu_kernel(eight, "conv", 64 * 49, split=split)
    assert on.compute_scale == pytest.approx(8 / 7) and on.memory_scale == pytest.approx(8 / 7)
    dw = _graph([{"name": "d", "op": "conv2d", "out": 144, "kernel": 3, "padding": 1, "groups": 144}],
                [144, 56, 56]).layers[0]
    assert split_of(dw, "fp32", eight) == Split(336)
    # AVX-512: 9 blocks of 16 channels in chunks of 4 (4, 4, 1) over 56 rows; the first thread of 2 takes the first
    # 84 items, 56 x 4 + 28 x 4 = 336 block-rows of 504
    avx512 = split_of(dw, "fp32", threaded(_cores(8), 8))
    assert avx512 == Split(56 * 3, weights=(4, 4, 1), run=56)
    assert avx512.longest(2) == pytest.approx(336 / 504)
    mobilenet = _graph([{"name": "d", "op": "conv2d", "out": 32, "kernel": 3, "padding": 1, "groups": 32}],
                       [32, 112, 112]).layers[0]  # 4 blocks: chunks of 3 and 1; the first thread takes 3 / 4
    assert split_of(mobilenet, "fp32", eight).longest(2) == pytest.approx(3 / 4)
    pointwise = _graph([{"name": "p", "op": "conv2d", "out": 64, "kernel": 1}], [64, 32, 32]).layers[0]
    assert split_of(pointwise, "fp32", eight) is None  # oneDNN's 1x1 kernels split otherwise: evenly here


def _no_strided_norm(profile):
    cpu = profile.cpu.model_copy(update={"strided_norm_ns": 0.0, "strided_norm_output_ns": 0.0})
    return profile.model_copy(update={"cpu": cpu})


GRN_CHAINS = {  # name -> (nodes, per-sample input shape, whether ATen reduces the GRN's norm on its scalar path)
    "nhwc": ([{"name": "g", "op": "grn"}], [4, 4, 8], True),  # [N, H, W, C]: H and W are outer dims
    "nchw": ([{"name": "c", "op": "conv2d", "out": 8, "kernel": 1}, {"name": "g", "op": "grn", "channels_first": True}],
             [8, 4, 4], False),  # contiguous NCHW: H x W is the innermost, contiguous run
    "after_ln2d": ([{"name": "n", "op": "layer_norm", "channels_first": True},
                    {"name": "dw", "op": "conv2d", "out": 8, "kernel": 3, "padding": 1, "groups": 8},
                    {"name": "fc1", "op": "conv2d", "out": 16, "kernel": 1}, {"name": "act", "op": "gelu"},
                    {"name": "g", "op": "grn", "channels_first": True},
                    {"name": "fc2", "op": "conv2d", "out": 8, "kernel": 1},
                    {"name": "g2", "op": "grn", "channels_first": True}], [8, 4, 4], True),  # ConvNeXt V2-A's block
}


@pytest.mark.parametrize("chain", sorted(GRN_CHAINS))
def test_grn_strided_norm_by_hand(chain: str) -> None:
    """xeon6_gnr_vm's ``cpu.strided_norm_ns`` (1.0 ns per input element) and ``strided_norm_output_ns`` (74 ns per
    norm) are charged to a GRN whose spatial norm ATen reduces over outer dims (a channels-last map), and to no other:
    by hand, a [1, 4, 4, C] map is 16 C elements and C norms."""
    nodes, shape, strided = GRN_CHAINS[chain]
    profile = load_profile("xeon6_gnr_vm")
    assert (profile.cpu.strided_norm_ns, profile.cpu.strided_norm_output_ns) == (1.0, 74)
    graph = _graph(nodes, shape)
    full, plain = (estimate(graph, p, dtype="fp32", threads=1).summary.latency_s
                   for p in (profile, _no_strided_norm(profile)))
    grns = [layer for layer in graph.layers if layer.op == "grn"]
    channels = [layer.input_shapes[0][1 if getattr(layer.attrs, "channels_first", False) else -1] for layer in grns]
    expected = sum(16 * c * 1.0 + c * 74 for c in channels) * 1e-9 if strided else 0.0
    assert full - plain == pytest.approx(expected, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("chain", sorted(GRN_CHAINS))
def test_strided_norms_agree_with_torch_layouts(chain: str) -> None:
    """latency/contiguity.py ``strided_norms`` against the strides PyTorch gives the tensor each GRN module of the
    bridge receives: ATen's vectorized p = 2 norm needs the reduced dims to be the innermost, contiguous ones
    (``is_reduce_lastdim``), so the norm is strided unless the GRN is channels-first on a contiguous map."""
    torch = pytest.importorskip("torch")
    from costmodel.bridges.torch import build_module, example_inputs
    from costmodel.latency.contiguity import strided_norms

    nodes, _, _ = GRN_CHAINS[chain]
    graph = _graph(*GRN_CHAINS[chain][:2])
    module = build_module(graph).eval()
    seen: dict[str, bool] = {}
    for layer in graph.layers:
        if layer.op == "grn":
            first = layer.attrs.channels_first

            def hook(_m, args, path=layer.path, first=first):  # noqa: ANN001, ANN202
                x = args[0]
                seen[path] = not (first and x.is_contiguous())
            module.layers[layer.path].register_forward_pre_hook(hook)
    with torch.inference_mode():
        module(*example_inputs(graph))
    assert seen and set(strided_norms(graph)) == {path for path, strided in seen.items() if strided}
    assert all(seen.values()) == GRN_CHAINS[chain][2]


def test_nearest_upsample_cost_is_per_output_element() -> None:
    """xeon6_gnr_vm's ``cpu.op_ns.upsample`` (0.91 ns per output element: PyTorch's NCHW nearest upsampling gathers
    each output element from a computed index, unvectorized) on GhostNetV2's first gate shape, by hand: 72 x 28^2
    upsampled to 56^2 is 72 x 56^2 = 225,792 outputs."""
    profile = load_profile("xeon6_gnr_vm")
    graph = _graph([{"name": "up", "op": "upsample", "size": [56, 56], "mode": "nearest"}], [72, 28, 28])
    table = {k: v for k, v in profile.cpu.op_ns.items() if k != "upsample"}
    without = profile.model_copy(update={"cpu": profile.cpu.model_copy(update={"op_ns": table})})
    full, plain = (estimate(graph, p, dtype="fp32", threads=1).summary.latency_s for p in (profile, without))
    assert profile.cpu.op_ns["upsample"] == 0.91
    assert full - plain == pytest.approx(72 * 56 * 56 * 0.91e-9, rel=1e-9)


def test_gelu_cost_is_per_output_element() -> None:
    """xeon6_gnr_vm's ``cpu.op_ns.gelu`` (0.27 ns per element: the erf polynomial of PyTorch's vectorized GELU beyond
    a ReLU, measured at the zoo's GELU shapes) on DeiT-T's MLP activation, by hand: 197 x 768 = 151,296 elements."""
    profile = load_profile("xeon6_gnr_vm")
    graph = _graph([{"name": "act", "op": "gelu"}], [197, 768])
    table = {k: v for k, v in profile.cpu.op_ns.items() if k != "gelu"}
    without = profile.model_copy(update={"cpu": profile.cpu.model_copy(update={"op_ns": table})})
    full, plain = (estimate(graph, p, dtype="fp32", threads=1).summary.latency_s for p in (profile, without))
    assert profile.cpu.op_ns["gelu"] == 0.27
    assert full - plain == pytest.approx(197 * 768 * 0.27e-9, rel=1e-9)


def _handoff_profile(ns_per_kib: float = 50.0, threads: int = 2):
    """xeon6_gnr_vm (2 cores, caches.l2_mb 4: 2 MiB per core) with ``cpu.cross_core_ns_per_kib`` set, as run on
    ``threads`` threads."""
    profile = load_profile("xeon6_gnr_vm")
    cpu = profile.cpu.model_copy(update={"cross_core_ns_per_kib": ns_per_kib})
    return threaded(profile.model_copy(update={"cpu": cpu}), threads)


def test_handoff_by_hand() -> None:
    """The cross-core handoff (latency/cpu.py handoff_seconds), by hand at 50 ns per KiB on 2 cores of 2 MiB L2: a
    parallel ATen kernel reading 1 MiB a serial kernel wrote pulls half of it, 512 KiB x 50 ns = 25.6 us, on its
    second thread; 8 MiB: half is 4 MiB, but only the writer's 2 MiB L2 holds any, 2048 KiB x 50 ns = 102.4 us; a
    serial kernel reading 1 MiB a library kernel wrote on both cores pulls the other core's half, 25.6 us; two ATen
    kernels on the same threads split alike, two serial ones share the core: 0; two library kernels: 0 (not
    measured)."""
    from costmodel.latency.cpu import LIBRARY, SERIAL, handoff_seconds

    profile = _handoff_profile()
    aten = cpu_kernel(profile, "norm", 262_144, split=Split(64, grain=1))  # a batch norm over 64 channels
    serial = cpu_kernel(profile, "elementwise", 1_000)  # below the grain: core 0 alone
    library = cpu_kernel(profile, "conv", 262_144)
    assert (aten.partition, aten.cores, serial.partition, serial.cores, library.partition, library.cores) == (
        "aten/2", 2, SERIAL, 1, LIBRARY, 2)
    assert handoff_seconds(profile, aten, serial, 2**20) * 1e6 == pytest.approx(25.6, rel=1e-12)
    assert handoff_seconds(profile, aten, serial, 8 * 2**20) * 1e6 == pytest.approx(102.4, rel=1e-12)
    assert handoff_seconds(profile, serial, library, 2**20) * 1e6 == pytest.approx(25.6, rel=1e-12)
    assert handoff_seconds(profile, aten, library, 2**20) * 1e6 == pytest.approx(25.6, rel=1e-12)
    assert handoff_seconds(profile, library, library, 2**20) == 0.0  # two library kernels: not measured, not priced
    other = cpu_kernel(profile, "elementwise", 262_144)  # x + y: at::parallel_for on both threads
    assert other.partition == "aten/2"
    assert handoff_seconds(profile, other, aten, 2**20) == 0.0
    assert handoff_seconds(profile, serial, serial, 2**20) == 0.0
    assert handoff_seconds(profile, aten, None, 2**20) == 0.0  # the kernel before not known
    one = _handoff_profile(threads=1)  # one thread: every kernel on core 0
    assert handoff_seconds(one, cpu_kernel(one, "norm", 262_144), cpu_kernel(one, "conv", 262_144), 2**20) == 0.0
    bare = _handoff_profile(0.0)  # no figure: not priced
    assert handoff_seconds(bare, aten, serial, 2**20) == 0.0


def test_handoff_in_a_network_by_hand() -> None:
    """conv (oneDNN on both cores) -> batch norm -> ReLU -> global mean on 64 x 32 x 32 fp32 (256 KiB a tensor) at
    2 threads: the norm reads the conv's output from the cache under another split (half of 256 KiB at 50 ns per
    KiB, 6.4 us), the ReLU splits as the norm did (nothing), the mean (64 outputs: below the grain, on core 0) pulls
    the ReLU's other half (6.4 us); on one thread, or without the figure, nothing moves."""
    graph = _graph([{"name": "c", "op": "conv2d", "out": 64, "kernel": 3, "padding": 1, "bias": False},
                    {"name": "bn", "op": "batch_norm"}, {"name": "act", "op": "relu"},
                    {"name": "pool", "op": "global_avg_pool"}], [64, 32, 32])
    with_figure, without = _handoff_profile(), _handoff_profile(0.0)
    extra = [(a.latency_s - b.latency_s) * 1e6 for a, b in zip(
        estimate(graph, with_figure, dtype="fp32").kernels, estimate(graph, without, dtype="fp32").kernels,
        strict=True)]
    assert extra == pytest.approx([0.0, 6.4, 0.0, 6.4], abs=1e-9)
    one, bare = _handoff_profile(threads=1), _handoff_profile(0.0, threads=1)
    assert estimate(graph, one, dtype="fp32").summary.latency_s == estimate(graph, bare, dtype="fp32").summary.latency_s


@pytest.mark.parametrize(("node", "shape", "threads", "elements"), [
    # a strided depthwise conv: NCHW input 32 x 32^2 and output 32 x 16^2 both reordered to / from nChw16c
    ({"op": "conv2d", "out": 32, "kernel": 3, "stride": 2, "padding": 1, "groups": 32}, [32, 32, 32], 1,
     32 * 32 * 32 + 32 * 16 * 16),
    # a 3-channel stem (27,648 input elements > 20,480): oneDNN's first-layer kernel reads NCHW, only the output
    ({"op": "conv2d", "out": 16, "kernel": 3, "stride": 2, "padding": 1}, [3, 96, 96], 1, 16 * 48 * 48),
    # timm's PatchEmbed.proj, 16 x 16 patches of a 3-channel image: an nn.Conv2d, output 192 x 2 x 2
    ({"op": "patch_embed", "out": 192, "patch": 16}, [3, 32, 32], 1, 192 * 2 * 2),
    # ... 4 x 4 patches of a 4-channel map: the input too (a kernel larger than 3 x 3 goes to oneDNN at any size)
    ({"op": "patch_embed", "out": 8, "patch": 4, "layout": "nchw"}, [4, 8, 8], 1, 4 * 8 * 8 + 8 * 2 * 2),
    ({"op": "patch_embed", "out": 8, "patch": 2, "layout": "nchw"}, [4, 8, 8], 1, None),  # 2 x 2, 256: native
    ({"op": "conv2d", "out": 64, "kernel": 1}, [64, 32, 32], 1, None),  # native 1x1 GEMM on one thread
    ({"op": "conv2d", "out": 64, "kernel": 1}, [64, 32, 32], 2, None),  # the switch on two: priced by its parts
    ({"op": "conv2d", "out": 64, "kernel": 3, "padding": 1}, [16, 32, 32], 1, None),  # native im2col (16,384)
    ({"op": "conv2d", "out": 64, "kernel": 3, "padding": 1}, [16, 32, 32], 2, None),  # ... on two threads too
    ({"op": "conv2d", "out": 64, "kernel": 3, "padding": 1}, [24, 32, 32], 2, 24 * 32 * 32 + 64 * 32 * 32),
])
def test_onednn_reorder_elements(node: dict, shape: list[int], threads: int, elements: int | None) -> None:
    """The activations ideep reorders between NCHW and the blocked layout around a oneDNN conv (ONEDNN_VERBOSE: an
    input reorder unless the input has at most 3 channels, an output reorder), counted by hand; None where PyTorch
    does not run the conv with oneDNN or prices it as the 1x1 switch; 0 for a channels-last input."""
    from costmodel.latency.cpu import onednn_reorder_elements

    layer = _graph([{"name": "c", **node}], shape).layers[0]
    assert onednn_reorder_elements(layer, "fp32", threads, channels_last=False) == elements
    assert onednn_reorder_elements(layer, "fp32", threads, channels_last=True) == (None if elements is None else 0)
    assert onednn_reorder_elements(layer, "bf16", threads, channels_last=False) is None


@pytest.mark.parametrize(("node", "shape", "threads", "block", "padding", "tails"), [
    # dense 3x3, 72 -> 72: oneDNN rounds both channel counts up to 80; input and output reordered by jit:uni
    ({"op": "conv2d", "out": 72, "kernel": 3, "padding": 1}, [72, 56, 56], 1, 16, (80 / 72) ** 2, 2 * 72 * 56 * 56),
    ({"op": "conv2d", "out": 80, "kernel": 3, "padding": 1}, [80, 56, 56], 1, 16, 1.0, 0),  # on the block
    ({"op": "conv2d", "out": 72, "kernel": 3, "padding": 1}, [72, 56, 56], 1, 8, 1.0, 0),  # AVX2: 72 = 9 x 8
    ({"op": "conv2d", "out": 72, "kernel": 3, "padding": 1}, [72, 56, 56], 1, 0, 1.0, 0),  # no block known
    # a 1x1 conv 24 -> 72: native on one thread (nothing), oneDNN on two (32 x 80 padded, both reorders generic)
    ({"op": "conv2d", "out": 72, "kernel": 1}, [24, 56, 56], 1, 16, 1.0, 0),
    ({"op": "conv2d", "out": 72, "kernel": 1}, [24, 56, 56], 2, 16, 32 / 24 * 80 / 72, (24 + 72) * 56 * 56),
    ({"op": "conv2d", "out": 96, "kernel": 1}, [32, 56, 56], 2, 16, 1.0, 0),
    # a 3-channel stem: its input read as it is (is_1stconv), only the output's 24 channels padded and reordered
    ({"op": "conv2d", "out": 24, "kernel": 3, "stride": 2, "padding": 1}, [3, 96, 96], 1, 16, 32 / 24, 24 * 48 * 48),
    # depthwise 3x3 on 72 channels: whole blocks of 16 (80); a grouped conv of 3 groups: not padded, still reordered
    ({"op": "conv2d", "out": 72, "kernel": 3, "padding": 1, "groups": 72}, [72, 28, 28], 1, 16, 80 / 72,
     2 * 72 * 28 * 28),
    ({"op": "conv2d", "out": 72, "kernel": 3, "padding": 1, "groups": 3}, [72, 28, 28], 1, 16, 1.0, 2 * 72 * 28 * 28),
])
def test_onednn_channel_padding_and_generic_reorders(node: dict, shape: list[int], threads: int, block: int,
                                                     padding: float, tails: int) -> None:
    """oneDNN's blocked conv kernels work on channel counts rounded up to the block (jcp.oc / jcp.ic = rnd_up(...,
    simd_w)), and reorder an activation whose channels are off the block with the generic jit:uni reorder (the
    tails): by hand from the channel counts; nothing for a channels-last input or an fp16 conv."""
    from costmodel.latency.cpu import UNBLOCKED, onednn_blocking

    layer = _graph([{"name": "c", **node}], shape).layers[0]
    blocking = onednn_blocking(layer, "fp32", threads, False, block)
    assert blocking.padding == pytest.approx(padding) and blocking.tail_elements == tails
    assert onednn_blocking(layer, "fp32", threads, True, block) == UNBLOCKED
    assert onednn_blocking(layer, "fp16", threads, False, block) == UNBLOCKED


def test_a_conv_off_the_block_costs_the_padded_one_plus_its_generic_reorders() -> None:
    """Measured (benchmarks/cpu_micro/onednn_blocks.py, Xeon 6 VM): a 3x3 conv of 72 -> 72 channels at 56^2 took as
    long as one of 80 -> 80 plus 0.27 ns per element of its input and output (2400 against 2280 us on one thread).
    The model: the same compute seconds, and fixed seconds that differ by those elements at
    cpu.onednn_tail_reorder_ns and the usual reorder's 0.24 ns on 72 instead of 80 channels."""
    from costmodel.latency.model import kernel_terms

    profile = threaded(load_profile("xeon6_gnr_vm"), 1)
    cpu = profile.cpu
    terms = {c: kernel_terms(_graph([{"name": "c", "op": "conv2d", "out": c, "kernel": 3, "padding": 1, "bias": False}],
                                    [c, 56, 56]), profile, "fp32")[0] for c in (72, 80)}
    assert sum(terms[72].compute_s) == pytest.approx(sum(terms[80].compute_s))
    elements = {c: 2 * c * 56 * 56 for c in (72, 80)}
    assert terms[72].fixed_s - terms[80].fixed_s == pytest.approx(
        elements[72] * cpu.onednn_tail_reorder_ns * 1e-9 + (elements[72] - elements[80]) * cpu.onednn_reorder_ns * 1e-9)
    assert cpu.onednn_tail_reorder_ns == pytest.approx(0.27)


def test_onednn_conv_costs_on_one_thread() -> None:
    """xeon6_gnr_vm on one thread: a strided dense 3x3 conv that oneDNN runs pays ``onednn_conv_us`` per call on top of
    the conv class's dispatch and ``onednn_reorder_ns`` per reordered element; a strided depthwise conv the reorders
    only (its class's dispatch is a oneDNN call's); a native one neither. Hand counts from the profile's figures."""
    from costmodel.latency.model import kernel_terms

    profile = load_profile("xeon6_gnr_vm")
    cpu = profile.cpu
    bare = profile.model_copy(update={"cpu": cpu.model_copy(update={"onednn_reorder_ns": 0.0, "onednn_conv_us": 0.0})})
    cases = [
        ({"out": 64, "kernel": 3, "stride": 2, "padding": 1}, [64, 32, 32], 64 * 32 * 32 + 64 * 16 * 16, True),
        ({"out": 64, "kernel": 3, "stride": 2, "padding": 1, "groups": 64}, [64, 32, 32], 64 * 32 * 32 + 64 * 16 * 16,
         False),
        ({"out": 64, "kernel": 3, "padding": 1}, [16, 16, 16], 0, False),  # 4,096 input elements: native
    ]
    for node, shape, elements, call in cases:
        graph = _graph([{"name": "c", "op": "conv2d", **node}], shape)
        with_costs, without = (kernel_terms(graph, p, "fp32")[0].fixed_s for p in (threaded(profile, 1),
                                                                                    threaded(bare, 1)))
        assert with_costs - without == pytest.approx(elements * cpu.onednn_reorder_ns * 1e-9
                                                     + (cpu.onednn_conv_us * 1e-6 if call else 0.0))


def test_channels_last_convs_are_not_reordered() -> None:
    """ConvNeXt V2-Atto on a CPU: LayerNorm2d returns a channels-last view, so its downsampling convs and the
    depthwise convs after them get channels-last inputs, which oneDNN runs NHWC without reorders (ONEDNN_VERBOSE:
    brgemm / brdgmm_dw kernels, no reorder); the graph has no view ops, and the channels-last convs are still found.
    Its 3-channel NCHW stem reorders only its output."""
    from costmodel.latency.contiguity import eager_layout
    from costmodel.latency.model import kernel_terms

    graph = load_graph(ROOT / "arch_specs" / "convnextv2_atto.yaml", batch=1)
    profile = threaded(load_profile("xeon6_gnr_vm"), 1)
    nhwc = eager_layout(graph, profile, "none").channels_last
    assert {"stages.1.downsample", "stages.0.blocks.0.conv_dw", "stages.3.blocks.1.conv_dw"} <= nhwc
    assert "stem" not in nhwc
    bare = profile.model_copy(update={"cpu": profile.cpu.model_copy(update={"onednn_reorder_ns": 0.0})})
    extra = {a.name: a.fixed_s - b.fixed_s for a, b in zip(kernel_terms(graph, profile, "fp32"),
                                                          kernel_terms(graph, bare, "fp32"), strict=True)}
    assert extra["stages.0.blocks.0.conv_dw"] == 0.0 and extra["stages.1.downsample"] == 0.0
    stem = graph.by_path["stem"].cost.outputs[0]  # [1, 40, 56, 56]
    assert extra["stem"] == pytest.approx(40 * 56 * 56 * profile.cpu.onednn_reorder_ns * 1e-9)
    assert stem == (1, 40, 56, 56)
def test_onednn_conv_reads_as_aten_by_hand() -> None:
    """A oneDNN conv reads its NCHW input through a jit:blk reorder that hands each thread a contiguous run of the
    channel blocks, the run an at::parallel_for kernel on the same threads wrote: no handoff after an ATen kernel
    (measured: docs/latency-model.md, the cross-core handoff); after a serial kernel it pulls half as any parallel
    kernel does (1 MiB at 50 ns per KiB: 25.6 us); an ATen kernel after it still pays; two library kernels: 0."""
    from costmodel.latency.cpu import LIBRARY, handoff_seconds

    profile = _handoff_profile()
    conv = cpu_kernel(profile, "conv", 262_144, onednn_conv=True)
    plain = cpu_kernel(profile, "conv", 262_144)  # a library kernel that reads as it writes (MKL's GEMM)
    aten = cpu_kernel(profile, "elementwise", 262_144)
    serial = cpu_kernel(profile, "elementwise", 1_000)
    assert (conv.partition, conv.reads, plain.reads, aten.reads) == (LIBRARY, "aten/2", "", "")
    assert handoff_seconds(profile, conv, aten, 2**20) == 0.0
    assert handoff_seconds(profile, plain, aten, 2**20) * 1e6 == pytest.approx(25.6, rel=1e-12)
    assert handoff_seconds(profile, conv, serial, 2**20) * 1e6 == pytest.approx(25.6, rel=1e-12)
    assert handoff_seconds(profile, aten, conv, 2**20) * 1e6 == pytest.approx(25.6, rel=1e-12)
    assert handoff_seconds(profile, conv, plain, 2**20) == 0.0
    one = _handoff_profile(threads=1)  # one thread: nothing is split, nothing reads otherwise
    assert cpu_kernel(one, "conv", 262_144, onednn_conv=True).reads == ""


def test_onednn_conv_after_relu_in_a_network_by_hand() -> None:
    """ReLU -> 3x3 conv (oneDNN: 64 x 32 x 32 = 65,536 input elements) -> ReLU on 2 threads, 256 KiB a tensor: the
    conv reads the first ReLU's output as that ReLU split it (nothing), the second ReLU pulls half of the conv's output
    (128 KiB at 50 ns per KiB, 6.4 us); a channels-last conv input is not read through the reorder (not this rule)."""
    graph = _graph([{"name": "a", "op": "relu"},
                    {"name": "c", "op": "conv2d", "out": 64, "kernel": 3, "padding": 1, "bias": False},
                    {"name": "b", "op": "relu"}], [64, 32, 32])
    extra = [(a.latency_s - b.latency_s) * 1e6 for a, b in zip(
        estimate(graph, _handoff_profile(), dtype="fp32").kernels,
        estimate(graph, _handoff_profile(0.0), dtype="fp32").kernels, strict=True)]
    assert extra == pytest.approx([0.0, 0.0, 6.4], abs=1e-9)


def test_concat_by_pieces_by_hand() -> None:
    """Above the grain (32,768 elements) PyTorch copies a concat input by input (cat_out_cpu), each copy split with
    the grain on its own. On 2 threads of xeon6_gnr_vm (CPU-wide fork/join 2 us, efficiency 1, 12 GB/s a core, 24
    for the chip): inputs of 65,536 and 8,192 elements: the first split in halves, the second on the calling thread,
    so the busiest thread copies 32,768 + 8,192 of the 73,728 (memory time 40,960 / 73,728 x 2 of the chip's rate's
    share: x 1.111), one fork/join (2 us); three inputs of 40,000: three halves, three fork/joins (6 us), memory
    x 1.0; two inputs of 20,000 (the output above the grain, each copy below it): serial, as any serial kernel; on
    one thread the pieces change nothing."""
    from costmodel.latency.cpu import PIECES, SERIAL, concat_pieces

    profile = threaded(load_profile("xeon6_gnr_vm"), 2)
    mixed = cpu_kernel(profile, "data_movement", 73_728, pieces=(65_536, 8_192))
    assert (mixed.parallel, mixed.partition, mixed.reads, mixed.cores) == (True, PIECES, "aten/2", 2)
    assert mixed.memory_scale == pytest.approx(40_960 / 73_728 * 2, rel=1e-12)
    assert mixed.fixed_s == pytest.approx(2e-6, rel=1e-12)
    even = cpu_kernel(profile, "data_movement", 120_000, pieces=(40_000,) * 3)
    assert (even.memory_scale, even.fixed_s) == (pytest.approx(1.0, rel=1e-12), pytest.approx(6e-6, rel=1e-12))
    small = cpu_kernel(profile, "data_movement", 40_000, pieces=(20_000, 20_000))
    serial = cpu_kernel(profile, "data_movement", 1_000)
    assert (small.parallel, small.partition, small.memory_scale, small.fixed_s) == (
        False, SERIAL, serial.memory_scale, serial.fixed_s)
    one = threaded(load_profile("xeon6_gnr_vm"), 1)
    assert cpu_kernel(one, "data_movement", 73_728, pieces=(65_536, 8_192)) == cpu_kernel(one, "data_movement", 73_728)
    graph = build_graph(parse_spec({"name": "t", "inputs": {"x": [64, 32, 32], "y": [8, 32, 32]},
                                    "nodes": [{"name": "c", "op": "concat", "inputs": ["x", "y"]},
                                              {"name": "r", "op": "relu"}]}), batch=1)
    assert [concat_pieces(layer) for layer in graph.layers] == [(65_536, 8_192), ()]
