"""costmodel: an analytical cost model for neural-network architectures."""

from .api import analyze, load_graph
from .errors import SpecError

__version__ = "0.1.0"
__all__ = ["SpecError", "analyze", "load_graph"]
