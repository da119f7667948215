"""Memos on the latency model's and the graph builder's paths (the sweep's new fragments go through them): each must
give what a fresh computation gives, bit for bit.

- ``latency.model.MemberMemo``: a layer's efficiency key, unit, rate and layout bytes, by the layer and the profile;
- ``latency.contiguity.eager_layout``: a graph without views (or ops writing strided outputs) is taken as all
  contiguous without following its strides;
- ``graph.CostCache`` shared between builds of several specs.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from costmodel.graph import CostCache, Graph, build_graph
from costmodel.graph.load import to_spec
from costmodel.hardware import load_profile, threaded
from costmodel.latency import estimate, kernel_terms
from costmodel.latency import model as latency_model
from costmodel.latency.contiguity import eager_layout, strided_layout
from costmodel.latency.precision import plan
from costmodel.spec import Spec
from costmodel.vocab import Fusion

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ("a100_80gb", "rtx4090", "t4", "tpu_v5e", "epyc_zen3_vm_b")
ZOO = sorted((ROOT / "arch_specs").glob("*.yaml"))


def resnet_candidates(count: int, seed: int) -> list[Spec]:
    """ResNet-50 at random depths and widths (the sweep's ResNet-like space, drawn here independently)."""
    spec, _ = to_spec(ROOT / "arch_specs" / "resnet50.yaml")
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        widths = [8 * rng.randint(2, 16 * 2**s) for s in range(4)]
        depths = [rng.randint(1, 3) for _ in range(4)]
        out.append(spec.model_copy(update={"vars": {**spec.vars, "widths": widths, "depths": depths}}))
    return out


def fresh_member_terms(graph: Graph, profile_name: str, dtype: str, precision: str) -> None:
    """Every layer's memoised terms (hit or miss) equal to terms computed afresh."""
    profile = threaded(load_profile(profile_name))
    sizes = plan(graph, dtype, precision)
    for fusion in (Fusion.NONE, Fusion.EPILOGUE):
        table = latency_model._MEMBERS.table(profile, fusion)
        for layer in graph.layers:
            if layer.cost.is_view:
                continue
            dtype_here = sizes.compute_dtype[layer.path]
            memoised = table.terms(layer, dtype_here, graph, profile)
            afresh = latency_model._MemberTable(latency_model.MemberMemo(), fusion)
            assert memoised == afresh.compute(layer, dtype_here, graph, profile)
            assert table.terms(layer, dtype_here, graph, profile) is memoised  # now a hit


@pytest.mark.parametrize("profile_name", PROFILES)
def test_member_memo_hits_equal_fresh_terms_on_random_shapes(profile_name: str) -> None:
    dtype = "fp32" if profile_name.startswith("epyc") else "bf16" if profile_name.startswith("tpu") else "fp16"
    for spec in resnet_candidates(6, seed=len(profile_name)):
        graph = build_graph(spec, batch=random.Random(str(spec.vars)).choice([1, 3, 32]))
        fresh_member_terms(graph, profile_name, dtype, "uniform")
        if dtype != "fp32":
            fresh_member_terms(graph, profile_name, dtype, "amp")


@pytest.mark.parametrize("path", ZOO[::3], ids=lambda p: p.stem)
def test_kernel_terms_are_the_same_with_the_memo_warm_or_empty(path: Path) -> None:
    graph = build_graph(to_spec(path)[0])
    for name, dtype, precision in (("a100_80gb", "fp16", "amp"), ("rtx4090", "fp16", "uniform"),
                                   ("epyc_zen3_vm_b", "fp32", "uniform")):
        profile = load_profile(name)
        latency_model._MEMBERS.clear()
        cold = kernel_terms(graph, profile, dtype, precision=precision)
        warm = kernel_terms(graph, profile, dtype, precision=precision)  # every layer a hit
        assert warm == cold
        assert estimate(graph, profile, dtype=dtype, precision=precision) == \
            estimate(graph, profile, dtype=dtype, precision=precision)


def test_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(latency_model.MemberMemo, "MAX_ENTRIES", 5)
    latency_model._MEMBERS.clear()
    graph = build_graph(resnet_candidates(1, seed=3)[0])
    kernel_terms(graph, load_profile("a100_80gb"), "fp16")
    (table,) = latency_model._MEMBERS.tables.values()
    assert 0 < len(table.entries) <= 5 and latency_model._MEMBERS.size == len(table.entries)
    kernel_terms(graph, load_profile("rtx4090"), "fp16")  # a second table: the bound is over both
    assert sum(len(t.entries) for t in latency_model._MEMBERS.tables.values()) == latency_model._MEMBERS.size <= 5
    latency_model._MEMBERS.clear()


@pytest.mark.parametrize("path", ZOO, ids=lambda p: p.stem)
def test_eager_layout_of_a_graph_without_views_is_what_following_its_strides_gives(path: Path) -> None:
    graph = build_graph(to_spec(path)[0])
    assert eager_layout(graph, load_profile("a100_80gb"), Fusion.NONE) == strided_layout(graph)
    # on a CPU too, where a channels-first layer norm leaves strided maps even without views (ConvNeXt)
    assert eager_layout(graph, load_profile("xeon6_gnr_vm"), Fusion.NONE) == strided_layout(graph, cpu=True)


def test_a_shared_cost_cache_gives_the_costs_of_a_fresh_build() -> None:
    costs = CostCache()
    for spec in resnet_candidates(8, seed=11):
        shared = build_graph(spec, batch=2, costs=costs)
        alone = build_graph(spec.model_copy(update={"name": spec.name + "_alone"}), batch=2)
        assert [(la.path, la.attrs, la.input_shapes, la.cost) for la in shared.layers] == \
            [(la.path, la.attrs, la.input_shapes, la.cost) for la in alone.layers]
    # each entry keeps its attributes alive: an identity in a key is never that of a newer object
    assert all(id(attrs) == key[2] for key, (_, attrs) in costs.costs.items())


def test_a_full_cost_cache_is_emptied_and_still_gives_the_costs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CostCache, "MAX_ENTRIES", 3)
    costs = CostCache()
    for spec in resnet_candidates(2, seed=5):
        shared = build_graph(spec, costs=costs)
        assert len(costs.costs) <= 3
        alone = build_graph(spec.model_copy(update={"name": spec.name + "_alone"}))
        assert [la.cost for la in shared.layers] == [la.cost for la in alone.layers]
