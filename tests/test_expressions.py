"""The safe expression evaluator."""

from __future__ import annotations

import pytest

from costmodel.spec.expressions import ExpressionError, evaluate_expression, make_divisible, resolve


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dim * 4", 384),
        ("dim // heads", 16),
        ("dims[i]", 192),
        ("2 if i == 0 else 1", 1),
        ("ceil(dim / 5)", 20),
        ("max(dim, 128) - -1", 129),
        ("dim * 1.5", 144),  # integral floats become ints
        ("dim ** 2 % 7", 96 * 96 % 7),
        ("i > 0 and dim < 100", True),
        ("not i", False),
        ("[dim, dim * 2]", [96, 192]),
        ("len(dims) + sum(dims)", 2 + 96 + 192),
        ("1 < i < 2", False),
    ],
)
def test_evaluate(text: str, expected: object) -> None:
    env = {"dim": 96, "heads": 6, "dims": [96, 192], "i": 1}
    assert evaluate_expression(text, env) == expected
    assert type(evaluate_expression(text, env)) is type(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "unknown function"),
        ("dim.real", "only a namespace"),
        ("open('x')", "unknown function"),
        ("lambda: 1", "not allowed"),
        ("dimm * 2", "unknown variable 'dimm'"),
        ("dim *", "cannot parse"),
        ("dim / 0", "cannot evaluate"),
        ("dims[5]", "cannot evaluate"),
        ("max(x=1)", "not allowed"),
    ],
)
def test_rejects(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        evaluate_expression(text, {"dim": 96, "dims": [1, 2]})


def test_resolve_keeps_words_and_walks_containers() -> None:
    env = {"dim": 8}
    assert resolve("same", env) == "same"
    assert resolve(["dim", "dim * 2", 3], env) == [8, 16, 3]
    assert resolve({"a": "dim + 1", "b": "bilinear"}, env) == {"a": 9, "b": "bilinear"}
    assert resolve(True, env) is True


def test_make_divisible_matches_timm_rule() -> None:
    # timm: new_v = max(min_value, int(v + d/2) // d * d); bump by d if that drops below 90 % of v.
    assert make_divisible(32 * 0.25, 8) == 8
    assert make_divisible(96 * 0.75, 8) == 72
    assert make_divisible(10, 8) == 16  # int(14) // 8 * 8 = 8 < 9 -> 16
    assert make_divisible(480 * 0.25, 8) == 120
