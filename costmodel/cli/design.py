"""`design` and `design score`: DeepMAD's entropy maximised by mathematical programming (docs/designer.md)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from ..analysis import analyze_graph
from ..fileio import unwritable_reason
from ..graph import load_graph
from ..vocab import Convention, Dtype, Format
from .common import (
    FormatOption,
    SetOption,
    app,
    check_choice,
    choice_option,
    echo_text,
    emit_json,
    fail,
    parse_inputs,
    parse_set,
    user_errors,
    write_output,
)

# -- design: DeepMAD's entropy maximised by mathematical programming (docs/designer.md) ----------------------

design_app = typer.Typer(help="Design CNNs by maximising DeepMAD's entropy under MAC, params and rho budgets "
                              "(MACs as timm's GMACs: --macs 4.13G = 4.13e9 multiply-accumulates); `design score "
                              "SPEC` scores an existing CNN. See docs/designer.md.")
app.add_typer(design_app, name="design")


def parse_alphas(text: str | None) -> tuple[float, ...] | None:
    """``'1,1,1,1,8' -> (1.0, 1.0, 1.0, 1.0, 8.0)``."""
    if text is None:
        return None
    try:
        alphas = tuple(float(a) for a in text.split(","))
        if not all(math.isfinite(a) for a in alphas):
            raise ValueError
        return alphas
    except ValueError:
        raise fail(f"--alpha expects stage weights separated by commas (e.g. 1,1,1,1,8), got {text!r}") from None


def parse_ratio(text: str | None) -> tuple[float, float] | None:
    """``'4,6' -> (4.0, 6.0)``."""
    if text is None:
        return None
    try:
        low, high = (float(x) for x in text.split(","))
    except ValueError:
        raise fail(f"--mid-ratio expects LO,HI (e.g. 4,6), got {text!r}") from None
    if not 0 < low <= high:
        raise fail(f"--mid-ratio expects 0 < LO <= HI, got {text!r}")
    return low, high


@design_app.callback(invoke_without_command=True)
@user_errors
def design_run(
    ctx: typer.Context,
    space: Annotated[str, typer.Option(
        help="block family: resnet | mbconv | convnext, or TinyNAS super-blocks k1kxk1 | k1dwsek1")] = "resnet",
    preset: Annotated[str | None, typer.Option(
        help="a published DeepMAD search: deepmad-r18 | -r34 | -r50 | -29m-224 | -29m-288 | -50m | -89m (sets space, "
             "strides, head, resolution, budgets, rho, alpha, beta)")] = None,
    convention: Annotated[Convention | None, choice_option(
        Convention, "--convention", help="paper | official (TinyNAS's scoring and budget counting; the default "
        "with --preset and the super-block spaces)")] = None,
    strides: Annotated[str | None, typer.Option(
        help="super-block spaces: stride of each super-block (default: k1kxk1 2,2,2,1,2 as DeepMAD-R*, "
             "k1dwsek1 1,2,2,2,2 as DeepMAD-29M-224)")] = None,
    head: Annotated[int | None, typer.Option(min=1, help="super-block spaces: 1x1 head conv channels")] = None,
    mid_ratio: Annotated[str | None, typer.Option(
        help="bounds of inner to output channels, LO,HI (default: resnet 0.125,1; mbconv 4,6; convnext 1,6; "
             "k1kxk1 0.1,1; k1dwsek1 4,6)")] = None,
    limits: Annotated[str, typer.Option(
        help="super-block spaces: default | official (TinyNAS's mutator limits; MBConv btn/out 1.5..6 instead "
             "of 4..6)")] = "default",
    macs: Annotated[str | None, typer.Option(
        help="MAC budget per image: multiply-accumulates as timm's 'GMACs' and costmodel's `macs` (FLOPs are about "
             "twice that), e.g. 4.13G = 4.13e9; TinyNAS's `flops` (also MACs) for the super-block spaces")] = None,
    flops: Annotated[str | None, typer.Option(
        help="old name of --macs (it always was a MAC budget); warns", hidden=True)] = None,
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
    format: FormatOption = Format.TABLE,
) -> None:
    """Solve for the CNN of highest DeepMAD entropy within the budgets; print it, write its spec with -o.

    Budgets are MACs as timm reports "GMACs" (--macs 4.13G = 4.13e9 multiply-accumulates, costmodel's
    `macs`), params and rho. Infeasible budgets: one line naming the constraint, exit code 2, no file.
    """
    if ctx.invoked_subcommand is not None:
        return
    if flops is not None:
        if macs is not None:
            raise fail("give the MAC budget once: --macs (--flops is its old name)")
        typer.echo("warning: --flops is now --macs (the budget counts multiply-accumulates); --flops will go",
                   err=True)
    flops = macs if macs is not None else flops  # below, `flops` is the MAC budget text
    if format not in (Format.TABLE, Format.JSON):
        raise fail(f"design writes --format table or json, not {format}")
    if plot is not None and sweep is None:
        raise fail("--plot draws the frontier of a --sweep (e.g. --sweep 0.5G,1G,2G --plot frontier.png); "
                   "a single design has none")
    if compare and plot is None:
        raise fail("--compare marks specs on the --plot frontier: give --sweep and --plot too")
    from dataclasses import replace

    from ..design import Budget, Problem, design, roofline_latency, score_graph, solve_budgets, spec_yaml
    from ..design.report import parse_budgets, parse_count, parse_seconds, plot_frontier, result_text, sweep_text
    from ..design.sbsolve import network_spec

    check_choice("--space", space, ("resnet", "mbconv", "convnext", "k1kxk1", "k1dwsek1"))
    check_choice("--limits", limits, ("default", "official"))
    ratio = parse_ratio(mid_ratio)
    if not 0 < rho < math.inf:
        raise fail(f"--rho must be a positive, finite number, got {rho}")
    if not math.isfinite(beta):
        raise fail(f"--beta must be a finite number, got {beta}")
    for target in (plot, output):
        reason = unwritable_reason(target) if target is not None else None
        if reason:
            raise fail(f"cannot write {target}: {reason}")
    if plot is not None:
        from ..plots import figure_format  # matplotlib: only when a plot is asked for

        figure_format(plot)  # an unknown extension is refused before the solve, not after it
    if preset is not None or space in ("k1kxk1", "k1dwsek1"):
        if sweep is not None:
            raise fail("--sweep takes the resnet, mbconv and convnext spaces, not --preset or the super-block spaces")
        if (latency is None) != (hw is None):
            raise fail("--latency and --hw go together")
        check = ((roofline_latency(hw, batch, dtype, network_spec), parse_seconds(latency))
                 if hw is not None and latency is not None else None)
        superblock_run(space, preset, convention or Convention.OFFICIAL, strides, head, limits, flops, params, rho,
                       resolution, parse_alphas(alpha), beta, first_depth, max_depth, ratio, output, check)
        return
    if convention is Convention.OFFICIAL:
        raise fail("--convention official scores TinyNAS super-block networks: use --preset or --space "
                   "k1kxk1|k1dwsek1 (design score takes any spec)")
    if (latency is None) != (hw is None):
        raise fail("--latency and --hw go together")
    param_budget = parse_count(params, "--params") if params is not None else None
    problem = Problem(space, Budget(1.0, param_budget, rho), resolution, stages, se, parse_alphas(alpha), beta,
                      first_depth, max_depth, mid_ratio=ratio)
    if sweep is not None:
        if output is not None or latency is not None:
            raise fail("--sweep prints a frontier: use --plot for a PNG (-o and --latency take a single budget)")
        budgets = parse_budgets(sweep, param_budget, rho)
        results = solve_budgets(problem, budgets)
        if format is Format.JSON:
            emit_json([{"budget": b, "result": r} for b, r in zip(budgets, results, strict=True)])
        else:
            echo_text(sweep_text(problem, budgets, results))
        if plot is not None:
            references = []
            for path in compare or []:
                graph = load_graph(path)
                references.append((graph.name, analyze_graph(graph).totals.macs,
                                   score_graph(graph, beta=beta).objective))
            for path in plot_frontier(results, plot, references,
                                      f"DeepMAD frontier: {space} space, {resolution} px, rho <= {rho:g}"):
                typer.echo(f"wrote {path}", err=True)
        if all(isinstance(r, Exception) for r in results):
            raise typer.Exit(code=2)
        return
    if flops is None:
        raise fail("give a MAC budget with --macs (e.g. --macs 4.13G) or several with --sweep")
    problem = replace(problem, budget=replace(problem.budget, macs=parse_count(flops, "--macs")))
    budget_s = parse_seconds(latency) if latency is not None else None
    check = (roofline_latency(hw, batch, dtype), budget_s) if hw is not None and budget_s is not None else None
    result = design(problem, latency=check)
    if format is Format.JSON:
        emit_json({"problem": problem, "result": result, "spec": result.spec_text})
    else:
        echo_text(result_text(problem, result, budget_s))
    if output is not None:
        named = replace(result.design, name=output.stem)
        write_output(spec_yaml(named, f"costmodel design --space {space} --macs {flops}"
                                      + (f" --params {params}" if params else "") + f" --rho {rho:g}"), output)


def superblock_run(
    space: str, preset_name: str | None, conv: Convention, strides: str | None, head: int | None, limits: str,
    flops: str | None, params: str | None, rho: float, resolution: int, alphas: tuple[float, ...] | None,
    beta: float, first_depth: int, max_depth: int, ratio: tuple[float, float] | None, output: Path | None,
    latency: tuple[Callable[[Any], float], float] | None = None,
) -> None:
    """``design --preset`` / ``--space k1kxk1|k1dwsek1``: the TinyNAS super-block designer."""
    from dataclasses import replace

    from ..design.presets import MBCONV_LIMITS, MBCONV_OFFICIAL_LIMITS, RESNET_LIMITS, preset
    from ..design.report import parse_count, superblock_text
    from ..design.sbsolve import SuperProblem, design_superblocks, from_preset
    from ..design.superblock import network_terms, network_yaml, superblock_figures

    published = None
    if preset_name is not None:
        chosen = preset(preset_name)
        problem = from_preset(chosen, conv)
        kind = chosen.kind
        value = float(superblock_figures(kind, network_terms(chosen.published), conv, chosen.alphas,
                                         chosen.beta).objective)
        published = (chosen.name, value)
    else:
        if flops is None:
            raise fail("give a budget with --macs (official `flops`, which count MACs, or with --convention paper, "
                       "costmodel's MACs)")
        kind = space
        try:
            stride_list = tuple(int(x) for x in (strides or ("2,2,2,1,2" if kind == "k1kxk1" else "1,2,2,2,2"))
                                .split(","))
        except ValueError:
            raise fail(f"--strides expects strides separated by commas (e.g. 2,2,2,1,2), got {strides!r}") from None
        problem = SuperProblem(kind, stride_list, parse_count(flops), None, rho, conv, resolution, head, alphas, beta)
    if flops is not None:
        problem = replace(problem, flops=parse_count(flops))
    if params is not None:
        problem = replace(problem, params=parse_count(params, "--params"))
    base = RESNET_LIMITS if kind == "k1kxk1" else (MBCONV_OFFICIAL_LIMITS if limits == "official" else MBCONV_LIMITS)
    problem = replace(problem, limits=replace(base, first_depth=first_depth, max_depth=max_depth,
                                              ratio=ratio or base.ratio))
    result = design_superblocks(problem, latency=latency)
    echo_text(superblock_text(problem, result, published, latency[1] if latency else None))
    if output is not None:
        named = replace(result.network, name=output.stem)
        how = f"--preset {preset_name}" if preset_name else f"--space {space}"
        write_output(network_yaml(named, source=f"costmodel design {how} --convention {conv}"), output)


@design_app.command("score")
@user_errors
def design_score(
    spec: Annotated[Path, typer.Argument(help="architecture spec (YAML), e.g. arch_specs/resnet50.yaml")],
    alpha: Annotated[str | None, typer.Option(help="stage weights (default: 1 each, 8 for the last stage)")] = None,
    beta: Annotated[float, typer.Option(min=0, help="depth-uniformity penalty weight")] = 10.0,
    convention: Annotated[Convention, choice_option(
        Convention, "--convention", help="paper (log w, true resolutions, costmodel's MACs/params) | official "
        "(TinyNAS's code: 1/2 log w, its stage, feature-map and penalty rules, flops/model_size without the "
        "classifier)")] = Convention.PAPER,
    format: FormatOption = Format.TABLE,
    input: Annotated[list[str] | None, typer.Option(
        "--input", help="override an input's per-sample shape: NAME=3,256,256 (repeatable)")] = None,
    set_: SetOption = None,
) -> None:
    """DeepMAD's entropy H and effectiveness rho per stage, and the depth penalty, of an existing CNN."""
    from ..design.entropy import official_budgets, score_graph
    from ..design.report import score_json, score_text

    if format not in (Format.TABLE, Format.JSON):
        raise fail(f"design score writes --format table or json, not {format}")
    graph = load_graph(spec, input_shapes=parse_inputs(input or []), overrides=parse_set(set_))
    score = score_graph(graph, parse_alphas(alpha), beta, convention)
    official = official_budgets(graph) if convention is Convention.OFFICIAL else None
    if format is Format.JSON:
        typer.echo(score_json(graph.name, score, analyze_graph(graph), official), nl=False)
    else:
        echo_text(score_text(graph.name, score, analyze_graph(graph), official))


