"""Design-space sweeps: sample candidates of a parametric space, analyse each, keep those under budgets.

A space file (:mod:`.space`) names a base spec, the variables to sample, derived variables and constraints;
:class:`Sweep` draws candidates (:mod:`.sample`), evaluates them in chunks on an engine (:mod:`.engine`: local
processes or Dask) with the fast evaluator (:mod:`.fast`, exact against the full analyzer) and writes Parquet or
CSV (:mod:`.output`). See docs/sweep.md.
"""

from .engine import Engine, SweepTask, run_chunk
from .evaluate import ChunkResult, Device, Evaluator, reference_metrics
from .output import read_results
from .runner import Summary, Sweep, devices_for
from .sample import Sampler, draw
from .space import METRICS, Space, SpaceError, load_space

__all__ = ["METRICS", "ChunkResult", "Device", "Engine", "Evaluator", "Sampler", "Space", "SpaceError", "Summary",
           "Sweep", "SweepTask", "devices_for", "draw", "load_space", "read_results", "reference_metrics",
           "run_chunk"]
