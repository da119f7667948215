"""Eager copies of non-contiguous views (latency/contiguity.py).

Independent checks: PyTorch itself says which reshapes are views (``Tensor.view`` raises where ``reshape`` would
copy) and what strides they get; the copies of small specs are written by hand from PyTorch's kernels' rules
(conv / layer_norm / softmax make their input contiguous, GEMMs and elementwise ops read strided views), and each
copy's bytes from the tensor's shape: elements x 2 bytes (fp16) read and written once.
"""

from __future__ import annotations

import itertools
import math
import random

import pytest
import yaml

from costmodel import load_graph
from costmodel.hardware import load_profile
from costmodel.latency import estimate, kernel_terms
from costmodel.latency.contiguity import eager_layout, is_contiguous, view_strides


def _reshapes(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Targets that merge two neighbouring dims, split one, or flatten everything."""
    out = [(math.prod(shape),)]
    for d in range(len(shape) - 1):
        out.append((*shape[:d], shape[d] * shape[d + 1], *shape[d + 2:]))
    for d, size in enumerate(shape):
        for f in (2, 3):
            if size % f == 0 and size > f:
                out.append((*shape[:d], f, size // f, *shape[d + 1:]))
    return out


def test_view_strides_agree_with_pytorch() -> None:
    torch = pytest.importorskip("torch")
    rng = random.Random(0)
    checked = copies = 0
    for _ in range(200):
        rank = rng.randint(2, 4)
        shape = tuple(rng.choice((1, 2, 3, 4, 6)) for _ in range(rank))
        perm = list(range(rank))
        rng.shuffle(perm)
        base = torch.empty(shape).permute(perm)
        if rng.random() < 0.3:  # a slice along a dim, as split / narrow make
            d = rng.randrange(rank)
            if base.shape[d] > 1:
                base = base.narrow(d, 0, base.shape[d] - 1)
        old, strides = tuple(base.shape), tuple(base.stride())
        assert is_contiguous(old, strides) == base.is_contiguous()
        for new in _reshapes(old):
            ours = view_strides(old, strides, new)
            try:
                theirs = tuple(base.view(new).stride())
            except RuntimeError:
                theirs = None
                copies += 1
            if theirs is not None and ours is not None:  # strides of size-1 dims are arbitrary in both
                theirs = tuple(s for s, n in zip(theirs, new, strict=True) if n != 1)
                ours = tuple(s for s, n in zip(ours, new, strict=True) if n != 1)
            assert ours == theirs, (old, strides, new)
            checked += 1
    assert checked > 500 and copies > 50  # both outcomes exercised


GPU_SPEC = """\
name: t
dtype: fp16
inputs: {x: [64, 8, 8]}
nodes:
  - {name: conv, op: conv2d, out: 64, kernel: 1}
  - {name: flat, op: flatten, start_dim: 2}
  - {name: tokens, op: transpose, dim0: 1, dim1: 2}
  - {name: norm, op: layer_norm}
  - {name: fc, op: linear, inputs: tokens, out: 64}
  - {name: back, op: transpose, dim0: 1, dim1: 2}
  - {name: merged, op: reshape, shape: [4096]}
  - {name: head, op: linear, out: 10}
  - {name: split, op: split, inputs: conv, sizes: [32, 32], dim: 1}
  - {name: dw, op: conv2d, inputs: "split:1", out: 32, kernel: 3, padding: 1, groups: 32}
  - {name: img, op: reshape, inputs: fc, shape: [8, 8, 64]}
  - {name: cl, op: permute, dims: [0, 3, 1, 2]}
  - {name: conv_cl, op: conv2d, out: 16, kernel: 3, padding: 1}
"""
BATCH = 4


def test_the_copies_eager_pytorch_makes(write_spec) -> None:
    graph = load_graph(write_spec(GPU_SPEC), batch=BATCH)
    layout = eager_layout(graph, load_profile("rtx3090"), "none")
    copied = {path: [(c.ref.node, c.elements) for c in copies] for path, copies in layout.copies.items()}
    tokens = BATCH * 64 * 64
    assert copied == {
        "norm": [("tokens", tokens)],  # layer_norm of a transposed view: expect_contiguous copies it
        # fc reads the transposed view as a GEMM operand: no copy
        "head": [("merged", tokens)],  # fc's output transposed back, then flattened: no view exists, reshape copies
        "dw": [("split", BATCH * 32 * 64)],  # a channel slice of an NCHW batch into a conv
    }  # img: [B, N, C] -> [B, C, H, W] permuted is channels-last: the conv takes it as it is
    assert layout.channels_last == {"conv_cl"}


def test_no_copies_at_batch_one_for_a_channel_slice(write_spec) -> None:
    graph = load_graph(write_spec(GPU_SPEC), batch=1)
    layout = eager_layout(graph, load_profile("rtx3090"), "none")
    assert "dw" not in layout.copies  # [1, 64, H, W] split along channels: each part is contiguous


def test_copies_only_in_eager(write_spec) -> None:
    """Eager PyTorch copies the same views on a GPU and a CPU (at::matmul's reshape, the conv's and layer norm's
    .contiguous() are device-generic ATen code); compiled and fused runtimes copy none."""
    graph = load_graph(write_spec(GPU_SPEC), batch=BATCH)
    gpu = eager_layout(graph, load_profile("rtx3090"), "none")
    for hw, fusion in itertools.product(("rtx3090", "epyc_zen3_vm_b", "xeon6_gnr_vm"), ("none", "compile", "epilogue")):
        layout = eager_layout(graph, load_profile(hw), fusion)
        assert bool(layout.copies) == (fusion == "none"), (hw, fusion)
        if fusion == "none":
            assert layout.copies == gpu.copies, hw


CONVNEXT_BLOCK = {  # ConvNeXt-T's block as timm runs it: LayerNorm2d, dwconv, permute to NHWC, LayerNorm, linear
    "name": "cnx", "inputs": {"x": [16, 8, 8]},
    "nodes": [{"name": "stem_norm", "op": "layer_norm", "channels_first": True},
              {"name": "dw", "op": "conv2d", "out": 16, "kernel": 7, "padding": 3, "groups": 16},
              {"name": "nhwc", "op": "permute", "dims": [0, 2, 3, 1]},
              {"name": "norm", "op": "layer_norm"}, {"name": "fc", "op": "linear", "out": 32}],
}


def test_cpu_copies_follow_layernorm2d_channels_last(write_spec) -> None:
    """On a CPU, LayerNorm2d's result is a channels-last view and the depthwise conv keeps that layout, so the
    permute to NHWC is contiguous and the LayerNorm after it copies nothing; PyTorch agrees (the strides the norm
    receives). With the LayerNorm2d left out the dwconv's output is NCHW and the norm copies the permuted view."""
    torch = pytest.importorskip("torch")
    from costmodel.bridges.torch import build_module, example_inputs

    for keep in (True, False):
        spec = {**CONVNEXT_BLOCK, "nodes": CONVNEXT_BLOCK["nodes"][0 if keep else 1:]}
        graph = load_graph(write_spec(yaml.safe_dump(spec)), batch=1)
        layout = eager_layout(graph, load_profile("xeon6_gnr_vm"), "none")
        module = build_module(graph).eval()
        seen: list[bool] = []
        module.layers["norm"].register_forward_pre_hook(
            lambda _m, args, seen=seen: seen.append(args[0].is_contiguous()))
        with torch.inference_mode():
            module(*example_inputs(graph))
        assert seen == [keep]
        assert ("norm" in layout.copies) == (not keep)


def test_copy_kernels_move_the_view_once_each_way(write_spec) -> None:
    graph = load_graph(write_spec(GPU_SPEC), batch=BATCH)
    profile = load_profile("rtx3090")
    terms = kernel_terms(graph, profile, "fp16", "none")
    copies = {t.name: t for t in terms if t.name.endswith(":copy")}
    assert set(copies) == {"norm:copy", "head:copy", "dw:copy"}
    assert copies["norm:copy"].traffic[0].dram_read == copies["norm:copy"].traffic[0].dram_written == \
        BATCH * 64 * 64 * 2
    assert [t.name for t in terms].index("norm:copy") == [t.name for t in terms].index("norm") - 1  # just before
    # a channels-last input runs the 3x3 conv NHWC: no NCHW <-> NHWC transposes (latency/layout.py) around it
    assert next(t for t in terms if t.name == "conv_cl").layout_bytes == 0
    with_copies = estimate(graph, profile, dtype="fp16").summary
    compiled = {t.name for t in kernel_terms(graph, profile, "fp16", "compile")}
    assert not any(name.endswith(":copy") for name in compiled)
    assert with_copies.kernels == len(terms)


def _reshape_clones(torch, a, b) -> int:
    """Elements PyTorch copies inside ``torch.matmul(a, b)``'s reshapes (CPU profiler: ``aten::clone`` under
    ``aten::reshape``; the same ``_matmul_impl`` runs on every device)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        torch.matmul(a, b)
    total = 0
    for event in prof.events():
        parent = event.cpu_parent
        if event.name == "aten::clone" and parent is not None and parent.name == "aten::reshape":
            total += math.prod(event.input_shapes[0])
    return total


def _cublas_clones(torch, a, b) -> int:
    """Elements CUDA ``bmm`` clones because cuBLAS cannot take a matrix batch's strides: the operands as
    ``_matmul_impl`` hands them over (PyTorch's own expand + reshape), then ``prepare_batch_matrix_for_cublas``'s test
    (aten/src/ATen/native/cuda/Blas.cpp: one of the last two strides 1, the other at least the size it steps over)."""
    if a.dim() < 3 and b.dim() < 3:
        return 0
    if b.dim() <= 2 and a.dim() >= 3 and all(a.stride(i) == a.stride(i + 1) * a.shape[i + 1]
                                            for i in range(a.dim() - 2)):
        return 0  # folded into one mm
    batch = list(torch.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    total = 0
    for x in (a, b):
        y = x.expand(*batch, *x.shape[-2:]).reshape(math.prod(batch), *x.shape[-2:])
        rows, cols = y.shape[1], y.shape[2]
        row_major = y.stride(2) == 1 and y.stride(1) >= max(1, cols)
        if not (row_major or (y.stride(1) == 1 and y.stride(2) >= max(1, rows))):
            total += y.numel()
    return total


def test_matmul_copies_agree_with_pytorch() -> None:
    torch = pytest.importorskip("torch")
    from costmodel.latency.contiguity import matmul_copies

    def ours(a, b) -> int:
        return sum(matmul_copies([tuple(a.shape), tuple(b.shape)], [tuple(a.stride()), tuple(b.stride())]))

    n, heads, tokens, d = 2, 3, 5, 4
    q, k, v = torch.randn(n, tokens, 3, heads, d).permute(2, 0, 3, 1, 4).unbind(0)  # timm's qkv head views
    cases = [
        (q * 0.5, k.transpose(-2, -1)),  # Swin: q*scale keeps q's layout; k^T: both copied
        (q, k.transpose(-2, -1)),
        (torch.randn(n, heads, tokens, tokens), v),  # attn @ v: v copied
        (torch.randn(n, heads, tokens, d), torch.randn(n, heads, d, tokens)),  # contiguous: nothing
        (torch.randn(n, heads, d, tokens).transpose(-2, -1), torch.randn(n, heads, d, tokens)),  # mT: nothing
        (torch.randn(n, tokens, d), torch.randn(d, 6)),  # folded into one mm: nothing
        (torch.randn(1, heads, tokens, d), torch.randn(n, heads, d, tokens)),  # broadcast batch: expanded copy
    ]
    rng = random.Random(1)
    for _ in range(60):  # random permutations of both operands' dims, batch dims 1-2, a 2-d operand sometimes
        rank = rng.choice((3, 4))
        batch = [rng.choice((1, 2, 3)) for _ in range(rank - 2)]
        m, kk, p = rng.choice((2, 5)), rng.choice((3, 4)), rng.choice((2, 6))
        a = torch.randn(*batch, m, kk)
        b = torch.randn(*batch, kk, p) if rng.random() < 0.8 else torch.randn(kk, p)
        for tensor in (a, b):
            perm = list(range(tensor.dim()))
            rng.shuffle(perm)
            inverse = [perm.index(i) for i in range(tensor.dim())]
            tensor.data = tensor.permute(perm).contiguous().permute(inverse)  # same shape, other memory order
        cases.append((a, b))
    copied = 0
    for a, b in cases:
        theirs = _reshape_clones(torch, a, b) + _cublas_clones(torch, a, b)
        assert ours(a, b) == theirs, (a.shape, a.stride(), b.shape, b.stride())
        copied += theirs > 0
    assert ours(*cases[0]) == 2 * n * heads * tokens * d  # q and k
    assert ours(*cases[2]) == n * heads * tokens * d and ours(*cases[3]) == ours(*cases[4]) == ours(*cases[5]) == 0
    assert ours(*cases[6]) == n * heads * tokens * d
    assert copied >= 10  # the random cases exercise the copy branch


LAYERNORM2D_NET = {  # ConvNeXt's stem and downsample norms: an NCHW map into LayerNorm2d, then one channels-last
    "name": "ln2d", "inputs": {"x": [3, 8, 8]},
    "nodes": [{"name": "stem", "op": "conv2d", "out": 16, "kernel": 1},
              {"name": "stem_norm", "op": "layer_norm", "channels_first": True},
              {"name": "conv", "op": "conv2d", "out": 16, "kernel": 3, "padding": 1},
              {"name": "norm", "op": "layer_norm", "channels_first": True},
              {"name": "head", "op": "softmax", "dim": -1}],
}


def _contiguous_copies(torch, module, inputs) -> int:
    """Activation elements eager PyTorch copies in ``.contiguous()`` calls running ``module`` (CPU profiler: an
    ``aten::contiguous`` event is recorded only where the tensor was not contiguous; a conv's weight made
    channels-last for a channels-last input, a parameter's shape, is left out: weights are not views)."""
    from torch.profiler import ProfilerActivity, profile

    weights = {tuple(p.shape) for p in module.parameters()}
    with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        module(*inputs)
    return sum(math.prod(event.input_shapes[0]) for event in prof.events()
               if event.name == "aten::contiguous" and tuple(event.input_shapes[0]) not in weights)


@pytest.mark.parametrize("view", [False, True])
def test_cpu_layernorm2d_copies_as_pytorch(write_spec, view: bool) -> None:
    """On a CPU, LayerNorm2d (``permute(0, 2, 3, 1)``, ``F.layer_norm``, ``permute(0, 3, 1, 2)``) copies an NCHW input
    (the permuted view is not contiguous) and not a channels-last one, and returns a channels-last map that the conv
    after it keeps; the softmax then copies it. PyTorch's profiler counts the copied elements; the model charges the
    same ones, whether or not an unrelated view (a reshape to the same shape) is in the graph."""
    torch = pytest.importorskip("torch")
    from costmodel.bridges.torch import build_module, example_inputs

    nodes = list(LAYERNORM2D_NET["nodes"])
    if view:
        nodes.insert(1, {"name": "same", "op": "reshape", "shape": [16, 8, 8]})
    graph = load_graph(write_spec(yaml.safe_dump({**LAYERNORM2D_NET, "nodes": nodes})), batch=1)
    layout = eager_layout(graph, load_profile("xeon6_gnr_vm"), "none")
    assert {path: [c.elements for c in copies] for path, copies in layout.copies.items()} == \
        {"stem_norm": [16 * 8 * 8], "head": [16 * 8 * 8]}
    assert layout.channels_last == {"conv"}
    module = build_module(graph).eval()
    assert _contiguous_copies(torch, module, example_inputs(graph)) == 2 * 16 * 8 * 8
