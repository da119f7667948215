"""The schema of an architecture spec (``arch_specs/*.yaml``); see docs/spec.md.

Numeric fields accept numbers or expression strings (``dim * 4``); they are evaluated when the graph is
expanded, where block parameters and the repeat index ``i`` are known.

The schema is written in pydantic (:mod:`costmodel.spec.models`: its validation, error messages and JSON schema),
but a spec is validated on a fast path first, which imports nothing: every value pydantic would keep as it is (an
int where an int is expected, a word where a word is, ...) is taken as it is. Anything else (a value pydantic would
convert, a problem to report) goes through the pydantic models, so the result and the error are pydantic's. The
classes here hold the validated spec; they answer the parts of pydantic's model API the package uses
(``model_validate``, ``model_copy``, ``model_dump``, ``model_extra``, ``model_json_schema``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ..vocab import Dtype
from .names import NODE_KEYS as NODE_KEYS
from .names import Number as Number
from .names import check_name as check_name

if TYPE_CHECKING:
    from pydantic import BaseModel
    from typing_extensions import Self


class _Slow(Exception):
    """A value the fast path does not take as it is: pydantic decides."""


class _Model:
    """A validated part of a spec: fields in ``__dict__``, unknown keys (where allowed) in ``model_extra``."""

    __slots__ = ("__dict__", "_extra")
    _fields: ClassVar[tuple[str, ...]]
    _allow_extra: ClassVar[bool] = False

    @classmethod
    def _fast(cls, data: dict[str, Any]) -> Self:  # pragma: no cover - every subclass has its own
        raise _Slow

    @classmethod
    def _made(cls, values: dict[str, Any], extra: dict[str, Any] | None = None) -> Self:
        obj = object.__new__(cls)
        obj.__dict__.update(values)
        object.__setattr__(obj, "_extra", extra if cls._allow_extra else None)
        return obj

    @classmethod
    def model_validate(cls, data: Any) -> Self:
        """Validate parsed YAML (a mapping) as pydantic does; a problem is a ``pydantic.ValidationError``."""
        if type(data) is dict:
            try:
                return cls._fast(data)
            except _Slow:
                pass
        return cls._from_pydantic(cls.pydantic_model().model_validate(data))

    @classmethod
    def pydantic_model(cls) -> type[BaseModel]:
        """The pydantic model of this part of the schema."""
        from .models import pydantic_models

        model: type[BaseModel] = pydantic_models()[cls.__name__]
        return model

    @classmethod
    def model_json_schema(cls) -> dict[str, Any]:
        """The JSON schema (pydantic's)."""
        return cls.pydantic_model().model_json_schema()

    @classmethod
    def _from_pydantic(cls, model: BaseModel) -> Self:
        return cls._made({name: _from_pydantic(getattr(model, name)) for name in cls._fields},
                         dict(model.model_extra or {}) if cls._allow_extra else None)

    def _to_pydantic(self) -> BaseModel:
        values = {name: _to_pydantic(value) for name, value in self.__dict__.items()}
        return self.pydantic_model().model_construct(**values, **(self._extra or {}))

    @property
    def model_extra(self) -> dict[str, Any] | None:
        """The keys that are not fields (where the model allows them), as pydantic's ``model_extra``."""
        extra: dict[str, Any] | None = self._extra
        return extra

    def model_copy(self, *, update: dict[str, Any] | None = None) -> Self:
        """A shallow copy with some fields replaced (not validated), as pydantic's ``model_copy``."""
        values = {**self.__dict__, **{k: v for k, v in (update or {}).items() if k in self._fields}}
        extra = None if self._extra is None else \
            {**self._extra, **{k: v for k, v in (update or {}).items() if k not in self._fields}}
        return self._made(values, extra)

    def model_dump(self, **options: Any) -> dict[str, Any]:
        """The fields (and extra keys) as plain data, as pydantic's ``model_dump`` (same options)."""
        return self._to_pydantic().model_dump(**options)

    def content_key(self) -> tuple[Any, ...]:
        """A hashable key, equal for two parts of a spec with equal content and order (types kept apart: ``1``,
        ``1.0`` and ``True``, as validation and expressions tell them apart). A ``TypeError`` for a value no key
        is made of (a YAML timestamp, ...)."""
        return (type(self), tuple([(k, _key(v)) for k, v in self.__dict__.items()]), _key(self._extra))

    def __getattr__(self, name: str) -> Any:
        extra = object.__getattribute__(self, "_extra")
        if extra is not None and name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.__dict__ == other.__dict__ and \
            self._extra == other._extra

    __hash__ = None  # type: ignore[assignment]  # mutable, as a pydantic model

    def __repr__(self) -> str:
        items = [*self.__dict__.items(), *(self._extra or {}).items()]
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in items)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self)._made, (dict(self.__dict__), self._extra))


def _key(value: Any) -> Any:
    """:meth:`_Model.content_key` of a value inside a spec."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return (kind, value)
    if kind is float:
        return (kind, repr(value))  # -0.0 apart from 0.0
    if kind is list:
        return (kind, tuple([_key(v) for v in value]))
    if kind is dict:
        return (kind, tuple([(_key(k), _key(v)) for k, v in value.items()]))
    if isinstance(value, _Model):
        return value.content_key()
    if kind is Dtype:
        return (kind, value.value)
    raise TypeError(f"no content key for a {kind.__name__}")


def _from_pydantic(value: Any) -> Any:
    """A pydantic model's field value with the models inside turned into this module's classes."""
    if isinstance(value, list):
        return [_from_pydantic(v) for v in value]
    if isinstance(value, dict):
        return {k: _from_pydantic(v) for k, v in value.items()}
    cls = _CLASSES.get(type(value).__name__)
    if cls is not None and hasattr(value, "model_fields_set"):
        return cls._from_pydantic(value)
    return value


def _to_pydantic(value: Any) -> Any:
    if isinstance(value, _Model):
        return value._to_pydantic()
    if isinstance(value, list):
        return [_to_pydantic(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_pydantic(v) for k, v in value.items()}
    return value


# ---- the fast path: each check returns the value pydantic would return, or raises _Slow -------------------------


def _str(value: Any) -> str:
    if type(value) is not str:
        raise _Slow
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None else _str(value)


def _str_list(value: Any) -> list[str]:
    if type(value) is not list:
        raise _Slow
    return [_str(v) for v in value]


def _opt_float(value: Any) -> float | None:
    if type(value) is int and -_EXACT <= value <= _EXACT:
        return float(value)  # pydantic's lax float: an int becomes its float
    if value is not None and type(value) is not float:
        raise _Slow
    return value


_EXACT = 2**53  # ints up to this convert to floats exactly (larger ones: pydantic decides)


def _number(value: Any) -> Number:
    if type(value) not in (int, float, str):
        raise _Slow
    return value  # type: ignore[no-any-return]


def _bool(value: Any) -> bool:
    if type(value) is not bool:
        raise _Slow
    return value


def _dtype(value: Any) -> Dtype:
    if type(value) is Dtype:
        return value
    if type(value) is not str or value not in Dtype._value2member_map_:
        raise _Slow
    return Dtype(value)


def _name(value: Any) -> str:
    name = _str(value)
    try:
        return check_name(name)
    except ValueError:
        raise _Slow from None


def _mapping(value: Any) -> dict[str, Any]:
    """A ``dict[str, Any]``: a new dict of the same items."""
    if type(value) is not dict or not all(type(k) is str for k in value):
        raise _Slow
    return dict(value)


def _fields(data: dict[str, Any], cls: type[_Model]) -> None:
    if not cls._allow_extra and not all(key in cls._fields for key in data):
        raise _Slow


def _extra(data: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    extra = {k: v for k, v in data.items() if k not in fields}
    if not all(type(k) is str for k in extra):
        raise _Slow
    return extra


class Metadata(_Model):
    """Where the architecture comes from and how it scores (plots read ``top1``)."""

    _fields = ("paper", "source", "url", "timm_name", "top1", "top5")
    _allow_extra = True

    paper: str | None
    source: str | None  # reference implementation, e.g. 'timm convnext_tiny'
    url: str | None
    timm_name: str | None  # timm model name, to look up published figures
    top1: float | None  # published ImageNet-1k top-1 accuracy, percent
    top5: float | None

    @classmethod
    def _fast(cls, data: dict[str, Any]) -> Metadata:
        get = data.get
        return cls._made({"paper": _opt_str(get("paper")), "source": _opt_str(get("source")),
                          "url": _opt_str(get("url")), "timm_name": _opt_str(get("timm_name")),
                          "top1": _opt_float(get("top1")), "top5": _opt_float(get("top5"))},
                         _extra(data, cls._fields))


class NodeSpec(_Model):
    """One node: an op (``op:``) or a block call (``block:``). Other keys are the op's attributes or the
    block's arguments, each a number, a word or an expression."""

    _fields = ("name", "op", "block", "inputs", "repeat", "parallel", "when", "overrides", "dtype")  # pydantic's order
    _allow_extra = True

    name: str | None  # name in its scope; default: the op or block name
    op: str | None  # a registered op (`costmodel ops` lists them)
    block: str | None  # a block defined under `blocks:`
    inputs: str | list[str] | None  # earlier node names in this scope, `name:k` for output k; default: previous node
    repeat: Number | None  # repeat this node N times in sequence; `i` is the index
    parallel: bool  # with repeat: every repeat takes the node's inputs instead of the previous repeat's output
    overrides: dict[int, dict[str, Any]]  # per-repeat attribute overrides, keyed by index (-1 = last)
    when: bool | str | None  # condition; when false the node is skipped and passes its first input through
    dtype: Dtype | None  # element type of this node's op (of every op of a block call, unless one sets its own)

    @classmethod
    def _fast(cls, data: dict[str, Any]) -> NodeSpec:
        get = data.get
        op, block = _opt_str(get("op")), _opt_str(get("block"))
        if (op is None) == (block is None):
            raise _Slow
        name = get("name")
        inputs = get("inputs")
        repeat = get("repeat")
        when = get("when")
        overrides = get("overrides")
        if overrides is None:
            if "overrides" in data:
                raise _Slow
            overrides = {}
        else:
            if type(overrides) is not dict or not all(type(k) is int for k in overrides):
                raise _Slow
            overrides = {k: _mapping(v) for k, v in overrides.items()}
        dtype = get("dtype")
        return cls._made({
            "name": None if name is None else _name(name),
            "op": op,
            "block": block,
            "inputs": inputs if inputs is None or type(inputs) is str else _str_list(inputs),
            "repeat": None if repeat is None else _number(repeat),
            "parallel": _bool(data["parallel"]) if "parallel" in data else False,
            "when": when if when is None or type(when) in (bool, str) else _bool(when),
            "overrides": overrides,
            "dtype": None if dtype is None else _dtype(dtype),
        }, _extra(data, NODE_KEYS))

    @property
    def attributes(self) -> dict[str, Any]:
        """The op attributes or block arguments: every key that is not a node key."""
        return dict(self._extra or {})


def _nodes(value: Any) -> list[NodeSpec]:
    if type(value) is not list or not value or not all(type(v) is dict for v in value):
        raise _Slow
    return [NodeSpec._fast(v) for v in value]


class BlockDef(_Model):
    """A reusable, parametrized sub-graph."""

    _fields = ("description", "params", "vars", "inputs", "outputs", "nodes")

    description: str
    params: dict[str, Any]  # parameter -> default (null: required)
    vars: dict[str, Any]  # derived values, evaluated in order
    inputs: list[str]  # names of the block's input tensors
    outputs: list[str] | None  # node names whose outputs leave the block
    nodes: list[NodeSpec]

    @classmethod
    def _fast(cls, data: dict[str, Any]) -> BlockDef:
        _fields(data, cls)
        inputs = data.get("inputs", ["x"])
        if type(inputs) is not list:
            raise _Slow
        outputs = data.get("outputs")
        return cls._made({
            "description": _str(data["description"]) if "description" in data else "",
            "params": _mapping(data["params"]) if "params" in data else {},
            "vars": _mapping(data["vars"]) if "vars" in data else {},
            "inputs": [_name(name) for name in inputs],
            "outputs": None if outputs is None else _str_list(outputs),
            "nodes": _nodes(data.get("nodes")),
        })


class Spec(_Model):
    """An architecture: inputs, variables, blocks and the top-level node list."""

    _fields = ("name", "description", "metadata", "inputs", "batch", "dtype", "vars", "defaults", "blocks", "nodes",
               "outputs")

    name: str
    description: str
    metadata: Metadata
    inputs: dict[str, list[Number]]  # input name -> per-sample shape: [C, H, W] for images, [L, D] for sequences
    batch: int
    dtype: Dtype
    vars: dict[str, Any]  # variables, evaluated in order
    defaults: dict[str, dict[str, Any]]  # op name -> default attributes, e.g. {conv2d: {bias: false}}
    blocks: dict[str, BlockDef]
    nodes: list[NodeSpec]
    outputs: list[str] | None

    @classmethod
    def _fast(cls, data: dict[str, Any]) -> Spec:
        _fields(data, cls)
        inputs = data.get("inputs")
        if type(inputs) is not dict or not inputs or not all(type(v) is list for v in inputs.values()):
            raise _Slow
        metadata = data.get("metadata", {})
        defaults = _mapping(data["defaults"]) if "defaults" in data else {}
        blocks = _mapping(data["blocks"]) if "blocks" in data else {}
        if not all(type(v) is dict for v in blocks.values()):
            raise _Slow
        batch = data.get("batch", 1)
        if type(batch) is not int or batch < 1:
            raise _Slow
        outputs = data.get("outputs")
        return cls._made({
            "name": _str(data.get("name")),
            "description": _str(data["description"]) if "description" in data else "",
            "metadata": Metadata._fast(metadata) if type(metadata) is dict else Metadata._fast(_mapping(metadata)),
            "inputs": {_name(name): [_number(d) for d in shape] for name, shape in inputs.items()},
            "batch": batch,
            "dtype": _dtype(data["dtype"]) if "dtype" in data else Dtype.FP32,
            "vars": _mapping(data["vars"]) if "vars" in data else {},
            "defaults": {k: _mapping(v) for k, v in defaults.items()},
            "blocks": {k: BlockDef._fast(v) for k, v in blocks.items()},
            "nodes": _nodes(data.get("nodes")),
            "outputs": None if outputs is None else _str_list(outputs),
        })


_CLASSES: dict[str, type[_Model]] = {"Spec": Spec, "NodeSpec": NodeSpec, "BlockDef": BlockDef, "Metadata": Metadata}
