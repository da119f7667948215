"""The shipped model zoo: spec names (``convnext_t``, ``deepmad/deepmad_r18``) and how a spec argument resolves.

A spec argument is a file path when that file exists; otherwise a zoo name (the file's path under the zoo
folder without ``.yaml``; a spec in a sub-folder also answers to its bare stem when no other spec has it).
"""

from __future__ import annotations

import difflib
from pathlib import Path

from ..errors import SpecError
from ..resources import zoo_dir

SUFFIXES = (".yaml", ".yml")


def zoo_specs() -> dict[str, Path]:
    """Zoo name -> spec file, sorted by name: top-level specs by stem, the rest by ``folder/stem``."""
    root = zoo_dir()
    if not root.is_dir():
        return {}
    files = sorted(p for p in root.rglob("*") if p.suffix in SUFFIXES and p.is_file())
    return {p.relative_to(root).with_suffix("").as_posix(): p for p in files}


def _names() -> dict[str, Path]:
    """Every name a zoo spec answers to: its zoo name, and its bare stem when unique."""
    specs = zoo_specs()
    names = dict(specs)
    stems: dict[str, list[Path]] = {}
    for path in specs.values():
        stems.setdefault(path.stem, []).append(path)
    for stem, paths in stems.items():
        if len(paths) == 1:
            names.setdefault(stem, paths[0])
    return names


def resolve_spec(ref: str | Path) -> Path:
    """The spec file ``ref`` names: an existing path, else a zoo name (``convnext_t`` or ``convnext_t.yaml``).

    A name that is neither raises :class:`SpecError` listing every close zoo name."""
    path = Path(ref).expanduser()
    if path.is_file():
        return path
    text = str(ref)
    names = _names()
    key = text.removesuffix(".yaml").removesuffix(".yml")
    if key in names and not path.exists():
        return names[key]
    if path.exists():
        raise SpecError("cannot read spec: not a file", file=text)
    close = difflib.get_close_matches(key, list(names), n=5, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else "; `costmodel zoo list` lists the zoo's names"
    raise SpecError(f"cannot read spec: no such file or zoo model{hint}", file=text)
