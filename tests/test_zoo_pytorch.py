"""Every zoo spec against the PyTorch model it describes: ``sum(p.numel())`` of timm's model (pretrained=False),
and, for re-parameterisable specs (a ``deploy`` variable), of the training form and of the deployed form
(timm's ``reparameterize_model``). timm comes through costmodel.bridges.timm_compat (a torchvision stand-in where
the real torchvision cannot load); the test is skipped without timm."""

from __future__ import annotations

from pathlib import Path

import pytest

from costmodel import analyze
from costmodel.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
SPECS = [p for p in sorted((ROOT / "arch_specs").glob("*.yaml")) if load_spec(p).metadata.timm_name]


@pytest.fixture(scope="module")
def timm(torch):
    from costmodel.bridges.timm_compat import require_timm
    from costmodel.bridges.torch import BridgeError

    try:
        return require_timm()
    except BridgeError as exc:  # timm is not installed (an optional extra)
        pytest.skip(str(exc))


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_params_equal_pytorch(path: Path, timm, torch) -> None:
    spec = load_spec(path)
    model = timm.create_model(spec.metadata.timm_name, pretrained=False)
    forms = {"training": model}
    if "deploy" in spec.vars:
        from timm.utils.model import reparameterize_model

        forms["deployed"] = reparameterize_model(timm.create_model(spec.metadata.timm_name, pretrained=False))
    for form, module in forms.items():
        overrides = {"deploy": form == "deployed"} if "deploy" in spec.vars else None
        ours = analyze(path, set=overrides).totals.params
        assert ours == sum(p.numel() for p in module.parameters()), form
