"""Spec -> PyTorch bridge: every zoo model and every registry op runs in PyTorch with our params and MACs.

Our figures come from the op cost functions; PyTorch's from ``nn.Module.parameters()`` and
``torch.utils.flop_counter.FlopCounterMode`` (2 FLOPs per multiply-add of convolutions and matmuls, bias
excluded). Over the layers FlopCounterMode counts (registered ``torch_counted``) the two agree exactly; the ops it
does not count are listed in docs/bridges.md. Without PyTorch these tests skip, unless
``COSTMODEL_REQUIRE_TORCH=1`` (CI), where they fail.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from costmodel import analyze
from costmodel.api import load_graph
from costmodel.bridges.torch import (
    build_module,
    example_inputs,
    require_torch,
    torch_counted_macs,
    torch_counts,
)
from costmodel.errors import BridgeError, UserError
from costmodel.graph import Graph, build_graph
from costmodel.ops import REGISTRY
from costmodel.spec.loader import parse_spec

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "arch_specs").glob("*.yaml"))
CONV_OPS = {"conv1d", "conv2d", "conv3d", "conv_transpose2d", "patch_embed"}
COUNTED_ATEN = {"aten.convolution", "aten.addmm", "aten.mm", "aten.bmm", "aten.baddbmm",
                "aten._scaled_dot_product_flash_attention_for_cpu"}


def graph_of(text: str, batch: int = 2) -> Graph:
    return build_graph(parse_spec(yaml.safe_load(textwrap.dedent(text))), batch=batch)


def module_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---- the zoo ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_zoo_model_runs_with_our_params_and_macs(torch, spec: Path) -> None:
    graph = load_graph(spec, batch=1)
    module = build_module(graph, check_shapes=True)  # every layer's output shape is checked as it runs
    outputs: list = []
    module.register_forward_hook(lambda mod, args, out: outputs.append(out))
    counts = torch_counts(module, example_inputs(graph))  # one forward pass, eval mode, no_grad
    (out,) = outputs
    assert tuple(out.shape) == graph.shape(graph.outputs[0])
    assert torch.isfinite(out).all()
    totals = analyze(spec, batch=1).totals
    assert counts.params == totals.params  # exactly: BN running stats are buffers on both sides
    assert set(counts.by_op) <= COUNTED_ATEN
    # Convolutions: FlopCounterMode counts 2 * out_elements * Cin/g * k^2, bias excluded -- our MACs exactly.
    conv_macs = sum(layer.cost.macs for layer in graph.layers if layer.op in CONV_OPS)
    assert counts.by_op.get("aten.convolution", 0) == 2 * conv_macs
    # Linear (addmm/mm), matmul and attention (bmm): 2 * M * K * N each, bias excluded -- our MACs exactly.
    gemm_flops = sum(n for op, n in counts.by_op.items() if op != "aten.convolution")
    assert gemm_flops == 2 * (torch_counted_macs(graph) - conv_macs)
    assert counts.flop_counter_flops == 2 * torch_counted_macs(graph)


def test_counted_ops_are_the_ones_lowering_to_counted_aten_ops() -> None:
    # FlopCounterMode counts aten.convolution, mm/addmm/bmm/baddbmm and SDPA: the ops that lower to those.
    counted = {op.name for op in REGISTRY.values() if op.torch_counted}
    assert counted == {"conv1d", "conv2d", "conv3d", "conv_transpose2d", "patch_embed", "linear", "matmul",
                       "attention", "scaled_dot_product_attention", "einsum"}


# ---- every op of the registry in one graph ----------------------------------------------------------------

ALL_OPS = """
name: all_ops
inputs: {image: [4, 8, 8], grid: [8, 8, 16]}
nodes:
  - {name: c_same, op: conv2d, out: 8, kernel: 3, stride: 2, padding: same}       # [2, 8, 4, 4]
  - {name: bn, op: batch_norm}
  - {name: gn, op: group_norm, groups: 2}
  - {name: ln2d, op: layer_norm, channels_first: true}
  - {name: rms2d, op: rms_norm, channels_first: true}
  - {name: grn2d, op: grn, channels_first: true}
  - {op: relu}
  - {op: relu6}
  - {op: leaky_relu, negative_slope: 0.2}
  - {op: elu, alpha: 0.5}
  - {op: gelu, approximate: tanh}
  - {op: silu}
  - {op: hardswish}
  - {op: hardsigmoid}
  - {op: sigmoid}
  - {op: tanh}
  - {name: ls2d, op: layer_scale, channels_first: true}
  - {name: dw, op: conv2d, out: 8, kernel: 3, padding: 1, groups: 8, bias: false}
  - {name: ct, op: conv_transpose2d, out: 4, kernel: 2, stride: 2, groups: 2}    # [2, 4, 8, 8]
  - {name: up_bl, op: upsample, scale_factor: 0.5, mode: bilinear}               # [2, 4, 4, 4]
  - {name: up_nn, op: upsample, size: [8, 8]}                                    # [2, 4, 8, 8]
  - {name: mp, op: max_pool2d, kernel: 3, stride: 2, padding: 1, ceil_mode: true}  # [2, 4, 5, 5]
  - {name: ap, op: avg_pool2d, kernel: 2, stride: 1, padding: 1, count_include_pad: false}  # [2, 4, 6, 6]
  - {name: aap, op: adaptive_avg_pool2d, output_size: 3}
  - {name: amp, op: adaptive_max_pool2d, output_size: [2, 2], inputs: ap}
  - {name: pad, op: pad, pads: [1, 1, 1, 1], mode: reflect}                        # [2, 4, 4, 4]
  - {name: shuf, op: channel_shuffle, groups: 2}
  - {name: sig, op: sigmoid}
  - {name: add3, op: add, inputs: [shuf, pad, shuf]}
  - {name: mul, op: mul, inputs: [add3, pad]}
  - {name: sub, op: sub, inputs: [mul, pad]}
  - {name: div, op: div, inputs: [sub, sig]}
  - {name: half, op: scale, value: 0.5}
  - {name: gmp, op: global_max_pool}
  - {name: gap, op: global_avg_pool, flatten: true, inputs: half}                # [2, 4]
  - {name: rmean, op: reduce_mean, dims: [2, 3], keepdim: true, inputs: half}
  - {name: flat, op: flatten, start_dim: 2, inputs: half}                       # [2, 4, 16]
  - {name: c1d, op: conv1d, out: 6, kernel: 3, padding: valid}                   # [2, 6, 14]
  - {name: mp1d, op: max_pool1d, kernel: 2}                                      # [2, 6, 7]
  - {name: unflat, op: unflatten, dim: 1, sizes: [2, 2], inputs: half}           # [2, 2, 2, 4, 4]
  - {name: c3d, op: conv3d, out: 3, kernel: [1, 3, 3], padding: [0, 1, 1]}
  - {name: bn3d, op: batch_norm, affine: false}
  - {name: patches, op: patch_embed, out: 16, patch: 4, inputs: image}           # [2, 4, 16]
  - {name: cls, op: class_token, tokens: 2}                                      # [2, 6, 16]
  - {name: pos, op: pos_embed}
  - {name: ln, op: layer_norm, bias: false}
  - {name: attn, op: attention, heads: 2, causal: true}
  - {name: attn2, op: attention, heads: 2, head_dim: 4, out: 12, qkv_bias: false, proj_bias: false}
  - {name: lin, op: linear, out: 24}                                             # [2, 6, 24]
  - {name: heads, op: reshape, shape: [6, 3, 8]}
  - {name: perm, op: permute, dims: [0, 2, 1, 3]}                                # [2, 3, 6, 8]
  - {name: qk, op: chunk, chunks: 2, dim: 3}                                     # 2 x [2, 3, 6, 4]
  - {name: vs, op: split, sizes: 4, dim: 3, inputs: perm}
  - {name: kt, op: transpose, dim0: 2, dim1: 3, inputs: "qk:1"}
  - {name: scores, op: matmul, inputs: ["qk:0", kt]}                             # [2, 3, 6, 6]
  - {name: sdpa_mask, op: sdpa, causal: true, inputs: ["qk:0", "qk:1", "vs:1", scores]}
  - {name: sdpa_plain, op: scaled_dot_product_attention, scale: false, inputs: ["qk:0", "qk:1", "vs:0"]}
  - {name: sl, op: slice, dim: -1, start: 1, end: -1, step: 2, inputs: sdpa_mask}  # [2, 3, 6, 1]
  - {name: first_head, op: select, dim: 1, index: -1, inputs: sdpa_plain}          # [2, 6, 4]
  - {name: cat, op: concat, dim: 2, inputs: [first_head, first_head]}            # [2, 6, 8]
  - {op: dropout, p: 0.1}
  - {op: drop_path, p: 0.1}
  - {op: identity}
  - {op: contiguous}
  - {op: softmax, dim: -1}
  - {name: rms, op: rms_norm, weight: false}
  - {name: bias_wide, op: learned_bias, shape: [2, 6, 8]}                         # [2, 2, 6, 8]
  - {name: bias_col, op: learned_bias, shape: [6, 1], inputs: rms}
  # Swin pieces on an NHWC map: the fused attention, and the separate ops as the swin_t spec uses them
  - {name: win_attn, op: attention, heads: 2, window: 4, shift: 2, rel_pos_bias: true, inputs: grid}
  - {name: grn_nhwc, op: grn, inputs: grid}                                     # channels last
  - {name: shifted, op: roll, shifts: [-2, -2], dims: [1, 2], inputs: grn_nhwc}
  - {name: windows, op: window_partition, window: 4}                             # [8, 16, 16]
  - {name: q, op: reshape, shape: [1, 16, 16]}                                   # [8, 1, 16, 16]
  - {name: rpb, op: relative_position_bias, window: 4}
  - {name: biased, op: add, broadcast: true, inputs: [q, rpb]}
  - {name: masked, op: shift_window_mask, window: 4}
  - {name: tokens, op: reshape, shape: [16, 16]}
  - {name: merged, op: window_reverse, window: 4, height: 8, width: 8}
  # ops of imported graphs (costmodel import): windows folded into the batch, a static tensor, an opaque op
  - {name: folded, op: batch_reshape, shape: [4, 4, 16], fold: 4, inputs: grid}    # [8, 4, 4, 16]
  - {name: unfolded, op: batch_reshape, shape: [8, 8, 16], unfold: 4}             # [2, 8, 8, 16]
  - {name: table, op: param_tensor, shape: [1, 8, 1, 16], params: 12}
  - {name: plus_table, op: add, broadcast: true, inputs: [unfolded, table]}
  - {name: odd, op: opaque, source: aten_cumsum, shapes: [[2, 8, 8, 16]], params: 3, batch: 2}
  # element-wise math, clamping, reductions and broadcasting
  - {name: positive, op: pointwise, fn: abs, inputs: grid}
  - {op: clamp, min: 0.01}
  - {op: pointwise, fn: rsqrt}
  - {name: row_sum, op: reduce_sum, dims: [2], keepdim: true}                     # [2, 8, 1, 16]
  - {name: row_max, op: reduce_max, dims: [2], keepdim: true, inputs: grid}
  - {name: ratio, op: div, inputs: [row_max, row_sum]}
  - {name: wide, op: expand, shape: [8, 8, 16]}                                    # [2, 8, 8, 16]
  # ops of imported timm families: norms, variances, recurrent and einsum mixing, sliding windows, GQA
  - {name: gnorm, op: reduce_norm, dims: [3], keepdim: true, inputs: grid}          # [2, 8, 8, 1]
  - {name: gvar, op: reduce_var, dims: [1, 2], inputs: grid}                         # [2, 16]
  - {name: seq, op: reshape, shape: [64, 16], inputs: grid}                          # [2, 64, 16]
  - {name: rnn, op: lstm, hidden: 4, bidirectional: true}                            # [2, 64, 8]
  - {name: pool1d, op: avg_pool1d, kernel: 2, inputs: seq}                           # [2, 64, 8]
  - {name: mix, op: einsum, terms: [bld, blk], result: bdk, inputs: [seq, rnn]}      # [2, 16, 8]
  - {name: rep, op: batch_repeat, repeats: 2}                                        # [4, 16, 8]
  - {name: nchw, op: permute, dims: [0, 3, 1, 2], inputs: grid}                      # [2, 16, 8, 8]
  - {name: cols, op: im2col, kernel: 3, padding: 1, stride: 2}                       # [2, 144, 16]
  - {name: img, op: col2im, output_size: 8, kernel: 3, padding: 1, stride: 2}         # [2, 16, 8, 8]
  - {name: wins, op: sliding_window, dim: 2, size: 4, step: 2}                       # [2, 16, 3, 8, 4]
  - {name: zigzag, op: index_select, dim: 4, size: 6}                                # [2, 16, 3, 8, 6]
  - {name: up_bc, op: upsample, size: [6, 6], mode: bicubic, inputs: img}            # [2, 16, 6, 6]
  - {name: shared_dw, op: conv2d, out: 16, kernel: 3, padding: 1, groups: 16, shared: true}
  - {name: clipped, op: clamp, min_tensor: true, max_tensor: true}
  - {name: k1, op: slice, dim: 1, start: 0, end: 1, inputs: "qk:1"}                  # [2, 1, 6, 4]
  - {name: v1, op: slice, dim: 1, start: 0, end: 1, inputs: "vs:0"}
  - {name: gqa, op: sdpa, inputs: ["qk:0", k1, v1]}                                  # [2, 3, 6, 4]
outputs: [gnorm, gvar, pool1d, rep, zigzag, clipped, gqa,
          wide, gap, gmp, rmean, aap, up_nn, mp1d, bn3d, sl, cat, bias_wide, bias_col, attn2, win_attn, merged, odd]
"""


@pytest.fixture(scope="module")
def all_ops() -> Graph:
    return graph_of(ALL_OPS)


def test_all_ops_graph_covers_the_registry(all_ops: Graph) -> None:
    assert {op.name for op in REGISTRY.values()} == {layer.op for layer in all_ops.layers}


def test_every_op_runs_with_the_inferred_shapes(torch, all_ops: Graph) -> None:
    module = build_module(all_ops, check_shapes=True)
    with torch.no_grad():
        outs = module(*example_inputs(all_ops))
    assert [tuple(t.shape) for t in outs] == [all_ops.shape(ref) for ref in all_ops.outputs]
    assert all(torch.isfinite(t).all() for t in outs)


def test_every_op_has_our_params_per_layer(torch, all_ops: Graph) -> None:
    module = build_module(all_ops)
    for layer in all_ops.layers:
        runner = module.layers.get(layer.path)
        assert (module_params(runner) if runner is not None else 0) == layer.cost.params, layer.path
    assert module_params(module) == sum(layer.cost.params for layer in all_ops.layers)


def test_every_counted_op_has_our_macs(torch, all_ops: Graph) -> None:
    counts = torch_counts(build_module(all_ops), example_inputs(all_ops))
    # the LSTM is counted by neither: fvcore has no handler (our MACs 0), FlopCounterMode none for its CPU kernel
    assert counts.flop_counter_flops == 2 * torch_counted_macs(all_ops)
    conv_macs = sum(layer.cost.macs for layer in all_ops.layers if layer.op in CONV_OPS)
    assert counts.by_op["aten.convolution"] == 2 * conv_macs


# ---- values of the ops whose semantics are not obvious ------------------------------------------------------


def single(torch, text: str, batch: int = 2):
    """Graph, module and random inputs of a small spec."""
    graph = graph_of(text, batch)
    return graph, build_module(graph, check_shapes=True), example_inputs(graph, seed=1)


def _ours_or_error(shape: list[int], node: dict) -> tuple[int, ...] | None:
    """The output shape costmodel infers for one node on an input of ``shape`` (batch included), else None."""
    spec = {"name": "t", "batch": shape[0], "inputs": {"x": shape[1:]}, "nodes": [dict(node, name="n")]}
    try:
        return tuple(build_graph(parse_spec(spec)).layers[0].cost.outputs[0])
    except UserError:
        return None


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("dilation", [1, 2])
def test_conv_transpose_accepts_what_pytorch_accepts(torch, stride: int, dilation: int) -> None:
    """costmodel accepted output_padding >= max(stride, dilation), a negative output_padding and a negative padding,
    all of which ConvTranspose2d refuses (differential fuzz, seed 1: output_padding 1 at stride 1). Over a grid, the
    spec is accepted exactly when PyTorch runs it, with PyTorch's output shape."""
    x = torch.zeros(1, 4, 6, 5)
    for output_padding in (-1, 0, 1, 2, [0, 1], [1, 0]):
        for padding in (-1, 0, 1, 3):
            node = {"op": "conv_transpose2d", "out": 2, "kernel": 2, "stride": stride, "dilation": dilation,
                    "padding": padding, "output_padding": output_padding}
            try:
                conv = torch.nn.ConvTranspose2d(4, 2, 2, stride=stride, dilation=dilation, padding=padding,
                                                output_padding=output_padding)
                want = tuple(conv(x).shape)
            except (RuntimeError, ValueError):
                want = None
            assert _ours_or_error([1, 4, 6, 5], node) == want, node


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate"])
def test_pad_accepts_what_pytorch_accepts(torch, mode: str) -> None:
    """costmodel let reflect and replicate pad one pair on a 4-d map, which F.pad refuses (it pads 1 pair on 2-d
    or 3-d, 2 on 3-d or 4-d, 3 on 4-d or 5-d tensors; differential fuzz, seed 1: pads [2, 2], replicate). Over
    ranks 2-5 and 0-4 pairs, accepted exactly when F.pad runs, with its output shape."""
    for rank in (2, 3, 4, 5):
        shape = [2, 3, 5, 6, 7][:rank]
        for pairs in range(5):
            pads = [1, 2] * pairs
            try:
                want = tuple(torch.nn.functional.pad(torch.zeros(shape), pads, mode=mode).shape)
            except (RuntimeError, NotImplementedError, ValueError):
                want = None
            if pairs > rank - 1:  # a batch dim costmodel never pads (F.pad would, in constant mode)
                want = None
            assert _ours_or_error(shape, {"op": "pad", "pads": pads, "mode": mode}) == want, (shape, pads)


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "bicubic"])
def test_upsample_accepts_what_pytorch_accepts(torch, mode: str) -> None:
    """align_corners with mode nearest: nn.Upsample refuses it, costmodel counted it (differential fuzz, seed
    9711). Accepted exactly when nn.Upsample runs, with its shape."""
    x = torch.zeros(1, 2, 5, 7)
    for align_corners in (None, False, True):
        for factor in (2, 1.5, 0.6):
            try:
                want = tuple(torch.nn.Upsample(scale_factor=factor, mode=mode, align_corners=align_corners)(x).shape)
            except ValueError:
                want = None
            node = {"op": "upsample", "scale_factor": factor, "mode": mode, "align_corners": align_corners}
            assert _ours_or_error([1, 2, 5, 7], node) == want, node


@pytest.mark.parametrize(("equation", "shapes"), [
    ("bij,bkj->bik", [(2, 3, 4), (2, 5, 4)]),  # a plain contraction: the bmm of every index
    ("bij,bkj->bik", [(2, 3, 1), (2, 5, 4)]),  # j broadcast: summed out of the second operand first, no bmm
    ("bijl,bkj->bik", [(2, 3, 4, 6), (2, 5, 4)]),  # l in one operand only: summed out first, bmm over j
    ("bi,bk->bik", [(2, 3), (2, 5)]),  # no summed index: an outer product, no bmm
    ("bij,bkj->bik", [(1, 3, 4), (2, 5, 4)]),  # b broadcast in the output: the bmm at batch 2
    ("bij->bi", [(2, 3, 4)]),  # one operand: a sum
])
def test_einsum_counted_part_is_what_flop_counter_mode_sees(torch, equation: str, shapes: list) -> None:
    """The fuzzer's torch kind found 'bij,bkj->bik' with j of size 1 in one operand: fvcore's count (ours) is the
    product of every index, 64 MACs, and FlopCounterMode saw no bmm (seed 61283). torch_counted_macs now compares an
    einsum with the bmm PyTorch runs; its figure is FlopCounterMode's / 2 here, case by case."""
    from torch.utils.flop_counter import FlopCounterMode

    from costmodel.bridges.torch import einsum_bmm_macs

    operands = [torch.randn(shape) for shape in shapes]
    with FlopCounterMode(display=False) as counter:
        torch.einsum(equation, *operands)
    terms, result = equation.split("->")
    assert einsum_bmm_macs(shapes, terms.split(","), result) == counter.get_total_flops() // 2


def test_same_padding_is_tensorflow_style(torch) -> None:
    graph, module, (x,) = single(torch, """
        name: t
        inputs: {x: [3, 8, 8]}
        nodes: [{name: c, op: conv2d, out: 5, kernel: 3, stride: 2, padding: same}]
    """)
    conv = module.layers["c"]
    # 8 -> ceil(8/2) = 4: total padding (4-1)*2 + 3 - 8 = 1, all of it after (TensorFlow, timm's Conv2dSame)
    want = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (0, 1, 0, 1)), conv.weight, conv.bias, stride=2)
    with torch.no_grad():
        torch.testing.assert_close(module(x), want)


def test_channels_first_layer_norm_and_layer_scale(torch) -> None:
    _, module, (x,) = single(torch, """
        name: t
        inputs: {x: [6, 3, 5]}
        nodes:
          - {name: norm, op: layer_norm, channels_first: true}
          - {name: gamma, op: layer_scale, channels_first: true}
    """)
    norm, gamma = module.layers["norm"], module.layers["gamma"]
    with torch.no_grad():
        norm.weight.normal_()
        gamma.gamma.normal_()
        nhwc = torch.nn.functional.layer_norm(x.permute(0, 2, 3, 1), (6,), norm.weight, norm.bias, norm.eps)
        want = (nhwc * gamma.gamma).permute(0, 3, 1, 2)
        torch.testing.assert_close(module(x), want)


def test_global_response_norm_by_hand(torch) -> None:
    _, module, _ = single(torch, """
        name: t
        inputs: {x: [2, 1, 2]}
        nodes: [{name: grn, op: grn, channels_first: true}]
    """, batch=1)
    grn = module.layers["grn"]
    with torch.no_grad():
        grn.weight.copy_(torch.tensor([1.0, 2.0]))
        grn.bias.copy_(torch.tensor([0.5, -1.0]))
        x = torch.tensor([[[[3.0, 4.0]], [[6.0, 8.0]]]])
        # spatial L2 norms 5 and 10, their channel mean 7.5: n = 2/3, 4/3; out = x + bias + weight * x * n
        want = torch.tensor([[[[3 + 0.5 + 3 * 2 / 3, 4 + 0.5 + 4 * 2 / 3]],
                              [[6 - 1 + 2 * 6 * 4 / 3, 8 - 1 + 2 * 8 * 4 / 3]]]])
        torch.testing.assert_close(module(x), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", ["tokens", "nhwc", "nchw"])
def test_patch_embed_layouts(torch, layout: str) -> None:
    _, module, (x,) = single(torch, f"""
        name: t
        inputs: {{x: [3, 8, 12]}}
        nodes: [{{name: proj, op: patch_embed, out: 5, patch: 4, layout: {layout}}}]
    """)
    proj = module.layers["proj"]
    conv = torch.nn.functional.conv2d(x, proj.weight, proj.bias, stride=4)  # [2, 5, 2, 3]
    want = {"tokens": conv.flatten(2).transpose(1, 2), "nhwc": conv.permute(0, 2, 3, 1), "nchw": conv}[layout]
    with torch.no_grad():
        torch.testing.assert_close(module(x), want)


def test_class_token_pos_embed_and_wide_learned_bias(torch) -> None:
    _, module, (x,) = single(torch, """
        name: t
        inputs: {x: [4, 3]}
        nodes:
          - {name: cls, op: class_token, tokens: 2}
          - {name: pos, op: pos_embed}
          - {name: wide, op: learned_bias, shape: [5, 1, 1]}
    """)
    cls, pos, wide = (module.layers[p] for p in ("cls", "pos", "wide"))
    with torch.no_grad():
        out = module(x)
        tokens = torch.cat([cls.cls_token.expand(2, 2, 3), x], dim=1) + pos.weight  # [2, 6, 3]
        torch.testing.assert_close(out, tokens[:, None] + wide.weight)  # [2, 5, 6, 3]


def test_relative_position_bias_gathers_by_offset(torch) -> None:
    w, heads = 3, 2
    _, module, (q,) = single(torch, f"""
        name: t
        inputs: {{q: [{heads}, {w * w}, 4]}}
        nodes: [{{name: rpb, op: relative_position_bias, window: {w}}}]
    """)
    table = module.layers["rpb"].relative_position_bias_table
    with torch.no_grad():
        bias = module(q)
    for i in range(w * w):
        for j in range(w * w):
            dy, dx = i // w - j // w, i % w - j % w  # row and column offset of token i from token j
            row = (dy + w - 1) * (2 * w - 1) + (dx + w - 1)
            torch.testing.assert_close(bias[0, :, i, j], table[row])


def test_shift_window_mask_separates_the_rolled_regions(torch) -> None:
    size, w, s = 8, 4, 2
    graph, module, _ = single(torch, f"""
        name: t
        inputs: {{x: [{size}, {size}, {w * w}]}}
        nodes:
          - {{name: shifted, op: roll, shifts: [-{s}, -{s}], dims: [1, 2]}}
          - {{name: windows, op: window_partition, window: {w}}}
          - {{name: scores, op: reshape, shape: [1, {w * w}, {w * w}]}}
          - {{name: masked, op: shift_window_mask, window: {w}}}
    """, batch=1)
    with torch.no_grad():
        mask = module(torch.zeros(graph.inputs["x"]))[:, 0]  # [nW, L, L]

    def region(v: int) -> int:  # which of the three strips of the rolled map a coordinate lies in
        return 0 if v < size - w else 1 if v < size - s else 2

    per_row = size // w
    for win in range(per_row * per_row):
        labels = [(region(win // per_row * w + t // w), region(win % per_row * w + t % w)) for t in range(w * w)]
        want = torch.tensor([[0.0 if a == b else -100.0 for b in labels] for a in labels])
        torch.testing.assert_close(mask[win], want)


def test_shift_window_mask_without_a_roll_is_an_error(torch) -> None:
    graph = graph_of("""
        name: t
        inputs: {x: [8, 8, 16]}
        nodes:
          - {op: window_partition, window: 4}
          - {op: reshape, shape: [1, 16, 16]}
          - {name: masked, op: shift_window_mask, window: 4}
    """)
    with pytest.raises(BridgeError, match="masked: .*not fed by a roll"):
        build_module(graph)


def test_attention_matches_sdpa(torch) -> None:
    _, module, (x,) = single(torch, """
        name: t
        inputs: {x: [5, 8]}
        nodes: [{name: attn, op: attention, heads: 2, causal: true, out: 6}]
    """)
    attn = module.layers["attn"]
    q, k, v = attn.qkv(x).reshape(2, 5, 3, 2, 4).permute(2, 0, 3, 1, 4)
    y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    with torch.no_grad():
        torch.testing.assert_close(module(x), attn.proj(y.transpose(1, 2).reshape(2, 5, 8)))


def test_sdpa_folds_causal_into_a_mask(torch) -> None:
    _, module, (q, k, v, mask) = single(torch, """
        name: t
        inputs: {q: [2, 4, 3], k: [2, 4, 3], v: [2, 4, 5], mask: [2, 4, 4]}
        nodes: [{name: a, op: sdpa, causal: true, inputs: [q, k, v, mask]}]
    """)
    scores = q @ k.transpose(-2, -1) / 3**0.5 + mask
    scores = scores.masked_fill(torch.ones(4, 4, dtype=torch.bool).triu(1), float("-inf"))
    with torch.no_grad():
        torch.testing.assert_close(module(q, k, v, mask), scores.softmax(-1) @ v)


SWIN_BLOCK = """
name: t
inputs: {x: [8, 8, 16]}
vars: {heads: 2, hd: 8, dim: 16, w: 4, s: 2}
blocks:
  heads_first:
    nodes:
      - {op: reshape, shape: [-1, heads, hd]}
      - {op: transpose, dim0: 1, dim1: 2}
nodes:
  - {name: shifted, op: roll, shifts: [-s, -s], dims: [1, 2]}
  - {name: windows, op: window_partition, window: w}
  - {name: qkv, op: linear, out: 3 * dim}
  - {name: qkv_split, op: chunk, chunks: 3, dim: 2}
  - {name: q, block: heads_first, inputs: "qkv_split:0"}
  - {name: k, block: heads_first, inputs: "qkv_split:1"}
  - {name: v, block: heads_first, inputs: "qkv_split:2"}
  - {name: q_scaled, op: scale, value: hd ** -0.5, inputs: q}
  - {name: k_t, op: transpose, dim0: 2, dim1: 3, inputs: k}
  - {name: scores, op: matmul, inputs: [q_scaled, k_t]}
  - {name: rel_pos, op: relative_position_bias, window: w, inputs: q}
  - {name: biased, op: add, broadcast: true, inputs: [scores, rel_pos]}
  - {name: masked, op: shift_window_mask, window: w}
  - {name: softmax, op: softmax}
  - {name: attn_v, op: matmul, inputs: [softmax, v]}
  - {op: transpose, dim0: 1, dim1: 2}
  - {op: reshape, shape: [-1, dim]}
  - {name: proj, op: linear, out: dim}
  - {name: merge, op: window_reverse, window: w, height: 8, width: 8}
  - {name: unshift, op: roll, shifts: [s, s], dims: [1, 2]}
"""


def test_fused_window_attention_equals_the_swin_spec_path(torch) -> None:
    """The attention op with window, shift and rel_pos_bias computes what swin_t.yaml spells out op by op."""
    spelled, spelled_module, (x,) = single(torch, SWIN_BLOCK)
    _, fused, _ = single(torch, """
        name: t
        inputs: {x: [8, 8, 16]}
        nodes: [{name: attn, op: attention, heads: 2, window: 4, shift: 2, rel_pos_bias: true}]
    """)
    attn, layers = fused.layers["attn"], spelled_module.layers
    attn.qkv.load_state_dict(layers["qkv"].state_dict())
    attn.proj.load_state_dict(layers["proj"].state_dict())
    with torch.no_grad():
        attn.rel_pos.relative_position_bias_table.copy_(layers["rel_pos"].relative_position_bias_table)
        torch.testing.assert_close(fused(x), spelled_module(x))
    assert module_params(fused) == module_params(spelled_module)


def test_windows_round_trip_and_views(torch) -> None:
    _, module, (x,) = single(torch, """
        name: t
        inputs: {x: [8, 12, 3]}
        nodes:
          - {op: window_partition, window: 4}
          - {name: back, op: window_reverse, window: 4, height: 8, width: 12}
          - {name: parts, op: split, sizes: [1, 2], dim: 3}
          - {name: tail, op: slice, dim: 2, start: -5, step: 2, inputs: "parts:1"}
    """)
    with torch.no_grad():
        torch.testing.assert_close(module(x), x[:, :, -5::2, 1:])


# ---- the module tree, hooks, errors --------------------------------------------------------------------------


def test_module_tree_mirrors_paths(torch) -> None:
    graph = load_graph(ROOT / "arch_specs/swin_t.yaml")
    module = build_module(graph)
    qkv = module.layers["layers.0.blocks.0.attn.qkv"]
    assert isinstance(qkv, torch.nn.Linear)
    # `layers` is SpecModule's own attribute, so the spec's top-level `layers` is registered as `layers_`
    assert module.get_submodule("layers_.0.blocks.0.attn.qkv") is qkv
    assert "patch_embed.proj.weight" in module.state_dict()
    assert "layers.0.blocks.0.add1" in module.functional
    assert set(module.layers).isdisjoint(module.functional)
    assert len(module.layers) + len(module.functional) == len(graph.layers)


def test_forward_hooks_see_every_module_layer(torch, all_ops: Graph) -> None:
    module = build_module(all_ops)
    seen: dict[str, tuple[int, ...]] = {}

    def recorder(path: str):
        def hook(mod, args, out) -> None:  # returning None keeps the output
            seen[path] = tuple(out.shape)
        return hook

    for path, layer_module in module.layers.items():
        layer_module.register_forward_hook(recorder(path))
    with torch.no_grad():
        module(*example_inputs(all_ops))
    assert seen == {layer.path: layer.cost.outputs[0] for layer in all_ops.layers if layer.path in module.layers}
    assert {"c_same", "bn", "attn", "win_attn", "rpb", "masked", "cls"} <= set(seen)


def test_check_shapes_names_the_layer(torch, monkeypatch: pytest.MonkeyPatch) -> None:
    from costmodel.bridges import torch_ops

    text = """
        name: t
        inputs: {x: [4]}
        nodes: [{name: fc, op: linear, out: 3}, {name: act, op: relu}]
    """
    monkeypatch.setitem(torch_ops.BUILDERS, "relu", lambda layer, ctx: lambda x: x[:, :2])
    module = build_module(graph_of(text), check_shapes=True)
    with pytest.raises(BridgeError, match=r"act: relu output 0: PyTorch gives shape \[2, 2\], the graph "
                                          r"inferred \[2, 3\]"):
        module(torch.zeros(2, 4))
    with pytest.raises(BridgeError, match="takes 1 input"):
        module()


def test_op_without_implementation_names_op_and_path(torch, monkeypatch: pytest.MonkeyPatch) -> None:
    from costmodel.bridges import torch_ops

    monkeypatch.delitem(torch_ops.BUILDERS, "gelu")
    with pytest.raises(BridgeError, match=r"stages\.0\.blocks\.0\.act: field 'op': op 'gelu' has no PyTorch"):
        build_module(load_graph(ROOT / "arch_specs/convnext_t.yaml"))


def test_example_inputs_follow_the_graph(torch, all_ops: Graph) -> None:
    a, b = example_inputs(all_ops, seed=3), example_inputs(all_ops, seed=3)
    assert [tuple(t.shape) for t in a] == list(all_ops.inputs.values())
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert example_inputs(all_ops, dtype=torch.float64)[0].dtype == torch.float64


def test_missing_torch_is_a_bridge_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(BridgeError, match=r"PyTorch is not installed: pip install 'costmodel\[torch\]'"):
        require_torch()
    with pytest.raises(BridgeError, match="PyTorch is not installed"):
        build_module(graph_of("name: t\ninputs: {x: [4]}\nnodes: [{op: relu}]"))
    assert issubclass(BridgeError, UserError)  # the CLI's user_errors turns it into one line and exit code 2
