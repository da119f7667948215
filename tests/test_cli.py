"""The command line: formats, output files, and one clear error line (exit 2) for each kind of bad input."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from costmodel.cli import app
from costmodel.cli.common import parse_batches, user_errors
from costmodel.errors import HardwareError, PlotError, ReportError

from .golden_cases import SMALL

ROOT = Path(__file__).resolve().parents[1]
CONVNEXT = str(ROOT / "arch_specs/convnext_t.yaml")
runner = CliRunner()

GOOD = SMALL  # the golden cases' small spec (hand-checked counts in tests/golden_cases.py)


def test_analyze_table_prints_totals() -> None:
    result = runner.invoke(app, ["analyze", CONVNEXT])
    assert result.exit_code == 0, result.output
    assert "params 28.59M" in result.output and "MACs 4.47G" in result.output
    assert "stages.2.blocks.4.dwconv" not in result.output  # the default view: stages
    assert any(line.startswith("stages.2 ") for line in result.output.splitlines())
    result = runner.invoke(app, ["analyze", CONVNEXT, "--depth", "all"])
    assert "stages.2.blocks.4.dwconv" in result.output


def test_json_and_csv_hold_raw_numbers(write_spec, tmp_path: Path) -> None:
    spec = write_spec(GOOD)
    out = tmp_path / "out" / "a.json"
    result = runner.invoke(app, ["analyze", str(spec), "--format", "json", "--output", str(out), "--batch", "2"])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["batch"] == 2 and data["totals"]["params"] == 8 * 27 + 8 + 8 * 10 + 10
    assert all(isinstance(v, int) for v in data["totals"].values() if not isinstance(v, str))
    assert sum(layer["macs"] for layer in data["layers"]) == data["totals"]["macs"]
    result = runner.invoke(app, ["analyze", str(spec), "-f", "csv"])
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["path"] for r in rows] == ["conv", "act", "pool", "fc"]
    assert rows[0]["output_shape"] == "1x8x32x32" and rows[0]["macs"] == str(8 * 32 * 32 * 27)


def test_markdown_and_depth() -> None:
    result = runner.invoke(app, ["analyze", CONVNEXT, "-f", "markdown", "--depth", "1"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("| stages")]
    assert len(lines) == 1 and "28.59M" in result.output


def test_schema_and_ops_commands() -> None:
    schema = json.loads(runner.invoke(app, ["schema"]).output)
    assert {"name", "inputs", "nodes", "blocks"} <= set(schema["properties"])
    listing = runner.invoke(app, ["ops"]).output
    assert "conv2d" in listing and "attention" in listing


BAD = {
    "malformed_yaml": ("name: x\nnodes: [\n", "malformed YAML at line", None),
    "unknown_op": (GOOD.replace("op: relu", "op: rleu"), "unknown op 'rleu'; did you mean 'relu'?", "act"),
    "unknown_field": (GOOD.replace("kernel: 3", "kernal: 3"), "did you mean 'kernel'", "conv"),
    "unknown_top_field": (GOOD + "colour: red\n", "colour': unknown field", None),
    "missing_input": (GOOD.replace("op: relu}", "op: relu, inputs: conf}"), "unknown input 'conf'", "act"),
    "cyclic_input": (GOOD.replace("op: relu}", "op: relu, inputs: fc}"), "later one", "act"),
    "self_input": (GOOD.replace("op: relu}", "op: relu, inputs: act}"), "this node or a later", "act"),
    "channel_mismatch": (GOOD.replace("  - {name: act, op: relu}",
                                      "  - {name: act, op: conv2d, out: 4, kernel: 1, groups: 3}"),
                         "not divisible by groups", "act"),
    "add_unequal": (GOOD.replace("op: relu}", "op: add, inputs: [image, conv]}"), "shape", "act"),
    "concat_mismatch": (GOOD.replace("op: relu}", "op: concat, inputs: [image, conv], dim: 2}"), "concat", "act"),
    "bad_expression": (GOOD.replace("out: 10", "out: '10 +* 2'"), "cannot parse expression", "fc"),
    "unknown_variable": (GOOD.replace("out: 10", "out: classes"), "not a known variable", "fc"),
    "zero_size": (GOOD.replace("out: 8", "out: 0"), "greater than 0", "conv"),
    "negative_input": (GOOD.replace("[3, 32, 32]", "[3, -32, 32]"), "positive integers", "inputs"),
    "kernel_too_large": (GOOD.replace("kernel: 3, padding: 1", "kernel: 40"), "padded input is 32", "conv"),
    "missing_block_param": (GOOD.replace("nodes:\n", "blocks: {b: {params: {w: null}, nodes: [{op: relu}]}}\n"
                                         "nodes:\n  - {name: blk, block: b}\n", 1), "needs parameter 'w'", "blk"),
    "no_nodes": ("name: x\ninputs: {image: [3, 8, 8]}\nnodes: []\n", "at least 1 item", None),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_clear_line(case: str, write_spec, tmp_path: Path) -> None:
    text, message, node_path = BAD[case]
    spec = write_spec(text, f"{case}.yaml")
    out = tmp_path / "never.json"
    result = runner.invoke(app, ["analyze", str(spec), "-f", "json", "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    error_lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, result.output
    line = error_lines[0]
    assert f"{case}.yaml" in line and message in line, line
    if node_path:
        assert f": {node_path}:" in line, line
    assert not out.exists()


def test_bad_options(write_spec) -> None:
    spec = str(write_spec(GOOD))
    for args, message in ((["-f", "xml"], "unknown --format"), (["--dtype", "fp64"], "unknown --dtype"),
                          (["--input", "image"], "--input expects"), (["--input", "label=3,4"], "no input named")):
        result = runner.invoke(app, ["analyze", spec, *args])
        assert result.exit_code == 2 and message in result.output, (args, result.output)
    result = runner.invoke(app, ["analyze", "does/not/exist.yaml"])
    assert result.exit_code == 2 and "cannot read spec" in result.output


@pytest.mark.parametrize(("output", "message"), [("", "cannot write the table to .: it is a folder"),
                                               ("blocker/x.json", "cannot write the table to {tmp}/blocker/x.json: "
                                                                  "{tmp}/blocker is not a writable folder")])
def test_an_unwritable_output_is_refused_before_the_spec_is_read(write_spec, tmp_path: Path, monkeypatch,
                                                                  output: str, message: str) -> None:
    """analyze -o '' (the current folder) or a path under a file: one line, before any work (it was found only when
    writing, after the analysis, with the OS's words: 'Device or resource busy', 'Not a directory')."""
    from costmodel.cli import analyze as command

    def no_work(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the spec was read")

    monkeypatch.setattr(command, "load_graph", no_work)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "blocker").write_text("x")
    spec = str(write_spec(GOOD))
    result = runner.invoke(app, ["analyze", spec, "-o", output and str(tmp_path / output)])
    assert result.exit_code == 2 and result.output.strip() == "error: " + message.format(tmp=tmp_path), result.output


def test_an_empty_hw_name_suggests_nothing(write_spec) -> None:
    """`--hw ''` listed every profile as 'did you mean' (each key starts with the empty name)."""
    result = runner.invoke(app, ["analyze", str(write_spec(GOOD)), "--hw", ""])
    assert result.exit_code == 2 and "did you mean" not in result.output
    assert result.output.startswith("error: unknown hardware profile ''. Known profiles: a10, ")


def test_entry_point_exits_2_without_traceback(write_spec) -> None:
    import subprocess
    import sys

    spec = write_spec(GOOD.replace("op: relu", "op: rleu"))
    proc = subprocess.run([sys.executable, "-m", "costmodel.cli", "analyze", str(spec)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr and proc.stdout == ""


def test_written_output_has_the_permissions_of_a_plain_open(write_spec, tmp_path: Path) -> None:
    """write_output goes through a temporary file (0600 from mkstemp) but leaves 0o666 & ~umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    out = tmp_path / "a.json"
    result = runner.invoke(app, ["analyze", str(write_spec(GOOD)), "-f", "json", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "spec.yaml"]  # no temporary file left


def test_a_replaced_output_keeps_its_permissions_as_after_a_plain_open(write_spec, tmp_path: Path) -> None:
    """-o onto an existing 0600 file left it 0644 (the temporary file got 0o666 & ~umask), readable by everyone; a
    plain open(path, 'w') keeps the file's mode, and so does the replacement now."""
    out, twin = tmp_path / "a.json", tmp_path / "twin.json"
    for path in (out, twin):
        path.write_text("private")
        path.chmod(0o600)
    with open(twin, "w") as handle:  # what a plain open() leaves
        handle.write("{}")
    result = runner.invoke(app, ["analyze", str(write_spec(GOOD)), "-f", "json", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == stat.S_IMODE(twin.stat().st_mode) == 0o600


def test_a_read_only_output_is_refused_before_any_work(write_spec, tmp_path: Path, monkeypatch) -> None:
    """A rename replaces a file its user may not write (the folder is writable): -o onto a read-only file now fails
    as a shell's '>' does, one line, the file untouched (simulated: the tests run as root, who may write anything)."""
    out = tmp_path / "a.json"
    out.write_text("keep me")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if Path(path) == out and mode == os.W_OK
                        else real_access(path, mode, **kw))
    result = runner.invoke(app, ["analyze", str(write_spec(GOOD)), "-f", "json", "-o", str(out)])
    assert result.exit_code == 2 and result.output.strip().startswith("error: ")
    assert "read-only" in result.output and str(out) in result.output and len(result.output.splitlines()) == 1
    assert out.read_text() == "keep me"


def test_a_failed_write_removes_the_folders_it_created(write_spec, tmp_path: Path, monkeypatch) -> None:
    """-o into folders that do not exist yet: when the write fails (here the disk is full) the error is one line and
    the folders it created are gone; folders that existed before, and what is in them, stay."""
    import errno

    from costmodel import fileio

    def full(target: Path) -> tuple[int, Path]:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fileio, "temp_beside", full)
    spec = write_spec(GOOD)
    (tmp_path / "kept").mkdir()
    out = tmp_path / "kept" / "new" / "deeper" / "a.json"
    result = runner.invoke(app, ["analyze", str(spec), "-f", "json", "-o", str(out)])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: cannot write {out}: No space left on device"
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["kept", "spec.yaml"]


def test_output_to_a_fifo_is_written_into_it_not_replaced(write_spec, tmp_path: Path) -> None:
    """-o naming a FIFO (or a device: /dev/null, /dev/stdout) writes into it, as a shell's '>' does; it was replaced by
    a regular file (the temporary file renamed onto it): as root, `-o /dev/null` put a regular file in /dev's place."""
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # so that the write's open() does not wait for a reader
    try:
        result = runner.invoke(app, ["analyze", str(write_spec(GOOD)), "-f", "json", "-o", str(fifo)])
        assert result.exit_code == 0, result.output
        assert stat.S_ISFIFO(fifo.lstat().st_mode)
        data = b""
        while chunk := os.read(reader, 1 << 16):
            data += chunk
    finally:
        os.close(reader)
    assert json.loads(data)["model"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "spec.yaml"]  # no temporary file


def test_output_to_a_symbolic_link_replaces_the_file_it_points_to(write_spec, tmp_path: Path) -> None:
    """The link stays a link and the file it names gets the output (the link itself was replaced by a new file, the
    file it pointed to left stale); a link to a file not there yet creates that file."""
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "a.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    dangling = tmp_path / "new.json"
    dangling.symlink_to(tmp_path / "real" / "b.json")
    for out in (link, dangling):
        result = runner.invoke(app, ["analyze", str(write_spec(GOOD)), "-f", "json", "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert out.is_symlink() and json.loads(out.read_text())["model"]
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["a.json", "b.json"]


@pytest.mark.parametrize("name", ["a" * 250 + ".json", "é" * 122 + ".json"])  # 255 and 249 bytes: legal names
def test_output_to_a_long_file_name_is_written(write_spec, tmp_path: Path, name: str) -> None:
    """The temporary file beside the output keeps a short piece of its name: a 250-character name, whose temporary
    file was '.NAME.' + 8 characters, over the file system's 255 bytes, failed (and left its folder behind)."""
    out = tmp_path / "new" / name
    result = runner.invoke(app, ["analyze", str(write_spec(GOOD)), "-f", "json", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["model"]
    assert [p.name for p in out.parent.iterdir()] == [name]


@pytest.mark.parametrize("error", [PlotError("cannot write x/fig.png: Permission denied"),
                                   ReportError("cannot write the report to r: it is a file, not a folder"),
                                   HardwareError("unknown hardware profile 'x'")])
def test_user_errors_turn_plot_report_and_hardware_errors_into_exit_2(error: Exception, capsys) -> None:
    @user_errors
    def command() -> None:
        raise error

    with pytest.raises(typer.Exit) as caught:
        command()
    assert caught.value.exit_code == 2
    assert capsys.readouterr().err == f"error: {error}\n"


def test_parse_batches_names_the_option_it_reads(capsys) -> None:
    assert parse_batches("1, 8,64") == [1, 8, 64]
    with pytest.raises(typer.Exit):
        parse_batches("0,8", "--batches")
    assert capsys.readouterr().err == \
        "error: --batches expects positive batch sizes separated by commas (e.g. 1,8,64,256), got '0,8'\n"
    with pytest.raises(typer.Exit):
        parse_batches("1,x")
    assert capsys.readouterr().err.startswith("error: --sweep-batch expects positive batch sizes")


def test_command_modules_name_every_module_that_registers_a_command() -> None:
    """``main`` imports only the modules of the command it runs (COMMAND_MODULES): every command and group of the
    full app is listed, with exactly the modules whose functions it runs."""
    from costmodel.cli import COMMAND_MODULES, MODULES, app, modules_for

    found: dict[str, set[str]] = {}
    for info in app.registered_commands:
        assert info.callback is not None
        found.setdefault(info.name or info.callback.__name__, set()).add(info.callback.__module__)
    for group in app.registered_groups:
        sub = group.typer_instance
        assert group.name is not None and sub is not None
        callbacks = [c.callback for c in sub.registered_commands]
        if sub.registered_callback is not None:
            callbacks.append(sub.registered_callback.callback)
        found[group.name] = {cb.__module__ for cb in callbacks if cb is not None}
    assert found == {name: {f"costmodel.cli.{m}" for m in mods} for name, mods in COMMAND_MODULES.items()}
    assert modules_for(["plot", "sweep", "x.csv"]) == ("plots", "sweep")
    assert modules_for(["--help"]) == modules_for([]) == modules_for(["analyse"]) == MODULES  # click lists them


def test_plain_analyze_imports_neither_the_latency_model_nor_numpy() -> None:
    """A count without --hw runs without the latency model, the hardware profiles, numpy or networkx (start-up
    time: benchmarks/bench_core.py); with --hw they are imported where used."""
    code = ("import atexit, sys; atexit.register(lambda: print(','.join(m for m in ('numpy', 'networkx', "
            "'costmodel.latency', 'costmodel.hardware', 'costmodel.cli.design') if m in sys.modules), "
            "file=sys.stderr)); sys.argv = ['costmodel', 'analyze', 'convnext_t', '--format', 'json']; "
            "from costmodel.cli import main; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout)["totals"]["macs"] > 0
    assert proc.stderr.strip() == ""
    proc = subprocess.run([sys.executable, "-c", code.replace("'json'", "'json', '--hw', 'a100'")],
                          capture_output=True, text=True, check=True)
    assert proc.stderr.strip() == "numpy,costmodel.latency,costmodel.hardware"


def test_cli_start_up_imports_no_heavy_optional_modules() -> None:
    """Every command pays the CLI's import time: matplotlib, scipy.stats/optimize, torch and onnx are imported by
    the commands that use them, not at start-up (benchmarks/bench_analyze.py times the whole process)."""
    code = ("import sys, costmodel.cli; "
            "print(','.join(m for m in ('matplotlib', 'scipy.stats', 'scipy.optimize', 'torch', 'onnx') "
            "if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


def test_typer_private_coercion_is_what_the_deferral_stands_in_for() -> None:
    """cli/common.py's _DeferredCoercion replaces typer's per-parameter coercion (private: typer._coercion,
    _TyperParameter._runtime_param) to keep pydantic out of start-up. On a typer that changed those pieces the
    deferral switches itself off (typer_coercion() is None: correct, slower); this test is what says so on an
    upgrade, and that the deferral is in force on the typer installed."""
    import re
    from importlib.metadata import version

    from costmodel.cli import app
    from costmodel.cli.common import _DeferredCoercion, defer_coercion, typer_coercion

    if tuple(int(n) for n in re.findall(r"\d+", version("typer"))[:2]) < (0, 29):
        pytest.skip("typer before 0.29 builds no per-parameter coercion: nothing is deferred")
    assert typer_coercion() is not None, (
        f"typer {version('typer')} no longer has the private coercion API that costmodel/cli/common.py's "
        "_DeferredCoercion stands in for (see typer_coercion()): update it to this typer or remove it")
    command = typer.main.get_command(app)
    defer_coercion(command)
    analyze = command.commands["analyze"]  # type: ignore[attr-defined]
    assert all(isinstance(p._runtime_param, _DeferredCoercion) for p in analyze.params)


def test_the_deferral_switches_off_on_a_typer_whose_private_coercion_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    """What typer_coercion() checks, changed one at a time as an upgrade might: each switches the deferral off
    (typer's own coercion runs: correct, only slower to start), rather than failing every command."""
    import typer.core
    import typer.models

    from costmodel.cli.common import typer_coercion

    check = typer_coercion.__wrapped__  # not the cached answer
    if check() is None:
        pytest.skip("this typer has no per-parameter coercion to defer")
    with monkeypatch.context() as patch:  # the parameter no longer keeps its coercion in _runtime_param
        patch.setattr(typer.core._TyperParameter, "__annotations__", {"type_descriptor": object})
        assert check() is None
    with monkeypatch.context() as patch:  # ParameterInfo without `parser`
        patch.setattr(typer.models.ParameterInfo, "__init__", lambda self, *, path_type=None: None)
        assert check() is None
    assert check() is not None


def test_amp_takes_the_specs_own_half_type(tmp_path: Path) -> None:
    """`analyze --precision amp --hw X` checked the precision against --dtype, else fp32, whatever the spec's dtype:
    a spec of `dtype: fp16` was refused ("amp needs --dtype fp16 or bf16 ... not fp32"). It prices as --dtype fp16
    does on the same graph; an fp32 spec without --dtype is still refused in one line."""
    half = tmp_path / "half.yaml"
    half.write_text(GOOD + "dtype: fp16\n")
    fp32 = tmp_path / "full.yaml"
    fp32.write_text(GOOD)
    by_spec = runner.invoke(app, ["analyze", str(half), "--hw", "a100", "--precision", "amp", "-f", "json"])
    assert by_spec.exit_code == 0, by_spec.output
    by_option = runner.invoke(app, ["analyze", str(fp32), "--hw", "a100", "--precision", "amp", "--dtype", "fp16",
                                    "-f", "json"])
    assert by_option.exit_code == 0, by_option.output
    latency = [json.loads(r.stdout)["latency"]["a100_80gb"]["summary"]["latency_s"] for r in (by_spec, by_option)]
    assert latency[0] == latency[1] > 0
    refused = runner.invoke(app, ["analyze", str(fp32), "--hw", "a100", "--precision", "amp"])
    assert refused.exit_code == 2
    assert [line for line in refused.output.splitlines() if line.strip()] == [
        "error: precision amp needs --dtype fp16 or bf16 (the type autocast casts to), not fp32"]


@pytest.mark.parametrize("command", [["analyze", "mobilenetv2_100", "--hw", "rtx4090", "--sweep-batch", "1,{b}"],
                                     ["plot", "throughput", "mobilenetv2_100", "--hw", "rtx4090", "--batches", "{b}"],
                                     ["analyze", "mobilenetv2_100", "--batch", "{b}"],
                                     ["compare", "mobilenetv2_100", "resnet18", "--batch", "{b}"],
                                     ["plot", "roofline", "mobilenetv2_100", "--hw", "a100", "--batch", "{b}"]])
def test_a_swept_batch_obeys_the_tensor_limit_as_batch_does(command: list[str], tmp_path: Path) -> None:
    """--batch 10**30 is refused (its input tensor passes limits.TENSOR_ELEMENTS), but a batch sweep re-shaped the
    graph without the check: analyze printed a latency of 1.7e26 s, plot throughput failed inside matplotlib
    (TypeError: an int beyond int64; exit 1; found by the option fuzzer, seed 8135). Now one line naming the spec,
    exit 2: as the user named it (--batch's named the zoo file the name resolves to, and not the batch), with the
    batch."""
    b = "9" * 30
    result = runner.invoke(app, [part.format(b=b) for part in command], env={"COLUMNS": "100"})
    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.output.splitlines() if line.strip() and not line.startswith("wrote")]
    assert line.startswith(f"error: mobilenetv2_100: inputs: field 'image': batch {b}: input of shape [{b}, 3, 224, "
                           "224]: tensor element count 1.51e+35 exceeds the limit of 1,099,511,627,776"), line
    assert result.stdout == ""


@pytest.mark.parametrize("option", ["--batch", "--sweep-batch"])
def test_a_batch_beyond_a_floats_range_is_one_line(option: str) -> None:
    """--batch 10**400 (and --input 3,10**400,8) raised OverflowError formatting the element count for the limit's
    message ('{count:.3g}' on an int beyond a float; exit 1, found by hand); --sweep-batch's message named no file."""
    b = "1" + "0" * 400
    result = runner.invoke(app, ["analyze", "mobilenetv2_100", option, b, "--hw", "rtx4090"])
    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.output.splitlines() if line.strip()]
    assert line.startswith("error: ") and "mobilenetv2_100" in line and "tensor element count 1.51e+405 exceeds" in line


@pytest.mark.parametrize(("name", "reason"), [("gone.parquet", "cannot read results: no such file"),
                                              ("folder.csv", "cannot read results: it is a folder"),
                                              ("spec.yaml", "not the results of costmodel sweep (a .parquet or "
                                                            ".csv file)")])
def test_plot_sweep_names_what_is_wrong_with_its_input(tmp_path: Path, name: str, reason: str) -> None:
    """A missing results file said only its path ('cannot read results: gone.parquet', pyarrow's words) and a
    spec given as the results was called an output ('output spec.yaml: the name must end in .parquet or .csv')."""
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "spec.yaml").write_text(GOOD)
    result = runner.invoke(app, ["plot", "sweep", str(tmp_path / name)])
    assert result.exit_code == 2 and result.output.strip() == f"error: {tmp_path / name}: {reason}", result.output


def test_an_efficiency_above_100_percent_is_explained() -> None:
    """E = counted FLOPs / (fastest peak x latency). ResNet-18's fp32 3x3 convs on an A100 are priced as cuDNN's
    Winograd kernels, which run fewer multiplies than the direct count, so E passes 100 % at batch 64 (found by the
    review as an unexplained 137 %): the table says why in one note. Checked from the JSON's own figures (FLOPs,
    latency) and the profile's fp32 peak, not from the E the code prints; in fp16 (tensor cores, no Winograd) E stays
    under 100 % and there is no note."""
    from costmodel.hardware import load_profile
    from costmodel.vocab import Dtype

    result = runner.invoke(app, ["analyze", "resnet18", "--hw", "a100", "--batch", "64", "-f", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["latency"]["a100_80gb"]["summary"]
    profile = load_profile("a100")
    peak = max(table[Dtype.FP32] for table in (profile.peak.matrix, profile.peak.vector) if Dtype.FP32 in table) * 1e12
    assert summary["flops"] / (peak * summary["latency_s"]) > 1.0
    text = runner.invoke(app, ["analyze", "resnet18", "--hw", "a100", "--sweep-batch", "8,64"], env={"COLUMNS": "100"})
    assert text.exit_code == 0 and "E above 100 %" in text.output and "Winograd" in text.output
    half = runner.invoke(app, ["analyze", "resnet18", "--hw", "a100", "--dtype", "fp16", "--sweep-batch", "8,64"],
                         env={"COLUMNS": "100"})
    assert half.exit_code == 0 and "E above 100 %" not in half.output


@pytest.mark.parametrize("via_link", [False, True])
def test_output_onto_the_file_the_command_reads_is_refused(tmp_path: Path, via_link: bool) -> None:
    """`calibrate m.csv -o m.csv` replaced the measurements by the fitted profile (YAML in a .csv), and `import
    m.onnx -o m.onnx` the model by its spec: the input is gone. Both now fail before any work, one line, the file
    untouched, also when -o is a symbolic link to it."""
    import shutil

    measured = tmp_path / "m.csv"
    shutil.copy(ROOT / "tests/fixtures/cpu_bench_xeon6_gnr_vm_1t.csv", measured)
    model = tmp_path / "m.onnx"
    model.write_bytes(b"not really onnx: refused before it is read")
    for source, command in ((measured, ["calibrate", str(measured), "--hw", "xeon6_gnr_vm", "--threads", "1"]),
                            (model, ["import", str(model)])):
        before = source.read_bytes()
        target = source
        if via_link:
            target = tmp_path / f"link{source.suffix}"
            target.unlink(missing_ok=True)
            target.symlink_to(source)
        result = runner.invoke(app, [*command, "-o", str(target)])
        assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
        assert f"it is {source}, the file this command reads" in result.output
        assert source.read_bytes() == before
