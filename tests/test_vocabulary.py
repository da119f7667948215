"""The closed vocabularies (costmodel/vocab.py) and the facts the op registry carries about each op."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from costmodel.cli import app
from costmodel.errors import (
    BridgeError,
    DesignError,
    HardwareError,
    MeasurementError,
    OutputError,
    SpecError,
    UserError,
)
from costmodel.ops import REGISTRY, get_op
from costmodel.vocab import BYTES_PER_ELEMENT, Dtype, EfficiencyClass, Format, Fusion, OpClass, SortKey, Unit

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_members_are_their_values() -> None:
    assert Dtype.FP16 == "fp16" and f"{Dtype.FP16}" == "fp16" and str(Fusion.BLOCK) == "block"
    assert f"{OpClass.GEMM:>6}" == "  gemm"
    assert json.dumps({"dtype": Dtype.BF16, Fusion.NONE: 1}) == '{"dtype": "bf16", "none": 1}'
    assert {"fp32": 1}[Dtype.FP32] == 1 and BYTES_PER_ELEMENT["fp16"] == 2  # type: ignore[index]


def test_efficiency_classes_are_the_kernel_classes_plus_conv() -> None:
    kernel_classes = {c.value for c in OpClass} - {"view"}
    assert set(EfficiencyClass.values()) == kernel_classes | {"conv"}
    assert EfficiencyClass.CONV.parent is EfficiencyClass.GEMM
    assert all(k.parent is None for k in EfficiencyClass if k is not EfficiencyClass.CONV)


def test_units_by_class() -> None:
    # Tensor/matrix units run the GEMM-like classes; everything else streams through the vector units.
    assert {c for c in OpClass if c.unit is Unit.MATRIX} == {OpClass.GEMM, OpClass.ATTENTION}


def test_byte_sizes() -> None:
    assert [Dtype(d).bytes for d in ("fp32", "tf32", "fp16", "bf16", "fp8", "int8")] == [4, 4, 2, 2, 1, 1]
    assert set(BYTES_PER_ELEMENT) == set(Dtype)


def test_every_op_class_has_a_colour() -> None:
    from costmodel.plots.common import CLASS_COLORS

    assert set(CLASS_COLORS) == set(OpClass)
    assert len(set(CLASS_COLORS.values())) == len(OpClass)


# ---- registry facts: stated here by hand, from what each op is ------------------------------------------


def _names(fact: str) -> set[str]:
    return {op.name for op in REGISTRY.values() if getattr(op, fact)}


def test_conv_facts() -> None:
    assert _names("conv") == {"conv1d", "conv2d", "conv3d", "conv_transpose2d", "patch_embed"}
    assert {op.name: op.conv_rank for op in REGISTRY.values() if op.conv_rank} == {
        "conv1d": 1, "conv2d": 2, "conv3d": 3}


def test_pooling_and_counted_facts() -> None:
    # reductions over axes can pool the spatial dimensions away like a global pool (mean, sum or max)
    assert _names("global_pool") == {"reduce_mean", "reduce_sum", "reduce_max", "global_avg_pool", "global_max_pool",
                                     "adaptive_avg_pool2d", "adaptive_max_pool2d"}
    assert _names("torch_counted") == {"conv1d", "conv2d", "conv3d", "conv_transpose2d", "patch_embed", "linear",
                                       "matmul", "attention", "scaled_dot_product_attention", "einsum"}


def test_efficiency_class_of_an_op() -> None:
    assert get_op("conv2d").efficiency_class(OpClass.GEMM) is EfficiencyClass.CONV
    assert get_op("conv").efficiency_class(OpClass.DEPTHWISE) is EfficiencyClass.DEPTHWISE  # alias, depthwise
    assert get_op("linear").efficiency_class(OpClass.GEMM) is EfficiencyClass.GEMM
    assert get_op("relu").efficiency_class(OpClass.ELEMENTWISE) is EfficiencyClass.ELEMENTWISE
    with pytest.raises(ValueError, match="no efficiency class"):
        get_op("reshape").efficiency_class(OpClass.VIEW)


# ---- defined once ------------------------------------------------------------------------------------------

# A vocabulary spelled out as a sequence of its string values somewhere else in the package.
RELISTINGS = {
    "Dtype": r"[\"']fp32[\"'],\s*[\"']tf32[\"']",
    "OpClass": r"[\"']gemm[\"'],\s*[\"'](depthwise|attention|conv)[\"']",
    "Fusion": r"[\"']none[\"'],\s*[\"']epilogue[\"']",
    "Format": r"[\"']table[\"'],\s*[\"']json[\"']",
}


@pytest.mark.parametrize("name", sorted(RELISTINGS))
def test_vocabulary_is_not_relisted(name: str) -> None:
    pattern = re.compile(RELISTINGS[name])
    hits = [str(path.relative_to(ROOT)) for path in (ROOT / "costmodel").rglob("*.py")
            if path.name != "vocab.py" and pattern.search(path.read_text(encoding="utf-8"))]
    assert not hits, f"{name} re-listed in {hits}"


def test_enum_classes_defined_once() -> None:
    defined: dict[str, list[str]] = {}
    for path in (ROOT / "costmodel").rglob("*.py"):
        for match in re.finditer(r"^class (\w+)\((?:str, Enum|Choice)\)", path.read_text(encoding="utf-8"), re.M):
            defined.setdefault(match.group(1), []).append(str(path.relative_to(ROOT)))
    assert all(len(paths) == 1 for paths in defined.values()), defined
    assert {"Dtype", "OpClass", "EfficiencyClass", "Fusion", "Format", "Unit"} <= set(defined)


# ---- errors: one type per family, all one line in the CLI --------------------------------------------------


def test_error_families() -> None:
    for family in (SpecError, HardwareError, MeasurementError, BridgeError, DesignError, OutputError):
        assert issubclass(family, UserError)
    assert not issubclass(BridgeError, SpecError) and not issubclass(MeasurementError, SpecError)
    assert str(SpecError("bad", file="f.yaml", path="stem.0", field="out")) == "f.yaml: stem.0: field 'out': bad"


# ---- typer options list the choices ------------------------------------------------------------------------


def test_help_lists_choices() -> None:
    result = runner.invoke(app, ["analyze", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for vocabulary in (Dtype, Fusion, Format, SortKey):  # --sort showed <str> until session 26
        assert "[" + "|".join(vocabulary.values()) + "]" in result.output, vocabulary


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """(name path, command) of every command and group under ``group`` (typer's own click: a group has
    ``commands``; its options are its callback's: `design` runs a search)."""
    out = []
    for name, command in sorted(group.commands.items()):
        out.append(((*path, name), command))
        if hasattr(command, "commands"):
            out += _commands(command, (*path, name))
    return out


FORMAT_COMMANDS = [path for path, command in _commands(typer.main.get_command(app))
                   if any("--format" in getattr(p, "opts", ()) for p in command.params)]


@pytest.mark.parametrize("path", FORMAT_COMMANDS, ids=" ".join)
def test_every_format_option_lists_its_choices(path: tuple[str, ...]) -> None:
    """`--help` at 100 columns shows each command's --format choices (table and json at least), not `<str>`; a
    value outside them is one error line naming them, exit 2 (calibrate, validate and measure took any word)."""
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "100"}, terminal_width=100)
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "--format" in line)
    shown = re.search(r"\[([a-z|]+)\]", line)
    assert shown and {"table", "json"} <= set(shown.group(1).split("|")) <= set(Format.values()), line
    bad = runner.invoke(app, [*path, "--format", "xml"])
    assert bad.exit_code == 2 and bad.output.strip().startswith("error: unknown --format 'xml'; choose one of "), \
        bad.output


def test_unknown_choice_is_one_line() -> None:
    result = runner.invoke(app, ["analyze", "arch_specs/resnet50.yaml", "--fusion", "all"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: unknown --fusion 'all'; choose one of none, epilogue, compile, block"
