"""costmodel sweep: space files, sampling, the fast evaluator (exact against the full analyzer), engines, files."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from costmodel.cli import app
from costmodel.spec.expressions import ExpressionError, evaluate_expression, regnet_stages
from costmodel.sweep import (
    Engine,
    Evaluator,
    Sampler,
    SpaceError,
    Sweep,
    SweepTask,
    devices_for,
    draw,
    load_space,
    read_results,
    run_chunk,
)
from costmodel.sweep.evaluate import candidate_spec, reference_metrics
from costmodel.sweep.fast import FastAnalyzer

pytest.importorskip("pyarrow")  # the optional extra `costmodel[sweep]`

ROOT = Path(__file__).resolve().parents[1]
SPACES = ROOT / "arch_specs" / "spaces"
runner = CliRunner()


def _cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


# -- expressions the spaces use ---------------------------------------------------------------------------------

def test_regnet_stages_reproduce_timm_regnetx_016() -> None:
    # timm RegNetCfg(w0=80, wa=34.01, wm=2.25, depth=18) -> per-block widths 80 x2, 176 x4, 408 x10, 912 x2
    # (the figures timm's generate_regnet prints, quoted in arch_specs/regnetx_016.yaml)
    assert regnet_stages(80, 34.01, 2.25, 18) == [[80, 176, 408, 912], [2, 4, 10, 2]]
    with pytest.raises(ValueError):
        regnet_stages(80, 34.01, 1.0, 18)


def test_regnet_stages_of_more_blocks_than_a_range_holds_is_refused_at_once() -> None:
    # a space's derived `regnet_stages(w0, wa, wm, 10**9)` looped 10^9 times (the fuzzer's sweep timed out at 10 s,
    # tests/fuzzing.py fuzz_spaces, seed 2031, case 139); range() and comprehensions stop at MAX_RANGE steps already
    import time

    from costmodel.spec.expressions import MAX_RANGE

    start = time.perf_counter()
    with pytest.raises(ExpressionError, match=f"regnet_stages of {10**9} blocks \\(at most {MAX_RANGE}\\)"):
        evaluate_expression("regnet_stages(16, 8.0, 2.0, 10**9)", {})
    assert time.perf_counter() - start < 1.0


def test_slices_and_comprehensions() -> None:
    env = {"xs": [8, 16, 24, 32], "d": 2}
    assert evaluate_expression("xs[:d]", env) == [8, 16]
    assert evaluate_expression("xs[1::2]", env) == [16, 32]
    assert evaluate_expression("[x // 8 for x in xs if x > 8]", env) == [2, 3, 4]
    assert evaluate_expression("[[1]] + [xs[:k] for k in range(1, 3)]", env) == [[1], [8], [8, 16]]
    with pytest.raises(ExpressionError):
        evaluate_expression("[x for x in range(10 ** 7)]", env)
    assert evaluate_expression("[x for x in xs for y in xs]", env) == [x for x in [8, 16, 24, 32] for _ in range(4)]
    with pytest.raises(ExpressionError):  # nested loops are bounded by their total steps
        evaluate_expression("[x for x in range(1000) for y in range(1001)]", env)


# -- the fast evaluator is the analyzer -------------------------------------------------------------------------

# devices: HBM GPU, GDDR GPU, a phone (small cache, no host stream), an edge GPU whose host issues slower than
# small kernels run (the host stream governs), a multi-threaded CPU (priced as threaded)
DEVICES = ["a100", "rtx4090", "pixel4", "jetson_agx_orin", "epyc_zen5_vm"]


def _exact(space_file: Path, devices: list[str], seed: int, wanted: int, tmp_path: Path, extra: str = "",
           priced_alone: bool = True, planned: bool = False) -> int:
    """The fast evaluator's figures equal the full analyzer's (build, analyze, latency.estimate, score) exactly,
    for a candidate seen first (the builder through the fragment cache) and again (``planned``: its top-level
    instances found by the compiled plan without the builder, and composed by segments). Returns how often a
    fragment served a call on tensors of other names than its own (:meth:`Fragment.moved`)."""
    return _exact_analyzer(space_file, devices, seed, wanted, tmp_path, extra, priced_alone, planned)[1]


def _exact_analyzer(space_file: Path, devices: list[str], seed: int, wanted: int, tmp_path: Path, extra: str = "",
                    priced_alone: bool = True, planned: bool = False) -> tuple[FastAnalyzer, int]:
    """:func:`_exact`, and the analyzer."""
    if extra:
        text = space_file.read_text().replace("\nvariables:", f"\n{extra}variables:", 1)
        space_file = tmp_path / space_file.name
        space_file.write_text(text)
    space = load_space(space_file)
    found = devices_for(devices)
    data = space.data
    fast = FastAnalyzer(space.spec, found, data.dtype, data.batch, space.spec_vars(), data.precision)
    evaluator = Evaluator(space, found)
    compared = 0
    for values in draw(space, Sampler.RANDOM, seed, 0, 6 * wanted):
        spec = candidate_spec(space.spec, evaluator.derive(values), evaluator.spec_names)
        try:
            expected = reference_metrics(spec, found, data.dtype, data.batch, data.precision)
        except Exception:  # noqa: BLE001 - an invalid candidate (RegNet with 3 stages): the fast path must fail too
            with pytest.raises(Exception):  # noqa: B017
                fast(spec)
            continue
        for _ in range(2):  # first through the builder, then (all its fragments cached) through the plan, if any
            got = fast(spec)
            assert got.keys() == expected.keys()
            for key, value in expected.items():  # exactly: the same integers, the same float sums
                assert got[key] == value or (value != value and got[key] != got[key]), (space_file.name, key)
        compared += 1
        if compared == wanted:
            break
    assert compared >= min(wanted, 8)
    assert len(fast.fragments) > 0
    assert (fast.planned >= compared) == planned  # every candidate seen again was served by the plan
    # latency came from the fragments' kernels (else from the latency model on the whole graph)
    assert any(fragment.kernels for fragment in fast.fragments.values()) == priced_alone
    # a candidate is composed by segments, by context: a planned candidate's by its top-level nodes' instances
    # (a ResNet stage's blocks), the builder's by each fragment alone
    assert any(segment.composed for segment in fast.segments.values())
    return fast, sum(len(fragment.moves) for fragment in fast.fragments.values())


@pytest.mark.parametrize("name", ["resnet_like", "regnet", "ofa_mbv3"])
def test_fast_path_equals_full_analyzer(name: str, tmp_path: Path) -> None:
    # the plan serves chains of top-level nodes (ResNet); RegNet's and OFA's stage blocks read varying variables
    moved = _exact(SPACES / f"{name}.yaml", DEVICES, 7, 15, tmp_path, planned=name == "resnet_like")
    if name == "ofa_mbv3":  # fixed widths, varying depths: stage k's first block follows blocks of other names
        assert moved > 0


@pytest.mark.parametrize(("name", "dtype", "devices"), [("resnet_like", "fp16", ["a100", "jetson_agx_orin"]),
                                                        ("ofa_mbv3", "bf16", ["h100_sxm", "l4"])])
def test_fast_path_equals_full_analyzer_under_amp(name: str, dtype: str, devices: list[str], tmp_path: Path) -> None:
    # autocast: fp32 input, cast kernels before convs and linear, fp32 norms: element types cross fragments
    _exact(SPACES / f"{name}.yaml", devices, 11, 10, tmp_path, f"dtype: {dtype}\nprecision: amp\n",
           planned=name == "resnet_like")


@pytest.mark.parametrize(("name", "extra"), [("resnet_like", ""), ("regnet", ""), ("ofa_mbv3", ""),
                                           ("ofa_mbv3", "dtype: bf16\nprecision: amp\n"),
                                           ("resnet_like", "dtype: bf16\nprecision: amp\n")])
def test_fast_path_equals_full_analyzer_on_a_cpu_that_prices_views(name: str, extra: str, tmp_path: Path) -> None:
    # eager view calls (cpu.view_us) are charged to the kernel after them, which may be in a later fragment
    # (MobileNetV3's top-level flatten before its classifier: a fragment of one view and no kernel)
    from costmodel.hardware import load_profile

    profile = ROOT / "hardware_profiles" / "epyc_zen3_vm_b.yaml"
    cpu = load_profile(str(profile)).cpu
    assert cpu is not None and cpu.view_us > 0
    if extra:  # autocast needs a half type: the same CPU given a bf16 peak (a test profile, not a measurement)
        text = profile.read_text().replace("vector: {fp32: 0.2067}", "vector: {fp32: 0.2067, bf16: 0.2067}", 1)
        profile = tmp_path / "zen3_bf16.yaml"
        profile.write_text(text.replace("\nsources:\n", "\nsources:\n  peak.vector.bf16: test profile\n", 1))
    _exact(SPACES / f"{name}.yaml", [str(profile), "a100"], 13, 8, tmp_path, extra, planned=name == "resnet_like")


def _threaded_profile(name: str, threads: int, tmp_path: Path) -> str:
    """A copy of the shipped CPU profile ``name`` run with ``threads`` threads (its ``cpu.threads``), under its own
    file stem (the sweep labels a device by its profile's key)."""
    text = (ROOT / "hardware_profiles" / f"{name}.yaml").read_text()
    assert text.count("cpu: {cores: 2, threads: 1,") == 1
    path = tmp_path / f"{name}_{threads}t.yaml"
    path.write_text(text.replace("cpu: {cores: 2, threads: 1,", f"cpu: {{cores: 2, threads: {threads},"))
    return str(path)


@pytest.mark.parametrize(("name", "seed"), [("resnet_like", 3), ("regnet", 17), ("ofa_mbv3", 29)])
def test_fast_path_equals_full_analyzer_on_cpus_at_one_and_two_threads(name: str, seed: int, tmp_path: Path) -> None:
    # at two threads a kernel reading what the kernel before it wrote on the other core pays the cross-core handoff
    # (xeon6_gnr_vm: cpu.cross_core_ns_per_kib), which depends on that kernel, in another fragment where the
    # fragment starts: priced there from the CPU figures the fragment before hands on (Boundary.before), and the
    # figures are the analyzer's exactly. One thread, a CPU without the handoff (epyc_zen3_vm_b) and a GPU alike
    from costmodel.hardware import load_profile, threaded

    xeon2 = _threaded_profile("xeon6_gnr_vm", 2, tmp_path)
    cpu = threaded(load_profile(xeon2)).cpu
    assert cpu is not None and cpu.cores == cpu.threads == 2 and cpu.cross_core_ns_per_kib > 0
    devices = ["xeon6_gnr_vm", xeon2, "epyc_zen3_vm_b", _threaded_profile("epyc_zen3_vm_b", 2, tmp_path), "a100"]
    fast = _exact_analyzer(SPACES / f"{name}.yaml", devices, seed, 8, tmp_path, planned=name == "resnet_like")[0]
    assert fast.handoffs
    # fragments' kernels were priced after a kernel whose split over the cores xeon6 at 2 threads reads (else the
    # handoff at fragment starts is not exercised)
    assert any(key[3] and key[3][1] is not None for fragment in fast.fragments.values() for key in fragment.kernels)


@pytest.mark.parametrize("inputs", [", inputs: 'half:0'", ""])
def test_fast_path_prices_a_partial_view_of_an_earlier_fragment_whole(inputs: str, tmp_path: Path) -> None:
    # `relu` reads half of `conv`'s output through a top-level `chunk`: not a fragment priced alone (the slice is
    # not the buffer), so the candidate is priced by the latency model whole; still exact. Without `inputs` the
    # top level is a chain: a candidate seen again is found by the plan, and its graph made for the latency model
    (tmp_path / "tiny.yaml").write_text(
        "name: tiny\ninputs: {image: [3, 32, 32]}\nvars: {w: 16, k: 3}\nnodes:\n"
        "  - {name: conv, op: conv2d, out: w, kernel: k, padding: 1}\n"
        "  - {name: half, op: chunk, chunks: 2, dim: 1}\n"
        f"  - {{name: act, op: relu{inputs}}}\n"
        "  - {name: pool, op: global_avg_pool, flatten: true}\n  - {name: fc, op: linear, out: 10}\n")
    (tmp_path / "space.yaml").write_text("name: t\nbase: tiny.yaml\nvariables:\n  w: {choices: [16, 32, 64]}\n"
                                         "  k: {choices: [1, 3]}\n")
    _exact(tmp_path / "space.yaml", ["a100", "pixel4"], 0, 6, tmp_path, priced_alone=False, planned=not inputs)


STRIDED = {  # a strided view, or a channels-last map (a CPU's channels-first layer norm), read across nodes or inside
    "top": "  - {name: perm, op: permute, dims: [0, 2, 3, 1]}\n  - {name: norm, op: layer_norm}\n"
           "  - {name: back, op: permute, dims: [0, 3, 1, 2]}\n",
    "block": "  - {name: norm, block: nhwc_norm}\n",
    "norm2d": "  - {name: norm, op: layer_norm, channels_first: true}\n",
}


@pytest.mark.parametrize(("where", "alone"), [("top", False), ("block", True), ("norm2d", False)])
def test_fast_path_prices_strided_tensors_across_fragments_whole(where: str, alone: bool, tmp_path: Path) -> None:
    # eager PyTorch copies a permuted view before a layer norm (and keeps a channels-first layer norm's map
    # channels-last on a CPU, which the conv after it then reads as it is); a fragment priced alone takes what it
    # reads as contiguous, so one that hands on such a tensor (a top-level permute, a CPU's LayerNorm2d) makes the
    # candidate priced whole; inside one fragment (a block ending in .contiguous()) it is priced alone. Exact
    # either way
    (tmp_path / "tiny.yaml").write_text(
        "name: tiny\ninputs: {image: [3, 32, 32]}\nvars: {w: 16, k: 3}\n"
        "blocks:\n  nhwc_norm:\n    nodes:\n      - {name: perm, op: permute, dims: [0, 2, 3, 1]}\n"
        "      - {name: norm, op: layer_norm}\n      - {name: back, op: permute, dims: [0, 3, 1, 2]}\n"
        "      - {name: copy, op: contiguous}\n"
        "nodes:\n  - {name: conv, op: conv2d, out: w, kernel: k, padding: 1}\n" + STRIDED[where] +
        "  - {name: conv2, op: conv2d, out: w, kernel: 3, padding: 1}\n"
        "  - {name: pool, op: global_avg_pool, flatten: true}\n  - {name: fc, op: linear, out: 10}\n")
    (tmp_path / "space.yaml").write_text("name: t\nbase: tiny.yaml\nvariables:\n  w: {choices: [16, 32, 64]}\n"
                                         "  k: {choices: [1, 3]}\n")
    _exact(tmp_path / "space.yaml", ["a100", "xeon6_gnr_vm", "epyc_zen3_vm_b"], 0, 6, tmp_path, priced_alone=alone,
           planned=True)


@pytest.mark.parametrize("out", ["'ws[1]'", "'ws[1] + 8 * i'"])
def test_fast_path_plan_falls_back_to_the_builder(out: str, tmp_path: Path) -> None:
    # a chain the plan follows, whose candidates may repeat a node -1 times (the builder refuses it: the fast path
    # must raise too), read a width through an expression (evaluated) or a plain variable (taken as it is), and
    # override the last repeat (its own arguments): exact against the full analyzer, the plan serving the others.
    # A node whose arguments name ``i`` is not found by the values of its texts (the plan walks its instances,
    # then finds their segment by the instances themselves)
    (tmp_path / "chain.yaml").write_text(
        "name: chain\ninputs: {image: [3, 16, 16]}\nvars: {d: 1, w: 8, ws: [8, 16]}\n"
        "blocks:\n  unit:\n    params: {out: null, k: 3}\n    nodes:\n"
        "      - {name: conv, op: conv2d, out: out, kernel: k, padding: k // 2}\n"
        "      - {name: act, op: relu}\n"
        "nodes:\n  - {name: stem, op: conv2d, out: w, kernel: 3, padding: 1}\n"
        f"  - {{name: body, block: unit, repeat: d, out: {out}, overrides: {{-1: {{k: 1}}}}}}\n"
        "  - {name: tail, block: unit, out: 'ws[0] * 2'}\n"
        "  - {name: pool, op: global_avg_pool, flatten: true}\n  - {name: fc, op: linear, out: 10}\n")
    (tmp_path / "space.yaml").write_text("name: t\nbase: chain.yaml\nvariables:\n  d: {choices: [-1, 1, 2, 3]}\n"
                                         "  w: {choices: [8, 16]}\n  ws: {choices: [8, 16, 24], size: 2}\n")
    fast, _ = _exact_analyzer(tmp_path / "space.yaml", ["a100", "pixel4"], 3, 10, tmp_path, planned=True)
    by_values = {key[0] for key in fast.segments if type(key[0]) is int}  # plan node positions found by values
    assert by_values == ({0, 1, 2, 3, 4} if "i" not in out else {0, 2, 3, 4})


def test_fast_path_composes_segments_shifted_or_not(monkeypatch: pytest.MonkeyPatch) -> None:
    # a segment composed for the main-path counts it reads shifted down serves every shift of them; one that cannot
    # (a count below 1 read inside) is composed with the candidate's own counts: force that everywhere, and the
    # figures are still exact (ResNet-like candidates with few depths and widths, so segments repeat at many shifts)
    space = load_space(SPACES / "resnet_like.yaml")
    found = devices_for(["a100", "jetson_agx_orin"])
    evaluator = Evaluator(space, found)
    values = draw(space, Sampler.RANDOM, 5, 0, 12)
    for value in values:  # depths 1-2, widths of two sizes: stages repeat after shallower or deeper earlier ones
        value["depth"] = [1 + d % 2 for d in value["depth"]]
        value["width"] = [1.0 if w < 1 else 2.0 for w in value["width"]]
    specs = [candidate_spec(space.spec, evaluator.derive(value), evaluator.spec_names) for value in values]
    expected = [reference_metrics(spec, found, space.data.dtype, space.data.batch) for spec in specs]
    composition = FastAnalyzer._composition
    for shiftable in (True, False):
        if not shiftable:
            def unshifted(*args: object, **kwargs: object) -> object:
                composed = composition(*args, **kwargs)  # type: ignore[arg-type]
                composed.shiftable = False
                return composed

            monkeypatch.setattr(FastAnalyzer, "_composition", unshifted)
        fast = FastAnalyzer.for_space(space, found)
        for _ in range(2):
            for spec, want in zip(specs, expected, strict=True):
                assert fast(spec) == want  # no NaN: every candidate is a CNN
        contexts = [context for segment in {id(s): s for s in fast.segments.values()}.values()
                    for context in segment.composed]
        shifted_apart = sum(context[-1] is None for context in contexts)  # (see FastAnalyzer._compose_segments)
        assert (shifted_apart > 0) == (not shiftable)
        assert fast.planned >= 2 * len(specs) - 1


@pytest.mark.parametrize(("name", "seed"), [("resnet_like", 2026), ("regnet", 4099), ("ofa_mbv3", 31337)])
def test_fast_path_equals_full_analyzer_on_fresh_seeds(name: str, seed: int, tmp_path: Path) -> None:
    # seeds the fast path was not developed against, one device each of the two kinds (GPU, threaded CPU)
    _exact(SPACES / f"{name}.yaml", ["a100", "epyc_zen5_vm"], seed, 8, tmp_path, planned=name == "resnet_like")


def test_fragment_cache_is_bounded_by_bytes() -> None:
    # a budget of a few fragments: the cache is emptied again and again, and the figures stay the analyzer's
    space = load_space(SPACES / "resnet_like.yaml")
    found = devices_for(["a100"])
    data = space.data
    limit = 300_000
    small = FastAnalyzer(space.spec, found, data.dtype, data.batch, space.spec_vars(), data.precision,
                         cache_bytes=limit)
    evaluator = Evaluator(space, found)
    held, emptied = 0, False
    for values in draw(space, Sampler.RANDOM, 5, 0, 10):
        spec = candidate_spec(space.spec, evaluator.derive(values), evaluator.spec_names)
        assert small(spec) == reference_metrics(spec, found, data.dtype, data.batch, data.precision)
        emptied = emptied or len(small.fragments) < held
        held = len(small.fragments)
        # what the cache holds: at most the limit plus the fragments of the candidate that passed it (a candidate
        # of this space: at most 38 fragments, 420 layers)
        assert sum(len(fragment.layers) for fragment in small.fragments.values()) * 1200 <= limit + 500 * 1200
        # and the segments (the plan's 10 top-level nodes, or at most 38 fragments alone) of at most the two
        # candidates since it was last emptied
        assert len({id(segment) for segment in small.segments.values()}) <= 2 * 38
    assert emptied


def test_segments_go_before_the_fragments_when_they_hold_a_quarter(monkeypatch: pytest.MonkeyPatch) -> None:
    # segments and their compositions made heavy (as they are in a long ResNet-like sweep, which meets ~3 new ones
    # per candidate): past the budget only they are dropped, the fragments stay (none expanded or priced again),
    # and the figures are the analyzer's, the candidates seen again composed anew
    import costmodel.sweep.fast as fast_module

    monkeypatch.setattr(fast_module, "COMPOSED_BYTES", 10**6)
    monkeypatch.setattr(fast_module, "SEGMENT_BYTES", 10**5)
    space = load_space(SPACES / "resnet_like.yaml")
    found = devices_for(["a100"])
    data = space.data
    evaluator = Evaluator(space, found)
    specs = [candidate_spec(space.spec, evaluator.derive(values), evaluator.spec_names)
             for values in draw(space, Sampler.RANDOM, 9, 0, 8)]
    bounded = FastAnalyzer(space.spec, found, data.dtype, data.batch, space.spec_vars(), data.precision,
                           cache_bytes=30 * 10**6)
    unbounded = FastAnalyzer(space.spec, found, data.dtype, data.batch, space.spec_vars(), data.precision,
                             cache_bytes=10**12)
    for spec in specs * 3:  # first through the builder, then through the plan (segments on second sight)
        expected = reference_metrics(spec, found, data.dtype, data.batch, data.precision)
        assert bounded(spec) == expected
        unbounded(spec)
        assert bounded.fragments.keys() == unbounded.fragments.keys()  # no fragment made again
    assert bounded.composed_drops >= 2 and bounded.drops == 0
    assert unbounded.composed_drops == unbounded.drops == 0
    assert bounded.planned == unbounded.planned > 0


@pytest.mark.parametrize(("memory_gib", "cpus", "budget_mib"), [(4, 8, 512), (16, 4, 1024), (24, 2, 2048),
                                                                 (256, 64, 1024), (1024, 16, 2048)])
def test_the_cache_budget_is_a_quarter_of_memory_per_cpu(memory_gib: int, cpus: int, budget_mib: int,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import costmodel.sweep.fast as fast_module

    pages = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": memory_gib * 2**30 // 4096}
    monkeypatch.setattr(os, "sysconf", pages.__getitem__)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)))
    missing = Path("/nonexistent/memory.max")
    monkeypatch.setattr(fast_module, "Path", lambda text: missing)  # no cgroup limit
    assert fast_module.default_cache_bytes() == budget_mib * 2**20  # memory / (4 x cpus), from 512 MiB to 2 GiB


@pytest.mark.parametrize("name", ["resnet_like", "regnet", "ofa_mbv3"])
def test_candidates_and_caches_make_no_reference_cycles(name: str) -> None:
    # what lets a worker freeze its heap after each chunk (engine.settle_heap) lose nothing: a candidate leaves no
    # cyclic garbage (all freed by reference counts), and the caches, once dropped, leave none either
    import gc

    space = load_space(SPACES / f"{name}.yaml")
    found = devices_for(["a100", "epyc_zen5_vm"])
    gc.collect()
    gc.disable()
    try:
        evaluator = Evaluator(space, found, FastAnalyzer.for_space(space, found))
        rows = evaluator.chunk(0, 0, draw(space, Sampler.RANDOM, 3, 0, 24)).rows  # cold: through the builder
        rows += evaluator.chunk(0, 0, draw(space, Sampler.RANDOM, 3, 0, 24)).rows  # again: the plan (ResNet)
        assert rows
        made = gc.collect()
        del evaluator
        left = gc.collect()
    finally:
        gc.enable()
    assert (made, left) == (0, 0)


def test_a_worker_freezes_its_heap_after_a_chunk(tmp_path: Path) -> None:
    import gc

    from costmodel.sweep.engine import evaluator_for

    run = _sweep(tmp_path, "one.parquet")
    try:
        run_chunk(run.task, 0)
        assert gc.get_freeze_count() > 0  # out of the collector's sight, the evaluator's caches among them
        frozen = gc.get_freeze_count()
        probe: list[object] = []  # a container made between chunks: in the collector's sight until the next chunk
        assert any(o is probe for o in gc.get_objects())
        run_chunk(run.task, 1)
        assert gc.get_freeze_count() > frozen and not any(o is probe for o in gc.get_objects())
        evaluator_for(Sweep(SPACES / "resnet_like.yaml", ["a100"], tmp_path / "two.parquet", samples=40, seed=6,
                            chunk_size=8).task)  # another run: the last one's heap unfrozen
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()


def test_a_sweep_in_the_callers_process_leaves_its_heap_as_it_was(tmp_path: Path) -> None:
    # one local worker runs in the caller's process (a library caller's): frozen after each chunk only if nothing
    # was frozen before, and unfrozen when the run ends; a caller that froze objects of its own keeps exactly those
    import gc

    from costmodel.sweep import engine

    gc.unfreeze()
    try:
        run = _sweep(tmp_path, "mine.parquet")
        counts = []
        for _ in run.results(workers=1):
            counts.append(gc.get_freeze_count())
        assert counts[0] > 0  # frozen between chunks, as a worker does
        assert gc.get_freeze_count() == 0  # and unfrozen at the end
        theirs: list[object] = []
        gc.freeze()
        before = gc.get_freeze_count()
        run = Sweep(SPACES / "resnet_like.yaml", ["a100"], tmp_path / "theirs.parquet", samples=40, seed=9,
                    chunk_size=8)
        probe: list[object] = []
        for _ in run.results(workers=1):  # nothing more frozen (fewer: the last run's caches, freed, were frozen)
            assert gc.get_freeze_count() <= before and any(o is probe for o in gc.get_objects())
        assert 0 < gc.get_freeze_count() <= before and not any(o is theirs for o in gc.get_objects())
        assert engine._HEAP_OURS == [True]  # worker processes still freeze
    finally:
        gc.unfreeze()


def test_a_worker_keeps_one_evaluator_and_schema_per_run(tmp_path: Path) -> None:
    # one run's state at a time, built once; a run on the full analyzer (fast=False: not part of the run's token)
    # gets an evaluator of its own, not the fast one of the same arguments
    from costmodel.sweep.engine import evaluator_for, schema_for
    from costmodel.sweep.fast import FastAnalyzer

    fast, full = _sweep(tmp_path, "a.parquet").task, _sweep(tmp_path, "b.parquet", fast=False).task
    assert fast.token == full.token and fast.fast and not full.fast
    evaluator, columns = evaluator_for(fast), schema_for(fast)
    assert evaluator_for(fast) is evaluator and schema_for(fast) is columns
    assert isinstance(evaluator.metrics, FastAnalyzer)
    assert not isinstance(evaluator_for(full).metrics, FastAnalyzer)
    assert evaluator_for(fast) is not evaluator  # the other run came between: built again


def test_op_costs_shared_by_the_evaluators_builds_are_bounded_on_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    # FastAnalyzer.bound() empties the fragments, not the builder's op costs (graph.CostCache): those are bounded by
    # their own entry count, emptied when full, and a candidate built after that is still exact
    from costmodel.graph import CostCache

    monkeypatch.setattr(CostCache, "MAX_ENTRIES", 20)
    space = load_space(SPACES / "resnet_like.yaml")
    found = devices_for(["a100"])
    fast = FastAnalyzer.for_space(space, found)
    evaluator = Evaluator(space, found)
    held = []
    for values in draw(space, Sampler.RANDOM, 8, 0, 8):
        spec = candidate_spec(space.spec, evaluator.derive(values), evaluator.spec_names)
        assert fast(spec) == reference_metrics(spec, found, space.data.dtype, space.data.batch)
        held.append(len(fast.costs.costs))
    assert max(held) <= 20 and any(later < earlier for earlier, later in zip(held, held[1:], strict=False))


def test_column_values_are_json_text() -> None:
    from costmodel.sweep.evaluate import column_value

    for value in ([3, 4, 6, 3], [0.5, 1e-7, 2.0, 1e22, -0.0], [], [1, 2.5], [True, 1], [math.nan, 1.0], [math.inf],
                  [[1, 2], [3]], (1, 2), {"a": 1}, ["x"], [2**70, 1.5]):
        assert column_value(value) == json.dumps(value)
    assert column_value(3) == 3 and column_value(0.5) == 0.5


def test_amp_needs_a_half_type(tmp_path: Path) -> None:
    path = tmp_path / "amp.yaml"
    path.write_text((SPACES / "resnet_like.yaml").read_text().replace("\nvariables:", "\nprecision: amp\nvariables:"))
    with pytest.raises(SpaceError, match="precision amp needs dtype fp16 or bf16"):
        load_space(path)


# -- sampling -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", [Sampler.RANDOM, Sampler.SOBOL])
def test_candidates_do_not_depend_on_chunking(method: Sampler) -> None:
    space = load_space(SPACES / "ofa_mbv3.yaml")
    whole = draw(space, method, 3, 0, 2100)
    assert draw(space, method, 3, 0, 700) + draw(space, method, 3, 700, 2100) == whole
    assert draw(space, method, 3, 1000, 1030) == whole[1000:1030]
    assert draw(space, method, 4, 0, 50) != whole[:50]
    depths = {d for row in whole for d in row["depth"]}
    assert depths == {2, 3, 4}


AFFINE = ("name: a\nbase: resnet50\nvariables:\n  d: {int: [1, 8], size: 4}\n  w: {log_uniform: [0.5, 2.0], size: 4}\n"
          "derived:\n  depths: d\n  widths: '[make_divisible(w[s] * 64 * 2**s, 8) for s in range(4)]'\n")


@pytest.mark.parametrize("method", [Sampler.RANDOM, Sampler.SOBOL])
@pytest.mark.parametrize("parts", [2, 3])
def test_affinity_parts_split_a_chunk_by_the_value_of_one_coordinate(method: Sampler, parts: int,
                                                                     tmp_path: Path) -> None:
    from costmodel.sweep.sample import draw_part

    path = tmp_path / "affine.yaml"
    path.write_text(AFFINE + "affinity: d[2]\n")
    space = load_space(path)
    whole = draw(space, method, 7, 100, 1300)
    got = [draw_part(space, method, 7, 100, 1300, part, parts) for part in range(parts)]
    merged = sorted((index, values) for part in got for index, values in part)  # every candidate once, as drawn
    assert [index for index, _ in merged] == list(range(100, 1300))
    assert [values for _, values in merged] == whole
    for part, drawn in enumerate(got):  # stage 3's depth 1..8 cut at its values' boundaries: (d - 1) * parts // 8
        mine = {d for d in range(1, 9) if (d - 1) * parts // 8 == part}
        assert {values["d"][2] for _, values in drawn} == mine
        assert abs(len(drawn) - 1200 * len(mine) / 8) < 0.2 * 1200 * len(mine) / 8  # its values' share
    # a continuous coordinate: its range cut at equal probability; stage 3's widths of two parts meet at one value
    # at most (the one that rounds from both sides of the cut)
    path.write_text(AFFINE + "affinity: w[2]\n")
    space = load_space(path)
    evaluator = Evaluator(space, [])
    widths = [{evaluator.derive(values)["widths"][2] for _, values in draw_part(space, method, 7, 0, 3000, part, parts)}
              for part in range(parts)]
    for a in range(parts):
        for b in range(a + 1, parts):
            assert len(widths[a] & widths[b]) <= 1
    assert sum(len(w) for w in widths) >= 40  # 128..512 in steps of 8


def spy_on_handout(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The parts per chunk each sweep's :class:`~costmodel.sweep.engine.Handout` was made with, as the sweeps run."""
    from costmodel.sweep import engine

    called: list[int] = []
    real = engine.Handout

    def spy(task: SweepTask, chunks: list[int], parts: int, workers: int | None = None) -> object:
        called.append(parts)
        return real(task, chunks, parts, workers)

    monkeypatch.setattr(engine, "Handout", spy)
    return called


GRID_SPACE = ("name: g\nbase: resnet50\nvariables:\n  d: {int: [1, 3], size: 2}\n"
              "  w: {log_uniform: [32, 128], levels: 3}\n"
              "derived:\n  depths: '[d[0], d[1], 2, 2]'\n  widths: '[64, 128, 256, round(w)]'\n")  # 3 x 3 x 3 grid


def test_affinity_parts_of_a_grid(tmp_path: Path) -> None:
    from costmodel.sweep.sample import draw_part

    path = tmp_path / "grid.yaml"
    path.write_text(GRID_SPACE + "affinity: d[1]\n")
    space = load_space(path)
    whole = draw(space, Sampler.GRID, 0, 0, 27)
    got = [draw_part(space, Sampler.GRID, 0, 0, 27, part, 2) for part in range(2)]
    assert sorted(got[0] + got[1], key=lambda pair: pair[0]) == list(enumerate(whole))
    assert {values["d"][1] for _, values in got[0]} == {1, 2} and {values["d"][1] for _, values in got[1]} == {3}


def test_grid_enumerates_every_combination(tmp_path: Path) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text(GRID_SPACE)
    space = load_space(path)
    rows = draw(space, Sampler.GRID, 0, 0, 27)
    assert len({json.dumps(r, sort_keys=True) for r in rows}) == 27
    assert sorted({r["w"] for r in rows}) == pytest.approx([32.0, 64.0, 128.0])
    assert rows[0] == {"d": [1, 1], "w": pytest.approx(32.0)}


# -- end to end ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "budget"), [("regnet", 4.1e9), ("ofa_mbv3", 600e6)])
def test_shipped_spaces_run_end_to_end(name: str, budget: float, tmp_path: Path) -> None:
    out = tmp_path / f"{name}.parquet"
    code, text = _cli("sweep", str(SPACES / f"{name}.yaml"), "--samples", "40", "--seed", "1", "--hw", "a100",
                      "--hw", "rtx4090", "-o", str(out), "--workers", "1")
    assert code == 0, text
    frame = read_results(out)
    assert 0 < len(frame) <= 40
    assert frame["index"].is_unique and frame["index"].is_monotonic_increasing
    assert (frame["macs"] <= budget).all()
    for column in ("params", "flops", "activations", "peak_memory", "entropy", "effectiveness",
                   "latency.a100", "throughput.a100", "latency.rtx4090", "throughput.rtx4090"):
        assert frame[column].notna().all() and (frame[column] > 0).all(), column
    assert (frame["flops"] > frame["macs"]).all()
    assert frame["throughput.a100"].to_numpy() == pytest.approx(1 / frame["latency.a100"].to_numpy())
    assert not (tmp_path / f"{name}.parquet.partial").exists()
    csv_out = tmp_path / f"{name}.csv"
    code, _ = _cli("sweep", str(SPACES / f"{name}.yaml"), "--samples", "40", "--seed", "1", "--hw", "a100",
                   "--hw", "rtx4090", "-o", str(csv_out), "--workers", "1")
    assert code == 0
    import pandas as pd

    pd.testing.assert_frame_equal(pd.read_csv(csv_out), frame, check_dtype=False)


def _sweep(tmp_path: Path, name: str, **kwargs: object) -> Sweep:
    return Sweep(SPACES / "resnet_like.yaml", ["a100"], tmp_path / name, samples=40, seed=5, chunk_size=8,
                 **kwargs)  # type: ignore[arg-type]


def test_resume_gives_the_uninterrupted_file(tmp_path: Path) -> None:
    whole = _sweep(tmp_path, "whole.parquet")
    for _ in whole.results(workers=1):
        pass
    whole.finish()
    first = _sweep(tmp_path, "resumed.parquet")
    results = first.results(workers=1)
    next(results), next(results)  # two chunks written, then the run dies
    results.close()
    with pytest.raises(Exception, match="--resume"):
        _sweep(tmp_path, "resumed.parquet")
    with pytest.raises(Exception, match="different seed"):
        Sweep(SPACES / "resnet_like.yaml", ["a100"], tmp_path / "resumed.parquet", samples=40, seed=6, chunk_size=8,
              resume=True)
    # as the CLI resumes: no chunk size given, the partial run's (8, not today's default) is taken
    again = Sweep(SPACES / "resnet_like.yaml", ["a100"], tmp_path / "resumed.parquet", samples=40, seed=5, resume=True)
    assert again.task.chunk_size == 8 and len(again.todo) == 3
    for _ in again.results(workers=1):
        pass
    again.finish()
    assert (tmp_path / "resumed.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()


def test_default_chunk_size_gives_small_sweeps_64_chunks() -> None:
    from costmodel.sweep.runner import MIN_CHUNK, default_chunk_size

    assert [default_chunk_size(n) for n in (1, 40, 8191, 8192, 16384, 65535, 65536, 10**6)] == \
        [128, 128, 128, 128, 256, 512, 1024, 1024]
    for count in range(1, 200_000, 997):
        size = default_chunk_size(count)
        assert size in (128, 256, 512, 1024)
        assert -(-count // size) >= 64 or size == MIN_CHUNK  # enough chunks to balance, unless at the floor
        assert size == 1024 or count < 64 * 2 * size  # the largest size that gives 64


def test_local_workers_give_the_same_file(tmp_path: Path) -> None:
    files = []
    for workers in (1, 2):
        run = _sweep(tmp_path, f"w{workers}.parquet")
        for _ in run.results(workers=workers):
            pass
        run.finish()
        files.append((tmp_path / f"w{workers}.parquet").read_bytes())
    assert files[0] == files[1]


def test_local_workers_handed_parts_by_affinity_give_the_same_file(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # resnet_like.yaml names an affinity: 2 local workers each get their part of every chunk (a pool each); 3
    # workers of chunks cut in 2 parts (no fewer than MIN_PART candidates each) share them
    from costmodel.sweep import engine

    assert load_space(SPACES / "resnet_like.yaml").affinity is not None
    monkeypatch.setattr(engine, "MIN_PART", 4)  # chunks of 8 candidates: up to 2 parts
    called = spy_on_handout(monkeypatch)
    files = []
    for workers in (1, 2, 3):
        run = _sweep(tmp_path, f"w{workers}.parquet")
        for _ in run.results(workers=workers):
            pass
        run.finish()
        files.append((tmp_path / f"w{workers}.parquet").read_bytes())
    assert called == [2, 2]
    assert files[0] == files[1] == files[2]


def test_a_chunks_parts_combine_into_the_chunk_one_worker_makes(tmp_path: Path) -> None:
    from costmodel.sweep.output import ChunkFile, combine_parts

    run = _sweep(tmp_path, "parts.parquet")
    task = run.task
    split_chunks = 0
    for chunk in range(task.chunks):
        whole = run_chunk(task, chunk)
        parts = [run_chunk(task, chunk, part, 2) for part in (1, 0)]  # back in any order
        assert parts[0].drawn + parts[1].drawn == whole.drawn
        split_chunks += 0 < parts[0].drawn < whole.drawn
        combined = combine_parts(parts, run.store.schema)
        assert combined.data == whole.data  # the same bytes: rows in index order, encoded as one worker does
        assert combined.counts() == whole.counts()
    assert split_chunks >= 3  # most chunks had candidates in both parts
    # the first invalid candidate is the lowest-numbered one, whichever part found it; counts add up
    late = ChunkFile(3, 4, 0, parts[0].data, {"macs <= 8e9": 1}, 2, "candidate 9: late", 0.5,
                     first_invalid_index=9)
    early = ChunkFile(3, 5, 0, parts[1].data, {"macs <= 8e9": 2, "x": 1}, 1, "candidate 7: early", 0.25,
                      first_invalid_index=7)
    merged = combine_parts([late, early], run.store.schema)
    assert (merged.drawn, merged.invalid, merged.first_invalid, merged.cpu_s) == (9, 3, "candidate 7: early", 0.75)
    assert merged.rejected == {"macs <= 8e9": 3, "x": 1}


def test_chunks_are_cut_in_a_part_per_worker_of_64_candidates_at_least(tmp_path: Path) -> None:
    from dataclasses import replace

    from costmodel.sweep.engine import parts_for

    task = _sweep(tmp_path, "parts.parquet").task
    assert [parts_for(replace(task, chunk_size=1024), w) for w in (1, 2, 8, 16, 64)] == [1, 2, 8, 16, 16]
    assert [parts_for(replace(task, chunk_size=128), w) for w in (1, 2, 3)] == [1, 2, 2]
    assert parts_for(replace(task, chunk_size=64), 2) == 1
    plain = replace(task, space=load_space(SPACES / "ofa_mbv3.yaml"), chunk_size=1024)  # no affinity: whole chunks
    assert plain.space.affinity is None and parts_for(plain, 8) == 1


def test_the_handout_gives_each_worker_its_part_then_the_others_last_chunks(tmp_path: Path) -> None:
    from costmodel.sweep.engine import Handout

    handout = Handout(_sweep(tmp_path, "handout.parquet").task, [0, 1, 2, 3], 2)
    got = [handout.next(0) for _ in range(6)]
    # its own in order (one chunk a task: so few left), then the other's from the end
    assert got == [([0], 0), ([1], 0), ([2], 0), ([3], 0), ([3], 1), ([2], 1)]
    assert handout.next(1) == ([0], 1) and handout.next(1) == ([1], 1) and handout.next(1) is None
    assert handout.next(0) is None


@pytest.mark.parametrize(("chunks", "sharers", "most"), [(125, 1, 16), (125, 2, 8), (64, 1, 1), (7, 1, 16),
                                                         (1000, 3, 4)])
def test_tasks_take_a_share_of_what_is_left_and_end_with_single_chunks(chunks: int, sharers: int, most: int) -> None:
    from costmodel.sweep.engine import IN_FLIGHT, batches

    got = batches(list(range(chunks)), sharers, most)
    assert [c for batch in got for c in batch] == list(range(chunks))  # every chunk once, in order
    sizes = [len(batch) for batch in got]
    assert all(1 <= size <= most for size in sizes) and sizes == sorted(sizes, reverse=True)
    left = chunks
    for size in sizes:  # each a share of what is left: never more than 1 / (2 x in flight x sharers) of it
        assert size == 1 or size <= left / (2 * IN_FLIGHT * sharers)
        left -= size
    assert sizes[-min(chunks, 2 * IN_FLIGHT * sharers):] == [1] * min(chunks, 2 * IN_FLIGHT * sharers)
    if most > 1 and chunks >= 100:
        assert len(got) < chunks / 2  # fewer, larger tasks


def test_a_handout_of_many_chunks_gives_tasks_of_many_parts(tmp_path: Path) -> None:
    from costmodel.sweep.engine import TASK_CANDIDATES, Handout

    task = _sweep(tmp_path, "handout.parquet").task  # chunks of 8: 2 parts of ~4 candidates
    handout = Handout(task, list(range(2000)), 2, 2)
    first, part = handout.next(1) or ([], -1)
    assert part == 1 and first == list(range(len(first)))
    assert len(first) == TASK_CANDIDATES * 2 // 8  # a task of ~TASK_CANDIDATES candidates
    seen = [(chunk, 1) for chunk in first]
    while (work := handout.next(1)) is not None:
        assert len(work[0]) == 1 or work[1] == 1  # the other part's chunks one at a time, from the end
        seen += [(chunk, work[1]) for chunk in work[0]]
    assert sorted(seen) == [(c, p) for c in range(2000) for p in (0, 1)]  # every part of every chunk, once


def die_once(task: object, chunk: int, part: int, parts: int) -> object:
    """A chunk function whose worker process dies the first time it runs chunk 2 (marker file in COSTMODEL_TEST_DIE)."""
    marker = Path(os.environ["COSTMODEL_TEST_DIE"])
    if chunk == 2 and not marker.exists():
        marker.write_text("died")
        os._exit(1)
    return run_chunk(task, chunk, part, parts)  # type: ignore[arg-type]


def test_dask_local_cluster_matches_local_engine_and_survives_a_killed_worker(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("distributed")
    local = _sweep(tmp_path, "local.parquet")
    for _ in local.results(workers=1):
        pass
    local.finish()
    marker = tmp_path / "died"
    monkeypatch.setenv("COSTMODEL_TEST_DIE", str(marker))
    from costmodel.sweep import engine

    monkeypatch.setattr(engine, "MIN_PART", 4)  # chunks of 8 candidates cut in 2 parts, one per worker (affinity)
    called = spy_on_handout(monkeypatch)
    run = _sweep(tmp_path, "dask.parquet")
    seen = [result.chunk for result in run.results(Engine.DASK, workers=2, fn=die_once)]
    assert called == [2]
    run.finish()
    assert marker.exists()  # a worker did die mid-run
    assert sorted(seen) == list(range(5))  # every chunk once
    assert (tmp_path / "dask.parquet").read_bytes() == (tmp_path / "local.parquet").read_bytes()
    frame = read_results(tmp_path / "dask.parquet")
    assert frame["index"].is_unique


def test_dask_with_more_workers_than_parts_gives_the_local_file(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("distributed")
    from costmodel.sweep import engine

    monkeypatch.setattr(engine, "MIN_PART", 4)  # chunks of 8 candidates: 2 parts, shared by 3 workers
    local = _sweep(tmp_path, "local.parquet")
    for _ in local.results(workers=1):
        pass
    local.finish()
    called = spy_on_handout(monkeypatch)
    run = _sweep(tmp_path, "dask.parquet")
    for _ in run.results(Engine.DASK, workers=3):
        pass
    run.finish()
    assert called == [2]
    assert (tmp_path / "dask.parquet").read_bytes() == (tmp_path / "local.parquet").read_bytes()


def test_a_worker_sends_its_chunk_as_an_arrow_stream_of_the_analyzers_rows(tmp_path: Path) -> None:
    import pyarrow as pa

    run = _sweep(tmp_path, "one.parquet")
    task = run.task
    done = run_chunk(task, 1)  # candidates 8..15, through the fast path, encoded as the worker sends them
    reference = Evaluator(task.space, task.devices).chunk(1, 8, draw(task.space, task.sampler, task.seed, 8, 16))
    assert (done.chunk, done.drawn, done.rows) == (1, 8, len(reference.rows)) and done.cpu_s > 0
    assert (done.rejected, done.invalid) == (reference.rejected, reference.invalid)
    assert [span[0] for span in done.spans] == [os.getpid()] and done.spans[0][1] <= done.spans[0][2]
    table = pa.ipc.open_stream(done.data).read_all()
    assert table.schema.equals(run.store.schema) and table.num_rows == len(reference.rows)
    for got, want in zip(table.to_pylist(), reference.rows, strict=True):
        assert set(got) == set(want)
        for name, value in want.items():
            if isinstance(got[name], str):  # lists and derived values: JSON text
                assert json.loads(got[name]) == (json.loads(value) if isinstance(value, str) else value), name
            else:
                assert got[name] == value, name


def test_the_output_is_the_parquet_file_of_the_analyzers_rows_a_row_group_per_chunk(tmp_path: Path) -> None:
    # the chunks travel and wait as Arrow IPC streams and the merge encodes the output once: the file must be the
    # one pyarrow writes from the full analyzer's rows directly (from Python lists, one row group per chunk)
    import pyarrow as pa
    import pyarrow.parquet as pq

    run = _sweep(tmp_path, "two.parquet")
    for _ in run.results(workers=2):
        pass
    run.finish()
    task = run.task
    reference = Evaluator(task.space, task.devices)
    with pq.ParquetWriter(tmp_path / "direct.parquet", run.store.schema) as writer:
        for chunk in range(task.chunks):
            start = chunk * task.chunk_size
            rows = reference.chunk(chunk, start, draw(task.space, task.sampler, task.seed, start,
                                                      start + task.chunk_size)).rows
            writer.write_table(pa.Table.from_pylist(rows, schema=run.store.schema))
    assert (tmp_path / "two.parquet").read_bytes() == (tmp_path / "direct.parquet").read_bytes()


def test_merge_refuses_a_chunk_with_other_columns_or_not_arrow(tmp_path: Path) -> None:
    import pyarrow as pa

    run = _sweep(tmp_path, "odd.parquet")
    for _ in run.results(workers=1):
        pass
    chunk = run.store.folder / "chunk-0000002.arrow"
    good = chunk.read_bytes()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, pa.schema([("index", pa.int64())])) as stream:
        stream.write_table(pa.table({"index": [0]}))
    chunk.write_bytes(sink.getvalue().to_pybytes())
    with pytest.raises(SpaceError, match="chunk 2 does not hold this run's columns"):
        run.finish()
    chunk.write_bytes(good[: len(good) // 2])  # cut short, as by a full disk
    with pytest.raises(SpaceError, match="chunk 2 cannot be read"):
        run.finish()
    assert not (tmp_path / "odd.parquet").exists()


def test_resume_refuses_chunks_an_older_version_wrote(tmp_path: Path) -> None:
    first = _sweep(tmp_path, "old.parquet")
    results = first.results(workers=1)
    next(results)
    results.close()
    manifest = first.store.folder / "run.json"
    older = json.loads(manifest.read_text())
    del older["chunk_format"]  # the Parquet chunks of costmodel before 3 December 2026
    manifest.write_text(json.dumps(older))
    with pytest.raises(SpaceError, match="older costmodel"):
        _sweep(tmp_path, "old.parquet", resume=True)


def _dask_setting(key: str) -> object:
    import dask

    return dask.config.get(key)


def test_the_local_cluster_slows_dask_housekeeping_in_its_workers() -> None:
    pytest.importorskip("distributed")
    from distributed import Client

    from costmodel.sweep.engine import DASK_QUIET, local_cluster

    with local_cluster(1) as cluster, Client(cluster) as client:
        for key, value in DASK_QUIET.items():
            assert list(client.run(_dask_setting, key).values()) == [value], key


# -- errors: one line, exit 2, nothing written ----------------------------------------------------------------------

@pytest.mark.parametrize(("body", "message"), [
    ("name: x\nbase: resnet50\nvariables: {d: {int: [1, 4]}}\nderived: {depths: '[d, d, dd, d]'}\n",
     "unknown variable 'dd'"),
    ("name: x\nbase: resnet50\nvariables: {widht: {int: [1, 4]}}\n", "unknown variable 'widht'"),
    ("name: x\nbase: resnet50\nvariables: {depths: {int: [1, 4], size: 4}}\nconstraints: ['makcs < 1']\n",
     "unknown variable or metric 'makcs'"),
    ("name: x\nbase: resnet50\nvariables: {depths: {int: [1, 4], size: 4}}\nconstraints: ['latency.h100 < 1']\n",
     "needs --hw h100"),
    ("name: x\nbase: resnet50\nvariables: {depths: {int: [4, 1], size: 4}}\n", "low end exceeds"),
    ("name: x\nbase: nosuchnet\nvariables: {depths: {int: [1, 4], size: 4}}\n", "neither a file"),
    ("name: x\nbase: resnet50\nvariables: {depths: {int: [1, 4], size: 4}}\nconstraints: ['macs <= 1e6']\n",
     "no feasible candidate among 20"),
    ("name: x\nbase: resnet50\nvariables: {depths: {int: [1, 4], size: 4}\n", "malformed YAML"),
    # found by the fuzzer (tests/fuzzing.py fuzz_spaces); each was a traceback, a hang or a silent default before:
    # an int range of more values than a list holds (OverflowError), ends beyond int64 (the results' columns)
    ("name: x\nbase: resnet50\nvariables: {d: {int: [1, 1000000000000000000000000000000]}}\n"
     "derived: {depths: '[d, 1, 1, 1]'}\n", "integer size (bits) 100 exceeds the limit of 63"),
    ("name: x\nbase: resnet50\nvariables: {w: {uniform: [.nan, 1.0]}}\nderived: {depths: '[1, 1, 1, 1]'}\n"
     "constraints: ['w > 0']\n", "the ends must be finite numbers"),
    ("name: x\nbase: resnet50\nvariables: {w: {choices: [1.0, .inf]}}\nconstraints: ['w > 0']\n",
     "choices must be finite"),
    # a million coordinates per candidate (1,024 candidates of them drawn at once: 8 GB)
    ("name: x\nbase: resnet50\nvariables: {depths: {int: [1, 4], size: [1000, 1000]}}\n",
     "sampled coordinates of a design-space variable 1,000,000 exceeds the limit of 10,000"),
    # a dtype no analysis knows (ValueError deep in the evaluator), an alias bomb and a duplicated key (the space
    # file was read by yaml.load, not the bounded reader every other YAML file goes through)
    ("name: x\nbase: resnet50\ndtype: fp7\nvariables: {depths: {int: [1, 4], size: 4}}\n", "dtype"),
    # an affinity that names no sampled coordinate
    ("name: x\nbase: resnet50\nvariables: {depths: {int: [1, 4], size: 4}}\naffinity: widths[2]\n",
     "field 'affinity': affinity 'widths[2]': not a sampled variable or one element of one (depths)"),
    ("name: x\nbase: resnet50\nvariables: {depths: {int: [1, 4], size: 4}}\naffinity: depths[4]\n",
     "affinity 'depths[4]': 'depths' has shape [4]: name it[0..3]"),
    ("name: x\nbase: resnet50\nvariables: {depths: {int: [1, 4], size: 4}}\naffinity: depths\n",
     "affinity 'depths': 'depths' has shape [4]: name it[0..3]"),
    ("name: x\nbase: resnet50\nvariables: {depths: {int: [1, 4], size: 4}}\naffinity: depths[1] + 1\n",
     "not a sampled variable"),
    ("name: x\nbase: resnet50\nvariables: {depths: {int: [1, 4], size: 4}}\nvariables: {d: {int: [1, 2]}}\n",
     "duplicated key 'variables'"),
    ("name: x\nbase: resnet50\nvariables: {depths: {int: [1, 4], size: 4}}\nderived:\n  h0: &a [x, x, x, x, x, x, x]\n"
     + "".join(f"  h{k}: &{a} [{', '.join([f'*{b}'] * 9)}]\n"
               for k, (a, b) in enumerate(zip("bcdefgh", "abcdefg", strict=True), 1)), "exceeds the limit"),
])
def test_space_errors_are_one_line(body: str, message: str, tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(body)
    out = tmp_path / "out.parquet"
    code, text = _cli("sweep", str(space), "--samples", "20", "--hw", "a100", "-o", str(out), "--workers", "1")
    assert code == 2
    assert text.startswith("error: ") and message in text and text.count("\n") == 1, text
    assert not out.exists() and not (tmp_path / "out.parquet.partial").exists()


def test_a_device_without_the_spaces_dtype_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    # the worker's check found it after the run's folder of chunks was made: exit 2, but OUT.partial left behind and
    # the error naming only the profile (found by tests/fuzzing.py fuzz_spaces)
    space = tmp_path / "space.yaml"
    space.write_text("name: x\nbase: resnet50\ndtype: fp16\nvariables: {depths: {int: [1, 4], size: 4}}\n")
    out = tmp_path / "out.csv"
    code, text = _cli("sweep", str(space), "-o", str(out), "--samples", "2", "--workers", "1", "--hw", "a100",
                      "--hw", "epyc_zen3_vm_b")
    assert code == 2 and text.count("\n") == 1, text
    assert text.startswith(f"error: {space}: field 'dtype': dtype fp16 (the space's, else its base spec's): --hw "
                           "epyc_zen3_vm_b: "), text
    assert "has no fp16 peak" in text
    assert not out.exists() and not (tmp_path / "out.csv.partial").exists()


def test_an_output_that_cannot_be_written_is_one_error_line(tmp_path: Path) -> None:
    # -o under a file (or in /proc): making OUT.partial raised an OSError, an internal error (exit 1)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = blocker / "out.csv"
    code, text = _cli("sweep", str(SPACES / "resnet_like.yaml"), "-o", str(out), "--samples", "2", "--workers", "1")
    assert code == 2 and text.count("\n") == 1, text
    assert text.startswith(f"error: cannot write {out}: "), text
    assert blocker.read_text() == "not a folder"


def test_an_output_that_is_a_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    # -o naming a folder ran the whole sweep, then the merge's rename onto the folder was an internal error (exit 1)
    # that left OUT.partial behind
    out = tmp_path / "out.csv"
    out.mkdir()
    code, text = _cli("sweep", str(SPACES / "resnet_like.yaml"), "-o", str(out), "--samples", "2", "--workers", "1")
    assert (code, text) == (2, f"error: cannot write {out}: it is a folder\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_an_output_that_is_a_symbolic_link_stays_one(tmp_path: Path) -> None:
    # as write_output's (costmodel analyze -o): the file the link names gets the results; the link was replaced by a
    # regular file, the file it named left stale
    real = tmp_path / "real.csv"
    real.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    code, text = _cli("sweep", str(SPACES / "resnet_like.yaml"), "-o", str(link), "--samples", "2", "--workers", "1")
    assert code == 0, text
    assert link.is_symlink() and real.read_text().startswith("index,")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.csv", "real.csv"]


def test_an_output_that_is_a_fifo_is_written_into_not_replaced(tmp_path: Path) -> None:
    import stat
    import threading

    fifo = tmp_path / "out.csv"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    code, text = _cli("sweep", str(SPACES / "resnet_like.yaml"), "-o", str(fifo), "--samples", "2", "--workers", "1")
    assert stat.S_ISFIFO(fifo.lstat().st_mode), "the FIFO was replaced"  # then the reader waits for ever (a daemon)
    reader.join(30)
    assert code == 0, text
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and got[0].startswith(b"index,")


def test_a_sweep_of_too_many_candidates_is_refused_before_it_plans(tmp_path: Path) -> None:
    # --samples 10^15 planned 10^12 chunks before the first ran (a hang, then out of memory); the whole grid of a
    # space is bounded the same way
    space = tmp_path / "space.yaml"
    space.write_text("name: x\nbase: resnet50\nvariables: {depths: {int: [1, 1000], size: 4}}\n")
    out = tmp_path / "out.csv"
    for extra in (["--samples", str(10**15)], ["--sampler", "grid"]):
        code, text = _cli("sweep", str(space), "-o", str(out), "--workers", "1", *extra)
        assert code == 2 and text.count("\n") == 1, text
        assert text.startswith(f"error: {space}: ") and "candidates of one sweep" in text, text
        assert not out.exists() and not (tmp_path / "out.csv.partial").exists()


@pytest.mark.parametrize("sampler", ["random", "grid"])
def test_huge_ranges_are_drawn_without_listing_them(sampler: str, tmp_path: Path) -> None:
    # an int range of 10^18 values and a float range of 10^12 grid levels: their values are computed, not listed
    # (the range was a Python list: 10^8 values took gigabytes, 10^18 an OverflowError)
    from costmodel.sweep.sample import draw

    space_file = tmp_path / "space.yaml"
    space_file.write_text("name: x\nbase: resnet50\nvariables:\n  seed: {int: [0, 1000000000000000000], step: 3}\n"
                          "  w: {uniform: [0.5, 2.0], levels: 1000000000000}\n"
                          "derived: {depths: '[1, 1, 1, 1]'}\nconstraints: ['seed >= 0', 'w > 0']\n")
    space = load_space(space_file)
    rows = draw(space, Sampler(sampler), 1, 0, 3)
    assert len(rows) == 3
    for row in rows:
        assert row["seed"] % 3 == 0 and 0 <= row["seed"] <= 10**18 and 0.5 <= row["w"] <= 2.0
    if sampler == "grid":  # the last coordinate varies fastest: w's levels 0, 1, 2 at seed 0
        assert [row["seed"] for row in rows] == [0, 0, 0]
        assert [row["w"] for row in rows] == pytest.approx([0.5, 0.5 + 1.5e-12, 0.5 + 3e-12], rel=1e-15)


# -- pictures -------------------------------------------------------------------------------------------------------

def test_pareto_mask_matches_brute_force() -> None:
    import numpy as np

    from costmodel.plots import pareto_mask

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 30, 400).astype(float), rng.integers(0, 30, 400).astype(float)
    dominated = [any((x[j] <= x[i] and y[j] >= y[i]) and (x[j] < x[i] or y[j] > y[i]) for j in range(len(x)))
                 for i in range(len(x))]
    mask = pareto_mask(x, y)
    # ties (same x and y) keep one representative; every kept point is non-dominated and covers its duplicates
    assert not any(mask[i] and dominated[i] for i in range(len(x)))
    kept = {(x[i], y[i]) for i in range(len(x)) if mask[i]}
    assert kept == {(x[i], y[i]) for i in range(len(x)) if not dominated[i]}


def test_plot_sweep_writes_three_figures(tmp_path: Path) -> None:
    out = tmp_path / "ofa.parquet"
    code, text = _cli("sweep", str(SPACES / "ofa_mbv3.yaml"), "--samples", "60", "--hw", "a100", "--hw", "pixel4",
                      "-o", str(out), "--workers", "1")
    assert code == 0, text
    code, text = _cli("plot", "sweep", str(out), "--color-by", "depth", "--device", "pixel4")
    assert code == 0, text
    for kind in ("pareto", "edf", "latency_macs"):
        for suffix in (".png", ".svg"):
            assert (tmp_path / f"ofa_{kind}{suffix}").stat().st_size > 1000
    code, text = _cli("plot", "sweep", str(out), "--color-by", "nosuch")
    assert code == 2 and "not a variable" in text


RESULTS_HEADER = "index,depth,params,macs,entropy,latency.a100"
RESULTS_ROWS = ['0,"[3, 2]",5801200,298575552,18601.3,0.0029', '1,"[4, 3]",4984176,289226496,21696.4,0.0035']


@pytest.mark.parametrize(("header", "rows", "options", "message"), [
    # each was an internal error (exit 1) before; found by tests/fuzzing.py fuzz_plot_sweep
    ("index,depth,macs,entropy,latency.a100", ['0,"[3, 2]",298575552,18601.3,0.0029'], [],
     "no params column: not the results of costmodel sweep"),  # ValueError: 'params' is not in list
    (RESULTS_HEADER, [RESULTS_ROWS[0], '1,"[4, 3]",x,289226496,21696.4,0.0035'], [],
     "column 'params', row 2: expected a number, got 'x'"),  # could not convert string to float: 'x'
    (RESULTS_HEADER, RESULTS_ROWS, ["--metric", "depth"],
     "column 'depth', row 1: expected a number, got '[3, 2]'"),  # a per-stage variable as the Pareto metric
    (RESULTS_HEADER, ['0,"[3, [2]]",5801200,298575552,18601.3,0.0029'], [],
     "cannot colour by values such as '[3, [2]]': not a number or a list of numbers"),  # a ragged list
    # was an error line that did not name the file
    (RESULTS_HEADER, ['0,"[3, 2]",5801200,298575552,,0.0029'], [], "no finite entropy and latency.a100 values"),
    # one candidate coloured 1e308: matplotlib could not tick the colour bar (ValueError, exit 1) after two of the
    # three figures were written (fuzz campaign, seed 5158 case 108)
    (RESULTS_HEADER, ["0,1e308,5801200,298575552,18601.3,0.0029"], [],
     "cannot lay out the latency_macs figure of these values"),
])
def test_spoiled_sweep_results_are_one_error_line_naming_the_file(header: str, rows: list[str], options: list[str],
                                                                  message: str, tmp_path: Path) -> None:
    results = tmp_path / "results.csv"
    results.write_text("\n".join([header, *rows]) + "\n")
    code, text = _cli("plot", "sweep", str(results), "-o", str(tmp_path / "fig"), *options)
    assert code == 2 and text.count("\n") == 1, text
    assert text.startswith(f"error: {results}") and message in text, text
    assert not list(tmp_path.glob("fig*"))  # no figure of the three written


def test_plot_sweep_writes_all_three_figures_or_none(tmp_path: Path) -> None:
    """The last figure's SVG cannot be written (a folder holds its name): the figures written before it are taken
    back, an old one restored byte for byte, a new one removed (each kind was written on its own before, so the
    Pareto and EDF files of this run stayed beside the old latency-vs-MACs figure)."""
    results = tmp_path / "results.csv"
    results.write_text("\n".join([RESULTS_HEADER, *RESULTS_ROWS]) + "\n")
    old = tmp_path / "fig_pareto.png"
    old.write_bytes(b"old pareto")
    (tmp_path / "fig_latency_macs.svg").mkdir()
    code, text = _cli("plot", "sweep", str(results), "-o", str(tmp_path / "fig"))
    assert code == 2 and text.count("\n") == 1 and "fig_latency_macs.svg" in text, text
    assert old.read_bytes() == b"old pareto"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig_latency_macs.svg", "fig_pareto.png", "results.csv"]


def test_plot_into_an_existing_folder_writes_inside_it(tmp_path: Path) -> None:
    """-o naming a folder (figs/) wrote figs_pareto.png ... beside it (and plot roofline -o figs wrote figs.png);
    now the figures go into it under their default names."""
    results = tmp_path / "results.csv"
    results.write_text("\n".join([RESULTS_HEADER, *RESULTS_ROWS]) + "\n")
    figs = tmp_path / "figs"
    figs.mkdir()
    code, text = _cli("plot", "sweep", str(results), "-o", str(figs))
    assert code == 0, text
    assert sorted(p.name for p in figs.iterdir()) == sorted(f"results_{kind}.{fmt}" for kind in
                                                            ("pareto", "edf", "latency_macs") for fmt in ("png", "svg"))
    code, text = _cli("plot", "roofline", "mobilenetv2_100", "--hw", "a100", "-o", str(figs))
    assert code == 0, text
    assert {"mobilenetv2_100_roofline_a100_80gb.png", "mobilenetv2_100_roofline_a100_80gb.svg"} <= \
        {p.name for p in figs.iterdir()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figs", "results.csv"]


def test_sweep_results_with_a_column_twice_are_one_error_line(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    results = tmp_path / "twice.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array([0]), *(pa.array([1.0]) for _ in range(5))],
                                        names=["index", "params", "macs", "entropy", "latency.a100", "params"]),
                   results)
    code, text = _cli("plot", "sweep", str(results), "-o", str(tmp_path / "fig"))
    assert code == 2 and text.count("\n") == 1 and text.startswith(f"error: {results}: "), text
    assert not list(tmp_path.glob("fig*"))


def test_plot_sweep_of_the_hand_written_results_draws(tmp_path: Path) -> None:
    """The rows the spoiled cases start from plot (the cases above fail on what was spoiled, not on the format)."""
    results = tmp_path / "results.csv"
    results.write_text("\n".join([RESULTS_HEADER, *RESULTS_ROWS]) + "\n")
    code, text = _cli("plot", "sweep", str(results), "-o", str(tmp_path / "fig"))
    assert code == 0, text
    assert len(list(tmp_path.glob("fig_*"))) == 6
