"""`design` and `design score`: DeepMAD's entropy maximised by mathematical programming (docs/designer.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..analysis import analyze_graph
from ..api import load_graph
from ..vocab import Dtype
from .common import SetOption, app, choice_option, fail, parse_inputs, parse_set, user_errors, write_output

# -- design: DeepMAD's entropy maximised by mathematical programming (docs/designer.md) ----------------------

design_app = typer.Typer(help="Design CNNs by maximising DeepMAD's entropy under MAC, params and rho budgets "
                              "(MACs as timm's GMACs: --flops 4.13G = 4.13e9 multiply-accumulates); `design score "
                              "SPEC` scores an existing CNN. See docs/designer.md.")
app.add_typer(design_app, name="design")


def parse_alphas(text: str | None) -> tuple[float, ...] | None:
    """``'1,1,1,1,8' -> (1.0, 1.0, 1.0, 1.0, 8.0)``."""
    if text is None:
        return None
    try:
        return tuple(float(a) for a in text.split(","))
    except ValueError:
        raise fail(f"--alpha expects stage weights separated by commas (e.g. 1,1,1,1,8), got {text!r}") from None


@design_app.callback(invoke_without_command=True)
@user_errors
def design_run(
    ctx: typer.Context,
    space: Annotated[str, typer.Option(help="block family: resnet | mbconv | convnext")] = "resnet",
    flops: Annotated[str | None, typer.Option(
        help="MAC budget per image: multiply-accumulates as timm's 'GMACs' and costmodel's `macs` (FLOPs are about "
             "twice that), e.g. 4.13G = 4.13e9")] = None,
    params: Annotated[str | None, typer.Option(help="parameter budget, e.g. 25.55M (default: none)")] = None,
    rho: Annotated[float, typer.Option(
        help="effectiveness bound rho0 at every stage (0.3 ResNet-like, 0.5 larger)")] = 0.3,
    resolution: Annotated[int, typer.Option(min=4, help="input image side, pixels")] = 224,
    stages: Annotated[int, typer.Option(min=1, help="block stages, each halving the resolution")] = 4,
    se: Annotated[bool, typer.Option("--se", help="mbconv: squeeze-excite in every block")] = False,
    alpha: Annotated[str | None, typer.Option(help="stage weights, e.g. 1,1,1,1,8 (default: 1 each, 8 last)")] = None,
    beta: Annotated[float, typer.Option(min=0, help="depth-uniformity penalty weight")] = 10.0,
    first_depth: Annotated[int, typer.Option(min=1, help="most blocks in the first block stage")] = 3,
    max_depth: Annotated[int, typer.Option(min=1, help="most blocks in any other stage")] = 30,
    sweep: Annotated[str | None, typer.Option(
        help="solve several MAC budgets (each optionally :params), e.g. 0.5G,1G,2G:12M; prints the frontier")] = None,
    plot: Annotated[Path | None, typer.Option(help="with --sweep: write the entropy-MACs frontier as a PNG")] = None,
    compare: Annotated[list[Path] | None, typer.Option(
        help="with --plot: also score this spec and mark it (repeatable)")] = None,
    hw: Annotated[str | None, typer.Option(help="hardware profile for --latency (name, alias or YAML path)")] = None,
    latency: Annotated[str | None, typer.Option(
        help="latency budget per batch on --hw (roofline model), e.g. 1.5ms; checked on the integer design")] = None,
    batch: Annotated[int, typer.Option(min=1, help="batch size for --latency")] = 1,
    dtype: Annotated[Dtype | None, choice_option(
        Dtype, "--dtype", help="element type for --latency (default fp32)")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write the design's spec (YAML) here")] = None,
) -> None:
    """Solve for the CNN of highest DeepMAD entropy within the budgets; print it, write its spec with -o.

    Budgets are MACs as timm reports "GMACs" (--flops 4.13G = 4.13e9 multiply-accumulates, costmodel's
    `macs`), params and rho. Infeasible budgets: one line naming the constraint, exit code 2, no file.
    """
    if ctx.invoked_subcommand is not None:
        return
    from dataclasses import replace

    from ..design import Budget, Problem, design, roofline_latency, score_graph, spec_yaml
    from ..design import sweep as design_sweep
    from ..design.report import parse_budgets, parse_count, parse_seconds, plot_frontier, result_text, sweep_text

    if space not in ("resnet", "mbconv", "convnext"):
        raise fail(f"unknown --space {space!r}; choose one of resnet, mbconv, convnext")
    if (latency is None) != (hw is None):
        raise fail("--latency and --hw go together")
    if not rho > 0:
        raise fail(f"--rho must be positive, got {rho}")
    param_budget = parse_count(params, "--params") if params is not None else None
    problem = Problem(space, Budget(1.0, param_budget, rho), resolution, stages, se, parse_alphas(alpha), beta,
                      first_depth, max_depth)
    if sweep is not None:
        if output is not None or latency is not None:
            raise fail("--sweep prints a frontier: use --plot for a PNG (-o and --latency take a single budget)")
        budgets = parse_budgets(sweep, param_budget, rho)
        results = design_sweep(problem, budgets)
        typer.echo(sweep_text(problem, budgets, results), nl=False)
        if plot is not None:
            references = []
            for path in compare or []:
                graph = load_graph(path)
                references.append((graph.name, analyze_graph(graph).totals.macs,
                                   score_graph(graph, beta=beta).objective))
            plot_frontier(results, plot, references,
                          f"DeepMAD frontier: {space} space, {resolution} px, rho <= {rho:g}")
            typer.echo(f"wrote {plot}", err=True)
        if all(isinstance(r, Exception) for r in results):
            raise typer.Exit(code=2)
        return
    if flops is None:
        raise fail("give a MAC budget with --flops (e.g. --flops 4.13G) or several with --sweep")
    problem = replace(problem, budget=replace(problem.budget, macs=parse_count(flops)))
    budget_s = parse_seconds(latency) if latency is not None else None
    check = (roofline_latency(hw, batch, dtype), budget_s) if hw is not None and budget_s is not None else None
    result = design(problem, latency=check)
    typer.echo(result_text(problem, result, budget_s), nl=False)
    if output is not None:
        named = replace(result.design, name=output.stem)
        write_output(spec_yaml(named, f"costmodel design --space {space} --flops {flops}"
                                      + (f" --params {params}" if params else "") + f" --rho {rho:g}"), output)


@design_app.command("score")
@user_errors
def design_score(
    spec: Annotated[Path, typer.Argument(help="architecture spec (YAML), e.g. arch_specs/resnet50.yaml")],
    alpha: Annotated[str | None, typer.Option(help="stage weights (default: 1 each, 8 for the last stage)")] = None,
    beta: Annotated[float, typer.Option(min=0, help="depth-uniformity penalty weight")] = 10.0,
    input: Annotated[list[str] | None, typer.Option(
        "--input", help="override an input's per-sample shape: NAME=3,256,256 (repeatable)")] = None,
    set_: SetOption = None,
) -> None:
    """DeepMAD's entropy H and effectiveness rho per stage, and the depth penalty, of an existing CNN."""
    from ..design import score_graph
    from ..design.report import score_text

    graph = load_graph(spec, input_shapes=parse_inputs(input or []), overrides=parse_set(set_))
    typer.echo(score_text(graph.name, score_graph(graph, parse_alphas(alpha), beta), analyze_graph(graph)), nl=False)


