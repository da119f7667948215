"""Issue 13: nothing a user feeds costmodel can crash it, hang it, lose their files or count wrong in silence.

Each test here failed before the fix it guards (files deleted by `report -o`, plots written outside the current
folder, silent wrong counts, tracebacks, hangs); the fuzzers are in test_fuzz.py.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from costmodel.cli import app
from costmodel.errors import SpecError
from costmodel.graph import build_graph
from costmodel.spec import load_spec, parse_spec

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
RESNET = ROOT / "arch_specs" / "resnet50.yaml"
SMALL = "name: small\ninputs: {image: [3, 16, 16]}\nnodes:\n  - {name: conv, op: conv2d, out: 8, kernel: 3}\n"


def one_error_line(output: str) -> str:
    """The output's single ``error:`` line (asserting there is exactly one, and no traceback)."""
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, output
    return lines[0]


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---- 1. files are sacred ---------------------------------------------------------------------------------


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    folder = tmp_path / "scratch"
    (folder / "src").mkdir(parents=True)
    (folder / "thesis.tex").write_text("\\chapter{Results}")
    (folder / "src" / "train.py").write_text("print('hi')")
    (folder / ".hidden").write_text("secret")
    return folder


def test_report_refuses_a_folder_of_unrelated_files(scratch: Path) -> None:
    before = snapshot(scratch)
    result = runner.invoke(app, ["report", str(RESNET), "--hw", "a100", "-o", str(scratch)])
    assert result.exit_code == 2
    assert "holds other files" in one_error_line(result.output) and "--force" in result.output
    assert snapshot(scratch) == before
    assert sorted(p.name for p in scratch.parent.iterdir()) == ["scratch"]  # no stray temporary folders


def test_report_force_leaves_unrelated_files_untouched(scratch: Path) -> None:
    before = snapshot(scratch)
    result = runner.invoke(app, ["report", str(RESNET), "--hw", "a100", "-o", str(scratch), "--force"])
    assert result.exit_code == 0, result.output
    after = snapshot(scratch)
    assert {name: after[name] for name in before} == before  # every unrelated file kept, byte for byte
    assert "index.html" in after and sorted(p.name for p in scratch.parent.iterdir()) == ["scratch"]
    assert not [p for p in scratch.iterdir() if p.name.startswith(".costmodel-tmp")]


def test_report_into_the_current_folder_leaves_no_old_or_temp_folders(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for _ in range(2):  # a new report, then its update
        result = runner.invoke(app, ["report", str(RESNET), "--hw", "a100", "-o", "."])
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]
    assert not [p.name for p in work.iterdir() if p.name.startswith(".") and p.name != ".costmodel-report"]


def test_report_update_removes_only_its_own_stale_files(tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert runner.invoke(app, ["report", str(RESNET), "--hw", "a100", "-o", str(out)]).exit_code == 0
    (out / "notes.txt").write_text("mine")  # the user adds a file to a report folder
    result = runner.invoke(app, ["report", str(RESNET), "--hw", "rtx4090", "-o", str(out), "--force"])
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert "notes.txt" in names and "roofline_rtx4090.png" in names
    assert "roofline_a100_80gb.png" not in names  # the previous report's plot for a device no longer shown


def test_failed_report_leaves_no_parent_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import costmodel.plots

    def broken(*_args: object) -> None:
        raise costmodel.plots.PlotError("waterline went wrong")

    monkeypatch.setattr(costmodel.plots, "waterline_figure", broken)
    result = runner.invoke(app, ["report", str(RESNET), "--hw", "a100", "-o", str(tmp_path / "a" / "b" / "r")])
    assert result.exit_code == 2 and "waterline went wrong" in one_error_line(result.output)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/abs_costmodel_plot", "s:\u00b2 x/y", "..", ""])
def test_default_plot_names_stay_in_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       name: str) -> None:
    work = tmp_path / "deep" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    spec = write(tmp_path, SMALL.replace("name: small", f"name: {json.dumps(name)}"))
    result = runner.invoke(app, ["plot", "roofline", str(spec), "--hw", "a100"])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in work.iterdir())
    assert len(written) == 2 and all(p.endswith((".png", ".svg")) and not p.startswith(".") for p in written)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "spec.yaml"]
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["work"]


# ---- 2. no silent wrong counts ----------------------------------------------------------------------------


def test_node_name_colliding_with_a_repeat_path_is_an_error(tmp_path: Path) -> None:
    text = ("name: x\ninputs: {x: [4]}\nnodes:\n  - {name: a, op: linear, out: 4, repeat: 2}\n"
            "  - {name: a.1, op: linear, out: 16, inputs: x}\n  - {name: b, op: linear, out: 4, inputs: a.1}\n")
    with pytest.raises(SpecError, match="two layers would have the path 'a.1'"):
        build_graph(load_spec(write(tmp_path, text)))


def test_node_name_colliding_with_a_block_path_is_an_error() -> None:
    spec = parse_spec({"name": "x", "inputs": {"x": [4]}, "blocks": {"b": {"nodes": [{"name": "fc", "op": "relu"}]}},
                       "nodes": [{"name": "blk", "block": "b"}, {"name": "blk.fc", "op": "relu"}]})
    with pytest.raises(SpecError, match="'blk.fc'"):
        build_graph(spec)


def test_dotted_names_that_collide_with_nothing_still_work() -> None:
    """Imports write module paths as names (layer1.0.conv1); they stay valid."""
    spec = parse_spec({"name": "x", "inputs": {"x": [4]}, "nodes": [
        {"name": "layer1.0", "op": "relu"}, {"name": "layer1.0.fc", "op": "linear", "out": 2}]})
    assert [layer.path for layer in build_graph(spec).layers] == ["layer1.0", "layer1.0.fc"]


@pytest.mark.parametrize("name", ["input:x", "a:1", "", ".a", "a.", "a..b"])
def test_reserved_characters_in_names_are_errors(name: str) -> None:
    with pytest.raises(SpecError, match="invalid name") as info:
        parse_spec({"name": "x", "inputs": {"x": [4]}, "nodes": [{"name": name, "op": "relu"}]})
    assert info.value.field == "name" and "Value error" not in str(info.value)


def test_defaults_for_an_unknown_op_is_an_error_with_a_suggestion() -> None:
    spec = parse_spec({"name": "x", "inputs": {"x": [3, 8, 8]}, "defaults": {"conv2": {"bias": False}},
                       "nodes": [{"op": "conv2d", "out": 4, "kernel": 3}]})
    with pytest.raises(SpecError, match="unknown op 'conv2'; did you mean 'conv2d'") as info:
        build_graph(spec)
    assert info.value.path == "defaults" and info.value.field == "conv2"


def test_defaults_under_an_alias_apply_to_the_op() -> None:
    """`defaults: {conv: ...}` (an alias of conv2d) used to be ignored without a word."""
    spec = parse_spec({"name": "x", "inputs": {"x": [3, 8, 8]}, "defaults": {"conv": {"bias": False}},
                       "nodes": [{"op": "conv2d", "out": 4, "kernel": 1}]})
    assert build_graph(spec).layers[0].cost.params == 3 * 4  # no bias, as the defaults asked
    twice = parse_spec({"name": "x", "inputs": {"x": [3, 8, 8]}, "defaults": {"conv": {}, "conv2d": {}},
                        "nodes": [{"op": "conv2d", "out": 4, "kernel": 1}]})
    with pytest.raises(SpecError, match="name the same op"):
        build_graph(twice)


@pytest.mark.parametrize("text", [
    SMALL + "name: other\n",
    SMALL.replace("kernel: 3}", "kernel: 3, kernel: 5}"),
    "name: x\ninputs: {image: [3, 8, 8], image: [3, 16, 16]}\nnodes: [{op: relu}]\n",
])
def test_duplicated_yaml_keys_are_errors(tmp_path: Path, text: str) -> None:
    with pytest.raises(SpecError, match="duplicated key"):
        load_spec(write(tmp_path, text))


# ---- 3. bounded work ----------------------------------------------------------------------------------------


def _spec_error(tmp_path: Path, text: str | bytes, match: str) -> str:
    path = tmp_path / "bad.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    start = time.perf_counter()
    with pytest.raises(SpecError, match=match) as info:
        build_graph(load_spec(path), file=str(path))
    assert time.perf_counter() - start < 10
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path)) and len(message) < 1200
    return message


BILLION_LAUGHS = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)) + SMALL


@pytest.mark.parametrize(("text", "match"), [
    (SMALL.replace("kernel: 3}", "kernel: 3, repeat: 1000000000}"), "COSTMODEL_MAX_REPEAT"),
    ("name: x\ninputs: {x: [10000000]}\nnodes: [{op: split, sizes: 1, dim: 1}]\n", "COSTMODEL_MAX_OUTPUTS"),
    (SMALL.replace("out: 8", "out: '9**9**9'"), "out of range"),
    ("name: x\ninputs: {x: [4]}\nvars: {v: '[1]*10**9'}\nnodes: [{op: relu}]\n", "COSTMODEL_MAX_LIST_ELEMENTS"),
    (BILLION_LAUGHS, "COSTMODEL_MAX_YAML_NODES"),
    ("a: &a [*a]\n" + SMALL, "recursive alias"),
    ("x: " + "[" * 5000 + "]" * 5000 + "\n" + SMALL, "COSTMODEL_MAX_YAML_DEPTH"),
    (SMALL.replace("out: 8", "out: '" + "(" * 300 + "8" + ")" * 300 + "'"), "COSTMODEL_MAX_EXPRESSION_DEPTH"),
    (SMALL.replace("out: 8", "out: '" + "1+" * 20000 + "1'"), "COSTMODEL_MAX_EXPRESSION_CHARS"),
    (SMALL.replace("out: 8", "out: " + "9" * 5000), "YAML cannot read|out of range"),
    (SMALL.replace("out: 8", "out: 18446744073709551616"), "out of range"),
    ("name: x\ninputs: {x: [1000000, 1000000, 1000000]}\nnodes: [{op: relu}]\n", "COSTMODEL_MAX_TENSOR_ELEMENTS"),
    ("name: x\ninputs: {x: [3, 8, 8]}\nnodes: [{op: upsample, scale_factor: .inf}]\n", "not a finite number"),
    ("name: x\ninputs: {x: [3, 8, 8]}\nnodes: [{op: upsample, scale_factor: 'inf'}]\n", "scale_factor"),
    ("name: x\ninputs: {x: [3, 8, 8]}\nblocks:\n  a: {nodes: [{block: b}]}\n  b: {nodes: [{op: relu}, {block: a}]}\n"
     "nodes: [{block: a}]\n", r"calls itself \(a -> b -> a\)"),
    ("name: x\ninputs: {x: [3, 8, 8]}\nblocks: {a: {nodes: [{block: a}]}}\nnodes: [{block: a}]\n", r"\(a -> a\)"),
    (b"name: \xff\xfe\ninputs: {x: [4]}\nnodes: [{op: relu}]\n", "not UTF-8"),
    ("name: !!timestamp 2020-01-01\ninputs: {x: [4]}\nnodes: [{op: relu}]\n", "ERROR-NOT-EXPECTED|"),
    ("name: x\ninputs: {x: !!float abc}\nnodes: [{op: relu}]\n", "YAML cannot read"),
    ("name: !!binary aGVsbG8=\ninputs: {x: [4]}\nnodes: [{op: relu}]\n", "unsupported YAML tag"),
    ("name: x\ninputs: {x: [4]}\nnodes: [{op: relu, name: 'input:x'}]\n", "invalid name"),
    ("name: x\ninputs: {x: [4]}\nnodes: [{op: relu, name: s}]\noutputs: ['s:\u00b2']\n", "names none of them"),
    ("name: x\ninputs: {a: [4], b: [4]}\nnodes: [{op: relu, when: false}]\n", "no layers"),
])
def test_hostile_specs_fail_fast_in_one_line(tmp_path: Path, text: str | bytes, match: str) -> None:
    if match.endswith("|"):  # valid: a timestamp-looking name stays text
        assert build_graph(load_spec(write(tmp_path, str(text)))).spec.name == "2020-01-01"
        return
    _spec_error(tmp_path, text, match)


def test_an_unused_input_beside_a_skipped_node_analyses() -> None:
    from costmodel.analysis import analyze_graph

    spec = parse_spec({"name": "x", "inputs": {"a": [4], "b": [4]},
                       "nodes": [{"op": "relu", "when": False}, {"op": "linear", "out": 2}]})
    assert analyze_graph(build_graph(spec)).totals.params == 4 * 2 + 2


def test_limits_can_be_raised_by_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "name: x\ninputs: {x: [4]}\nnodes: [{op: relu, repeat: 20}]\n"
    monkeypatch.setenv("COSTMODEL_MAX_REPEAT", "10")
    _spec_error(tmp_path, text, "limit of 10 ")
    monkeypatch.setenv("COSTMODEL_MAX_REPEAT", "20")
    assert len(build_graph(load_spec(write(tmp_path, text))).layers) == 20


def nested_blocks(depth: int) -> dict[str, object]:
    blocks: dict[str, object] = {"b0": {"nodes": [{"op": "linear", "out": 4}]}}
    for k in range(1, depth):
        blocks[f"b{k}"] = {"nodes": [{"block": f"b{k - 1}"}]}
    return {"name": "deep", "inputs": {"x": [4]}, "blocks": blocks, "nodes": [{"block": f"b{depth - 1}"}]}


def test_a_250_deep_chain_of_nested_block_calls_works(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, yaml.safe_dump(nested_blocks(250))))
    graph = build_graph(spec)
    assert len(graph.layers) == 1 and graph.layers[0].path.count(".") == 250
    assert graph.layers[0].cost.params == 4 * 4 + 4  # linear 4 -> 4 with bias


def test_block_depth_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSTMODEL_MAX_BLOCK_DEPTH", "100")
    with pytest.raises(SpecError, match="COSTMODEL_MAX_BLOCK_DEPTH"):
        build_graph(parse_spec(nested_blocks(150)))


def test_layer_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSTMODEL_MAX_LAYERS", "50")
    spec = parse_spec({"name": "x", "inputs": {"x": [4]}, "nodes": [{"op": "relu", "repeat": 60}]})
    with pytest.raises(SpecError, match="COSTMODEL_MAX_LAYERS"):
        build_graph(spec)


# ---- 4. one line, always ------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["analyze", "--batch", "0", str(RESNET)],
    ["analyze", str(RESNET), "--no-such-option"],
    ["analyze"],
    ["no-such-command"],
    ["design", "--flops", "inf"],
])
def test_option_errors_are_one_line(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "╭" not in result.output and "Usage:" not in result.output
    one_error_line(result.output)


def test_pydantic_errors_name_the_field_not_its_type(tmp_path: Path) -> None:
    text = "name: x\ninputs: {x: [{a: 1}]}\nnodes: [{op: relu, repeat: {a: 1}}]\n"
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, text))
    message = str(info.value)
    for tag in ("constrained", "int", "'str'", "function-after"):
        assert f"field '{tag}" not in message and f".{tag}" not in message
    assert "inputs.x: field '0': expected an integer or a number or a text or expression" in message


def test_a_union_with_a_literal_names_the_literals_values(tmp_path: Path) -> None:
    """conv2d's padding is an integer, a list or one of PyTorch's two words ('same', 'valid': torch.nn.Conv2d's
    documented padding strings); a bad value said "expected an integer or a list or another type"."""
    spec = write(tmp_path, SMALL.replace("kernel: 3", "kernel: 3, padding: oops"))
    result = runner.invoke(app, ["analyze", str(spec)])
    line = one_error_line(result.output)
    assert result.exit_code == 2
    assert "conv: field 'padding': expected an integer or a list or 'same' or 'valid' (got 'oops')" in line
    assert "another type" not in line


def test_long_user_values_are_truncated(tmp_path: Path) -> None:
    huge = "x" * 3_000_000
    result = runner.invoke(app, ["analyze", str(write(tmp_path, SMALL.replace("out: 8", f"out: '{huge} +'")))])
    assert result.exit_code == 2 and len(one_error_line(result.output)) < 1200


PROFILE = {
    "name": "Toy GPU", "kind": "gpu", "peak": {"vector": {"fp32": 10.0}, "matrix": {"fp16": 100.0}},
    "memory": {"type": "HBM3", "bandwidth_gbs": 1000.0, "capacity_gb": 16.0}, "launch_overhead_us": 5.0,
    "sources": {"peak.vector.fp32": "made up", "peak.matrix.fp16": "made up", "memory.bandwidth_gbs": "made up"},
}


@pytest.mark.parametrize(("path", "value"), [
    (("memory", "bandwidth_gbs"), math.inf), (("peak", "matrix", "fp16"), math.inf),
    (("launch_overhead_us",), math.inf), (("memory", "capacity_gb"), math.nan), (("caches",), {"l2_mb": math.inf}),
    (("peak", "matrix", "fp16"), 1e308),  # finite, but x 1e12 FLOP/TFLOP is not: found by benchmarks/fuzz.py
])
def test_profiles_must_be_finite(tmp_path: Path, path: tuple[str, ...], value: float) -> None:
    data = json.loads(json.dumps(PROFILE))
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    profile = write(tmp_path, yaml.safe_dump(data), "toy.yaml")
    result = runner.invoke(app, ["analyze", str(RESNET), "--hw", str(profile), "-f", "json"])
    assert result.exit_code == 2
    line = one_error_line(result.output)
    assert ".".join(path) in line and ("finite" in line or "inf" in line or "nan" in line or "less than" in line)


def test_a_broken_profile_on_the_search_path_breaks_only_itself(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken.yaml").write_bytes(b"\x00\xff\xfe binary")
    (tmp_path / "half.yaml").write_text("name: Half\nkind: gpu\n")
    monkeypatch.setenv("COSTMODEL_HW_PATH", str(tmp_path))
    assert runner.invoke(app, ["analyze", str(RESNET), "--hw", "a100"]).exit_code == 0
    listing = runner.invoke(app, ["hw", "list"])
    assert listing.exit_code == 0 and "A100" in listing.output
    result = runner.invoke(app, ["analyze", str(RESNET), "--hw", "half"])
    assert result.exit_code == 2 and "half.yaml" in one_error_line(result.output)


def test_json_never_holds_nan_or_infinity() -> None:
    result = runner.invoke(app, ["analyze", str(RESNET), "--hw", "a100", "-f", "json"])
    assert result.exit_code == 0
    json.loads(result.output, parse_constant=lambda token: pytest.fail(f"invalid JSON token {token}"))


def test_internal_errors_are_one_line_too(monkeypatch: pytest.MonkeyPatch) -> None:
    import costmodel.cli.analyze as analyze

    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug\nover two lines")

    monkeypatch.setattr(analyze, "load_graph", boom)
    monkeypatch.delenv("COSTMODEL_DEBUG", raising=False)
    result = runner.invoke(app, ["analyze", str(RESNET)])
    assert result.exit_code == 1 and "internal error" in one_error_line(result.output)


def test_the_package_never_reads_the_environment_for_limits_at_import() -> None:
    """Limits are read when checked, so a test or a user can change them without re-importing."""
    from costmodel import limits

    os.environ.pop(limits.REPEAT.env, None)
    assert limits.REPEAT.value == limits.REPEAT.default


def test_spec_text_given_to_load_graph_goes_through_the_bounded_yaml_reader() -> None:
    """load_graph(YAML text) parsed with yaml.safe_load: a duplicated key silently kept the last value (the spec was
    named 'y'), where a spec file is refused; now the same reader (costmodel.yamlio) and the same errors."""
    from costmodel import load_graph

    with pytest.raises(SpecError, match="<string>: duplicated key 'name' at line 2"):
        load_graph("name: x\nname: y\ninputs: {x: [3, 8, 8]}\nnodes: [{op: relu}]\n")
    with pytest.raises(SpecError, match="<string>: malformed YAML at line 4"):
        load_graph("name: x\ninputs: {x: [3, 8, 8]}\nnodes: [{op: relu}\n")
    assert load_graph("name: x\ninputs: {x: [3, 8, 8]}\nnodes: [{op: relu}]\n").name == "x"
