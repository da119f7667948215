"""Per-node ``dtype:`` (explicit mixed precision, issue 12 item 1): bytes and peaks per tensor from its own dtype, and
the casts where dtypes change priced as the latency model prices autocast's. Every expected figure is counted by
hand in the comments."""

from __future__ import annotations

import pytest

from costmodel.analysis.metrics import analyze_graph
from costmodel.errors import SpecError
from costmodel.graph import load_graph
from costmodel.hardware import load_profile
from costmodel.latency import estimate, plan
from costmodel.latency.model import kernel_terms

# x: 64 x 256 (batch 1); fc1: 256 -> 512 in the model's fp16; fc2: 512 -> 128 in fp32.
TWO = {
    "name": "two_linear", "inputs": {"x": [64, 256]}, "dtype": "fp16",
    "nodes": [{"name": "fc1", "op": "linear", "out": 512, "bias": False},
              {"name": "fc2", "op": "linear", "out": 128, "bias": False, "dtype": "fp32"}],
}
X, W1, Y1, W2, Y2 = 64 * 256, 256 * 512, 64 * 512, 512 * 128, 64 * 128  # elements: 16384, 131072, 32768, 65536, 8192


def test_counts_of_a_two_layer_spec_with_one_fp32_layer():
    analysis = analyze_graph(load_graph(TWO))
    fc1, fc2 = analysis.layers
    assert (fc1.weight_bytes, fc1.bytes_read, fc1.bytes_written) == (2 * W1, 2 * (X + W1), 2 * Y1)
    assert (fc1.weight_bytes, fc1.bytes_read, fc1.bytes_written) == (262_144, 294_912, 65_536)
    # fc2 reads its input, and its weights, as fp32, and writes fp32
    assert (fc2.weight_bytes, fc2.bytes_read, fc2.bytes_written) == (4 * W2, 4 * (Y1 + W2), 4 * Y2)
    assert (fc2.weight_bytes, fc2.bytes_read, fc2.bytes_written) == (262_144, 393_216, 32_768)
    # peak: while fc1 runs, x (fp16) + y1 (fp16) = 32768 + 65536; while fc2 runs, y1 (fp16) + y2 (fp32) = 65536 +
    # 32768; both 98304 (the first is reported)
    assert analysis.totals.peak_activation_bytes == 98_304 and analysis.totals.peak_at == "fc1"
    # the same spec all in fp16: fc2's weights and output at 2 bytes
    uniform = analyze_graph(load_graph({**TWO, "nodes": [TWO["nodes"][0], {**TWO["nodes"][1], "dtype": "fp16"}]}))
    assert uniform.layers[1].bytes_read == 2 * (Y1 + W2) and uniform.totals.weight_bytes == 2 * (W1 + W2)
    # --dtype overrides the model's dtype, not a node's own
    fp32 = analyze_graph(load_graph(TWO), "fp8")
    assert fp32.layers[0].weight_bytes == W1 and fp32.layers[1].weight_bytes == 4 * W2


def test_latency_casts_where_the_dtype_changes():
    graph = load_graph(TWO)
    sizes = plan(graph, "fp16")
    assert sizes.tensor_bytes == {("input:x", 0): 2, ("fc1", 0): 2, ("fc2", 0): 4}
    assert sizes.weight_bytes == {"fc1": 2, "fc2": 4} and sizes.compute_dtype == {"fc1": "fp16", "fc2": "fp32"}
    (cast,) = sizes.casts["fc2"]
    assert (cast.elements, cast.src_bytes, cast.dst_bytes, cast.weight) == (Y1, 2, 4, False)
    profile = load_profile("rtx3090")
    terms = kernel_terms(graph, profile, "fp16")
    assert [t.name for t in terms] == ["fc1", "fc2:cast", "fc2"]
    fc1, cast_kernel, fc2 = (t.traffic[0] for t in terms)
    assert (fc1.dram_read, fc1.dram_written) == (2 * (X + W1), 2 * Y1)
    assert (cast_kernel.dram_read, cast_kernel.dram_written) == (2 * Y1, 4 * Y1)  # reads fp16, writes fp32
    # fc2 reads the fp32 copy the cast just wrote (131072 B, from the cache) and its fp32 weights from DRAM
    assert (fc2.dram_read, fc2.cache_read, fc2.dram_written) == (4 * W2, 4 * Y1, 4 * Y2)
    assert [u.dtype for t in terms for u in t.units] == ["fp16", "fp32", "fp32"]
    result = estimate(graph, profile)
    assert result.summary.kernels == 3
    assert result.summary.dram_bytes == 2 * (X + W1) + 2 * Y1 + 6 * Y1 + 4 * W2 + 4 * Y2


def test_an_fp16_layer_after_an_fp32_one_casts_back():
    spec = {**TWO, "nodes": [*TWO["nodes"], {"name": "fc3", "op": "linear", "out": 10, "bias": False}]}
    sizes = plan(load_graph(spec), "fp16")
    (back,) = sizes.casts["fc3"]
    assert (back.elements, back.src_bytes, back.dst_bytes) == (Y2, 4, 2)
    assert sizes.tensor_bytes["fc3", 0] == 2


def test_a_block_call_sets_the_dtype_of_its_ops_and_a_node_inside_may_override_it():
    spec = {
        "name": "blocky", "inputs": {"x": [8, 32]}, "dtype": "fp16",
        "blocks": {"mlp": {"nodes": [{"name": "fc", "op": "linear", "out": 32},
                                     {"name": "norm", "op": "layer_norm", "dtype": "bf16"},
                                     {"name": "act", "op": "gelu"}]}},
        "nodes": [{"name": "a", "block": "mlp", "dtype": "fp32"}, {"name": "b", "block": "mlp"}],
    }
    graph = load_graph(spec)
    assert {layer.path: layer.dtype for layer in graph.layers} == {
        "a.fc": "fp32", "a.norm": "bf16", "a.act": "fp32", "b.fc": None, "b.norm": "bf16", "b.act": None}
    graph32 = graph.with_batch(4)  # re-shaping keeps every layer's dtype
    assert [layer.dtype for layer in graph32.layers] == [layer.dtype for layer in graph.layers]


def test_amp_with_explicit_nodes():
    # under amp, parameters are fp32: an explicit fp16 linear casts its weights (like autocast), an fp32 one not
    spec = {**TWO, "nodes": [{**TWO["nodes"][0], "dtype": "fp16"}, TWO["nodes"][1]]}
    sizes = plan(load_graph(spec), "fp16", "amp")
    fc1 = {(c.weight, c.elements, c.src_bytes, c.dst_bytes) for c in sizes.casts["fc1"]}
    assert fc1 == {(False, X, 4, 2), (True, W1, 4, 2)}  # the fp32 graph input, and the fp32 weights
    assert {(c.weight, c.elements, c.src_bytes, c.dst_bytes) for c in sizes.casts["fc2"]} == {(False, Y1, 2, 4)}
    assert sizes.weight_bytes == {"fc1": 2, "fc2": 4}


def test_fast_sweep_analyzer_agrees_with_the_full_one_on_mixed_precision():
    from costmodel.graph.load import to_spec
    from costmodel.sweep.evaluate import reference_metrics
    from costmodel.sweep.fast import FastAnalyzer

    spec = to_spec(TWO)[0]
    fast = FastAnalyzer(spec, [], None, None)
    assert fast(spec) == reference_metrics(spec, [])
    assert fast(spec)["peak_memory"] == 98_304


def test_an_unknown_dtype_is_a_clear_spec_error():
    with pytest.raises(SpecError, match="dtype") as info:
        load_graph({**TWO, "nodes": [{**TWO["nodes"][0], "dtype": "fp33"}]})
    assert "\n" not in str(info.value)


def test_bytes_agree_with_pytorch_running_the_same_mixed_model():
    torch = pytest.importorskip("torch")
    fc1 = torch.nn.Linear(256, 512, bias=False).half()
    fc2 = torch.nn.Linear(512, 128, bias=False).float()  # the layer kept in fp32
    x = torch.zeros(1, 64, 256, dtype=torch.float16)
    y1 = fc1(x) if x.is_cuda else torch.nn.functional.linear(x.float(), fc1.weight.float()).half()  # CPU: no fp16 mm
    y2 = fc2(y1.float())  # the cast before fc2
    analysis = analyze_graph(load_graph(TWO))
    weights = [sum(p.numel() * p.element_size() for p in m.parameters()) for m in (fc1, fc2)]
    assert [row.weight_bytes for row in analysis.layers] == weights
    assert [row.bytes_written for row in analysis.layers] == [t.numel() * t.element_size() for t in (y1, y2)]
    assert analysis.totals.input_bytes == x.numel() * x.element_size()
