"""Hardware profiles: shipped files validate, names resolve, errors are clear, figures obey sanity laws."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from costmodel.hardware import (
    HardwareError,
    HardwareProfile,
    efficiency_for,
    list_profiles,
    load_profile,
    load_profile_file,
    peak_tflops,
    profile_summary,
    ridge_point,
)
from costmodel.hardware.profile import SHIPPED_DIR

EXPECTED_FILES = {
    "a100_40gb", "a100_80gb", "h100_sxm", "h100_pcie", "h200", "v100", "t4", "a10", "l4",
    "rtx3090", "rtx4090", "rtx5090", "rtx_pro_6000_maxq", "jetson_agx_orin", "mi300x", "tpu_v5e",
    "i9_10940x", "i7_12700h", "epyc_9654", "epyc_zen3_vm_1t", "epyc_zen3_vm_b", "epyc_zen5_vm", "xeon6_gnr_vm",
    "cortex_a76", "pixel4",
}  # fmt: skip
SHIPPED = sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml"))


@pytest.fixture(autouse=True)
def _no_user_profiles(monkeypatch):
    monkeypatch.delenv("COSTMODEL_HW_PATH", raising=False)


def _profile_data(stem: str = "a100_80gb") -> dict:
    return yaml.safe_load((SHIPPED_DIR / f"{stem}.yaml").read_text())


def _write(tmp_path: Path, data: dict, name: str = "custom.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


# ------------------------------------------------------------------------------ shipped profiles


def test_expected_profiles_are_shipped():
    assert set(SHIPPED) == EXPECTED_FILES


@pytest.mark.parametrize("stem", SHIPPED)
def test_shipped_profile_loads_and_is_documented(stem):
    profile = load_profile(stem)
    assert isinstance(profile, HardwareProfile)
    assert profile.peak.vector or profile.peak.matrix
    text = (SHIPPED_DIR / f"{stem}.yaml").read_text()
    assert text.startswith("#"), "every profile starts with a header comment naming its sources"


def test_list_profiles_returns_every_shipped_profile():
    names = [p.name for p in list_profiles()]
    assert len(names) == len(SHIPPED) == len(set(names))


@pytest.mark.parametrize(
    ("query", "stem"),
    [
        ("a100", "a100_80gb"),
        ("A100", "a100_80gb"),
        ("a100-40gb", "a100_40gb"),
        ("A100_40GB", "a100_40gb"),
        ("h100", "h100_sxm"),
        ("H100_PCIE", "h100_pcie"),
        ("raspberry-pi-5", "cortex_a76"),
        ("RPI5", "cortex_a76"),
        ("nvidia geforce rtx 4090", "rtx4090"),
        ("RTX_PRO_6000_MAXQ", "rtx_pro_6000_maxq"),
    ],
)
def test_names_and_aliases_resolve_case_insensitively(query, stem):
    assert load_profile(query).name == load_profile(stem).name


def test_every_name_and_alias_resolves_to_its_own_profile():
    for stem in SHIPPED:
        profile = load_profile(stem)
        for label in (profile.name, *profile.aliases, stem.upper()):
            assert load_profile(label).name == profile.name, label


def test_profile_by_path(tmp_path):
    assert load_profile(str(SHIPPED_DIR / "t4.yaml")).name == "NVIDIA T4"
    data = _profile_data("t4") | {"name": "My T4", "aliases": []}
    assert load_profile(str(_write(tmp_path, data))).name == "My T4"


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(HardwareError, match="not found"):
        load_profile(str(tmp_path / "nope.yaml"))


def test_env_var_adds_profile_folders(tmp_path, monkeypatch):
    _write(tmp_path, _profile_data("t4") | {"name": "Lab T4", "aliases": ["labt4"]}, "lab_t4.yaml")
    monkeypatch.setenv("COSTMODEL_HW_PATH", str(tmp_path))
    assert load_profile("LABT4").name == "Lab T4"
    assert load_profile("lab_t4").name == "Lab T4"
    assert "Lab T4" in [p.name for p in list_profiles()]
    assert load_profile("t4").name == "NVIDIA T4"  # shipped ones still found


# ------------------------------------------------------------------------------------- errors


def test_a_typo_offers_every_close_key():
    with pytest.raises(HardwareError) as info:
        load_profile("a10O")
    hint = str(info.value).split("did you mean ")[1].split("?")[0].split(" or ")
    assert {"a10", "a100_40gb", "a100_80gb"} <= set(hint)


def test_unknown_name_lists_known_names_and_closest():
    with pytest.raises(HardwareError) as info:
        load_profile("a100_8gb")
    message = str(info.value)
    assert "did you mean a100_80gb" in message
    for stem in ("t4", "rtx4090", "cortex_a76", "h100_sxm"):
        assert stem in message


def test_malformed_yaml_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\nkind: gpu\n")
    with pytest.raises(HardwareError, match="malformed YAML") as info:
        load_profile(str(path))
    assert "broken.yaml" in str(info.value)


def test_missing_required_field_names_file_and_field(tmp_path):
    data = _profile_data()
    del data["memory"]["bandwidth_gbs"]
    with pytest.raises(HardwareError) as info:
        load_profile(str(_write(tmp_path, data)))
    message = str(info.value)
    assert "custom.yaml" in message
    assert "memory.bandwidth_gbs: required field is missing" in message


def test_figure_without_source_names_file_and_field(tmp_path):
    data = _profile_data()
    del data["sources"]["peak.matrix.fp16"]
    with pytest.raises(HardwareError) as info:
        load_profile(str(_write(tmp_path, data)))
    assert "custom.yaml" in str(info.value)
    assert "peak.matrix.fp16" in str(info.value)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["memory"].update(bandwidth_gbs=-1), "memory.bandwidth_gbs: Input should be greater than 0"),
        (lambda d: d["peak"]["matrix"].update(fp64=9.7), "peak.matrix.fp64"),
        (lambda d: d.update(kind="fpga"), "kind: Input should be 'gpu', 'cpu', 'npu' or 'tpu'"),
        (lambda d: d.update(colour="green"), "colour: unknown field"),
        (lambda d: d.update(efficiency={"compute": 1.5}), "efficiency.compute"),
        (lambda d: d["sources"].update({"peak.matrix.fp61": "typo"}), "peak.matrix.fp61"),
        # found by the profile fuzzer (tests/fuzzing.py, seed 4244 case 266): a peak and an efficiency of 1e-300
        # multiplied to a rate of 0 FLOP/s, and the latency model divided by it (ZeroDivisionError)
        (lambda d: d["peak"]["matrix"].update(fp16=1e-300), "peak.matrix.fp16: 1e-300 is below 1e-09"),
        (lambda d: d.update(efficiency={"compute": 1e-300}), "efficiency.compute: 1e-300 is below 1e-06"),
    ],
)
def test_schema_errors_name_the_field(tmp_path, mutate, expected):
    data = _profile_data()
    mutate(data)
    with pytest.raises(HardwareError) as info:
        load_profile(str(_write(tmp_path, data)))
    assert "custom.yaml" in str(info.value)
    assert expected in str(info.value)


def test_peak_tflops_missing_dtype_is_a_clear_error():
    v100 = load_profile("v100")
    assert peak_tflops(v100, "fp16", "matrix") == 125.0
    with pytest.raises(HardwareError, match="has no matrix fp8 peak") as info:
        peak_tflops(v100, "fp8", "matrix")
    assert "V100" in str(info.value) and "matrix fp16" in str(info.value)
    with pytest.raises(HardwareError, match="unknown unit"):
        peak_tflops(v100, "fp16", "tensor")
    with pytest.raises(HardwareError, match="unknown dtype"):
        peak_tflops(v100, "fp64", "vector")


# ------------------------------------------------------------------------------ derived values


def test_ridge_point_a100_80gb():
    a100 = load_profile("a100")
    assert ridge_point(a100, "fp16", "matrix") == pytest.approx(312e12 / 2039e9)  # ~153 FLOP/byte
    assert ridge_point(a100, "fp32", "vector") == pytest.approx(19.5e12 / 2039e9)


def test_profile_summary_rows():
    rows = dict(profile_summary(load_profile("a100")))
    assert rows["name"] == "NVIDIA A100 SXM4 80GB"
    assert rows["peak matrix fp16"] == "312 TFLOP/s"
    assert rows["peak matrix int8"] == "624 TOPS"
    assert rows["bandwidth"] == "2039 GB/s"
    assert rows["ridge point matrix fp16"] == "153.0 FLOP/byte"
    assert rows["efficiency"] == "compute 0.83, memory 0.85"  # set in the file: a measured large GEMM, 258.7 of 312
    # a GPU with gpu.sms and no measured factor (tiles priced apart): the 0.9 default; GDDR6: the 0.80 default
    assert dict(profile_summary(load_profile("a10")))["efficiency"] == "compute 0.9, memory 0.8"
    tpu = dict(profile_summary(load_profile("tpu_v5e")))
    assert tpu["ridge point matrix fp16"].startswith("n/a")
    for profile in list_profiles():
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in profile_summary(profile))


def test_efficiency_defaults_and_overrides(tmp_path):
    assert load_profile("h100").efficiency.memory == 0.85  # HBM
    assert load_profile("a10").efficiency.memory == 0.80  # GDDR
    # the GeForce profiles set their compute factor from published torch.mm measurements of those boards (sources)
    assert load_profile("rtx4090").efficiency.compute == 1.0 and load_profile("rtx4090").efficiency.memory == 0.80
    plain = _profile_data()  # a100_80gb sets measured factors: its efficiency sources go with them
    plain["sources"] = {k: v for k, v in plain["sources"].items() if not k.startswith("efficiency.")}
    data = plain | {"efficiency": {"memory": 0.9, "per_op": {"depthwise": {"compute": 0.3}}}}
    profile = load_profile(str(_write(tmp_path, data)))
    assert efficiency_for(profile, "depthwise") == (0.3, 0.9)
    assert efficiency_for(profile, "gemm") == (0.9, 0.9)  # a GPU with gpu.sms: tile/wave quantization priced apart
    assert ("efficiency depthwise", "compute 0.3") in profile_summary(profile)
    bare = {k: v for k, v in _profile_data().items() if k not in ("gpu", "efficiency")}  # a100_80gb sets 0.83
    bare["sources"] = {k: v for k, v in bare["sources"].items() if not k.startswith(("gpu.", "efficiency."))}
    no_sms = load_profile(str(_write(tmp_path, bare, "no_sms.yaml")))
    assert no_sms.gpu is None and no_sms.efficiency.compute == 0.75  # quantization left inside the factor
    assert load_profile("zen3-vm").efficiency.compute == 0.75  # CPUs: no tile model
    assert load_profile("mi300x").efficiency.compute == 0.75  # set in its file (the 0.9 source is NVIDIA's)
    explicit = load_profile(str(_write(tmp_path, plain | {"efficiency": {"compute": 0.6}}, "explicit.yaml")))
    assert explicit.efficiency.compute == 0.6


# -------------------------------------------------------------------------------- sanity laws


@pytest.mark.parametrize("profile", list_profiles(), ids=lambda p: p.name)
def test_sanity_laws(profile):
    vector, matrix = profile.peak.vector, profile.peak.matrix
    assert profile.memory.bandwidth_gbs > 0 and profile.memory.capacity_gb > 0
    if "fp16" in matrix and "fp32" in vector:
        assert matrix["fp16"] >= vector["fp32"]
    if "fp16" in matrix and "bf16" in matrix:
        assert matrix["bf16"] == matrix["fp16"]
    if "tf32" in matrix and "fp16" in matrix:
        assert matrix["tf32"] <= matrix["fp16"]
    for low in ("fp8", "int8"):
        if low in matrix and "fp16" in matrix:
            assert matrix[low] >= matrix["fp16"]
    assert 0 < profile.efficiency.compute <= 1 and 0 < profile.efficiency.memory <= 1
    if profile.kind == "gpu":
        assert profile.launch_overhead_us == 5.0
        assert "fp32" in vector and matrix
    if profile.kind == "cpu":  # eager per-op dispatch: 1-4 us on fast cores, 7.3 us measured on the 2.45 GHz Zen 3 VM
        assert profile.launch_overhead_us < 20.0


# FP16 tensor rate WITH FP16 ACCUMULATE (the headline) from /work/shared/reference/hardware-specs.md:
# RTX 3090 142, RTX 4090 330.3, RTX 5090 419 TFLOP/s. AMP accumulates in FP32, which runs at half that.
GEFORCE_FP16_ACC_HEADLINE = {"rtx3090": 142.0, "rtx4090": 330.3, "rtx5090": 419.0}


@pytest.mark.parametrize(("stem", "headline"), GEFORCE_FP16_ACC_HEADLINE.items())
def test_geforce_matrix_fp16_is_fp32_accumulate_rate(stem, headline):
    matrix = load_profile(stem).peak.matrix
    assert matrix["fp16"] == pytest.approx(headline / 2, rel=1e-3)
    assert matrix["bf16"] == pytest.approx(headline / 2, rel=1e-3)


# ------------------------------------------------------------------------------------- what-if and template


def test_what_if_changes_exactly_the_figures_asked():
    from costmodel.hardware.whatif import what_if

    base = load_profile("a100")
    changed = what_if(base, dtype="fp16", peak="500", bandwidth="x2", overhead="1.5")
    assert changed.peak.matrix["fp16"] == 500 and changed.peak.matrix["bf16"] == base.peak.matrix["bf16"]
    assert changed.memory.bandwidth_gbs == 2 * base.memory.bandwidth_gbs and changed.launch_overhead_us == 1.5
    assert changed.key == base.key and "what-if" in changed.name
    assert "what-if" in changed.sources["memory.bandwidth_gbs"] and changed.sources["peak.vector.fp32"] == \
        base.sources["peak.vector.fp32"]
    scaled = what_if(load_profile("a10"), dtype="fp32", peak="x3")
    assert scaled.peak.vector["fp32"] == pytest.approx(3 * load_profile("a10").peak.vector["fp32"])
    with pytest.raises(HardwareError, match="--bandwidth expects"):
        what_if(base, dtype="fp32", bandwidth="fast")


def test_what_if_host_overhead_sets_the_host_stream_and_a_cpu_has_none() -> None:
    """--host-overhead: the host's µs per op (a figure of the host CPU and stack, not of the GPU profile)."""
    from costmodel import load_graph
    from costmodel.hardware.whatif import what_if
    from costmodel.latency import estimate

    base = load_profile("v100")
    assert base.host_overhead_us == 15.0  # the shipped default the option replaces
    slow = what_if(base, dtype="fp32", host="45")
    assert slow.host_overhead_us == 45.0 and slow.launch_overhead_us == base.launch_overhead_us
    assert "what-if" in slow.sources["host_overhead_us"] and "host 45" in slow.name
    assert what_if(base, dtype="fp32", host="x3").host_overhead_us == pytest.approx(45.0)
    # batch 1 is host-bound: n ops issued 45 us apart, the device finishing the last one shortly after (by hand)
    result = estimate(load_graph("resnet18", batch=1), slow, dtype="fp32", fusion="none")
    n = result.summary.kernels
    assert n * 45e-6 <= result.summary.latency_s <= n * 45e-6 + max(k.latency_s for k in result.kernels)
    for name in ("epyc_zen3_vm_b", "tpu_v5e"):  # same thread issues and computes / XLA-compiled: no host stream
        with pytest.raises(HardwareError, match="has no host stream"):
            what_if(load_profile(name), dtype="fp32" if name != "tpu_v5e" else "bf16", host="40")
    with pytest.raises(HardwareError, match="--host-overhead expects"):
        what_if(base, dtype="fp32", host="-3")


def test_what_if_on_a_cpu_moves_the_clock_with_the_peak_and_bad_figures_are_one_line() -> None:
    """Found by tests/fuzzing.py fuzz_options: `--peak x2` or `--peak 400` on a CPU profile was a pydantic
    ValidationError (an internal error, exit 1): a CPU's fp32 peak must equal cores x FLOP/cycle x clock. The clock
    now moves with it (x2: 3.23 -> 6.46 GHz), and the latency is what calibration's independent scaled_profile (peaks
    and clock / 0.5) gives. A figure out of range (inf, 1e13 TFLOP/s, 1e-300 GB/s) is a HardwareError naming the
    option, the profile and the field."""
    from costmodel import load_graph
    from costmodel.calibration.fit import scaled_profile
    from costmodel.hardware.whatif import what_if
    from costmodel.latency import estimate

    base = load_profile("epyc_zen3_vm_b")
    doubled = what_if(base, dtype="fp32", peak="x2")
    assert doubled.cpu.clock_ghz == pytest.approx(2 * base.cpu.clock_ghz)
    assert doubled.peak.vector["fp32"] == pytest.approx(2 * base.peak.vector["fp32"])
    set_to = what_if(base, dtype="fp32", peak=str(2 * base.peak.vector["fp32"]))
    assert set_to.cpu.clock_ghz == pytest.approx(2 * base.cpu.clock_ghz)
    graph = load_graph("resnet18")
    assert estimate(graph, doubled).summary.latency_s == pytest.approx(
        estimate(graph, scaled_profile(base, compute=0.5)).summary.latency_s, rel=1e-9)
    for option, value, field in (("peak", "inf", "peak.vector.fp32"), ("peak", "1e13", "peak.vector.fp32"),
                                 ("bandwidth", "x1e-300", "memory.bandwidth_gbs"),
                                 ("overhead", "1e400", "launch_overhead_us")):
        with pytest.raises(HardwareError, match=f"^--{option} {value} on epyc_zen3_vm_b: {field}: "):
            what_if(base, dtype="fp32", **{option: value})


def test_new_profile_template_loads_once_filled(tmp_path):
    from costmodel.hardware.whatif import profile_template

    text = profile_template("mygpu")
    bad = tmp_path / "mygpu.yaml"
    bad.write_text(text)
    with pytest.raises(HardwareError, match="peak.vector.fp32"):
        load_profile_file(bad)
    filled = (text.replace("fp32: 0 ", "fp32: 20 ").replace("fp16: 0 ", "fp16: 150 ")
              .replace("type: TODO", "type: GDDR6").replace("bandwidth_gbs: 0", "bandwidth_gbs: 900")
              .replace("capacity_gb: 0", "capacity_gb: 24"))
    good = tmp_path / "good.yaml"
    good.write_text(filled)
    profile = load_profile_file(good)
    assert profile.peak.matrix["fp16"] == 150 and profile.memory.bandwidth_gbs == 900 and profile.key == "good"
@pytest.mark.parametrize("name", ["x\npeak: 5", "x: y # z", "", "a b/c", ".x", "x" * 65, "é"])
def test_hw_new_takes_a_profile_key_only(tmp_path, monkeypatch, name: str) -> None:
    """NAME was written into the template's YAML and comments as it was: a newline put a 'peak: 5.yaml, ...' line in
    the YAML, 'x: y # z' made it invalid, '' wrote '.yaml', 'a b/c' a folder 'a b' (found by hand). Now one line,
    exit 2, nothing written; a key of letters, digits, '_', '-', '.' is written and its template parses."""
    from typer.testing import CliRunner

    from costmodel.cli import app

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["hw", "new", name])
    assert result.exit_code == 2 and result.output.startswith("error: hw new ") and result.output.count("\n") == 1, \
        result.output
    assert list(tmp_path.iterdir()) == []
    result = runner.invoke(app, ["hw", "new", "my-box_2.v1"])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load((tmp_path / "my-box_2.v1.yaml").read_text())
    assert data["name"] == "my-box_2.v1" and "peak" in data


def test_hw_list_warns_of_a_profile_file_it_leaves_out(tmp_path, monkeypatch) -> None:
    """A file on COSTMODEL_HW_PATH that does not load was left out of `hw list` without a word (its author saw no
    profile and no reason); now a warning line on stderr names it and the problem, the others are listed."""
    from typer.testing import CliRunner

    from costmodel.cli import app

    (tmp_path / "mybox.yaml").write_text("name: [unclosed\n")
    monkeypatch.setenv("COSTMODEL_HW_PATH", str(tmp_path))
    result = CliRunner().invoke(app, ["hw", "list"])
    assert result.exit_code == 0, result.output
    assert "a100_80gb" in result.stdout and "mybox" not in result.stdout
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"warning: left out: hardware profile {tmp_path / 'mybox.yaml'}: malformed YAML"), line


def test_threaded_scales_a_cpu_profile_by_the_cores_it_uses() -> None:
    from costmodel.hardware import threaded

    base = load_profile("epyc_zen5_vm")  # 2 cores x 32 FLOP/cycle x 3.0 GHz = 192 GFLOP/s, 24.1 GB/s per core
    one, two, many = (threaded(base, n) for n in (1, 2, 8))
    assert one.peak.vector["fp32"] == pytest.approx(0.096) and one.memory.bandwidth_gbs == pytest.approx(24.1)
    assert one.launch_overhead_us == two.launch_overhead_us == base.launch_overhead_us  # fork/join: per kernel
    assert (one.cpu.cores, one.cpu.threads, two.cpu.cores, two.cpu.threads) == (1, 1, 2, 2)
    assert two.peak.vector["fp32"] == pytest.approx(0.192) and two.memory.bandwidth_gbs == pytest.approx(48.2)
    assert many.peak.vector["fp32"] == pytest.approx(0.192)  # only 2 cores to run on
    assert threaded(two) == two and threaded(two).key == "epyc_zen5_vm"  # applying it again changes nothing
    assert threaded(load_profile("rtx4090")) == load_profile("rtx4090")  # not a CPU profile: unchanged (no --threads)


def test_threaded_counts_smt_siblings_by_their_yield() -> None:
    from costmodel.hardware import HardwareProfile, smt_capacity, threaded

    data = yaml.safe_load((SHIPPED_DIR / "epyc_zen3_vm_b.yaml").read_text())  # 2 cores, 32 FLOP/cycle
    # as if they were one core's 2 SMT threads, at 2.45 GHz: 78.4 GFLOP/s
    data["cpu"].update(cores=1, threads_per_core=2, smt_yield=0.5, clock_ghz=2.45)
    data["peak"]["vector"]["fp32"], data["memory"]["bandwidth_gbs"] = 0.0784, 17.9
    half = HardwareProfile.model_validate(data)
    one, two, four = (threaded(half, n) for n in (1, 2, 4))
    assert one.peak.vector["fp32"] == pytest.approx(0.0784)
    assert two.peak.vector["fp32"] == pytest.approx(0.0784 * 1.5)  # the sibling adds half a core's FMA rate
    assert four.peak.vector["fp32"] == pytest.approx(0.0784 * 1.5)  # 4 threads on 2 hardware threads: time-shared
    assert one.memory.bandwidth_gbs == two.memory.bandwidth_gbs == pytest.approx(17.9)  # siblings share the misses
    assert threaded(two) == two and smt_capacity(two.cpu) == pytest.approx(1.5)
    # a profile as run on 2 SMT threads is a valid profile (calibrate writes one) and stays as it is when loaded
    again = HardwareProfile.model_validate(two.model_dump())
    assert threaded(again).peak.vector["fp32"] == pytest.approx(0.0784 * 1.5)
    # without SMT (threads_per_core 1) nothing changes: 2 cores are 2 cores
    plain = load_profile("epyc_zen5_vm")
    assert smt_capacity(plain.cpu, 1) == 1 and smt_capacity(plain.cpu, 2) == smt_capacity(plain.cpu, 8) == 2


ZEN3_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx fma avx2 hypervisor

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
flags\t\t: fpu sse2 avx fma avx2 hypervisor
"""


def test_this_cpu_is_the_profile_that_detects_the_machine(monkeypatch) -> None:
    from costmodel.hardware import profile as P

    host = P.host_cpu(ZEN3_CPUINFO)
    assert host is not None and (host.vendor, host.family, host.model, host.logical_cpus) == ("AuthenticAMD", 25, 1, 2)
    assert P.detect_profile(host).key == "epyc_zen3_vm_b"
    zen5 = ZEN3_CPUINFO.replace("model\t\t: 1", "model\t\t: 2").replace("family\t: 25", "family\t: 26")
    assert P.detect_profile(P.host_cpu(zen5.replace("avx2", "avx2 avx512f"))).key == "epyc_zen5_vm"
    # the same CPU with 4 logical CPUs, or without AVX2, is not the VM the profile was measured on
    for other in (ZEN3_CPUINFO + ZEN3_CPUINFO.replace(": 0", ": 2").replace(": 1\nvendor", ": 3\nvendor"),
                  ZEN3_CPUINFO.replace(" avx2", "")):
        with pytest.raises(HardwareError, match="no profile describes this machine's CPU"):
            P.detect_profile(P.host_cpu(other))
    assert P.host_cpu("Hardware: BCM2835\n") is None  # not an x86 /proc/cpuinfo
    other = P.host_cpu(ZEN3_CPUINFO.replace("25", "23"))
    monkeypatch.setattr(P, "host_cpu", lambda cpuinfo=None: other)
    with pytest.raises(HardwareError, match="this-cpu: no profile.*family 23 model 1"):
        load_profile("this-cpu")
    monkeypatch.setattr(P, "host_cpu", lambda cpuinfo=None: host)
    assert load_profile("This_CPU").key == "epyc_zen3_vm_b"


XEON6_CPUINFO = Path(__file__).resolve().parent / "fixtures" / "cpuinfo_xeon6_vm.txt"  # session 26's VM, recorded


def test_this_cpu_on_the_xeon6_vm_is_its_profile_and_the_amd_vms_keep_theirs(monkeypatch) -> None:
    """/proc/cpuinfo of session 26's VM (GenuineIntel family 6 model 167, 2 vCPUs, AVX-512 and AMX) detects
    xeon6_gnr_vm, through load_profile("this-cpu") as the CLI resolves it; the same CPU without AMX, or with 4
    vCPUs, is not the machine the profile was measured on; the Zen 3 and Zen 5 VMs still detect their own."""
    from costmodel.hardware import profile as P

    text = XEON6_CPUINFO.read_text()
    host = P.host_cpu(text)
    assert host is not None and (host.vendor, host.family, host.model, host.logical_cpus) == ("GenuineIntel", 6, 167, 2)
    assert P.detect_profile(host).key == "xeon6_gnr_vm"
    for other in (text.replace(" amx_tile", ""), text + "\n" + text.replace("processor\t: 0", "processor\t: 2")
                  .replace("processor\t: 1", "processor\t: 3")):
        with pytest.raises(HardwareError, match="no profile describes this machine's CPU"):
            P.detect_profile(P.host_cpu(other))
    assert P.detect_profile(P.host_cpu(ZEN3_CPUINFO)).key == "epyc_zen3_vm_b"
    zen5 = ZEN3_CPUINFO.replace("model\t\t: 1", "model\t\t: 2").replace("family\t: 25", "family\t: 26")
    assert P.detect_profile(P.host_cpu(zen5.replace("avx2", "avx2 avx512f"))).key == "epyc_zen5_vm"
    monkeypatch.setattr(P, "host_cpu", lambda cpuinfo=None: host)
    assert load_profile("this-cpu").key == "xeon6_gnr_vm"


def test_xeon6_profile_peak_is_cores_times_flop_per_cycle_times_clock() -> None:
    """Two Granite Rapids cores, two 512-bit FMA pipes each (16 fp32 lanes x 2 FLOP x 2 pipes = 64 FLOP/cycle), at the
    3.6 GHz measured under 512-bit FMA load: 2 x 64 x 3.6 GHz = 460.8 GFLOP/s; one thread gets one core's 230.4."""
    from costmodel.hardware import threaded

    profile = load_profile("xeon6_gnr_vm")
    assert profile.cpu is not None and profile.cpu.isa == "AVX-512" and profile.cpu.cores == 2
    assert profile.peak.vector["fp32"] == pytest.approx(2 * (2 * 16 * 2) * 3.6e9 / 1e12)
    one = threaded(profile, 1)
    assert one.peak.vector["fp32"] == pytest.approx(0.2304)
    assert one.memory.bandwidth_gbs == pytest.approx(12.0)  # one core's stream


def test_cpu_peak_must_match_cores_isa_and_clock(tmp_path) -> None:
    text = (SHIPPED_DIR / "epyc_zen5_vm.yaml").read_text().replace("fp32: 0.192", "fp32: 0.3")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(HardwareError, match="disagrees with cpu"):
        load_profile(str(bad))


# ---------------------------------------------------------------------------------------- CPU profiles and --threads

# Per shipped CPU profile, from the vendor sheets by hand (docs/hardware-profiles.md, "CPU profiles"): physical cores
# priced, fp32 FLOP/cycle per core of the ISA (AVX-512 with 2 FMA units 64; AVX2 with 2 x 256-bit FMA, and Zen 4's
# double-pumped AVX-512, 32; NEON with 2 x 128-bit FMA 16), the sustained clock in GHz, and the fp32 peak in TFLOP/s
CPU_SHEETS = {
    "i9_10940x": (14, 64, 3.0, 2.688), "i7_12700h": (6, 32, 3.0, 0.576), "epyc_9654": (96, 32, 3.55, 10.9056),
    "cortex_a76": (4, 16, 2.4, 0.1536), "pixel4": (4, 16, 2.42, 0.15488), "epyc_zen3_vm_1t": (1, 32, 2.445, 0.0782),
    "epyc_zen3_vm_b": (2, 32, 3.23, 0.2067), "epyc_zen5_vm": (2, 32, 3.0, 0.192), "xeon6_gnr_vm": (2, 64, 3.6, 0.4608),
}
ROOFLINE_CPU = Path(__file__).resolve().parent / "fixtures" / "epyc_9654_roofline.yaml"  # a CPU profile without cpu:


def test_every_shipped_cpu_profile_has_a_cpu_section_matching_its_sheet() -> None:
    """--threads is never ignored on a shipped profile: every CPU one carries a cpu section, whose cores x FLOP/cycle
    x clock is its fp32 peak (the loader checks that too) and whose figures are the vendor sheet's."""
    cpus = {p.stem for p in SHIPPED_DIR.glob("*.yaml") if yaml.safe_load(p.read_text())["kind"] == "cpu"}
    assert cpus == set(CPU_SHEETS)
    for stem, (cores, flop, clock, peak) in CPU_SHEETS.items():
        profile = load_profile(stem)
        cpu = profile.cpu
        assert cpu is not None, stem
        assert (cpu.cores, cpu.flop_per_cycle_fp32, cpu.clock_ghz) == (cores, flop, clock), stem
        assert profile.peak.vector["fp32"] == pytest.approx(peak, rel=1e-3), stem
        assert cores * flop * clock / 1000 == pytest.approx(peak, rel=2e-3), stem
        assert cpu.bandwidth_per_core_gbs <= profile.memory.bandwidth_gbs, stem
        assert profile.launch_overhead_us >= 2.0, stem  # the ~1 us assumed until then is below every measured CPU


def test_one_thread_on_a_14_core_profile_is_priced_at_one_core() -> None:
    """The lead's case: `--hw i9_10940x --threads 1` priced all 14 cores. By hand: one core is 64 FLOP/cycle x 3.0 GHz
    = 192 GFLOP/s and streams 12.8 GB/s; a 3x3 conv of 64 -> 64 channels on 32 x 32 (75,497,472 FLOPs of MACs and
    65,536 bias adds) runs at 0.75 of that peak, plus the launch (7.3 us), the conv class's dispatch (7.2 us) and
    oneDNN's per-call copy of its 147,712 weight bytes at 0.8 of 12.8 GB/s; on 14 threads the work splits 14 ways,
    the copy streams at 0.8 of the chip's 94 GB/s (14 x 12.8 is more) and the call pays a fork/join (7.6 us)."""
    from costmodel.graph import build_graph
    from costmodel.hardware import threaded
    from costmodel.latency import estimate
    from costmodel.spec import parse_spec

    base = load_profile("i9_10940x")
    one = threaded(base, 1)
    assert one.peak.vector["fp32"] == pytest.approx(0.192) and one.memory.bandwidth_gbs == pytest.approx(12.8)
    assert threaded(base, 28).peak.vector["fp32"] == pytest.approx(2.688)  # 28 threads: 14 cores, siblings add 0
    graph = build_graph(parse_spec({"name": "t", "inputs": {"x": [64, 32, 32]},
                                    "nodes": [{"name": "c", "op": "conv2d", "out": 64, "kernel": 3, "padding": 1}]}),
                        batch=1)
    flops = 2 * 64 * 64 * 9 * 32 * 32 + 64 * 32 * 32
    work = flops / (192e9 * 0.75)
    calls = (7.3 + 7.2) * 1e-6
    assert estimate(graph, base, dtype="fp32", threads=1).summary.latency_s == pytest.approx(
        calls + 147_712 / (12.8e9 * 0.8) + work, rel=1e-9)
    assert estimate(graph, base, dtype="fp32").summary.latency_s == pytest.approx(
        calls + 7.6e-6 + 147_712 / (94e9 * 0.8) + work / 14, rel=1e-9)


def test_threads_on_a_cpu_profile_without_a_cpu_section_is_one_error_line(tmp_path: Path) -> None:
    """A user's bare roofline CPU profile prices every core whatever the thread count: with --threads (CLI) or
    threads= (API) that is one error line naming the fields a cpu section needs, exit 2; without, it runs."""
    from typer.testing import CliRunner

    from costmodel import load_graph
    from costmodel.cli import app
    from costmodel.hardware import threaded
    from costmodel.latency import estimate

    bare = load_profile(str(ROOFLINE_CPU))
    assert bare.cpu is None and threaded(bare) is bare
    needed = "cpu.cores, cpu.isa, cpu.flop_per_cycle_fp32, cpu.clock_ghz, cpu.bandwidth_per_core_gbs"
    with pytest.raises(HardwareError, match=f"--threads 1 on epyc_9654_roofline: .*{needed}"):
        estimate(load_graph("resnet18"), bare, dtype="fp32", threads=1)
    assert threaded(load_profile("rtx4090")) == load_profile("rtx4090")  # a GPU without --threads: as it is
    spec = str(Path(__file__).resolve().parents[1] / "arch_specs" / "resnet18.yaml")
    runner = CliRunner()
    result = runner.invoke(app, ["analyze", spec, "--hw", str(ROOFLINE_CPU), "--threads", "1"])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith(f"error: {ROOFLINE_CPU}: --threads 1 on epyc_9654_roofline") and needed in lines[0]
    assert runner.invoke(app, ["analyze", spec, "--hw", str(ROOFLINE_CPU)]).exit_code == 0
    assert runner.invoke(app, ["analyze", spec, "--hw", "i9_10940x", "--threads", "1"]).exit_code == 0


def test_threads_on_a_gpu_profile_is_one_error_line_and_a_warning_beside_a_cpu_one() -> None:
    """`analyze --hw a100 --threads 4` priced the GPU as it is and said nothing (as validate and calibrate did): the
    user believed the thread count was used. Alone it is one error line naming the profile, exit 2; beside a CPU
    profile the CPU one takes the threads and a warning says the GPU runs as it is."""
    import json

    from typer.testing import CliRunner

    from costmodel.cli import app
    from costmodel.hardware import threaded

    gpu = load_profile("a100")
    with pytest.raises(HardwareError, match="--threads 4 on a100_80gb: a GPU profile has no thread count to set"):
        threaded(gpu, 4)
    runner = CliRunner()
    result = runner.invoke(app, ["analyze", "resnet18", "--hw", "a100", "--threads", "4"])
    assert result.exit_code == 2 and result.stdout == "", result.output
    assert result.stderr == (f"error: {gpu.source}: --threads 4 on a100_80gb: a GPU profile has no thread count to "
                             "set (--threads prices a CPU profile's run); leave --threads out\n")
    fixture = Path(__file__).parent / "fixtures" / "cpu_bench_epyc_zen3_vm_b_1t.csv"
    result = runner.invoke(app, ["validate", str(fixture), "--hw", "a100", "--threads", "2"])
    assert result.exit_code == 2 and "--threads 2 on a100_80gb" in result.stderr, result.output
    result = runner.invoke(app, ["analyze", "resnet18", "--hw", "a100", "--hw", "epyc_zen3_vm_b", "--threads", "1",
                                 "-f", "json"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ("warning: --threads 1 sets the thread count of the CPU profiles only (a100_80gb: as "
                             "they are)\n")
    both = json.loads(result.stdout)["latency"]
    one = runner.invoke(app, ["analyze", "resnet18", "--hw", "epyc_zen3_vm_b", "--threads", "1", "-f", "json"])
    alone = runner.invoke(app, ["analyze", "resnet18", "--hw", "a100", "-f", "json"])
    assert both == {**json.loads(alone.stdout)["latency"], **json.loads(one.stdout)["latency"]}


def test_the_cpu_profiles_table_holds_the_profiles_figures() -> None:
    """docs/hardware-profiles.md, "CPU profiles": each row's cores priced and fp32 peak are the profile's (a profile
    changed without its table row fails here)."""
    import re

    doc = (Path(__file__).resolve().parents[1] / "docs" / "hardware-profiles.md").read_text()
    section = doc[doc.index("## CPU profiles"):doc.index("## Every figure")]
    rows = re.findall(r"^\| `(\w+)`[^|]*\| (\d+)[^|]*\|[^|]*\|[^|]*\| ([\d.]+) \|", section, re.M)
    assert {stem for stem, _, _ in rows} == set(CPU_SHEETS) - {"epyc_zen3_vm_b", "epyc_zen5_vm"}  # one row, two
    for stem, cores, peak in rows:
        profile = load_profile(stem)
        assert int(cores) == profile.cpu.cores and float(peak) == pytest.approx(profile.peak.vector["fp32"]), stem


@pytest.mark.parametrize(("field", "value"), [("cores", "1" + "0" * 400), ("cores", "'" + "9" * 400 + "'"),
                                              ("threads", "1" + "0" * 400)])
def test_a_cpu_count_beyond_any_machine_is_one_error_line(tmp_path: Path, field: str, value: str) -> None:
    """cores: 10**400 in a profile raised OverflowError (int too large to convert to float) while the profile was
    checked (found by the profile fuzzer, seed 17185): now a bound, like a GPU's SM count, and one error line."""
    text = (SHIPPED_DIR / "pixel4.yaml").read_text(encoding="utf-8")
    old = {"cores": "cores: 4,", "threads": "threads: 4,"}[field]
    assert old in text
    path = tmp_path / "huge.yaml"
    path.write_text(text.replace(old, f"{field}: {value},", 1), encoding="utf-8")
    with pytest.raises(HardwareError, match=rf"huge\.yaml.*cpu\.{field}") as info:
        load_profile(str(path))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("threads", ["1" + "0" * 400, "1000001"])
def test_threads_beyond_any_machine_are_one_error_line(tmp_path: Path, threads: str) -> None:
    """`analyze --hw CPU --threads 10**400` overflowed a float (OverflowError, exit 1; found by hand after the profile
    fuzzer's cores: 10**400); calibrate --threads 2000000 would write a profile its own bound refuses."""
    from typer.testing import CliRunner

    from costmodel.cli import app

    runner = CliRunner()
    shown = threads if len(threads) < 30 else "1" + "0" * 23 + f"... ({len(threads)} chars)"
    message = f"error: --threads {shown}: expected a whole number from 1 to 1,000,000"
    result = runner.invoke(app, ["analyze", "resnet18", "--hw", "epyc_zen3_vm_b", "--threads", threads])
    assert result.exit_code == 2 and result.output.strip() == message, result.output
    out = tmp_path / "fit.yaml"
    fixture = Path(__file__).parent / "fixtures" / "cpu_bench_epyc_zen3_vm_b_1t.csv"
    result = runner.invoke(app, ["calibrate", str(fixture), "--hw", "epyc_zen3_vm_b", "--threads", threads,
                                 "-o", str(out)])
    assert result.exit_code == 2 and result.output.strip().endswith(message[len("error: "):]), result.output
    assert not out.exists()
