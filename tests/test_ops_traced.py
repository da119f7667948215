"""Per-op formula tests for the ops that imported models need: reduce_norm, reduce_var, avg_pool1d, im2col, col2im,
sliding_window, index_select, batch_repeat, einsum, lstm, grouped-query sdpa, bicubic upsample and clamp to buffer
bounds.

Every expected value is derived by hand in the test (docs/conventions.md), never copied from the code's output;
einsum's MACs are also checked against PyTorch's flop counter where PyTorch counts the op.
"""

from __future__ import annotations

import pytest

from costmodel.ops import OpClass, OpCost, OpError, get_op


def run(name: str, *shapes: tuple[int, ...], **attrs: object) -> OpCost:
    op = get_op(name)
    return op.fn(list(shapes), op.attrs(**attrs))


def test_reduce_norm_swinv2_cosine_attention() -> None:
    # F.normalize(q, dim=-1) on q [2, 3, 49, 32]: norm over 32 -> [2, 3, 49, 1]
    c = run("reduce_norm", (2, 3, 49, 32), dims=[3], keepdim=True)
    assert c.outputs == ((2, 3, 49, 1),)
    n_in, n_out = 2 * 3 * 49 * 32, 2 * 3 * 49
    assert (c.macs, c.flops, c.params, c.gemm_outputs) == (0, 2 * n_in + n_out, 0, 0)
    assert run("reduce_norm", (2, 8, 5), dims=[1, 2]).outputs == ((2,),)
    with pytest.raises(OpError, match="batch"):
        run("reduce_norm", (2, 8), dims=[0])


def test_reduce_var() -> None:
    c = run("reduce_var", (2, 16, 7, 7), dims=[1], keepdim=True)
    assert c.outputs == ((2, 1, 7, 7),)
    assert (c.macs, c.flops) == (0, 4 * 2 * 16 * 49 + 2 * 2 * 49)
    assert run("reduce_var", (2, 16, 7, 7), dims=[2, 3], correction=0).outputs == ((2, 16),)


def test_avg_pool1d() -> None:
    # [2, 64, 100], kernel 4 stride 4 -> 25 positions, 4 FLOPs each
    c = run("avg_pool1d", (2, 64, 100), kernel=4, stride=4)
    assert c.outputs == ((2, 64, 25),)
    assert (c.macs, c.flops) == (0, 2 * 64 * 25 * 4)


def test_im2col_and_col2im_volo_outlook() -> None:
    # nn.Unfold(3, padding=1, stride=2) on [2, 192, 28, 28]: 14x14 blocks of 192*9 values
    c = run("im2col", (2, 192, 28, 28), kernel=3, padding=1, stride=2)
    assert c.outputs == ((2, 192 * 9, 196),)
    assert (c.macs, c.flops, c.op_class) == (0, 0, OpClass.DATA_MOVEMENT)
    f = run("col2im", (2, 192 * 9, 196), output_size=28, kernel=3, padding=1, stride=2)
    assert f.outputs == ((2, 192, 28, 28),)
    assert (f.macs, f.flops) == (0, 2 * 192 * 9 * 196)  # one add per column element
    # TNT's pixel embedding: kernel 4, stride 4 on 56x56 -> 196 blocks
    assert run("unfold", (2, 24, 56, 56), kernel=4, stride=4).outputs == ((2, 24 * 16, 196),)
    with pytest.raises(OpError, match="is not"):
        run("col2im", (2, 192 * 9, 195), output_size=28, kernel=3, padding=1, stride=2)


def test_index_select_is_a_copy() -> None:
    # CSATv2's x[:, :, zigzag] on [8192, 3, 64]: 64 coefficients reordered; a copy, nothing computed
    c = run("index_select", (8192, 3, 64), dim=2, size=64)
    assert c.outputs == ((8192, 3, 64),)
    assert (c.macs, c.flops, c.params, c.gemm_outputs, c.op_class) == (0, 0, 0, 0, OpClass.DATA_MOVEMENT)
    assert run("index_select", (2, 10, 5), dim=1, size=3).outputs == ((2, 3, 5),)  # fewer entries: dim shrinks
    with pytest.raises(OpError, match="batch"):
        run("index_select", (2, 8), dim=0, size=1)


def test_sliding_window_is_a_view() -> None:
    # HaloNet: x.unfold(2, 12, 8) on [2, 64, 20, 20]: (20 - 12) // 8 + 1 = 2 windows of 12
    c = run("sliding_window", (2, 64, 20, 20), dim=2, size=12, step=8)
    assert c.outputs == ((2, 64, 2, 20, 12),)
    assert c.is_view and c.flops == 0
    with pytest.raises(OpError, match="batch"):
        run("sliding_window", (2, 64), dim=0, size=1, step=1)


def test_batch_repeat() -> None:
    c = run("batch_repeat", (2, 1, 4, 49, 16), repeats=16)
    assert c.outputs == ((32, 1, 4, 49, 16),)
    assert (c.macs, c.flops, c.op_class) == (0, 0, OpClass.DATA_MOVEMENT)


def test_einsum_contraction_and_product() -> None:
    # MViTv2's relative position: "byhwc,hkc->byhwk" with b=2, y=1 head, h=w=56, c=96, k=56:
    # every index combination is one multiply-add: 2*1*56*56*96*56
    c = run("einsum", (2, 1, 56, 56, 96), (56, 56, 96), terms=["byhwc", "hkc"], result="byhwk")
    p = 2 * 1 * 56 * 56 * 96 * 56
    assert c.outputs == ((2, 1, 56, 56, 56),)
    assert (c.macs, c.flops, c.gemm_outputs) == (p, 2 * p, 2 * 56 * 56 * 56)
    # no summed index (an outer product): fvcore halves numpy's count, floor(P / 2)
    o = run("einsum", (2, 3), (2, 5), terms=["bi", "bj"], result="bij")
    assert (o.outputs, o.macs, o.flops) == (((2, 3, 5),), 15, 30)
    with pytest.raises(OpError, match="letters only"):
        run("einsum", (2, 3), (3, 4), terms=["b...i", "ij"], result="bj")
    with pytest.raises(OpError, match="rank"):
        run("einsum", (2, 3), (3, 4), terms=["bij", "jk"], result="bik")


def test_einsum_macs_match_pytorch(torch) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    a, b = torch.randn(2, 4, 7, 8), torch.randn(2, 4, 8, 5)
    with FlopCounterMode(display=False) as counter:
        torch.einsum("bhqd,bhdk->bhqk", a, b)
    c = run("einsum", (2, 4, 7, 8), (2, 4, 8, 5), terms=["bhqd", "bhdk"], result="bhqk")
    assert 2 * c.macs == counter.get_total_flops() == 2 * 2 * 4 * 7 * 8 * 5


def test_lstm_sequencer() -> None:
    # Sequencer2d: nn.LSTM(192, 48, batch_first=True, bidirectional=True) over [2*32, 32, 192]
    c = run("lstm", (64, 32, 192), hidden=48, bidirectional=True)
    assert c.outputs == ((64, 32, 96),)
    h, i = 48, 192
    assert c.params == 2 * (4 * h * i + 4 * h * h + 8 * h)
    assert c.macs == 0  # fvcore has no lstm handler
    assert c.flops == 2 * 64 * 32 * (8 * h * (i + h) + 8 * h + 18 * h)
    two = run("lstm", (4, 10, 16), hidden=8, layers=2, bias=False)
    assert two.params == (4 * 8 * 16 + 4 * 8 * 8) + (4 * 8 * 8 + 4 * 8 * 8)
    assert two.outputs == ((4, 10, 8),)


def test_lstm_params_match_pytorch(torch) -> None:
    lstm = torch.nn.LSTM(192, 48, num_layers=2, batch_first=True, bidirectional=True)
    c = run("lstm", (2, 5, 192), hidden=48, layers=2, bidirectional=True)
    assert c.params == sum(p.numel() for p in lstm.parameters())


def test_sdpa_grouped_query() -> None:
    # 8 q heads share 2 k/v heads: the cost of 8 heads, q [2, 8, 64, 32] x k [2, 2, 64, 32]
    c = run("sdpa", (2, 8, 64, 32), (2, 2, 64, 32), (2, 2, 64, 32))
    full = run("sdpa", (2, 8, 64, 32), (2, 8, 64, 32), (2, 8, 64, 32))
    assert c.outputs == ((2, 8, 64, 32),)
    assert c.macs == full.macs == 2 * (2 * 8 * 64 * 64 * 32)
    with pytest.raises(OpError, match="heads"):
        run("sdpa", (2, 8, 64, 32), (2, 3, 64, 32), (2, 3, 64, 32))


def test_bicubic_upsample_and_clamp_to_buffers() -> None:
    c = run("upsample", (2, 3, 240, 240), size=[224, 224], mode="bicubic")
    n = 2 * 3 * 224 * 224
    assert (c.outputs, c.macs, c.flops) == (((2, 3, 224, 224),), 0, 32 * n)
    k = run("clamp", (2, 10), min_tensor=True, max_tensor=True)
    assert k.flops == 2 * 20
    assert run("clamp", (2, 10), max_tensor=True).flops == 20


def test_shared_weights_hold_no_parameters() -> None:
    # a conv module called twice: the second call's weights are the first's
    own = run("conv2d", (2, 16, 8, 8), out=16, kernel=3, padding=1, groups=16)
    shared = run("conv2d", (2, 16, 8, 8), out=16, kernel=3, padding=1, groups=16, shared=True)
    assert own.params == 16 * 9 + 16 and shared.params == 0
    assert shared.macs == own.macs == 2 * 16 * 64 * 9
    tied = run("linear", (2, 5, 32), out=100, bias=False, shared=True)
    assert (tied.params, tied.macs) == (0, 2 * 5 * 32 * 100)
