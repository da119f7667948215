"""The audit of the shipped profiles' figures: every numeric figure, its source and what kind of source it is.

A figure's ``sources`` entry (keyed by its dotted path, ``peak.matrix.fp16``) says where it comes from. Its
first word says what kind of figure it is:

- ``estimate: <why>``: not published for this device; the entry says how it was derived and why;
- ``choice: <why>``: a modelling choice, not a property of the device;
- ``computed: ...``: arithmetic on published figures (cores x FLOP/cycle x clock, channels x width x rate);
- ``measured ...`` (or ``lscpu ...``, ``/proc/...``): measured on the device, with the script or file named;
- anything else: a vendor document (datasheet, whitepaper, product page, programming guide) quoted for the
  figure; ``derived`` when the entry converts the quoted figure (``1,979 with sparsity -> 989.4 dense``).

A table of figures measured or derived together (``cpu.dispatch_us``) may have one entry for the table. Every entry
of one figure that is not an estimate or a choice must quote the figure itself (or the same figure in a larger or
smaller unit: 6144 KB for 6 MB, 3.35 TB/s for 3350 GB/s), so a figure cannot change without its source.
``python -m costmodel.hardware.audit`` prints the table docs/hardware-profiles.md holds.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..yamlio import load_yaml
from .profile import SHIPPED_DIR

STATUSES = ("datasheet", "derived", "computed", "measured", "estimate", "choice")
UNQUOTED = frozenset({"estimate", "choice"})  # statuses whose entries need not quote the figure
_PREFIXES = (("estimate", "estimate:"), ("choice", "choice:"), ("computed", "computed:"), ("measured", "measured"),
             ("measured", "lscpu"), ("measured", "/proc/"))
_NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])\d+(?:\.\d+)?")
# A quoted number matches the figure in its own unit or one step up or down (KB/MB, GB/TB, GHz/MHz, T/P).
_SCALES = (1.0, 1000.0, 1 / 1000.0, 1024.0, 1 / 1024.0)
_TOLERANCE = 0.01  # relative: the profile may round (66.9 for "67 TFLOPS", 17.1 for 17.07 GB/s)


@dataclass(frozen=True)
class AuditRow:
    """One numeric figure of one profile: its path, value, source entry (None if missing) and status."""

    profile: str
    field: str
    value: float
    source: str | None
    key: str | None = None  # the sources key used: the field's own, or a table's it belongs to (``cpu.dispatch_us``)

    @property
    def status(self) -> str:
        """What kind of source the entry is (one of :data:`STATUSES`), or ``missing``."""
        if self.source is None:
            return "missing"
        text = self.source.strip().lower()
        for status, prefix in _PREFIXES:
            if text.startswith(prefix):
                return status
        return "derived" if "->" in text else "datasheet"

    @property
    def quotes_value(self) -> bool:
        """True when the source entry quotes the figure (in its unit or one step up or down)."""
        if self.source is None:
            return False
        numbers = [float(n.replace(",", "")) for n in _NUMBER.findall(self.source)]
        return any(abs(n * scale - self.value) <= _TOLERANCE * abs(self.value) for n in numbers for scale in _SCALES)

    @property
    def problem(self) -> str | None:
        """Why the entry does not pass the audit (None when it does)."""
        if self.source is None:
            return f"{self.profile}: {self.field} = {self.value:g} has no 'sources' entry (cite a document, or say " \
                   f"'estimate: <why>')"
        if self.status in UNQUOTED:
            reason = self.source.split(":", 1)[1].strip()
            return None if len(reason) >= 10 else f"{self.profile}: {self.field}: '{self.status}:' without a reason"
        if self.key not in (None, self.field):  # one entry for a table of figures measured or derived together
            return None
        if not self.quotes_value:
            return f"{self.profile}: {self.field} = {self.value:g} is not quoted by its source {self.source!r}"
        return None


def _numeric_leaves(data: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _numeric_leaves(value, f"{prefix}{key}.")
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        yield prefix[:-1], float(data)


def audit_file(path: Path) -> list[AuditRow]:
    """Every numeric figure of one profile file (``sources`` and a fit's ``calibration`` excluded), in file order."""
    data = load_yaml(path, "hardware profile")
    if not isinstance(data, dict):
        return []
    sources = data.get("sources") or {}
    figures = {k: v for k, v in data.items() if k not in ("sources", "calibration")}
    rows = []
    for field, value in _numeric_leaves(figures):
        parts = field.split(".")
        key = next((k for k in (".".join(parts[:n]) for n in range(len(parts), 0, -1)) if k in sources), None)
        rows.append(AuditRow(path.stem, field, value, sources.get(key) if key else None, key))
    return rows


def audit_shipped(folder: Path = SHIPPED_DIR) -> list[AuditRow]:
    """The audit rows of every shipped profile, by file name."""
    return [row for path in sorted(folder.glob("*.yaml")) for row in audit_file(path)]


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def audit_table(rows: list[AuditRow]) -> str:
    """The rows as a Markdown table: profile, field, value, status, source."""
    lines = ["| profile | field | value | status | source |", "|---|---|---|---|---|"]
    lines += [f"| {r.profile} | {r.field} | {r.value:g} | {r.status} | {_cell(r.source or '-')} |" for r in rows]
    return "\n".join(lines) + "\n"


def audit_main() -> int:
    """Print the audit table of the shipped profiles; exit 1 if a figure fails the audit."""
    rows = audit_shipped()
    sys.stdout.write(audit_table(rows))
    problems = [p for p in (r.problem for r in rows) if p]
    for problem in problems:
        sys.stderr.write(f"error: {problem}\n")
    return 1 if problems else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(audit_main())


__all__ = ["STATUSES", "AuditRow", "audit_file", "audit_shipped", "audit_main", "audit_table"]
