"""The safe expression evaluator."""

from __future__ import annotations

import math

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


@pytest.mark.parametrize("text", [
    "[make_divisible(w[s] * 64 * 2**s, 8) for s in range(4)]",  # the ResNet-like space's derived widths
    "[x * y for x, y in zip(xs, ys) if x > 1]", "[[a] * 2 for a in xs for b in ys if a < b]",
    "max(xs) + min(ys) * len(xs)", "regnet_stages(80, 34.01, 2.25, 18)", "sum([x / 3 for x in xs])",
    "[x for x in range(10 ** 7)]", "[x for x in 5]", "[q for x in xs]", "nosuch(1)", "int()", "sqrt(-1)",
    "[a for a, b in xs]", "max(*xs)", "[x for x in xs if x > 'a']",
])
def test_compiled_calls_and_comprehensions_are_the_tree_walk(text: str) -> None:
    # calls and comprehensions run as composed functions: the same values, and the same errors, as walking the tree
    import ast
    import functools

    from costmodel.spec import expressions

    env = {"w": [0.5, 1.0, 1.5, 2.0], "xs": [1, 2, 3], "ys": [4, 5, 6]}

    def outcome(run: object) -> object:
        try:
            value = run(env)  # type: ignore[operator]
        except (ExpressionError, ArithmeticError, TypeError, ValueError, IndexError, KeyError) as exc:
            return type(exc), str(exc)
        return type(value), value

    tree = expressions.parse(text)
    assert isinstance(tree, ast.Expression)
    walked = outcome(lambda variables: expressions._eval(tree.body, variables))
    assert outcome(expressions.compiled(text)) == walked
    # a comprehension's loop copies a small scope, and chains onto a large one: the same outcome
    small = walked
    env = {**{f"v{k}": k for k in range(expressions.SMALL_SCOPE)}, **env}
    walked = outcome(lambda variables: expressions._eval(tree.body, variables))
    assert outcome(expressions.compiled(text)) == walked
    assert walked == small or "unknown variable" in str(walked[1])  # that message lists the names known
    if not text.startswith(("nosuch", "max(*")):  # composed, not handed to the walk (which an unknown name is)
        assert not isinstance(expressions.compiled(text), functools.partial)


def test_bounded_takes_plain_numbers_as_the_general_checks_do(monkeypatch: pytest.MonkeyPatch) -> None:
    # ints and floats are checked first by exact type; what they let through, and refuse, is unchanged
    import numpy as np

    from costmodel.spec.expressions import bounded

    for value in (0, -3, 2**62, 1.5, -0.0, 1e308, True, False, None, [1, 2.5], np.float64(2.5)):
        assert bounded(value) is value
    for bad in (2**63, -(2**63) - 1, math.inf, -math.inf, math.nan, np.float64("nan"), np.float64("inf"), np.int64(7)):
        with pytest.raises(ExpressionError):
            bounded(bad)
    monkeypatch.setenv("COSTMODEL_MAX_INTEGER_BITS", "8")
    assert bounded(255) == 255
    with pytest.raises(ExpressionError):
        bounded(256)
    # lists: flat ones counted an element per item, others (nested lists, texts) by the general count
    monkeypatch.setenv("COSTMODEL_MAX_LIST_ELEMENTS", "3")
    for value in ([], [1, 2.5, None], [[1], [2, 3]], ["ab", 1], [[]]):
        assert bounded(value) is value
    for bad in ([1, 2, 3, 4], [[1, 2], [3, 4]], ["abcd"], [[1, 2, 3], 4]):
        with pytest.raises(ExpressionError):
            bounded(bad)


def test_a_nested_lists_count_is_remembered_but_the_limit_checked_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # bounded() remembers the element count of the nested lists it met last (a variable such as OFA's `exps` is
    # read hundreds of times per candidate); the verdict is the limit's in force at each check
    from costmodel.spec import expressions
    from costmodel.spec.expressions import bounded

    nested = [[1, 2], [3, 4], ["ab"]]  # 2 + 2 + 2 characters
    counted = []
    real = expressions._elements
    monkeypatch.setattr(expressions, "_elements", lambda value: counted.append(1) or real(value))
    monkeypatch.setenv("COSTMODEL_MAX_LIST_ELEMENTS", "6")
    assert bounded(nested) is nested and bounded(nested) is nested
    assert counted == [1]  # counted once
    monkeypatch.setenv("COSTMODEL_MAX_LIST_ELEMENTS", "5")
    with pytest.raises(ExpressionError, match="list length in an expression 6 exceeds the limit of 5"):
        bounded(nested)
    other = [[1, 2], [3, 4], ["abc"]]  # an equal-looking list is another list: counted on its own
    with pytest.raises(ExpressionError, match="7 exceeds"):
        bounded(other)
    assert counted == [1, 1]
    for k in range(2 * expressions._COUNTED_MAX):  # the memory stays small however many lists pass
        bounded([[k], [k]])
    assert len(expressions._COUNTED) <= expressions._COUNTED_MAX
