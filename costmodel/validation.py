"""pydantic's validation errors in the user's words: the location as the field's own path (no ``int``,
``constrained-int`` or ``function-after[...]`` schema tags), the alternatives of a union in one sentence, the
offending value truncated. Spec, op-attribute and hardware-profile errors all go through :func:`first_problem`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import shown

if TYPE_CHECKING:
    from pydantic import ValidationError

# Location parts pydantic adds for the schema it tried (a union member, a validator), not the user's keys.
_SCHEMA_TAG = re.compile(
    r"^(int|float|str|bool|none|bytes|list|dict|tuple|set|frozenset|decimal|date|datetime|time|timedelta|"
    r"literal|enum|model|dataclass|union|nullable|default|chain|url|uuid|\[key\]|"
    r"(constrained|function|tagged|lax|json|is|model|typed)-[\w-]+)(\[.*\])?$"
)
_UNION_WORDS = {"int": "an integer", "float": "a number", "str": "a text or expression", "bool": "true or false",
                "list": "a list", "dict": "a mapping", "none": "null"}


@dataclass(frozen=True)
class FieldProblem:
    """One validation problem: the path to the field's parent, the field, and the message (one line)."""

    path: tuple[str, ...]
    field: str | None
    message: str


def _user_location(loc: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(str(part) for part in loc if not (isinstance(part, str) and _SCHEMA_TAG.match(part)))


def _union_word(tag: str, error: Any) -> str:
    """What one member of a union accepts, in words: a type (``int``: an integer), or a literal's or an enum's
    values as pydantic lists them (``'same' or 'valid'``)."""
    if error["type"] in ("literal_error", "enum"):
        return str(error["msg"]).removeprefix("Input should be ")
    return _UNION_WORDS.get(tag.split("[")[0].removeprefix("constrained-"), "another type")


def first_problem(exc: ValidationError) -> FieldProblem:
    """The first problem of ``exc`` (an unknown field first: a typo explains a "missing" one), with a count of
    the others."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    where = _user_location(first["loc"])
    same = [e for e in errors if _user_location(e["loc"]) == where]
    tags = [str(e["loc"][-1]) for e in same if e["loc"] and isinstance(e["loc"][-1], str)
            and _SCHEMA_TAG.match(str(e["loc"][-1]))]
    if len(same) > 1 and len(tags) == len(same):
        words = (_union_word(tag, error) for tag, error in zip(tags, same, strict=True))
        message = "expected " + " or ".join(dict.fromkeys(words))
    elif first["type"] == "extra_forbidden":
        message = "unknown field"
    elif first["type"] == "missing":
        message = "required field is missing"
    else:
        message = str(first["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    value = first.get("input")
    if first["type"] not in ("missing", "extra_forbidden") and not isinstance(value, dict | list) \
            and "(got " not in message and "invalid name" not in message:
        message += f" (got {shown(value, 60)})"
    others = len({_user_location(e["loc"]) for e in errors}) - 1
    if others > 0:
        message += f"; and {others} more problem(s)"
    *path, last = where or ("",)
    return FieldProblem(tuple(path), last or None, message)
