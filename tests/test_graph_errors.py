"""Every spec error that graph building (costmodel/graph/build.py) raises, each from a hand-written bad spec: one
``error:`` line naming the file, the node path and what is wrong, exit 2 from the CLI, nothing written."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from costmodel.cli import app
from costmodel.ops.base import REGISTRY, OpCost, Shape

runner = CliRunner()

HEAD = "name: x\ninputs: {image: [3, 8, 8]}\n"

# case -> (spec text, what the line says, the node path it names)
BAD: dict[str, tuple[str, str, str]] = {
    "duplicate_name": (HEAD + "nodes:\n  - {name: a, op: relu}\n  - {name: a, op: relu}\n",
                       "name 'a' is already used in this scope", "a"),
    "empty_inputs": (HEAD + "nodes:\n  - {name: a, op: relu, inputs: []}\n", "'inputs' is empty", "a"),
    "repeat_index_out_of_range": (HEAD + "nodes:\n  - {name: r, op: relu, repeat: 2}\n"
                                  "  - {name: b, op: relu, inputs: r.5}\n", "'r.5': 'r' has 2 repeat(s) here", "b"),
    "own_output_inside_repeats": (HEAD + "nodes:\n  - {name: r, op: add, repeat: 2, inputs: ['r.*', r]}\n",
                                  "input 'r' refers to this node", "r"),
    "when_not_bool": (HEAD + "nodes:\n  - {name: a, op: relu, when: '1 + 1'}\n",
                      "'when' must be true or false, got 2", "a"),
    "overrides_without_repeat": (HEAD + "nodes:\n  - {name: a, op: relu, overrides: {0: {}}}\n",
                                 "'overrides' needs 'repeat'", "a"),
    "parallel_without_repeat": (HEAD + "nodes:\n  - {name: a, op: relu, parallel: true}\n",
                                "'parallel' needs 'repeat'", "a"),
    "negative_repeat": (HEAD + "nodes:\n  - {name: a, op: relu, repeat: -1}\n",
                        "repeat must be a non-negative integer, got -1", "a"),
    "fractional_repeat": (HEAD + "nodes:\n  - {name: a, op: relu, repeat: '3 / 2'}\n",
                          "repeat must be a non-negative integer, got 1.5", "a"),
    "override_index_outside": (HEAD + "nodes:\n  - {name: a, op: relu, repeat: 2, overrides: {5: {}}}\n",
                               "override index 5 is outside 0..1", "a"),
    "op_variable_not_a_name": (HEAD + "vars: {act: 3}\nnodes:\n  - {name: a, op: act}\n",
                               "'op' must name an op, got 3", "a"),
    "too_many_inputs": (HEAD + "nodes:\n  - {name: a, op: relu}\n  - {name: b, op: relu, inputs: [image, a]}\n",
                        "op 'relu' takes 1 input(s), got 2", "b"),
    "unknown_block_from_variable": (HEAD + "vars: {kind: bottleneck}\nblocks: {bottleneck_v2: {nodes: [{op: relu}]}}\n"
                                    "nodes:\n  - {name: a, block: kind}\n",
                                    "unknown block 'bottleneck'; did you mean 'bottleneck_v2'?", "a"),
    "block_output_undefined": (HEAD + "blocks: {b: {outputs: [zz], nodes: [{name: y, op: relu}]}}\n"
                               "nodes:\n  - {name: a, block: b}\n",
                               "block 'b' lists outputs ['zz'] that it does not define", "a"),
    "block_input_count": (HEAD + "blocks: {b: {inputs: [p, q], nodes: [{op: add, inputs: [p, q]}]}}\n"
                          "nodes:\n  - {name: a, block: b}\n", "block 'b' takes 2 input(s) (p, q), got 1", "a"),
    "unknown_block_param": (HEAD + "blocks: {b: {params: {w: 1}, nodes: [{op: relu}]}}\n"
                            "nodes:\n  - {name: a, block: b, width: 3}\n",
                            "block 'b' has no parameter 'width' (parameters: w)", "a"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_build_error_is_one_line_exit_2(case: str, tmp_path: Path) -> None:
    text, message, node_path = BAD[case]
    spec = tmp_path / f"{case}.yaml"
    spec.write_text(text, encoding="utf-8")
    out = tmp_path / "never.json"
    result = runner.invoke(app, ["analyze", str(spec), "-f", "json", "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert f"{case}.yaml" in lines[0] and message in lines[0] and f": {node_path}" in lines[0], lines[0]
    assert not out.exists()


def test_limits_on_outputs_and_elements(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bounds an op's result is held to (limits.py), lowered through their environment variables."""
    spec = tmp_path / "limits.yaml"
    spec.write_text(HEAD + "nodes:\n  - {name: s, op: split, sizes: [1, 1, 1], dim: 1}\n"
                     "  - {name: u, op: upsample, scale_factor: 4, inputs: image}\n", encoding="utf-8")
    for env, value, message in (("COSTMODEL_MAX_OUTPUTS", "2", "s: number of outputs of one op 3 exceeds the "
                                 "limit of 2 (set COSTMODEL_MAX_OUTPUTS"),
                                ("COSTMODEL_MAX_TENSOR_ELEMENTS", "1000", "u: op 'upsample' output [1, 3, 32, 32]: "
                                 "tensor element count 3,072 exceeds the limit of 1,000")):
        with monkeypatch.context() as patch:
            patch.setenv(env, value)
            result = runner.invoke(app, ["analyze", str(spec)])
        assert result.exit_code == 2 and result.output.count("\n") == 1 and message in result.output, result.output


def test_an_op_producing_an_empty_shape_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ops check their own attributes, so no spec reaches the builder's own guard against an empty output; an op
    that slipped (here relu, patched to drop its last axis to 0) is still one line, not a zero-size tensor."""
    relu = REGISTRY["relu"]

    def broken(shapes: Sequence[Shape], attrs: Any) -> OpCost:
        cost = relu.fn(shapes, attrs)
        return dataclasses.replace(cost, outputs=[(*cost.outputs[0][:-1], 0)])

    monkeypatch.setitem(REGISTRY, "relu", dataclasses.replace(relu, fn=broken))
    spec = tmp_path / "empty.yaml"
    spec.write_text(HEAD + "nodes:\n  - {name: a, op: relu}\n", encoding="utf-8")
    result = runner.invoke(app, ["analyze", str(spec)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error:") and result.output.count("\n") == 1
    assert "a: op 'relu' produces an empty shape [1, 3, 8, 0]" in result.output
