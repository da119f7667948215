"""The torchvision stand-in that lets timm import where torchvision's compiled ops cannot load."""

from __future__ import annotations

import sys

import pytest


@pytest.fixture(scope="module")
def timm(torch):
    from costmodel.bridges.timm_compat import require_timm

    return require_timm()


def test_timm_imports_and_builds_a_model(timm, torch) -> None:
    model = timm.create_model("resnet18", pretrained=False)
    # 11,689,512: torchvision's and timm's documented parameter count of ResNet-18
    assert sum(p.numel() for p in model.parameters()) == 11_689_512


def test_standin_only_when_real_torchvision_fails(timm) -> None:
    import subprocess

    from costmodel.bridges.timm_compat import standin_active

    probe = subprocess.run([sys.executable, "-c", "import torchvision.ops"], capture_output=True)
    assert standin_active() == (probe.returncode != 0)


def test_frozen_batch_norm_standin_computes_batch_norm(timm, torch) -> None:
    from costmodel.bridges.timm_compat import standin_active

    if not standin_active():
        pytest.skip("the real torchvision is in use")
    from torchvision.ops.misc import FrozenBatchNorm2d

    bn = FrozenBatchNorm2d(3, eps=0.5)
    bn.weight.copy_(torch.tensor([1.0, 2.0, 3.0]))
    bn.bias.copy_(torch.tensor([0.0, 1.0, -1.0]))
    bn.running_mean.copy_(torch.tensor([1.0, 0.0, 2.0]))
    bn.running_var.copy_(torch.tensor([1.5, 3.5, 0.5]))
    x = torch.full((1, 3, 2, 2), 3.0)
    # by hand: (x - mean) / sqrt(var + eps) * weight + bias = (2/sqrt2, 3*2/2 + 1, 3*1/1 - 1)
    want = torch.tensor([2 / 2 ** 0.5, 4.0, 2.0]).reshape(1, 3, 1, 1).expand(1, 3, 2, 2)
    assert torch.allclose(bn(x), want)
    assert list(dict(bn.named_parameters())) == []  # statistics and affine are buffers, as in torchvision


def test_placeholder_names_raise_a_bridge_error(timm) -> None:
    from costmodel.bridges.timm_compat import standin_active
    from costmodel.errors import BridgeError

    if not standin_active():
        pytest.skip("the real torchvision is in use")
    import torchvision.transforms as transforms

    with pytest.raises(BridgeError, match="stand-in"):
        transforms.ToTensor()
