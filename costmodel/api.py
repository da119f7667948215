"""The analyzer in one call: a spec (path, zoo name, YAML text, dict or Spec) -> counts and, per device, latency.

``costmodel.analyze("convnext_t", hw="a100")`` returns a :class:`~costmodel.report.result.ModelResult`; see
docs/python-api.md."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .errors import SpecError
from .graph import Graph, build_graph
from .spec import Spec, load_spec, parse_spec
from .spec.zoo import resolve_spec

if TYPE_CHECKING:
    from .hardware import HardwareProfile
    from .report.result import ModelResult

SpecLike = str | Path | Mapping[str, Any] | Spec


def _is_yaml_text(text: str) -> bool:
    """A string that is a spec's YAML rather than a file or zoo name: it spans lines or maps a key."""
    return "\n" in text or text.lstrip().startswith("{") or ": " in text


def to_spec(spec: SpecLike, overrides: Mapping[str, Any] | None = None) -> tuple[Spec, str | None]:
    """A :class:`Spec` and the file it came from (None for a dict, YAML text or Spec), with ``overrides`` set on
    its top-level ``vars`` (``set=`` of :func:`analyze`, ``--set`` of the CLI)."""
    file: str | None = None
    if isinstance(spec, Spec):
        spec_obj = spec
    elif isinstance(spec, Mapping):
        spec_obj = parse_spec(dict(spec), "<dict>")
    elif isinstance(spec, str) and _is_yaml_text(spec) and not Path(spec).is_file():
        try:
            data = yaml.safe_load(spec)
        except yaml.YAMLError as exc:
            raise SpecError(f"malformed YAML: {getattr(exc, 'problem', None) or exc}", file="<string>") from None
        spec_obj = parse_spec(data, "<string>")
    elif isinstance(spec, str | Path):
        path = resolve_spec(spec)
        file = str(path)
        spec_obj = load_spec(path)
    else:
        raise TypeError(f"spec must be a path, a zoo name, YAML text, a dict or a Spec, not {type(spec).__name__}")
    if overrides:
        from .spec.loader import with_vars

        spec_obj = with_vars(spec_obj, overrides, file)
    return spec_obj, file


def load_graph(
    spec: SpecLike, *, batch: int | None = None, input_shapes: Mapping[str, Sequence[int]] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Graph:
    """Load (a path, zoo name, YAML text, dict or Spec), set ``overrides`` on its vars, and expand a spec."""
    spec_obj, file = to_spec(spec, overrides)
    return build_graph(spec_obj, file=file, batch=batch, input_shapes=input_shapes)


def analyze(
    spec: SpecLike, hw: str | HardwareProfile | Sequence[str | HardwareProfile] | None = None, batch: int | None = None,
    dtype: str | None = None, fusion: str | None = None, inputs: Mapping[str, Sequence[int]] | None = None,
    set: Mapping[str, Any] | None = None, *, input_shapes: Mapping[str, Sequence[int]] | None = None,  # noqa: A002
) -> ModelResult:
    """Params, MACs, FLOPs, activations and memory of ``spec`` (docs/conventions.md) and, for each profile in
    ``hw`` (key, alias, YAML path or HardwareProfile; one or a list), the roofline latency.

    ``batch``: default the spec's (1 in the zoo); ``dtype``: default the spec's; ``fusion``: kernel fusion for the
    latency (default none: eager PyTorch); ``inputs``: per-sample input shapes, ``{"image": [3, 256, 256]}``;
    ``set``: values for the spec's top-level vars, ``{"depths": [2, 2, 6, 2]}``. ``input_shapes`` is the old name
    of ``inputs``."""
    from .analysis import analyze_graph
    from .hardware import load_profile
    from .latency import DEFAULT_FUSION, estimate
    from .report.result import ModelResult

    graph = load_graph(spec, batch=batch, input_shapes=inputs or input_shapes, overrides=set)
    analysis = analyze_graph(graph, dtype)
    devices = [] if hw is None else [hw] if isinstance(hw, str) or not isinstance(hw, Sequence) else list(hw)
    latency = {}
    for device in devices:
        profile = load_profile(device) if isinstance(device, str) else device
        if profile.key not in latency:
            latency[profile.key] = estimate(graph, profile, dtype=analysis.dtype, fusion=fusion or DEFAULT_FUSION,
                                            key=profile.key)
    return ModelResult(analysis, latency)
