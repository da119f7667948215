"""The audit of the shipped profiles (issue 12, item 6): every numeric figure has a source; a cited source quotes
the figure; an estimate says why; docs/hardware-profiles.md lists the profiles' current values."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from costmodel.hardware.audit import AuditRow, audit_file, audit_main, audit_shipped, audit_table
from costmodel.hardware.profile import SHIPPED_DIR

DOC = Path(__file__).resolve().parents[1] / "docs" / "hardware-profiles.md"
ROWS = audit_shipped()


@pytest.mark.parametrize("stem", sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml")))
def test_every_numeric_figure_has_a_source_or_an_estimate_reason(stem):
    rows = audit_file(SHIPPED_DIR / f"{stem}.yaml")
    assert any(r.field == "memory.bandwidth_gbs" for r in rows)
    problems = [r.problem for r in rows if r.problem]
    assert not problems, "\n".join(p for p in problems if p)


def test_the_audit_catches_a_figure_changed_without_its_source(tmp_path):
    text = (SHIPPED_DIR / "rtx3090.yaml").read_text()
    changed = tmp_path / "rtx3090.yaml"
    changed.write_text(text.replace("bandwidth_gbs: 936", "bandwidth_gbs: 1000"))
    bad = [r for r in audit_file(changed) if r.problem]
    assert [r.field for r in bad] == ["memory.bandwidth_gbs"]
    unsourced = tmp_path / "t4.yaml"
    unsourced.write_text((SHIPPED_DIR / "t4.yaml").read_text().replace("  caches.l2_mb:", "  dropped:"))
    assert [r.field for r in audit_file(unsourced) if r.problem] == ["caches.l2_mb"]


@pytest.mark.parametrize(("value", "source", "status", "ok"), [
    (6.0, "GA102 whitepaper: 6144 KB L2", "datasheet", True),  # KB for MB
    (3350.0, "H100 datasheet: 3.35 TB/s", "datasheet", True),  # TB/s for GB/s
    (989.4, "1,979 TFLOPS with sparsity -> 989.4 dense", "derived", True),
    (1513.0, "3,026 TOPS with sparsity -> 1513 dense", "derived", True),
    (71.0, "GA102 whitepaper: 142 with FP16 accumulate", "datasheet", False),  # the headline is not the figure
    (0.9, "estimate: P-cores x clock plus E-cores x clock at 45 W", "estimate", True),
    (0.9, "estimate: guess", "estimate", False),  # an estimate says why
    (2.0, "lscpu: L2 2 MiB (2 instances)", "measured", True),
])
def test_status_and_quoting_rules(value, source, status, ok):
    row = AuditRow("p", "f", value, source)
    assert row.status == status
    assert (row.problem is None) == ok


def test_one_entry_may_cover_a_table_of_figures(tmp_path):
    data = tmp_path / "table.yaml"
    data.write_text(yaml.safe_dump({"memory": {"bandwidth_gbs": 48.2}, "cpu": {"extra": {"a": 38, "b": 7.7}},
                                    "sources": {"memory.bandwidth_gbs": "computed: 2 x 24.1 = 48.2 GB/s",
                                                "cpu.extra": "measured on this VM: calls of 41 and 10.6 us less a "
                                                             "ReLU's 2.9 us"}}))
    rows = {r.field: r for r in audit_file(data)}
    assert rows["cpu.extra.a"].key == "cpu.extra" and rows["cpu.extra.a"].status == "measured"
    assert rows["cpu.extra.b"].problem is None  # a table's entry need not quote each figure
    assert rows["memory.bandwidth_gbs"].status == "computed" and rows["memory.bandwidth_gbs"].problem is None


def test_doc_table_holds_the_profiles_current_values():
    """Every row of docs/hardware-profiles.md names a figure the profiles hold, with its value and status (a figure
    changed, or re-sourced, without re-running `python -m costmodel.hardware.audit` fails here)."""
    rows = {(r.profile, r.field): r for r in ROWS}
    documented = re.findall(r"^\| (\w+) \| ([\w.]+) \| ([^|]+) \| (\w+) \|", DOC.read_text(), re.M)
    documented = [d for d in documented if d[0] != "profile"]
    assert len(documented) >= 200
    for stem, field, value, status in documented:
        row = rows.get((stem, field))
        assert row is not None, f"docs/hardware-profiles.md lists {stem} {field}, which no profile holds"
        assert float(value) == pytest.approx(row.value, rel=1e-6), (stem, field)
        assert status == row.status, (stem, field)


def test_audit_command_prints_the_table(capsys):
    assert audit_main() == 0
    out = capsys.readouterr().out
    assert out == audit_table(ROWS) and out.startswith("| profile | field | value | status | source |")


NOTES = "/work/" + "notes"  # the lead's scratch area, outside the repository (split so this file does not cite it)


def _cites_notes(paths: list[Path]) -> list[str]:
    """The files among `paths` whose text names NOTES (a measurement a user cannot re-run from the repository)."""
    hits = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if NOTES in text:
            hits.append(str(path))
    return hits


def test_no_tracked_file_cites_the_leads_notes(tmp_path):
    """Profile sources, docs and code cite scripts and outputs under benchmarks/cpu_micro/ (or a fixture), never the
    lead's notes; tests/fixtures and benchmarks/cpu_micro/data keep their records
    (headers, a rejected patch) as written."""
    root = Path(__file__).resolve().parents[1]
    listed = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    records = ("tests/fixtures/", "benchmarks/cpu_micro/data/")  # measured outputs, kept as they were written
    files = [root / f for f in listed.stdout.splitlines() if not f.startswith(records)]
    assert len(files) > 100
    assert _cites_notes(files) == []
    bad = tmp_path / "cites.md"
    bad.write_text(f"measured with {NOTES}/meas/x.py")
    assert _cites_notes([bad]) == [str(bad)]
