"""benchmarks/cpu_roofline.py --clock: the chains it times and the plausibility check (no timing here)."""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
try:
    import cpu_roofline
finally:
    sys.path.pop(0)


def test_an_impossible_clock_is_refused() -> None:
    """The 19.16 GHz the add-immediate chain read on the Intel Xeon 6 VM (3 December 12:39 UTC) is no clock; nor is
    a figure of 0; two chains that disagree by more than 10 % are refused too; two that agree are a clock."""
    problem = cpu_roofline.clock_problem(19.16, 3.2)
    assert problem is not None and "19.16 GHz" in problem and "6.5" in problem
    assert cpu_roofline.clock_problem(3.2, 19.16) is not None
    assert cpu_roofline.clock_problem(0.0, 3.2) is not None
    disagree = cpu_roofline.clock_problem(3.2, 3.6)
    assert disagree is not None and "disagree" in disagree
    assert cpu_roofline.clock_problem(3.23, 3.31) is None  # 2.5 % apart
    assert cpu_roofline.clock_problem(6.2, 6.2) is None  # the fastest rated x86 core


def test_clock_refusal_is_one_line_and_exit_2(monkeypatch, capsys) -> None:
    monkeypatch.setattr(cpu_roofline, "core_clock_ghz", lambda: (19.16, 3.2))
    monkeypatch.setattr(sys, "argv", ["cpu_roofline.py", "--clock"])
    with pytest.raises(SystemExit) as exit_info:
        cpu_roofline.main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "no clock figure" in err


def test_the_chains_have_no_shortcut_and_assemble(tmp_path) -> None:
    """No add of an immediate (Golden Cove and later eliminate it at rename); an imul chain and a register-register
    add chain whose registers both change; the program assembles where a C compiler and x86-64 are at hand."""
    source = cpu_roofline.CLOCK_C
    assert "add $" not in source and "imul %1, %0" in source
    assert "add %1, %0" in source and "add %0, %1" in source
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("no C compiler or not x86-64")
    path = tmp_path / "clock.c"
    path.write_text(source)
    subprocess.run([compiler, "-O1", "-c", "-o", str(tmp_path / "clock.o"), str(path)], check=True)


def test_plane_fit_recovers_a_plane_through_the_origin() -> None:
    """cpu_roofline.plane_fit (the strided-norm line in elements and channels) on exact points of t = 1.08 x + 74 y."""
    rows = [(x, y, 1.08 * x + 74 * y) for x, y in ((501_760, 160), (62_720, 1_280), (1_204_224, 384), (150_528, 3_072))]
    a, b = cpu_roofline.plane_fit(rows)
    assert (a, b) == (pytest.approx(1.08), pytest.approx(74))


def test_conv1x1_parts_reads_the_verbose_primitives() -> None:
    """--conv1x1-parts' parser on a hand-written child output (oneDNN v3's verbose format, times in ms): the reorder
    of the input's shape is the input's, the other activation reorder the output's, the OIHW one the weights'; each
    part is the least over the verbose calls, and the rest is the call less the parts."""
    def call(src: float, wei: float, conv: float, dst: float) -> str:
        return "\n".join([
            "@@V",
            f"onednn_verbose,v1,primitive,exec,cpu,reorder,jit:blk,undef,src:f32 dst:f32,,,1x72x28x28,{src}",
            f"onednn_verbose,v1,primitive,exec,cpu,reorder,jit:blk,undef,src:f32 dst:f32,,,20x72x1x1,{wei}",
            "onednn_verbose,v1,primitive,create:cache_hit,cpu,convolution,jit_1x1:avx512_core,forward_training,,,,0.01",
            f"onednn_verbose,v1,primitive,exec,cpu,convolution,jit_1x1:avx512_core,forward_training,src:f32,,"
            f"alg:convolution_direct,mb1_ic72oc20_ih28oh28kh1sh1dh0ph0_iw28ow28kw1sw1dw0pw0,{conv}",
            f"onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,src:f32 dst:f32,,,1x20x28x28,{dst}",
        ])
    text = "\n".join(["@@S 72 20 28 28 2.1e-05 0.0001115", call(0.030, 0.002, 0.016, 0.008),
                      call(0.028, 0.001, 0.018, 0.007)])
    (row,) = cpu_roofline.parse_conv1x1_parts(text)
    assert (row.cin, row.cout, row.height, row.width, row.one, row.two) == (72, 20, 28, 28, 2.1e-5, 1.115e-4)
    assert (row.src, row.weights, row.conv, row.dst) == pytest.approx((28e-6, 1e-6, 16e-6, 7e-6))
    assert row.elements == (72 + 20) * 28 * 28
    assert row.rest == pytest.approx(111.5e-6 - 52e-6)


def test_cross_core_rate_is_bytes_over_the_extra_time() -> None:
    """--cross-core's figure: per size, KiB x 1024 bytes over (remote - local) us; the median over the sizes; a size
    where the remote read was not slower is left out. 256 KiB with 10 us extra: 26.2 GB/s; 512 KiB with 25 us:
    21.0 GB/s; 1024 KiB with 40 us: 26.2 GB/s."""
    rows = [(256, 5.0, 15.0), (512, 8.0, 33.0), (1024, 12.0, 52.0), (64, 4.0, 3.9)]
    assert cpu_roofline.cross_core_gbs(rows) == pytest.approx(262_144 / 10e-6 / 1e9, rel=1e-12)
    assert cpu_roofline.cross_core_gbs([(64, 4.0, 3.9)]) != cpu_roofline.cross_core_gbs([(64, 4.0, 3.9)])  # nan
