"""`costmodel report`: the folder's files, a parseable self-contained HTML page, Markdown links that resolve, the
tables' figures by their definitions, and one clear error (exit 2, nothing written) for bad input."""

from __future__ import annotations

import base64
import os
import re
import stat
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

import costmodel.plots
from costmodel.cli import app
from costmodel.hardware import load_profile
from costmodel.latency import FUSION_MODES, estimate_spec
from costmodel.report.page import REPORT_MANIFEST, ReportError, write_report
from costmodel.report.tables import duration

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "arch_specs" / "resnet18.yaml"
BATCH = 8
STEMS = ["roofline_rtx4090", "waterline_rtx4090", "stage_gap_rtx4090", "breakdown", "throughput"]
runner = CliRunner()


class Page(HTMLParser):
    """Collects tags, image sources and anything that would load an external asset."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.external: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in ("meta", "img", "br", "hr", "link"):
            self.open.append(tag)
        found = dict(attrs)
        if tag == "img":
            self.images.append(found)
        for name in ("src", "href"):
            value = found.get(name)
            if value is not None and not value.startswith(("data:", "#")):
                self.external.append(value)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1] if self.open else None}>"
        self.open.pop()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reports") / "resnet18"
    result = runner.invoke(app, ["report", str(SPEC), "--hw", "rtx4090", "--dtype", "fp16", "--batch", str(BATCH),
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_files(report: Path) -> None:
    expected = {"index.md", "index.html", REPORT_MANIFEST, *(f"{s}.{ext}" for s in STEMS for ext in ("png", "svg")),
                "interactive_rtx4090.html"}
    assert {p.name for p in report.iterdir()} == expected
    assert [p.name for p in report.parent.iterdir()] == ["resnet18"]  # no temporary folders left beside it
    for stem in STEMS:
        assert (report / f"{stem}.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        assert b"<svg" in (report / f"{stem}.svg").read_bytes()[:2000]


def test_report_folder_and_files_have_shareable_permissions(report: Path) -> None:
    """Built in a temporary folder (mkdtemp: 0700, mkstemp: 0600) but left as plain mkdir/open would make them."""
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(report.stat().st_mode) == 0o777 & ~mask
    for path in report.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, path.name


def test_html_is_self_contained_and_well_formed(report: Path) -> None:
    page = Page()
    page.feed((report / "index.html").read_text(encoding="utf-8"))
    page.close()
    assert page.open == [] and page.tags[:2] == ["html", "head"]
    # nothing loaded from outside: images inline; the one link is to the interactive page written beside it
    assert page.external == ["interactive_rtx4090.html"] and page.tags.count("a") == 1
    assert len(page.images) == len(STEMS)
    pngs = {(report / f"{s}.png").read_bytes() for s in STEMS}
    for image in page.images:
        src = image["src"] or ""
        assert src.startswith("data:image/png;base64,") and image.get("alt")
        assert base64.b64decode(src.split(",", 1)[1]) in pngs
    assert page.tags.count("table") == 4 + 1  # model, latency, fusion modes, stages; top layers per device


def test_markdown_links_resolve(report: Path) -> None:
    text = (report / "index.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)]+)\)", text)
    assert sorted(links) == sorted([*(f"{s}.{ext}" for s in STEMS for ext in ("png", "svg")),
                                    "interactive_rtx4090.html"])
    assert all((report / link).is_file() for link in links)
    assert text.startswith("# resnet18: cost and latency on NVIDIA GeForce RTX 4090")


def test_interactive_page_is_linked_and_self_contained(report: Path) -> None:
    """The report writes `costmodel plot interactive`'s page for each device: every fusion mode's roofline and
    waterline, one hoverable mark per kernel, nothing fetched."""
    text = (report / "interactive_rtx4090.html").read_text(encoding="utf-8")
    page = Page()
    page.feed(text)
    page.close()
    assert page.external == [] and "resnet18 on NVIDIA GeForce RTX 4090" in text
    for mode in FUSION_MODES:
        assert f"<h2>fusion {mode}: " in text, mode


def _table(text: str, heading: str) -> list[list[str]]:
    """The body rows of the first table after ``heading``."""
    rows: list[list[str]] = []
    for line in text.split(heading, 1)[1].splitlines():
        if line.startswith("| "):
            rows.append(line.strip("| ").split(" | "))
        elif rows:
            break
    return rows[2:]


def test_tables_by_definition(report: Path) -> None:
    """Throughput = batch / latency; the top-10 table lists the largest per-op latencies in order; stage
    latencies add up to the model latency."""
    text = (report / "index.md").read_text(encoding="utf-8")
    result = estimate_spec(SPEC, "rtx4090", batch=BATCH, dtype="fp16")
    latency = sum(k.latency_s for k in result.kernels)
    (row,) = _table(text, "## Latency per device")
    assert row[1] == duration(latency) and row[3] == f"{BATCH / latency:,.0f}"
    top = _table(text, "## Top 10 layers by latency")
    slowest = sorted((op.latency_s for op in result.ops), reverse=True)[:10]
    assert [r[4] for r in top] == [duration(t) for t in slowest]
    stages = _table(text, "## Stages")
    shares = [float(r[4].rstrip("%")) for r in stages]
    assert sum(shares) == pytest.approx(100, abs=0.05 * len(shares))
    model = dict((r[0], r[1]) for r in _table(text, "## Model"))
    assert model["params"].startswith("11.69M") and model["GMACs per image"].startswith("1.82")


def test_existing_report_is_kept_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "r"
    out.mkdir()
    (out / "index.md").write_text("old")  # a report written before manifests
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ninputs: {image: [3, 8, 8]}\nnodes:\n  - {op: no_such_op}\n")
    result = runner.invoke(app, ["report", str(bad), "--hw", "rtx4090", "-o", str(out)])
    assert result.exit_code == 2 and result.output.startswith(f"error: {bad}")
    assert [p.name for p in out.iterdir()] == ["index.md"] and (out / "index.md").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "r"]


def test_failure_midway_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> None:
        raise costmodel.plots.PlotError("waterline went wrong")

    monkeypatch.setattr(costmodel.plots, "waterline_figure", broken)
    with pytest.raises(ReportError, match="waterline went wrong"):
        write_report(SPEC, [load_profile("rtx4090")], tmp_path / "r", batch=2, dtype="fp16", batches=(1, 2))
    assert list(tmp_path.iterdir()) == []


def test_failure_while_moving_into_place_leaves_the_folder_as_it_was(tmp_path: Path) -> None:
    """index.md is a folder (the user forced the report into this folder): moving the new index.md fails after
    the figures and index.html were moved; they are taken back, the old index.html restored."""
    out = tmp_path / "r"
    (out / "index.md").mkdir(parents=True)
    (out / "index.md" / "keep").write_text("x")
    (out / "index.html").write_text("old html")
    with pytest.raises(ReportError, match=r"cannot write the report to .*/r: "):
        write_report(SPEC, [load_profile("rtx4090")], out, batch=2, dtype="fp16", batches=(1, 2), force=True)
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "index.md"]
    assert (out / "index.html").read_text() == "old html" and [p.name for p in (out / "index.md").iterdir()] == ["keep"]


@pytest.mark.parametrize(("args", "message"), [
    (["-o", "{tmp}/r"], "a report needs at least one --hw"),
    (["--hw", "rtx4090", "-o", "{tmp}/file.txt"], "it is a file, not a folder"),
    (["--hw", "rtx4090", "-o", "{tmp}/file.txt/r"], "is not a writable folder"),
    (["--hw", "rtx4090", "--fusion", "all", "-o", "{tmp}/r"], "unknown --fusion"),
    (["--hw", "rtx4090", "--dtype", "fp12", "-o", "{tmp}/r"], "unknown --dtype"),
    (["--hw", "tpu_v5e", "--dtype", "fp32", "-o", "{tmp}/r"], "fp32"),
])
def test_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "file.txt").write_text("x")
    result = runner.invoke(app, ["report", str(SPEC), *(a.format(tmp=tmp_path) for a in args)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and message in result.output and "Traceback" not in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"] and (tmp_path / "file.txt").read_text() == "x"


TINY = """
name: tiny
metadata: {top1: 71.5, top5: 90.1}
vars: {width: 8}
inputs: {image: [3, 16, 16]}
nodes:
  - {name: conv, op: conv2d, out: width, kernel: 3, padding: 1}
  - {name: pool, op: global_avg_pool, flatten: true}
  - {name: fc, op: linear, out: 10}
"""


def test_progress_total_and_published_accuracy_under_set(tmp_path: Path) -> None:
    """The progress bar's total is the number of steps the report goes through (two devices: 2 x (estimate,
    sweep, 3 figures) + 2 shared figures + the pages = 13); the published top-1 is of the model as written, so a
    --set that changes a variable leaves it off the page (as `compare` does), and one that keeps it does not."""
    from costmodel.report.page import step_count

    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY, encoding="utf-8")
    seen: list[tuple[int, int]] = []

    def progress(steps, _description: str, total: int):
        n = 0
        for step in steps:
            n += 1
            yield step
        seen.append((n, total))

    profiles = [load_profile("rtx4090"), load_profile("a100")]
    for name, width in (("changed", 16), ("same", 8)):
        write_report(spec, profiles, tmp_path / name, batch=2, batches=(1, 2), progress=progress,
                     overrides={"width": width})
    assert seen == [(13, 13), (13, 13)] and step_count(2) == 13
    changed = (tmp_path / "changed" / "index.md").read_text(encoding="utf-8")
    same = (tmp_path / "same" / "index.md").read_text(encoding="utf-8")
    assert "top-1 71.5%, top-5 90.1%" in same and "ImageNet-1k accuracy" not in changed
