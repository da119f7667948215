"""DeepMAD under TinyNAS's conventions: the seven published networks against values from the official code,
the super-block closed forms against the analyzer and the graph reading, and the official rules by hand."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from costmodel import analyze, load_graph
from costmodel.design.entropy import official_budgets, score_graph
from costmodel.design.presets import PRESETS
from costmodel.design.superblock import Network, SuperBlock, network_terms, network_yaml, superblock_figures
from costmodel.vocab import Convention

ROOT = Path(__file__).resolve().parents[1]
OFFICIAL = json.loads((ROOT / "tests/fixtures/deepmad_official.json").read_text())["networks"]
KEYS = {"deepmad-r18": "R18", "deepmad-r34": "R34", "deepmad-r50": "R50", "deepmad-29m-224": "29M-224",
        "deepmad-29m-288": "29M-288", "deepmad-50m": "50M", "deepmad-89m": "89M"}


def spec_path(preset: str) -> Path:
    return ROOT / "arch_specs" / "deepmad" / f"{PRESETS[preset].published.name}.yaml"


@pytest.mark.parametrize("preset", list(KEYS))
def test_published_specs_score_as_the_official_code(preset: str) -> None:
    """Objective, stage entropies, rho, penalty and both budgets of the committed spec equal the values the
    official code computes (fixture: run by hand on TinyNAS at 8ccaf88, not costmodel output); the spec's
    params equal the TinyNAS deploy model's."""
    ref = OFFICIAL[KEYS[preset]]
    graph = load_graph(spec_path(preset))
    s = score_graph(graph, convention=Convention.OFFICIAL)
    assert s.objective == pytest.approx(ref["objective"], rel=1e-12)
    assert s.entropy == pytest.approx(ref["entropy"], rel=1e-12)
    assert [a * h for a, h in zip(s.alphas, s.entropies, strict=True)] == pytest.approx(ref["stage"], rel=1e-12)
    assert s.rho == pytest.approx(ref["rho"], rel=1e-12)
    assert s.penalty == pytest.approx(ref["penalty"], rel=1e-12)
    flops, model_size = official_budgets(graph)
    assert flops == ref["flops"] and model_size == ref["model_size"]
    assert analyze(spec_path(preset)).totals.params == ref["deploy_params"]
    # and the closed form of the published network
    net = PRESETS[preset].published
    f = superblock_figures(net.kind, network_terms(net), Convention.OFFICIAL)
    assert float(f.objective) == pytest.approx(ref["objective"], rel=1e-12)
    assert float(network_terms(net).flops) == ref["flops"]


def test_official_rules_by_hand(write_spec) -> None:
    """A stem and two SE super-blocks at 32 px: ½ log per layer, the feature map is 1 after an SE block,
    every super-block's L in the penalty; flops and model_size term by term."""
    net = Network("k1dwsek1", 32, 8, (SuperBlock(2, 16, 32, 3, 2), SuperBlock(2, 24, 48, 5, 3)))
    graph = load_graph(write_spec(network_yaml(net)))
    s = score_graph(graph, alphas=[1, 1, 2], convention=Convention.OFFICIAL)
    stem = 0.5 * math.log(27)
    sb1 = 0.5 * (math.log(8 * 9 * 32) + math.log(16 * 9 * 32))
    sb2 = 0.5 * (math.log(16 * 25 * 48) + 2 * math.log(24 * 25 * 48))
    h = [(math.log(8) + math.log(16 ** 2)) * stem, math.log(16) * (stem + sb1), math.log(24) * (stem + sb1 + sb2)]
    assert s.entropies == pytest.approx(h, rel=1e-12)
    std = 0.5  # of [2, 3]
    assert s.penalty == pytest.approx(10 * math.exp(std))
    assert s.objective == pytest.approx(h[0] + h[1] + 2 * h[2] - 10 * math.exp(std), rel=1e-12)
    flops, model_size = official_budgets(graph)
    se1, se2 = 8, 8  # max(1, round(32/4)//8)*8, max(1, round(48/4)//8)*8
    stem_f = (27 * 8 + 3 * 8) * 16 * 16
    # first block of sb1: 1x1 at 16², dw/3x3 and 1x1 at 8², activations 32·16² + 32·8² + 16·8², no residual
    b1 = (8 * 32 + 2 * 32) * 256 + (32 * 9 + 2 * 32) * 64 + (32 * 16 + 2 * 16) * 64 + 32 * 256 + 32 * 64 + 16 * 64
    b2 = ((16 * 32 + 2 * 32) + (32 * 9 + 2 * 32) + (32 * 16 + 2 * 16) + 2 * 32 + 16) * 64
    c1 = (16 * 48 + 2 * 48) * 64 + (48 * 25 + 2 * 48) * 16 + (48 * 24 + 2 * 24) * 16 + 48 * 64 + 48 * 16 + 24 * 16
    c2 = ((24 * 48 + 2 * 48) + (48 * 25 + 2 * 48) + (48 * 24 + 2 * 24) + 2 * 48 + 24) * 16
    assert flops == stem_f + b1 + b2 + c1 + 2 * c2
    se_p = [2 * 32 * se1 + 2 * se1 + 2 * 32, 2 * 48 * se2 + 2 * se2 + 2 * 48]
    p = (27 * 8 + 16 + 8 * 32 + 64 + 32 * 9 + 64 + se_p[0] + 32 * 16 + 32 + (16 * 32 + 64 + 32 * 9 + 64 + se_p[0]
         + 32 * 16 + 32) + 16 * 48 + 96 + 48 * 25 + 96 + se_p[1] + 48 * 24 + 48
         + 2 * (24 * 48 + 96 + 48 * 25 + 96 + se_p[1] + 48 * 24 + 48))
    assert model_size == p
    assert analyze(write_spec(network_yaml(net))).totals.params == p + 24 * 1000 + 1000


def test_resnet_penalty_drops_the_first_two_superblocks() -> None:
    """strategy.py: super-blocks 3-5 of a SuperResK1KXK1 network (published R18: L 9, 10, 12 -> 34.81)."""
    graph = load_graph(spec_path("deepmad-r18"))
    s = score_graph(graph, convention=Convention.OFFICIAL)
    assert s.penalty_depths == (9, 10, 12)
    d = np.array([9, 10, 12])
    assert s.penalty == pytest.approx(10 * math.exp(d.std()))
    paper = score_graph(graph)  # costmodel's paper reading merges the two 14x14 super-blocks: [6, 19, 12]
    assert paper.penalty_depths == (6, 19, 12)


@pytest.mark.parametrize("seed", range(6))
def test_closed_forms_match_the_analyzer_and_the_graph(seed: int, write_spec) -> None:
    """Random super-block networks: flops, model_size, MACs, params and both conventions' objective and rho
    from the closed forms equal the analyzer's counts and the graph readings."""
    rng = random.Random(seed)
    kind = "k1kxk1" if seed % 2 else "k1dwsek1"
    strides = rng.choice([(2, 2, 2, 1, 2), (1, 2, 2, 2, 2), (2, 2, 2, 2, 1)])
    blocks, c = [], rng.choice([16, 24, 32])
    for s in strides:
        c = c + 8 * rng.randint(0, 12) if kind == "k1dwsek1" else 8 * rng.randint(4, 60)
        ratio = rng.uniform(1.5, 6) if kind == "k1dwsek1" else rng.uniform(0.1, 1)
        btn = max(8, int(c * ratio) // 2 * 2)  # even, not a multiple of 8: exercises the SE rounding
        blocks.append(SuperBlock(s, c, btn, rng.choice([3, 5, 7]), rng.randint(1, 4)))
    net = Network(kind, rng.choice([224, 192]), rng.choice([16, 24, 32]), tuple(blocks),
                  rng.choice([None, 1280]) if kind == "k1dwsek1" else None)
    path = write_spec(network_yaml(net))
    graph = load_graph(path)
    t = network_terms(net)
    totals = analyze(path).totals
    assert (float(t.macs), float(t.params)) == (totals.macs, totals.params)
    flops, model_size = official_budgets(graph)
    assert float(t.flops) == pytest.approx(flops, rel=1e-12) and float(t.model_size) == model_size
    for convention in Convention:
        s = score_graph(graph, convention=convention)
        f = superblock_figures(kind, t, convention)
        assert float(f.objective) == pytest.approx(s.objective, rel=1e-12)
        assert float(np.exp(f.log_rhos.max())) == pytest.approx(s.rho, rel=1e-12)


@pytest.mark.parametrize("preset", list(KEYS))
def test_presets_beat_the_published_network_within_the_official_budgets(preset: str) -> None:
    """The acceptance: under the official convention the design meets the official budgets as the graph
    counts them and scores higher than the published network (official code's value, fixture); MBConv designs
    keep btn/out within the default 4..6."""
    from costmodel.design.sbsolve import design_superblocks, from_preset

    p = PRESETS[preset]
    result = design_superblocks(from_preset(p))
    assert result.flops <= p.flops and result.params <= p.model_size and result.score.rho <= p.rho
    assert result.score.objective > OFFICIAL[KEYS[preset]]["objective"]
    if p.kind == "k1dwsek1":
        assert all(4 <= b.btn / b.out <= 6 for b in result.network.blocks)
    else:
        assert all(0.1 <= b.btn / b.out <= 1 for b in result.network.blocks)
        assert {b.kernel for b in result.network.blocks} <= {3, 5}
    assert result.network.blocks[0].depth <= 3


def test_cli_preset_writes_a_spec_that_scores_as_printed(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from costmodel.cli import app

    runner = CliRunner()
    out = tmp_path / "r18.yaml"
    result = runner.invoke(app, ["design", "--preset", "deepmad-r18", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "published deepmad-r18: objective 32,085.4" in result.output
    scored = runner.invoke(app, ["design", "score", str(out), "--convention", "official", "--format", "json"])
    data = json.loads(scored.stdout)
    assert data["convention"] == "official"
    assert data["objective"] > OFFICIAL["R18"]["objective"]
    assert f"objective {data['objective']:,.1f}" in result.output
    assert data["budgets"]["official_flops"] <= 1.82e9 and data["budgets"]["official_model_size"] <= 11.69e6
    assert data["effectiveness"] <= 0.3


def test_latency_budget_with_superblocks_is_met_through_the_shared_root_find(monkeypatch: pytest.MonkeyPatch) -> None:
    """A latency budget under the super-block spaces: met by the analyzer's roofline latency, at a smaller flop
    budget and an objective no higher than without it, found by the block spaces' root find (counted calls)."""
    from costmodel.design import roofline_latency, sbsolve
    from costmodel.design.sbsolve import SuperProblem, design_superblocks, network_spec

    calls = []
    shared = sbsolve.latency_root_find
    monkeypatch.setattr(sbsolve, "latency_root_find", lambda *a, **k: calls.append(1) or shared(*a, **k))
    latency = roofline_latency("a100", batch=16, to_spec=network_spec)
    problem = SuperProblem("k1kxk1", (2, 2, 2, 1, 2), 150e6, None, 0.3, Convention.OFFICIAL, resolution=64)
    loose = design_superblocks(problem)
    target = latency(loose.network) * 0.8
    result = design_superblocks(problem, latency=(latency, target))
    assert calls == [1]
    assert result.latency_s is not None and result.latency_s <= target
    assert latency(result.network) == result.latency_s  # the figure printed is the analyzer's, for this network
    assert result.flops < loose.flops and result.score.objective <= loose.score.objective
    assert result.score.rho <= 0.3


def test_cli_preset_takes_a_latency_budget() -> None:
    from typer.testing import CliRunner

    from costmodel.cli import app

    result = CliRunner().invoke(app, ["design", "--preset", "deepmad-r18", "--hw", "a100", "--latency", "20ms",
                                      "--batch", "64"])
    assert result.exit_code == 0, result.output
    assert "latency <= 20 ms" in result.output
    line = next(x for x in result.output.splitlines() if x.startswith("latency "))
    assert float(line.split()[1]) <= 20.0


@pytest.mark.parametrize(("args", "message"), [
    (["design", "--preset", "deepmad-r99"], "unknown --preset 'deepmad-r99'"),
    (["design", "--space", "resnet", "--macs", "1G", "--convention", "official"], "--convention official scores"),
    (["design", "--convention", "tinynas", "--macs", "1G"], "unknown --convention 'tinynas'"),
    (["design", "score", "arch_specs/resnet50.yaml", "--format", "csv"], "design score writes --format table"),
])
def test_cli_bad_input_is_one_line(args: list[str], message: str) -> None:
    from typer.testing import CliRunner

    from costmodel.cli import app

    result = CliRunner().invoke(app, [a if not a.startswith("arch_specs") else str(ROOT / a) for a in args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


DESIGNS = json.loads((ROOT / "tests/fixtures/deepmad_official.json").read_text())["designs"]


@pytest.mark.parametrize("preset", list(DESIGNS))
def test_designs_score_as_the_official_code(preset: str, write_spec) -> None:
    """Structures costmodel designed (one-block super-blocks, shrinking widths, 7x7, head convs), scored by
    TinyNAS's own code (fixture): the graph reading and the closed forms agree with it."""
    ref = DESIGNS[preset]
    info = ref["structure_info"]
    kind = "k1kxk1" if info[1]["class"] == "SuperResK1KXK1" else "k1dwsek1"
    blocks = tuple(SuperBlock(b["s"], b["out"], b["btn"], b["k"], b["L"]) for b in info if "L" in b)
    head = info[-1]["out"] if "L" not in info[-1] and len(info) > len(blocks) + 1 else None
    net = Network(kind, ref["image_size"], info[0]["out"], blocks, head)
    graph = load_graph(write_spec(network_yaml(net)))
    s = score_graph(graph, convention=Convention.OFFICIAL)
    assert s.objective == pytest.approx(ref["objective"], rel=1e-12)
    assert s.penalty == pytest.approx(ref["penalty"], rel=1e-12)
    assert s.rho == pytest.approx(ref["rho"], rel=1e-12)
    assert official_budgets(graph) == (ref["flops"], ref["model_size"])
    assert float(superblock_figures(kind, network_terms(net), Convention.OFFICIAL).objective) == pytest.approx(
        ref["objective"], rel=1e-12)
