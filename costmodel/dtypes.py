"""Element types and their sizes in bytes."""

from __future__ import annotations

from typing import Literal

Dtype = Literal["fp32", "tf32", "fp16", "bf16", "fp8", "int8"]

BYTES_PER_ELEMENT: dict[str, int] = {"fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1}
