"""costmodel: an analytical cost model for neural-network architectures."""

from .api import analyze, load_graph
from .errors import SpecError
from .version import __version__

__all__ = ["__version__", "SpecError", "analyze", "load_graph"]
