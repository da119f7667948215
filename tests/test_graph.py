"""Expansion of blocks, repeats, overrides, conditions and references; hand-derived counts."""

from __future__ import annotations

from costmodel import analyze, load_graph

UNIT = """
name: t
inputs: {image: [3, 32, 32]}
defaults: {conv2d: {bias: false}}
blocks:
  unit:
    params: {out: null, stride: 1}
    nodes:
      - {name: conv, op: conv2d, out: out, kernel: 3, padding: 1, stride: stride}
      - {name: bn, op: batch_norm}
      - {name: act, op: relu}
nodes:
  - {name: stage, block: unit, repeat: 3, out: 16, overrides: {0: {stride: 2}}}
"""


def test_repeat_paths_overrides_and_counts(write_spec) -> None:
    graph = load_graph(write_spec(UNIT))
    assert [layer.path for layer in graph.layers] == [
        f"stage.{i}.{name}" for i in range(3) for name in ("conv", "bn", "act")
    ]
    assert graph.layers[0].cost.outputs == ((1, 16, 16, 16),)  # stride 2 on repeat 0 only
    assert graph.layers[3].cost.outputs == ((1, 16, 16, 16),)
    totals = analyze(write_spec(UNIT)).totals
    # conv0 16*3*3*3, conv1/2 16*16*3*3 (no bias), three BNs 2*16
    assert totals.params == 16 * 3 * 9 + 2 * 16 * 16 * 9 + 3 * 2 * 16
    out = 16 * 16 * 16
    # conv MACs = out elements * (in/groups) * k*k; BN (fvcore, affine) = 2 per element
    assert totals.macs == out * 3 * 9 + 2 * out * 16 * 9 + 3 * 2 * out
    assert totals.activations == 3 * out  # conv outputs only (fvcore)
    assert totals.output_elements == 9 * out  # every op's output


BRANCHES = """
name: t
inputs: {image: [8, 4, 4]}
vars: {width: 8}
blocks:
  two_way:
    params: {split: null}
    outputs: [left, right]
    nodes:
      - {name: left, op: slice, dim: 1, start: 0, end: split}
      - {name: right, op: slice, dim: 1, start: split, inputs: x}
nodes:
  - {name: parts, op: chunk, chunks: 2}
  - {name: a, op: relu, inputs: "parts:0"}
  - {name: b, op: sigmoid, inputs: "parts:1"}
  - {name: cat, op: concat, inputs: [a, b]}
  - {name: res, op: add, inputs: [image, cat], when: width == 8}
  - {name: skipped, op: conv2d, out: 3, kernel: 1, when: "width != 8"}
  - {name: split, block: two_way, split: 3}
  - {name: out, op: concat, inputs: ["split:right", "split:left"]}
"""


def test_multi_outputs_conditions_and_named_block_outputs(write_spec) -> None:
    graph = load_graph(write_spec(BRANCHES))
    paths = [layer.path for layer in graph.layers]
    assert "skipped" not in paths  # when: false passes its input through
    assert paths == ["parts", "a", "b", "cat", "res", "split.left", "split.right", "out"]
    by_path = {layer.path: layer for layer in graph.layers}
    assert by_path["a"].input_shapes == ((1, 4, 4, 4),)
    assert by_path["res"].cost.outputs == ((1, 8, 4, 4),)
    assert by_path["split.right"].cost.outputs == ((1, 5, 4, 4),)
    assert by_path["out"].input_shapes == ((1, 5, 4, 4), (1, 3, 4, 4))
    assert set(graph.dag.predecessors("res")) == {"input:image", "cat"}


def test_liveness_peak_by_hand(write_spec) -> None:
    spec = write_spec("""
        name: live
        inputs: {image: [4, 8, 8]}
        nodes:
          - {name: a, op: relu}
          - {name: flat, op: flatten}
          - {name: b, op: relu, inputs: a}
          - {name: c, op: add, inputs: [a, b]}
    """)
    result = analyze(spec)
    elems = 4 * 8 * 8
    # step a: image + a; step flat: a (view, no buffer); step b: a + b (image freed after a);
    # step c: a, b and c live -> 3 buffers. fp32: 4 bytes each.
    assert result.peak.per_layer == (2 * elems * 4, elems * 4, 2 * elems * 4, 3 * elems * 4)
    assert result.totals.peak_activation_bytes == 3 * elems * 4
    assert result.totals.peak_at == "c"
    flat = result.layers[1]
    assert (flat.bytes_read, flat.bytes_written, flat.output_elements) == (0, 0, 0)


def test_dtype_and_batch_overrides_scale_bytes(write_spec) -> None:
    path = write_spec(UNIT)
    fp32, fp16 = analyze(path), analyze(path, dtype="fp16", batch=4)
    assert fp16.totals.weight_bytes * 2 == fp32.totals.weight_bytes
    assert fp16.totals.macs == 4 * fp32.totals.macs
    conv = fp32.layers[0]
    # reads input (3*32*32) and weights (432), writes output (16*16*16), 4 bytes each
    assert (conv.bytes_read, conv.bytes_written) == ((3 * 32 * 32 + 432) * 4, 16 * 16 * 16 * 4)


def test_input_shape_override(write_spec) -> None:
    result = analyze(write_spec(UNIT), input_shapes={"image": [3, 64, 64]})
    assert result.layers[0].output_shape == (1, 16, 32, 32)


def test_op_chosen_by_variable_and_when_before_repeat(write_spec) -> None:
    graph = load_graph(write_spec("""
        name: t
        inputs: {image: [4, 8, 8]}
        vars: {acts: [relu, hardswish], relu: 3, depths: [2]}
        blocks:
          unit:
            params: {act: null, s: 0}
            nodes:
              - {name: act, op: act}
              - {name: extra, op: relu, repeat: "depths[s]", when: s < len(depths)}
        nodes:
          - {name: a, block: unit, act: "acts[0]"}
          - {name: b, block: unit, act: "acts[1]", s: 5}
    """))
    # a literal op name wins over a variable of the same name ('relu' is also a variable here);
    # b's 'extra' is skipped before its repeat count (depths[5]) is evaluated.
    assert [(layer.path, layer.op) for layer in graph.layers] == [
        ("a.act", "relu"), ("a.extra.0", "relu"), ("a.extra.1", "relu"), ("b.act", "hardswish")]


# ---- re-batching without re-expanding, and automatic names ---------------------------------------------

def test_with_batch_equals_building_at_that_batch() -> None:
    from pathlib import Path

    for spec in sorted((Path(__file__).resolve().parents[1] / "arch_specs").glob("*.yaml")):
        graph = load_graph(spec)
        for batch in (1, 3, 64):
            rebuilt, rebatched = load_graph(spec, batch=batch), graph.with_batch(batch)
            assert rebatched.batch == batch and rebatched.inputs == rebuilt.inputs, spec.name
            assert rebatched.layers == rebuilt.layers, spec.name
            assert rebatched.outputs == rebuilt.outputs


def test_automatic_names_take_the_smallest_free_suffix(write_spec) -> None:
    text = """
name: t
inputs: {x: [4]}
nodes:
  - {op: relu}
  - {op: relu}
  - {name: relu_2, op: relu}
  - {op: relu}
  - {op: tanh}
  - {op: relu}
"""
    names = [layer.path for layer in load_graph(write_spec(text)).layers]
    assert names == ["relu", "relu_1", "relu_2", "relu_3", "tanh", "relu_4"]


def test_repeated_layers_share_validated_attributes(write_spec) -> None:
    graph = load_graph(write_spec(UNIT))
    convs = [layer for layer in graph.layers if layer.op == "conv2d"]
    assert convs[1].attrs is convs[2].attrs  # same values: validated once
    assert convs[0].attrs is not convs[1].attrs and convs[0].attrs.stride == 2


def test_build_hook_sees_every_instance_and_may_replay_them() -> None:
    # the public hook the sweep's fragment cache uses (costmodel.graph.BuildHook): a hook that expands as usual
    # sees every op and block instance; one that replays an earlier expansion of an equal call gives the same graph
    from pathlib import Path

    from costmodel.graph import Call, Expansion, Value, build_graph
    from costmodel.spec import load_spec

    spec = load_spec(Path(__file__).resolve().parents[1] / "arch_specs/resnet18.yaml")
    plain = build_graph(spec)
    seen: list[str] = []

    def passthrough(expansion: Expansion, call: Call) -> Value:
        seen.append(call.kind)
        return expansion.expand(call)

    assert build_graph(spec, hook=passthrough).layers == plain.layers
    assert seen.count("op") == len(plain.layers) and seen.count("block") == 8 + 3  # basic blocks, downsamples

    class Replaying:  # the second build replays the first build's top-level instances
        def __init__(self) -> None:
            self.cache: dict[str, tuple[list, Value, dict]] = {}
            self.inside = False
            self.replayed = 0

        def __call__(self, expansion: Expansion, call: Call) -> Value:
            if self.inside:
                return expansion.expand(call)
            if call.path in self.cache:
                layers, value, shapes = self.cache[call.path]
                expansion.replay(layers, shapes)
                self.replayed += 1
                return value
            first = len(expansion.layers)
            self.inside = True
            value = expansion.expand(call)
            self.inside = False
            layers = expansion.layers[first:]
            self.cache[call.path] = (layers, value, {r: expansion.shapes[r] for r in value.refs})
            return value

    hook = Replaying()
    build_graph(spec, hook=hook)
    again = build_graph(spec, hook=hook)
    assert again.layers == plain.layers and again.outputs == plain.outputs
    assert hook.replayed == 4 + 8 + 2  # stem ops, blocks, head


def test_build_hook_replaying_a_path_twice_is_the_collision_error() -> None:
    from pathlib import Path

    import pytest

    from costmodel.errors import SpecError
    from costmodel.graph import Call, Expansion, Value, build_graph
    from costmodel.spec import load_spec

    spec = load_spec(Path(__file__).resolve().parents[1] / "arch_specs/resnet18.yaml")

    def twice(expansion: Expansion, call: Call) -> Value:
        first = len(expansion.layers)
        value = expansion.expand(call)
        if call.path == "act1":  # the stem's relu, appended a second time
            expansion.replay(expansion.layers[first:], {})
        return value

    with pytest.raises(SpecError, match="two layers would have the path 'act1'"):
        build_graph(spec, hook=twice)
