"""Winograd convolution on a GPU's CUDA cores: the algorithm cuDNN runs for an FP32 3 x 3, stride-1 dense convolution.

A convolution's FLOPs (conventions.md) are those of the direct convolution, and the latency model prices most
convolutions by them. An FP32 convolution on a GPU has no tensor-core path (TF32 is a dtype of its own): it runs on
the CUDA cores, and there, for a 3 x 3 filter at stride 1, cuDNN has Winograd algorithms
(``CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD``, "requires 3x3 filter", and ``..._WINOGRAD_NONFUSED``) that compute the same
output with fewer multiplications: F(2x2, 3x3) takes 16 multiplies per 2 x 2 output tile where the direct convolution
takes 36, 2.25x fewer; F(4x4, 3x3) 4x fewer, its transforms paid in DRAM passes (Lavin & Gray, "Fast Algorithms for
Convolutional Neural Networks", CVPR 2016). Which algorithm runs is chosen by timing when the framework asks cuDNN to
search (``torch.backends.cudnn.benchmark = True``, set by NVIDIA's DeepLearningExamples ``main.py`` and by timm's
``benchmark.py``), and the search picks Winograd on such convs in FP32: ``cudnn::winograd::winograd3x3Kernel<float,
float, ...>`` holds 26 % of the GPU time of an MXNet FP32 CNN training run on a Volta GPU under cuDNN's autotuner,
next to ``volta_scudnn_*`` GEMM kernels (nvprof, apache/mxnet#9774), and in a measured ResNet 3 x 3 layer cuDNN's
Winograd + BN + ReLU takes 95 us against its implicit GEMM's 214 us at 128 channels and 155 against 384 us at 256
(2.25x and 2.48x; xuqiantong/CUDA-Winograd, README).

Priced here as the smaller tile's arithmetic: the conv's rate multiplied by :data:`WINOGRAD_SPEEDUP` = 36 / 16 (its
FLOPs stay the direct count), only for a dense (``groups`` 1), 2-D, 3 x 3, stride-1, undilated convolution computing
in fp32 on the vector unit of a GPU profile. Left at the direct price: TF32 and 16-bit convolutions (tensor-core
implicit GEMM), grouped and depthwise convolutions (no Winograd algorithm for them), strided and dilated ones, other
filter sizes (cuDNN's fused Winograd is 3 x 3 only), transposed convolutions, CPUs (oneDNN's default algorithm is
direct). An estimate, labelled as one: the kernel's transforms and its own efficiency are not priced apart (the
measured 2.25-2.48x above says they roughly cancel against the larger tiles cuDNN may use), and without
``cudnn.benchmark`` cuDNN's heuristics may choose otherwise. docs/latency-model.md, "Winograd", has the validation.
"""

from __future__ import annotations

from ..graph import Layer
from ..hardware import HardwareProfile
from ..ops.base import Attrs, pair
from ..ops.conv import ConvAttrs
from ..vocab import Dtype

WINOGRAD_SPEEDUP = 36 / 16  # F(2x2, 3x3): multiplies of the direct 3 x 3 conv per 2 x 2 outputs / Winograd's


def runs_winograd(layer: Layer[Attrs], profile: HardwareProfile, unit: str, dtype: str) -> bool:
    """Whether cuDNN runs ``layer`` as a Winograd convolution on ``profile`` (see the module doc): a dense 2-D 3 x 3
    stride-1 undilated convolution computing in fp32 on a GPU's vector unit (its CUDA cores)."""
    attrs = layer.attrs
    if (profile.gpu is None or profile.cpu is not None or unit != "vector" or dtype != Dtype.FP32
            or type(attrs) is not ConvAttrs or attrs.groups != 1):
        return False
    outputs = layer.cost.outputs
    if len(outputs) != 1 or len(outputs[0]) != 4:
        return False
    return (pair(attrs.kernel, 2, "kernel") == (3, 3) and pair(attrs.stride, 2, "stride") == (1, 1)
            and pair(attrs.dilation, 2, "dilation") == (1, 1))


def winograd_speedup(layer: Layer[Attrs], profile: HardwareProfile, unit: str, dtype: str) -> float:
    """The factor ``layer``'s compute rate is multiplied by: :data:`WINOGRAD_SPEEDUP` where :func:`runs_winograd`,
    else 1."""
    return WINOGRAD_SPEEDUP if runs_winograd(layer, profile, unit, dtype) else 1.0


__all__ = ["WINOGRAD_SPEEDUP", "runs_winograd", "winograd_speedup"]
