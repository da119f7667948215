"""The interactive page: self-contained, and every roofline point and waterline bar carries its kernel's tip."""

from __future__ import annotations

import html
import re
from pathlib import Path

from typer.testing import CliRunner

from costmodel.cli import app
from costmodel.graph import load_graph
from costmodel.hardware import load_profile
from costmodel.latency import estimate
from costmodel.plots.interactive import interactive_html


def test_page_is_self_contained_and_every_kernel_has_a_tip() -> None:
    graph = load_graph("resnet18")
    result = estimate(graph, load_profile("rtx4090"), fusion="none")
    page = interactive_html(graph, {"none": result}, "resnet18")
    assert "http" not in page and "<script src" not in page and "<link" not in page
    tips = [html.unescape(t) for t in re.findall(r'data-tip="([^"]*)"', page)]
    kernels = [k for k in result.kernels if k.latency_s > 0]
    on_roofline = [k for k in kernels if k.flops > 0 and k.dram_bytes > 0]
    assert len(tips) == len(on_roofline) + len(kernels)  # a circle each on the roofline, a bar each on the waterline
    slowest = max(kernels, key=lambda k: k.latency_s)
    shape = "x".join(map(str, next(layer for layer in graph.layers if layer.path == slowest.name).cost.outputs[0]))
    tip = next(t for t in tips if t.startswith(f"kernel {slowest.name}\n"))
    assert shape in tip and f"bound: {slowest.bound}" in tip and "latency" in tip


def test_cli_writes_html(tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    result = CliRunner().invoke(app, ["plot", "interactive", "convnext_t", "--hw", "a100", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<!DOCTYPE html>")
