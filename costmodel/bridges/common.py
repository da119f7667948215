"""What the PyTorch and ONNX bridges share: the "cannot be mapped" signal, an exception's first line, unique node
names, and where the batch lands in a row-major reshape."""

from __future__ import annotations

from collections.abc import MutableSet, Sequence

Loc = tuple[int, int, int]  # (axis k, a, c): the batch sits inside axis k, whose size is a * batch * c


class Unsupported(Exception):
    """A node (or an attribute combination) that no costmodel op expresses; ``reason`` says why. Raised by the
    ONNX node handlers and the ATen handlers, caught and collected by their importer."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none): a framework's reason, in one
    line of ours."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def unique_name(base: str, taken: MutableSet[str]) -> str:
    """``base``, or ``base_1``, ``base_2``, … (the first not in ``taken``); the name returned is added to
    ``taken``."""
    name, k = base, 1
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def _strides(shape: Sequence[int]) -> list[int]:
    out, step = [], 1
    for size in reversed(shape):
        out.append(step)
        step *= int(size)
    return out[::-1]


def reshaped(loc: Loc, before: Sequence[int], after: Sequence[int], batch: int) -> list[Loc]:
    """Where the batch lands in a row-major reshape: every axis of ``after`` that can hold it whole.

    The batch is a digit of the flat index with ``inner`` elements below it; it lies inside axis j of the new
    shape when j's stride divides ``inner`` and ``inner * batch`` divides the stride above j. One axis for a batch
    above 1; a batch of 1 fits on every boundary at that stride (the caller chooses)."""
    k, _, c = loc
    inner = c * _strides(before)[k]
    found = []
    for j, (size, stride) in enumerate(zip(after, _strides(after), strict=True)):
        if inner % stride == 0 and (stride * size) % (inner * batch) == 0:
            found.append((j, stride * size // (inner * batch), inner // stride))
    return found
