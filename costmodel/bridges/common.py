"""What the PyTorch and ONNX importers share: the "cannot be mapped" signal and unique node names."""

from __future__ import annotations

from collections.abc import MutableSet


class Unsupported(Exception):
    """A node (or an attribute combination) that no costmodel op expresses; ``reason`` says why. Raised by the
    ONNX node handlers and the ATen handlers, caught and collected by their importer."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


def unique_name(base: str, taken: MutableSet[str]) -> str:
    """``base``, or ``base_1``, ``base_2``, … (the first not in ``taken``); the name returned is added to
    ``taken``."""
    name, k = base, 1
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name
