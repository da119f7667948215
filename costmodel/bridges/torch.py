"""Spec -> PyTorch: an ``nn.Module`` that runs a :class:`~costmodel.graph.Graph`, and PyTorch's own counts.

``import costmodel.bridges.torch`` works without PyTorch; calling :func:`build_module`, :func:`example_inputs`
or :func:`torch_counts` (or touching :class:`SpecModule`) without it raises :class:`BridgeError`. The op
implementations live in :mod:`costmodel.bridges.torch_ops`; the mapping and the differences between our MACs and
``torch.utils.flop_counter.FlopCounterMode`` are documented in docs/bridges.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..errors import BridgeError
from ..graph import Graph
from ..ops import Shape, get_op

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

    from .torch_module import SpecModule

INSTALL_HINT = "pip install 'costmodel[torch]' (CPU-only machines: pip install torch==2.13.0)"



def require_torch() -> ModuleType:
    """The ``torch`` module, or a :class:`BridgeError` saying how to install it."""
    try:
        import torch
    except ImportError:
        raise BridgeError(f"PyTorch is not installed: {INSTALL_HINT}") from None
    return torch


def __getattr__(name: str) -> Any:
    """``SpecModule`` is defined only when PyTorch is importable (it subclasses ``torch.nn.Module``)."""
    if name == "SpecModule":
        require_torch()
        from .torch_module import SpecModule

        return SpecModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_module(graph: Graph, *, check_shapes: bool = False) -> SpecModule:
    """An ``nn.Module`` (in eval mode, float32, default PyTorch initialisation) that runs ``graph``.

    ``forward(*inputs)`` takes the graph's inputs in order and returns its output (a tuple for several).
    ``check_shapes=True`` checks every layer's outputs against the shapes the graph inferred, raising
    :class:`BridgeError` at the first mismatch. An op without a PyTorch implementation is a BridgeError
    naming the op and the layer path.
    """
    require_torch()
    from .torch_module import SpecModule

    return SpecModule(graph, check_shapes=check_shapes).eval()


def example_inputs(graph: Graph, dtype: torch.dtype | None = None, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Standard-normal tensors of the graph inputs' shapes (batch included), in input order (float32 default)."""
    torch = require_torch()
    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(shape, generator=generator, dtype=dtype or torch.float32)
                 for shape in graph.inputs.values())


@dataclass(frozen=True)
class TorchCounts:
    """What PyTorch counts for one forward pass.

    - ``params``: ``sum(p.numel() for p in module.parameters())``.
    - ``flop_counter_flops``: ``FlopCounterMode``'s total (2 per multiply-add of conv/mm/addmm/bmm/baddbmm/sdpa;
      PyTorch's fused CPU SDPA kernel, which it has no formula for, gets its SDPA formula).
    - ``by_op``: the same per aten op (``"aten.convolution"``: flops).
    """

    params: int
    flop_counter_flops: int
    by_op: dict[str, int] = field(default_factory=dict)


def torch_counts(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> TorchCounts:
    """Run ``module(*inputs)`` once under ``torch.no_grad()`` and ``FlopCounterMode``; count params and FLOPs."""
    torch = require_torch()
    from torch.utils.flop_counter import FlopCounterMode, flop_registry

    # PyTorch's fused CPU attention kernel has no formula in FlopCounterMode (it would count 0): give it the one
    # FlopCounterMode uses for the GPU flash kernel, the two bmm of q @ k^T and attn @ v.
    cpu_sdpa = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    mapping = {}
    if cpu_sdpa is not None and cpu_sdpa not in flop_registry:
        formula = flop_registry[torch.ops.aten._scaled_dot_product_flash_attention]
        mapping[cpu_sdpa] = getattr(formula, "__wrapped__", formula)  # the shape formula; the mode wraps it
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        module(*inputs)
    by_op = {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}
    params = sum(p.numel() for p in module.parameters())
    return TorchCounts(params=params, flop_counter_flops=int(counter.get_total_flops()), by_op=by_op)


def einsum_bmm_macs(inputs: Sequence[Shape], terms: Sequence[str], result: str) -> int:
    """The multiply-adds of the ``bmm`` that ``torch.einsum`` runs: it sums out first every summed index that one
    operand lacks or holds at size 1 (broadcast), and contracts the rest in one bmm; none left (one operand, an outer
    product) is no bmm, 0. fvcore's count (the op's MACs) is the product of every index size either way."""
    if len(inputs) != 2:
        return 0
    sizes: dict[str, int] = {}
    full: list[set[str]] = []
    for term, shape in zip(terms, inputs, strict=True):
        full.append({letter for letter, size in zip(term, shape, strict=True) if size > 1})
        for letter, size in zip(term, shape, strict=True):
            sizes[letter] = max(sizes.get(letter, 1), size)
    summed = set(sizes) - set(result)
    contracted = summed & full[0] & full[1]
    if not contracted:
        return 0
    return math.prod(size for letter, size in sizes.items() if letter not in summed or letter in contracted)


def torch_counted_macs(graph: Graph) -> int:
    """Our MACs summed over the layers whose ops FlopCounterMode also counts (registered ``torch_counted``:
    convolutions, linear layers, matmuls and the attention matmuls). They equal its total / 2 exactly; an einsum
    counts what its bmm computes (:func:`einsum_bmm_macs`: our count but where PyTorch sums an index out first)."""
    from ..ops.linear import EinsumAttrs

    return sum(einsum_bmm_macs(layer.input_shapes, layer.attrs.terms, layer.attrs.result)
               if isinstance(layer.attrs, EinsumAttrs) else int(layer.cost.macs)
               for layer in graph.layers if get_op(layer.op).torch_counted)
