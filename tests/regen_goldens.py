"""Rewrite the golden files, the only way they are written: ``python -m tests.regen_goldens [NAME ...]``.

Run it after an intended change of output, read ``git diff tests/golden`` line by line, and commit the files with
the change. The tests (tests/test_goldens.py) never write a golden: they only compare against it.
"""

from __future__ import annotations

import sys

from .golden_cases import CASES, golden_path


def main(names: list[str]) -> int:
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        print(f"error: no golden case named {', '.join(unknown)} (cases: {', '.join(CASES)})", file=sys.stderr)
        return 2
    for name in names or list(CASES):
        path = golden_path(name)
        text = CASES[name]()
        old = path.read_text(encoding="utf-8") if path.exists() else None
        path.write_text(text, encoding="utf-8")
        print(f"{'unchanged' if old == text else 'new' if old is None else 'CHANGED'}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
