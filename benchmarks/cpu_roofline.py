"""Measure this machine's CPU roofline figures for a hardware profile: memory bandwidth, GEMM rate, op dispatch cost.

- bandwidth: a STREAM-like copy with NumPy (``np.copyto`` of float32 arrays of 4x the last-level cache), counted
  as read + write bytes (write-allocate traffic not counted, as STREAM does); best of ``--repeat`` runs, on one
  thread (NumPy's copy is single-threaded) and, with PyTorch, on all its threads (``torch.Tensor.copy_``);
- GEMM: fp32 ``torch.mm`` of 2048 x 2048 matrices with every PyTorch thread, best of ``--repeat`` (a check on the
  computed peak, not the peak itself);
- dispatch: the time of one eager PyTorch module call on a tiny tensor (``nn.ReLU`` on 8 elements, median of
  20,000), and the time per layer of a costmodel ``SpecModule`` (``costmodel bench``'s module) running a chain
  of 200 ReLUs on 8 elements (median of 200 passes): what the latency model's ``launch_overhead_us`` stands for
  on a CPU.

The machine may be shared: best-of figures estimate what the hardware can do, medians what a run sees.
- per-op dispatch (``--ops``): per op class, the time per layer of a SpecModule running a chain of 100 such ops on a
  tiny tensor (8 channels, 4 x 4; difference of the minimum call times of 6- and 1-layer chains): the
  profile's ``launch_overhead_us`` (elementwise) and ``cpu.dispatch_us`` (what other classes cost on top);
- depthwise cost (``--ops``): ``nn.Conv2d(c, c, k, groups=c)`` at k = 3, 5, 7 on a few shapes, minimum of 50 calls,
  in ns per output element: the shape of the CPU depthwise cost.

Run: python benchmarks/cpu_roofline.py [--repeat 20] [--threads N] [--ops]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

LLC_BYTES = 32 * 1024 * 1024  # lscpu: L3 32 MiB


def stream_copy(repeat: int) -> tuple[float, float]:
    """(best, median) GB/s of a NumPy float32 copy over 4x the LLC: 2 x size bytes moved per copy."""
    n = 4 * LLC_BYTES // 4
    a = np.random.default_rng(0).random(n, dtype=np.float32)
    b = np.empty_like(a)
    np.copyto(b, a)
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        np.copyto(b, a)
        rates.append(2 * a.nbytes / (time.perf_counter() - start) / 1e9)
    return max(rates), statistics.median(rates)


def torch_figures(repeat: int) -> dict[str, float]:
    """Multi-threaded copy bandwidth (GB/s), fp32 GEMM rate (GFLOP/s) and eager dispatch time (us)."""
    import torch

    out: dict[str, float] = {"threads": torch.get_num_threads()}
    a = torch.rand(4 * LLC_BYTES // 4)
    b = torch.empty_like(a)
    b.copy_(a)
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        b.copy_(a)
        rates.append(2 * a.numel() * 4 / (time.perf_counter() - start) / 1e9)
    out["copy_best_gbs"], out["copy_median_gbs"] = max(rates), statistics.median(rates)
    n = 2048
    x, y = torch.rand(n, n), torch.rand(n, n)
    torch.mm(x, y)
    gemm = []
    for _ in range(repeat):
        start = time.perf_counter()
        torch.mm(x, y)
        gemm.append(2 * n**3 / (time.perf_counter() - start) / 1e9)
    out["gemm_best_gflops"], out["gemm_median_gflops"] = max(gemm), statistics.median(gemm)
    relu, tiny = torch.nn.ReLU().eval(), torch.rand(8)
    with torch.inference_mode():
        for _ in range(1000):
            relu(tiny)
        calls = []
        for _ in range(20_000):
            start = time.perf_counter()
            relu(tiny)
            calls.append(time.perf_counter() - start)
    out["dispatch_median_us"] = statistics.median(calls) * 1e6
    out["spec_layer_median_us"] = spec_layer_overhead_us(torch)
    return out


def spec_layer_overhead_us(torch) -> float:  # noqa: ANN001
    """Median time per layer of a SpecModule running 200 ReLUs on 8 elements, in microseconds."""
    from costmodel.bridges.torch import build_module, example_inputs
    from costmodel.graph import build_graph
    from costmodel.spec import parse_spec

    layers = 200
    spec = parse_spec({"name": "relu_chain", "inputs": {"x": [8]},
                       "nodes": [{"name": f"r{i}", "op": "relu"} for i in range(layers)]})
    graph = build_graph(spec, batch=1)
    module, inputs = build_module(graph), example_inputs(graph)
    with torch.inference_mode():
        for _ in range(20):
            module(*inputs)
        passes = []
        for _ in range(200):
            start = time.perf_counter()
            module(*inputs)
            passes.append((time.perf_counter() - start) / layers)
    return statistics.median(passes) * 1e6


OP_CHAINS = {  # op class -> a shape-preserving spec node on [8, 4, 4]
    "elementwise": {"op": "relu"},
    "norm": {"op": "batch_norm"},
    "conv": {"op": "conv2d", "out": 8, "kernel": 1},
    "depthwise": {"op": "conv2d", "out": 8, "kernel": 3, "padding": 1, "groups": 8},
    "gemm": {"op": "linear", "out": 4},
    "reduction": {"op": "softmax", "dim": -1},
}


def op_dispatch_us(short: int = 1, long: int = 6, calls: int = 500) -> dict[str, float]:
    """Per op class, the time per layer (us) of a SpecModule running a chain of such ops on [1, 8, 4, 4]: the
    difference of the minimum call times of a ``long`` and a ``short`` chain over their layer difference (short
    calls, so the minimum leaves out the calls the scheduler interrupted on a shared machine)."""
    import torch

    from costmodel.bridges.torch import build_module, example_inputs
    from costmodel.graph import build_graph
    from costmodel.spec import parse_spec

    def best(node: dict, layers: int) -> float:
        spec = parse_spec({"name": "chain", "inputs": {"x": [8, 4, 4]},
                           "nodes": [{"name": f"n{i}", **node} for i in range(layers)]})
        graph = build_graph(spec, batch=1)
        module, inputs = build_module(graph), example_inputs(graph)
        with torch.inference_mode():
            for _ in range(20):
                module(*inputs)
            return min(_timed(module, inputs) for _ in range(calls))

    return {name: (best(node, long) - best(node, short)) / (long - short) * 1e6 for name, node in OP_CHAINS.items()}


def _timed(module, inputs) -> float:  # noqa: ANN001
    start = time.perf_counter()
    module(*inputs)
    return time.perf_counter() - start


DEPTHWISE_SHAPES = ((96, 56), (240, 28), (480, 14))  # (channels, height = width)


def depthwise_ns_per_element(calls: int = 50) -> dict[tuple[int, int, int], float]:
    """(channels, size, k) -> minimum ns per output element of a depthwise conv (stride 1, same padding)."""
    import torch

    out = {}
    with torch.inference_mode():
        for c, size in DEPTHWISE_SHAPES:
            x = torch.rand(1, c, size, size)
            for k in (3, 5, 7):
                conv = torch.nn.Conv2d(c, c, k, padding=k // 2, groups=c, bias=False).eval()
                for _ in range(5):
                    conv(x)
                best = min(_timed(conv, (x,)) for _ in range(calls))
                out[(c, size, k)] = best / (c * size * size) * 1e9
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: PyTorch's)")
    parser.add_argument("--ops", action="store_true", help="only the per-op dispatch and depthwise figures")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    print(f"cores visible: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    if args.ops:
        for name, us in op_dispatch_us().items():
            print(f"SpecModule layer, {name:<11} (chains of 1 and 6 on [1, 8, 4, 4]): min {us:.2f} us")
        for (c, size, k), ns in depthwise_ns_per_element().items():
            print(f"depthwise {c} ch {size}x{size} k={k}: min {ns:.2f} ns per output element")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        return
    best, median = stream_copy(args.repeat)
    print(f"numpy copy (1 thread), 4 x LLC float32: best {best:.1f} GB/s, median {median:.1f} GB/s")
    try:
        figures = torch_figures(args.repeat)
    except ImportError:
        print("PyTorch not installed: no multi-threaded copy, GEMM or dispatch figures")
        return
    print(f"torch copy ({figures['threads']:.0f} threads): best {figures['copy_best_gbs']:.1f} GB/s, "
          f"median {figures['copy_median_gbs']:.1f} GB/s")
    print(f"torch.mm fp32 2048^3: best {figures['gemm_best_gflops']:.1f} GFLOP/s, "
          f"median {figures['gemm_median_gflops']:.1f} GFLOP/s")
    print(f"eager module call (nn.ReLU on 8 elements): median {figures['dispatch_median_us']:.2f} us")
    print(f"SpecModule layer (chain of 200 ReLUs on 8 elements): median {figures['spec_layer_median_us']:.2f} us")


if __name__ == "__main__":
    main()
