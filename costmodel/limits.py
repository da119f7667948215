"""Bounds on the work one input may ask for, so that no spec, profile, table or model file can hang the tool
or exhaust memory. Each limit has a default and an environment variable that raises (or lowers) it;
docs/limits.md lists them with what is validated where.

A limit is read when it is checked (not at import), so tests and users can change it with the environment.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

_HELD: ContextVar[dict[str, int] | None] = ContextVar("costmodel_limits_held", default=None)


@dataclass(frozen=True)
class Limit:
    """One bound: its environment variable, default and what it counts (said in the error message)."""

    env: str
    default: int
    what: str

    @property
    def value(self) -> int:
        """The limit in force: the environment variable when it holds a positive integer, else the default (as read
        when the operation began, inside :func:`held`)."""
        values = _HELD.get()
        if values is not None and self.env in values:
            return values[self.env]
        return self.read()

    def read(self) -> int:
        """The limit the environment sets now (see :attr:`value`)."""
        text = os.environ.get(self.env, "").strip().replace("_", "")
        if text.isdigit() and 0 < int(text) < 10**18:
            return int(text)
        return self.default

    def exceeded(self, count: int | float) -> str | None:
        """None when ``count`` is within the limit, else the message saying so and how to raise it."""
        limit = self.value
        if count <= limit:
            return None
        return f"{self.what} {magnitude(count)} exceeds the limit of {limit:,} (set {self.env} to raise it)"


def magnitude(count: int | float) -> str:
    """``count`` for a message: with thousands separators below 10**12, else as ``1e+12`` -- for an int beyond a
    float's range too (``f"{10**400:.3g}"`` raises OverflowError)."""
    if isinstance(count, float) or count < 10**300:
        return f"{count:.3g}" if isinstance(count, float) or count >= 10**12 else f"{count:,}"
    exponent = int(math.log10(count))
    mantissa = count / 10**exponent  # exact integer division to a float near 1..10
    if mantissa >= 10:
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:.3g}e+{exponent}"


LAYERS = Limit("COSTMODEL_MAX_LAYERS", 1_000_000, "the expanded graph's layer count")
REPEAT = Limit("COSTMODEL_MAX_REPEAT", 1_000_000, "repeat count")
OP_OUTPUTS = Limit("COSTMODEL_MAX_OUTPUTS", 10_000, "number of outputs of one op")
TENSOR_ELEMENTS = Limit("COSTMODEL_MAX_TENSOR_ELEMENTS", 2**40, "tensor element count")
BLOCK_DEPTH = Limit("COSTMODEL_MAX_BLOCK_DEPTH", 1_000, "block-call nesting depth")
EXPRESSION_CHARS = Limit("COSTMODEL_MAX_EXPRESSION_CHARS", 10_000, "expression length (characters)")
EXPRESSION_DEPTH = Limit("COSTMODEL_MAX_EXPRESSION_DEPTH", 100, "expression nesting depth")
INTEGER_BITS = Limit("COSTMODEL_MAX_INTEGER_BITS", 63, "integer size (bits)")
LIST_ELEMENTS = Limit("COSTMODEL_MAX_LIST_ELEMENTS", 100_000, "list length in an expression")
YAML_BYTES = Limit("COSTMODEL_MAX_YAML_BYTES", 64 * 2**20, "YAML file size (bytes)")
YAML_NODES = Limit("COSTMODEL_MAX_YAML_NODES", 5_000_000, "YAML document size with aliases expanded (nodes)")
YAML_DEPTH = Limit("COSTMODEL_MAX_YAML_DEPTH", 200, "YAML nesting depth")
CSV_BYTES = Limit("COSTMODEL_MAX_CSV_BYTES", 256 * 2**20, "measurement file size (bytes)")
CSV_FIELD = Limit("COSTMODEL_MAX_CSV_FIELD", 1 * 2**20, "CSV field size (characters)")
ONNX_CONSTANT_ELEMENTS = Limit("COSTMODEL_MAX_ONNX_CONSTANT_ELEMENTS", 10_000_000,
                               "element count of a constant folded from the ONNX graph")
SPACE_DIMS = Limit("COSTMODEL_MAX_SPACE_DIMS", 10_000, "sampled coordinates of a design-space variable")
SWEEP_CANDIDATES = Limit("COSTMODEL_MAX_SWEEP_CANDIDATES", 10**9, "candidates of one sweep")

ALL: tuple[Limit, ...] = (LAYERS, REPEAT, OP_OUTPUTS, TENSOR_ELEMENTS, BLOCK_DEPTH, EXPRESSION_CHARS,
                          EXPRESSION_DEPTH, INTEGER_BITS, LIST_ELEMENTS, YAML_BYTES, YAML_NODES, YAML_DEPTH,
                          CSV_BYTES, CSV_FIELD, ONNX_CONSTANT_ELEMENTS, SPACE_DIMS, SWEEP_CANDIDATES)


@contextmanager
def held() -> Iterator[None]:
    """Every limit read from the environment once, for the length of one operation (a graph build checks them
    thousands of times; reading the environment each time was a tenth of its time). Per thread and task (a
    context variable); nested uses keep the outer reading."""
    if _HELD.get() is not None:
        yield
        return
    token = _HELD.set({limit.env: limit.read() for limit in ALL})
    try:
        yield
    finally:
        _HELD.reset(token)
