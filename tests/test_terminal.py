"""The terminal and scripts: text fits $COLUMNS, the default view is short, --top/--sort pick rows, and -o takes
the format from the file's extension (a contradicting --format is an error)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from costmodel.cli import app
from costmodel.layout import Table, fit_width, shorten

ROOT = Path(__file__).resolve().parents[1]
CONVNEXT = str(ROOT / "arch_specs/convnext_t.yaml")
runner = CliRunner()


def _fits(output: str, width: int, lines: int) -> None:
    text = output.splitlines()
    assert max(len(line) for line in text) <= width, max(text, key=len)
    assert len(text) <= lines, len(text)


def test_analyze_two_devices_fits_100_columns() -> None:
    result = runner.invoke(app, ["analyze", CONVNEXT, "--hw", "a100", "--hw", "rtx4090"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    _fits(result.output, 100, 60)
    assert "latency" in result.output and "rtx4090" in result.output and "total" in result.output


def test_compare_zoo_fits_100_columns() -> None:
    specs = sorted(str(p) for p in (ROOT / "arch_specs").glob("*.yaml"))
    result = runner.invoke(app, ["compare", *specs, "--hw", "a100", "--hw", "rtx4090"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    _fits(result.output, 100, 60)
    assert all(Path(s).stem in result.output for s in specs)


def test_narrow_terminal_shortens_paths_in_the_middle() -> None:
    result = runner.invoke(app, ["analyze", CONVNEXT, "--depth", "all", "--hw", "a100"], env={"COLUMNS": "60"})
    assert result.exit_code == 0
    assert max(len(line) for line in result.output.splitlines()) <= 60


def test_top_sort_picks_the_largest_layers() -> None:
    every = json.loads(runner.invoke(app, ["analyze", CONVNEXT, "-f", "json"]).output)["layers"]
    for key, value in (("macs", lambda r: r["macs"]), ("params", lambda r: r["params"]),
                       ("memory", lambda r: r["bytes_read"] + r["bytes_written"])):
        result = runner.invoke(app, ["analyze", CONVNEXT, "-f", "json", "--top", "4", "--sort", key])
        top = json.loads(result.output)["layers"]
        assert [value(r) for r in top] == sorted((value(r) for r in every), reverse=True)[:4]
    result = runner.invoke(app, ["analyze", CONVNEXT, "--top", "3", "--hw", "a100", "-f", "json"])
    layers = json.loads(result.output)["layers"]
    every = json.loads(runner.invoke(app, ["analyze", CONVNEXT, "--hw", "a100", "-f", "json"]).output)["layers"]
    latencies = sorted((r["latency"]["a100_80gb"]["latency_s"] for r in every if "latency" in r), reverse=True)
    assert [r["latency"]["a100_80gb"]["latency_s"] for r in layers] == latencies[:3]


def test_sort_latency_needs_a_device() -> None:
    result = runner.invoke(app, ["analyze", CONVNEXT, "--sort", "latency"])
    assert result.exit_code == 2 and "needs at least one --hw" in result.output


@pytest.mark.parametrize("depth", ["0", "x", "-1"])
def test_bad_depth_is_one_line(depth: str) -> None:
    result = runner.invoke(app, ["analyze", CONVNEXT, "--depth", depth])
    assert result.exit_code == 2 and result.output.startswith("error: --depth")


def test_output_extension_sets_the_format(tmp_path: Path) -> None:
    out = tmp_path / "x.json"
    assert runner.invoke(app, ["analyze", CONVNEXT, "-o", str(out)]).exit_code == 0
    assert json.loads(out.read_text())["totals"]["params"] == 28589128
    out = tmp_path / "x.csv"
    assert runner.invoke(app, ["analyze", CONVNEXT, "-o", str(out)]).exit_code == 0
    assert out.read_text().startswith("path,")
    bad = tmp_path / "y.csv"
    result = runner.invoke(app, ["analyze", CONVNEXT, "-f", "json", "-o", str(bad)])
    assert result.exit_code == 2 and "contradicts" in result.output and not bad.exists()


@pytest.mark.parametrize("name", ["fig.png", "table.xlsx", "t.PDF", "page.html"])
def test_output_under_a_name_that_is_not_text_needs_a_format(tmp_path: Path, name: str) -> None:
    """`analyze -o fig.png` wrote the table as text under a picture's name (exit 0): a newcomer expecting a figure
    got a PNG no viewer opens. Without --format it is one error line and nothing written; with it, as asked. An HTML
    page is text, but no table format: the line said ".html file is not text" and now points at `costmodel report`."""
    out = tmp_path / name
    page = "; for an HTML page see `costmodel report`" if name.endswith(".html") else ""
    for command in (["analyze", CONVNEXT], ["compare", CONVNEXT, "resnet18"]):
        result = runner.invoke(app, [*command, "-o", str(out)])
        assert (result.exit_code, result.output) == (2, f"error: cannot write a table to {out}: {out.suffix} is not "
                                                        "a table format; name it .txt, .csv, .json or .md, or pass "
                                                        f"--format{page}\n")
        assert list(tmp_path.iterdir()) == []
    assert runner.invoke(app, ["analyze", CONVNEXT, "-o", str(out), "-f", "json"]).exit_code == 0
    assert json.loads(out.read_text())["totals"]["params"] == 28589128


def test_fit_drops_columns_in_order_then_shortens() -> None:
    table = Table(["name", "a", "b"], [["x" * 30, "1" * 10, "2" * 10]], ["<", ">", ">"])
    assert fit_width(table, 44, ["b", "a"]) == ["b"] and table.header == ["name", "a"]
    assert fit_width(table, 20, ["a"]) == ["a"] and table.width() == 20
    assert table.body[0][0] == shorten("x" * 30, 20) and len(table.body[0][0]) == 20
    assert shorten("stages.2.blocks.4.dwconv", 11) == "stage…wconv" and shorten("ab", 2) == "ab"


def _command_rows(text: str) -> list[list[str]]:
    """The description cells of a help page's Commands panel, one list of lines per command."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("╭─ Commands"))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("╰"))
    body = [line[1:-1] for line in lines[start + 1:end]]
    name = body[0][1:].split(" ", 1)[0]
    column = body[0].index(body[0][1 + len(name):].lstrip(), 1 + len(name))  # where the descriptions start
    rows: list[list[str]] = []
    for content in body:
        if content[1] != " ":
            rows.append([])
        rows[-1].append(content[column:].rstrip())
    return rows


@pytest.mark.parametrize("group", [[], ["hw"], ["plot"], ["design"], ["zoo"]])
def test_help_lists_commands_wrapped_at_the_width_not_at_the_docstrings_line_breaks(group: list[str]) -> None:
    """In `costmodel --help` at 100 columns a command's summary fills each line before it wraps: the docstring's
    own line breaks (typer keeps them in rich markup) broke `import`'s summary as '... downloaded); node' | 'names
    follow ...', a line that ended where the next word fitted."""
    result = runner.invoke(app, [*group, "--help"], env={"COLUMNS": "100"}, terminal_width=100)
    assert result.exit_code == 0, result.output
    _fits(result.output, 100, 120)
    rows = _command_rows(result.output)
    width = max(len(line) for cells in rows for line in cells)  # the description column's width, as filled
    for cells in rows:
        for line, following in zip(cells, cells[1:], strict=False):
            assert len(line) + 1 + len(following.split()[0]) > width, cells


WIDE_SPEC = """name: 小网络
inputs: {image: [3, 32, 32]}
nodes:
  - {name: 卷积层, op: conv2d, out: 8, kernel: 3}
  - {name: act, op: relu}
  - {name: 全局池化, op: global_avg_pool}
  - {name: "e\u0301cole", op: flatten}
"""


@pytest.mark.parametrize("columns", ["100", "60"])
def test_wide_and_combining_characters_keep_the_columns_in_line(tmp_path: Path, columns: str) -> None:
    """A CJK layer name takes two terminal columns a character, a combining accent none: counted as one each, every
    cell after them was pushed out of line (and a table that 'fit' 100 columns was wider). Checked with wcwidth, an
    independent count of terminal columns."""
    wcwidth = pytest.importorskip("wcwidth")
    spec = tmp_path / "wide.yaml"
    spec.write_text(WIDE_SPEC, encoding="utf-8")
    result = runner.invoke(app, ["analyze", str(spec), "--hw", "a100"], env={"COLUMNS": columns})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(wcwidth.wcswidth(line) for line in lines) <= int(columns)
    rules = [k for k, line in enumerate(lines) if line.startswith("---")]
    body = lines[rules[0] + 1:rules[1]]
    assert [line.split()[0] for line in body] == ["卷积层", "act", "全局池化", "e\u0301cole"]
    # at 100 columns the second column is the op (left-aligned: it starts at one terminal column in every row); at 60
    # the op is left out and the second is params (right-aligned: it ends at one column, the total's too)
    second = r"\S+\s+" if columns == "100" else r"\S+\s+\S+"
    rows = body if columns == "100" else [*body, lines[rules[1] + 1]]
    assert len({wcwidth.wcswidth(line[:re.match(second, line).end()]) for line in rows}) == 1, rows  # type: ignore


def test_shorten_counts_terminal_columns() -> None:
    wcwidth = pytest.importorskip("wcwidth")
    for width in range(1, 12):
        short = shorten("卷积层.全局池化.卷积层", width)
        assert wcwidth.wcswidth(short) <= width, (width, short)
    assert shorten("卷积层.全局池化.卷积层", 9) == "卷积…积层"


@pytest.mark.parametrize("command", [[], ["analyze"], ["compare"], ["sweep"], ["plot", "gap"], ["plot", "throughput"],
                                     ["calibrate"], ["validate"], ["bench"], ["hw", "show"], ["design", "score"]])
def test_help_names_values_in_clicks_words_not_pythons_types(command: list[str]) -> None:
    """typer 0.29 showed Python types in --help: '--hw <list[str]>', '--input <list[str]>', '--batch <int range>',
    '<str>', '<path>' beside every argument (a SPEC may be a zoo name) and '<bool>' after every flag, --help
    included."""
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    for python in ("<bool>", "<list[", "<int", "<str>", "<path>", "<float", "<Path"):
        assert python not in result.output, (python, result.output)
    if command == ["analyze"]:
        options = {line.split()[1]: line.split()[2] for line in result.output.splitlines()
                   if line.startswith("│ --") and len(line.split()) > 2}
        assert options["--hw"] == "PROFILE" and options["--input"] == "NAME=D1,D2,..." and options["--batch"] == \
            "INTEGER" and options["--sort"] == "[latency|macs|params|memory]"


@pytest.mark.parametrize("command", [["hw", "show", "a100"], ["zoo", "list"], ["ops"]])
def test_hw_show_and_zoo_list_wrap_to_the_terminal(command: list[str]) -> None:
    """hw show printed each source on one line (up to 608 columns for a100's efficiency.compute), zoo list its
    descriptions (up to 123) and ops its docs (56 lines over 100, up to 165): in a 100-column terminal they wrap, a
    continuation indented under the text it continues; a pipe gets one line each."""
    narrow = runner.invoke(app, command, env={"COLUMNS": "100"})
    wide = runner.invoke(app, command, env={"COLUMNS": ""})
    assert narrow.exit_code == wide.exit_code == 0, narrow.output
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 100
    assert max(len(line) for line in wide.stdout.splitlines()) > 100
    assert " ".join(narrow.stdout.split()) == " ".join(wide.stdout.split())  # the same words, wrapped
    lines = narrow.stdout.splitlines()
    first_words = [[line.split()[0] for line in out.splitlines() if line and not line.startswith(" ")]
                   for out in (narrow.stdout, wide.stdout)]
    assert first_words[0] == first_words[1]  # no continuation starts in column 0
    continued = [line for line in lines if line.startswith(" ")]
    if command[0] in ("zoo", "ops"):  # under the descriptions: where the first one starts
        start = len(lines[0]) - len(lines[0].split("  ", 1)[1].lstrip())
        indents = {len(line) - len(line.lstrip()) for line in continued}  # ops: its attributes line, +2 if wrapped
        assert continued and indents <= {start, start + 2} and start in indents
    else:  # a source under the text after its '  field: '
        sources = lines[lines.index("sources:") + 1:]
        assert {len(line) - len(line.lstrip()) for line in sources} == {2, 4}


def test_design_score_wraps_its_summary_to_the_terminal() -> None:
    """design score's objective line was 120 columns: wrapped in a 100-column terminal, as it is for a pipe."""
    narrow = runner.invoke(app, ["design", "score", "resnet18"], env={"COLUMNS": "100"})
    wide = runner.invoke(app, ["design", "score", "resnet18"], env={"COLUMNS": ""})
    assert narrow.exit_code == wide.exit_code == 0, narrow.output
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 100 < max(map(len, wide.stdout.splitlines()))
    assert narrow.stdout.split() == wide.stdout.split()


def test_wrap_keeps_a_lines_inner_spaces_whatever_its_characters() -> None:
    """hw show's 'cpu' row ('... fork/join 2 µs') lost the padding after its label in a 100-column terminal: a line
    with a non-ASCII character is wrapped by terminal columns, which split it at every run of spaces. It now
    wraps as textwrap wraps the same line in ASCII (µ and u are both one column wide)."""
    from costmodel.layout import wrap

    line = f"{'cpu':<36}  2 cores, AVX-512, 64 fp32 FLOP/cycle x 3.6 GHz, 12 GB/s per core, fork/join 2 µs"
    assert wrap([line], 100, " " * 38) == [text.replace("us", "µs") for text in
                                           wrap([line.replace("µ", "u")], 100, " " * 38)]
    assert wrap([line], 100, " " * 38)[0].startswith("cpu" + " " * 35 + "2 cores")


def test_wrap_counts_terminal_columns() -> None:
    """The summary lines' wrap counted characters: a line of CJK words overran the width by one column per CJK
    character (textwrap's len). Checked with wcwidth; words are kept whole and in order."""
    from costmodel.layout import wrap

    wcwidth = pytest.importorskip("wcwidth")
    line = "模型: " + " ".join(["卷积层", "全局池化", "params", "é\u0301cole"] * 8)
    lines = wrap([line], 24)
    assert len(lines) > 1 and all(wcwidth.wcswidth(part) <= 24 for part in lines), lines
    assert all(part.startswith("  ") for part in lines[1:])
    assert " ".join(part.strip() for part in lines).split() == line.split()
