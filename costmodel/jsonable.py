"""One conversion of results to JSON for every `--format json`: raw numbers, stable keys.

Dataclasses become objects of their fields plus their public properties (``Timing.median``, ``Point.ratio``),
pydantic models their ``model_dump()``, numpy values plain numbers and lists, paths strings, enums their value;
a float that is not finite becomes ``null`` (JSON has no NaN)."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON data (dicts with string keys, lists, numbers, strings, booleans, None)."""
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, enum.Enum):
        return jsonable(obj.value)
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "model_dump"):  # pydantic
        return jsonable(obj.model_dump())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        data = {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.repr}
        for name in dir(type(obj)):
            if not name.startswith("_") and isinstance(getattr(type(obj), name), property) and name not in data:
                try:
                    data[name] = jsonable(getattr(obj, name))
                except (ArithmeticError, ValueError, AttributeError):
                    data[name] = None
        return data
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return jsonable(obj.tolist())
    if isinstance(obj, BaseException):
        return {"error": str(obj)}
    raise TypeError(f"cannot convert {type(obj).__name__} to JSON")


def dumps(obj: Any) -> str:
    """Indented JSON of :func:`jsonable` ``(obj)``, with a final newline."""
    return json.dumps(jsonable(obj), indent=2) + "\n"
