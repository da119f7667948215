"""All op families. Importing this package fills :data:`REGISTRY`."""

from ..vocab import OpClass
from . import (  # noqa: F401
    activation,
    attention,
    conv,
    elementwise,
    embedding,
    imported,
    linear,
    math,
    norm,
    pooling,
    recurrent,
    shape,
)
from .base import REGISTRY, Attrs, OpCost, OpDef, OpError, Shape, get_op, register

__all__ = ["REGISTRY", "Attrs", "OpClass", "OpCost", "OpDef", "OpError", "Shape", "get_op", "register"]
