"""PyTorch -> spec import (torch.export): counts against hand-derived figures, PyTorch's parameter count and the
zoo's hand-written specs; repeat folding; unsupported ops listed or made explicitly opaque; the spec cache."""

from __future__ import annotations

import pytest

from costmodel.api import analyze
from costmodel.errors import SpecError


@pytest.fixture(scope="module")
def bridge(torch):
    from costmodel.bridges import torch_import

    return torch_import


def _tiny(torch):
    nn = torch.nn

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(8)
            self.blocks = nn.Sequential(*[nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()) for _ in range(3)])
            self.head = nn.Linear(8, 10)

        def forward(self, x):
            x = torch.relu(self.bn(self.stem(x)))
            x = self.blocks(x)
            return self.head(x.mean((2, 3)))

    return Tiny()


def test_tiny_model_counts_by_hand(torch, bridge, tmp_path) -> None:
    spec, report = bridge.module_to_spec_dict(_tiny(torch), {"image": (3, 32, 32)}, name="tiny")
    # by hand, input 3x32x32 -> 8x16x16 (256 positions):
    stem = 8 * 3 * 9 * 256           # 55,296 MACs, 216 params
    block = 8 * 8 * 9 * 256          # 147,456 MACs, 584 params (576 + 8 bias)
    head = 8 * 10                    # 80 MACs, 90 params
    assert report.params == 216 + 16 + 3 * 584 + 90 == sum(p.numel() for p in _tiny(torch).parameters())
    bn = 2 * 8 * 256                 # batch norm: 2 MACs per element, as fvcore counts it (docs/conventions.md)
    assert report.macs == stem + bn + 3 * block + head
    assert report.activations == 8 * 256 * 4 + 10  # conv/linear outputs
    # the three identical blocks fold into one block called with repeat: 3
    (call,) = [n for n in spec["nodes"] if n.get("block")]
    assert call["name"] == "blocks" and call["repeat"] == 3
    # round trip: the written YAML analyses to the counts the import reported
    from costmodel.bridges.torch_fold import folded_spec_yaml

    path = tmp_path / "tiny.yaml"
    path.write_text(folded_spec_yaml(spec), encoding="utf-8")
    totals = analyze(path).totals
    assert (totals.params, totals.macs, totals.flops, totals.activations) == \
        (report.params, report.macs, report.flops, report.activations)
    assert {layer.path for layer in analyze(path).layers} >= {"blocks.2.0", "stem", "head"}


ZOO = [("resnet50", "resnet50"), ("convnext_tiny", "convnext_t"), ("vit_small_patch16_224", "vit_small_patch16_224"),
       ("swin_tiny_patch4_window7_224", "swin_t"), ("efficientnet_b0", "efficientnet_b0")]


@pytest.mark.parametrize(("timm_name", "zoo"), ZOO)
def test_imported_timm_equals_the_hand_written_zoo_spec(bridge, timm_name, zoo) -> None:
    model, inputs = bridge.timm_model(timm_name)
    spec, report = bridge.module_to_spec_dict(model, inputs, name=timm_name)
    want = analyze(f"arch_specs/{zoo}.yaml").totals
    assert (report.params, report.macs, report.flops, report.activations) == \
        (want.params, want.macs, want.flops, want.activations)
    assert report.params == sum(p.numel() for p in model.parameters())
    assert any(n.get("repeat") for n in spec["nodes"])  # folded into repeat: blocks
    assert not report.opaque


def test_reparam_gives_timm_published_deployed_figures(bridge) -> None:
    # timm benchmark table (tests/fixtures/timm_reference.csv): mobileone_s0 2.08 M params, 0.28 GMACs, 3.79 M
    # activations -- the deployed form; the training form has 5.29 M params
    model, inputs = bridge.timm_model("mobileone_s0", reparam=True)
    _, report = bridge.module_to_spec_dict(model, inputs)
    assert report.params == sum(p.numel() for p in model.parameters())
    assert round(report.params / 1e6, 2) == 2.08
    assert round(report.macs / 1e9, 2) == 0.28
    assert round(report.activations / 1e6, 2) == 3.79


def test_hybrid_at_low_resolution_matches_pytorch(torch, bridge, tmp_path) -> None:
    # A CNN-transformer hybrid, small and at 128x128 to keep CI fast: LeViT-128S (conv stem, attention with
    # learned position biases, linears with BN, downsampling attention that splits k and v).
    from torch.utils.flop_counter import FlopCounterMode

    from costmodel.bridges.timm_compat import require_timm
    from costmodel.bridges.torch import torch_counted_macs
    from costmodel.bridges.torch_fold import folded_spec_yaml
    from costmodel.graph import build_graph
    from costmodel.spec.loader import parse_spec

    model = require_timm().create_model("levit_128s", pretrained=False, img_size=128).eval()
    spec, report = bridge.module_to_spec_dict(model, {"image": (3, 128, 128)}, name="levit_128s")
    assert report.params == sum(p.numel() for p in model.parameters())
    assert not report.opaque
    # conv, linear and attention matmuls: PyTorch's FlopCounterMode counts 2 FLOPs per multiply-add of them
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, 128, 128))
    graph = build_graph(parse_spec(spec, "levit_128s"), batch=1)
    assert 2 * torch_counted_macs(graph) == counter.get_total_flops()
    # the emitted YAML round-trips to the counts the import reported
    path = tmp_path / "levit.yaml"
    path.write_text(folded_spec_yaml(spec), encoding="utf-8")
    totals = analyze(path).totals
    assert (totals.params, totals.macs, totals.flops, totals.activations) == \
        (report.params, report.macs, report.flops, report.activations)


def test_shared_and_computed_weights_count_each_parameter_once(torch, bridge) -> None:
    nn = torch.nn

    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1, groups=4)  # called twice (CoaT's shared position encoding)
            self.weight = nn.Parameter(torch.randn(8, 4, 1, 1))
            self.gain = nn.Parameter(torch.ones(8, 1, 1, 1))  # NFNet: a standardised weight times a gain

        def forward(self, x):
            x = self.conv(self.conv(x))
            w = (self.weight - self.weight.mean((1, 2, 3), keepdim=True)) * self.gain
            return nn.functional.conv2d(x, w)

    model = Odd()
    spec, report = bridge.module_to_spec_dict(model, {"image": (4, 6, 6)}, name="odd", fold=False)
    assert report.params == sum(p.numel() for p in model.parameters()) == 4 * 9 + 4 + 8 * 4 + 8
    convs = [n for n in spec["nodes"] if n["op"] == "conv2d"]
    assert [n.get("shared", False) for n in convs] == [False, True, False]
    # MACs by hand: two depthwise 3x3 convs over 4x6x6, then a 1x1 conv 4 -> 8 over 6x6
    assert report.macs == 2 * (4 * 36 * 9) + 8 * 36 * 4
    assert not report.notes


def _csatv2_pieces(torch):
    """What CSATv2 needed: timm's GlobalResponseNorm tail ``addcmul(bias, weight, x)`` (and an all-tensor
    addcmul with value), a fixed index along the channels (its zigzag ``x[:, :, perm]``) and its spatial
    attention on ``[B, N]`` scalars, ``(q @ k.transpose(-1, -2)).softmax(-1) @ v``."""
    nn = torch.nn

    class Pieces(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 1)
            self.weight, self.bias = nn.Parameter(torch.randn(8)), nn.Parameter(torch.randn(8))
            self.qkv = nn.Linear(8, 3, bias=False)

        def forward(self, x):
            y = self.conv(x).permute(0, 2, 3, 1)  # [B, 4, 4, 8]
            y = y + torch.addcmul(self.bias.view(1, 1, 1, -1), self.weight.view(1, 1, 1, -1), y)
            y = torch.addcmul(y, y, y, value=0.5)
            tokens = y.flatten(1, 2)[:, :, [7, 6, 5, 4, 3, 2, 1, 0]]  # [B, 16, 8]
            q, k, v = self.qkv(tokens).unbind(-1)  # [B, 16] each
            return (q @ k.transpose(-1, -2)).softmax(-1) @ v

    return Pieces()


def test_csatv2_pieces_by_hand_and_flop_counter(torch, bridge) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    model = _csatv2_pieces(torch).eval()
    spec, report = bridge.module_to_spec_dict(model, {"image": (3, 4, 4)}, name="pieces", fold=False)
    n, tokens = 8 * 16, 16  # elements after the conv, tokens
    conv, qkv, attention = 8 * 3 * 16, tokens * 8 * 3, 2 * tokens  # q.k and weight * v: per sample, as at batch 1
    assert report.macs == conv + qkv + attention == 800
    with torch.no_grad(), FlopCounterMode(display=False) as counter:  # at batch 1, where the attention is per image
        model(torch.randn(1, 3, 4, 4))
    assert counter.get_total_flops() == 2 * report.macs
    assert report.params == 8 * 3 + 8 + 8 + 8 + 24 == sum(p.numel() for p in model.parameters())
    # FLOPs (docs/conventions.md): conv 2/MAC + bias; addcmul(bias, weight, y): layer_scale n + learned_bias n, the
    # residual add n; addcmul(y, y, y, value=0.5): mul n, scale n, add n; index_select 0 (a copy); linear 2/MAC;
    # the attention: 2/MAC, softmax 5 per score (one per sample)
    assert report.flops == 2 * conv + n + 3 * n + 3 * n + 2 * qkv + 2 * attention + 5
    ops = [node["op"] for node in spec["nodes"]]
    assert {"layer_scale", "learned_bias", "scale", "index_select"} <= set(ops) and ops.count("matmul") == 2
    assert [node["size"] for node in spec["nodes"] if node["op"] == "index_select"] == [8]
    assert any("across the samples of a batch" in note for note in report.notes)
    graph = bridge._build(spec, "pieces", batch=3)  # the spec holds for any batch: per-sample counts
    assert sum(layer.cost.macs for layer in graph.layers) == 3 * 800


@pytest.mark.parametrize("batch_first", [True, False])
def test_transformer_encoder_layer_either_batch_layout(torch, bridge, batch_first: bool) -> None:
    """nn.TransformerEncoderLayer on [N, L, E] or, batch_first=False, [L, N, E]: the layer norms, the residual
    adds and the feed-forward read the moved batch where it is. MACs by hand; the linears' share also by
    PyTorch's FlopCounterMode (run in training mode, dropout 0: the eval fast path is one fused kernel it does not
    see; its CPU attention is not counted either); the output transposed back is required, one error line else."""
    from torch.utils.flop_counter import FlopCounterMode

    from costmodel.errors import BridgeError

    tokens, dim, heads, hidden = 10, 32, 4, 64

    class Net(torch.nn.Module):
        def __init__(self, back: bool = True) -> None:
            super().__init__()
            self.enc = torch.nn.TransformerEncoderLayer(dim, heads, hidden, dropout=0.0, batch_first=batch_first)
            self.back = back

        def forward(self, x):
            if batch_first:
                return self.enc(x)
            y = self.enc(x.transpose(0, 1))
            return y.transpose(0, 1) if self.back else y

    model = Net().eval()
    _, report = bridge.module_to_spec_dict(model, {"tokens": (tokens, dim)}, name="enc", fold=False)
    linears = tokens * dim * 3 * dim + tokens * dim * dim + 2 * tokens * dim * hidden  # in_proj, out_proj, FFN
    attention = 2 * heads * tokens * tokens * (dim // heads)  # q @ k^T and weights @ v
    norms = 2 * 5 * tokens * dim  # two affine layer norms, 5 per element (fvcore)
    assert report.macs == linears + attention + norms == 91_520
    assert report.params == sum(p.numel() for p in model.parameters())
    with FlopCounterMode(display=False) as counter:
        model.train()(torch.randn(1, tokens, dim))
    assert counter.get_total_flops() == 2 * linears
    if not batch_first:
        with pytest.raises(BridgeError, match="output has its batch dimension away from dim 0"):
            bridge.module_to_spec_dict(Net(back=False), {"tokens": (tokens, dim)}, name="enc")


def _with_unsupported(torch):
    nn = torch.nn

    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            x = torch.cumsum(self.conv(x), dim=2)
            x = torch.cumsum(x, dim=3)
            return self.fc(torch.flip(x, [2]).mean((2, 3)))

    return Odd()


def test_unsupported_ops_are_all_listed(torch, bridge) -> None:
    with pytest.raises(SpecError) as info:
        bridge.module_to_spec_dict(_with_unsupported(torch), {"image": (3, 8, 8)}, name="odd")
    message = str(info.value)
    assert "2 unsupported ATen ops" in message
    assert "aten.cumsum (2, first: cumsum)" in message and "aten.flip (1" in message
    assert "--allow-opaque" in message


def test_allow_opaque_makes_explicit_zero_cost_nodes(torch, bridge) -> None:
    spec, report = bridge.module_to_spec_dict(_with_unsupported(torch), {"image": (3, 8, 8)}, name="odd",
                                              allow_opaque=True)
    opaque = [n for n in spec["nodes"] if n["op"] == "opaque"]
    assert [n["source"] for n in opaque] == ["aten_cumsum", "aten_cumsum", "aten_flip"]
    assert report.opaque == {"aten_cumsum": 2, "aten_flip": 1}
    # the mapped ops still count: conv 4*3*64 MACs, linear 4*2
    assert report.macs == 4 * 3 * 64 + 8
    assert report.params == 16 + 10
    assert report.opaque_share() == pytest.approx(3 / report.nodes)
    lines = bridge.summary(report, "odd")
    assert any(line.startswith("warning: 3 opaque node(s)") for line in lines)


def test_timm_spec_cache(bridge, tmp_path) -> None:
    path = bridge.timm_spec("resnet18", tmp_path, reparam=False)
    assert path.parent == tmp_path and path.exists()
    stamp = path.stat().st_mtime_ns
    assert bridge.timm_spec("resnet18", tmp_path, reparam=False).stat().st_mtime_ns == stamp  # not re-imported
    assert analyze(path).totals.params == 11_689_512
    done, failed = bridge.timm_specs(["resnet18", "no_such_model"], tmp_path, reparam=False)
    assert list(done) == ["resnet18"] and "timm has no model" in failed["no_such_model"]
    assert (tmp_path / "no_such_model-deploy.error").exists() is False
    assert (tmp_path / "no_such_model.error").exists()


def test_cli_import_timm(bridge, tmp_path) -> None:
    from typer.testing import CliRunner

    from costmodel.cli import app

    out = tmp_path / "r18.yaml"
    result = CliRunner().invoke(app, ["import", "timm:resnet18", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "11,689,512 params (= sum(p.numel())" in result.output
    assert "repeat:" in out.read_text()
    bad = CliRunner().invoke(app, ["import", "timm:resnet_18"])
    assert bad.exit_code == 2 and "did you mean 'resnet18'" in bad.output


def test_analyze_warns_about_opaque_nodes(torch, bridge, tmp_path) -> None:
    from typer.testing import CliRunner

    from costmodel.bridges.torch_fold import folded_spec_yaml
    from costmodel.cli import app

    spec, _ = bridge.module_to_spec_dict(_with_unsupported(torch), {"image": (3, 8, 8)}, name="odd",
                                         allow_opaque=True)
    path = tmp_path / "odd.yaml"
    path.write_text(folded_spec_yaml(spec), encoding="utf-8")
    result = CliRunner().invoke(app, ["analyze", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning: 3 opaque node(s)" in result.output and "aten_cumsum x2" in result.output
    assert result.output.count("opaque") >= 3 + 1  # the three per-layer rows name the op, and the warning


@pytest.mark.parametrize(("module", "target", "message"), [
    ("raise RuntimeError('operator torchvision::nms does not exist')", "broken_on_import:build",
     "error: cannot import 'broken_on_import': RuntimeError: operator torchvision::nms does not exist"),
    ("def build(width):\n    return width\n", "needs_an_argument:build",
     "error: torch:needs_an_argument:build: build() raised TypeError: build() missing 1 required positional "
     "argument: 'width'"),
])
def test_a_builder_module_that_fails_is_one_line(torch, tmp_path, monkeypatch, module: str, target: str,
                                                 message: str) -> None:
    """Importing the module runs its code and the builder is called without arguments: either may raise anything
    (a torchvision built for another torch raised RuntimeError on import; torch:os:system a TypeError), which was an
    internal error, exit 1."""
    from typer.testing import CliRunner

    from costmodel.cli import app

    (tmp_path / f"{target.split(':')[0]}.py").write_text(module)
    monkeypatch.syspath_prepend(str(tmp_path))
    result = CliRunner().invoke(app, ["import", f"torch:{target}", "--input", "image=3,8,8"])
    assert result.exit_code == 2 and result.output.strip() == message, result.output


@pytest.mark.parametrize(("shape", "message"), [
    # where /proc/meminfo says what is free: refused before the allocation (elsewhere PyTorch's failure, caught)
    ("3,99999999,99999999", "the example inputs"),
    ("3,0,8", "error: --input image=3,0,8: every dimension must be at least 1"),
])
def test_example_inputs_that_cannot_be_made_are_one_line(bridge, shape: str, message: str) -> None:
    """import timm:resnet18 --input image=3,99999999,99999999: PyTorch's allocation of the traced example input
    (6e16 floats) failed outside the export's error handling, an internal error, exit 1; a zero dimension reached
    torch.export (a padding error from inside the model). Both refused before anything is allocated."""
    from typer.testing import CliRunner

    from costmodel.cli import app

    result = CliRunner().invoke(app, ["import", "timm:resnet18", "--input", f"image={shape}"])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and message in result.output, result.output
    assert result.output.startswith("error: "), result.output


@pytest.mark.parametrize("body", ["torch.flatten(x, -1, -1)", "x"])
def test_a_model_that_computes_nothing_is_one_line(torch, tmp_path, monkeypatch, body: str) -> None:
    """torch.flatten(x, -1, -1) (a no-op) or nn.Identity export no node: the import indexed the empty node list, an
    IndexError, exit 1 (found importing the fuzzer's random specs back from PyTorch, seed 28936)."""
    from typer.testing import CliRunner

    from costmodel.cli import app

    (tmp_path / "noop_model.py").write_text("import torch\n\n\nclass Noop(torch.nn.Module):\n"
                                            f"    def forward(self, x):\n        return {body}\n\n\n"
                                            "def build():\n    return Noop()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = CliRunner().invoke(app, ["import", "torch:noop_model:build", "--input", "image=3,8,8"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.startswith("error: ") and "computes nothing" in result.output


@pytest.mark.parametrize("options", [{"kernel_size": 3, "stride": 2, "padding": 1},
                                     {"kernel_size": 2, "dilation": 2, "ceil_mode": True}])
def test_max_pool1d_imports(torch, bridge, options: dict) -> None:
    """aten.max_pool1d was an unsupported op (found importing the fuzzer's random specs back, seed 9711: 32 of 583
    cases failed on it or on causal attention's masked_fill); it maps to the spec's max_pool1d with PyTorch's shape."""
    from costmodel.graph import build_graph
    from costmodel.spec import parse_spec

    pool = torch.nn.MaxPool1d(**options)
    spec, _ = bridge.module_to_spec_dict(pool, {"x": (4, 9)})
    graph = build_graph(parse_spec(spec))
    assert [layer.op for layer in graph.layers] == ["max_pool1d"]
    assert tuple(graph.layers[0].cost.outputs[0]) == tuple(pool(torch.zeros(1, 4, 9)).shape)
