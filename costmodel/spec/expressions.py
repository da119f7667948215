"""A small, safe evaluator for the arithmetic expressions allowed in any numeric spec field.

Supported: int/float/bool literals, lists, variable names, ``+ - * / // % **``, unary ``-``/``+``,
comparisons, ``and``/``or``/``not``, ``a if cond else b``, subscripts and slices (``dims[i]``, ``exps[:d]``),
fields of a namespace variable (``input.image[1]``: the graph inputs' per-sample shapes), list comprehensions
(``[w // 8 for w in widths]``, with ``if`` and nested or unpacking ``for``: ``[a * b for a, b in zip(x, y)]``)
and the functions in :data:`FUNCTIONS` (``range`` and comprehensions at most :data:`MAX_RANGE` long). Python's
``eval`` is never used: the expression is parsed with :mod:`ast` and only the node types above are walked.
Parsed expressions are cached by their text.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
from collections import ChainMap
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, cast

from .. import limits
from ..errors import shown


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
    if depth > MAX_RANGE:  # one step per block, as range() and comprehensions are bounded
        raise ValueError(f"regnet_stages of {depth} blocks (at most {MAX_RANGE})")
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
SMALL_SCOPE = 64  # a comprehension's loop copies a scope of at most these many names (else chains onto it)


class Namespace(dict[str, Any]):
    """A variable whose fields are read with a dot (``input.image``); a plain dict, so nothing else is reachable."""


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
    "zip": lambda *lists: [list(t) for t in zip(*lists, strict=False)],
    "enumerate": lambda items, start=0: [[start + k, v] for k, v in enumerate(items)],
}

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: lambda a, b: _times(a, b),
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: lambda a, b: _power(a, b),
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


@functools.lru_cache(maxsize=65536)
def parse(text: str) -> ast.Expression:
    """The parsed expression, within the length and nesting limits (checked before Python's parser, which
    recurses, sees the text); cached by text: specs and design spaces evaluate the same texts many times."""
    text = text.strip()
    too_long = limits.EXPRESSION_CHARS.exceeded(len(text))
    if too_long:
        raise ExpressionError(f"expression {shown(text, 60)}: {too_long}")
    brackets = _bracket_depth(text)
    too_deep = limits.EXPRESSION_DEPTH.exceeded(brackets)
    if too_deep:
        raise ExpressionError(f"expression {shown(text, 60)}: {too_deep}")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse expression {shown(text, 80)}: {exc.msg}{comma_hint(text)}") from None
    except (RecursionError, MemoryError, ValueError):  # ValueError: a NUL byte
        raise ExpressionError(f"cannot parse expression {shown(text, 60)}: too complex") from None
    depth = _tree_depth(tree.body)
    too_deep = limits.EXPRESSION_DEPTH.exceeded(depth)
    if too_deep:
        raise ExpressionError(f"expression {shown(text, 60)}: {too_deep}")
    return tree


def _bracket_depth(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def _tree_depth(root: ast.AST) -> int:
    """Nesting depth of a syntax tree, iteratively (``1+1+...+1`` is a deep left-leaning tree)."""
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def evaluate_expression(text: str, variables: Mapping[str, Any]) -> Any:
    """Evaluate ``text`` with ``variables``; integral floats become ints (``dim * 1.0`` is an int).

    Every intermediate value is bounded (limits.INTEGER_BITS, LIST_ELEMENTS; floats must stay finite), so no
    expression can take long or use much memory."""
    run = compiled(text)
    try:
        value = run(variables)
    except ExpressionError as exc:
        raise ExpressionError(f"{exc} in {shown(text.strip(), 80)}") from None
    except (ArithmeticError, TypeError, ValueError, IndexError, KeyError, RecursionError) as exc:
        raise ExpressionError(f"cannot evaluate {shown(text.strip(), 80)}: {type(exc).__name__}: "
                              f"{shown(str(exc), 120)[1:-1]}") from None
    return _tidy(value)


_Evaluator = Callable[[Mapping[str, Any]], Any]


@functools.lru_cache(maxsize=65536)
def compiled(text: str) -> _Evaluator:
    """``text`` parsed (:func:`parse`, whose errors it raises) and turned into a function of the variables that
    evaluates it as :func:`_eval` walks the tree, in the same order with the same bounds and errors, without
    dispatching on node types at every evaluation (specs evaluate the same few texts for every layer)."""
    tree = parse(text)
    try:
        return _compile(tree.body)
    except RecursionError:  # a tree deeper than Python's recursion allows (the depth limit was raised): walk it
        return functools.partial(_eval, tree.body)


def _compile(node: ast.AST) -> _Evaluator:
    """The function of the variables that ``_eval(node, variables)`` computes: the common node types below are
    composed once, any other is walked by :func:`_eval` itself."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | bool | str):
        value = node.value
        return lambda env: bounded(value)
    if isinstance(node, ast.Name):
        name = node.id

        def variable(env: Mapping[str, Any]) -> Any:
            return bounded(env[name]) if name in env else _eval(node, env)  # _eval names the unknown variable

        return variable
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        binary, left, right = _BINARY[type(node.op)], _compile(node.left), _compile(node.right)
        return lambda env: bounded(binary(left(env), right(env)))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        unary, operand = _UNARY[type(node.op)], _compile(node.operand)
        return lambda env: bounded(unary(operand(env)))
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
        compare, first, second = _COMPARE[type(node.ops[0])], _compile(node.left), _compile(node.comparators[0])
        return lambda env: True if compare(first(env), second(env)) else False  # noqa: SIM210 - as _eval_node
    if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Slice):
        container, index = _compile(node.value), _compile(node.slice)
        return lambda env: bounded(container(env)[index(env)])
    if isinstance(node, ast.IfExp):
        test, body, orelse = _compile(node.test), _compile(node.body), _compile(node.orelse)
        return lambda env: bounded(body(env) if test(env) else orelse(env))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords \
            and node.func.id in FUNCTIONS:  # an unknown function is walked: _eval_node names it when evaluated
        function, arguments = FUNCTIONS[node.func.id], [_compile(argument) for argument in node.args]
        return lambda env: bounded(function(*(argument(env) for argument in arguments)))
    if isinstance(node, ast.ListComp):
        comprehension = node
        parts = {id(part): _compile(part) for part in (node.elt, *(loop.iter for loop in node.generators),
                                                       *(test for loop in node.generators for test in loop.ifs))}

        def evaluate(part: ast.AST, scope: Mapping[str, Any]) -> Any:
            return parts[id(part)](scope)

        return lambda env: bounded(_list_comprehension(comprehension, env, evaluate))
    return functools.partial(_eval, node)


def bounded(value: Any) -> Any:
    """``value`` when it is within the limits for a number or list, else :class:`ExpressionError`."""
    kind = type(value)
    if kind is float:  # the common cases first, by exact type (as the checks below take them)
        if value - value == 0.0:  # finite (inf - inf and nan - nan are nan)
            return value
        raise ExpressionError(f"the result {value} is not a finite number")
    if kind is int and value.bit_length() <= limits.INTEGER_BITS.value:
        return value
    if kind is list:
        for item in value:
            if isinstance(item, list | str):  # nested, or holding texts: the general count, remembered
                message = limits.LIST_ELEMENTS.exceeded(_counted(value))
                break
        else:  # flat: an element per item
            message = limits.LIST_ELEMENTS.exceeded(len(value) or 1)
        if message:
            raise ExpressionError(message)
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        bits = limits.INTEGER_BITS.value
        if value.bit_length() > bits:
            raise ExpressionError(f"integer of {value.bit_length():,} bits is out of range (limit: {bits} bits; set "
                                  f"{limits.INTEGER_BITS.env} to raise it)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ExpressionError(f"the result {value} is not a finite number")
    elif isinstance(value, list | str):
        message = limits.LIST_ELEMENTS.exceeded(_elements(value))
        if message:
            raise ExpressionError(message)
    elif value is not None and not isinstance(value, dict):
        raise ExpressionError(f"the result {shown(value, 40)} is not a number, text or list")
    return value


def _power(base: Any, exponent: Any) -> Any:
    """``base ** exponent`` with the result's size estimated first (``9**9**9`` would take minutes)."""
    if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1 and exponent > 0 \
            and exponent * math.log2(abs(base)) > limits.INTEGER_BITS.value + 2:  # floats overflow by themselves
        raise ExpressionError(f"{shown(base, 30)} ** {shown(exponent, 30)} is out of range")
    return base**exponent


def _elements(value: Any) -> int:
    """Elements of a (nested) list, or characters of a text, counting a list shared in several places each time
    (``[[1]*10**5]*10**5`` is 10^10 elements, though it takes little memory until something walks it)."""
    return _size(value, {})


_COUNTED: dict[int, tuple[list[Any], int]] = {}  # the nested lists met last (held here, so their ids stay theirs)
_COUNTED_MAX = 32


def _counted(value: list[Any]) -> int:
    """:func:`_elements` of a nested list, remembered for the last :data:`_COUNTED_MAX` lists met: a variable
    holding one (OFA's per-stage expansion ratios, ``exps``) is read, and checked, hundreds of times while one
    candidate builds -- 40 % of an OFA candidate's CPU once its blocks are cached (docs/sweep.md). The count, not
    the verdict, is kept (the limit may change). Lists are never changed in place here (every operation makes a
    new one), so a count stays true while the list is held."""
    known = _COUNTED.get(id(value))
    if known is not None and known[0] is value:
        return known[1]
    count = _elements(value)
    if len(_COUNTED) >= _COUNTED_MAX:
        _COUNTED.clear()
    _COUNTED[id(value)] = (value, count)
    return count


def _size(item: Any, sizes: dict[int, int]) -> int:
    """:func:`_elements` of ``item``, each list counted once in ``sizes`` (by id). A module function, not a
    recursive closure: a closure that calls itself is a reference cycle, left for the cyclic garbage collector."""
    if isinstance(item, str):
        return max(len(item), 1)
    if not isinstance(item, list):
        return 1
    if id(item) not in sizes:
        sizes[id(item)] = sum(_size(element, sizes) for element in item) or 1
    return sizes[id(item)]


def _times(left: Any, right: Any) -> Any:
    """``left * right``, refusing a list or text repeated past the limit before building it."""
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, list | str) and isinstance(count, int):
            message = limits.LIST_ELEMENTS.exceeded(_elements(seq) * max(count, 0))
            if message:
                raise ExpressionError(message)
    return left * right


COMMA_HINT = " (inside {...} or [...], YAML splits unquoted text at commas: quote the expression, \"f(a, b)\")"


def comma_hint(text: str) -> str:
    """A hint when ``text`` looks cut at a comma, as YAML's flow style (``{out: f(a, b)}``) cuts unquoted text."""
    unbalanced = text.count("(") != text.count(")") or text.count("[") != text.count("]")
    return COMMA_HINT if unbalanced else ""


def key_hint(key: object) -> str:
    """The comma hint for an attribute name that is a cut-off expression (``8)`` from ``{out: f(a, 8)}``)."""
    return comma_hint(str(key))


def _tidy(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list):
        return [_tidy(v) for v in value]
    return value


def _eval(node: ast.AST, env: Mapping[str, Any]) -> Any:
    return bounded(_eval_node(node, env))


def _eval_node(node: ast.AST, env: Mapping[str, Any]) -> Any:  # noqa: C901 - one branch per node type
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | bool | str):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        known = ", ".join(sorted(env)[:40]) + (", ..." if len(env) > 40 else "")
        raise ExpressionError(f"unknown variable {shown(node.id, 40)} (known: {known or 'none'})")
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
        return _list_comprehension(node, env)
    if isinstance(node, ast.Attribute):
        owner = _eval(node.value, env)
        if not isinstance(owner, Namespace):
            raise ExpressionError(f"'.{node.attr}': only a namespace such as 'input' has fields")
        if node.attr not in owner:
            raise ExpressionError(f"no field {node.attr!r} (known: {', '.join(owner) or 'none'})")
        return owner[node.attr]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        if node.func.id not in FUNCTIONS:
            raise ExpressionError(f"unknown function {node.func.id!r} (allowed: {', '.join(sorted(FUNCTIONS))})")
        return FUNCTIONS[node.func.id](*(_eval(a, env) for a in node.args))
    what = repr(node.value) if isinstance(node, ast.Constant) else type(node).__name__
    raise ExpressionError(f"{what} is not allowed in expressions")


def _list_comprehension(node: ast.ListComp, env: Mapping[str, Any],
                        evaluate: Callable[[ast.AST, Mapping[str, Any]], Any] | None = None) -> list[Any]:
    """``[f(x) for x in xs if cond]`` (nested ``for`` too), each loop over a list; at most :data:`MAX_RANGE` steps.
    ``evaluate``: how its parts are evaluated (default :func:`_eval`; :func:`_compile` passes their compiled
    functions)."""
    results: list[Any] = []
    _comprehension_level(node, 0, env, evaluate or _eval, results, [0])
    return results


def _comprehension_level(node: ast.ListComp, level: int, scope: Mapping[str, Any],
                         evaluate: Callable[[ast.AST, Mapping[str, Any]], Any], results: list[Any],
                         steps: list[int]) -> None:
    """Loop ``level`` of :func:`_list_comprehension` (``steps``: the steps taken so far, in a one-item list). A module
    function, not a recursive closure: a closure that calls itself is a reference cycle, left for the cyclic garbage
    collector (two per candidate of a sweep, which then walks the sweep's whole cache to find them)."""
    if level == len(node.generators):
        results.append(evaluate(node.elt, scope))
        return
    loop = node.generators[level]
    items = evaluate(loop.iter, scope)
    if not isinstance(items, list):
        raise ExpressionError(f"a comprehension loops over a list, got {items!r}")
    small = type(scope) is dict and len(scope) <= SMALL_SCOPE
    for item in items:
        steps[0] += 1
        if steps[0] > MAX_RANGE:
            raise ExpressionError(f"a comprehension of more than {MAX_RANGE} steps")
        bound = _bind(loop.target, item)
        # read only: a small scope copied with the loop's names (looked up faster than through a ChainMap)
        inner: Mapping[str, Any] = {**scope, **bound} if small else \
            ChainMap(bound, cast("MutableMapping[str, Any]", scope))
        if all(evaluate(condition, inner) for condition in loop.ifs):
            _comprehension_level(node, level + 1, inner, evaluate, results, steps)


def _bind(target: ast.AST, value: Any) -> dict[str, Any]:
    """The names a comprehension's loop target binds: ``x``, or ``a, b`` unpacking a list."""
    if isinstance(target, ast.Name):
        return {target.id: value}
    if isinstance(target, ast.Tuple | ast.List) and all(isinstance(e, ast.Name) for e in target.elts):
        if not isinstance(value, list | tuple) or len(value) != len(target.elts):
            raise ExpressionError(f"cannot unpack {value!r} into {len(target.elts)} names")
        return {e.id: v for e, v in zip(target.elts, value, strict=True)}  # type: ignore[attr-defined]
    raise ExpressionError("a comprehension's loop variable must be a name or names")


@functools.lru_cache(maxsize=65536)
def expression_names(text: str) -> frozenset[str]:
    """The free variable names an expression mentions (empty if it does not parse); function names and
    comprehension variables are not among them."""
    try:
        tree = parse(text)
    except ExpressionError:
        return frozenset()
    bound = {name.id for node in ast.walk(tree) if isinstance(node, ast.ListComp)
             for gen in node.generators for name in ast.walk(gen.target) if isinstance(name, ast.Name)}
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
        return evaluate_expression(text, variables)
    if isinstance(value, list):
        return bounded([resolve(v, variables) for v in value])
    if isinstance(value, dict):
        return {k: resolve(v, variables) for k, v in value.items()}
    try:
        return bounded(value)  # a plain YAML number: finite, and an integer within the limit
    except ExpressionError as exc:
        raise ExpressionError(f"{exc} (the value {shown(value, 40)})") from None
