"""Per-op formula tests for activations, elementwise, linear, norm and pooling ops.

Every expected value is derived by hand in the test (fvcore's habit), never copied from the code's output.
MACs follow fvcore's FlopCountAnalysis; FLOPs follow the per-element counts in the op docstrings.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from costmodel.ops import OpClass, OpCost, OpError, get_op


def run(name: str, *shapes: tuple[int, ...], **attrs: object) -> OpCost:
    op = get_op(name)
    return op.fn(list(shapes), op.attrs(**attrs))


# ---- activations ------------------------------------------------------------------------------------

X = (2, 64, 56, 56)
N_X = 2 * 64 * 56 * 56


@pytest.mark.parametrize(
    ("name", "per_elem"),
    [
        ("relu", 1),  # max
        ("relu6", 2),  # max, min
        ("leaky_relu", 2),  # mul, select
        ("elu", 4),  # exp, sub, mul, select
        ("gelu", 5),  # div-by-sqrt2 (mul), erf, add 1, mul 0.5, mul x
        ("silu", 5),  # sigmoid (4) + mul
        ("swish", 5),  # alias of silu
        ("hardswish", 5),  # hardsigmoid (4) + mul
        ("hardsigmoid", 4),  # mul 1/6, add 0.5, max 0, min 1
        ("sigmoid", 4),  # neg, exp, add 1, div
        ("tanh", 1),  # one transcendental
    ],
)
def test_activation_counts(name: str, per_elem: int) -> None:
    cost = run(name, X)
    assert cost.outputs == (X,)
    assert cost.flops == per_elem * N_X
    assert (cost.macs, cost.params, cost.gemm_outputs) == (0, 0, 0)  # fvcore ignores activations
    assert cost.op_class is OpClass.ELEMENTWISE


def test_activation_aliases_and_attrs() -> None:
    assert get_op("swish") is get_op("silu")
    assert run("gelu", X, approximate="tanh").flops == 5 * N_X  # tanh form costed like erf form
    assert run("leaky_relu", X, negative_slope=0.2).flops == 2 * N_X
    assert get_op("relu").doc  # the docstring becomes the help text
    with pytest.raises(ValidationError):
        get_op("gelu").attrs(approximate="fast")
    with pytest.raises(ValidationError):
        get_op("relu").attrs(inplace=True)  # unknown attribute


def test_softmax() -> None:
    scores = (2, 6, 197, 197)  # ViT-S attention scores: batch, heads, tokens, tokens
    cost = run("softmax", scores)
    assert cost.outputs == (scores,)
    assert cost.flops == 5 * 2 * 6 * 197 * 197  # max, sub, exp, sum, div per element
    assert cost.macs == 0
    assert cost.op_class is OpClass.REDUCTION
    assert run("softmax", scores, dim=1).flops == 5 * 2 * 6 * 197 * 197
    with pytest.raises(OpError) as err:
        run("softmax", scores, dim=4)
    assert err.value.field == "dim"


# ---- elementwise ------------------------------------------------------------------------------------

TOKENS = (2, 197, 384)
N_TOKENS = 2 * 197 * 384


def test_add_equal_shapes() -> None:
    cost = run("add", TOKENS, TOKENS)
    assert cost.outputs == (TOKENS,)
    assert cost.flops == N_TOKENS  # one add per output element
    assert (cost.macs, cost.params, cost.gemm_outputs) == (0, 0, 0)
    assert cost.op_class is OpClass.ELEMENTWISE
    assert run("add", TOKENS, TOKENS, TOKENS).flops == 2 * N_TOKENS  # k inputs: k-1 adds per element


def test_add_unequal_shapes_needs_broadcast() -> None:
    with pytest.raises(OpError) as err:
        run("add", TOKENS, (1, 197, 384))
    assert "[2, 197, 384]" in err.value.message and "[1, 197, 384]" in err.value.message
    assert err.value.field == "broadcast"
    cost = run("add", TOKENS, (1, 197, 384), broadcast=True)  # e.g. a position embedding
    assert cost.outputs == (TOKENS,)
    assert cost.flops == N_TOKENS
    with pytest.raises(OpError):
        run("add", TOKENS, (2, 196, 384), broadcast=True)


def test_mul_squeeze_excite_gating() -> None:
    cost = run("mul", (8, 64, 56, 56), (8, 64, 1, 1))
    assert cost.outputs == ((8, 64, 56, 56),)
    assert cost.flops == 8 * 64 * 56 * 56  # one multiply per output element
    assert cost.macs == 0  # fvcore ignores mul
    assert run("mul", X, X, X).flops == 2 * N_X
    with pytest.raises(OpError):
        run("mul", (8, 64, 56, 56), (8, 32, 1, 1))


def test_sub_div_scale() -> None:
    assert run("sub", TOKENS, (2, 197, 1)).outputs == (TOKENS,)
    assert run("sub", TOKENS, (2, 197, 1)).flops == N_TOKENS
    assert run("div", TOKENS, (384,)).flops == N_TOKENS
    cost = run("scale", TOKENS, value=0.125)  # e.g. q * head_dim**-0.5
    assert cost.outputs == (TOKENS,)
    assert (cost.flops, cost.params, cost.macs) == (N_TOKENS, 0, 0)
    with pytest.raises(ValidationError):
        get_op("scale").attrs()  # value is required


def test_layer_scale() -> None:
    cost = run("layer_scale", TOKENS)
    assert cost.outputs == (TOKENS,)
    assert cost.params == 384  # one gamma per channel (last axis)
    assert cost.flops == N_TOKENS
    assert cost.macs == 0
    assert cost.op_class is OpClass.ELEMENTWISE
    assert run("layer_scale", (2, 96, 56, 56), channels_first=True).params == 96  # ConvNeXt gamma on axis 1


# ---- linear / matmul --------------------------------------------------------------------------------


def test_linear_vit_qkv() -> None:
    cost = run("linear", TOKENS, out=1152)  # ViT-S qkv projection: 384 -> 3 * 384
    assert cost.outputs == ((2, 197, 1152),)
    assert cost.params == 384 * 1152 + 1152  # weight + bias
    assert cost.macs == 2 * 197 * 384 * 1152  # rows * in * out
    assert cost.flops == 2 * (2 * 197 * 384 * 1152) + 2 * 197 * 1152  # 2 per MAC + 1 bias add per output
    assert cost.gemm_outputs == 2 * 197 * 1152
    assert cost.op_class is OpClass.GEMM


def test_linear_no_bias_and_head() -> None:
    cost = run("linear", TOKENS, out=1152, bias=False)
    assert cost.params == 384 * 1152
    assert cost.flops == 2 * (2 * 197 * 384 * 1152)
    head = run("linear", (8, 2048), out=1000)  # ResNet-50 fc: 2,049,000 params
    assert head.params == 2048 * 1000 + 1000
    assert head.macs == 8 * 2048 * 1000
    with pytest.raises(OpError):
        run("linear", (384,), out=10)  # no batch dim
    with pytest.raises(ValidationError):
        get_op("linear").attrs(out=0)


def test_matmul_attention_scores() -> None:
    cost = run("matmul", (2, 6, 197, 64), (2, 6, 64, 197))  # q @ k^T
    assert cost.outputs == ((2, 6, 197, 197),)
    assert cost.macs == 2 * 6 * 197 * 64 * 197  # batch * M * K * N
    assert cost.flops == 2 * (2 * 6 * 197 * 64 * 197)
    assert cost.gemm_outputs == 2 * 6 * 197 * 197
    assert cost.params == 0
    assert cost.op_class is OpClass.GEMM
    assert get_op("bmm") is get_op("matmul")


def test_matmul_broadcasting() -> None:
    cost = run("matmul", (2, 1, 5, 8), (1, 3, 8, 4))  # batch dims (2, 1) and (1, 3) broadcast to (2, 3)
    assert cost.outputs == ((2, 3, 5, 4),)
    assert cost.macs == 2 * 3 * 5 * 8 * 4
    shared = run("matmul", (2, 6, 197, 64), (64, 32))  # a shared right operand
    assert shared.outputs == ((2, 6, 197, 32),)
    assert shared.macs == 2 * 6 * 197 * 64 * 32


def test_matmul_errors() -> None:
    with pytest.raises(OpError) as err:
        run("matmul", (2, 6, 197, 64), (2, 6, 32, 197))  # K: 64 vs 32
    assert "64" in err.value.message and "32" in err.value.message
    with pytest.raises(OpError):
        run("matmul", (2, 5, 8), (3, 8, 4))  # batch 2 vs 3 does not broadcast


# ---- normalization ----------------------------------------------------------------------------------

FMAP = (8, 64, 112, 112)
N_FMAP = 8 * 64 * 112 * 112


def test_batch_norm() -> None:
    cost = run("batch_norm", FMAP)
    assert cost.outputs == (FMAP,)
    assert cost.params == 2 * 64  # gamma, beta; running stats are buffers
    assert cost.macs == 2 * N_FMAP  # fvcore: numel * 2 when affine
    assert cost.flops == 2 * N_FMAP  # folded scale + shift
    assert cost.gemm_outputs == 0
    assert cost.op_class is OpClass.NORM
    plain = run("bn", FMAP, affine=False)
    assert (plain.params, plain.macs, plain.flops) == (0, N_FMAP, 2 * N_FMAP)
    assert run("batch_norm2d", (8, 512)).params == 2 * 512  # BatchNorm1d over [N, C]
    with pytest.raises(OpError):
        run("batch_norm", (8,))


def test_layer_norm() -> None:
    cost = run("layer_norm", TOKENS)
    assert cost.outputs == (TOKENS,)
    assert cost.params == 2 * 384  # weight + bias over the last axis
    assert cost.macs == 5 * N_TOKENS  # fvcore: numel * 5 with affine
    assert cost.flops == (5 + 2) * N_TOKENS  # normalize 5 + scale 1 + shift 1
    assert cost.op_class is OpClass.NORM
    plain = run("ln", TOKENS, elementwise_affine=False)
    assert (plain.params, plain.macs, plain.flops) == (0, 4 * N_TOKENS, 5 * N_TOKENS)
    no_bias = run("layer_norm", TOKENS, bias=False)
    assert (no_bias.params, no_bias.macs, no_bias.flops) == (384, 5 * N_TOKENS, 6 * N_TOKENS)
    ln2d = run("layer_norm", (2, 96, 56, 56), channels_first=True)  # ConvNeXt LayerNorm2d
    assert ln2d.params == 2 * 96
    assert ln2d.macs == 5 * 2 * 96 * 56 * 56


def test_group_norm() -> None:
    shape = (2, 64, 28, 28)
    cost = run("group_norm", shape, groups=32)
    assert cost.outputs == (shape,)
    assert cost.params == 2 * 64
    assert cost.macs == 5 * 2 * 64 * 28 * 28
    assert cost.flops == (5 + 2) * 2 * 64 * 28 * 28
    assert run("group_norm", shape, groups=1, affine=False).macs == 4 * 2 * 64 * 28 * 28
    with pytest.raises(OpError) as err:
        run("group_norm", shape, groups=3)  # 64 % 3 != 0
    assert err.value.field == "groups"
    with pytest.raises(ValidationError):
        get_op("group_norm").attrs()  # groups is required


def test_rms_norm() -> None:
    shape = (2, 128, 4096)
    cost = run("rms_norm", shape)
    assert cost.outputs == (shape,)
    assert cost.params == 4096
    assert cost.macs == 0  # fvcore does not count it
    assert cost.flops == (3 + 1) * 2 * 128 * 4096  # square, mean, rsqrt-mul + weight
    assert run("rms_norm", shape, weight=False).flops == 3 * 2 * 128 * 4096
    assert run("rms_norm", (2, 96, 7, 7), channels_first=True).params == 96


# ---- pooling ----------------------------------------------------------------------------------------


def test_max_pool2d_resnet_stem() -> None:
    cost = run("max_pool2d", FMAP, kernel=3, stride=2, padding=1)
    # floor((112 + 2*1 - 3) / 2) + 1 = 56
    assert cost.outputs == ((8, 64, 56, 56),)
    assert cost.flops == 8 * 64 * 56 * 56 * 3 * 3  # k*k compares per output element
    assert (cost.macs, cost.params, cost.gemm_outputs) == (0, 0, 0)
    assert cost.op_class is OpClass.REDUCTION


def test_pool_ceil_mode() -> None:
    # (112 - 3) / 2 = 54.5: floor -> 55 outputs, ceil -> 56 (last window starts at 110 < 112)
    assert run("max_pool2d", (1, 1, 112, 112), kernel=3, stride=2).outputs == ((1, 1, 55, 55),)
    ceil = run("max_pool2d", (1, 1, 112, 112), kernel=3, stride=2, ceil_mode=True)
    assert ceil.outputs == ((1, 1, 56, 56),)
    # padded 5 + 2 = 7: (7 - 2) / 2 = 2.5 -> ceil gives 4, but window 4 would start at 3*2 = 6 >= 5 + 1
    # (inside the right padding), so PyTorch drops it: 3
    cost = run("avg_pool2d", (1, 1, 5, 5), kernel=2, stride=2, padding=1, ceil_mode=True)
    assert cost.outputs == ((1, 1, 3, 3),)
    # dilated span 2*(5-1)+1 = 9 overhangs the padded 5 + 2 = 7: floor((7 - 9) / 3) + 1 = 0 is an error,
    # but ceil((7 - 9) / 3) + 1 = 1 is what PyTorch returns with ceil_mode
    overhang = dict(kernel=5, stride=3, padding=1, dilation=2)
    assert run("max_pool2d", (1, 1, 5, 5), ceil_mode=True, **overhang).outputs == ((1, 1, 1, 1),)
    with pytest.raises(OpError) as err:
        run("max_pool2d", (1, 1, 5, 5), **overhang)
    assert err.value.field == "kernel"


def test_pool_defaults_dilation_1d() -> None:
    cost = run("avg_pool2d", (2, 3, 8, 8), kernel=2)  # stride defaults to the kernel
    assert cost.outputs == ((2, 3, 4, 4),)
    assert cost.flops == 2 * 3 * 4 * 4 * 2 * 2
    # dilation 2 spans 2*(3-1)+1 = 5: (10 - 5) / 1 + 1 = 6
    assert run("max_pool2d", (1, 1, 10, 10), kernel=3, stride=1, dilation=2).outputs == ((1, 1, 6, 6),)
    pool1d = run("max_pool1d", (2, 16, 100), kernel=3, stride=2)  # floor(97 / 2) + 1 = 49
    assert pool1d.outputs == ((2, 16, 49),)
    assert pool1d.flops == 2 * 16 * 49 * 3
    assert run("max_pool2d", (1, 1, 9, 8), kernel=[3, 2]).outputs == ((1, 1, 3, 4),)


def test_pool_errors() -> None:
    with pytest.raises(OpError) as err:
        run("max_pool2d", (1, 1, 2, 2), kernel=3)  # kernel 3 > input 2
    assert err.value.field == "kernel"
    with pytest.raises(OpError) as err:
        run("max_pool2d", FMAP, kernel=3, padding=2)  # PyTorch: pad <= kernel / 2
    assert err.value.field == "padding"
    with pytest.raises(OpError):  # the check uses the plain kernel (3 // 2 = 1), not the dilated span 5
        run("max_pool2d", FMAP, kernel=3, padding=2, dilation=2)
    with pytest.raises(OpError):
        run("max_pool2d", (1, 64, 8), kernel=2)  # rank 3 to a 2-d pool
    with pytest.raises(OpError):
        run("max_pool2d", FMAP, kernel=[2, 2, 2])
    with pytest.raises(ValidationError):
        get_op("avg_pool2d").attrs(kernel=2, dilation=2)  # avg pool has no dilation
    with pytest.raises(ValidationError):
        get_op("max_pool2d").attrs(kernel=2, stride=0)


def test_adaptive_pools() -> None:
    cost = run("adaptive_avg_pool2d", (8, 2048, 7, 7), output_size=1)
    assert cost.outputs == ((8, 2048, 1, 1),)
    assert cost.macs == 8 * 2048 * 7 * 7  # fvcore: one per input element
    assert cost.flops == 8 * 2048 * 7 * 7
    assert cost.op_class is OpClass.REDUCTION
    assert run("adaptive_avg_pool2d", (1, 8, 14, 14), output_size=[2, 7]).outputs == ((1, 8, 2, 7),)
    mx = run("adaptive_max_pool2d", (8, 2048, 7, 7), output_size=1)
    assert (mx.macs, mx.flops) == (0, 8 * 2048 * 7 * 7)


def test_global_pools() -> None:
    cost = run("global_avg_pool", (8, 2048, 7, 7))
    assert cost.outputs == ((8, 2048, 1, 1),)
    assert cost.macs == 8 * 2048 * 7 * 7  # like adaptive_avg_pool2d(1)
    assert cost.flops == 8 * 2048 * 7 * 7
    assert run("gap", (8, 2048, 7, 7), flatten=True).outputs == ((8, 2048),)
    mx = run("global_max_pool", (2, 16, 10))
    assert mx.outputs == ((2, 16, 1),)
    assert (mx.macs, mx.flops) == (0, 2 * 16 * 10)
    with pytest.raises(OpError):
        run("global_avg_pool", (8, 2048))


def test_reduce_mean() -> None:
    cost = run("reduce_mean", TOKENS, dims=[1])  # mean over tokens
    assert cost.outputs == ((2, 384),)
    assert cost.flops == N_TOKENS
    assert cost.macs == 0
    assert cost.op_class is OpClass.REDUCTION
    assert run("reduce_mean", TOKENS, dims=[1], keepdim=True).outputs == ((2, 1, 384),)
    assert run("reduce_mean", X, dims=[-1, -2]).outputs == ((2, 64),)
    for dims in ([0], [3], [1, -2], []):  # batch dim, out of range, repeated, empty
        with pytest.raises(OpError) as err:
            run("reduce_mean", TOKENS, dims=dims)
        assert err.value.field == "dims"
