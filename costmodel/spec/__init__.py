"""Spec layer: schema, loading and expressions."""

from .expressions import ExpressionError, evaluate_expression, resolve
from .loader import load_spec, parse_spec, with_vars
from .schema import BlockDef, Metadata, NodeSpec, Spec

__all__ = ["BlockDef", "ExpressionError", "Metadata", "NodeSpec", "Spec", "evaluate_expression", "load_spec",
           "parse_spec", "resolve", "with_vars"]
