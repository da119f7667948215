"""The closed vocabularies, each defined once: element types, op classes, efficiency keys, compute units,
fusion modes and output formats.

Every one is a ``(str, Enum)``: a member compares and hashes equal to its value (``Dtype.FP16 == "fp16"``),
prints as its value, and is what signatures, pydantic models, typer options and JSON use. This module imports
nothing from the package, so any layer (the CLI's option declarations included) can use it cheaply.
"""

from __future__ import annotations

from enum import Enum


class Choice(str, Enum):
    """Base of the vocabularies: ``str()`` and ``format()`` give the value (``f"{Dtype.FP16}" == "fp16"``)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """The members' values, in definition order."""
        return tuple(str(member.value) for member in cls)


class Dtype(Choice):
    """Element types of tensors (and of a profile's peak rates)."""

    FP32 = "fp32"
    TF32 = "tf32"
    FP16 = "fp16"
    BF16 = "bf16"
    FP8 = "fp8"
    INT8 = "int8"

    @property
    def bytes(self) -> int:
        """Bytes per element."""
        return BYTES_PER_ELEMENT[self]


BYTES_PER_ELEMENT: dict[Dtype, int] = {
    Dtype.FP32: 4, Dtype.TF32: 4, Dtype.FP16: 2, Dtype.BF16: 2, Dtype.FP8: 1, Dtype.INT8: 1,
}


class Unit(Choice):
    """Compute units of a device: SIMD lanes / CUDA cores, and tensor / matrix units."""

    VECTOR = "vector"
    MATRIX = "matrix"


class OpClass(Choice):
    """Which hardware unit an op runs on and how the latency model treats it (the ``op_class`` of a cost)."""

    GEMM = "gemm"  # dense/grouped conv, linear, matmul: tensor/matrix units where the dtype allows
    DEPTHWISE = "depthwise"  # depthwise (and other degenerate, tiny-group) convs: vector units
    ATTENTION = "attention"  # fused attention (its matmuls run on tensor units)
    NORM = "norm"  # batch/layer/group/RMS norm
    ELEMENTWISE = "elementwise"  # activations, add, mul, scale
    REDUCTION = "reduction"  # pooling, softmax, mean
    DATA_MOVEMENT = "data_movement"  # concat, permute copies, pad, upsample (nearest)
    VIEW = "view"  # reshape, flatten, slice, identity, dropout: no kernel, no traffic

    @property
    def unit(self) -> Unit:
        """The unit this class prefers: matrix for GEMM-like classes (gemm, attention), else vector."""
        return Unit.MATRIX if self in (OpClass.GEMM, OpClass.ATTENTION) else Unit.VECTOR


class EfficiencyClass(Choice):
    """Keys of a profile's ``efficiency.per_op``: the op classes that launch kernels, plus ``conv``, a refinement of
    ``gemm`` for dense and grouped convolutions (ops registered with ``conv=True``) that falls back to ``gemm``."""

    GEMM = "gemm"
    CONV = "conv"
    DEPTHWISE = "depthwise"
    ATTENTION = "attention"
    NORM = "norm"
    ELEMENTWISE = "elementwise"
    REDUCTION = "reduction"
    DATA_MOVEMENT = "data_movement"

    @property
    def parent(self) -> EfficiencyClass | None:
        """The key whose factors apply when this one has none (``conv`` -> ``gemm``)."""
        return EfficiencyClass.GEMM if self is EfficiencyClass.CONV else None


class Fusion(Choice):
    """Kernel fusion modes of the latency model (see costmodel/latency/fusion.py)."""

    NONE = "none"  # eager execution: every op its own kernel
    EPILOGUE = "epilogue"  # norms and elementwise ops fold into the kernel before them (an inference engine)
    COMPILE = "compile"  # torch.compile (Inductor): library GEMM/conv kernels, every other run of ops fused
    BLOCK = "block"  # and consecutive epilogue kernels of one block instance merge


class Precision(Choice):
    """Precision policies of the latency model (see costmodel/latency/precision.py)."""

    UNIFORM = "uniform"  # every tensor, weight and op in the requested dtype
    AMP = "amp"  # torch.autocast with the requested dtype (fp16/bf16) as the half type


class Carry(Choice):
    """What ``costmodel calibrate --apply-to`` carries from the fitted device onto another profile
    (docs/calibration.md, "Transfer")."""

    LEVEL = "level"  # each roof's fitted level (how far the device ran from its profile), on the target's own factors;
    # on a GPU, with the depthwise convs' factor at the target's CUDA-core rate (the library's kernels: fit.carried)
    SHAPE = "shape"  # on a GPU, that depthwise factor alone; per class, how the fitted factors stand against each
    # other on each roof; each roof's level: the target's
    ALL = "all"  # every fitted value as fitted: level and shape


class Pass(Choice):
    """Which of a model's timed passes a measurement file's latency is (``calibrate`` / ``validate --pass``): the
    median (``infer_samples_per_sec``, every table) or the fastest (``infer_step_time_min``, ``costmodel bench``'s
    files; docs/calibration.md, "On a noisy or shared machine")."""

    MEDIAN = "median"
    FASTEST = "fastest"


DEFAULT_CARRY = Carry.LEVEL  # docs/calibration.md, "Transfer": what the RTX 3090 and 4090 fits agree on
DEFAULT_FUSION = Fusion.NONE  # eager PyTorch: every op is its own kernel (see docs/latency-model.md)
DEFAULT_PRECISION = Precision.UNIFORM
# (here, not in costmodel.latency, so that the CLI's option defaults do not import the latency model)


class Format(Choice):
    """Output formats of ``analyze`` and ``compare``."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    MARKDOWN = "markdown"


class SortKey(Choice):
    """What ``analyze --sort`` orders the layer rows by, largest first."""

    LATENCY = "latency"  # on the first --hw
    MACS = "macs"
    PARAMS = "params"
    MEMORY = "memory"  # bytes read + written


class Convention(Choice):
    """How DeepMAD is scored and budgeted (docs/designer.md, "Two conventions").

    ``paper``: the paper's formula (log w per layer, true resolutions, penalty over the block stages after the
    first) with costmodel's counts (MACs and params, classifier included). ``official``: TinyNAS's code (½ log
    w per layer, its stage and feature-map rules, its penalty list, `flops` with BN/ReLU/pooling and
    `model_size`, both without the classifier).
    """

    PAPER = "paper"
    OFFICIAL = "official"


class DeviceKind(Choice):
    """What a hardware profile describes."""

    GPU = "gpu"
    CPU = "cpu"
    NPU = "npu"
    TPU = "tpu"


class Malloc(Choice):
    """How ``costmodel bench`` leaves the C library's heap between passes on a CPU (docs/calibration.md, "The
    heap between passes"): ``steady`` holds it as a long-running server's settles (glibc: never give the top of the
    heap back, map afresh only buffers of 32 MiB and more), what the latency model assumes; ``system`` leaves the
    allocator as the process finds it (a fresh process refaults the pages of its activations on every pass)."""

    STEADY = "steady"
    SYSTEM = "system"


STEADY_HEAP = "malloc-steady"  # the word bench's runtime column holds for a CPU run with the heap held steady


class BenchDevice(Choice):
    """Where ``costmodel bench`` runs a model (PyTorch device types)."""

    CPU = "cpu"
    CUDA = "cuda"


__all__ = ["BYTES_PER_ELEMENT", "BenchDevice", "Choice", "DeviceKind", "Dtype", "EfficiencyClass", "Format", "Fusion",
           "Malloc", "OpClass", "Precision", "STEADY_HEAP", "Unit"]
