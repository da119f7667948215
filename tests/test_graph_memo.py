"""A spec built again is made from its earlier expansion (graph.build._Expansions) with every cost computed anew;
the result must be the graph a fresh expansion gives, whatever changed in between: the batch, a limit, a counting
convention, an op's output shapes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from costmodel.errors import SpecError
from costmodel.graph import Graph
from costmodel.graph import build as graph_build
from costmodel.graph.load import to_spec
from costmodel.ops import conv

ROOT = Path(__file__).resolve().parents[1]


def signature(graph: Graph) -> tuple[object, ...]:
    return (graph.name, graph.batch, graph.dtype, graph.inputs, graph.outputs,
            [(la.path, la.op, la.attrs, la.inputs, la.input_shapes, la.cost, la.dtype) for la in graph.layers])


@pytest.fixture
def memo() -> Iterator[graph_build._Expansions]:
    graph_build._EXPANSIONS.clear()
    yield graph_build._EXPANSIONS
    graph_build._EXPANSIONS.clear()


def fresh(path: Path, **options: object) -> Graph:
    """A build with the memo empty (the expansion proper)."""
    graph_build._EXPANSIONS.clear()
    spec, file = to_spec(path)
    return graph_build.build_graph(spec, file=file, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", sorted((ROOT / "arch_specs").glob("*.yaml"))[::4], ids=lambda p: p.stem)
def test_a_spec_built_again_is_the_graph_a_fresh_expansion_gives(path: Path,
                                                                 memo: graph_build._Expansions) -> None:
    for options in ({}, {"batch": 3}):
        first = fresh(path, **options)
        spec, file = to_spec(path)  # another Spec object of the same content
        assert memo.key(spec, options.get("batch") or spec.batch, None) in memo.entries
        again = graph_build.build_graph(spec, file=file, **options)  # type: ignore[arg-type]
        assert signature(again) == signature(first) and again.spec is spec
        assert all(a.cost is not b.cost for a, b in zip(again.layers, first.layers, strict=True))  # costs anew


def test_a_convention_or_shape_change_between_builds_is_seen(memo: graph_build._Expansions,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = ROOT / "arch_specs" / "convnext_t.yaml"
    before = fresh(path)
    spec, file = to_spec(path)
    graph_build.build_graph(spec, file=file)  # kept
    monkeypatch.setattr(conv, "conv_macs", lambda out, per_group, taps: out * per_group * taps + out)
    changed = graph_build.build_graph(spec, file=file)  # from the memo, costs anew
    assert changed.layers[0].cost.macs != before.layers[0].cost.macs
    assert signature(changed) == signature(fresh(path))
    path = ROOT / "arch_specs" / "vgg16.yaml"  # a plain chain: every conv output may grow
    before = fresh(path)
    spec, file = to_spec(path)
    graph_build.build_graph(spec, file=file)
    size = conv.conv_output_size
    monkeypatch.setattr(conv, "conv_output_size", lambda *args: size(*args) + 1)  # every conv output grows
    grown = graph_build.build_graph(spec, file=file)  # the memo's shapes differ: expanded as usual
    assert grown.layers[0].cost.outputs != before.layers[0].cost.outputs
    assert signature(grown) == signature(fresh(path))


def test_a_lower_limit_between_builds_is_enforced(memo: graph_build._Expansions,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    spec, file = to_spec(ROOT / "arch_specs" / "convnext_t.yaml")
    layers = len(graph_build.build_graph(spec, file=file).layers)
    monkeypatch.setenv("COSTMODEL_MAX_LAYERS", str(layers - 1))
    with pytest.raises(SpecError, match="exceeds the limit"):
        graph_build.build_graph(spec, file=file)
