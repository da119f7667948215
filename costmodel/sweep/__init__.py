"""Design-space sweeps: sample candidates of a parametric space, analyse each, keep those under budgets.

A space file (:mod:`.space`) names a base spec, the variables to sample, derived variables and constraints;
:class:`Sweep` draws candidates (:mod:`.sample`), evaluates them in chunks on an engine (:mod:`.engine`: local
processes or Dask) with the fast evaluator (:mod:`.fast`, exact against the full analyzer) and writes Parquet or
CSV (:mod:`.output`). See docs/sweep.md.
"""

from importlib import import_module
from typing import Any

from .choices import Engine, Sampler

_LAZY = {  # the rest loads on first use, so that `costmodel --help` does not import the analyzer's extras
    "SweepTask": "engine", "run_chunk": "engine", "ChunkFile": "output", "ChunkResult": "evaluate",
    "Device": "evaluate", "Evaluator": "evaluate", "reference_metrics": "evaluate", "read_results": "output",
    "Summary": "runner", "Sweep": "runner", "devices_for": "runner", "draw": "sample", "METRICS": "space",
    "Space": "space", "SpaceError": "space", "load_space": "space",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["METRICS", "ChunkFile", "ChunkResult", "Device", "Engine", "Evaluator", "Sampler", "Space", "SpaceError",
           "Summary", "Sweep", "SweepTask", "devices_for", "draw", "load_space", "read_results", "reference_metrics",
           "run_chunk"]
