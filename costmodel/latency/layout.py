"""Tensor layout of convolutions on a GPU's tensor cores: the NCHW <-> NHWC transposes eager PyTorch pays.

Tensor-core convolution kernels (cuDNN's implicit-GEMM kernels) work on channels-last (NHWC) data. Eager PyTorch
keeps activations NCHW (its default memory format, and what timm's "nchw" benchmark tables run), so for a 16-bit
convolution with spatial taps cuDNN transposes the input to NHWC before the convolution and the output back to NCHW
after it, in kernels of their own (cuDNN Developer Guide, Legacy API, "Data and Filter Formats": "the cuDNN library
may use padding, folding, and NCHW-to-NHWC transformations to call the Tensor Core operations"; NVIDIA's
channels-last diagram, reproduced in MosaicML Composer's "Channels Last" method card: the NCHW tensor "must be
transposed to NHWC before the convolution and transposed back to NCHW after"; in profiles ``nchwToNhwcKernel`` /
``genericTranspose_kernel``, pytorch/pytorch#54324, apache/mxnet#17665). Each transpose reads and writes its whole
tensor once: 2 x (input + output) bytes, memory-bound and serial to the convolution that needs or produces it.

A 1 x 1 convolution pays none: in NCHW it is a batched GEMM over the contiguous pixel dimension (out[n] = W x[n],
x[n] a C x HW matrix), which tensor cores run without a layout change. Runtimes that keep activations channels-last
pay none either: torch.compile's Inductor converts the graph's convolutions to channels-last by default
(``torch._inductor.config.layout_optimization``), and inference engines (TensorRT, ONNX Runtime's CUDA provider)
choose NHWC themselves. So the term applies under fusion ``none`` only, to dense and grouped 2-D convolutions
(efficiency class ``conv``) with more than one tap that run on a GPU's matrix unit in a 16-bit type. Depthwise convs
run on CUDA cores (PyTorch's own NCHW kernels, or cuDNN's) and pay nothing here; fp32/TF32 convs are left alone
(channels-last helps "only for fp16 inputs", pytorch/pytorch#44943). No constant: the bytes are the tensors'; they
stream at the data-movement memory efficiency. docs/latency-model.md, "Convolution layout", has the validation.

The bias of a convolution cuDNN runs is a kernel of its own in eager PyTorch: ``at::_convolution``
(aten/src/ATen/native/Convolution.cpp, ``case ConvBackend::Cudnn``) calls ``at::cudnn_convolution`` without the
bias and then ``output.add_(reshape_bias(input.dim(), bias))``, an in-place broadcast add that reads and writes the
whole output (:func:`bias_add_elements`). Dense and grouped 2-D convolutions on a GPU take that path (in any dtype);
depthwise convs are left out (PyTorch's own depthwise kernel adds the bias itself, and which depthwise shapes it
sends to cuDNN is a per-shape table, ``check_cudnn_depthwise_workload``); torch.compile and engines fuse the bias.
"""

from __future__ import annotations

import math

from ..graph import Graph, Layer
from ..hardware import HardwareProfile
from ..ops.base import Attrs, numel
from ..vocab import BYTES_PER_ELEMENT, Dtype, EfficiencyClass, Fusion
from .precision import HALF_TYPES

LAYOUT_KEY = EfficiencyClass.DATA_MOVEMENT  # a transpose is a copy: priced with the data-movement efficiencies


def transpose_bytes(graph: Graph, layer: Layer[Attrs], profile: HardwareProfile, fusion: str, key: str, unit: str,
                    dtype: str) -> int:
    """DRAM bytes of the NCHW <-> NHWC transposes around ``layer`` (0 where none run, see the module doc): its input
    read and written once in NHWC, its output read once and written back in NCHW, at ``dtype``'s width."""
    if (fusion != Fusion.NONE or profile.gpu is None or profile.cpu is not None or key != EfficiencyClass.CONV
            or unit != "matrix" or dtype not in HALF_TYPES or not layer.inputs):
        return 0
    outputs = layer.cost.outputs
    kernel = getattr(layer.attrs, "kernel", None)
    taps = math.prod(kernel) if isinstance(kernel, (list, tuple)) else kernel
    if len(outputs) != 1 or len(outputs[0]) != 4 or not isinstance(taps, int) or taps <= 1:
        return 0
    elements = numel(outputs[0]) + numel(graph.shape(layer.inputs[0]))
    return 2 * elements * BYTES_PER_ELEMENT[Dtype(dtype)]


def bias_add_elements(layer: Layer[Attrs], profile: HardwareProfile, fusion: str, key: str) -> int:
    """Output elements of the separate ``output.add_(bias)`` kernel eager PyTorch runs after a cuDNN convolution
    with a bias (0 where none runs, see the module doc): dense and grouped 2-D convs on a GPU, fusion ``none``."""
    if (fusion != Fusion.NONE or profile.gpu is None or profile.cpu is not None or key != EfficiencyClass.CONV
            or not getattr(layer.attrs, "bias", False)):
        return 0
    outputs = layer.cost.outputs
    if len(outputs) != 1 or len(outputs[0]) != 4:
        return 0
    return numel(outputs[0])


__all__ = ["LAYOUT_KEY", "bias_add_elements", "transpose_bytes"]
