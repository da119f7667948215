"""graph.TopLevel and the repeat helpers: a spec's top level walked one instance at a time gives the graph
build_graph gives (the sweep's plan walks it so, expanding only the instances it has not cached)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from costmodel.errors import SpecError
from costmodel.graph import TensorRef, TopLevel, build_graph, repeat_attributes, repeat_path, repeat_refused
from costmodel.graph.build import INPUT, _Builder
from costmodel.graph.load import to_spec
from costmodel.spec.expressions import Namespace, resolve
from costmodel.spec.schema import NodeSpec

ROOT = Path(__file__).resolve().parents[1]
CHAINS = ["resnet50", "resnet18", "vgg16", "regnetx_016", "mobilenetv2_100", "efficientnet_b0"]


def walked(name: str, batch: int = 2) -> list[Any]:
    """The layers of a spec whose top level is a chain, each top-level instance expanded through TopLevel."""
    spec, _ = to_spec(ROOT / "arch_specs" / f"{name}.yaml")
    env, sample = _Builder(spec, None).global_vars(None)
    shapes = {TensorRef(f"input:{k}"): (batch, *v) for k, v in sample.items()}
    top = TopLevel(spec, env, shapes)
    refs = [TensorRef(f"input:{next(iter(sample))}")]
    for node in spec.nodes:
        assert node.inputs is None and node.when is None  # a chain
        if node.repeat is None:
            refs = top.instance(node, env, node.attributes, str(node.name), refs).refs[:1]
            continue
        count = resolve(node.repeat, env)
        assert repeat_refused(node, count) is None
        for i in range(count):
            raw = repeat_attributes(node, i, count)
            refs = top.instance(node, {**env, "i": i}, node.attributes if raw is None else raw,
                                repeat_path(str(node.name), i), refs).refs[:1]
    return [(la.path, la.op, la.attrs, la.inputs, la.input_shapes, la.cost) for la in top.layers]


@pytest.mark.parametrize("name", CHAINS)
def test_top_level_instances_one_at_a_time_make_the_graph(name: str) -> None:
    spec, _ = to_spec(ROOT / "arch_specs" / f"{name}.yaml")
    graph = build_graph(spec, batch=2)
    assert walked(name) == [(la.path, la.op, la.attrs, la.inputs, la.input_shapes, la.cost) for la in graph.layers]


def test_repeat_helpers() -> None:
    node = NodeSpec.model_validate({"name": "s", "block": "b", "repeat": 4, "planes": 8,
                                    "overrides": {0: {"stride": 2}, -1: {"planes": 16}}})
    assert repeat_attributes(node, 0, 4) == {**node.attributes, "stride": 2}
    assert repeat_attributes(node, 1, 4) is None and repeat_attributes(node, 2, 4) is None
    assert repeat_attributes(node, 3, 4) == {**node.attributes, "planes": 16}
    assert repeat_path("s", 3) == "s.3"
    assert repeat_refused(node, 4) is None
    assert repeat_refused(node, 1) is None  # -1 and 0 are the one repeat
    assert repeat_refused(node, 0) == ("override index 0 is outside 0..-1", "overrides")
    assert repeat_refused(node, True) is not None and repeat_refused(node, -1) is not None  # type: ignore[arg-type]
    assert repeat_refused(node, 2.0)[1] == "repeat"  # type: ignore[index]


def test_top_level_errors_are_the_builders() -> None:
    spec, _ = to_spec(ROOT / "arch_specs" / "resnet50.yaml")
    env, sample = _Builder(spec, None).global_vars(None)
    top = TopLevel(spec, {**env, INPUT: Namespace({k: list(v) for k, v in sample.items()})},
                   {TensorRef("input:image"): (1, 3, 224, 224)})
    node = spec.nodes[0].model_copy(update={"attributes": {**spec.nodes[0].attributes, "out": 0}})
    with pytest.raises(SpecError, match="conv1"):
        top.instance(node, env, node.attributes, "conv1", [TensorRef("input:image")])
