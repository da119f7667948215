"""Golden outputs (torchinfo's habit): each case of tests/golden_cases.py against its file, and invariants over
EVERY golden file, parsed from its text: per-layer rows sum to the totals (params, MACs, FLOPs, activations,
bytes, latency where shown), a comparison's throughput is its batch over its latency.

The tests never write a golden; ``python -m tests.regen_goldens`` does (its docstring says how to review the diff).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from .golden_cases import CASES, GOLDEN, golden_path

FILES = sorted(GOLDEN.glob("*.txt"))


@pytest.mark.parametrize("name", list(CASES))
def test_golden(name: str) -> None:
    text = CASES[name]()
    path = golden_path(name)
    assert path.exists(), f"no golden {path.name}: write it with `python -m tests.regen_goldens {name}`"
    assert text == path.read_text(encoding="utf-8"), (
        f"{path.name} differs; if the change is intended: `python -m tests.regen_goldens {name}`, read the diff")


def test_every_golden_has_a_case_and_no_two_are_alike() -> None:
    assert {p.stem for p in FILES} == set(CASES)
    texts = [p.read_bytes() for p in FILES]
    same = [(a.name, b.name) for i, a in enumerate(FILES) for b, tb in zip(FILES[i + 1:], texts[i + 1:], strict=True)
            if texts[i] == tb]
    assert not same, f"identical goldens cannot tell their cases apart: {same}"


def test_depths_group_differently() -> None:
    """The nested spec's three depths: every layer, one row per top-level node, one row per repeat."""
    first = {d: [_table_rows(golden_path(f"nested_table_{d}").read_text())[1][i][0] for i in range(4)]
             for d in ("all", "1", "2")}
    assert first == {"all": ["stem", "stage.0.conv", "stage.0.act", "stage.0.add"],
                     "1": ["stem", "stage", "pool", "fc"], "2": ["stem", "stage.0", "stage.1", "pool"]}


# --- parsing what a person reads back into numbers, with the error of the rounding shown ---------------------------

_SCALE = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "k": 1e3,
          "s": 1.0, "ms": 1e-3, "µs": 1e-6, "ns": 1e-9}
_NUMBER = re.compile(r"^(?P<num>-?[\d,]+(?:\.(?P<dec>\d+))?)\s?(?P<prefix>[KMGTk]?)(?P<unit>B|s|ms|µs|ns)?$")


def _value(cell: str) -> tuple[float, float]:
    """``'55.30K' -> (55300, 5)``: the value and the most its rounding can be off (half a unit of the last digit
    shown; none for a plain count below 1000); ``'3.30 kB'``, ``'20 µs'`` likewise."""
    cell = cell.strip("* ")
    match = _NUMBER.match(cell)
    assert match, f"not a number: {cell!r}"
    unit = match["unit"] or ""
    scale = _SCALE[match["prefix"]] * (_SCALE[unit] if unit not in ("", "B") else 1.0)
    decimals = len(match["dec"] or "")
    exact = not (decimals or match["prefix"] or unit)  # a count below 1000, printed whole
    return float(match["num"].replace(",", "")) * scale, 0.0 if exact else 0.5 * 10.0 ** -decimals * scale


def _columns(lines: list[str]) -> list[tuple[int, int]]:
    """Column spans of fixed-width lines: separated by runs of two or more positions blank in every line."""
    width = max(len(line) for line in lines)
    used = [any(i < len(line) and line[i] != " " for line in lines) for i in range(width)]
    spans, start, blank = [], None, 0
    for i, u in enumerate([*used, False, False]):
        if u:
            if start is None:
                start = i
            blank = 0
        else:
            blank += 1
            if start is not None and blank == 2:
                spans.append((start, i - 1))
                start = None
    return spans


def _table_rows(text: str) -> tuple[list[str], list[list[str]], list[str]]:
    """A text table's header, body and total row (the block between the first rule and the next)."""
    lines = text.splitlines()
    rules = [i for i, line in enumerate(lines) if line and set(line) == {"-"}]
    head, body, foot = lines[rules[0] - 1], lines[rules[0] + 1:rules[1]], lines[rules[1] + 1]
    spans = _columns([head, *body, foot])

    def cells(line: str) -> list[str]:
        return [line[a:b].strip() for a, b in spans]

    return cells(head), [cells(line) for line in body], cells(foot)


def _markdown_rows(text: str) -> tuple[list[str], list[list[str]], list[str]]:
    rows = [[c.strip() for c in line.strip("|").split(" | ")] for line in text.splitlines() if line.startswith("| ")]
    head, _, *rest = rows
    return head, [r for r in rest if not r[0].startswith("**")], next(r for r in rest if r[0].startswith("**"))


SUMMED = ("params", "MACs", "FLOPs", "acts", "read", "written", "latency")


def _check_sums(head: list[str], body: list[list[str]], foot: list[str], name: str) -> int:
    checked = 0
    for i, column in enumerate(head):
        if column.split(" ")[0] not in SUMMED:
            continue
        values = [_value(row[i]) for row in body]
        total, total_err = _value(foot[i])
        err = sum(e for _, e in values) + total_err
        assert abs(sum(v for v, _ in values) - total) <= err * (1 + 1e-9), (name, column, values, foot[i])
        checked += 1
    return checked


def _analysis_table(text: str, name: str) -> None:
    head, body, foot = _table_rows(text)
    assert _check_sums(head, body, foot, name) >= 6


def _analysis_markdown(text: str, name: str) -> None:
    head, body, foot = _markdown_rows(text)
    assert _check_sums(head, body, foot, name) >= 6


def _comparison(text: str, name: str) -> None:
    """Each device's images/s is batch / (ms/batch), within the rounding of both cells."""
    batch = int(re.search(r"models: batch (\d+)", text)[1])  # type: ignore[index]
    if text.startswith("#"):
        head, body, _ = _markdown_rows(text + "\n| **x** |")
    else:
        lines = text.splitlines()
        rule = next(i for i, line in enumerate(lines) if line and set(line) == {"-"})
        spans = _columns([lines[rule - 1], *lines[rule + 1:]])
        head, *body = [[line[a:b].strip() for a, b in spans] for line in [lines[rule - 1], *lines[rule + 1:]]]
    ms_cols = [i for i, h in enumerate(head) if h.startswith("ms/batch")]
    assert ms_cols
    for row in body:
        for i in ms_cols:
            (ms, ms_err), (ips, _) = _value(row[i]), _value(row[i + 1])
            ips_err = 0.5  # printed whole
            low, high = batch * 1e3 / (ms + ms_err), batch * 1e3 / (ms - ms_err)
            assert low - ips_err <= ips <= high + ips_err, (name, row[0], ms, ips)


def _analysis_json(text: str, name: str) -> None:
    data = json.loads(text)
    layers, totals = data["layers"], data["totals"]
    for key in ("params", "macs", "flops", "activations", "output_elements", "weight_bytes", "bytes_read",
                "bytes_written"):
        assert sum(layer[key] for layer in layers) == totals[key], (name, key)
    for device, result in data.get("latency", {}).items():
        latency = result["summary"]["latency_s"]
        assert math.isclose(sum(layer["latency"][device]["latency_s"] for layer in layers), latency, rel_tol=1e-9)
        assert math.isclose(sum(k["latency_s"] for k in result["kernels"]), latency, rel_tol=1e-9)
        for part in ("by_class", "by_stage"):
            assert math.isclose(sum(result["summary"][part].values()), latency, rel_tol=1e-9), (name, part)


def _analysis_csv(text: str, name: str) -> None:
    """A CSV holds no totals: its rows sum to the totals of the JSON golden of the same spec and device."""
    rows = list(csv.DictReader(io.StringIO(text)))
    stem, device = re.fullmatch(r"(\w+?)_csv_\w+?_(\w+)", name).groups()  # type: ignore[union-attr]
    data = json.loads(golden_path(f"{stem}_json_{device}").read_text(encoding="utf-8"))
    for key in ("params", "macs", "flops", "activations", "bytes_read", "bytes_written"):
        assert sum(int(r[key]) for r in rows) == data["totals"][key], (name, key)
    for key, result in data["latency"].items():
        assert math.isclose(sum(float(r[f"{key}.latency_s"]) for r in rows), result["summary"]["latency_s"],
                            rel_tol=1e-9)


def _kind(text: str) -> Callable[[str, str], None]:
    if text.startswith("{"):
        return _analysis_json
    if text.startswith("path,op,"):
        return _analysis_csv
    if " models: batch " in text.splitlines()[0]:
        return _comparison
    if "\n| layer |" in text:
        return _analysis_markdown
    if "\nlayer " in text:
        return _analysis_table
    raise AssertionError("a golden of a kind with no invariant: add its parser to tests/test_goldens.py")


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_invariants(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    _kind(text)(text, path.stem)


def test_table_and_markdown_hold_the_same_cells() -> None:
    """The text and Markdown renderings of one case show the same numbers."""
    table, markdown = (golden_path(n).read_text(encoding="utf-8") for n in ("small_table_0", "small_markdown_0"))
    (head, body, foot), (m_head, m_body, m_foot) = _table_rows(table), _markdown_rows(markdown)
    assert (head, body) == (m_head, m_body)
    assert [c for c in foot if c] == [c.strip("*") for c in m_foot if c]


@pytest.mark.parametrize(("column", "row", "cell"), [("FLOPs", 0, "120.00K"), ("latency", 1, "25 µs"),
                                                     ("params", 8, "51")])
def test_the_sum_check_can_fail(column: str, row: int, cell: str) -> None:
    """A row off by more than the rounding shown no longer sums to the total."""
    head, body, foot = _table_rows(golden_path("nested_latency_table_a100").read_text(encoding="utf-8"))
    _check_sums(head, body, foot, "as written")
    body[row][head.index(column)] = cell
    with pytest.raises(AssertionError):
        _check_sums(head, body, foot, "tampered")
