"""Precision policies: the element type of every tensor, weight and op as a runtime would run them.

- ``uniform``: every tensor, weight and op in the requested dtype (a model converted with ``.half()``, or
  fp32 throughout).
- ``amp``: PyTorch automatic mixed precision (``torch.autocast``, what timm's "amp" benchmark tables use)
  with the requested dtype (fp16 or bf16) as the half type. Rules, from PyTorch's "Autocast Op Reference"
  (docs.pytorch.org/docs/stable/amp.html#autocast-op-reference):

  * convs, linear, matmul/bmm and scaled-dot-product attention ("ops that can autocast to float16") cast
    every floating input that is not already half precision to the half type and produce a half-precision
    output. Each such cast is a kernel of its own in eager PyTorch (``aten::_to_copy``): it reads the fp32
    tensor and writes a half copy. Weights are fp32 parameters: autocast casts each once per forward (its
    cast cache lives for one ``autocast`` region).
  * layer_norm, group_norm, softmax ("ops that can autocast to float32") run in fp32 and write fp32.
    rms_norm is treated alike (it normalises by a mean of squares like layer_norm).
  * batch_norm keeps its input's type (cuDNN's kernel takes half input with fp32 statistics).
  * every other op follows PyTorch's type promotion: the output has the widest floating type among its
    inputs, and an fp32 parameter or table it reads (layer scale, position embedding, class token, a
    relative-position bias table) promotes it to fp32. Graph inputs are fp32 (timm feeds fp32 images).

The policy is a pure function of the graph: :func:`plan` returns bytes per element of every tensor, the
bytes at which each op reads its weights, the dtype each op computes in, and the cast kernels autocast adds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..graph import Graph, Layer, TensorRef
from ..ops.base import Attrs, get_op, numel
from ..vocab import BYTES_PER_ELEMENT, Dtype, OpClass, Precision

FP32 = Dtype.FP32
HALF_TYPES = frozenset({Dtype.FP16, Dtype.BF16})


DEFAULT_PRECISION = Precision.UNIFORM
PRECISIONS: tuple[str, ...] = Precision.values()

# Op classes whose ops autocast runs in the half type (convolutions of every kind, linear, matmul, attention).
HALF_CLASSES = frozenset({OpClass.GEMM, OpClass.DEPTHWISE, OpClass.ATTENTION})
# Registered op names autocast runs in fp32 (PyTorch's autocast fp32 list; rms_norm treated like layer_norm).
FP32_OPS = frozenset({"layer_norm", "group_norm", "rms_norm", "softmax"})
# Ops that keep their input's type even though they own fp32 parameters.
KEEP_INPUT_TYPE_OPS = frozenset({"batch_norm"})

Tensor = tuple[str, int]  # (producing layer path or "input:NAME", output index)


@dataclass(frozen=True)
class Cast:
    """A cast kernel autocast issues before ``consumer``: ``elements`` read at ``src`` and written at ``dst``
    bytes per element; ``weight`` when it casts a parameter (else an activation, ``tensor``)."""

    consumer: str
    elements: int
    src_bytes: int
    dst_bytes: int
    weight: bool
    tensor: Tensor | None = None

    @property
    def dram_bytes(self) -> int:
        """Bytes the cast moves: the read at the source type plus the write at the destination type."""
        return self.elements * (self.src_bytes + self.dst_bytes)


@dataclass(frozen=True)
class PrecisionPlan:
    """Bytes per element of every tensor (by its producer, views resolved by the caller), of each op's
    weights as the op reads them, the dtype each op computes in, and the casts before each op."""

    precision: Precision
    dtype: str
    tensor_bytes: dict[Tensor, int]
    weight_bytes: dict[str, int]
    compute_dtype: dict[str, str]
    casts: dict[str, list[Cast]] = field(default_factory=dict)

    @property
    def half_bytes(self) -> int:
        """Bytes per element of ``dtype`` (what a cast before a half-precision op writes)."""
        return BYTES_PER_ELEMENT[Dtype(self.dtype)]

    def bytes_of(self, tensor: Tensor) -> int:
        """Bytes per element of a (non-view) tensor or graph input."""
        return self.tensor_bytes[tensor]

    def cast_inputs(self, path: str) -> dict[Tensor, int]:
        """Activation tensors read by ``path`` through a cast, with the bytes per element of the copy it reads."""
        return {c.tensor: c.dst_bytes for c in self.casts.get(path, []) if c.tensor is not None}


def check_precision(precision: str | Precision, dtype: str) -> Precision:
    """The :class:`Precision` for ``precision``; AMP needs a half type (fp16 or bf16). ``ValueError`` else."""
    try:
        value = Precision(precision)
    except ValueError:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}") from None
    if value is Precision.AMP and dtype not in HALF_TYPES:
        raise ValueError(f"precision amp needs --dtype fp16 or bf16 (the type autocast casts to), not {dtype}")
    return value


def input_bytes(dtype: str, precision: str | Precision = DEFAULT_PRECISION) -> int:
    """Bytes per element of a graph input under ``precision``: ``dtype``'s (uniform), fp32 under amp (timm feeds
    fp32 images)."""
    policy = check_precision(precision, dtype)
    return BYTES_PER_ELEMENT[FP32 if policy is Precision.AMP else Dtype(dtype)]


def _root(layers: dict[str, Layer[Attrs]], ref: TensorRef) -> Tensor:
    layer = layers.get(ref.node)
    while layer is not None and layer.cost.is_view:
        ref = layer.inputs[0]
        layer = layers.get(ref.node)
    return ref.node, ref.index


def _input_casts(graph: Graph, layer: Layer[Attrs], roots: list[Tensor], in_bytes: list[int], to: int) -> list[Cast]:
    """One cast per distinct input tensor of ``layer`` not already at ``to`` bytes per element."""
    needed: list[Cast] = []
    for root, ref, nbytes in zip(roots, layer.inputs, in_bytes, strict=True):
        if nbytes != to and all(c.tensor != root for c in needed):
            needed.append(Cast(layer.path, numel(graph.shape(ref)), nbytes, to, False, root))
    return needed


def plan(graph: Graph, dtype: str, precision: str | Precision = DEFAULT_PRECISION,
         inputs: Mapping[str, int] | None = None) -> PrecisionPlan:
    """The element types ``precision`` gives ``graph``'s tensors and ops, with ``dtype`` the (half) type.

    ``inputs``: bytes per element of graph inputs that stand for tensors of a bigger graph (``graph`` is a run of
    its layers; see :class:`~costmodel.latency.Boundary`); the others are fed at :func:`input_bytes`.

    A layer with its own ``dtype:`` (the spec's per-node dtype, explicit mixed precision) computes in it, reads its
    weights in it and writes its outputs in it, whatever the policy; an input in another type is cast to it first
    (one cast kernel per tensor, priced like autocast's). Its parameters are stored in its type under ``uniform``
    (a model converted with ``.half()`` and that layer kept apart); under ``amp`` they are fp32 parameters, cast
    once per forward when the layer's type is narrower. Under ``uniform``, a layer without its own dtype runs in
    ``dtype`` and casts an input that an explicit layer wrote in another type."""
    policy = check_precision(precision, dtype)
    dtype = Dtype(dtype)
    size = BYTES_PER_ELEMENT
    layers = {layer.path: layer for layer in graph.layers}
    given = inputs or {}
    fed = input_bytes(dtype, policy)
    if policy is Precision.UNIFORM and all(layer.dtype is None for layer in graph.layers):
        tensors = {(f"input:{name}", 0): given.get(name, fed) for name in graph.inputs}
        for layer in graph.layers:
            for index in range(len(layer.cost.outputs)):
                tensors[layer.path, index] = size[dtype]
        return PrecisionPlan(policy, dtype, tensors, {layer.path: size[dtype] for layer in graph.layers},
                             {layer.path: dtype for layer in graph.layers})

    amp = policy is Precision.AMP
    half, wide = size[dtype], size[FP32]
    tensors = {(f"input:{name}", 0): given.get(name, fed) for name in graph.inputs}
    weights: dict[str, int] = {}
    compute: dict[str, str] = {}
    casts: dict[str, list[Cast]] = {}
    for layer in graph.layers:
        roots = [_root(layers, ref) for ref in layer.inputs]
        in_bytes = [tensors[r] for r in roots]
        name, op_class = get_op(layer.op).name, layer.cost.op_class
        needed: list[Cast] = []
        if layer.cost.is_view:
            out, op_dtype, weight = (in_bytes[0] if in_bytes else half), dtype, half
        elif layer.dtype is not None or not amp:  # its own dtype, or the uniform policy's
            op_dtype = layer.dtype or dtype
            out = weight = size[op_dtype]
            needed = _input_casts(graph, layer, roots, in_bytes, out)
            if amp and layer.cost.params and out != wide:  # autocast-style: fp32 parameters cast per forward
                needed.append(Cast(layer.path, layer.cost.params, wide, out, True))
        elif op_class in HALF_CLASSES:
            out, op_dtype, weight = half, dtype, half
            needed = _input_casts(graph, layer, roots, in_bytes, half)
            if layer.cost.params:
                needed.append(Cast(layer.path, layer.cost.params, wide, half, True))
        elif name in FP32_OPS:
            out, op_dtype, weight = wide, FP32, wide
        else:
            reads_fp32_table = (layer.cost.params or layer.cost.extra_read_elems) and name not in KEEP_INPUT_TYPE_OPS
            out = max([*in_bytes, wide if reads_fp32_table else 0]) or half
            op_dtype, weight = (FP32 if out == wide else dtype), wide
        if needed:
            casts[layer.path] = needed
        for index in range(len(layer.cost.outputs)):
            tensors[layer.path, index] = out
        weights[layer.path], compute[layer.path] = weight, op_dtype
    return PrecisionPlan(policy, dtype, tensors, weights, compute, casts)


__all__ = ["DEFAULT_PRECISION", "PRECISIONS", "Cast", "Precision", "PrecisionPlan", "check_precision", "input_bytes",
           "plan"]
