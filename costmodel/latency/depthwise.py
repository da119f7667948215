"""A depthwise convolution on an NVIDIA GPU run by PyTorch's own kernel: bound by the SMs' instruction issue rate.

PyTorch runs a 2-D depthwise convolution on a CUDA device with its own kernel, ``conv_depthwise2d_forward_kernel``
(aten/src/ATen/native/cuda/DepthwiseConv2d.cu), unless ``ConvParams::use_cudnn_depthwise``
(aten/src/ATen/native/Convolution.cpp) sends it to cuDNN: always for a channels-last input, and for an NCHW input only
in fp16, undilated, square stride (or height 1), >= 32 channels, where
``check_cudnn_depthwise_workload_with_filter`` (the cuDNN >= 8.2 rule) accepts the shape
(:func:`runs_native_depthwise`). So fp32 (and TF32, which a depthwise conv does not use) and bf16 NCHW depthwise
convs always run PyTorch's kernel, and so do fp16 ones of other shapes.

That kernel gives one thread to each output element. The thread splits its linear index into n, c, h, w with three
integer divisions by runtime divisors (about 20 SASS instructions each), then for each of the k x k taps computes the
input row and column, tests them against the borders (predicated, no branch), loads the weight and the input from
global memory and issues one FFMA. Its specialisations for 3 x 3 and 5 x 5 filters are fully unrolled; compiled for
sm_75, sm_80, sm_86 and sm_89 (a copy of the kernel's source, nvcc 13.0 -O3, cuobjdump -sass, counted along the
depthwise-multiplier-1 path, every instruction issued whether its predicate is true or not) the loop body of one
output element is :data:`NATIVE_INSTRUCTIONS` SASS instructions, the fewest over those targets (sm_90: 173 / 323 fp32,
194 / 377 16-bit): 9 (25) of them FFMAs, 19 (51) global loads, the rest integer index and border arithmetic.

Every NVIDIA SM since Volta has four partitions, each with one warp scheduler that issues one instruction for a warp
of 32 threads per clock (Volta / Turing / Ampere / Ada / Hopper architecture whitepapers: "Warp Scheduler (32
thread/clk)", "Dispatch Unit (32 thread/clk)"): at most :data:`ISSUE_PER_SM_CLOCK` = 128 thread-instructions per SM per
clock. The arithmetic pipes' own limits stay below that for this instruction mix (per output, 3 x 3 fp32: about 60
IMADs and 70 other integer, compare and logic instructions, each kind at 64 results per SM per clock, CUDA C++
Programming Guide, "Arithmetic Instructions", compute capabilities 7.x-9.0: about 1 SM-clock each, against 168 / 128 =
1.3 for the issue), so the issue rate is priced: an output element takes at least instructions / 128 SM-clocks. The
load/store units' rate is not priced (the weight loads are warp-wide broadcasts of one address, and what the units
sustain for them is not established here; a load-bound price was tried in session 27 and overpriced the RTX 3090's
ConvNeXt, docs/latency-model.md).
The SM clock is the FP32 peak over (2 x ``gpu.fp32_lanes_per_sm`` x ``gpu.sms``), the whitepapers' FP32 lanes per SM
(64 on GV100, TU10x and GA100; 128 on GA10x, AD10x, GH100 and GB20x), so the bound reads

    seconds >= outputs x instructions x fp32_lanes_per_sm / (64 x peak.vector.fp32)

It is priced as a floor on the conv's compute time (the FP32 FLOPs' time where that is longer), then like any
vector op's compute: times the profile's compute efficiency, against its memory time. Only where the profile gives
``gpu.fp32_lanes_per_sm`` (the NVIDIA profiles), in eager PyTorch (fusion ``none``; under ``compile`` Inductor's layout
optimisation, on by default, runs a graph of depthwise-separable convs channels-last where its heuristics
(``GraphLowering.decide_layout_opt``) say so, which sends them to cuDNN: not priced there), for 3 x 3 and 5 x 5 filters
(the specialisations counted; the generic kernel, 7 x 7 and others, is left at the FLOP price: its loops were not
counted). A lower bound on the time: it assumes the schedulers issue every clock (no stall on the loads' latency).
Nothing in it is fitted to a measurement of a network.
"""

from __future__ import annotations

import math

from ..graph import Layer
from ..hardware import HardwareProfile
from ..ops.base import Attrs, pair
from ..ops.conv import ConvAttrs
from ..vocab import Dtype, Fusion
from .precision import HALF_TYPES

ISSUE_PER_SM_CLOCK = 128  # thread-instructions: four warp schedulers x one warp (32 threads) per clock
# SASS instructions per output element of conv_depthwise2d_forward_kernel<k> by (k, bytes per element): the fewest
# over sm_75 / sm_80 / sm_86 / sm_89 (module doc; 16-bit: fp16 and bf16 alike, one conversion per load either way)
NATIVE_INSTRUCTIONS: dict[tuple[int, int], int] = {(3, 4): 168, (5, 4): 302, (3, 2): 188, (5, 2): 354}


def cudnn_takes_fp16(channels: int, height: int, width: int, batch: int, kernel: tuple[int, ...], stride: int) -> bool:
    """``check_cudnn_depthwise_workload_with_filter`` (Convolution.cpp, the cuDNN >= 8.2 rule) for a 2-D conv whose
    input is ``batch`` x ``channels`` x ``height`` x ``width``: height 1 at stride 1, square 1 / 3 / 5 filters on
    inputs at least 7 wide at stride 1, stride-2 shapes by a table."""
    if height == 1 and stride == 1:
        return True
    if kernel[0] != kernel[1] or kernel[1] not in (1, 3, 5) or width < 7:
        return False
    k = kernel[1]
    if stride == 1:
        return True
    if stride != 2:
        return False
    if batch == 1:
        return (k == 1 and width <= 28) or k in (3, 5)
    if k == 1 and batch <= 16 and channels >= 128 and width <= 7:
        return True
    return k in (3, 5) and (channels >= 512 or (channels >= 256 and width >= 28))


def runs_native_depthwise(layer: Layer[Attrs], input_shape: tuple[int, ...] | None, dtype: str,
                          channels_last: bool = False) -> bool:
    """Whether PyTorch runs ``layer`` (computing in ``dtype`` on ``input_shape``) with its own
    ``conv_depthwise2d`` kernel rather than cuDNN (``ConvParams::use_cudnn_depthwise``; module doc): a 2-D conv
    with one input channel per group and whole output channels per group, NCHW, and for fp16 a shape cuDNN does not
    take. ``channels_last``: the input is channels-last, which PyTorch always sends to cuDNN."""
    attrs = layer.attrs
    if type(attrs) is not ConvAttrs or input_shape is None or len(input_shape) != 4 or channels_last:
        return False
    batch, channels, height, width = input_shape
    if attrs.groups != channels or channels < 2 or attrs.out % channels:
        return False
    if Dtype(dtype) != Dtype.FP16:
        return True
    stride = pair(attrs.stride, 2, "stride")
    dilated = pair(attrs.dilation, 2, "dilation") != (1, 1)
    kernel = pair(attrs.kernel, 2, "kernel")
    if dilated or not (stride[0] == stride[1] or height == 1) or channels < 32:
        return True  # use_cudnn_depthwise's kernel_cond fails: PyTorch's own kernel
    return not cudnn_takes_fp16(channels, height, width, batch, kernel, stride[1])


def native_instructions(layer: Layer[Attrs], dtype: str) -> int | None:
    """SASS instructions per output element of PyTorch's specialised kernel for ``layer``'s filter in ``dtype``
    (:data:`NATIVE_INSTRUCTIONS`); None for a filter it runs with its generic kernel."""
    attrs = layer.attrs
    if not isinstance(attrs, ConvAttrs):
        return None
    kernel = pair(attrs.kernel, 2, "kernel")
    size = 2 if Dtype(dtype) in HALF_TYPES else 4
    return NATIVE_INSTRUCTIONS.get((kernel[0], size)) if kernel[0] == kernel[1] else None


def issue_rate_factor(layer: Layer[Attrs], input_shape: tuple[int, ...] | None, profile: HardwareProfile,
                      unit_flops: float, dtype: str, fusion: str) -> float:
    """The factor (<= 1) a depthwise conv's compute rate ``unit_flops`` (FLOP/s, the unit's peak) is multiplied by so
    that its FLOPs take at least the issue-rate time of PyTorch's kernel (module doc); 1 where that kernel does not
    run, its instructions are not counted, or the profile gives no ``gpu.fp32_lanes_per_sm``."""
    gpu = profile.gpu
    fp32 = profile.peak.vector.get(Dtype.FP32)
    if (gpu is None or gpu.fp32_lanes_per_sm is None or fp32 is None or profile.cpu is not None
            or Fusion(fusion) != Fusion.NONE or not runs_native_depthwise(layer, input_shape, dtype)):
        return 1.0
    instructions = native_instructions(layer, dtype)
    outputs = math.prod(layer.cost.outputs[0]) if layer.cost.outputs else 0
    if instructions is None or outputs == 0 or layer.cost.flops == 0:
        return 1.0
    clock_sm_hz = fp32 * 1e12 / (2 * gpu.fp32_lanes_per_sm)  # SM clock x SMs: the FP32 peak over 2 FLOPs per lane
    issue_s = outputs * instructions / (ISSUE_PER_SM_CLOCK * clock_sm_hz)
    return min(1.0, layer.cost.flops / unit_flops / issue_s)


__all__ = ["ISSUE_PER_SM_CLOCK", "NATIVE_INSTRUCTIONS", "cudnn_takes_fp16", "issue_rate_factor",
           "native_instructions", "runs_native_depthwise"]
