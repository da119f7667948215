"""The sweep's closed choices (light: the CLI imports them at start-up)."""

from __future__ import annotations

from enum import Enum


class Sampler(str, Enum):
    """How candidates are drawn."""

    RANDOM = "random"
    GRID = "grid"
    SOBOL = "sobol"


class Engine(str, Enum):
    """Where the chunks run."""

    LOCAL = "local"
    DASK = "dask"
