"""Import ``timm`` even where ``torchvision`` cannot load (needs PyTorch and timm).

timm imports torchvision at import time (``FrozenBatchNorm2d`` from ``torchvision.ops.misc``, the data
transforms). Where the torchvision wheel cannot load its compiled ops next to the installed torch (the CPU-only
torch wheel with the PyPI torchvision wheel fails with ``operator torchvision::nms does not exist``),
:func:`require_timm` puts a minimal stand-in for the few torchvision names timm touches into ``sys.modules``
and imports timm again. The stand-in is used ONLY when the real ``import torchvision`` fails; it provides a
working ``FrozenBatchNorm2d`` (the same buffers and forward as torchvision's), an ``InterpolationMode`` enum and
placeholder classes for the rest (data transforms and datasets), which raise when called. Model building,
``torch.export`` and counting never call them. Users with a working torchvision get the real one.

The CLI (``costmodel import timm:...``), the tests and the benchmarks all get timm through this function.
"""

from __future__ import annotations

import sys
from enum import Enum
from types import ModuleType
from typing import Any

from ..errors import BridgeError
from .torch import require_torch

TIMM_HINT = "pip install 'costmodel[timm]'"
STANDIN_MARK = "__costmodel_standin__"  # set on every stand-in module


def require_timm() -> ModuleType:
    """The ``timm`` module, importing it with the torchvision stand-in when the real torchvision fails to load.

    Raises :class:`BridgeError` when torch or timm is not installed.
    """
    require_torch()
    if "timm" in sys.modules:
        return sys.modules["timm"]
    try:
        import torchvision  # type: ignore[import-untyped]  # noqa: F401
    except (ImportError, RuntimeError):  # RuntimeError: "operator torchvision::nms does not exist"
        install_torchvision_standin()
    try:
        import timm
    except ImportError:
        raise BridgeError(f"timm is not installed: {TIMM_HINT}") from None
    return timm


def standin_active() -> bool:
    """Whether ``torchvision`` in this process is the stand-in."""
    module = sys.modules.get("torchvision")
    return module is not None and getattr(module, STANDIN_MARK, False)


class _Placeholder:
    """A torchvision class or function timm names but costmodel never runs (transforms, datasets)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise BridgeError(f"{type(self).__name__} comes from costmodel's torchvision stand-in "
                          "(the real torchvision failed to import); install a working torchvision")


class _StandinModule(ModuleType):
    """A stand-in module: names it does not define are placeholder classes made on first access."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        placeholder = type(name, (_Placeholder,), {"__module__": self.__name__})
        setattr(self, name, placeholder)
        return placeholder


class InterpolationMode(Enum):
    """torchvision.transforms.InterpolationMode's members (timm maps them to PIL/str names)."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


def _frozen_batch_norm() -> type:
    """torchvision.ops.misc.FrozenBatchNorm2d: batch norm with fixed statistics and affine as buffers."""
    torch = require_torch()

    class FrozenBatchNorm2d(torch.nn.Module):  # type: ignore[name-defined]  # torch: a module object here
        def __init__(self, num_features: int, eps: float = 1e-5) -> None:
            super().__init__()
            self.eps = eps
            self.register_buffer("weight", torch.ones(num_features))
            self.register_buffer("bias", torch.zeros(num_features))
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))

        def forward(self, x: Any) -> Any:
            scale = self.weight * (self.running_var + self.eps).rsqrt()
            bias = self.bias - self.running_mean * scale
            return x * scale.reshape(1, -1, 1, 1) + bias.reshape(1, -1, 1, 1)

    return FrozenBatchNorm2d


def install_torchvision_standin() -> None:
    """Replace any half-imported torchvision in ``sys.modules`` with the stand-in modules."""
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    names = ["torchvision", "torchvision.ops", "torchvision.ops.misc", "torchvision.transforms",
             "torchvision.transforms.functional", "torchvision.datasets", "torchvision.utils",
             "torchvision.models", "torchvision.models.feature_extraction"]
    modules: dict[str, Any] = {}
    for name in names:
        module = _StandinModule(name, "costmodel's torchvision stand-in (see costmodel.bridges.timm_compat)")
        setattr(module, STANDIN_MARK, True)
        module.__path__ = []  # a package, so that submodule imports resolve through sys.modules
        modules[name] = module
        sys.modules[name] = module
    for name, module in modules.items():
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(modules[parent], child, module)
    modules["torchvision"].__version__ = "0.0+costmodel.standin"
    modules["torchvision.ops.misc"].FrozenBatchNorm2d = _frozen_batch_norm()
    modules["torchvision.transforms"].InterpolationMode = InterpolationMode
    modules["torchvision.transforms.functional"].InterpolationMode = InterpolationMode
