"""All op families. Importing this package fills :data:`REGISTRY`."""

from . import activation, attention, conv, elementwise, embedding, imported, linear, norm, pooling, shape  # noqa: F401
from .base import REGISTRY, Attrs, OpClass, OpCost, OpDef, OpError, Shape, get_op, register

__all__ = ["REGISTRY", "Attrs", "OpClass", "OpCost", "OpDef", "OpError", "Shape", "get_op", "register"]
