"""ONNX -> spec import (docs/onnx-import.md): PyTorch models exported with the legacy exporter, imported and
analyzed. Params are checked against ``sum(p.numel())`` of the PyTorch model, MACs against hand formulas, and the
zoo round trip (spec -> PyTorch -> ONNX -> spec) against the original spec's counts. Without onnx or PyTorch
these tests skip, unless ``COSTMODEL_REQUIRE_TORCH=1`` (CI), where they fail.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from typer.testing import CliRunner

from costmodel.analysis import Analysis, analyze_graph
from costmodel.api import load_graph
from costmodel.cli import app
from costmodel.errors import BridgeError
from costmodel.graph import Graph, build_graph
from costmodel.spec.loader import parse_spec

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("onnx")  # every test here needs onnx (the torch ones need torch too)


def export(torch: ModuleType, model, args: tuple, path: Path, **options) -> Path:
    """The legacy (TorchScript) exporter; TrainingMode.PRESERVE keeps BatchNorm (EVAL folds it into the conv)."""
    options.setdefault("training", torch.onnx.TrainingMode.PRESERVE)
    options.setdefault("do_constant_folding", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), args, str(path), dynamo=False, **options)
    return path


def imported(path: Path, **options) -> tuple[dict, Graph, Analysis]:
    """Import through the YAML text (what the CLI writes), then build and analyze it."""
    from costmodel.bridges.onnx_import import import_onnx

    text = import_onnx(path, **options)
    assert text.startswith("# Imported from ")
    data = yaml.safe_load(text)
    graph = build_graph(parse_spec(data))
    return data, graph, analyze_graph(graph)


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def ops_of(graph: Graph) -> list[str]:
    return [layer.op for layer in graph.layers]


# ---- hand-built PyTorch models ------------------------------------------------------------------------


def small_cnn(torch: ModuleType):
    nn = torch.nn

    class SmallCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            self.pool = nn.MaxPool2d(2)
            self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=2, dilation=2, groups=2)
            self.act2 = nn.ReLU6()
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(32, 10)

        def forward(self, x):
            x = self.pool(torch.relu(self.bn1(self.conv1(x))))
            x = self.gap(self.act2(self.conv2(x)))
            return self.fc(torch.flatten(x, 1))

    return SmallCNN()


def test_small_cnn(torch: ModuleType, tmp_path: Path) -> None:
    model = small_cnn(torch)
    path = export(torch, model, (torch.randn(2, 3, 32, 32),), tmp_path / "cnn.onnx")
    data, graph, analysis = imported(path)
    n = 2
    conv1 = n * 16 * 32 * 32 * 3 * 9  # out elements x Cin x k^2
    bn1 = 2 * n * 16 * 32 * 32  # fvcore: 2 per element with affine
    side2 = (16 + 2 * 2 - 2 * (3 - 1) - 1) // 2 + 1  # 8: pool 32 -> 16, then stride 2, pad 2, dilation 2
    conv2 = n * 32 * side2 * side2 * (16 // 2) * 9
    gap = n * 32 * side2 * side2  # 1 per input element
    fc = n * 32 * 10
    assert analysis.totals.params == n_params(model) == 16 * 27 + 32 + 32 * 8 * 9 + 32 + 330
    assert analysis.totals.macs == conv1 + bn1 + conv2 + gap + fc
    assert analysis.totals.activations == n * 16 * 32 * 32 + n * 32 * side2 * side2 + n * 10
    assert ops_of(graph) == ["conv2d", "batch_norm", "relu", "max_pool2d", "conv2d", "relu6", "global_avg_pool",
                             "flatten", "linear"]
    assert data["batch"] == 2 and data["inputs"] == {"input_1": [3, 32, 32]}
    assert data["metadata"]["source"] == "cnn.onnx"
    conv2_node = next(node for node in data["nodes"] if node["name"] == "conv2")
    assert conv2_node == {"name": "conv2", "op": "conv2d", "inputs": ["pool"], "out": 32, "kernel": 3, "stride": 2,
                          "padding": 2, "dilation": 2, "groups": 2}


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
def test_reflect_pad_of_the_width_alone(torch: ModuleType, tmp_path: Path, mode: str) -> None:
    """An ONNX Pad that pads only W of an NCHW map became one (before, after) pair, which F.pad's reflect and
    replicate refuse on a 4-d tensor (and costmodel now too); the import keeps the H pair (zeros), so the spec
    builds and runs in PyTorch with the exported model's output shape."""
    from costmodel.bridges.torch import build_module, example_inputs

    class PadW(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.pad(x, (2, 1, 0, 0), mode=mode)

    x = torch.randn(2, 3, 5, 6)
    path = export(torch, PadW(), (x,), tmp_path / "padw.onnx")
    data, graph, _ = imported(path)
    want = tuple(PadW()(x).shape)  # (2, 3, 5, 9)
    assert graph.layers[-1].op == "pad" and tuple(graph.layers[-1].cost.outputs[0]) == want
    with torch.no_grad():
        assert tuple(build_module(graph, check_shapes=True)(*example_inputs(graph)).shape) == want


@pytest.mark.parametrize(("norm", "options"), [("LayerNorm", {}), ("LayerNorm", {"bias": False}),
                                               ("LayerNorm", {"elementwise_affine": False}), ("BatchNorm2d", {}),
                                               ("BatchNorm2d", {"affine": False})])
def test_norm_weights_are_counted_only_where_the_model_has_them(torch: ModuleType, tmp_path: Path, norm: str,
                                                                options: dict) -> None:
    """PyTorch's exporter writes a missing LayerNorm bias, and the scale and bias of a norm without affine weights, as
    Constant nodes of zeros and ones; the import counted them as weights (LayerNorm(bias=False) 16 params for 8,
    BatchNorm2d(affine=False) 16 for 0; found by an ONNX round trip of the fuzzer's random specs). Params equal
    sum(p.numel()) of the exported module."""
    module = getattr(torch.nn, norm)(8, **options)
    shape = (2, 8, 4, 4) if norm == "BatchNorm2d" else (2, 5, 8)
    path = export(torch, module, (torch.randn(*shape),), tmp_path / "norm.onnx")
    _, graph, analysis = imported(path)
    assert analysis.totals.params == n_params(module)
    assert [layer.op for layer in graph.layers] == ["batch_norm" if norm == "BatchNorm2d" else "layer_norm"]


def test_folded_batch_norm(torch: ModuleType, tmp_path: Path) -> None:
    """The exporter's default (TrainingMode.EVAL) folds each BatchNorm into the conv before it: the BN's 2C
    params become the conv's C bias (conv1 had none) and the BN's MACs disappear."""
    model = small_cnn(torch)
    path = export(torch, model, (torch.randn(2, 3, 32, 32),), tmp_path / "folded.onnx",
                  training=torch.onnx.TrainingMode.EVAL, do_constant_folding=True)
    _, graph, analysis = imported(path)
    _, _, kept = imported(export(torch, model, (torch.randn(2, 3, 32, 32),), tmp_path / "kept.onnx"))
    assert "batch_norm" not in ops_of(graph)
    assert analysis.totals.params == n_params(model) - 2 * 16 + 16
    assert analysis.totals.macs == kept.totals.macs - 2 * 2 * 16 * 32 * 32


def test_depthwise_se_block(torch: ModuleType, tmp_path: Path) -> None:
    nn = torch.nn

    class Block(nn.Module):  # MobileNetV3 / EfficientNet style: expand, depthwise, squeeze-excite, project
        def __init__(self) -> None:
            super().__init__()
            self.expand = nn.Conv2d(16, 64, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.dw = nn.Conv2d(64, 64, 3, stride=2, padding=1, groups=64, bias=False)
            self.bn2 = nn.BatchNorm2d(64)
            self.se_reduce = nn.Conv2d(64, 16, 1)
            self.se_expand = nn.Conv2d(16, 64, 1)
            self.project = nn.Conv2d(64, 24, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(24)

        def forward(self, x):
            x = nn.functional.silu(self.bn1(self.expand(x)))
            x = nn.functional.hardswish(self.bn2(self.dw(x)))
            s = x.mean((2, 3), keepdim=True)
            s = nn.functional.hardsigmoid(self.se_expand(torch.relu(self.se_reduce(s))))
            return self.bn3(self.project(x * s))

    model = Block()
    path = export(torch, model, (torch.randn(1, 16, 16, 16),), tmp_path / "se.onnx")
    _, graph, analysis = imported(path)
    expand, bn1 = 64 * 16 * 16 * 16, 2 * 64 * 16 * 16
    dw, bn2 = 64 * 8 * 8 * 9, 2 * 64 * 8 * 8
    se = 64 * 16 + 16 * 64  # the mean is a reduce_mean: fvcore counts no MACs for it
    project, bn3 = 24 * 8 * 8 * 64, 2 * 24 * 8 * 8
    assert analysis.totals.params == n_params(model)
    assert analysis.totals.macs == expand + bn1 + dw + bn2 + se + project + bn3
    assert ops_of(graph) == ["conv2d", "batch_norm", "silu", "conv2d", "batch_norm", "hardswish", "reduce_mean",
                             "conv2d", "relu", "conv2d", "hardsigmoid", "mul", "conv2d", "batch_norm"]
    dw_layer = graph.layers[3]
    assert (dw_layer.attrs.groups, dw_layer.attrs.stride, dw_layer.attrs.padding) == (64, 2, 1)


def tiny_transformer(torch: ModuleType, dim: int = 32, heads: int = 4, hidden: int = 64):
    nn = torch.nn

    class Block(nn.Module):  # a pre-norm ViT block, attention as timm writes it (qkv permute(2, 0, 3, 1, 4))
        def __init__(self) -> None:
            super().__init__()
            self.heads, self.scale = heads, (dim // heads) ** -0.5
            self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
            self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
            self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

        def forward(self, x):
            b, length, c = x.shape
            qkv = self.qkv(self.norm1(x)).reshape(b, length, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
            attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
            x = x + self.proj((attn @ v).transpose(1, 2).reshape(b, length, c))
            return x + self.fc2(self.act(self.fc1(self.norm2(x))))

    return Block()


@pytest.mark.parametrize("opset", [14, 17, 20])
def test_tiny_transformer(torch: ModuleType, tmp_path: Path, opset: int) -> None:
    """opset 14: LayerNorm as ReduceMean/Sub/Pow/Sqrt/Div/Mul/Add; < 20: GELU as its erf form; 20: Gelu."""
    b, length, dim, heads, hidden = 2, 8, 32, 4, 64
    model = tiny_transformer(torch, dim, heads, hidden)
    path = export(torch, model, (torch.randn(b, length, dim),), tmp_path / "block.onnx", opset_version=opset)
    _, graph, analysis = imported(path)
    tokens, hd = b * length, dim // heads
    norms = 2 * 5 * tokens * dim  # fvcore: 5 per element with affine
    qkv, proj = tokens * dim * 3 * dim, tokens * dim * dim
    scores, context = b * heads * length * hd * length, b * heads * length * length * hd
    mlp = 2 * tokens * dim * hidden
    assert analysis.totals.params == n_params(model)
    assert analysis.totals.macs == norms + qkv + scores + context + proj + mlp
    ops = ops_of(graph)
    assert sorted(op for op in ops if op not in ("reshape", "permute", "select")) == sorted(
        ["layer_norm", "linear", "scale", "matmul", "softmax", "matmul", "linear", "add", "layer_norm", "linear",
         "gelu", "linear", "add"])
    assert ops.count("select") == 3  # q, k, v picked from the [N, L, 3, H, hd] view without moving the batch
    # FLOPs: every op's count by hand (docs/conventions.md): GEMMs 2/MAC + bias, norms 7, scale 1, softmax 5,
    # GELU 5, adds 1 per element.
    flops = (2 * (qkv + proj + mlp + scores + context) + tokens * (3 * dim + dim + hidden + dim)
             + 2 * 7 * tokens * dim + b * heads * length * hd + 5 * b * heads * length * length
             + 5 * tokens * hidden + 2 * tokens * dim)
    assert analysis.totals.flops == flops


def test_vit_embedding(torch: ModuleType, tmp_path: Path) -> None:
    """Patch embedding, class token (a parameter expanded over the batch), position embedding, token pick."""
    nn = torch.nn

    class Embed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.patch = nn.Conv2d(3, 16, 4, stride=4)
            self.cls_token = nn.Parameter(torch.zeros(1, 1, 16))
            self.pos_embed = nn.Parameter(torch.zeros(1, 17, 16))
            self.gamma = nn.Parameter(torch.ones(16))
            self.head = nn.Linear(16, 5)

        def forward(self, x):
            x = self.patch(x).flatten(2).transpose(1, 2)
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
            return self.head(x * self.gamma)[:, 0]

    model = Embed()
    path = export(torch, model, (torch.randn(3, 3, 16, 16),), tmp_path / "embed.onnx",
                  input_names=["image"], dynamic_axes={"image": {0: "batch"}})
    data, graph, analysis = imported(path)  # a dynamic batch imports as batch 1
    assert "batch" not in data and data["inputs"] == {"image": [3, 16, 16]}
    assert ops_of(graph) == ["conv2d", "reshape", "permute", "class_token", "learned_bias", "layer_scale", "linear",
                             "select"]
    assert analysis.totals.params == n_params(model)
    assert analysis.totals.macs == 16 * 16 * 3 * 16 + 17 * 16 * 5
    _, graph4, analysis4 = imported(path, batch=4)
    assert graph4.batch == 4 and analysis4.totals.macs == 4 * analysis.totals.macs


def test_group_norm_and_grn(torch: ModuleType, tmp_path: Path) -> None:
    """GroupNorm exports as Reshape / InstanceNormalization / Reshape (/ Mul / Add): group_norm (PoolFormer's
    GroupNorm(1, C)); ConvNeXt V2's GRN (timm's GlobalResponseNorm) as ReduceL2 ... Add: grn, channels first
    and last. Counts by hand (docs/conventions.md): group norm 5 MACs per element with affine, 4 without, and
    7 / 5 FLOPs; GRN 0 MACs, 6 FLOPs per element + 3 per (sample, channel), 2C params."""
    nn = torch.nn

    class GlobalResponseNorm(nn.Module):  # timm.layers.GlobalResponseNorm
        def __init__(self, channels: int, channels_last: bool) -> None:
            super().__init__()
            self.spatial, self.channel = ((1, 2), 3) if channels_last else ((2, 3), 1)
            self.shape = (1, 1, 1, -1) if channels_last else (1, -1, 1, 1)
            self.weight, self.bias = nn.Parameter(torch.zeros(channels)), nn.Parameter(torch.zeros(channels))

        def forward(self, x):
            x_g = x.norm(p=2, dim=self.spatial, keepdim=True)
            x_n = x_g / (x_g.mean(dim=self.channel, keepdim=True) + 1e-6)
            return x + torch.addcmul(self.bias.view(self.shape), self.weight.view(self.shape), x * x_n)

    class Norms(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gn1, self.gn4 = nn.GroupNorm(1, 8), nn.GroupNorm(4, 8, affine=False)
            self.grn_first, self.grn_last = GlobalResponseNorm(8, False), GlobalResponseNorm(8, True)

        def forward(self, x):
            return self.grn_last(self.grn_first(self.gn4(self.gn1(x))).permute(0, 2, 3, 1))

    model = Norms()
    path = export(torch, model, (torch.randn(2, 8, 4, 4),), tmp_path / "norms.onnx")
    _, graph, analysis = imported(path)
    assert ops_of(graph) == ["group_norm", "group_norm", "grn", "permute", "grn"]
    elements, per_channel = 2 * 8 * 4 * 4, 2 * 8
    assert analysis.totals.params == n_params(model) == 2 * 8 + 2 * (2 * 8)
    assert analysis.totals.macs == 5 * elements + 4 * elements
    assert analysis.totals.flops == 7 * elements + 5 * elements + 2 * (6 * elements + 3 * per_channel)


# ---- the batch dimension moved (nn.MultiheadAttention, Swin's windows) -------------------------------------


def cnn_with_mha(torch: ModuleType, batch_first: bool, dim: int = 32, heads: int = 4):
    """conv -> BN -> ReLU -> tokens -> nn.MultiheadAttention -> mean over tokens -> linear. With
    batch_first=False the tokens are [L, N, E]; inside, both settings fold the heads into the batch."""
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, dim, 3, stride=2, padding=1)
            self.bn = nn.BatchNorm2d(dim)
            self.attn = nn.MultiheadAttention(dim, heads, batch_first=batch_first)
            self.fc = nn.Linear(dim, 10)

        def forward(self, x):
            x = torch.relu(self.bn(self.conv(x))).flatten(2)  # [N, E, L]
            x = x.transpose(1, 2) if batch_first else x.permute(2, 0, 1)
            y, _ = self.attn(x, x, x, need_weights=False)
            return self.fc(y.mean(1 if batch_first else 0))

    return Net()


def cnn_with_mha_macs(dim: int = 32, heads: int = 4, side: int = 16, classes: int = 10) -> int:
    """MACs per sample of :func:`cnn_with_mha` on a ``side`` x ``side`` image, by hand."""
    length, hd = (side // 2) ** 2, dim // heads
    conv = dim * length * 3 * 9
    bn = 2 * dim * length
    qkv = length * dim * 3 * dim  # in_proj: the q, k and v projections
    scores = heads * length * hd * length  # q @ k^T
    context = heads * length * length * hd  # softmax @ v
    out_proj = length * dim * dim
    fc = dim * classes
    return conv + bn + qkv + scores + context + out_proj + fc


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_attention(torch: ModuleType, tmp_path: Path, batch_first: bool, batch: int) -> None:
    """The exporter moves the batch (a [L, N, E] transpose, heads folded into it: [L, N*H, hd] -> [N*H, L, hd],
    [L*N, E] for out_proj): it imports as permute / batch_reshape views, and the counts are the hand formula's.
    Batch 1 (a batch of one fits on several axes after a reshape) and 3."""
    dim, heads, side = 32, 4, 16
    model = cnn_with_mha(torch, batch_first, dim, heads)
    path = export(torch, model, (torch.randn(batch, 3, side, side),), tmp_path / "mha.onnx")
    data, graph, analysis = imported(path)
    assert analysis.totals.params == n_params(model)
    per_sample = cnn_with_mha_macs(dim, heads, side)
    assert analysis.totals.macs == batch * per_sample
    ops = ops_of(graph)
    assert ops.count("matmul") == 2 and ops.count("linear") == 3 and "batch_reshape" in ops
    assert graph.batch == batch and data["inputs"] == {"input_1": [3, side, side]}
    # the spec holds for any batch: heads and tokens folded into the batch dim are factors, not sizes
    assert analyze_graph(build_graph(parse_spec(data), batch=7)).totals.macs == 7 * per_sample


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_attention_matches_torch_import(torch: ModuleType, tmp_path: Path, batch_first: bool,
                                                  batch: int) -> None:
    """The PyTorch importer follows the batch through nn.MultiheadAttention too (a pending permutation for
    [L, N, E], the batch below the tokens in out_proj's [L*N, E]): params = sum(p.numel()), MACs = the hand
    formula = the ONNX importer's, at batch 1 and 3 (the spec is traced at batch 2)."""
    from costmodel.bridges.torch_import import import_module

    model = cnn_with_mha(torch, batch_first)
    path = export(torch, model, (torch.randn(batch, 3, 16, 16),), tmp_path / "mha.onnx")
    _, _, analysis = imported(path)
    spec = import_module(model, {"image": (3, 16, 16)})
    graph = build_graph(spec, batch=batch)
    torch_totals = analyze_graph(graph).totals
    assert torch_totals.params == n_params(model) == analysis.totals.params
    assert torch_totals.macs == batch * cnn_with_mha_macs() == analysis.totals.macs
    assert ops_of(graph).count("scaled_dot_product_attention") == 1 and ops_of(graph).count("linear") == 3


def test_batch_moved_where_no_op_follows(torch: ModuleType, tmp_path: Path) -> None:
    """A pool over a tensor whose batch is not first: listed as unsupported, with the reason, nothing mapped."""
    from costmodel.bridges.onnx_import import import_onnx

    class Odd(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.max_pool2d(x.transpose(0, 1), 2)

    path = export(torch, Odd(), (torch.randn(2, 3, 8, 8),), tmp_path / "odd.onnx")
    with pytest.raises(BridgeError) as info:
        import_onnx(path)
    assert str(info.value).startswith(f"{path}: 1 unsupported ONNX op type: MaxPool (1, first: /MaxPool: reads a "
                                      "tensor whose batch dimension is at axis 1")


# ---- the zoo round trip: spec -> PyTorch -> ONNX -> spec -------------------------------------------------

# Every zoo model round-trips (python benchmarks/onnx_round_trip.py: the table in docs/onnx-import.md). Left out
# here to keep the suite fast, with their ops covered by a model listed: resnet34/50, vgg16, mnasnet_100,
# regnetx_016 (resnet18, mobilenetv2), convnext_s (convnext_t), inceptionnext_t (split: efficientformer_l1; concat:
# ghostnet_100), vit_small_patch16_224 (deit_tiny). swin_t runs with one block per stage but two in stage 1 (a
# window-partitioned block, a shifted one with its mask, patch merging, the unshifted last stage): 5 of 12 blocks.
ROUND_TRIP = ["resnet18", "mobilenetv2_100", "mobilenetv3_large_100", "efficientnet_b0", "ghostnet_100",
              "convnext_t", "efficientformer_l1", "deit_tiny", "swin_t"]
OVERRIDES = {"swin_t": {"depths": [1, 2, 1, 1]}}
COUNTS = ("params", "macs", "flops", "activations")


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_zoo_round_trip(torch: ModuleType, onnx: ModuleType, tmp_path: Path, name: str) -> None:
    from costmodel.bridges.torch import build_module, example_inputs

    original = load_graph(ROOT / "arch_specs" / f"{name}.yaml", overrides=OVERRIDES.get(name))
    path = export(torch, build_module(original), example_inputs(original), tmp_path / f"{name}.onnx")
    _, graph, analysis = imported(path)
    before = analyze_graph(original).totals
    # The bridge pools 4-D maps with adaptive_avg_pool2d, as timm does: it exports as GlobalAveragePool, which
    # imports as global_avg_pool (fvcore's 1 MAC per input element), so every count comes back unchanged.
    expected = {key: getattr(before, key) for key in COUNTS}
    assert {key: getattr(analysis.totals, key) for key in COUNTS} == expected
    assert graph.batch == original.batch and list(graph.inputs.values()) == list(original.inputs.values())


# ---- bad input ------------------------------------------------------------------------------------------


def unsupported_model(onnx: ModuleType, path: Path) -> Path:
    """Relu, a lone Erf (not GELU's pattern) and a TopK: two op types no costmodel op expresses."""
    helper, TensorProto = onnx.helper, onnx.TensorProto
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="/relu"),
        helper.make_node("Erf", ["r"], ["e"], name="/erf"),
        helper.make_node("Constant", [], ["k"], name="/k", value=helper.make_tensor("k", TensorProto.INT64, [1], [3])),
        helper.make_node("TopK", ["e", "k"], ["values", "indices"], name="/topk", axis=1),
    ]
    graph = helper.make_graph(nodes, "bad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10])],
                              [helper.make_tensor_value_info("values", TensorProto.FLOAT, [1, 3])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_unsupported_ops_are_listed(onnx: ModuleType, tmp_path: Path) -> None:
    from costmodel.bridges.onnx_import import import_onnx

    path = unsupported_model(onnx, tmp_path / "model.onnx")
    with pytest.raises(BridgeError) as info:
        import_onnx(path)
    assert str(info.value) == f"{path}: 2 unsupported ONNX op types: Erf (1, first: /erf), TopK (1, first: /topk)"


def test_cli_import(torch: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    export(torch, small_cnn(torch), (torch.randn(1, 3, 32, 32),), tmp_path / "cnn.onnx")
    runner = CliRunner()
    result = runner.invoke(app, ["import", "cnn.onnx", "-o", "cnn.yaml", "--name", "small_cnn"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "cnn.yaml").read_text()
    assert text.startswith("# Imported from cnn.onnx") and yaml.safe_load(text)["name"] == "small_cnn"
    analyzed = runner.invoke(app, ["analyze", "cnn.yaml", "--format", "json"])
    assert analyzed.exit_code == 0, analyzed.output
    assert json.loads(analyzed.output)["totals"]["params"] == n_params(small_cnn(torch))


def test_cli_unsupported_exits_2(onnx: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    unsupported_model(onnx, tmp_path / "model.onnx")
    result = CliRunner().invoke(app, ["import", "model.onnx", "-o", "model.yaml"])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("error: model.onnx: 2 unsupported ONNX op types: Erf (1, first: /erf), "
                                     "TopK (1, first: /topk)")
    assert not (tmp_path / "model.yaml").exists()


@pytest.mark.parametrize("content, message", [
    (None, "error: missing.onnx: cannot read ONNX model: No such file or directory"),
    (b"name: resnet18\n", "error: missing.onnx: not a valid ONNX model ("),
])
def test_cli_bad_file(onnx: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes | None,
                      message: str) -> None:
    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / "missing.onnx").write_bytes(content)
    result = CliRunner().invoke(app, ["import", "missing.onnx", "-o", "out.yaml"])
    assert result.exit_code == 2 and result.stderr.startswith(message), result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "out.yaml").exists()


def test_cli_without_onnx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)  # import onnx -> ImportError
    (tmp_path / "m.onnx").write_bytes(b"")
    result = CliRunner().invoke(app, ["import", "m.onnx"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: ONNX import needs the onnx package: pip install 'costmodel[onnx]'"


def test_symbolic_feature_dim(onnx: ModuleType, tmp_path: Path) -> None:
    from costmodel.bridges.onnx_import import import_onnx

    helper, TensorProto = onnx.helper, onnx.TensorProto
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="/relu")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "height", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, "height", 8])])
    path = tmp_path / "sym.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(BridgeError, match="symbolic dimension 'height' at axis 2"):
        import_onnx(path)


def test_clip_range_is_named(onnx: ModuleType, tmp_path: Path) -> None:
    from costmodel.bridges.onnx_import import import_onnx

    helper, TensorProto = onnx.helper, onnx.TensorProto
    lo = helper.make_tensor("lo", TensorProto.FLOAT, [], [-1.0])
    hi = helper.make_tensor("hi", TensorProto.FLOAT, [], [1.0])
    graph = helper.make_graph([helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="/clamp")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [lo, hi])
    path = tmp_path / "clip.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(BridgeError, match=r"Clip \(1, first: /clamp: min=-1.0, max=1.0: only Clip\(0, 6\)"):
        import_onnx(path)


def test_bn_folded_by_the_exporter_is_reported(torch: ModuleType, tmp_path: Path, capsys) -> None:
    from costmodel.bridges.onnx_import import import_onnx

    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1))
    path = export(torch, model, (torch.randn(1, 3, 16, 16),), tmp_path / "folded.onnx",
                  training=torch.onnx.TrainingMode.EVAL, do_constant_folding=True)
    spec = yaml.safe_load(import_onnx(path))
    assert spec["metadata"]["bn_folded"] == 1  # conv 0 took BN 1's scale and shift; conv 3 kept its own weights
    assert "1 BN layers folded by the exporter" in capsys.readouterr().err
    kept = export(torch, model, (torch.randn(1, 3, 16, 16),), tmp_path / "kept.onnx")
    assert "bn_folded" not in yaml.safe_load(import_onnx(kept))["metadata"]


def test_allow_opaque_onnx(onnx: ModuleType, tmp_path: Path, capsys) -> None:
    from costmodel.bridges.onnx_import import import_onnx

    path = unsupported_model(onnx, tmp_path / "model.onnx")
    text = import_onnx(path, allow_opaque=True)
    spec = yaml.safe_load(text)
    opaque = [n for n in spec["nodes"] if n["op"] == "opaque"]
    assert sorted(n["source"] for n in opaque) == ["onnx_Erf", "onnx_TopK"]
    err = capsys.readouterr().err
    assert "warning: 2 opaque node(s)" in err and "count 0 MACs and 0 FLOPs" in err
    (tmp_path / "model.yaml").write_text(text)
    layers = {layer.path: layer for layer in load_graph(tmp_path / "model.yaml").layers}
    assert all(layers[n["name"]].cost.macs == layers[n["name"]].cost.flops == 0 for n in opaque)
