"""Plots (costmodel.plots) and `costmodel plot`: figures checked through matplotlib's objects, files on disk.

Expected figures are derived here from the LatencyResult rows or from the profile's numbers by hand, never
read back from the plotting code.
"""

from __future__ import annotations

import csv
import os
import re
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from matplotlib.patches import Rectangle
from typer.testing import CliRunner

from costmodel import fileio
from costmodel.api import load_graph
from costmodel.calibration.measurements import read_measurements
from costmodel.cli import app
from costmodel.cli.progress import track
from costmodel.hardware import HardwareProfile, load_profile
from costmodel.latency import batch_sweep, estimate
from costmodel.plots import (
    GapPoint,
    ParetoPoint,
    PlotError,
    breakdown_figure,
    efficiency_gap_figure,
    gap_point,
    pareto_figure,
    plot_title,
    roofline_figure,
    save_figure,
    stage_gap_figure,
    throughput_figure,
    waterline_figure,
)
from costmodel.plots.gap import ROW_GAP_PT, spread
from costmodel.plots.measured import measured_gap_points
from costmodel.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "arch_specs"
FIXTURE = ROOT / "tests" / "fixtures" / "timm_benchmark_zoo.csv"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
runner = CliRunner()

# A device with round numbers, so every roofline figure can be worked out by hand.
VECTOR_TF, MATRIX_TF, TF32_TF, INT8_TOPS = 10.0, 100.0, 50.0, 200.0
BW_GBS, COMPUTE_EFF, MEMORY_EFF = 1000.0, 0.8, 0.9
MATRIX_RIDGE = MATRIX_TF * 1e12 * COMPUTE_EFF / (BW_GBS * 1e9 * MEMORY_EFF)  # 88.9 FLOP/byte
VECTOR_RIDGE = VECTOR_TF * 1e12 * COMPUTE_EFF / (BW_GBS * 1e9 * MEMORY_EFF)  # 8.89 FLOP/byte

TINY = """\
name: tiny
dtype: fp16
inputs: {x: [16, 8, 8]}
nodes:
  - {name: a, op: conv2d, out: 16, kernel: 3, padding: 1}
  - {name: b, op: conv2d, out: 16, kernel: 1, inputs: x}
  - {name: cat, op: concat, inputs: [a, b], dim: 1}
  - {name: c, op: conv2d, out: 8, kernel: 1}
"""


@pytest.fixture(scope="module")
def device() -> HardwareProfile:
    return HardwareProfile.model_validate({
        "name": "Round Device", "kind": "gpu",
        "peak": {"vector": {"fp32": VECTOR_TF}, "matrix": {"fp16": MATRIX_TF, "tf32": TF32_TF, "int8": INT8_TOPS}},
        "memory": {"type": "HBM3", "bandwidth_gbs": BW_GBS, "capacity_gb": 16},
        "launch_overhead_us": 4.0,
        "efficiency": {"compute": COMPUTE_EFF, "memory": MEMORY_EFF},
        "sources": {"peak.vector.fp32": "t", "peak.matrix.fp16": "t", "peak.matrix.tf32": "t",
                    "peak.matrix.int8": "t", "memory.bandwidth_gbs": "t"},
    })


@pytest.fixture(scope="module")
def resnet(device):
    graph = load_graph(SPECS / "resnet18.yaml", batch=8)
    return {mode: estimate(graph, device, dtype="fp16", fusion=mode) for mode in ("none", "block")}


def drawable_ops(result) -> int:
    """Ops that launch a kernel and have positive FLOPs and DRAM traffic (the unfused roofline's points)."""
    return sum(1 for o in result.ops if o.kernel and o.flops > 0 and o.dram_read + o.dram_written > 0)


def by_gid(ax, prefix: str) -> list:
    return [a for a in ax.get_children() if (a.get_gid() or "").startswith(prefix)]


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]


# ------------------------------------------------------------------------------------------- basics


def test_plot_title_names_model_device_dtype_batch_and_fusion() -> None:
    assert plot_title("convnext_t", "NVIDIA A100 80GB", "fp16", 1, "none") == \
        "convnext_t on NVIDIA A100 80GB: fp16, batch 1, fusion none"
    assert plot_title("m", "D", "fp32", 64) == "m on D: fp32, batch 64"


def test_track_passes_items_through_and_is_silent_off_a_terminal(capsys) -> None:
    assert list(track([1, 2, 3], "x")) == [1, 2, 3]
    assert list(track((i for i in range(4)), "gen", total=4)) == [0, 1, 2, 3]
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_save_figure_writes_png_and_svg_atomically(tmp_path, resnet) -> None:
    fig = breakdown_figure({"a": resnet["none"]}, "t")
    paths = save_figure(fig, tmp_path / "deep" / "folder" / "fig.v1")
    assert [p.name for p in paths] == ["fig.v1.png", "fig.v1.svg"]
    assert paths[0].read_bytes()[:8] == PNG_SIGNATURE and paths[0].stat().st_size > 10_000
    assert ET.parse(paths[1]).getroot().tag.endswith("svg")
    assert sorted(p.name for p in paths[0].parent.iterdir()) == ["fig.v1.png", "fig.v1.svg"]  # no temp files


def test_save_figure_errors_name_the_path_and_leave_nothing(tmp_path, resnet) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PlotError, match=r"cannot write .*file/sub"):
        save_figure(breakdown_figure({"a": resnet["none"]}, "t"), blocker / "sub" / "fig")
    with pytest.raises(PlotError, match="unknown figure format"):
        save_figure(breakdown_figure({"a": resnet["none"]}, "t"), tmp_path / "fig", formats=("png", "docx"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_save_figure_that_fails_removes_the_folders_it_created(tmp_path, resnet, monkeypatch) -> None:
    """The second file's write fails (the disk is full): the first file's temporary file, and the folders made for
    the figure, are gone; the folder that was there stays."""
    import errno

    from costmodel.plots import common

    made: list[Path] = []

    def second_fails(target: Path) -> tuple[int, Path]:
        if made:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        made.append(target)
        return fileio.temp_beside(target)

    monkeypatch.setattr(common, "temp_beside", second_fails)
    with pytest.raises(PlotError, match=r"cannot write .*new/sub/fig\.svg: No space left on device"):
        save_figure(breakdown_figure({"a": resnet["none"]}, "t"), tmp_path / "new" / "sub" / "fig")
    assert made and list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    stem = tmp_path / "new" / ("x" * 245)  # fig.png's temporary file was 259 bytes long: now written
    assert [p.name for p in save_figure(breakdown_figure({"a": resnet["none"]}, "t"), stem)] == \
        [f"{stem.name}.png", f"{stem.name}.svg"]


def test_save_figures_in_two_new_folders_that_fail_leave_neither(tmp_path, resnet, monkeypatch) -> None:
    """Two figures in two new folders under a new one; the last file's write fails: no file and no folder is left
    (each folder's chain is removed, the shared one once both are empty); then all four files are written."""
    import errno

    from costmodel.plots import common, save_figures

    made: list[Path] = []

    def last_fails(target: Path) -> tuple[int, Path]:
        if len(made) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        made.append(target)
        return fileio.temp_beside(target)

    def figures() -> dict[Path, object]:
        return {tmp_path / "new" / name / "fig": breakdown_figure({"a": resnet["none"]}, "t") for name in ("x", "y")}

    monkeypatch.setattr(common, "temp_beside", last_fails)
    with pytest.raises(PlotError, match=r"cannot write .*new/y/fig\.svg: No space left on device"):
        save_figures(figures())
    assert len(made) == 3 and list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    paths = save_figures(figures())
    assert [str(p.relative_to(tmp_path)) for p in paths] == ["new/x/fig.png", "new/x/fig.svg", "new/y/fig.png",
                                                             "new/y/fig.svg"]
    assert all(p.stat().st_size > 1000 for p in paths)


@pytest.mark.parametrize("links", [True, False], ids=["hard-links", "no-hard-links"])
def test_save_figure_whose_svg_cannot_be_moved_leaves_no_png_changed(tmp_path, resnet, monkeypatch, links) -> None:
    """fig.svg is a folder, so moving the new SVG onto it fails after the new PNG was moved into place: the PNG is
    put back as it was (removed where there was none, the old one where the user asked to overwrite it), nothing
    else is left behind; also where the file system has no hard links (the old PNG is kept aside as a copy)."""
    import errno

    tried: list[object] = []
    if not links:
        def no_links(*args: object, **kwargs: object) -> None:
            tried.append(args)
            raise OSError(errno.EPERM, os.strerror(errno.EPERM))
        monkeypatch.setattr(os, "link", no_links)
    (tmp_path / "fig.svg").mkdir()
    (tmp_path / "fig.svg" / "keep").write_text("x")
    with pytest.raises(PlotError, match=r"cannot write .*/fig\.svg: "):
        save_figure(breakdown_figure({"a": resnet["none"]}, "t"), tmp_path / "fig")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.svg"]  # no new PNG, no temporary file
    png = tmp_path / "fig.png"
    png.write_bytes(b"the old png")
    png.chmod(0o600)
    with pytest.raises(PlotError, match=r"cannot write .*/fig\.svg: "):
        save_figure(breakdown_figure({"a": resnet["none"]}, "t"), tmp_path / "fig")
    assert png.read_bytes() == b"the old png" and stat.S_IMODE(png.stat().st_mode) == 0o600
    assert bool(tried) != links  # without hard links, the old PNG was kept aside as a copy
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "fig.svg"]
    (tmp_path / "fig.svg" / "keep").unlink()
    (tmp_path / "fig.svg").rmdir()  # now both can be written: both are
    paths = save_figure(breakdown_figure({"a": resnet["none"]}, "t"), tmp_path / "fig")
    assert paths[0].read_bytes()[:8] == PNG_SIGNATURE and ET.parse(paths[1]).getroot().tag.endswith("svg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "fig.svg"]


def test_replace_all_puts_back_every_file_it_replaced_when_a_later_move_fails(tmp_path) -> None:
    """Three moves, the third onto a folder: the first target (it existed) gets its old file back, the second
    (new) is removed, the third is untouched; the temporaries not moved stay for the caller to remove."""
    old, new, blocked = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"
    old.write_text("old a")
    blocked.mkdir()
    temps = [tmp_path / f"tmp{i}" for i in range(3)]
    for i, tmp in enumerate(temps):
        tmp.write_text(f"new {i}")
    with pytest.raises(OSError) as caught:
        fileio.replace_all(list(zip(temps, [old, new, blocked], strict=True)))
    assert caught.value.filename == str(blocked)
    assert old.read_text() == "old a" and not new.exists() and blocked.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "c.txt", "tmp2"]
    fileio.replace_all([(temps[2], new)])  # one move: nothing kept aside
    assert new.read_text() == "new 2" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "c.txt"]


def test_save_figure_gives_the_same_bytes_every_time(tmp_path, resnet) -> None:
    """No date in the SVG metadata and fixed element ids: regenerating a report changes no file."""
    fig = breakdown_figure({"a": resnet["none"]}, "t")
    first = save_figure(fig, tmp_path / "one" / "fig")
    again = save_figure(fig, tmp_path / "two" / "fig")  # the same figure saved twice
    rebuilt = save_figure(breakdown_figure({"a": resnet["none"]}, "t"), tmp_path / "three" / "fig")  # built anew
    for paths in (again, rebuilt):
        assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in first]
    svg = first[1].read_text()
    assert "<dc:date>" not in svg


def umask_now() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_saved_figures_get_the_permissions_of_a_plain_open(tmp_path, resnet, monkeypatch) -> None:
    """mkstemp makes 0600 files; a figure is for sharing: 0o666 & ~umask, like open() would."""
    paths = save_figure(breakdown_figure({"a": resnet["none"]}, "t"), tmp_path / "fig")
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask_now()
    monkeypatch.setattr(fileio, "umask", lambda: 0o027)
    for path in save_figure(breakdown_figure({"a": resnet["none"]}, "t"), tmp_path / "group"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640


# ------------------------------------------------------------------------------------------ roofline


def test_roofline_axes_title_and_one_point_per_drawable_op_or_kernel(resnet, device) -> None:
    title = plot_title("resnet18", device.name, "fp16", 8)
    fig = roofline_figure(resnet, device, title)
    axes = fig.axes[:2]
    assert fig._suptitle.get_text() == "resnet18 on Round Device: fp16, batch 8"
    for ax, mode in zip(axes, ("none", "block"), strict=True):
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
        assert "(FLOP/byte)" in ax.get_xlabel() and "(FLOP/s)" in ax.yaxis.get_label().get_text()
        assert ax.get_title().startswith(f"fusion {mode}")
        points = [xy for c in by_gid(ax, "points:") for xy in c.get_offsets()]
        result = resnet[mode]
        if mode == "none":
            expected = sorted((o.flops / (o.dram_read + o.dram_written), o.flops / o.latency_s)
                              for o in result.ops if o.kernel and o.flops > 0 and o.dram_read + o.dram_written > 0)
            assert len(points) == drawable_ops(result) == len(expected)
        else:
            expected = sorted((k.flops / k.dram_bytes, k.flops / k.latency_s)
                              for k in result.kernels if k.flops > 0 and k.dram_bytes > 0)
            assert len(expected) < drawable_ops(resnet["none"])  # fusion merged kernels
        drawn = [v for pair in sorted(map(tuple, points)) for v in pair]
        assert drawn == pytest.approx([v for pair in expected for v in pair], rel=1e-9)


def test_roofline_ceilings_and_ridges_are_the_profiles(resnet, device) -> None:
    ax = roofline_figure(resnet, device, "t").axes[0]
    spec_ceilings = sorted(line.get_ydata()[0] for line in by_gid(ax, "spec-ceiling:"))
    assert spec_ceilings == pytest.approx(sorted([VECTOR_TF * 1e12, TF32_TF * 1e12, MATRIX_TF * 1e12,
                                                  INT8_TOPS * 1e12]))
    (slope,) = by_gid(ax, "spec-bandwidth")
    x, y = slope.get_xydata()[0]
    assert y / x == pytest.approx(BW_GBS * 1e9)  # spec bandwidth, dashed
    (matrix,) = by_gid(ax, "ridge:matrix:fp16")
    (vector,) = by_gid(ax, "ridge:vector:fp32")
    assert tuple(matrix.get_xydata()[0]) == pytest.approx((MATRIX_RIDGE, MATRIX_TF * 1e12 * COMPUTE_EFF))
    assert tuple(vector.get_xydata()[0]) == pytest.approx((VECTOR_RIDGE, VECTOR_TF * 1e12 * COMPUTE_EFF))
    (roof,) = by_gid(ax, "roof:matrix:fp16")
    (x0, y0), *_ = roof.get_xydata()
    assert y0 / x0 == pytest.approx(BW_GBS * 1e9 * MEMORY_EFF)  # attained bandwidth


def test_roofline_draws_the_cuda_core_gemm_roof_apart() -> None:
    """fp32 on the V100: GEMMs fall to the CUDA cores at efficiency.vector_gemm (0.90 of 15.7 TFLOP/s), the other
    vector ops at efficiency.compute (0.76): two vector roofs, the GEMMs' named as theirs."""
    v100 = load_profile("v100")
    graph = load_graph(SPECS / "resnet18.yaml", batch=8)
    fig = roofline_figure({m: estimate(graph, v100, dtype="fp32", fusion=m) for m in ("none", "block")}, v100, "t")
    ax = fig.axes[0]
    (gemm,) = by_gid(ax, "ridge:vector:fp32:gemm")
    (other,) = [a for a in by_gid(ax, "ridge:vector:fp32") if a.get_gid() == "ridge:vector:fp32"]
    assert gemm.get_xydata()[0][1] == pytest.approx(15.7e12 * 0.90)
    assert other.get_xydata()[0][1] == pytest.approx(15.7e12 * 0.76)
    labels = [t.get_text() for t in fig.legends[0].get_texts()] if fig.legends else [
        t.get_text() for a in fig.axes for leg in [a.get_legend()] if leg for t in leg.get_texts()]
    assert any(t.startswith("attained roof: vector fp32 GEMMs\n(0.9 x peak") for t in labels), labels


def test_roofline_leaves_out_ops_without_flops_and_says_how_many(write_spec, device) -> None:
    result = estimate(load_graph(write_spec(TINY)), device)
    ax = roofline_figure({"none": result}, device, "t").axes[0]
    assert sum(len(c.get_offsets()) for c in by_gid(ax, "points:")) == 3  # a, b, c; not the concat
    (note,) = by_gid(ax, "left-out-note")
    assert note.get_text().startswith("3 ops drawn; 1 left out")


def test_roofline_rejects_empty_and_mixed_dtypes(device, resnet) -> None:
    with pytest.raises(PlotError):
        roofline_figure({}, device, "t")
    fp32 = estimate(load_graph(SPECS / "resnet18.yaml", batch=8), device, dtype="fp32")
    with pytest.raises(PlotError, match="one dtype"):
        roofline_figure({"none": resnet["none"], "fp32": fp32}, device, "t")


def test_roofline_draws_large_points_first_with_rims_so_small_ones_stay_visible(resnet, device) -> None:
    ax = roofline_figure({"none": resnet["none"]}, device, "t").axes[0]
    (points,) = by_gid(ax, "points:")
    sizes = list(points.get_sizes())
    assert len(sizes) == drawable_ops(resnet["none"]) and sizes == sorted(sizes, reverse=True)
    faces, rims = points.get_facecolors(), points.get_edgecolors()
    assert all(0 < face[3] < 1 for face in faces) and all(rim[3] == 1 for rim in rims)  # see-through, solid rim
    assert all(sum(rim[:3]) < sum(face[:3]) for face, rim in zip(faces, rims, strict=True))  # rims darker


# --------------------------------------------------------------------------------------- efficiency gap


def percent_in(text: str) -> float:
    return float(re.search(r"E ([0-9.]+)%", text).group(1)) / 100


def test_gap_point_is_per_image_ideal_and_predicted(resnet) -> None:
    result = resnet["none"]
    point = gap_point("resnet18", result, top1=71.5)
    flops = sum(k.flops for k in result.kernels)
    assert point.ideal_s == pytest.approx(flops / (MATRIX_TF * 1e12) / 8)  # fastest fp16 unit: matrix
    assert point.predicted_s == pytest.approx(sum(o.latency_s for o in result.ops) / 8)
    assert point.top1 == 71.5 and point.measured_s is None


def test_efficiency_gap_segments_and_labels_by_accuracy() -> None:
    points = [GapPoint("a", 1e-5, 4e-5, top1=70.0), GapPoint("b", 2e-5, 1e-4, top1=75.0),
              GapPoint("c", 3e-6, 5e-5, measured_s=6e-5, top1=72.0)]
    fig = efficiency_gap_figure(points, "zoo on D: fp16, batch 1")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel().endswith("(µs)") and "(%)" in ax.get_ylabel()
    assert ax.get_title() == "zoo on D: fp16, batch 1"
    for p in points:
        (segment,) = by_gid(ax, f"gap:{p.name}")
        actual = p.measured_s or p.predicted_s
        assert list(segment.get_xdata()) == pytest.approx([p.ideal_s, actual])
        assert list(segment.get_ydata()) == [p.top1, p.top1]
        (label,) = [t for t in ax.texts if t.get_text().startswith(f"{p.name} ")]
        assert percent_in(label.get_text()) == pytest.approx(p.ideal_s / actual, rel=5e-3)
    (predicted,) = by_gid(ax, "predicted:c")
    assert predicted.get_marker() == "x" and predicted.get_xdata()[0] == 5e-5


def test_efficiency_gap_stacks_by_efficiency_without_accuracy() -> None:
    points = [GapPoint("hi", 1.0, 2.0), GapPoint("lo", 1.0, 50.0), GapPoint("mid", 1.0, 5.0, top1=80.0)]
    ax = efficiency_gap_figure(points, "t").axes[0]
    ticks = {round(t): label.get_text() for t, label in zip(ax.get_yticks(), ax.get_yticklabels(), strict=True)}
    assert [ticks[i] for i in range(3)] == ["lo", "mid", "hi"]  # most efficient on top
    labels = {t.get_gid(): t.get_text() for t in ax.texts if (t.get_gid() or "").startswith("efficiency:")}
    assert percent_in(labels["efficiency:lo"]) == pytest.approx(0.02)
    with pytest.raises(PlotError):
        efficiency_gap_figure([], "t")
    with pytest.raises(PlotError, match="positive"):
        efficiency_gap_figure([GapPoint("z", 0.0, 1.0)], "t")


def test_stage_gap_is_stage_flops_over_the_peak_against_summed_latency(resnet) -> None:
    result = resnet["none"]
    ax = stage_gap_figure(result, "t").axes[0]
    stages: dict[str, tuple[int, float]] = {}
    for o in result.ops:
        if o.kernel:
            key = ".".join(o.path.split(".")[:2])
            flops, seconds = stages.get(key, (0, 0.0))
            stages[key] = (flops + o.flops, seconds + o.latency_s)
    drawn = {k: v for k, v in stages.items() if v[0] > 0}
    assert "layer3.1" in drawn and len(by_gid(ax, "gap:")) == len(drawn)
    for name, (flops, seconds) in drawn.items():
        (segment,) = by_gid(ax, f"gap:{name}")
        assert list(segment.get_xdata()) == pytest.approx([flops / (MATRIX_TF * 1e12), seconds])
        (label,) = by_gid(ax, f"efficiency:{name}")
        assert percent_in(label.get_text()) == pytest.approx(flops / (MATRIX_TF * 1e12) / seconds, rel=5e-3)
    assert ax.get_xscale() == "log" and "(s)" in ax.get_xlabel()


# -------------------------------------------------------------------------------------------- waterline


def test_waterline_bars_are_kernels_along_time_against_the_matrix_ridge(resnet) -> None:
    fig = waterline_figure(resnet, plot_title("resnet18", "Round Device", "fp16", 8))
    assert "resnet18" in fig._suptitle.get_text() and "batch 8" in fig._suptitle.get_text()
    for ax, (mode, result) in zip(fig.axes, resnet.items(), strict=True):
        assert ax.get_yscale() == "log" and "(FLOP/byte)" in ax.get_ylabel()
        assert ax.get_title(loc="left").startswith(f"fusion {mode}")
        bars = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_gid() == "kernels"]
        assert len(bars) == len(result.kernels)
        assert [b.get_width() for b in bars] == pytest.approx([k.latency_s for k in result.kernels])
        assert [b.get_x() for b in bars][1:] == pytest.approx(
            list(itertools_accumulate([k.latency_s for k in result.kernels]))[:-1])
        tops = [b.get_y() + b.get_height() for b in bars]
        assert tops == pytest.approx([k.flops / k.dram_bytes for k in result.kernels])
        (line,) = by_gid(ax, "waterline")
        assert line.get_ydata()[0] == pytest.approx(MATRIX_RIDGE)
        under = sum(k.latency_s for k in result.kernels if k.flops / k.dram_bytes < MATRIX_RIDGE)
        (share,) = by_gid(ax, "share")
        assert share.get_text() == f"{under / sum(k.latency_s for k in result.kernels):.0%} of the time under water"
    assert fig.axes[1].get_xlabel() == "cumulative latency (s)"


def itertools_accumulate(values):
    total = 0.0
    for value in values:
        total += value
        yield total


def test_block_fusion_lifts_time_above_the_waterline(resnet) -> None:
    fig = waterline_figure(resnet, "t")
    shares = [int(by_gid(ax, "share")[0].get_text().split("%")[0]) for ax in fig.axes]
    assert shares[1] < shares[0]


# ------------------------------------------------------------------------------- breakdown, throughput


def test_breakdown_bars_sum_op_latencies_by_class_and_stage(resnet) -> None:
    fig = breakdown_figure({"none": resnet["none"], "block": resnet["block"]}, "t")
    by_class, by_stage = fig.axes[:2]
    result = resnet["none"]
    gemm = sum(o.latency_s for o in result.ops if o.op_class == "gemm")
    top_first = sorted(by_gid(by_class, "segment:gemm"), key=lambda patch: -patch.get_y())
    assert top_first[0].get_width() == pytest.approx(gemm)
    for ax in (by_class, by_stage):
        widths = {}
        for patch in by_gid(ax, "segment:"):
            widths[round(patch.get_y(), 3)] = widths.get(round(patch.get_y(), 3), 0.0) + patch.get_width()
        rows = [widths[y] for y in sorted(widths, reverse=True)]
        assert rows == pytest.approx([sum(k.latency_s for k in resnet[m].kernels) for m in ("none", "block")])
        ticks = sorted(zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()], strict=True), reverse=True)
        assert [label for _, label in ticks] == ["none", "block"]  # first key on top
    assert "(s)" in by_stage.get_xlabel()


def test_throughput_lines_and_saturation(device) -> None:
    batches = [1, 4, 16, 64, 256]
    sweeps = {"round": batch_sweep(load_graph(SPECS / "resnet18.yaml"), device, batches, dtype="fp16")}
    ax = throughput_figure(sweeps, "resnet18 on Round Device: fp16, batch 1-256").axes[0]
    (line,) = by_gid(ax, "sweep:round")
    rates = [s.batch / s.latency_s for s in sweeps["round"]]
    assert list(line.get_xdata()) == batches and list(line.get_ydata()) == pytest.approx(rates)
    knee = min(b for b, r in zip(batches, rates, strict=True) if r >= 0.9 * max(rates))
    (ring,) = by_gid(ax, "saturation:round")
    assert ring.get_xdata()[0] == knee
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log" and "(images/s)" in ax.get_ylabel()


# ------------------------------------------------------------------------------------------------ pareto


def test_pareto_frontier_per_group_and_labels() -> None:
    points = [ParetoPoint("a", 1, 70, "g"), ParetoPoint("b", 2, 75, "g"), ParetoPoint("c", 3, 72, "g"),
              ParetoPoint("d", 4, 80, "g"), ParetoPoint("e", 2, 60, "h")]
    ax = pareto_figure(points, "t", "latency (ms)", "top-1 (%)").axes[0]
    (frontier,) = by_gid(ax, "frontier:g")
    assert list(frontier.get_xdata()) == [1, 2, 4] and list(frontier.get_ydata()) == [70, 75, 80]
    assert {t.get_text() for t in ax.texts} >= {"a", "b", "c", "d", "e"}
    assert ax.get_xlabel() == "latency (ms)" and ax.get_ylabel() == "top-1 (%)"
    many = [ParetoPoint(f"p{i}", float(i + 1), float((i * 7) % 11)) for i in range(20)]
    ax = pareto_figure(many, "t", "x", "y").axes[0]
    (frontier,) = by_gid(ax, "frontier:")
    assert list(frontier.get_ydata()) == [0, 7, 10]  # y = 0, 7, 3, 10, 6, 2, ...
    assert sorted(t.get_text() for t in ax.texts if t.get_text().startswith("p")) == sorted(p.name for p in many)
    lower = pareto_figure(points[:4], "t", "x", "y", maximize_y=False).axes[0]
    assert list(by_gid(lower, "frontier:g")[0].get_ydata()) == [70]


# ---------------------------------------------------------------------------------- zoo: measured ranking

DEPTHWISE_HEAVY = {"mobilenetv2_100", "mobilenetv3_large_100", "efficientnet_b0", "mnasnet_100", "ghostnet_100"}
DENSE = {"resnet50", "vgg16", "vit_small_patch16_224", "convnext_t"}
RTX4090_FP16_PEAK = 165.2e12  # Ada whitepaper, dense FP16 tensor with FP32 accumulate (what AMP uses)


def measured_efficiency() -> dict[str, float]:
    """timm name -> E = 2 x GMACs x images/s / peak, from the RTX 4090 rows of the fixture."""
    lines = [line for line in FIXTURE.read_text().splitlines() if not line.startswith("#")]
    return {row["model"]: 2e9 * float(row["infer_gmacs"]) * float(row["infer_samples_per_sec"]) / RTX4090_FP16_PEAK
            for row in csv.DictReader(lines) if row["device"] == "rtx4090"}


def fixture_rows(device: str = "rtx4090") -> dict[str, dict[str, str]]:
    """timm name -> the fixture's row for ``device``, read with the csv module."""
    lines = [line for line in FIXTURE.read_text().splitlines() if not line.startswith("#")]
    return {row["model"]: row for row in csv.DictReader(lines) if row["device"] == device}


@pytest.fixture(scope="module")
def zoo():
    """The 17 zoo specs with RTX 4090 rows in the fixture, matched to them (fp16, batch 1024 as measured); zoo
    models added later without measured rows in the fixture are left out."""
    measured = fixture_rows()
    specs = [path for path in sorted(SPECS.glob("*.yaml")) if load_spec(path).metadata.timm_name in measured]
    assert len(specs) == 17
    return specs, measured_gap_points(specs, load_profile("rtx4090"), read_measurements(FIXTURE), dtype="fp16")


def test_zoo_gap_on_rtx4090_ranks_depthwise_heavy_models_least_efficient_as_measured(zoo) -> None:
    """The timm benchmark setting: RTX 4090, fp16, batch 1024. Measured, the five depthwise-heavy mobile
    models are the five least efficient (2.6-5.0 %), and ConvNeXt-T, depthwise too, sits with the dense models
    (26 %): its 1x1 convs dominate. The plot must show the same: the five longest predicted gaps are theirs."""
    measured = measured_efficiency()
    profile = load_profile("rtx4090")
    specs, gaps = zoo
    points = [gap_point(p.name, r, p.top1) for p, r in zip(gaps.points, gaps.results, strict=True)]  # predicted
    assert all(r.summary.batch == 1024 and r.summary.dtype == "fp16" for r in gaps.results)
    timm = {spec.name: spec.metadata.timm_name for spec in map(load_spec, specs)}
    assert set(measured) == set(timm.values())
    lowest_measured = sorted(timm, key=lambda name: measured[timm[name]])[:5]
    assert set(lowest_measured) == DEPTHWISE_HEAVY
    assert min(measured[timm[name]] for name in DENSE) > max(measured[timm[name]] for name in DEPTHWISE_HEAVY)

    ax = efficiency_gap_figure(points, plot_title("17 models", profile.name, "fp16", 1024)).axes[0]
    gaps_read = {}
    for point in points:
        (segment,) = by_gid(ax, f"gap:{point.name}")
        ideal, actual = segment.get_xdata()
        gaps_read[point.name] = actual / ideal  # 1 / E, read from the figure
    longest = sorted(gaps_read, key=gaps_read.__getitem__, reverse=True)[:5]
    assert set(longest) == DEPTHWISE_HEAVY
    assert min(gaps_read[name] for name in DEPTHWISE_HEAVY) > max(gaps_read[name] for name in DENSE)


def test_spread_keeps_order_and_moves_only_crowded_values() -> None:
    # 0 and 1 (twice) are closer than 3: one cluster around their mean 2/3, laid out 3 apart; 10 stays
    assert spread([0.0, 1.0, 1.0, 10.0], 3.0) == pytest.approx([2 / 3 - 3, 2 / 3, 2 / 3 + 3, 10.0])
    assert spread([5.0, 0.0], 3.0) == [5.0, 0.0]
    assert spread([1.0, 0.0], 3.0) == pytest.approx([2.0, -1.0])  # order kept: the larger stays above


def display_rows(ax, names) -> dict[str, float]:
    """Display y (pixels) of each model's ideal marker, as drawn."""
    return {n: by_gid(ax, f"ideal:{n}")[0].get_transform().transform(by_gid(ax, f"ideal:{n}")[0].get_xydata())[0][1]
            for n in names}


def label_boxes(ax, names) -> dict:
    renderer = ax.figure.canvas.get_renderer()
    return {n: next(t for t in ax.texts if t.get_text().startswith(f"{n}  E ")).get_window_extent(renderer)
            for n in names}


def test_zoo_gap_rows_of_equal_accuracy_are_drawn_apart_and_labels_do_not_collide(zoo) -> None:
    """vit_small_patch16_224 and swin_t have top-1 81.402 and 81.388 % (timm's results): drawn as they are,
    their rows and ideal markers coincide. Rows are spread at least ROW_GAP_PT apart on screen, the data stay
    exact, the order of accuracy is kept, and no label overlaps another label or any marker."""
    specs, gaps = zoo
    top1 = {spec.name: spec.metadata.top1 for spec in map(load_spec, specs)}
    assert abs(top1["vit_small_patch16_224"] - top1["swin_t"]) < 0.02
    ax = efficiency_gap_figure(gaps.points, "t").axes[0]
    ax.figure.canvas.draw()
    rows = display_rows(ax, top1)
    gap_px = ROW_GAP_PT * ax.figure.dpi / 72
    ordered = sorted(top1, key=lambda n: (top1[n], rows[n]))
    assert [rows[n] for n in ordered] == sorted(rows.values())  # higher accuracy, higher row
    assert min(b - a for a, b in zip(sorted(rows.values()), sorted(rows.values())[1:], strict=False)) >= gap_px - 1e-6
    for name in top1:
        assert list(by_gid(ax, f"gap:{name}")[0].get_ydata()) == [top1[name], top1[name]]
    labels = label_boxes(ax, top1)
    renderer = ax.figure.canvas.get_renderer()
    markers = [line.get_window_extent(renderer) for prefix in ("ideal:", "measured:", "predicted:")
               for line in by_gid(ax, prefix)]
    for name, box in labels.items():
        assert not any(box.overlaps(other) for n, other in labels.items() if n != name), name
        assert not any(box.overlaps(marker) for marker in markers), name
    assert by_gid(ax, "row-note")  # the spreading is said


def test_measured_gap_labels_are_ideal_over_measured_from_the_fixture(zoo) -> None:
    """E = ideal / measured per image, with ideal = FLOPs / (RTX 4090 fp16 peak) / batch and measured =
    1 / images/s from the fixture's RTX 4090 rows; the prediction sits at its own latency (small x)."""
    specs, gaps = zoo
    rows = fixture_rows()
    assert gaps.device == "rtx4090" and gaps.skipped == [] and gaps.unmeasured == []
    ax = efficiency_gap_figure(gaps.points, "t").axes[0]
    labels = {t.get_text().split("  E ")[0]: percent_in(t.get_text()) for t in ax.texts if "  E " in t.get_text()}
    for spec, result in zip(map(load_spec, specs), gaps.results, strict=True):
        rate = float(rows[spec.metadata.timm_name]["infer_samples_per_sec"])
        ideal = sum(k.flops for k in result.kernels) / 1024 / RTX4090_FP16_PEAK
        assert labels[spec.name] == pytest.approx(ideal * rate, rel=5e-3), spec.name
        (measured,) = by_gid(ax, f"measured:{spec.name}")
        assert measured.get_xdata()[0] == pytest.approx(1 / rate)
        (predicted,) = by_gid(ax, f"predicted:{spec.name}")
        assert predicted.get_marker() == "x"
        assert predicted.get_xdata()[0] == pytest.approx(sum(k.latency_s for k in result.kernels) / 1024)
    assert {"measured", "predicted"} <= {t.get_text() for t in ax.figure.legends[0].get_texts()}


def test_measured_gap_at_another_batch_says_what_is_compared() -> None:
    spec = SPECS / "resnet18.yaml"
    gaps = measured_gap_points([spec], load_profile("rtx4090"), read_measurements(FIXTURE), batch=8, dtype="fp16")
    assert gaps.results[0].summary.batch == 8 and gaps.measured_batches == [1024]
    assert gaps.notes == ["resnet18: measured at batch 1024, predicted at batch 8 (per-image latencies compared)"]
    assert gaps.points[0].measured_s == pytest.approx(1 / float(fixture_rows()["resnet18"]["infer_samples_per_sec"]))


# ------------------------------------------------------------------------------------------------ pareto & titles


def frontier_segments(points: list[ParetoPoint]) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """The step line (post) through the Pareto frontier, worked out here: sorted by x, keep each new best y."""
    best: list[ParetoPoint] = []
    for p in sorted(points, key=lambda q: (q.x, -q.y)):
        if not best or p.y > best[-1].y:
            best.append(p)
    segments = []
    for a, b in zip(best, best[1:], strict=False):
        segments += [((a.x, a.y), (b.x, a.y)), ((b.x, a.y), (b.x, b.y))]
    return segments


def test_pareto_names_every_zoo_model_clear_of_the_frontier_and_each_other(zoo) -> None:
    _, gaps = zoo
    points = [ParetoPoint(p.name, p.predicted_s * 1e3, p.top1, "rtx4090") for p in gaps.points]
    ax = pareto_figure(points, "17 models", "latency per image (ms)", "top-1 (%)").axes[0]
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    boxes = {t.get_text(): t.get_window_extent(renderer) for t in ax.texts if t.get_text() in {p.name for p in points}}
    assert set(boxes) == {p.name for p in points}  # every model named, not only the frontier
    for name, box in boxes.items():
        assert not any(box.overlaps(other) for n, other in boxes.items() if n != name), name
        for start, end in frontier_segments(points):
            (x0, y0), (x1, y1) = ax.transData.transform([start, end])
            crosses = (min(x0, x1) <= box.x1 and box.x0 <= max(x0, x1) and min(y0, y1) <= box.y1
                       and box.y0 <= max(y0, y1))
            assert not crosses, f"{name} sits on the frontier"


def test_long_titles_wrap_to_the_figure_width(resnet) -> None:
    title = "a_long_model_name_" * 3 + " on NVIDIA GeForce RTX 4090 and NVIDIA A100 80GB and Jetson AGX Orin: " \
            "fp16, batch 1 to 1024, fusion none; measured (rtx4090, batch 1024): timm_benchmark_zoo.csv"
    pareto = pareto_figure([ParetoPoint("a", 1, 2), ParetoPoint("b", 2, 3)], title, "x", "y")
    breakdown = breakdown_figure({"a": resnet["none"]}, title)
    # validate --plot: "Intel Xeon 6 (Granite Rapids) dev VM (1 thread) vs cpu_bench_xeon6_gnr_vm_1t.csv: fp32, fusion
    # none" lost its first and last letters
    from costmodel.calibration.fidelity import Point
    from costmodel.plots.fidelity import scatter_figure

    rows = [Point("a", 1, 10**9, 0.01, 0.012, 0.001, 0.5), Point("b", 1, 10**9, 0.02, 0.02, 0.001, 0.5)]
    fidelity = scatter_figure(rows, title)
    for fig, text in ((pareto, pareto.axes[0].title), (breakdown, breakdown._suptitle),
                      (fidelity, fidelity.axes[0].title)):
        fig.canvas.draw()
        assert "\n" in text.get_text() and text.get_text().replace("\n", " ") == title
        box = text.get_window_extent(fig.canvas.get_renderer())
        assert box.x0 >= 0 and box.x1 <= fig.bbox.width  # nothing clipped


# ------------------------------------------------------------------------------------------------- CLI

TINY_SPEC = "TINY"  # replaced by the path of the TINY spec (4 ops: renders fast)
MOBILENET = str(SPECS / "mobilenetv2_100.yaml")


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("specs") / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    return str(path)


def with_spec(args: list[str], spec: str) -> list[str]:
    return [spec if a == TINY_SPEC else a for a in args]


@pytest.mark.parametrize("args", [
    ["roofline", TINY_SPEC, "--hw", "a100", "--dtype", "fp16", "--batch", "2"],
    ["waterline", TINY_SPEC, "--hw", "a100", "--fusion", "none", "--fusion", "epilogue"],
    ["gap", TINY_SPEC, MOBILENET, "--hw", "rtx4090", "--dtype", "fp16"],
    ["gap", TINY_SPEC, "--hw", "a100", "--per-stage"],
    ["breakdown", TINY_SPEC, "--hw", "a100", "--hw", "rtx4090", "--dtype", "fp16"],
    ["throughput", TINY_SPEC, "--hw", "a100", "--batches", "1,8,32"],
])
def test_cli_plot_writes_png_and_svg(tmp_path, tiny_path, args) -> None:
    stem = tmp_path / "out" / "fig"
    result = runner.invoke(app, ["plot", *with_spec(args, tiny_path), "-o", str(stem)])
    assert result.exit_code == 0, result.output
    png, svg = stem.with_name("fig.png"), stem.with_name("fig.svg")
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    assert ET.parse(svg).getroot().tag.endswith("svg")
    assert f"wrote {png}" in result.output and f"wrote {svg}" in result.output


def test_cli_plot_output_with_an_image_suffix_names_both_files(tmp_path, tiny_path) -> None:
    result = runner.invoke(app, ["plot", "gap", tiny_path, "--hw", "a100", "-o", str(tmp_path / "fig.png")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "fig.svg"]


def test_cli_plot_default_stem_is_model_kind_device(tmp_path, tiny_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["plot", "roofline", tiny_path, "--hw", "a100", "--fusion", "none"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny_roofline_a100_80gb.png", "tiny_roofline_a100_80gb.svg"]


@pytest.mark.parametrize(("args", "message"), [
    (["roofline", TINY_SPEC], "error: plot roofline needs --hw: the roofline is a device's"),
    (["waterline", TINY_SPEC], "error: plot waterline needs --hw"),
    (["gap", TINY_SPEC], "error: plot gap needs --hw"),
    (["roofline", "--hw", "a100"], "error: plot roofline needs at least one SPEC"),
    (["gap", "--hw", "a100"], "error: plot gap needs at least one SPEC"),
    (["throughput", "--hw", "a100"], "error: plot throughput needs at least one SPEC"),
    (["roofline", TINY_SPEC, TINY_SPEC, "--hw", "a100"], "takes one SPEC"),
    (["gap", TINY_SPEC, TINY_SPEC, "--hw", "a100", "--per-stage"], "plot gap --per-stage takes one SPEC"),
    (["roofline", TINY_SPEC, "--hw", "a100", "--hw", "t4"], "takes one --hw"),
    (["roofline", TINY_SPEC, "--hw", "a100", "--dtype", "fp64"], "unknown --dtype 'fp64'"),
    (["waterline", TINY_SPEC, "--hw", "a100", "--fusion", "full"], "unknown --fusion 'full'"),
    (["breakdown", TINY_SPEC, "--hw", "a100", "--fusion", "full"], "unknown --fusion 'full'"),
    (["roofline", TINY_SPEC, "--hw", "a100", "--dtype", "fp8"], "has no fp8 peak"),
    (["roofline", TINY_SPEC, "--hw", "nosuchgpu"], "unknown hardware profile"),
    (["gap", "does/not/exist.yaml", "--hw", "a100"], "cannot read spec"),
    (["throughput", TINY_SPEC, "--hw", "a100", "--batches", "0,8"], "error: --batches expects positive batch sizes"),
])
def test_cli_plot_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, tiny_path, args, message) -> None:
    result = runner.invoke(app, ["plot", *with_spec(args, tiny_path), "-o", str(tmp_path / "fig")])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_cli_plot_throughput_takes_batches_only(tiny_path) -> None:
    result = runner.invoke(app, ["plot", "throughput", tiny_path, "--hw", "a100", "--sweep-batch", "1,8"])
    assert result.exit_code == 2 and "No such option: --sweep-batch" in result.output


def test_cli_plot_output_symbolic_links_stay_links(tmp_path, tiny_path) -> None:
    """As write_output's (analyze -o): a figure file that is a symbolic link keeps it, the file it names gets the
    figure (the link was replaced by a regular file, the file it named left stale)."""
    (tmp_path / "real.png").write_text("old")
    (tmp_path / "fig.png").symlink_to(tmp_path / "real.png")
    result = runner.invoke(app, ["plot", "gap", tiny_path, "--hw", "a100", "-o", str(tmp_path / "fig")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fig.png").is_symlink() and (tmp_path / "real.png").read_bytes()[:8] == PNG_SIGNATURE
    assert f"wrote {tmp_path / 'fig.png'}" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "fig.svg", "real.png"]


def test_cli_plot_output_a_device_is_refused(tmp_path, tiny_path) -> None:
    """-o /dev/null wrote /dev/null.png and /dev/null.svg (as root: new files in /dev); a figure file that is a FIFO
    is written into, not replaced."""
    import threading

    result = runner.invoke(app, ["plot", "gap", tiny_path, "--hw", "a100", "-o", os.devnull])
    assert (result.exit_code, result.output) == (
        2, f"error: -o {os.devnull} is a device; -o takes the stem of the figures' file names (or a folder)\n")
    assert not Path(os.devnull + ".png").exists()
    fifo = tmp_path / "fig.svg"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)  # more than a pipe holds
    reader.start()
    result = runner.invoke(app, ["plot", "gap", tiny_path, "--hw", "a100", "-o", str(tmp_path / "fig")])
    assert stat.S_ISFIFO(fifo.lstat().st_mode), "the FIFO was replaced"  # then the reader waits for ever (a daemon)
    reader.join(30)
    assert result.exit_code == 0, result.output
    data = got[0]
    assert stat.S_ISFIFO((tmp_path / "fig.svg").lstat().st_mode) and b"<svg" in data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "fig.svg"]


def test_cli_plot_unwritable_output_folder(tmp_path, tiny_path) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    result = runner.invoke(app, ["plot", "gap", tiny_path, "--hw", "a100", "-o", str(blocker / "sub" / "fig")])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: cannot write {blocker / 'sub'}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not_a_folder"]


def test_cli_plot_gap_measured_lists_skipped_models_and_writes_the_figure(tmp_path) -> None:
    specs = [str(SPECS / "resnet50.yaml"), str(SPECS / "vgg16.yaml")]
    result = runner.invoke(app, ["plot", "gap", *specs, "--hw", "rtx4090", "--dtype", "fp16", "--measured",
                                 str(FIXTURE), "-o", str(tmp_path / "gap")])
    assert result.exit_code == 0, result.output
    others = [name for name in fixture_rows() if name not in ("resnet50", "vgg16")]  # the fixture's order
    assert f"skipped {len(others)} model(s) in {FIXTURE} that are none of the specs: {', '.join(others)}" \
        in result.output
    assert (tmp_path / "gap.png").read_bytes()[:8] == PNG_SIGNATURE and (tmp_path / "gap.svg").is_file()
    result = runner.invoke(app, ["plot", "gap", *specs, "--hw", "rtx4090", "--dtype", "fp16", "--batch", "64",
                                 "--measured", str(FIXTURE), "-o", str(tmp_path / "b64")])
    assert result.exit_code == 0, result.output
    assert "resnet50: measured at batch 1024, predicted at batch 64 (per-image latencies compared)" in result.output


@pytest.mark.parametrize(("extra", "message"), [
    (["--per-stage"], "--measured draws one gap per model; it does not combine with --per-stage"),
    (["--device", "h100"], "no rows for device 'h100'; devices in the file: rtx3090, rtx4090"),
])
def test_cli_plot_gap_measured_bad_input(tmp_path, extra, message) -> None:
    result = runner.invoke(app, ["plot", "gap", str(SPECS / "resnet50.yaml"), "--hw", "rtx4090", "--measured",
                                 str(FIXTURE), *extra, "-o", str(tmp_path / "gap")])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_cli_plot_gap_measured_with_no_matching_row(tmp_path, tiny_path) -> None:
    result = runner.invoke(app, ["plot", "gap", tiny_path, "--hw", "rtx4090", "--measured", str(FIXTURE),
                                 "-o", str(tmp_path / "gap")])
    assert result.exit_code == 2
    assert f"error: {FIXTURE}: no row matches any of the specs" in result.output
    assert not list(tmp_path.glob("gap*"))


@pytest.mark.parametrize(("top", "unit", "last_tick"), [(5e-4, "µs", "500"), (0.004, "ms", "4"), (2.0, "s", "2")])
def test_time_axis_label_and_ticks_share_one_unit(top: float, unit: str, last_tick: str) -> None:
    from costmodel.plots.common import new_figure, time_axis

    fig = new_figure(4, 3)
    ax = fig.subplots()
    ax.plot([0, top], [0, 1])
    ax.set_xlim(0, top)
    time_axis(ax.xaxis, "latency")
    fig.canvas.draw()
    assert ax.get_xlabel() == f"latency ({unit})"
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks[0] == "0" and ticks[-1] == last_tick, ticks


def test_a_time_axis_over_many_decades_labels_each_tick_in_its_unit() -> None:
    """The report's stage-gap figure spans 1e-10 to 1e-2 s (a norm's ideal time to the slowest stage): in one unit
    (ms) its ticks read '1e-06', '1e-05'; past WIDE_TIME_DECADES decades each tick carries its own unit and the label
    none. Three decades keep one unit."""
    from costmodel.plots.common import new_figure, time_axis

    fig = new_figure(6, 3)
    ax = fig.subplots()
    ax.plot([1e-10, 1e-2], [0, 1])
    ax.set_xscale("log")
    ax.set_xlim(1e-10, 1e-2)
    time_axis(ax.xaxis, "latency")
    fig.canvas.draw()
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert ax.get_xlabel() == "latency"
    assert {"1 ns", "10 ns", "100 ns", "1 µs", "10 µs", "100 µs", "1 ms"} <= set(ticks), ticks
    assert not any("e-" in t for t in ticks), ticks
    ax.set_xlim(1e-5, 1e-2)
    fig.canvas.draw()
    assert ax.get_xlabel() == "latency (ms)"
    assert {"0.01", "0.1", "1", "10"} <= {t.get_text() for t in ax.get_xticklabels()}


def test_the_sweep_pareto_legend_hides_no_point() -> None:
    """Two devices, the slow one's front starting low at the right (a sweep on an A100 and a CPU): the legend sat in
    the lower-right corner of the axes, over the slow device's first front point (seen in a RegNet sweep's figure:
    '4 on the front', three visible). Now it is outside the axes: no point's marker is under it."""
    import numpy as np

    from costmodel.plots import sweep_pareto_figure

    fast = np.array([2.3, 2.4, 2.7, 2.7, 3.2, 3.4, 3.8, 3.8, 3.9]) * 1e-3
    slow = np.array([40.0, 41.0, 48.0, 51.0, 55.0, 58.0, 62.0, 66.0, 80.0]) * 1e-3
    entropy = np.array([23.4, 27.8, 28.3, 30.6, 31.8, 35.9, 38.6, 42.2, 43.0]) * 1e3
    fig = sweep_pareto_figure({"a100": fast, "cpu": slow}, entropy, "entropy", "t")
    fig.draw_without_rendering()
    legends = [*fig.legends, *(a.get_legend() for a in fig.axes if a.get_legend() is not None)]
    assert len(legends) == 1
    box = legends[0].get_window_extent()
    ax = fig.axes[0]
    for x in (fast, slow):
        for px, py in ax.transData.transform(np.column_stack([x, entropy])):
            assert not (box.x0 - 4 <= px <= box.x1 + 4 and box.y0 - 4 <= py <= box.y1 + 4), (px, py, box)
