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


def test_a_batch_that_does_not_fit_names_the_spec_as_its_caller_named_it(monkeypatch) -> None:
    """Graph.with_batch's over-limit error names the spec as load_graph was given it (a zoo name stays a zoo name, a
    relative path stays relative), so each caller of batch_sweep (analyze --sweep-batch, plot throughput, report)
    need not locate it; a spec given as a Spec object has no file to name. Before, the error named no file at all."""
    from pathlib import Path

    import pytest

    from costmodel.errors import SpecError
    from costmodel.hardware import load_profile
    from costmodel.latency import batch_sweep
    from costmodel.spec import load_spec

    huge = 10**30
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    for given in ("mobilenetv2_100", Path("arch_specs/mobilenetv2_100.yaml")):
        with pytest.raises(SpecError) as caught:
            batch_sweep(load_graph(given), load_profile("a100"), [1, huge])
        assert caught.value.file == str(given) and caught.value.path == "inputs", caught.value
        assert str(caught.value).startswith(f"{given}: inputs: field 'image': batch {huge}: ")
    with pytest.raises(SpecError) as caught:
        load_graph(load_spec("mobilenetv2_100")).with_batch(huge)
    assert caught.value.file is None


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


# ---- block calls replayed from an earlier call (graph/build.py: _Builder.block) ---------------------------------

REPLAYED = """
name: replay
inputs: {x: [8, 16, 16], y: [8, 16, 16]}
blocks:
  pair:                      # two inputs, possibly the same tensor; a named output and a pass-through
    inputs: [a, b]
    params: {k: 3}
    outputs: [sum, a]
    nodes:
      - {name: conv, op: conv2d, out: 8, kernel: k, padding: "k // 2", inputs: a}
      - {name: sum, op: add, inputs: [conv, b]}
  gather:                    # a variadic input
    inputs: [first, rest.*]
    nodes:
      - {name: cat, op: concat, dim: 1, inputs: [first, rest.*]}
      - {name: mix, op: conv2d, out: 8, kernel: 1}
  nested:
    nodes:
      - {name: p, block: pair, inputs: [x, x]}
      - {name: r, op: relu}
nodes:
  - {name: a, block: pair, inputs: [x, y]}
  - {name: b, block: pair, inputs: [x, x]}   # same shapes as a, but one tensor twice: not a's layers
  - {name: c, block: pair, inputs: [y, x]}
  - {name: d, block: pair, inputs: [c, c:1], k: 1}
  - {name: e, block: gather, inputs: [a, b, c]}
  - {name: f, block: gather, inputs: [b, c, d]}
  - {name: g, block: gather, inputs: [f, e]}
  - {name: n, block: nested, repeat: 3}
  - {name: out, op: add, inputs: [n, g, e]}
"""


def _expanded(text: str, write_spec, replay: bool):  # noqa: ANN001, ANN202
    from costmodel import limits
    from costmodel.graph.build import _Builder
    from costmodel.spec import load_spec

    class Expanded(_Builder):
        replay_blocks = replay

    path = write_spec(text)
    spec = load_spec(path)
    builder = Expanded(spec, str(path))
    with limits.held():
        return builder.build(spec.batch, None), builder


def _layers(graph):  # noqa: ANN001, ANN202
    return [(la.path, la.op, la.attrs, la.inputs, la.input_shapes, la.cost, la.dtype) for la in graph.layers]


def test_replayed_block_calls_make_the_layers_a_full_expansion_makes(write_spec) -> None:
    replayed, builder = _expanded(REPLAYED, write_spec, True)
    expanded, plain = _expanded(REPLAYED, write_spec, False)
    assert _layers(replayed) == _layers(expanded) and replayed.outputs == expanded.outputs
    assert len(builder.recordings) >= 5 and not plain.recordings  # the replays happened (c from a, n.1 from n.0)
    by_path = {la.path: la for la in replayed.layers}
    assert [ref.node for ref in by_path["c.sum"].inputs] == ["c.conv", "input:x"]  # c's own b: x, not a's y
    assert [ref.node for ref in by_path["b.conv"].inputs] == ["input:x"]
    assert [ref.node for ref in by_path["f.cat"].inputs] == ["b.sum", "c.sum", "d.sum"]
    assert [ref.node for ref in by_path["n.2.p.sum"].inputs] == ["n.2.p.conv", "n.1.r"]


def test_zoo_graphs_are_the_same_with_and_without_replay(write_spec) -> None:
    from costmodel.resources import zoo_dir

    for path in sorted(zoo_dir().glob("*.yaml"))[::3]:  # a sample; benchmarks/bench_core.py times them
        text = path.read_text(encoding="utf-8")
        if "extends:" in text:
            continue
        assert _layers(_expanded(text, write_spec, True)[0]) == _layers(_expanded(text, write_spec, False)[0]), path


def test_a_replayed_call_checks_path_collisions_and_the_layer_limit(write_spec, monkeypatch) -> None:
    import pytest

    from costmodel.errors import SpecError

    collide = REPLAYED.replace("  - {name: out, op: add, inputs: [n, g, e]}",
                               "  - {name: out, op: add, inputs: [n, g, e]}\n  - {name: h.conv, op: relu}\n"
                               "  - {name: h, block: pair, inputs: [x, y]}")
    for text in (collide, REPLAYED):
        if text is REPLAYED:
            monkeypatch.setenv("COSTMODEL_MAX_LAYERS", "20")  # reached inside a replayed call
        errors = []
        for replay in (True, False):
            with pytest.raises(SpecError) as info:
                _expanded(text, write_spec, replay)
            errors.append(str(info.value))
        assert errors[0] == errors[1]
        assert ("two layers would have the path 'h.conv'" if text is collide else "exceeds the limit of 20") \
            in errors[0]


def test_a_call_that_would_be_a_cycle_here_is_expanded_not_replayed(write_spec) -> None:
    """c's first call (under outer) calls d(0), which skips its call of c; under d(1) the same call of c reaches d
    again: a cycle, which a replay of the first call would hide."""
    import pytest

    from costmodel.errors import SpecError

    text = """
name: cycle
inputs: {x: [4]}
blocks:
  c: {nodes: [{block: d, n: 0}]}
  d: {params: {n: null}, nodes: [{op: relu}, {block: c, when: n > 0}]}
  outer: {nodes: [{block: c}]}
nodes:
  - {block: outer}
  - {block: d, n: 1}
"""
    for replay in (True, False):
        with pytest.raises(SpecError, match="calls itself"):
            _expanded(text, write_spec, replay)
