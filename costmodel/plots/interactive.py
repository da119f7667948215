"""A self-contained interactive page (inline SVG and a few lines of JavaScript, nothing fetched): the roofline
and the waterline of one model on one device, one panel pair per fusion mode. Hovering a point or bar shows the
kernel's op path(s), output shape, latency, FLOPs, intensity and bound."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping

from ..graph import Graph
from ..latency import LatencyResult
from ..units import duration, si, time_unit
from .common import CLASS_COLORS, class_color
from .data import main_unit_ridge

W, H, PAD = 560, 340, 52  # panel size and margin, px
TOP = ' data-top="1"'  # marks the slowest kernel (the #demo hover)

SCRIPT = """
const tip = document.getElementById('tip');
function show(el, x, y) { tip.innerHTML = el.dataset.tip; tip.style.display = 'block';
  tip.style.left = (x + 14) + 'px'; tip.style.top = (y + 14) + 'px'; }
document.querySelectorAll('[data-tip]').forEach(el => {
  el.addEventListener('mousemove', e => show(el, e.pageX, e.pageY));
  el.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
});
if (location.hash === '#demo') {  // a hover without a mouse, for screenshots: the slowest kernel's tip
  const el = document.querySelector('[data-top="1"]'); const r = el.getBoundingClientRect();
  el.setAttribute('stroke', '#000'); el.setAttribute('stroke-width', '2');
  show(el, r.right + window.scrollX, r.top + window.scrollY);
}
"""
STYLE = """
body { font: 13px sans-serif; margin: 16px; } h1 { font-size: 17px; } h2 { font-size: 14px; margin: 14px 0 4px; }
#tip { position: absolute; display: none; background: #fffff0; border: 1px solid #888; padding: 5px 7px;
  font: 12px monospace; white-space: pre; pointer-events: none; box-shadow: 2px 2px 4px #0003; }
svg text { font: 11px sans-serif; } .panels { display: flex; gap: 18px; flex-wrap: wrap; }
"""


def _log_scale(lo: float, hi: float, size: float, flip: bool) -> Callable[[float], float]:
    """Pixel position of a value on a log axis from ``lo`` to ``hi`` (``flip``: upwards, for y)."""
    a, b = math.log10(lo), math.log10(hi)

    def at(v: float) -> float:
        t = (math.log10(v) - a) / (b - a)
        return PAD + (1 - t) * size if flip else PAD + t * size
    return at


def _axes(x_label: str, y_label: str, x_ticks: list[tuple[float, str]], y_ticks: list[tuple[float, str]]) -> str:
    parts = [f'<rect x="{PAD}" y="{PAD}" width="{W}" height="{H}" fill="none" stroke="#888"/>',
             f'<text x="{PAD + W / 2}" y="{PAD + H + 36}" text-anchor="middle">{html.escape(x_label)}</text>',
             f'<text transform="translate(12,{PAD + H / 2}) rotate(-90)" text-anchor="middle">'
             f'{html.escape(y_label)}</text>']
    parts += [f'<text x="{x:.1f}" y="{PAD + H + 16}" text-anchor="middle">{t}</text>'
              f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{PAD}" y2="{PAD + H}" stroke="#eee"/>' for x, t in x_ticks]
    parts += [f'<text x="{PAD - 6}" y="{y + 4:.1f}" text-anchor="end">{t}</text>'
              f'<line x1="{PAD}" x2="{PAD + W}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>' for y, t in y_ticks]
    return "".join(parts)


def _decades(lo: float, hi: float) -> list[float]:
    return [10.0 ** k for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
            if lo <= 10.0 ** k <= hi]


def _panels(graph: Graph, result: LatencyResult) -> str:
    shapes = {layer.path: "x".join(map(str, layer.cost.outputs[0])) if layer.cost.outputs else "-"
              for layer in graph.layers}
    by_path = {row.path: row for row in result.ops}
    total = result.summary.latency_s
    unit, ridge = main_unit_ridge(result)
    rates = [k.flops / k.compute_s for k in result.kernels if k.compute_s > 0 and k.flops > 0]
    peak = max(rates) if rates else 1.0
    kernels = [k for k in result.kernels if k.latency_s > 0]
    slowest = max(kernels, key=lambda k: k.latency_s).name if kernels else ""

    def tip(k) -> str:  # noqa: ANN001
        classes = sorted({by_path[p].op_class for p in k.ops})
        intensity = f"{k.flops / k.dram_bytes:.3g} FLOP/B" if k.dram_bytes else "no DRAM traffic"
        ops = "\n  ".join(f"{p} ({by_path[p].op}, {shapes.get(p, '-')})" for p in k.ops[:6])
        more = f"\n  … {len(k.ops) - 6} more" if len(k.ops) > 6 else ""
        return html.escape(f"kernel {k.name}\n  {ops}{more}\nlatency {duration(k.latency_s)} "
                           f"({100 * k.latency_s / total:.1f}% of the model)\nbound: {k.bound}\n"
                           f"FLOPs {k.flops:,}  DRAM {k.dram_bytes:,} B  {intensity}\nclass: {', '.join(classes)}")

    def color(k) -> str:  # noqa: ANN001
        share: dict[str, float] = {}
        for p in k.ops:
            share[by_path[p].op_class] = share.get(by_path[p].op_class, 0.0) + by_path[p].latency_s
        return class_color(max(share, key=share.__getitem__))

    # roofline: intensity (x, log) against attained FLOP/s (y, log)
    pts = [k for k in kernels if k.flops > 0 and k.dram_bytes > 0]
    xs = [k.flops / k.dram_bytes for k in pts] + [ridge]
    ys = [k.flops / k.latency_s for k in pts] + [peak]
    x_lo, x_hi = min(xs) / 3, max(xs) * 3
    y_lo, y_hi = min(ys) / 3, max(ys) * 3
    fx = _log_scale(x_lo, x_hi, W, flip=False)
    fy = _log_scale(y_lo, y_hi, H, flip=True)
    bw = peak / ridge
    roof = [(x_lo, min(peak, x_lo * bw)), (ridge, peak), (x_hi, peak)]
    body = [_axes("arithmetic intensity (FLOP/byte)", "attained (FLOP/s)",
                  [(fx(v), f"{v:g}") for v in _decades(x_lo, x_hi)],
                  [(fy(v), si(v, digits=3)) for v in _decades(y_lo, y_hi)])]
    body.append('<polyline fill="none" stroke="#333" stroke-width="1.5" points="'
                + " ".join(f"{fx(x):.1f},{fy(max(y, y_lo)):.1f}" for x, y in roof) + '"/>')
    body.append(f'<text x="{fx(ridge) - 4:.1f}" y="{fy(peak) - 6:.1f}" text-anchor="end">ridge {ridge:.3g} FLOP/B '
                f'({unit})</text>')
    for k in sorted(pts, key=lambda k: -k.latency_s):
        r = 3 + 22 * math.sqrt(k.latency_s / total)
        body.append(f'<circle cx="{fx(k.flops / k.dram_bytes):.1f}" cy="{fy(k.flops / k.latency_s):.1f}" r="{r:.1f}" '
                    f'fill="{color(k)}" fill-opacity="0.6" stroke="{color(k)}" data-tip="{tip(k)}"'
                    f'{TOP if k.name == slowest else ""}/>')
    roofline = f'<svg width="{W + 2 * PAD}" height="{H + 2 * PAD}">{"".join(body)}</svg>'

    # waterline: kernels along cumulative latency (x), intensity (y, log), the ridge as the water level
    inten = [k.flops / k.dram_bytes for k in kernels if k.flops > 0 and k.dram_bytes > 0] + [ridge]
    i_lo, i_hi = min(inten) / 3, max(inten) * 3
    gy = _log_scale(i_lo, i_hi, H, flip=True)
    scale, unit_name = time_unit(total)
    ticks = [total * f for f in (0, 0.25, 0.5, 0.75, 1.0)]
    body = [_axes(f"cumulative latency ({unit_name})", "arithmetic intensity (FLOP/byte)",
                  [(PAD + W * t / total, f"{t / scale:.3g}") for t in ticks],
                  [(gy(v), f"{v:g}") for v in _decades(i_lo, i_hi)])]
    body.append(f'<rect x="{PAD}" y="{gy(ridge):.1f}" width="{W}" height="{PAD + H - gy(ridge):.1f}" '
                f'fill="#cfe3f3"/>')
    clock = 0.0
    for k in kernels:
        value = k.flops / k.dram_bytes if k.dram_bytes and k.flops else (i_hi if not k.dram_bytes else i_lo * 1.2)
        top = gy(min(max(value, i_lo * 1.2), i_hi))
        fill = "#1f4e79" if value < ridge else "#e08a1e"
        width = max(W * k.latency_s / total, 0.6)
        body.append(f'<rect x="{PAD + W * clock / total:.2f}" y="{top:.1f}" width="{width:.2f}" '
                    f'height="{PAD + H - top:.1f}" fill="{fill}" data-tip="{tip(k)}"'
                    f'{TOP if k.name == slowest and not pts else ""}/>')
        clock += k.latency_s
    body.append(f'<line x1="{PAD}" x2="{PAD + W}" y1="{gy(ridge):.1f}" y2="{gy(ridge):.1f}" stroke="#1f4e79" '
                'stroke-dasharray="5,3"/>')
    waterline = f'<svg width="{W + 2 * PAD}" height="{H + 2 * PAD}">{"".join(body)}</svg>'
    s = result.summary
    return (f"<h2>fusion {html.escape(str(s.fusion))}: {s.kernels} kernels, {duration(s.latency_s)} per batch, "
            f"{100 * s.memory_bound_share:.0f}% of the time memory-bound</h2>"
            f'<div class="panels">{roofline}{waterline}</div>')


def interactive_html(graph: Graph, results: Mapping[str, LatencyResult], title: str) -> str:
    """The page: a title, a legend of op-class colours, and per fusion mode a roofline and a waterline whose
    points and bars show their kernel on hover. Self-contained: no scripts or styles are fetched."""
    legend = " ".join(f'<span style="color:{class_color(c)}">&#9679; {c}</span>' for c in CLASS_COLORS)
    panels = "".join(_panels(graph, result) for result in results.values())
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><p>Hover a point (roofline: "
            f"circle area ∝ latency) or a bar (waterline: width = latency; blue under water = memory-bound) for the "
            f"kernel's ops, shapes, latency and bound. {legend}</p>{panels}<div id='tip'></div>"
            f"<script>{SCRIPT}</script></body></html>\n")
