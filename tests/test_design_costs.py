"""The designer's closed forms price layers with the op registry's own per-op cost functions: change a counting
convention in costmodel/ops and the closed forms follow, by construction, with no edit to costmodel/design."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
import yaml

from costmodel import analyze
from costmodel.design import Design, evaluate_design, spec_yaml
from costmodel.design.superblock import Network, SuperBlock, network_terms, network_yaml
from costmodel.ops import conv, elementwise, linear, norm, pooling
from costmodel.spec import parse_spec

# Each a different convention for one per-op cost function (the registered op calls the same function).
CHANGES: list[tuple[ModuleType, str, Callable[..., Any]]] = [
    (conv, "conv_macs", lambda out, per_group, taps: out * per_group * taps + out),  # bias add counted as a MAC
    (conv, "conv_params", lambda out, per_group, taps, bias: out * per_group * taps + 3 * out),
    (norm, "batch_norm_macs", lambda elements, affine=True: 4 * elements),
    (norm, "batch_norm_params", lambda channels, affine=True: 4 * channels),  # running stats as params
    (norm, "layer_norm_macs", lambda elements, affine=True: 8 * elements),
    (norm, "layer_norm_params", lambda dim, affine=True, bias=True: 3 * dim),
    (linear, "linear_macs", lambda out, features: out * (features + 1)),
    (linear, "linear_params", lambda features, out, bias: features * out + 2 * out),
    (pooling, "mean_pool_macs", lambda elements: 0 * elements),  # pooling not counted
    (elementwise, "layer_scale_params", lambda channels: 2 * channels),
]

DESIGNS: list[Design | Network] = [
    Design("resnet", 64, 16, (32, 64), (16, 32), (3, 5), (2, 1)),
    Design("mbconv", 64, 16, (24, 40), (96, 240), (5, 3), (2, 2), se=True),
    Design("convnext", 64, 32, (32, 64), (128, 256), (7, 5), (2, 1)),
    Network("k1kxk1", 64, 16, (SuperBlock(1, 32, 16, 3, 2), SuperBlock(2, 64, 24, 5, 1))),
    Network("k1dwsek1", 64, 16, (SuperBlock(2, 16, 48, 3, 2), SuperBlock(2, 40, 120, 5, 2)), head=256),
]


def closed_form(design: Design | Network) -> tuple[int, int]:
    """(MACs, params) from the designer's closed forms."""
    t = evaluate_design(design) if isinstance(design, Design) else network_terms(design)
    return int(t.macs), int(t.params)


def analyzer(design: Design | Network) -> tuple[int, int]:
    """(MACs, params) from the analyzer on the spec the designer writes."""
    text = spec_yaml(design) if isinstance(design, Design) else network_yaml(design)
    totals = analyze(parse_spec(yaml.safe_load(text))).totals
    return totals.macs, totals.params


@pytest.mark.parametrize("module, name, change", CHANGES, ids=[f"{m.__name__.rsplit('.', 1)[1]}.{n}"
                                                             for m, n, _ in CHANGES])
def test_a_convention_change_in_ops_reaches_the_closed_forms(
    module: ModuleType, name: str, change: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = [closed_form(d) for d in DESIGNS]
    assert before == [analyzer(d) for d in DESIGNS]
    monkeypatch.setattr(module, name, change)
    after = [closed_form(d) for d in DESIGNS]
    assert after != before  # the change is visible to the designer (some space uses this op) ...
    assert after == [analyzer(d) for d in DESIGNS]  # ... and it agrees with the analyzer under the new convention
