"""The DeepMAD designer: entropy, rho and penalty by hand, closed forms against the analyzer, the solver, the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from costmodel import analyze, load_graph
from costmodel.cli import app
from costmodel.design import (
    Budget,
    Design,
    DesignError,
    InfeasibleError,
    Problem,
    default_alphas,
    depth_penalty,
    design,
    effectiveness,
    evaluate_design,
    score_graph,
    solve_budgets,
    spec_yaml,
    stage_entropies,
)
from costmodel.design.report import parse_budgets, parse_count, parse_seconds
from costmodel.design.solver import design_figures
from costmodel.spec import parse_spec

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()

THREE_LAYERS = """
name: three
inputs: {image: [3, 32, 32]}
nodes:
  - {name: a, op: conv2d, out: 8, kernel: 3, padding: 1}
  - {name: act, op: relu}
  - {name: b, op: conv2d, out: 16, kernel: 3, stride: 2, padding: 1}
  - {name: c, op: conv2d, out: 16, kernel: 3, padding: 1, groups: 16}
  - {name: pool, op: global_avg_pool, flatten: true}
  - {name: fc, op: linear, out: 10}
"""


def test_entropy_and_rho_of_three_layers_by_hand(write_spec) -> None:
    # widths c_in*k*k/groups: a 3*9 = 27, b 8*9 = 72, c (depthwise) 16*9/16 = 9.
    # stage 0 = [a] at 32x32 with 8 channels; stage 1 = [b, c] at 16x16 with 16 channels.
    score = score_graph(load_graph(write_spec(THREE_LAYERS)))
    h0 = math.log(32 * 32 * 8) * math.log(27)
    h1 = math.log(16 * 16 * 16) * (math.log(27) + math.log(72) + math.log(9))
    assert [s.widths for s in score.stages] == [(27,), (72, 9)]
    assert score.entropies == pytest.approx((h0, h1), rel=1e-12)
    assert score.entropy == pytest.approx(1 * h0 + 8 * h1, rel=1e-12)  # alpha: 1, then 8 for the last stage
    rho0 = 1 / 27
    rho1 = 3 / (27 * 72 * 9) ** (1 / 3)  # depth over the geometric mean width
    assert score.rhos == pytest.approx((rho0, rho1), rel=1e-12)
    assert score.rho == pytest.approx(rho1)
    assert score.penalty == pytest.approx(10 * math.exp(0))  # no blocks: std of nothing is 0
    assert score.objective == pytest.approx(h0 + 8 * h1 - 10, rel=1e-12)
    # the same through the pure functions
    logs = [[math.log(27)], [math.log(72), math.log(9)]]
    assert stage_entropies(logs, [1024, 256], [8, 16]) == pytest.approx([h0, h1], rel=1e-12)
    assert effectiveness(logs) == pytest.approx([rho0, rho1], rel=1e-12)


def test_depth_penalty_and_alphas_by_hand() -> None:
    mean = (4 + 6 + 3) / 3
    std = math.sqrt(((4 - mean) ** 2 + (6 - mean) ** 2 + (3 - mean) ** 2) / 3)
    assert depth_penalty([4, 6, 3]) == pytest.approx(10 * math.exp(std))
    assert depth_penalty([5, 5], beta=2) == pytest.approx(2.0)
    assert default_alphas(5) == [1, 1, 1, 1, 8]


def test_a_depth_penalty_past_the_largest_float_is_infinite_not_an_internal_error() -> None:
    """std of [1, 2000, 1] = 1999 x sqrt(2) / 3 = 942.4 > ln(1.8e308) = 709.8: exp overflowed (OverflowError, exit 1 in
    `costmodel sweep` and `design score`; fuzz seed 42436, a resnet_like space of 1,000-8,000-block stages)."""
    assert depth_penalty([1, 2000, 1]) == math.inf
    assert depth_penalty([1, 2000, 1], beta=0) == 0.0  # no penalty asked for: not 0 x inf = nan
    std = 999 * math.sqrt(2) / 3  # [1, 1000, 1]: 470.9, still a float
    assert depth_penalty([1, 1000, 1]) == pytest.approx(10 * math.exp(std))


def test_design_score_of_an_infinite_penalty_prints_inf_and_writes_null(tmp_path) -> None:
    import json

    args = ["design", "score", "resnet50", "--set", "depths=[1, 1, 2000, 1]"]
    text = runner.invoke(app, args)
    assert text.exit_code == 0, text.output
    assert "penalty beta*exp(std[1, 2000, 1]) inf  =  objective -inf" in text.stdout
    result = runner.invoke(app, [*args, "-f", "json"])
    assert result.exit_code == 0, result.output
    assert "Infinity" not in result.stdout  # not JSON
    data = json.loads(result.stdout)
    assert data["penalty"] is None and data["objective"] is None and data["penalty_depths"] == [1, 2000, 1]


def test_main_path_skips_shortcut_projections_and_squeeze_excite(write_spec) -> None:
    spec = write_spec("""
        name: blocks
        inputs: {image: [3, 16, 16]}
        blocks:
          unit:
            params: {out: null}
            nodes:
              - {name: conv1, op: conv2d, out: out, kernel: 1}
              - {name: conv2, op: conv2d, out: out, kernel: 3, padding: 1, stride: 2}
              - {name: se_pool, op: reduce_mean, dims: [2, 3], keepdim: true}
              - {name: se_reduce, op: conv2d, out: 4, kernel: 1}
              - {name: se_expand, op: conv2d, out: out, kernel: 1}
              - {name: gate, op: sigmoid}
              - {name: scaled, op: mul, inputs: [conv2, gate]}
              - {name: proj, op: conv2d, out: out, kernel: 1, stride: 2, inputs: x}
              - {name: add, op: add, inputs: [scaled, proj]}
        nodes:
          - {name: stem, op: conv2d, out: 8, kernel: 3, padding: 1}
          - {name: layer, block: unit, repeat: 2, out: 16, overrides: {1: {out: 16}}}
        """)
    score = score_graph(load_graph(spec))
    # stem (3*9) | layer.0: conv1 (8), conv2 (16*9) | layer.1: conv1 (16), conv2 (16*9); no se_*, no proj
    assert [s.widths for s in score.stages] == [(27,), (8, 144), (16, 144)]
    assert [s.blocks for s in score.stages] == [0, 1, 1]


def test_resnet50_stages_follow_the_resolution() -> None:
    score = score_graph(load_graph(ROOT / "arch_specs/resnet50.yaml"))
    assert [s.channels for s in score.stages] == [64, 256, 512, 1024, 2048]
    assert [s.area for s in score.stages] == [112 ** 2, 56 ** 2, 28 ** 2, 14 ** 2, 7 ** 2]
    assert [s.blocks for s in score.stages] == [0, 3, 4, 6, 3]
    assert score.penalty_depths == (4, 6, 3)  # the first block stage is left out (it is kept small instead)
    assert score.depth == 1 + 16 * 3  # shortcut projections are off the main path


DESIGNS = [
    Design("resnet", 64, 16, (24, 48, 96), (8, 16, 24), (3, 5, 7), (2, 1, 3)),
    Design("resnet", 96, 8, (8, 32, 64, 64), (8, 8, 16, 64), (7, 3, 3, 5), (1, 2, 2, 1)),
    Design("mbconv", 64, 16, (16, 24, 40), (32, 96, 240), (3, 5, 7), (1, 2, 3)),
    Design("mbconv", 64, 16, (16, 24, 40), (32, 96, 240), (5, 3, 3), (2, 3, 1), se=True),
    Design("convnext", 64, 32, (32, 64, 128), (128, 256, 512), (7, 5, 3), (2, 1, 3)),
]


@pytest.mark.parametrize("candidate", DESIGNS, ids=lambda d: f"{d.family}{'-se' if d.se else ''}-{d.stages}")
def test_closed_forms_match_the_analyzer_and_the_graph_score(candidate: Design) -> None:
    spec = parse_spec(yaml.safe_load(spec_yaml(candidate)))
    analysis = analyze(spec)
    terms = evaluate_design(candidate)
    assert int(terms.macs) == analysis.totals.macs
    assert int(terms.params) == analysis.totals.params
    graph_score = score_graph(load_graph(spec))
    problem = Problem(candidate.family, Budget(1e12), candidate.resolution, candidate.stages, candidate.se)
    closed = design_figures(problem, terms, list(candidate.depths))
    assert float(closed.objective) == pytest.approx(graph_score.objective, rel=1e-12)
    assert math.exp(float(closed.log_rhos.max())) == pytest.approx(graph_score.rho, rel=1e-12)
    assert [s.blocks for s in graph_score.stages if s.blocks] == list(candidate.depths)


def test_r18_budget_beats_resnet18_and_meets_every_budget_as_the_analyzer_counts() -> None:
    budget = Budget(1.82e9, 11.69e6, 0.3)
    result = design(Problem("resnet", budget))
    analysis = analyze(parse_spec(yaml.safe_load(result.spec_text)))
    assert analysis.totals.macs == result.macs <= budget.macs
    assert analysis.totals.params == result.params <= budget.params
    assert result.score.rho <= budget.rho
    hand = score_graph(load_graph(ROOT / "arch_specs/resnet18.yaml"))
    assert result.score.entropy > hand.entropy and result.score.objective > hand.objective
    assert result.design.depths[0] <= 3
    assert all(w % 8 == 0 for w in (result.design.stem, *result.design.widths, *result.design.mids))
    assert list(result.design.widths) == sorted(result.design.widths)
    assert result.relaxed_objective >= result.score.objective * 0.95  # the rounding costs little


@pytest.mark.parametrize("space", ["resnet", "mbconv", "convnext"])
def test_tightening_the_budget_never_raises_the_objective(space: str) -> None:
    values = []
    for scale in (1.0, 0.8, 0.6, 0.45):  # independent solves, loosest first
        result = design(Problem(space, Budget(40e6 * scale, 1.2e6 * scale, 0.3), resolution=64))
        assert result.macs <= 40e6 * scale and result.params <= 1.2e6 * scale and result.score.rho <= 0.3
        values.append(result.score.objective)
    assert values == sorted(values, reverse=True)


def test_sweep_frontier_is_monotone_by_construction() -> None:
    budgets = [Budget(m, None, 0.3) for m in (60e6, 30e6, 45e6, 35e6)]
    results = solve_budgets(Problem("resnet", budgets[0], resolution=64), budgets)
    by_macs = sorted(zip((b.macs for b in budgets), (r.score.objective for r in results), strict=True))
    assert [v for _, v in by_macs] == sorted(v for _, v in by_macs)


def test_infeasible_budgets_name_the_constraint() -> None:
    with pytest.raises(InfeasibleError, match="MACs budget 1M cannot be met"):
        design(Problem("resnet", Budget(1e6)))
    with pytest.raises(InfeasibleError, match=r"effectiveness rho <= 0.01"):
        design(Problem("resnet", Budget(100e6, None, 0.01)))
    with pytest.raises(DesignError, match="at most 7 stages"):
        design(Problem("resnet", Budget(10e6), stages=50))


def test_units_parse() -> None:
    assert parse_count("4.13G") == pytest.approx(4.13e9)
    assert parse_count("25.55m") == pytest.approx(25.55e6)
    assert parse_count("1e9") == 1e9
    assert parse_seconds("1.5ms") == pytest.approx(1.5e-3)
    assert parse_seconds("2") == pytest.approx(2e-3)
    assert [b.params for b in parse_budgets("1G,2G:12M", 5e6, 0.3)] == [5e6, 12e6]
    with pytest.raises(DesignError):
        parse_count("lots")


def test_cli_design_writes_a_spec_that_analyze_agrees_with(tmp_path: Path) -> None:
    out = tmp_path / "design.yaml"
    result = runner.invoke(app, ["design", "--space", "mbconv", "--se", "--macs", "30M", "--params", "1M",
                                 "--resolution", "64", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "analyzer: MACs" in result.output and "rho_i" in result.output
    printed_macs = int(result.output.split("analyzer: MACs ")[1].split(" ")[0].replace(",", ""))
    printed_params = int(result.output.split("params ")[-1].split(" ")[0].replace(",", ""))
    assert yaml.safe_load(out.read_text())["name"] == "design"
    analyzed = runner.invoke(app, ["analyze", str(out), "-f", "json"])
    assert analyzed.exit_code == 0, analyzed.output
    totals = json.loads(analyzed.output)["totals"]
    assert (totals["macs"], totals["params"]) == (printed_macs, printed_params)
    assert printed_macs <= 30e6 and printed_params <= 1e6


def test_cli_infeasible_exits_2_without_writing(tmp_path: Path) -> None:
    out = tmp_path / "never.yaml"
    for args in (["--macs", "10M", "--stages", "50"], ["--macs", "1M"], ["--macs", "100M", "--rho", "0.01"]):
        result = runner.invoke(app, ["design", *args, "-o", str(out)])
        assert result.exit_code == 2, result.output
        assert result.output.startswith("error: ") and "Traceback" not in result.output
        assert not out.exists()
    assert "at most 7 stages" in runner.invoke(app, ["design", "--macs", "10M", "--stages", "50"]).output
    assert runner.invoke(app, ["design"]).exit_code == 2  # no budget


def test_cli_score_reports_stages_of_resnet50() -> None:
    result = runner.invoke(app, ["design", "score", str(ROOT / "arch_specs/resnet50.yaml")])
    assert result.exit_code == 0, result.output
    assert "7x7" in result.output and "objective 33,919" in result.output and "rho 0.089" in result.output
    vit = runner.invoke(app, ["design", "score", str(ROOT / "arch_specs/vit_small_patch16_224.yaml")])
    assert vit.exit_code == 2 and "no conv2d layers" in vit.output


def test_cli_sweep_prints_the_frontier_and_plots_it(tmp_path: Path) -> None:
    png = tmp_path / "frontier.png"
    result = runner.invoke(app, ["design", "--resolution", "64", "--sweep", "20M,40M:1M,200K", "--plot", str(png),
                                 "--compare", str(ROOT / "arch_specs/resnet18.yaml")])
    assert result.exit_code == 0, result.output
    assert "infeasible" in result.output  # 200K is below the smallest network at 64 px
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", ["frontier.txt", "frontier.pn"])
def test_cli_plot_with_an_unknown_extension_is_refused_before_the_solve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
) -> None:
    import costmodel.design

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the solver ran before the plot's file name was checked")

    monkeypatch.setattr(costmodel.design, "solve_budgets", never)
    result = runner.invoke(app, ["design", "--resolution", "64", "--sweep", "20M,40M", "--plot", str(tmp_path / name)])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1
    assert result.output.startswith(f"error: cannot write a plot to {tmp_path / name}")
    assert f"unknown figure format '{name.rsplit('.', 1)[1]}'" in result.output and "png" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["--macs", "20M"], ["--preset", "deepmad-r18"],
                                  ["--macs", "20M", "--compare", "x.yaml"]],
                         ids=["single-budget", "preset", "compare-without-plot"])
def test_cli_plot_or_compare_without_a_sweep_is_one_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         args: list[str]) -> None:
    """--plot draws a --sweep's frontier: with one budget (or a preset) it used to be ignored without a word;
    now one error line, exit 2, before any solve, nothing written. --compare without --plot likewise."""
    import costmodel.design

    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the solver ran")

    monkeypatch.setattr(costmodel.design, "design", never)
    plot = [] if "--compare" in args else ["--plot", str(tmp_path / "f.png")]
    result = runner.invoke(app, ["design", "--resolution", "64", *args, *plot, "-o", str(tmp_path / "d.yaml")])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("error: --")
    assert list(tmp_path.iterdir()) == []


def test_a_latency_budget_no_design_meets_is_named_as_the_latency_budget(tmp_path) -> None:
    """--macs 300M --latency 1ms --hw a100: the search lowers the MAC budget below the smallest network's, and the
    error spoke only of 'the MACs budget 3.074M' (a budget the user never gave); now it names the latency budget,
    the latency of the smallest design tried, and why no smaller one exists. Nothing written."""
    result = runner.invoke(app, ["design", "--macs", "300M", "--latency", "1ms", "--hw", "a100", "-o",
                                 str(tmp_path / "d.yaml")])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert result.output.startswith("error: the latency budget 1 ms cannot be met: the smallest design tried takes "), \
        result.output
    assert "the smallest resnet network" in result.output and list(tmp_path.iterdir()) == []


def test_latency_budget_is_met_and_tightening_it_never_raises_the_objective() -> None:
    from costmodel.design import roofline_latency

    latency = roofline_latency("a100", batch=8)
    problem = Problem("resnet", Budget(40e6, None, 0.3), resolution=64)
    loose = design(problem)
    objectives = [loose.score.objective]
    for fraction in (0.85, 0.7):
        target = latency(loose.design) * fraction
        result = design(problem, latency=(latency, target))
        assert result.latency_s is not None and result.latency_s <= target
        assert result.macs < loose.macs
        objectives.append(result.score.objective)
    assert objectives == sorted(objectives, reverse=True), objectives
