"""Text that fits a terminal: fixed-width tables that drop columns (in a stated order) and shorten one column
to fit a width, two-row headers that name a device above its columns, and wrapped summary lines."""

from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

GAP = 2  # spaces between columns
ELLIPSIS = "…"


def terminal_width() -> int | None:
    """The width to fit: ``$COLUMNS`` when set, else the terminal's when printing to one, else None (a pipe or a
    file: no limit, so scripts see every column)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: 2 per wide or full-width (East Asian) character, 0 per combining or
    zero-width mark, 1 per other character (what wcwidth gives these; unicodedata, no dependency). A CJK layer name
    counted as one column per character pushed every cell after it out of line."""
    if text.isascii():
        return len(text)
    return sum(_char_width(c) for c in text)


def _char_width(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def pad(text: str, width: int, align: str = "<") -> str:
    """``text`` padded with spaces to ``width`` columns (:func:`display_width`), left (``<``) or right (``>``)
    aligned; never cut."""
    fill = " " * max(0, width - display_width(text))
    return fill + text if align == ">" else text + fill


def fixed(rows: Sequence[Sequence[str]], align: Sequence[str]) -> list[str]:
    """Fixed-width text lines: columns two spaces apart, each aligned ``<`` or ``>``, trailing spaces cut."""
    widths = [max(display_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [(" " * GAP).join(pad(c, w, a) for c, a, w in zip(cells, align, widths, strict=True)).rstrip()
            for cells in rows]


def percent(fraction: float) -> str:
    """An efficiency printed one way everywhere (tables, reports, plots): three significant digits,
    ``0.3449 -> '34.5%'``, ``0.000844 -> '0.0844%'``."""
    return f"{100 * fraction:.3g}%"


def shorten(text: str, width: int) -> str:
    """``text`` cut in the middle with an ellipsis to at most ``width`` columns (paths keep both ends)."""
    if display_width(text) <= width:
        return text
    if width <= 1:
        return _head(text, width)
    head = width // 2
    return _head(text, head) + ELLIPSIS + _tail(text, width - 1 - head)


def _head(text: str, width: int) -> str:
    """The longest start of ``text`` that fits ``width`` columns."""
    used = 0
    for k, char in enumerate(text):
        used += _char_width(char)
        if used > width:
            return text[:k]
    return text


def _tail(text: str, width: int) -> str:
    """The longest end of ``text`` that fits ``width`` columns."""
    return _head(text[::-1], width)[::-1]


@dataclass
class Table:
    """A text table: header rows (a group row naming the device above its columns, then the names), body rows,
    alignment per column, and the group of each column (``""``: none). ``foot`` rows follow a rule."""

    header: list[str]
    body: list[list[str]]
    align: list[str]
    groups: list[str] = field(default_factory=list)
    foot: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.groups = self.groups or [""] * len(self.header)

    def drop(self, names: set[str]) -> None:
        """Remove the columns whose name is in ``names``."""
        keep = [i for i, name in enumerate(self.header) if name not in names]
        self.header = [self.header[i] for i in keep]
        self.align = [self.align[i] for i in keep]
        self.groups = [self.groups[i] for i in keep]
        self.body = [[row[i] for i in keep] for row in self.body]
        self.foot = [[row[i] for i in keep] for row in self.foot]

    def _group_row(self) -> list[str] | None:
        if not any(self.groups):
            return None
        return [g if g and (i == 0 or self.groups[i - 1] != g) else "" for i, g in enumerate(self.groups)]

    def rows(self) -> list[list[str]]:
        group = self._group_row()
        return [*([group] if group else []), self.header, *self.body, *self.foot]

    def width(self) -> int:
        return max(display_width(line) for line in fixed(self.rows(), self.align))

    def lines(self) -> list[str]:
        """Header row(s), a rule, the body, and (when there is one) a rule and the foot."""
        lines = fixed(self.rows(), self.align)
        n_head = 2 if self._group_row() else 1
        if n_head == 2:  # a device's key starts above its first column
            lines[0] = fixed(self.rows(), "<" * len(self.header))[0]
        rule = "-" * max(display_width(line) for line in lines)
        head, rest = lines[:n_head], lines[n_head:]
        body, foot = rest[:len(self.body)], rest[len(self.body):]
        return [*head, rule, *body, *([rule, *foot] if foot else [])]


def fit_width(
    table: Table, width: int | None, drop_order: Sequence[str], shrink: int = 0, cut: str = "middle",
) -> list[str]:
    """Drop columns named in ``drop_order`` (all of a name at once, in that order) until ``table`` fits
    ``width``, then shorten column ``shrink``'s cells in the middle (``cut="end"``: at the end). Returns the
    names dropped (``width`` None: no limit, nothing dropped)."""
    dropped: list[str] = []
    if width is None:
        return dropped
    for name in drop_order:
        if table.width() <= width:
            break
        if name in table.header:
            table.drop({name})
            dropped.append(name)
    excess = table.width() - width
    if excess > 0:
        cells = [row[shrink] for row in (table.body + table.foot)] + [table.header[shrink]]
        target = max(8, max(display_width(c) for c in cells) - excess)
        def short(text: str) -> str:
            if cut == "end" and display_width(text) > target:
                return _head(text, target - 1) + ELLIPSIS
            return shorten(text, target)

        table.body = [[short(c) if i == shrink else c for i, c in enumerate(row)] for row in table.body]
        table.foot = [[short(c) if i == shrink else c for i, c in enumerate(row)] for row in table.foot]
    return dropped


def wrap(lines: Sequence[str], width: int | None, indent: str = "  ") -> list[str]:
    """Each line wrapped to ``width`` (continuations indented one step more than the line); None: unchanged."""
    if width is None:
        return list(lines)
    out: list[str] = []
    for line in lines:
        lead = line[:len(line) - len(line.lstrip())]
        if line.isascii():
            out += textwrap.wrap(line, width, subsequent_indent=lead + indent, break_on_hyphens=False) or [""]
        else:  # textwrap counts characters: a CJK name overran the width by its second column per character
            out += _wrap_columns(line, width, lead + indent)
    return out


def _wrap_columns(line: str, width: int, indent: str) -> list[str]:
    """``line`` wrapped at spaces to ``width`` terminal columns (:func:`display_width`), continuations after
    ``indent``; a word wider than the width stays whole on its own line."""
    lines: list[str] = []
    current = line[:len(line) - len(line.lstrip())]
    for gap, word in re.findall(r"(\s*)(\S+)", line[len(current):]):  # the spaces inside a line kept, as textwrap does
        start = current == "" or current.isspace()
        candidate = current + word if start else current + (gap or " ") + word
        if display_width(candidate) <= width or start:
            current = candidate
        else:
            lines.append(current)
            current = indent + word
    lines.append(current)
    return lines
