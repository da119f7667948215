"""Candidates by index: random, grid or quasi-random (scrambled Sobol) points of a space's unit cube.

Candidate ``i`` depends only on the space, the method, the seed and ``i`` — never on how the indices are split
into chunks or spread over workers — so any engine, worker count or resumed run draws the same candidates, and
the first N candidates of a larger sweep are the N of a smaller one.

- ``random``: block ``b`` of :data:`BLOCK` candidates draws ``numpy.random.default_rng([seed, b])``.
- ``sobol``: ``scipy.stats.qmc.Sobol(d, scramble=True, seed=seed)``, fast-forwarded to the first index.
- ``grid``: every combination of each coordinate's levels (choices, the integers of a range, ``levels`` points
  of a float range), the last coordinate varying fastest.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .choices import Sampler
from .space import Space, SpaceError, Variable

BLOCK = 1024  # candidates per random-generation block (and the largest chunk of work: runner.default_chunk_size)


def grid_coordinates(space: Space) -> list[Variable]:
    """The variable of every coordinate, in order (a variable of ``size`` n: n coordinates), each with a finite
    :attr:`~.space.Variable.count`; a float range without ``levels`` is an error."""
    out = []
    for name, var in space.variables.items():
        if var.count is None:
            raise space.error(f"grid sampling needs 'levels' for the float range of {name!r}", "variables", name)
        out += [var] * var.dims
    return out


def grid_size(space: Space) -> int:
    """Number of points of the full grid."""
    return math.prod(var.count or 0 for var in grid_coordinates(space))


def unit_points(space: Space, method: Sampler, seed: int, start: int, stop: int) -> np.ndarray:
    """Points of [0, 1)^d for candidates ``start`` .. ``stop - 1`` (random and sobol)."""
    d = space.dims
    if method is Sampler.SOBOL:
        from scipy.stats import qmc

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "balance properties" when n is not a power of 2
            engine = qmc.Sobol(d, scramble=True, seed=seed)
            if start:
                engine.fast_forward(start)
            return engine.random(stop - start)
    parts = []
    for block in range(start // BLOCK, (stop - 1) // BLOCK + 1):
        points = np.random.default_rng([seed, block]).random((BLOCK, d))
        lo, hi = max(start, block * BLOCK) - block * BLOCK, min(stop, (block + 1) * BLOCK) - block * BLOCK
        parts.append(points[lo:hi])
    return np.concatenate(parts) if parts else np.zeros((0, d))


def draw(space: Space, method: Sampler, seed: int, start: int, stop: int) -> list[dict[str, Any]]:
    """The sampled variables of candidates ``start`` .. ``stop - 1``, each a dict in the space's order."""
    return [values for _, values in draw_part(space, method, seed, start, stop)]


def draw_part(space: Space, method: Sampler, seed: int, start: int, stop: int, part: int = 0,
              parts: int = 1) -> list[tuple[int, dict[str, Any]]]:
    """The candidates of ``start`` .. ``stop - 1`` in part ``part`` of ``parts`` (:func:`affinity_part`; with one
    part, all of them), each as its index and its sampled variables, in index order."""
    if stop <= start:
        return []
    variables = list(space.variables.items())
    out = []
    if method is Sampler.GRID:
        coordinates = [(var, var.count or 0) for var in grid_coordinates(space)]
        for index in range(start, stop):
            flat: list[Any] = []
            levels: list[int] = []
            rest = index
            for var, count in reversed(coordinates):
                rest, k = divmod(rest, count)
                levels.append(k)
                flat.append(var.level(k))
            if parts > 1 and _grid_part(space, levels[::-1], parts) != part:
                continue
            flat.reverse()
            out.append((index, _assemble(variables, flat)))
        return out
    points = unit_points(space, method, seed, start, stop).tolist()
    for index, u in enumerate(points, start):
        if parts > 1 and affinity_part(space, u, parts) != part:
            continue
        flat, offset = [], 0
        for _, var in variables:
            flat += [var.value(x) for x in u[offset:offset + var.dims]]
            offset += var.dims
        out.append((index, _assemble(variables, flat)))
    return out


def affinity_part(space: Space, point: list[float], parts: int) -> int:
    """Which of ``parts`` parts the candidate at ``point`` (of the unit cube) belongs to: by the space's
    ``affinity`` coordinate, cut into ``parts`` intervals of equal probability (for a discrete coordinate, at the
    boundaries of its values, so that one value is never in two parts); part 0 without an affinity. Candidates
    that share that coordinate's value -- and so, for a per-stage width, the blocks it decides -- go to one part, so
    one worker's caches meet their misses, not every worker's. Decided from the point alone: the same whatever the
    engine, the worker, a resumed run or a re-run chunk."""
    if space.affinity is None:
        return 0
    coordinate, var = space.affinity
    u = point[coordinate]
    count = var.count if var.levels is None else None
    if count is not None:
        return min(int(u * count), count - 1) * parts // count
    return min(int(u * parts), parts - 1)


def _grid_part(space: Space, levels: list[int], parts: int) -> int:
    """:func:`affinity_part` of a grid point, given each coordinate's level."""
    if space.affinity is None:
        return 0
    coordinate, var = space.affinity
    return levels[coordinate] * parts // (var.count or 1)


def _assemble(variables: list[tuple[str, Any]], flat: list[Any]) -> dict[str, Any]:
    out, offset = {}, 0
    for name, var in variables:
        out[name] = var.assemble(flat[offset:offset + var.dims])
        offset += var.dims
    return out


def total(space: Space, method: Sampler, samples: int | None) -> int:
    """Number of candidates to draw: ``samples`` (required unless grid; a grid is cut to its first ``samples``)."""
    if method is Sampler.GRID:
        size = grid_size(space)
        return size if samples is None else min(samples, size)
    if samples is None:
        raise SpaceError(f"--samples is needed for {method.value} sampling")
    return samples
