"""The command examples of README.md and docs/*.md still run: every line of a fenced code block that starts with
``costmodel `` (or ``$ costmodel ``) runs in-process, in a scratch folder that sees the repository's arch_specs/,
hardware_profiles/ and tests/ (the paths the examples use), and exits 0.

Left out, each for a stated reason: usage synopses (``[--batch N]``, ``SPEC``, ``a|b``, ``...``), commands that
time or trace real models (``bench``, ``import timm:``/``torch:``), the long sweeps, and commands that read a file
no earlier example of the same page made and the repository does not hold (``costmodel validate measured.csv``).

The pages' Python examples (``>>>`` in a fenced ``python`` block) run as doctests and must print what the page shows.
"""

from __future__ import annotations

import glob
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SYNOPSIS = re.compile(r"\[|\||\.\.\.|\b[A-Z]{2,}\b")  # [--opt N], a|b, SPEC..., placeholders in capitals
# minutes, or torch; `report` (16 s of CPU) is tested in test_report_page.py
SLOW = re.compile(r"^costmodel (bench|import (timm|torch):|sweep |report )|arch_specs/\*\.yaml")
INPUTS = re.compile(r"\.(yaml|csv|onnx|parquet)$")
OUTPUT_OPTIONS = ("-o", "--output", "--pareto", "--plot")
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def examples(text: str) -> list[str]:
    """The ``costmodel`` command lines of a Markdown page's fenced code blocks, continuation lines joined."""
    found = []
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", text, re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith("costmodel "):
                found.append(line)
    return found


def runnable(text: str) -> list[tuple[str, str | None]]:
    """(command, why it is left out or None) for each example of a Markdown page, in order."""
    made: set[str] = set()
    out = []
    for line in examples(text):
        words = shlex.split(line, comments=True)
        outputs = {words[i + 1] for i, w in enumerate(words[:-1]) if w in OUTPUT_OPTIONS}
        missing = [w for w in words if INPUTS.search(w) and w not in outputs and w not in made
                   and not glob.glob(str(ROOT / w))]
        why = ("a usage synopsis" if SYNOPSIS.search(line.split("#")[0]) else "slow or needs torch"
               if SLOW.search(line) else f"reads {missing[0]}, which no earlier example made" if missing else None)
        if why is None:
            made |= outputs
        out.append((line, why))
    return out


def test_the_documented_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every runnable example, once (README.md's repeat the pages'), in the order of the pages."""
    from typer.testing import CliRunner

    from costmodel.cli import app

    for folder in ("arch_specs", "hardware_profiles", "tests"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    ran: set[str] = set()
    for page in PAGES:
        for line, why in runnable(page.read_text(encoding="utf-8")):
            words = shlex.split(line, comments=True)[1:]
            if why is not None or " ".join(words) in ran:
                continue
            ran.add(" ".join(words))
            args = [match for word in words for match in (sorted(glob.glob(word)) if "*" in word else [word])]
            result = runner.invoke(app, args, env={"COLUMNS": "100"})
            assert result.exit_code == 0, f"{page.name}: `{line}` exit {result.exit_code}: {result.output[-600:]}"
    assert len(ran) >= 20  # the filter leaves most examples in


def test_the_filter_leaves_out_what_it_says() -> None:
    """The filter by hand: a synopsis, a slow command and one reading a file nobody made are left out; a command
    reading what an earlier example wrote is run."""
    text = ("```bash\ncostmodel analyze SPEC [--batch N]\ncostmodel bench arch_specs/resnet18.yaml\n"
            "costmodel validate measured.csv --hw a100\ncostmodel design --space resnet --macs 4.13G -o r.yaml\n"
            "$ costmodel analyze r.yaml \\\n  --batch 2   # then this\n```\n")
    assert [why for _, why in runnable(text)] == [
        "a usage synopsis", "slow or needs torch", "reads measured.csv, which no earlier example made", None, None]


def test_the_readme_counts_the_shipped_profiles() -> None:
    """README.md said 21 hardware profiles while 24 shipped."""
    from costmodel.hardware.profile import SHIPPED_DIR

    (count,) = re.findall(r"any of (\d+) hardware profiles", (ROOT / "README.md").read_text(encoding="utf-8"))
    assert int(count) == len(list(SHIPPED_DIR.glob("*.yaml")))


def test_the_python_examples_print_what_the_pages_show() -> None:
    """Every ``>>>`` example of README.md and docs/*.md runs as a doctest, the blocks of a page in one namespace,
    and prints what the page shows (``...`` where a float prints many digits; whitespace normalised): the page
    showed the A100 at 1.34 ms on convnext_t long after the model said 2.39 ms."""
    import doctest

    pytest.importorskip("pandas", reason="docs/python-api.md shows ModelResult.to_pandas()")
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    count = 0
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        namespace: dict[str, object] = {"__name__": page.stem}
        for block in PYTHON_BLOCK.finditer(text):
            lineno = text.count("\n", 0, block.start(1))
            test = parser.get_doctest(block.group(1), namespace, f"{page.name}:{lineno + 1}", str(page), lineno)
            runner.run(test, out=report.append, clear_globs=False)
            namespace, count = test.globs, count + len(test.examples)  # a DocTest runs in a copy of its globals
    assert runner.failures == 0, "".join(report)
    assert count >= 8  # docs/python-api.md's: the blocks were found
