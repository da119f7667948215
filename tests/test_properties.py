"""Laws that hold for any network: counts linear in batch, params independent of batch and resolution,
per-layer rows summing to totals. Checked with hypothesis on generated conv/attention networks."""

from __future__ import annotations

from dataclasses import fields

from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel import analyze
from costmodel.analysis.metrics import COUNT_FIELDS
from costmodel.spec import parse_spec


def conv_net(width: int, kernel: int, stride: int, depth: int, heads: int) -> dict:
    dim = width * heads
    return {
        "name": "generated",
        "inputs": {"image": [3, 32, 32]},
        "blocks": {"unit": {"params": {"dim": None, "stride": 1}, "nodes": [
            {"name": "conv", "op": "conv2d", "out": "dim", "kernel": kernel, "stride": "stride",
             "padding": kernel // 2},
            {"name": "bn", "op": "batch_norm"},
            {"name": "act", "op": "silu"},
            {"name": "dw", "op": "conv2d", "out": "dim", "kernel": 3, "padding": 1, "groups": "dim"},
            {"name": "add", "op": "add", "inputs": ["act", "dw"]},
        ]}},
        "nodes": [
            {"name": "stages", "block": "unit", "repeat": depth, "dim": dim,
             "overrides": {0: {"stride": stride}}},
            {"name": "tokens", "op": "flatten", "start_dim": 2},
            {"name": "seq", "op": "transpose", "dim0": 1, "dim1": 2},
            {"name": "attn", "op": "attention", "heads": heads},
            {"name": "norm", "op": "layer_norm"},
            {"name": "pool", "op": "reduce_mean", "dims": [1]},
            {"name": "head", "op": "linear", "out": 10},
        ],
    }


nets = st.builds(conv_net, width=st.integers(1, 8), kernel=st.sampled_from([1, 3, 5]),
                 stride=st.sampled_from([1, 2]), depth=st.integers(1, 3), heads=st.integers(1, 4))


@settings(max_examples=30, deadline=None)
@given(net=nets, batch=st.integers(2, 8), size=st.sampled_from([16, 24, 40]))
def test_batch_and_resolution_laws(net: dict, batch: int, size: int) -> None:
    spec = parse_spec(net)
    one, many = analyze(spec), analyze(spec, batch=batch)
    for name in ("macs", "flops", "activations", "output_elements", "bytes_written"):
        assert getattr(many.totals, name) == batch * getattr(one.totals, name), name
    assert many.totals.peak_activation_bytes == batch * one.totals.peak_activation_bytes
    resized = analyze(spec, batch=batch, input_shapes={"image": [3, size, size]})
    assert many.totals.params == one.totals.params == resized.totals.params
    assert many.totals.weight_bytes == resized.totals.weight_bytes


@settings(max_examples=30, deadline=None)
@given(net=nets, dtype=st.sampled_from(["fp32", "fp16", "int8"]))
def test_rows_sum_to_totals(net: dict, dtype: str) -> None:
    result = analyze(parse_spec(net), dtype=dtype)
    for name in COUNT_FIELDS:
        assert sum(getattr(row, name) for row in result.layers) == getattr(result.totals, name), name
    largest_output = max(row.bytes_written for row in result.layers)
    assert result.totals.peak_activation_bytes >= largest_output
    assert {f.name for f in fields(result.totals)} >= set(COUNT_FIELDS)
