"""Formula tests for the shape, attention and embedding op families.

Expected values are derived by hand (as arithmetic, with the derivation in a comment) from how fvcore counts
timm's modules, never copied from the code's output.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from costmodel.ops import OpClass, OpCost, OpError, get_op


def run(name: str, *inputs: tuple[int, ...], **attrs: object) -> OpCost:
    op = get_op(name)
    return op.fn(list(inputs), op.attrs(**attrs))


def fails(name: str, *inputs: tuple[int, ...], field: str | None = None, match: str | None = None,
          **attrs: object) -> None:
    with pytest.raises(OpError, match=match) as err:
        run(name, *inputs, **attrs)
    assert err.value.field == field


# ---- registry ----------------------------------------------------------------------------------------

OPS = [
    "identity", "dropout", "drop_path", "concat", "split", "chunk", "slice", "select", "reshape", "flatten",
    "unflatten", "permute", "transpose", "contiguous", "pad", "upsample", "channel_shuffle",
    "window_partition", "window_reverse", "roll", "scaled_dot_product_attention", "attention",
    "patch_embed", "class_token", "pos_embed", "learned_bias",
]


@pytest.mark.parametrize("name", OPS)
def test_registered_with_help(name: str) -> None:
    assert get_op(name).doc


@pytest.mark.parametrize(
    "alias, name",
    [("cat", "concat"), ("view", "reshape"), ("sdpa", "scaled_dot_product_attention"), ("mhsa", "attention"),
     ("multi_head_attention", "attention"), ("cls_token", "class_token"), ("param_add", "learned_bias")],
)
def test_aliases(alias: str, name: str) -> None:
    assert get_op(alias) is get_op(name)


def test_unknown_attribute_rejected() -> None:
    with pytest.raises(ValidationError):
        get_op("attention").attrs(heads=6, num_heads=6)


# ---- views -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, attrs, out",
    [
        ("identity", {}, (2, 197, 384)),
        ("dropout", {"p": 0.1}, (2, 197, 384)),
        ("drop_path", {"p": 0.1}, (2, 197, 384)),
        ("reshape", {"shape": [197, 6, -1]}, (2, 197, 6, 64)),  # 384 / 6 = 64
        ("view", {"shape": [-1]}, (2, 197 * 384)),
        ("flatten", {}, (2, 197 * 384)),
        ("unflatten", {"dim": 2, "sizes": [6, 64]}, (2, 197, 6, 64)),
        ("transpose", {"dim0": 1, "dim1": 2}, (2, 384, 197)),
        ("permute", {"dims": [0, 2, 1]}, (2, 384, 197)),
        ("select", {"dim": 1, "index": 0}, (2, 384)),  # the class token x[:, 0]
        ("slice", {"dim": 1, "start": 1}, (2, 196, 384)),  # the patch tokens x[:, 1:]
        ("slice", {"dim": 2, "start": 0, "end": 384, "step": 3}, (2, 197, 128)),  # ceil(384 / 3)
    ],
)
def test_views(name: str, attrs: dict, out: tuple[int, ...]) -> None:
    cost = run(name, (2, 197, 384), **attrs)
    assert cost.outputs == (out,)
    assert cost.is_view and cost.op_class == OpClass.VIEW
    assert (cost.params, cost.macs, cost.flops, cost.gemm_outputs) == (0, 0, 0, 0)


def test_flatten_range() -> None:
    assert run("flatten", (2, 3, 4, 5, 6), start_dim=2, end_dim=3).outputs == ((2, 3, 4 * 5, 6),)


def test_split_list_and_chunk_size() -> None:
    cost = run("split", (1, 10, 8), sizes=[2, 3, 5])
    assert cost.outputs == ((1, 2, 8), (1, 3, 8), (1, 5, 8)) and cost.is_view
    # torch.split(x, 4, dim=2) on 10 -> 4, 4, 2
    assert run("split", (1, 8, 10), sizes=4, dim=2).outputs == ((1, 8, 4), (1, 8, 4), (1, 8, 2))


def test_chunk_torch_sizing() -> None:
    # qkv.chunk(3, dim=-1) on 1152 -> three of 384
    assert run("chunk", (1, 197, 1152), chunks=3, dim=-1).outputs == ((1, 197, 384),) * 3
    # torch.chunk of 10 into 4: ceil(10 / 4) = 3 -> 3, 3, 3, 1
    assert run("chunk", (1, 10), chunks=4).outputs == ((1, 3),) * 3 + ((1, 1),)


def test_view_errors() -> None:
    fails("reshape", (2, 197, 384), shape=[197, 385], field="shape", match="197")
    fails("reshape", (2, 197, 384), shape=[-1, -1], field="shape")
    fails("reshape", (2, 10), shape=[3, -1], field="shape")  # 10 is not a multiple of 3
    fails("split", (1, 10, 8), sizes=[2, 3, 4], field="sizes", match="sum to 9")
    fails("chunk", (1, 5), chunks=4, field="chunks")  # ceil(5 / 4) = 2 -> only 3 pieces: 2, 2, 1
    fails("chunk", (1, 2), chunks=3, field="chunks")
    fails("permute", (2, 3, 4), dims=[1, 0, 2], field="dims", match="batch")
    fails("permute", (2, 3, 4), dims=[0, 1, 1], field="dims")
    fails("transpose", (2, 3, 4), dim0=0, dim1=1, field="dim0", match="batch")
    fails("select", (2, 197, 384), dim=1, index=197, field="index")
    fails("slice", (2, 197, 384), dim=1, start=197, field="start")
    fails("flatten", (2, 3, 4), start_dim=2, end_dim=1, field="end_dim")
    fails("unflatten", (2, 384), dim=1, sizes=[6, 65], field="sizes")


# ---- copies ------------------------------------------------------------------------------------------


def test_concat() -> None:
    cost = run("concat", (2, 16, 8, 8), (2, 32, 8, 8), (2, 8, 8, 8))
    assert cost.outputs == ((2, 16 + 32 + 8, 8, 8),)
    assert cost.op_class == OpClass.DATA_MOVEMENT and not cost.is_view and cost.flops == 0
    assert run("cat", (2, 1, 384), (2, 196, 384)).outputs == ((2, 197, 384),)


def test_concat_mismatch_names_dim_and_shapes() -> None:
    shapes = r"\[2, 16, 8, 8\] and \[2, 32, 8, 9\] along dim 1: dim 3 differs"
    fails("concat", (2, 16, 8, 8), (2, 32, 8, 9), field="dim", match=shapes)
    fails("concat", (2, 16, 8, 8), (2, 16, 8), field="dim", match="ranks")


@pytest.mark.parametrize("name", ["contiguous", "channel_shuffle"])
def test_same_shape_copies(name: str) -> None:
    attrs = {"groups": 4} if name == "channel_shuffle" else {}
    cost = run(name, (1, 232, 14, 14), **attrs)
    assert cost.outputs == ((1, 232, 14, 14),)
    assert cost.op_class == OpClass.DATA_MOVEMENT and not cost.is_view and cost.macs == cost.flops == 0


def test_channel_shuffle_groups() -> None:
    fails("channel_shuffle", (1, 30, 7, 7), groups=4, field="groups")


def test_pad() -> None:
    # F.pad order: last dim first -> W += 1 + 2, H += 3 + 4
    cost = run("pad", (1, 3, 10, 20), pads=[1, 2, 3, 4])
    assert cost.outputs == ((1, 3, 10 + 3 + 4, 20 + 1 + 2),) and cost.op_class == OpClass.DATA_MOVEMENT
    fails("pad", (1, 3, 10, 20), pads=[1, 2, 3], field="pads")
    fails("pad", (1, 3, 10, 20), pads=[20, 0], mode="reflect", field="pads")  # reflect needs pad < 20


def test_upsample() -> None:
    near = run("upsample", (1, 256, 16, 16), scale_factor=2)
    assert near.outputs == ((1, 256, 32, 32),)
    # fvcore: upsample_nearest2d counts 1 per output element; nearest does no arithmetic
    assert (near.macs, near.flops, near.gemm_outputs) == (256 * 32 * 32, 0, 0)
    bil = run("upsample", (1, 256, 16, 16), size=[24, 40], mode="bilinear")
    assert bil.outputs == ((1, 256, 24, 40),)
    # fvcore: upsample_bilinear2d 4 per output element; 4 weights x (mul + add) = 8 flops
    assert (bil.macs, bil.flops) == (4 * 256 * 24 * 40, 8 * 256 * 24 * 40)
    assert run("upsample", (1, 8, 7, 7), scale_factor=[1.5, 2]).outputs == ((1, 8, 10, 14),)  # floor(10.5)
    assert bil.op_class == OpClass.DATA_MOVEMENT and not bil.is_view
    fails("upsample", (1, 8, 7, 7), scale_factor=2, size=[14, 14], field="scale_factor")
    fails("upsample", (1, 8, 7, 7), field="scale_factor")


def test_window_partition_roundtrip() -> None:
    # Swin-T stage 1: 56x56, window 7 -> 8 * 8 = 64 windows of 49 tokens per image
    part = run("window_partition", (2, 56, 56, 96), window=7)
    assert part.outputs == ((2 * 64, 49, 96),) and part.op_class == OpClass.DATA_MOVEMENT
    back = run("window_reverse", (2 * 64, 49, 96), window=7, height=56, width=56)
    assert back.outputs == ((2, 56, 56, 96),) and not back.is_view
    fails("window_partition", (2, 56, 56, 96), window=6, field="window", match="56x56")
    fails("window_reverse", (2 * 64, 50, 96), window=7, height=56, width=56, field="window")


def test_roll() -> None:
    cost = run("roll", (1, 56, 56, 96), shifts=[-3, -3], dims=[1, 2])
    assert cost.outputs == ((1, 56, 56, 96),) and cost.op_class == OpClass.DATA_MOVEMENT
    fails("roll", (1, 56, 56, 96), shifts=[-3], dims=[1, 2], field="shifts")


# ---- attention ---------------------------------------------------------------------------------------


def test_vit_s16_attention() -> None:
    # timm ViT-S/16 block: L = 197 tokens, D = 384, 6 heads of 64, qkv 384 -> 1152, proj 384 -> 384.
    cost = run("attention", (1, 197, 384), heads=6)
    qkv, proj = 197 * 384 * 1152, 197 * 384 * 384
    scores = attn_v = 6 * 197 * 197 * 64  # q @ k^T and attn @ v per head
    assert cost.outputs == ((1, 197, 384),)
    assert cost.params == 384 * 1152 + 1152 + 384 * 384 + 384
    assert cost.macs == qkv + scores + attn_v + proj
    # fvcore ActivationCountAnalysis: outputs of qkv, q@k^T, attn@v and proj
    assert cost.gemm_outputs == 197 * 1152 + 6 * 197 * 197 + 6 * 197 * 64 + 197 * 384
    # 2 per MAC, + qkv and proj biases, + softmax 5/score, + q * scale
    assert cost.flops == 2 * cost.macs + 197 * 1152 + 197 * 384 + 5 * 6 * 197 * 197 + 6 * 197 * 64
    assert cost.op_class == OpClass.ATTENTION and not cost.is_view


def test_attention_batch_scales_linearly() -> None:
    one, eight = run("attention", (1, 197, 384), heads=6), run("attention", (8, 197, 384), heads=6)
    assert (eight.macs, eight.flops) == (8 * one.macs, 8 * one.flops)
    assert eight.gemm_outputs == 8 * one.gemm_outputs
    assert eight.params == one.params


def test_swin_t_shifted_window_attention() -> None:
    # Swin-T stage 1: [1, 56, 56, 96], window 7 -> B = 64 windows of L = 49 tokens, 3 heads of 32.
    cost = run("attention", (1, 56, 56, 96), heads=3, window=7, shift=3, rel_pos_bias=True)
    b, length = 64, 49
    assert cost.outputs == ((1, 56, 56, 96),)
    # table: (2 * 7 - 1)^2 = 169 offsets per head
    assert cost.params == 96 * 288 + 288 + 96 * 96 + 96 + 169 * 3
    macs = b * length * 96 * 288 + 2 * b * 3 * length * length * 32 + b * length * 96 * 96
    assert cost.macs == macs
    scores = b * 3 * length * length
    assert cost.gemm_outputs == b * length * 288 + scores + b * 3 * length * 32 + b * length * 96
    # softmax 5 + relative position bias 1 + shift mask 1 per score; q * scale; biases
    per_score = 5 + 1 + 1
    assert cost.flops == (
        2 * macs + b * length * 288 + b * length * 96 + per_score * scores + b * 3 * length * 32
    )


def test_swin_table_params_per_window() -> None:
    # Swin-B stage 3 (heads 16, window 7) and SwinV2-style window 8: (2w - 1)^2 * heads
    for x, window, table in [((1, 14, 14, 512), 7, 169 * 16), ((1, 16, 16, 512), 8, 225 * 16)]:
        plain = run("attention", x, heads=16, window=window).params
        assert run("attention", x, heads=16, window=window, rel_pos_bias=True).params == plain + table


def test_attention_head_dim_out_and_no_bias() -> None:
    # D = 256, 4 heads of 32 (inner 128), out 512, no biases; N = 2, L = 10
    cost = run("attention", (2, 10, 256), heads=4, head_dim=32, out=512, qkv_bias=False, proj_bias=False)
    assert cost.outputs == ((2, 10, 512),)
    assert cost.params == 256 * 384 + 128 * 512
    macs = 2 * 10 * 256 * 384 + 2 * (2 * 4 * 10 * 10 * 32) + 2 * 10 * 128 * 512
    assert cost.macs == macs
    assert cost.flops == 2 * macs + 5 * 2 * 4 * 10 * 10 + 2 * 4 * 10 * 32


def test_attention_causal_adds_mask() -> None:
    plain = run("attention", (1, 64, 128), heads=2)
    causal = run("attention", (1, 64, 128), heads=2, causal=True)
    assert causal.flops - plain.flops == 2 * 64 * 64 and causal.macs == plain.macs


def test_attention_errors() -> None:
    fails("attention", (1, 197, 384), heads=5, field="heads")
    fails("attention", (1, 56, 56, 96), heads=3, window=6, field="window", match="56x56")
    fails("attention", (1, 56, 56, 96), heads=3, window=7, shift=7, field="shift")
    fails("attention", (1, 197, 384), heads=6, shift=3, field="shift")
    fails("attention", (1, 197, 384), heads=6, rel_pos_bias=True, field="rel_pos_bias")
    fails("attention", (1, 56, 56, 96), heads=3)  # global attention needs [N, L, D]


def test_sdpa() -> None:
    # cross attention: N = 2, H = 8, Lq = 100, Lk = 50, d = 64, dv = 32
    q, k, v = (2, 8, 100, 64), (2, 8, 50, 64), (2, 8, 50, 32)
    cost = run("sdpa", q, k, v)
    assert cost.outputs == ((2, 8, 100, 32),) and cost.params == 0
    macs = 2 * 8 * 100 * 50 * 64 + 2 * 8 * 100 * 50 * 32
    assert cost.macs == macs
    assert cost.gemm_outputs == 2 * 8 * 100 * 50 + 2 * 8 * 100 * 32
    assert cost.flops == 2 * macs + 5 * 2 * 8 * 100 * 50 + 2 * 8 * 100 * 64
    assert run("sdpa", q, k, v, causal=True).flops == cost.flops + 2 * 8 * 100 * 50
    assert run("sdpa", q, k, v, scale=False).flops == cost.flops - 2 * 8 * 100 * 64
    assert cost.op_class == OpClass.ATTENTION


def test_sdpa_is_the_core_of_attention() -> None:
    # the layer = qkv linear + sdpa over [N, heads, L, hd] + proj linear
    layer = run("attention", (1, 197, 384), heads=6)
    core = run("sdpa", (1, 6, 197, 64), (1, 6, 197, 64), (1, 6, 197, 64))
    assert layer.macs - core.macs == 197 * 384 * 1152 + 197 * 384 * 384
    assert layer.gemm_outputs - core.gemm_outputs == 197 * 1152 + 197 * 384


def test_sdpa_errors() -> None:
    fails("sdpa", (2, 8, 100, 64), (2, 8, 50, 32), (2, 8, 50, 32), match="k")
    fails("sdpa", (2, 8, 100, 64), (2, 3, 50, 64), (2, 3, 50, 64), match="heads")  # 3 k heads cannot serve 8
    fails("sdpa", (2, 8, 100, 64), (2, 8, 50, 64), (2, 8, 49, 32))
    fails("sdpa", (2, 100, 64), (2, 50, 64), (2, 50, 64))


# ---- embeddings --------------------------------------------------------------------------------------


def test_vit_b16_patch_embed() -> None:
    # Conv2d(3, 768, 16, stride 16) on 224x224 -> 14 x 14 = 196 patches
    cost = run("patch_embed", (1, 3, 224, 224), out=768, patch=16)
    assert cost.outputs == ((1, 196, 768),)
    assert cost.params == 768 * 3 * 16 * 16 + 768
    assert cost.macs == 196 * 768 * 3 * 16 * 16
    assert cost.gemm_outputs == 196 * 768
    assert cost.flops == 2 * cost.macs + 196 * 768
    conv = run("conv2d", (1, 3, 224, 224), out=768, kernel=16, stride=16)
    assert (conv.macs, conv.params, conv.flops) == (cost.macs, cost.params, cost.flops)
    assert (conv.gemm_outputs, conv.op_class) == (cost.gemm_outputs, cost.op_class)


@pytest.mark.parametrize(
    "layout, out", [("tokens", (2, 56 * 56, 96)), ("nhwc", (2, 56, 56, 96)), ("nchw", (2, 96, 56, 56))]
)
def test_patch_embed_layouts(layout: str, out: tuple[int, ...]) -> None:
    # Swin-T: patch 4 on 224 -> 56x56
    assert run("patch_embed", (2, 3, 224, 224), out=96, patch=4, layout=layout).outputs == (out,)


def test_patch_embed_floors_and_errors() -> None:
    # 230 / 16 floors to 14 (as the conv does); rectangular patch [16, 8] on 224 -> 14 x 28
    assert run("patch_embed", (1, 3, 230, 230), out=8, patch=16).outputs == ((1, 14 * 14, 8),)
    cost = run("patch_embed", (1, 3, 224, 224), out=8, patch=[16, 8], bias=False)
    assert cost.outputs == ((1, 14 * 28, 8),) and cost.params == 8 * 3 * 16 * 8
    fails("patch_embed", (1, 3, 8, 8), out=8, patch=16, field="patch")
    fails("patch_embed", (1, 3, 8, 8), out=8, patch=[2, 2, 2], field="patch")


def test_class_token_and_pos_embed() -> None:
    cls = run("cls_token", (2, 196, 768))
    assert cls.outputs == ((2, 197, 768),) and cls.params == 768 and cls.op_class == OpClass.DATA_MOVEMENT
    assert run("class_token", (2, 196, 768), tokens=2).params == 2 * 768  # class + distillation token (DeiT)
    pos = run("pos_embed", (2, 197, 768))
    assert pos.outputs == ((2, 197, 768),)
    assert (pos.params, pos.flops, pos.macs) == (197 * 768, 2 * 197 * 768, 0)
    assert pos.op_class == OpClass.ELEMENTWISE


def test_learned_bias() -> None:
    # EfficientFormer-style attention bias: [heads, L, L] added to [N, heads, L, L] scores
    cost = run("param_add", (4, 8, 49, 49), shape=[8, 49, 49])
    assert cost.outputs == ((4, 8, 49, 49),)
    assert (cost.params, cost.flops, cost.macs) == (8 * 49 * 49, 4 * 8 * 49 * 49, 0)
    assert run("learned_bias", (4, 8, 49, 49), shape=[8, 1, 1]).params == 8
    fails("learned_bias", (4, 8, 49, 49), shape=[7, 1, 1], field="shape")


def test_swin_eager_attention_parts() -> None:
    # Swin-T stage 0: 64 windows of 7x7 = 49 tokens, 3 heads of 32; one image.
    q = (64, 3, 49, 32)
    bias = get_op("relative_position_bias")
    cost = bias.fn([q], bias.attrs(window=7))
    assert cost.outputs == ((1, 3, 49, 49),)
    assert cost.params == (2 * 7 - 1) ** 2 * 3  # the learned table: 169 relative offsets per head
    mask = get_op("shift_window_mask")
    scores = (64, 3, 49, 49)
    assert mask.fn([scores], mask.attrs(window=7)).flops == 64 * 3 * 49 * 49  # one add per score
    with pytest.raises(OpError, match="needs 49"):
        bias.fn([(64, 3, 50, 32)], bias.attrs(window=7))


def test_sdpa_with_mask_input() -> None:
    sdpa = get_op("sdpa")
    q = (2, 4, 16, 8)
    plain = sdpa.fn([q, q, q], sdpa.attrs())
    masked = sdpa.fn([q, q, q, (1, 4, 16, 16)], sdpa.attrs())
    assert masked.macs == plain.macs == 2 * (2 * 4 * 16 * 16 * 8)  # q@k^T and attn@v
    assert masked.flops == plain.flops + 2 * 4 * 16 * 16  # one add per score for the mask
    with pytest.raises(OpError, match="broadcast"):
        sdpa.fn([q, q, q, (1, 4, 16, 15)], sdpa.attrs())
