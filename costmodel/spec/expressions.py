"""A small, safe evaluator for the arithmetic expressions allowed in any numeric spec field.

Supported: int/float/bool literals, lists, variable names, ``+ - * / // % **``, unary ``-``/``+``,
comparisons, ``and``/``or``/``not``, ``a if cond else b``, subscripts and slices (``dims[i]``, ``exps[:d]``),
list comprehensions with one ``for`` (``[w // 8 for w in widths]``, an optional ``if``) and the functions in
:data:`FUNCTIONS`. Python's ``eval`` is never used: the expression is parsed with :mod:`ast` and only the
node types above are walked. Parsed expressions are cached by their text.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any


class ExpressionError(ValueError):
    """An expression that cannot be evaluated; the message says why."""


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """Round channels to a multiple of ``divisor`` as timm/TF MobileNets do (never below 90 % of value)."""
    min_value = min_value or divisor
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < round_limit * value else new


def regnet_stages(w0: float, wa: float, wm: float, depth: int, quantum: int = 8) -> list[list[int]]:
    """RegNet's quantized linear widths (Radosavovic et al., 2020, eq. 2-4; timm ``generate_regnet``): block j
    gets ``u_j = w0 + wa * j``, rounded to ``w0 * wm ** round(log(u_j / w0) / log(wm))`` and to a multiple of
    ``quantum``; equal consecutive widths form a stage. Returns ``[stage widths, stage depths]``."""
    if w0 <= 0 or wa < 0 or wm <= 1 or depth < 1:
        raise ValueError(f"regnet_stages needs w0 > 0, wa >= 0, wm > 1, depth >= 1 (got {w0}, {wa}, {wm}, {depth})")
    widths: list[int] = []
    depths: list[int] = []
    for j in range(int(depth)):
        exponent = round(math.log((w0 + wa * j) / w0) / math.log(wm))
        width = int(round(w0 * wm**exponent / quantum) * quantum)
        if widths and widths[-1] == width:
            depths[-1] += 1
        else:
            widths.append(width)
            depths.append(1)
    return [widths, depths]


def _range(*args: int) -> list[int]:
    values = range(*args)
    if len(values) > MAX_RANGE:
        raise ValueError(f"range of {len(values)} values (at most {MAX_RANGE})")
    return list(values)


MAX_RANGE = 1_000_000  # elements a comprehension or range() may produce

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "int": int,
    "float": float,
    "round": round,
    "ceil": math.ceil,
    "floor": math.floor,
    "sqrt": math.sqrt,
    "log2": math.log2,
    "log": math.log,
    "exp": math.exp,
    "range": _range,
    "len": len,
    "sum": sum,
    "make_divisible": make_divisible,
    "regnet_stages": regnet_stages,
}

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


def evaluate(text: str, variables: Mapping[str, Any]) -> Any:
    """Evaluate ``text`` with ``variables``; integral floats become ints (``dim * 1.0`` is an int)."""
    tree = parse(text)
    try:
        value = _eval(tree.body, variables)
    except ExpressionError:
        raise
    except (ArithmeticError, TypeError, ValueError, IndexError) as exc:
        raise ExpressionError(f"cannot evaluate {text!r}: {exc}") from None
    return _tidy(value)


@functools.lru_cache(maxsize=65536)
def parse(text: str) -> ast.Expression:
    """The parsed expression (cached by text: specs and design spaces evaluate the same texts many times)."""
    try:
        return ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse expression {text!r}: {exc.msg}") from None


def _tidy(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list):
        return [_tidy(v) for v in value]
    return value


def _eval(node: ast.AST, env: Mapping[str, Any]) -> Any:  # noqa: C901 - one branch per node type
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | bool | str):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        raise ExpressionError(f"unknown variable {node.id!r} (known: {', '.join(sorted(env)) or 'none'})")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_eval(node.left, env), _eval(node.right, env))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand, env))
    if isinstance(node, ast.BoolOp):
        values = (_eval(v, env) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            if type(op) not in _COMPARE:
                raise ExpressionError(f"comparison {type(op).__name__} is not allowed")
            right = _eval(comparator, env)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval(node.body, env) if _eval(node.test, env) else _eval(node.orelse, env)
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e, env) for e in node.elts]
    if isinstance(node, ast.Subscript):
        if isinstance(node.slice, ast.Slice):
            bounds = (None if part is None else _eval(part, env)
                      for part in (node.slice.lower, node.slice.upper, node.slice.step))
            return _eval(node.value, env)[slice(*bounds)]
        return _eval(node.value, env)[_eval(node.slice, env)]
    if isinstance(node, ast.ListComp):
        return _comprehension(node, env)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        if node.func.id not in FUNCTIONS:
            raise ExpressionError(f"unknown function {node.func.id!r} (allowed: {', '.join(sorted(FUNCTIONS))})")
        return FUNCTIONS[node.func.id](*(_eval(a, env) for a in node.args))
    raise ExpressionError(f"{type(node).__name__} is not allowed in expressions")


def _comprehension(node: ast.ListComp, env: Mapping[str, Any]) -> list[Any]:
    """``[elt for name in iterable if cond]``: one generator, a plain name as its target."""
    if len(node.generators) != 1 or not isinstance(node.generators[0].target, ast.Name) \
            or node.generators[0].is_async:
        raise ExpressionError("a list comprehension may have one 'for NAME in ...' only")
    generator = node.generators[0]
    name = generator.target.id  # type: ignore[attr-defined]
    items = _eval(generator.iter, env)
    if len(items) > MAX_RANGE:
        raise ExpressionError(f"a comprehension over {len(items)} items (at most {MAX_RANGE})")
    out = []
    for item in items:
        scope = {**env, name: item}
        if all(_eval(cond, scope) for cond in generator.ifs):
            out.append(_eval(node.elt, scope))
    return out


@functools.lru_cache(maxsize=65536)
def expression_names(text: str) -> frozenset[str]:
    """The free variable names an expression mentions (empty if it does not parse); function names and
    comprehension variables are not among them."""
    try:
        tree = parse(text)
    except ExpressionError:
        return frozenset()
    bound = {gen.target.id for node in ast.walk(tree) if isinstance(node, ast.ListComp)
             for gen in node.generators if isinstance(gen.target, ast.Name)}
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    return frozenset({node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and id(node) not in called}
                     - bound)


def resolve(value: Any, variables: Mapping[str, Any]) -> Any:
    """Evaluate every expression inside ``value`` (str, list or dict), leaving plain words as strings.

    A string that parses as a bare name which is not a variable (``same``, ``bilinear``) stays a string;
    the op's attribute schema then says whether a word is acceptable there.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.isidentifier() and text not in variables and text not in ("True", "False"):
            return value
        return evaluate(text, variables)
    if isinstance(value, list):
        return [resolve(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, variables) for k, v in value.items()}
    return value
