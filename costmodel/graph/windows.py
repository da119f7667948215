"""Swin's shifted windows in a built graph: where a ``shift_window_mask`` layer's feature map and shift come from.

The op itself carries only the window; its map is the input of the nearest ``window_partition`` upstream ([N, H, W,
C]) and its shift the ``roll`` that feeds that partition (shifts of -s), through timm's zero pad between them."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any, NamedTuple

from .build import Layer


class ShiftGeometry(NamedTuple):
    """The shifted feature map a window mask is for: its height and width, and the shift along each."""

    height: int
    width: int
    shift_h: int
    shift_w: int


def nearest_upstream(layer: Layer[Any], by_path: Mapping[str, Layer[Any]], op: str) -> Layer[Any] | None:
    """The closest layer of ``op`` among ``layer``'s ancestors (breadth-first over inputs)."""
    queue, seen = deque(ref.node for ref in layer.inputs), set()
    while queue:
        path = queue.popleft()
        if path in seen or path not in by_path:
            continue
        seen.add(path)
        found = by_path[path]
        if found.op == op:
            return found
        queue.extend(ref.node for ref in found.inputs)
    return None


def shift_geometry(layer: Layer[Any], by_path: Mapping[str, Layer[Any]]) -> ShiftGeometry | str:
    """The map and shift of the ``shift_window_mask`` ``layer``, or why they cannot be found (one sentence)."""
    partition = nearest_upstream(layer, by_path, "window_partition")
    if partition is None:
        return "shift_window_mask needs a window_partition upstream (it gives the map size)"
    _, height, width, _ = partition.input_shapes[0]
    source = by_path.get(partition.inputs[0].node)
    while source is not None and source.op == "pad" and not any(source.attrs.pads):  # timm's zero pad: same map
        source = by_path.get(source.inputs[0].node)
    if source is None or source.op != "roll":
        return (f"shift_window_mask: the window_partition {partition.path!r} it masks is not fed by a roll, so the "
                "shift is unknown")
    shifts = source.attrs.shifts if isinstance(source.attrs.shifts, list) else [source.attrs.shifts]
    dims = source.attrs.dims if isinstance(source.attrs.dims, list) else [source.attrs.dims]
    by_dim = {d % 4: -s for s, d in zip(shifts, dims, strict=True)}
    return ShiftGeometry(height, width, by_dim.get(1, 0), by_dim.get(2, 0))


__all__ = ["ShiftGeometry", "nearest_upstream", "shift_geometry"]
