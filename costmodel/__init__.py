"""costmodel: an analytical cost model for neural-network architectures.

``analyze`` and ``load_graph`` (the facade, :mod:`costmodel.api`) are imported on first use, so that
``import costmodel.cli`` or ``import costmodel.spec`` does not pay for the whole analyzer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import SpecError
from .version import __version__

if TYPE_CHECKING:
    from .api import analyze, load_graph

__all__ = ["__version__", "SpecError", "analyze", "load_graph"]


def __getattr__(name: str) -> Any:
    """The facade's functions, imported when first asked for (PEP 562)."""
    if name in ("analyze", "load_graph"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
