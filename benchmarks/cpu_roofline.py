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

- SMT (``--smt``): are two logical CPUs two cores or two hyper-threads of one core? Single-threaded work pinned to
  logical CPU 0 alone, then on CPUs 0 and 1 at once (one process each): an fp32 ``torch.mm`` of 256 x 256 (in
  cache, FMA-bound), a NumPy copy of 4 x LLC, and a SpecModule ReLU chain (dispatch-bound). On two cores the pair
  runs each at its solo rate (sum 2x); on two SMT siblings of one core an FMA-bound pair shares the core's FMA pipes
  (sum ~1x to 1.2x). The pair's sum over the solo rate is the profile's ``cpu.smt_yield`` + 1.

- fork/join (``--fork-join``): per-call time of ops large enough for PyTorch to split them, over 64-512 channels at
  16 x 16 and 32 x 32, minimum of 300 calls, at 1 and 2 threads; the intercept of a line through the 2-thread
  times less the 1-thread intercept is what a parallel op pays per call (``cpu.sync_us``), the ratio of the slopes
  the speed-up of the work itself (over the threads' capacity: ``cpu.parallel_efficiency``). The ops: ``x + y``
  (PyTorch's own at::parallel_for kernel); a 1x1 conv to 64 channels (PyTorch's native GEMM on one thread, oneDNN
  on two: ``cpu.conv1x1_threaded_us`` and ``_speedup``); with ``--all``, also a 3x3 conv to 64 channels and a 3x3
  depthwise conv (oneDNN on any thread count) and a linear layer to 64 features on side x side tokens (MKL's
  GEMM): the same figures for the libraries' kernels that do not change library with the thread count.

- 1x1 conv parts (``--conv1x1-parts [EVERY]``): the zoo's 1x1 convs that PyTorch runs natively on one thread and
  with oneDNN on two (every EVERY-th distinct shape, by size), best of 16 calls on each, and the 2-thread call taken
  apart by oneDNN's verbose output (least of 3 calls per primitive): the input's and the output's NCHW <-> nChw16c
  reorders, the weights' reorder, the convolution, and the rest of the call outside the primitives. The reorders per
  element of input and output and a line through the rest over those elements give ``cpu.conv1x1_reorder_ns`` and
  ``cpu.conv1x1_threaded_us``.

- cross-core handoff (``--cross-core``): two threads pinned to two logical CPUs, one torch thread each; a buffer
  (64 KiB to 1 MiB: in one core's L2) written by ``fill_`` on the reader's own CPU or on the other, then summed on
  the reader's CPU (``torch.sum``, one thread); 200 rounds of each, taking turns. The sum of a buffer the other core
  just wrote pulls it over the on-chip interconnect from that core's L2; its extra time over the sum of a buffer the
  reader wrote itself gives bytes / extra (median over the sizes of the best-of figures), and its inverse
  ``cpu.cross_core_ns_per_kib``.

- op costs (``--op-costs``): per op the profile's ``cpu.op_ns`` lists, ns per output element beyond a ReLU on the same
  tensor (the roofline prices both as one pass), one thread, ops interleaved in one run, minimum of 90 calls each:
  GELU, SiLU, sigmoid, tanh (and the cheap hardswish, hardsigmoid, ReLU6) on 0.13-1.2 M elements; max_pool2d on
  NCHW against the same pool on a channels-last copy (PyTorch's vectorized kernel) per output element, and avg_pool2d
  (3x3/1 and 2x2/2, as PoolFormer, EfficientFormer, DenseNet and GhostNetV2 run it) the same way; softmax over the
  last dim of attention-score shapes against a ReLU; layer norm (nn.LayerNorm over the channels of [1, tokens,
  channels], the transformers' and ConvNeXts' shapes) against a ReLU; ConvNeXt V2's GRN as costmodel bench runs it;
  SpecModule's attention layer against its four GEMM calls run bare, as a line in the scores (``op_ns.attention``,
  per score); Swin's shifted-window mask + softmax + p @ v with the real mask against an all-zero one, per masked
  score (``op_ns.shift_window_mask``: the denormal probabilities the mask's -100 entries become); nearest upsampling
  of NCHW maps against a ReLU on the output, per output element (``op_ns.upsample``); GRN's spatial L2 norm of
  channels-last maps, as a line in elements and channels (``cpu.strided_norm_ns``, ``strided_norm_output_ns``), with
  the same norm of contiguous NCHW maps beside it.
  The per-shape minima of ``--fork-join`` are printed with ``--verbose``.

- fresh pages (``--page-faults``): per buffer size, the time to allocate a float32 tensor and fill it against filling
  a preallocated one (minimum of 15 each), per 4 KiB page: what a buffer that malloc maps afresh on every call
  (above glibc's 32 MiB mmap threshold) costs to first-touch (``cpu.page_fault_us``); buffers below the threshold
  are reused and cost nothing. Beside it, VGG-16's fc1 as PyTorch runs it (a 7x7 conv over a 7x7 input, 512 -> 4096,
  411 MB of weights, which oneDNN reorders into a fresh buffer on every call) against the same product as a linear
  layer.

- core clock (``--clock``): two dependent chains no x86 core can shortcut, timed in turns, compiled with the system's
  C compiler: ``imul r64, r64`` (latency 3 cycles on AMD's Zen 1-5 and on Intel's big cores since Sandy Bridge,
  Golden Cove / Redwood Cove included: Agner Fog, "Instruction tables"; T. Granlund, "Instruction latencies and
  throughput for AMD and Intel x86 processors") and ``add r64, r64`` with both registers changing (x += y; y += x:
  latency 1), 2 M instructions per timing, minimum of 1,000 timings each: the clock the core actually runs at, boost
  included, which a guest's /proc/cpuinfo does not show ("cpu MHz" is the nominal clock under KVM). Until 3 December
  2026 the chain was ``add $1, reg``: Golden Cove and later cores (Alder Lake P-cores, Sapphire / Granite Rapids)
  execute a 64-bit add of a small immediate at rename with zero latency, up to 5 dependent ones per cycle (P. Cordes,
  Stack Overflow question 79363816: "It's only for add-immediate, not add rax, rcx"), so it read 17.7-19.2 GHz on
  this project's Intel Xeon 6 VM (3 December 2026, 12:39-12:42 UTC). An impossible figure (above 6.5 GHz: no x86
  core is rated above 6.2, Intel's Core i9-14900KS) or the two chains disagreeing by more than 10 % is refused with
  one line and exit 2: a chain ran off its documented latency, so neither is a clock.

- GEMM rows (``--gemm-rows``): F.linear on one thread over M = 16-256 rows for four (K, N), interleaved with a tiny
  F.linear and a 4 x LLC copy, minimum of 100: the slope of a line over M = 64-256 is the GEMM's efficiency, its
  intercept less the tiny call's time the per-call cost that grows with the weights (a BLAS packs the weight
  operand into panels on every call: Goto and van de Geijn, "Anatomy of High-Performance Matrix Multiplication",
  ACM TOMS 34(3), 2008), given as a multiple of weight bytes / the stream-copy rate. Then the same for PyTorch's native
  1x1 conv (a GEMM over the pixels on one thread) at 16, 64 and 256 pixels.

- network-sized speed-ups (``--speedups``): ResNet's 3x3 convs (64 @ 56^2 to 512 @ 7^2), VGG-16's widest conv, a 1x1
  expansion, a depthwise conv and ViT-S's MLP layers, each as a one-node SpecModule, 1 and 2 threads taking turns in
  blocks of calls, caches swept before each call (``--no-sweep``: warm), minimum of 20: the measured speed-up per
  layer beside the latency model's (epyc_zen3_vm_b). Where ``--fork-join`` fits lines through small in-cache shapes,
  this asks whether a network's layers split as well, and which (the efficiency or a serial part) falls short. Needs a
  quiet machine: a 2-thread call waits for its slower thread, so on a shared machine (load 7, 3 December 07:40 UTC) the
  2-thread minima came out 10-50x the 1-thread ones.

- thread breakdown (``--thread-breakdown``): layers of the zoo's kinds (ResNet's 3x3 convs, a strided one, 1x1 convs
  that move from the native GEMM to oneDNN on two threads, depthwise convs from 112^2 to 7^2, linear layers, an add
  below and above the grain, batch and layer norms under it) at 1 and 2 threads in turns, warm caches, minimum of 60
  calls; each call timed plainly, then split into its oneDNN primitives and MKL GEMMs by their own verbose times
  (``torch.backends.mkldnn.verbose``, ``torch.backends.mkl.verbose``), the rest being PyTorch's and ideep's: which part
  of a layer splits over the threads and which does not (docs/latency-model.md, "Threading as the libraries split it").
  The load average is printed per layer: a row measured while it rose is suspect.

- batched matmuls (``--matmuls``): torch.matmul of (1, heads, M, K) @ (1, heads, K, N) as unfused attention runs it
  (LeViT-128's and ViT-S's shapes), one thread, taking turns with a tiny relu call, minimum of 240, beside the latency
  model's time for the same matmul: the rate of small-K, per-head GEMMs.

Run: python benchmarks/cpu_roofline.py [--repeat 20] [--threads N] [--ops | --smt | --fork-join [--all] |
--op-costs | --speedups | --thread-breakdown | --matmuls | --cross-core]
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# this checkout's costmodel (imported in the functions), not the editable install's, which may be another worktree's
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _llc_bytes(default: int = 32 * 2**20) -> int:
    """The last-level cache of CPU 0 as Linux reports it (/sys/devices/system/cpu/cpu0/cache: the highest level's
    size), else ``default`` (the Zen 3 VM's 32 MiB L3)."""
    best = (0, default)
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            level = int((index / "level").read_text())
            text = (index / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        match = re.fullmatch(r"(\d+)([KMG]?)", text)
        if match and level > best[0]:
            best = (level, int(match[1]) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[match[2]])
    return best[1]


LLC_BYTES = _llc_bytes()  # this machine's L3: 32 MiB on the Zen 3 VM, 480 MiB on the Xeon 6 VM
CORE_PEAK_FLOPS = 32 * 3.23e9  # one core's fp32 peak for --gemm-rows' efficiencies (--core-peak-gflops sets it)
COPY_SIZES_MB = (4, 16, 64, 256, 1024, 2048)  # --bandwidth-sizes: NumPy copies from in-cache to DRAM sizes


def stream_copy(repeat: int, nbytes: int | None = None) -> tuple[float, float]:
    """(best, median) GB/s of a NumPy float32 copy of ``nbytes`` (default 4x the LLC): 2 x size bytes moved per
    copy."""
    n = (nbytes or 4 * LLC_BYTES) // 4
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
    "view": {"op": "permute", "dims": [0, 1, 3, 2]},  # launches no kernel; SpecModule still runs it (cpu.view_us)
    # multi-head attention as SpecModule runs it (bridges/torch_ops/attention.py, timm's eager Attention): qkv linear,
    # reshape / permute / unbind, q * scale, q @ k^T, softmax, @ v, transpose + reshape, proj linear, on 16 tokens of 8
    "attention": {"op": "attention", "heads": 2, "_input": [16, 8]},
}


def op_dispatch_us(short: int = 1, long: int = 6, calls: int = 500) -> dict[str, float]:
    """Per op class, the time per layer (us) of a SpecModule running a chain of such ops on [1, 8, 4, 4] (attention:
    [1, 16, 8]): the
    difference of the minimum call times of a ``long`` and a ``short`` chain over their layer difference (short
    calls, so the minimum leaves out the calls the scheduler interrupted on a shared machine)."""
    import torch

    from costmodel.bridges.torch import build_module, example_inputs
    from costmodel.graph import build_graph
    from costmodel.spec import parse_spec

    def best(node: dict, layers: int) -> float:
        shape = node.get("_input", [8, 4, 4])  # per-sample input; [8, 4, 4] unless the chain names its own
        layer = {key: value for key, value in node.items() if key != "_input"}
        spec = parse_spec({"name": "chain", "inputs": {"x": shape},
                           "nodes": [{"name": f"n{i}", **layer} for i in range(layers)]})
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


def _smt_worker(kind: str, cpu: int, seconds: float, queue) -> None:  # noqa: ANN001
    """Pinned to logical CPU ``cpu``, one thread: the best rate of ``kind`` over ``seconds`` (GFLOP/s, GB/s, or
    SpecModule layers per microsecond)."""
    os.sched_setaffinity(0, {cpu})
    import torch

    torch.set_num_threads(1)
    best = 0.0
    if kind == "gemm":
        a, b, c = torch.rand(256, 256), torch.rand(256, 256), torch.empty(256, 256)
        end = time.perf_counter() + seconds  # from the end of the set-up (a 4 x LLC array takes seconds to fill)
        while time.perf_counter() < end:
            start = time.perf_counter()
            for _ in range(20):
                torch.mm(a, b, out=c)
            best = max(best, 20 * 2 * 256**3 / (time.perf_counter() - start) / 1e9)
    elif kind == "copy":
        x = np.random.default_rng(0).random(4 * LLC_BYTES // 4, dtype=np.float32)
        y = np.empty_like(x)
        np.copyto(y, x)
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            start = time.perf_counter()
            np.copyto(y, x)
            best = max(best, 2 * x.nbytes / (time.perf_counter() - start) / 1e9)
    else:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            best = max(best, 1 / spec_layer_overhead_us(torch))
    queue.put(best)


def smt_pairs(seconds: float = 4.0) -> dict[str, tuple[float, float]]:
    """Per kind of work: (rate alone on CPU 0, summed rate of CPUs 0 and 1 running it at once)."""
    import multiprocessing

    out = {}
    for kind in ("gemm", "copy", "dispatch"):
        rates = []
        for cpus in ((0,), (0, 1)):
            queue: multiprocessing.Queue = multiprocessing.Queue()
            procs = [multiprocessing.Process(target=_smt_worker, args=(kind, c, seconds, queue)) for c in cpus]
            for proc in procs:
                proc.start()
            for proc in procs:
                proc.join()
            rates.append(sum(queue.get() for _ in cpus))
        out[kind] = (rates[0], rates[1])
    return out


FORK_JOIN_KINDS = ("add", "conv1x1")  # --all adds FORK_JOIN_MORE
FORK_JOIN_MORE = ("conv3x3", "depthwise3x3", "linear")


def _fork_join_call(torch, kind: str, c: int, side: int):  # noqa: ANN001, ANN202
    """(call, size): a callable running one ``kind`` op on ``c`` channels of side x side, and its size in millions
    of output elements (add, depthwise) or MACs (convs, linear)."""
    x = torch.rand(1, c, side, side)
    if kind == "add":
        y = torch.rand(1, c, side, side)
        return (lambda: x + y), c * side * side / 1e6
    if kind == "linear":
        tokens, layer = torch.rand(side * side, c), torch.nn.Linear(c, 64, bias=False).eval()
        return (lambda: layer(tokens)), side * side * c * 64 / 1e6
    k, groups, out = {"conv1x1": (1, 1, 64), "conv3x3": (3, 1, 64), "depthwise3x3": (3, c, c)}[kind]
    conv = torch.nn.Conv2d(c, out, k, padding=k // 2, groups=groups, bias=False).eval()
    return (lambda: conv(x)), (out * side * side * (c // groups) * k * k / 1e6 if groups == 1
                               else c * side * side / 1e6)


FORK_JOIN_SHAPES = [(c, s) for s in (16, 32) for c in (64, 128, 256, 512)]


def fork_join(calls: int = 300, kinds: tuple[str, ...] = FORK_JOIN_KINDS,
              minima: dict[str, dict[int, list[float]]] | None = None) -> dict[str, dict[int, tuple[float, float]]]:
    """Per op kind, per thread count: (intercept us, slope us per million output elements, or MACs for the convs
    and the linear layer) of a least-squares line through the minimum call times over the sizes; ``minima``, when
    given, receives those minimum times (us, per kind and thread count, in FORK_JOIN_SHAPES order)."""
    import torch

    out: dict[str, dict[int, tuple[float, float]]] = {kind: {} for kind in kinds}
    shapes = FORK_JOIN_SHAPES
    with torch.inference_mode():
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for kind in out:
                sizes, times = [], []
                for c, side in shapes:
                    call, size = _fork_join_call(torch, kind, c, side)
                    for _ in range(20):
                        call()
                    best = math.inf
                    for _ in range(calls):
                        start = time.perf_counter()
                        call()
                        best = min(best, time.perf_counter() - start)
                    sizes.append(size)
                    times.append(best * 1e6)
                slope, intercept = np.polyfit(sizes, times, 1)
                out[kind][threads] = (float(intercept), float(slope))
                if minima is not None:
                    minima.setdefault(kind, {})[threads] = times
    return out


# network-sized layers for --speedups: (label, spec node, input shape without the batch): ResNet's 3x3 convs, a
# bottleneck's 1x1 expansion (oneDNN on two threads, native on one), a MobileNet depthwise conv, ViT-S's MLP on its
# 197 tokens and VGG-16's widest conv
SPEEDUP_LAYERS = (
    ("3x3 conv 64 @ 56^2", {"op": "conv2d", "out": 64, "kernel": 3, "padding": 1, "bias": False}, [64, 56, 56]),
    ("3x3 conv 128 @ 28^2", {"op": "conv2d", "out": 128, "kernel": 3, "padding": 1, "bias": False}, [128, 28, 28]),
    ("3x3 conv 256 @ 14^2", {"op": "conv2d", "out": 256, "kernel": 3, "padding": 1, "bias": False}, [256, 14, 14]),
    ("3x3 conv 512 @ 7^2", {"op": "conv2d", "out": 512, "kernel": 3, "padding": 1, "bias": False}, [512, 7, 7]),
    ("3x3 conv 64 @ 224^2", {"op": "conv2d", "out": 64, "kernel": 3, "padding": 1, "bias": False}, [64, 224, 224]),
    ("1x1 conv 64 -> 256 @ 56^2", {"op": "conv2d", "out": 256, "kernel": 1, "bias": False}, [64, 56, 56]),
    ("dw 3x3 144 @ 56^2", {"op": "conv2d", "out": 144, "kernel": 3, "padding": 1, "groups": 144, "bias": False},
     [144, 56, 56]),
    ("linear 197 x 384 -> 1536", {"op": "linear", "out": 1536}, [197, 384]),
    ("linear 197 x 1536 -> 384", {"op": "linear", "out": 384}, [197, 1536]),
)


def speedup_graphs():  # noqa: ANN201  (costmodel imported here: the other figures do not need it)
    """(label, graph) per SPEEDUP_LAYERS layer: a one-node costmodel graph at batch 1."""
    from costmodel.graph import build_graph
    from costmodel.spec import parse_spec

    return [(label, build_graph(parse_spec({"name": "layer", "inputs": {"x": shape}, "nodes": [{"name": "l", **node}]}),
                                batch=1)) for label, node, shape in SPEEDUP_LAYERS]


def speedups(rounds: int = 5, each: int = 4, sweep: bool = True) -> list[tuple[str, float, float, float, float]]:
    """Per SPEEDUP_LAYERS layer: (label, 1-thread us, 2-thread us, measured speed-up, the latency model's speed-up for
    the same layer on epyc_zen3_vm_b). The layer runs as costmodel bench runs it (a SpecModule of one node), 1 and 2
    threads taking turns in one process (``rounds`` blocks of ``each`` timed calls per thread count, after one untimed
    call that absorbs the switch), the caches swept (96 MB) before each call unless ``sweep`` is off; the minimum per
    thread count: ratios taken in the same minutes, so a slow hour moves both."""
    import torch

    from costmodel.bridges.torch import build_module, example_inputs
    from costmodel.hardware import load_profile
    from costmodel.latency import estimate

    profile = load_profile("epyc_zen3_vm_b")
    buffer = torch.ones(SWEEP_BYTES // 4)
    out = []
    with torch.inference_mode():
        for label, graph in speedup_graphs():
            module, inputs = build_module(graph).eval(), example_inputs(graph)
            best = {1: math.inf, 2: math.inf}
            for threads in (1, 2, 1, 2):
                torch.set_num_threads(threads)
                module(*inputs)
            for _ in range(rounds):
                for threads in (1, 2):  # a block of calls per thread count, its first call untimed (the switch)
                    torch.set_num_threads(threads)
                    module(*inputs)
                    for _ in range(each):
                        if sweep:
                            buffer.add_(1.0)
                        start = time.perf_counter()
                        module(*inputs)
                        best[threads] = min(best[threads], time.perf_counter() - start)
            one, two = (estimate(graph, profile, dtype="fp32", threads=n).summary.latency_s for n in (1, 2))
            out.append((label, best[1] * 1e6, best[2] * 1e6, best[1] / best[2], one / two))
    return out


# layers for --thread-breakdown: (label, factory of (module, input)) -- ResNet's 3x3 convs, a strided one, MobileNet's
# depthwise convs from 112^2 to 7^2, 1x1 convs (native on one thread, oneDNN on two), ViT-S's and a classifier's linear
# layers, PyTorch's own elementwise kernel below and above its grain (32,768 elements), and its batch and layer norms,
# which split channels / rows over the threads whatever their size (at::parallel_for with a grain of 1)
def _breakdown_layers(torch):  # noqa: ANN001, ANN202
    nn = torch.nn

    def conv(cin, cout, side, k=3, stride=1, groups=1):  # noqa: ANN001, ANN202
        return lambda: (nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False).eval(),
                        torch.rand(1, cin, side, side))

    def linear(m, k, n):  # noqa: ANN001, ANN202
        return lambda: (nn.Linear(k, n).eval(), torch.rand(m, k))

    def norm(module, shape):  # noqa: ANN001, ANN202
        return lambda: (module.eval(), torch.rand(*shape))

    def add(c, side):  # noqa: ANN001, ANN202
        y = torch.rand(1, c, side, side)
        return lambda: ((lambda x: x + y), torch.rand(1, c, side, side))

    return (
        ("3x3 conv 64 @ 56^2", conv(64, 64, 56)), ("3x3 conv 128 @ 28^2", conv(128, 128, 28)),
        ("3x3 conv 256 @ 14^2", conv(256, 256, 14)), ("3x3 conv 512 @ 7^2", conv(512, 512, 7)),
        ("3x3 conv 64 @ 112^2", conv(64, 64, 112)), ("3x3/2 conv 64 -> 128 @ 56^2", conv(64, 128, 56, stride=2)),
        ("1x1 conv 64 -> 256 @ 56^2", conv(64, 256, 56, k=1)), ("1x1 conv 512 -> 128 @ 28^2", conv(512, 128, 28, k=1)),
        ("1x1 conv 1024 -> 256 @ 14^2", conv(1024, 256, 14, k=1)),
        ("dw 3x3 32 @ 112^2", conv(32, 32, 112, groups=32)), ("dw 3x3 144 @ 56^2", conv(144, 144, 56, groups=144)),
        ("dw 3x3 96 @ 56^2", conv(96, 96, 56, groups=96)), ("dw 3x3 240 @ 28^2", conv(240, 240, 28, groups=240)),
        ("dw 3x3 480 @ 14^2", conv(480, 480, 14, groups=480)), ("dw 5x5 672 @ 14^2", conv(672, 672, 14, 5, groups=672)),
        ("dw 3x3 960 @ 7^2", conv(960, 960, 7, groups=960)),
        ("linear 197 x 384 -> 1536", linear(197, 384, 1536)), ("linear 197 x 1536 -> 384", linear(197, 1536, 384)),
        ("linear 49 x 512 -> 512", linear(49, 512, 512)), ("linear 1 x 1280 -> 1000", linear(1, 1280, 1000)),
        ("add 16 x 32^2 (16k)", add(16, 32)), ("add 512 x 7^2 (25k)", add(512, 7)),
        ("add 64 x 28^2 (50k)", add(64, 28)), ("add 64 x 56^2 (200k)", add(64, 56)),
        ("add 256 x 56^2 (800k)", add(256, 56)),
        ("batch norm 512 x 7^2 (25k)", norm(nn.BatchNorm2d(512), (1, 512, 7, 7))),
        ("batch norm 64 x 56^2 (200k)", norm(nn.BatchNorm2d(64), (1, 64, 56, 56))),
        ("layer norm 49 x 512 (25k)", norm(nn.LayerNorm(512), (49, 512))),
        ("layer norm 197 x 384 (76k)", norm(nn.LayerNorm(384), (197, 384))),
    )


def _thread_breakdown_child(rounds: int, each: int) -> None:
    """Prints, per layer of _breakdown_layers, 1 and 2 threads taking turns: lines "@@ layer threads phase" before each
    call and "@@T seconds" after it; phase 0 times the call, phase 1 runs it with oneDNN's and MKL's verbose output on
    (their per-primitive and per-GEMM times follow the marker)."""
    import torch

    with torch.inference_mode():
        for index, (_, make) in enumerate(_breakdown_layers(torch)):
            print(f"@@L {index} {os.getloadavg()[0]}", flush=True)
            module, x = make()
            for threads in (1, 2, 1, 2):
                torch.set_num_threads(threads)
                module(x)
            for phase in (0, 1):
                for _ in range(rounds):
                    for threads in (1, 2):
                        torch.set_num_threads(threads)
                        module(x)  # the switch
                        for _ in range(each):
                            print(f"@@ {index} {threads} {phase}", flush=True)
                            if phase:
                                with torch.backends.mkldnn.verbose(1), torch.backends.mkl.verbose(1):
                                    start = time.perf_counter()
                                    module(x)
                                    seconds = time.perf_counter() - start
                            else:
                                start = time.perf_counter()
                                module(x)
                                seconds = time.perf_counter() - start
                            print(f"@@T {seconds}", flush=True)


BreakdownRow = tuple[str, dict[int, float], dict[int, list[tuple[str, float]]], float]


def thread_breakdown(rounds: int = 6, each: int = 10) -> list[BreakdownRow]:
    """Per layer of _breakdown_layers: (label, minimum call seconds per thread count, per thread count the library
    calls one call makes -- oneDNN primitives (kind:implementation) and MKL GEMMs (name:threads used) -- each with its
    minimum seconds over the calls, the 1-minute load average when the layer started: a row measured while the load
    rose is suspect). Run in a child process whose standard output carries the libraries' verbose
    lines; 1 and 2 threads take turns in blocks of ``each`` calls, ``rounds`` times per phase (timed without verbose
    output, then with it)."""
    import subprocess
    import sys

    import torch

    labels = [label for label, _ in _breakdown_layers(torch)]
    done = subprocess.run([sys.executable, __file__, "--thread-breakdown-child", f"{rounds},{each}"], check=True,
                          capture_output=True, text=True)
    calls: dict[tuple[int, int], float] = {}
    parts: dict[tuple[int, int], list[list[tuple[str, float]]]] = {}
    key, phase, current = (0, 0), 0, []
    loads: dict[int, float] = {}
    for line in done.stdout.splitlines():
        if line.startswith("@@L"):
            loads[int(line.split()[1])] = float(line.split()[2])
        elif line.startswith("@@T"):
            if phase == 0:
                calls[key] = min(calls.get(key, math.inf), float(line.split()[1]))
            else:
                parts.setdefault(key, []).append(current)
        elif line.startswith("@@"):
            _, index, threads, ph = line.split()
            key, phase, current = (int(index), int(threads)), int(ph), []
        elif line.startswith("onednn_verbose") and ",exec," in line:
            fields = line.split(",")
            at = fields.index("exec")
            current.append((f"{fields[at + 2]}:{fields[at + 3]}", float(fields[-1]) * 1e-3))
        elif line.startswith("MKL_VERBOSE") and "NThr:" in line:
            name = line.split()[1].split("(")[0]
            found = re.search(r"\)\s+([0-9.]+)(us|ms|s)\b", line)
            nthr = re.search(r"NThr:(\d+)", line)
            if found and nthr:
                scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0}[found.group(2)]
                current.append((f"{name}:NThr{nthr.group(1)}", float(found.group(1)) * scale))
    out = []
    for index, label in enumerate(labels):
        per: dict[int, list[tuple[str, float]]] = {}
        for threads in (1, 2):
            runs = [run for run in parts.get((index, threads), []) if run]
            if runs:
                width = min(len(run) for run in runs)
                per[threads] = [(runs[0][i][0], min(run[i][1] for run in runs)) for i in range(width)]
            else:
                per[threads] = []
        out.append((label, {t: calls.get((index, t), math.nan) for t in (1, 2)}, per, loads.get(index, math.nan)))
    return out


def conv1x1_shapes(every: int = 5) -> list[tuple[int, int, int, int]]:
    """The zoo's 1x1 convs (arch_specs/*.yaml at batch 1) that PyTorch runs natively on one thread and with oneDNN on
    several (``latency.cpu.onednn_only_when_threaded``), as distinct (in channels, out channels, height, width), by
    activation size (input + output elements); every ``every``-th of them."""
    from costmodel.api import load_graph
    from costmodel.latency.cpu import onednn_only_when_threaded

    found: set[tuple[int, int, int, int]] = set()
    for spec in sorted((Path(__file__).resolve().parents[1] / "arch_specs").glob("*.yaml")):
        for layer in load_graph(spec, batch=1).layers:
            if onednn_only_when_threaded(layer, "fp32"):
                shape, out = layer.input_shapes[0], layer.cost.outputs[0]
                found.add((shape[1], out[1], shape[2], shape[3]))
    ordered = sorted(found, key=lambda s: ((s[0] + s[1]) * s[2] * s[3], s))
    return ordered[::every]


def _conv1x1_parts_child(every: int) -> None:
    """Prints, per :func:`conv1x1_shapes` shape, "@@S cin cout h w t1 t2": the minimum of 16 calls of nn.Conv2d on 1
    and on 2 threads (taking turns, 8 calls each, twice), then "@@V" before each of 3 calls on 2 threads with
    oneDNN's verbose output on (its primitives' times follow the marker)."""
    import torch

    with torch.inference_mode():
        for cin, cout, h, w in conv1x1_shapes(every):
            conv = torch.nn.Conv2d(cin, cout, 1, bias=False).eval()
            x = torch.rand(1, cin, h, w)
            best = {1: math.inf, 2: math.inf}
            for _ in range(2):
                for threads in (1, 2):
                    torch.set_num_threads(threads)
                    for _ in range(3):
                        conv(x)
                    for _ in range(8):
                        start = time.perf_counter()
                        conv(x)
                        best[threads] = min(best[threads], time.perf_counter() - start)
            print(f"@@S {cin} {cout} {h} {w} {best[1]} {best[2]}", flush=True)
            torch.set_num_threads(2)
            with torch.backends.mkldnn.verbose(1):
                for _ in range(3):
                    print("@@V", flush=True)
                    conv(x)


@dataclass(frozen=True)
class Conv1x1Parts:
    """One 1x1 conv measured by ``--conv1x1-parts`` (seconds): its best call on 1 and 2 threads, and the least time
    over 3 verbose calls of each oneDNN primitive of the 2-thread call: the input's reorder to the blocked layout
    (``src``), the weights' (``weights``), the convolution and the output's reorder back (``dst``)."""

    cin: int
    cout: int
    height: int
    width: int
    one: float
    two: float
    src: float
    weights: float
    conv: float
    dst: float

    @property
    def elements(self) -> int:
        """Elements of the input and the output."""
        return (self.cin + self.cout) * self.height * self.width

    @property
    def rest(self) -> float:
        """What the 2-thread call costs outside the primitives."""
        return self.two - self.src - self.weights - self.conv - self.dst


def parse_conv1x1_parts(text: str) -> list[Conv1x1Parts]:
    """:func:`_conv1x1_parts_child`'s output as rows; each primitive is the least over the verbose calls. An activation
    reorder whose shape is the input's (1 x cin x h x w) is the input's, the other activation reorder the output's;
    any other reorder (cout x cin x 1 x 1) is the weights'."""
    rows: list[Conv1x1Parts] = []
    head: list[str] = []
    calls: list[dict[str, float]] = []

    def flush() -> None:
        if head:
            cin, cout, h, w = (int(v) for v in head[:4])
            least = {k: min(c.get(k, 0.0) for c in calls) if calls else math.nan
                     for k in ("src", "weights", "conv", "dst")}
            rows.append(Conv1x1Parts(cin, cout, h, w, float(head[4]), float(head[5]), **least))

    for line in text.splitlines():
        if line.startswith("@@S"):
            flush()
            head, calls = line.split()[1:], []
        elif line.startswith("@@V"):
            calls.append({})
        elif line.startswith("onednn_verbose") and ",exec," in line and calls:
            fields = line.split(",")
            kind, desc, ms = fields[fields.index("exec") + 2], fields[-2], float(fields[-1])
            if kind == "convolution":
                key = "conv"
            elif kind != "reorder":
                continue
            elif desc == f"1x{head[0]}x{head[2]}x{head[3]}" and "src" not in calls[-1]:
                key = "src"
            else:
                key = "dst" if desc.startswith("1x") else "weights"
            calls[-1][key] = calls[-1].get(key, 0.0) + ms * 1e-3
    flush()
    return rows


def conv1x1_parts(every: int = 5) -> list[Conv1x1Parts]:
    """Every ``every``-th of the zoo's switching 1x1 convs (:func:`conv1x1_shapes`) on 1 and 2 threads, the 2-thread
    call taken apart by oneDNN's verbose output (:class:`Conv1x1Parts`); run in a child process whose standard output
    carries the verbose lines."""
    import subprocess

    done = subprocess.run([sys.executable, __file__, "--conv1x1-parts-child", str(every)], check=True,
                          capture_output=True, text=True)
    return parse_conv1x1_parts(done.stdout)


# batched matmuls of two activations as attention runs them unfused, (heads, M, K) @ (heads, K, N): LeViT-128's scores
# and weighted values per stage (196, 49, 16 tokens; key_dim 16, value width 32) and ViT-S's (197 tokens, 6 x 64)
MATMUL_SHAPES = (((4, 196, 16), (4, 16, 196)), ((4, 196, 196), (4, 196, 32)), ((8, 49, 16), (8, 16, 49)),
                 ((8, 49, 49), (8, 49, 32)), ((12, 16, 16), (12, 16, 16)), ((12, 16, 16), (12, 16, 32)),
                 ((6, 197, 64), (6, 64, 197)), ((6, 197, 197), (6, 197, 64)),
                 ((192, 49, 32), (192, 32, 49)), ((192, 49, 49), (192, 49, 32)))  # Swin-T stage 1: 64 windows x 3 heads


MatmulRow = tuple[tuple[int, ...], tuple[int, ...], float, float, float]


def batched_matmuls(rounds: int = 6, each: int = 40, hw: str = "epyc_zen3_vm_b") -> list[MatmulRow]:
    """Per MATMUL_SHAPES pair, on one thread: (a, b, minimum us of torch.matmul, minimum us of a tiny torch.relu taken
    in turns with it, the latency model's us for the same matmul as a one-node graph on profile ``hw``)."""
    import torch

    from costmodel.graph import build_graph
    from costmodel.hardware import load_profile
    from costmodel.latency import estimate
    from costmodel.spec import parse_spec

    torch.set_num_threads(1)
    profile = load_profile(hw)
    tiny = torch.randn(1, 8, 4, 4)
    out = []
    with torch.inference_mode():
        for a, b in MATMUL_SHAPES:
            x, y = torch.randn(1, *a), torch.randn(1, *b)
            calls = {"relu": functools.partial(torch.relu, tiny), "mm": functools.partial(torch.matmul, x, y)}
            best = _interleaved(calls, rounds, each)
            graph = build_graph(parse_spec({"name": "t", "inputs": {"a": list(a), "b": list(b)},
                                            "nodes": [{"name": "m", "op": "matmul", "inputs": ["a", "b"]}]}), batch=1)
            model = estimate(graph, profile, dtype="fp32", threads=1).summary.latency_s
            out.append((a, b, best["mm"] * 1e6, best["relu"] * 1e6, model * 1e6))
    return out


ACTIVATION_SHAPES = ((384, 56), (160, 56), (640, 14))  # (channels, side): 1.2, 0.5 and 0.13 M elements
POOL_SHAPES = ((64, 224, 2, 2, 0), (128, 112, 2, 2, 0), (512, 28, 2, 2, 0), (512, 14, 2, 2, 0), (64, 112, 3, 2, 1))
# avg_pool2d as the zoo runs it: PoolFormer's and EfficientFormer's 3x3/1 token mixers (count_include_pad=False),
# DenseNet's and GhostNetV2's 2x2/2 pools; (channels, side, kernel, stride, padding)
AVG_POOL_SHAPES = ((64, 56, 3, 1, 1), (128, 28, 3, 1, 1), (320, 14, 3, 1, 1), (128, 56, 2, 2, 0), (256, 28, 2, 2, 0))
# softmax over the last dim of attention scores [1, heads, queries, keys]: ViT/DeiT (197), LeViT (196, 49, 16),
# Swin and EfficientFormer (49)
SOFTMAX_SHAPES = ((6, 197, 197), (4, 196, 196), (8, 49, 49), (16, 16, 16))
# nearest upsampling of NCHW maps, GhostNetV2's DFC attention gates: (channels, side, output side)
UPSAMPLE_SHAPES = ((72, 28, 56), (240, 14, 28), (672, 7, 14), (960, 3, 7), (200, 7, 14))
# GRN's L2 norm over the spatial axes of the ConvNeXt V2 maps as they run (channels-last after LayerNorm2d, or [1, H,
# W, C]): (channels, side); ATen reduces it on its scalar path (latency/contiguity.py strided_norms)
STRIDED_NORM_SHAPES = ((160, 56), (320, 28), (640, 14), (1280, 7), (320, 56), (640, 28), (384, 56), (768, 28),
                       (1536, 14), (3072, 7))
# layer norm over the last dim of [1, tokens, channels]: DeiT-T / ViT-S (197 x 192, 197 x 384), Swin-T's and ConvNeXt's
# first stage (3136 x 96), their second (784 x 192), their last (49 x 768)
LAYER_NORM_SHAPES = ((197, 192), (197, 384), (3136, 96), (784, 192), (49, 768))


def _interleaved(calls: dict, rounds: int = 3, each: int = 30) -> dict[str, float]:
    """Minimum seconds per call of each callable, the callables taking turns (``rounds`` x ``each`` calls each)."""
    best = dict.fromkeys(calls, math.inf)
    for call in calls.values():
        call()
        call()
    for _ in range(rounds):
        for name, call in calls.items():
            for _ in range(each):
                start = time.perf_counter()
                call()
                best[name] = min(best[name], time.perf_counter() - start)
    return best


def op_costs() -> dict[str, list[tuple[str, float]]]:
    """Per op, (shape, ns per output element beyond the reference) on one thread (see the module doc)."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    from costmodel.bridges.torch_ops.layers import GlobalResponseNorm

    torch.set_num_threads(1)
    out: dict[str, list[tuple[str, float]]] = {}
    with torch.inference_mode():
        for c, side in ACTIVATION_SHAPES:
            x = torch.randn(1, c, side, side)
            grn = GlobalResponseNorm(c, True, 4).eval()
            ops = {"relu": F.relu, "gelu": F.gelu, "silu": F.silu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
                   "hardswish": F.hardswish, "hardsigmoid": F.hardsigmoid, "relu6": F.relu6, "grn": grn}
            best = _interleaved({name: functools.partial(op, x) for name, op in ops.items()})
            for name, seconds in best.items():
                if name != "relu":
                    out.setdefault(name, []).append((f"{c}x{side}^2", (seconds - best["relu"]) / x.numel() * 1e9))
        for c, side, k, stride, pad in POOL_SHAPES:
            x = torch.randn(1, c, side, side)
            last = x.contiguous(memory_format=torch.channels_last)
            best = _interleaved({"nchw": functools.partial(F.max_pool2d, x, k, stride, pad),
                                 "cl": functools.partial(F.max_pool2d, last, k, stride, pad)}, each=10)
            outputs = F.max_pool2d(x, k, stride, pad).numel()
            out.setdefault("max_pool2d", []).append(
                (f"{k}x{k}/{stride} {c}x{side}^2", (best["nchw"] - best["cl"]) / outputs * 1e9))
        for c, side, k, stride, pad in AVG_POOL_SHAPES:
            x = torch.randn(1, c, side, side)
            last = x.contiguous(memory_format=torch.channels_last)
            pool = functools.partial(F.avg_pool2d, kernel_size=k, stride=stride, padding=pad, count_include_pad=False)
            best = _interleaved({"nchw": functools.partial(pool, x), "cl": functools.partial(pool, last)}, each=10)
            out.setdefault("avg_pool2d", []).append(
                (f"{k}x{k}/{stride} {c}x{side}^2", (best["nchw"] - best["cl"]) / pool(x).numel() * 1e9))
        for tokens, channels in LAYER_NORM_SHAPES:
            x = torch.randn(1, tokens, channels)
            norm = torch.nn.LayerNorm(channels).eval()
            best = _interleaved({"relu": functools.partial(F.relu, x), "layer_norm": functools.partial(norm, x)})
            out.setdefault("layer_norm", []).append(
                (f"{tokens}x{channels}", (best["layer_norm"] - best["relu"]) / x.numel() * 1e9))
        for c, side, size in UPSAMPLE_SHAPES:
            x, y = torch.randn(1, c, side, side), torch.randn(1, c, size, size)
            up = torch.nn.Upsample(size=(size, size), mode="nearest")
            best = _interleaved({"relu": functools.partial(F.relu, y), "upsample": functools.partial(up, x)})
            out.setdefault("upsample", []).append(
                (f"{c}x{side}^2->{size}^2", (best["upsample"] - best["relu"]) / y.numel() * 1e9))
        for heads, queries, keys in SOFTMAX_SHAPES:
            x = torch.randn(1, heads, queries, keys)
            best = _interleaved({"relu": functools.partial(F.relu, x),
                                 "softmax": functools.partial(torch.softmax, x, -1)})
            out.setdefault("softmax", []).append(
                (f"{heads}x{queries}x{keys}", (best["softmax"] - best["relu"]) / x.numel() * 1e9))
    return out


def strided_norm_costs() -> list[tuple[str, int, int, float, float]]:
    """Per GRN shape, (shape, elements, channels, us strided, us contiguous) on one thread: ``x.norm(p=2,
    dim=spatial)`` of a channels-last map (ATen's scalar ``binary_kernel_reduce``: the reduced dims are not the
    innermost) and of the same values as a contiguous NCHW map (its vectorized path); minimum of 45 interleaved
    calls."""
    import torch

    torch.set_num_threads(1)
    out = []
    with torch.inference_mode():
        for c, side in STRIDED_NORM_SHAPES:
            x = torch.randn(1, c, side, side)
            last = x.contiguous(memory_format=torch.channels_last)
            best = _interleaved({"strided": functools.partial(torch.norm, last, 2, (2, 3), True),
                                 "contiguous": functools.partial(torch.norm, x, 2, (2, 3), True)}, each=15)
            out.append((f"{c}x{side}^2", x.numel(), c, best["strided"] * 1e6, best["contiguous"] * 1e6))
    return out


def plane_fit(rows: list[tuple[float, float, float]]) -> tuple[float, float]:
    """Least-squares (a, b) of t = a x + b y through the origin over rows (x, y, t)."""
    sxx = sum(x * x for x, _, _ in rows)
    syy = sum(y * y for _, y, _ in rows)
    sxy = sum(x * y for x, y, _ in rows)
    sxt = sum(x * t for x, _, t in rows)
    syt = sum(y * t for _, y, t in rows)
    det = sxx * syy - sxy * sxy
    return (sxt * syy - syt * sxy) / det, (syt * sxx - sxt * sxy) / det


# multi-head attention layers as SpecModule runs the ``attention`` op (bridges/torch_ops/attention.py: timm's eager
# Attention), [1, tokens, dim] and heads, head_dim 64 throughout: short sequences, DeiT-T's and ViT-S's layers (calls
# of at most ~1 ms, so that a shared machine leaves some undisturbed)
ATTENTION_SHAPES = ((25, 192, 3), (50, 192, 3), (100, 192, 3), (197, 192, 3), (197, 384, 6))


def attention_score_costs(rounds: int = 3) -> list[tuple[str, int, float]]:
    """Per attention shape, (shape, scores, us) on one thread: the time of SpecModule's attention layer beyond its GEMM
    calls run bare (the qkv and proj linears, q @ k^T and p @ v on contiguous operands; interleaved, minimum of 90
    calls each; the median of ``rounds`` such differences): what eager PyTorch spends on the rest (q * scale, the
    softmax over the B x H x L x L scores, the permuted views fed to the matmuls, the transpose + reshape copy, about
    a dozen dispatches)."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    from costmodel.bridges.torch_ops.attention import MultiHeadAttention

    torch.set_num_threads(1)
    out = []
    with torch.inference_mode():
        for tokens, dim, heads in ATTENTION_SHAPES:
            hd = dim // heads
            layer = MultiHeadAttention(dim, heads, hd, dim, True, True).eval()
            x = torch.randn(1, tokens, dim)
            q, k, v = (torch.randn(1, heads, tokens, hd) for _ in range(3))
            kt, p = torch.randn(1, heads, hd, tokens), torch.randn(1, heads, tokens, tokens)
            y = torch.randn(1, tokens, dim)

            def gemms(x=x, q=q, kt=kt, p=p, v=v, y=y, layer=layer):  # noqa: ANN001, ANN202
                F.linear(x, layer.qkv.weight, layer.qkv.bias)
                torch.matmul(q, kt)
                torch.matmul(p, v)
                return F.linear(y, layer.proj.weight, layer.proj.bias)

            extra = []
            for _ in range(rounds):
                best = _interleaved({"layer": functools.partial(layer, x), "gemms": gemms})
                extra.append((best["layer"] - best["gemms"]) * 1e6)
            out.append((f"{tokens}x{dim} h{heads}", heads * tokens * tokens, statistics.median(extra)))
    return out


# Swin-T's shifted blocks, stages 1-3: (map side, heads); window 7, shift 3, head_dim 32
SHIFTED_WINDOW_SHAPES = ((56, 3), (28, 6), (14, 12))


def masked_score_costs() -> list[tuple[str, int, float]]:
    """Per Swin stage, (shape, masked scores, ns per masked score) on one thread: timm's shifted-window mask added to
    the scores, the softmax and p @ v (v the permuted view SpecModule feeds it) with the real mask against the same
    calls with an all-zero mask (interleaved, minimum of 30 calls each). The softmax turns a -100 entry into
    exp(-100 + s - max), about 4e-44: a denormal float, which the GEMM multiplies with an FP assist."""
    import torch

    from costmodel.bridges.torch_ops.attention import shifted_window_mask
    from costmodel.ops.attention import masked_pairs

    torch.set_num_threads(1)
    window, shift, hd = 7, 3, 32
    out = []
    with torch.inference_mode():
        for side, heads in SHIFTED_WINDOW_SHAPES:
            mask = shifted_window_mask(side, side, window, shift, shift)  # [nW, L, L]
            windows, length = mask.shape[0], mask.shape[-1]
            scores = torch.randn(windows, heads, length, length)
            qkv = torch.randn(windows, length, 3 * heads * hd)
            v = qkv.chunk(3, dim=2)[2].reshape(windows, length, heads, hd).transpose(1, 2)

            def run(m: torch.Tensor, scores: torch.Tensor = scores, v: torch.Tensor = v) -> torch.Tensor:
                return (scores + m.unsqueeze(1)).softmax(-1) @ v

            best = _interleaved({"masked": functools.partial(run, mask),
                                 "zero": functools.partial(run, torch.zeros_like(mask))}, each=10)
            count = masked_pairs(side, side, window, shift, shift) * heads
            out.append((f"{side}^2 h{heads}", count, (best["masked"] - best["zero"]) / count * 1e9))
    return out


def line_fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares (intercept, slope) of ys over xs."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((a - mx) * (b - my) for a, b in zip(xs, ys, strict=True)) / sum((a - mx) ** 2 for a in xs)
    return my - slope * mx, slope


CLOCK_C = r"""
#include <stdio.h>
#include <stdint.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
#define IMUL8 "imul %1, %0\n\timul %1, %0\n\timul %1, %0\n\timul %1, %0\n\t" \
              "imul %1, %0\n\timul %1, %0\n\timul %1, %0\n\timul %1, %0"
#define ADD8 "add %1, %0\n\tadd %0, %1\n\tadd %1, %0\n\tadd %0, %1\n\t" \
             "add %1, %0\n\tadd %0, %1\n\tadd %1, %0\n\tadd %0, %1"
int main(void) {
  const long n = 250000; double imul_best = 1e9, add_best = 1e9;
  uint64_t x = 3, y = 0x9E3779B97F4A7C15ull, a = 1, b = 2;
  for (int r = 0; r < 1000; r++) {
    double s = now();
    for (long i = 0; i < n; i++) __asm__ volatile(IMUL8 : "+r"(x) : "r"(y));
    double t = now() - s; if (t < imul_best) imul_best = t;
    s = now();
    for (long i = 0; i < n; i++) __asm__ volatile(ADD8 : "+r"(a), "+r"(b));
    t = now() - s; if (t < add_best) add_best = t;
  }
  printf("%.6f %.6f %lu\n", n * 8 * 3 / imul_best / 1e9, n * 8 / add_best / 1e9, (unsigned long)(x ^ a ^ b));
  return 0;
}
"""
MAX_CLOCK_GHZ = 6.5  # no x86 core is rated above 6.2 GHz (Intel Core i9-14900KS max turbo); a faster chain is shortcut
CLOCK_AGREEMENT = 0.10  # the two chains must agree within this share, or one of them ran off its latency


def core_clock_ghz() -> tuple[float, float] | None:
    """(imul chain, add chain) GHz on x86-64 (see the module doc); None without a C compiler or on another ISA."""
    import platform
    import shutil
    import subprocess
    import tempfile

    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or platform.machine() not in ("x86_64", "AMD64"):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        source, binary = os.path.join(tmp, "clock.c"), os.path.join(tmp, "clock")
        with open(source, "w") as f:
            f.write(CLOCK_C)
        subprocess.run([compiler, "-O1", "-o", binary, source], check=True)
        imul, add = subprocess.run([binary], check=True, capture_output=True, text=True).stdout.split()[:2]
        return float(imul), float(add)


def clock_problem(imul_ghz: float, add_ghz: float) -> str | None:
    """Why the two chains' figures are not a clock (one line), or None when they are: a figure above
    ``MAX_CLOCK_GHZ`` or at most zero, or the two chains disagreeing by more than ``CLOCK_AGREEMENT``."""
    for name, ghz in (("imul chain (3 cycles per imul)", imul_ghz), ("add chain (1 cycle per add)", add_ghz)):
        if not 0 < ghz <= MAX_CLOCK_GHZ:
            return (f"{name} ran at {ghz:.2f} GHz, not a clock any x86 core runs at (none above {MAX_CLOCK_GHZ} GHz): "
                    "this core executes the chain faster than its documented latency; no clock figure")
    if abs(imul_ghz / add_ghz - 1) > CLOCK_AGREEMENT:
        return (f"imul chain {imul_ghz:.3f} GHz and add chain {add_ghz:.3f} GHz disagree by more than "
                f"{CLOCK_AGREEMENT:.0%}: one ran off its documented latency (or the machine's speed moved); "
                "no clock figure")
    return None


FMA_C = r"""
#include <stdio.h>
#include <stdint.h>
#include <time.h>
#include <immintrin.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
#define REP12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
__attribute__((target("avx2,fma"))) static double ymm(long n) {
  __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
#define DECL(i) __m256 a##i = _mm256_set1_ps((float)(i + 1));
  REP12(DECL)
#undef DECL
  double s = now();
  for (long i = 0; i < n; i++) {
#define STEP(i) a##i = _mm256_fmadd_ps(a##i, m, c);
    REP12(STEP)
#undef STEP
    __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5));
    __asm__ volatile("" : "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9), "+x"(a10), "+x"(a11));
  }
  double t = now() - s;
  float out[8]; _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(a0, a6), _mm256_add_ps(a11, a7)));
  if (out[0] == 12345.f) printf("x");
  return n * 12.0 * 8 * 2 / t / 1e9;
}
__attribute__((target("avx512f"))) static double zmm(long n) {
  __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
#define DECL(i) __m512 a##i = _mm512_set1_ps((float)(i + 1));
  REP12(DECL)
#undef DECL
  double s = now();
  for (long i = 0; i < n; i++) {
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, m, c);
    REP12(STEP)
#undef STEP
    __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5));
    __asm__ volatile("" : "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
  }
  double t = now() - s;
  float out[16]; _mm512_storeu_ps(out, _mm512_add_ps(_mm512_add_ps(a0, a6), _mm512_add_ps(a11, a7)));
  if (out[0] == 12345.f) printf("x");
  return n * 12.0 * 16 * 2 / t / 1e9;
}
static double imul_ghz(long n) {
  uint64_t x = 3, y = 0x9E3779B97F4A7C15ull;
  double s = now();
  for (long i = 0; i < n; i++)
    __asm__ volatile("imul %1, %0\n\timul %1, %0\n\timul %1, %0\n\timul %1, %0" : "+r"(x) : "r"(y));
  double t = now() - s;
  if (x == 12345) printf("x");
  return n * 4 * 3 / t / 1e9;
}
int main(void) {
  __builtin_cpu_init();
  int has512 = __builtin_cpu_supports("avx512f");
  double best[4] = {0, 0, 0, 0};  /* ymm GFLOP/s, zmm GFLOP/s, clock after ymm, clock after zmm */
  for (int r = 0; r < 200; r++) {
    double v = ymm(200000); if (v > best[0]) best[0] = v;
    v = imul_ghz(200000); if (v > best[2]) best[2] = v;
    if (has512) {
      v = zmm(200000); if (v > best[1]) best[1] = v;
      v = imul_ghz(200000); if (v > best[3]) best[3] = v;
    }
  }
  printf("%.3f %.3f %.4f %.4f\n", best[0], best[1], best[2], best[3]);
  return 0;
}
"""


def fma_peak() -> tuple[float, float, float, float] | None:
    """(256-bit FMA GFLOP/s, 512-bit FMA GFLOP/s or 0 without AVX-512, imul-chain GHz right after each) on one core:
    12 independent FMA chains per width (enough to fill two FMA pipes of latency 4), fp32, best of 200 timings each,
    in turns with the clock chain; None without a C compiler or on another ISA."""
    import platform
    import shutil
    import subprocess
    import tempfile

    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or platform.machine() not in ("x86_64", "AMD64"):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        source, binary = os.path.join(tmp, "fma.c"), os.path.join(tmp, "fma")
        with open(source, "w") as f:
            f.write(FMA_C)
        subprocess.run([compiler, "-O2", "-o", binary, source], check=True)
        ymm, zmm, after_ymm, after_zmm = (float(v) for v in subprocess.run(
            [binary], check=True, capture_output=True, text=True).stdout.split()[:4])
        return ymm, zmm, after_ymm, after_zmm


PAGE_FAULT_MB = (1.0, 12.8, 48.0, 200.0)


def page_faults(calls: int = 15) -> dict[float, tuple[float, float, float]]:
    """Per buffer size (MB): (fresh ms, preallocated ms, us per 4 KiB page of the difference), minimum of ``calls``."""
    import torch

    torch.set_num_threads(1)
    out = {}
    for mb in PAGE_FAULT_MB:
        n = int(mb * 1e6 / 4)
        kept = torch.empty(n)
        kept.fill_(1.0)
        fresh, reused = math.inf, math.inf
        for _ in range(calls):
            start = time.perf_counter()
            torch.empty(n).fill_(1.0)
            fresh = min(fresh, time.perf_counter() - start)
            start = time.perf_counter()
            kept.fill_(2.0)
            reused = min(reused, time.perf_counter() - start)
        out[mb] = (fresh * 1e3, reused * 1e3, (fresh - reused) / (n * 4 / 4096) * 1e6)
    return out


CROSS_CORE_KB = (64, 256, 512, 1024)  # in one core's L2 on the machines profiled (>= 512 KiB per core)


def cross_core(sizes_kb: tuple[int, ...] = CROSS_CORE_KB, rounds: int = 200) -> list[tuple[int, float, float]]:
    """Per buffer size (KiB): (best us of summing a buffer the reading core wrote itself, best us of summing one the
    other core just wrote), each the minimum of ``rounds`` (:func:`_cross_core_size`), on the first two logical
    CPUs."""
    import torch

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("--cross-core needs two logical CPUs")
    torch.set_num_threads(1)
    return [(kb, *_cross_core_size(torch.empty(kb * 256), cpus[0], cpus[1], rounds)) for kb in sizes_kb]


def _cross_core_size(buf, near: int, far: int, rounds: int) -> tuple[float, float]:  # noqa: ANN001
    """(local, remote) best us of ``buf.sum()`` on CPU ``far``: two Python threads pinned to ``near`` and ``far``
    (``os.sched_setaffinity`` of the calling thread) take turns: the near one ``fill_``s the buffer (remote), or the
    far one does on its own CPU (local); the far one then times the sum (one torch thread: the call runs on the
    caller)."""
    import threading

    best = {"local": math.inf, "remote": math.inf}
    turn = {"mode": "local", "stop": False, "value": 0.0}
    write, read, done = threading.Event(), threading.Event(), threading.Event()

    def writer() -> None:
        os.sched_setaffinity(0, {near})
        while True:
            write.wait()
            write.clear()
            if turn["stop"]:
                return
            turn["value"] += 1.0
            buf.fill_(turn["value"])
            read.set()

    def reader() -> None:
        os.sched_setaffinity(0, {far})
        while True:
            read.wait()
            read.clear()
            if turn["stop"]:
                return
            if turn["mode"] == "local":
                turn["value"] += 1.0
                buf.fill_(turn["value"])
            start = time.perf_counter()
            buf.sum()
            key = str(turn["mode"])
            best[key] = min(best[key], time.perf_counter() - start)
            done.set()

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for _ in range(rounds):
        for mode in ("local", "remote"):
            turn["mode"] = mode
            done.clear()
            (write if mode == "remote" else read).set()
            done.wait()
    turn["stop"] = True
    write.set()
    read.set()
    for t in threads:
        t.join()
    return best["local"] * 1e6, best["remote"] * 1e6


def cross_core_gbs(rows: list[tuple[int, float, float]]) -> float:
    """The cross-core rate from :func:`cross_core`'s rows (``cpu.cross_core_ns_per_kib`` is 1024 over it): per
    size, bytes over the remote read's extra time, GB/s; their median (sizes where the remote read was not slower
    are left out; nan if none is)."""
    rates = [kb * 1024 / (remote - local) / 1e3 for kb, local, remote in rows if remote > local]
    return statistics.median(rates) if rates else math.nan


# (out, in, kernel) of a conv: 3x3 convs (oneDNN on any thread count) and 1x1 convs (oneDNN only on several threads:
# at one thread PyTorch runs them natively, no reorder, and they are left out)
WEIGHT_REORDER_SHAPES = ((128, 128, 3), (256, 256, 3), (512, 256, 3), (512, 512, 3), (1024, 512, 3), (1024, 256, 1),
                         (2048, 512, 1), (512, 2048, 1))
SWEEP_BYTES = 96 * 2**20  # swept between calls: evicts the 32 MiB L3, as the rest of a network's pass does


def _weight_reorder_child(calls: int, threads: int = 1) -> None:
    """In a child with oneDNN's verbose output on stdout: per shape, ``calls`` rounds of (sweep the caches, conv),
    (sweep, clone the weight), (stream copy over 4 x LLC), on ``threads`` threads; prints the clone and copy minima as
    CLONE / COPY lines."""
    import torch

    torch.set_num_threads(threads)
    sweep = torch.ones(SWEEP_BYTES // 4)
    src, dst = torch.ones(LLC_BYTES), torch.empty(LLC_BYTES)  # 4 x LLC bytes each
    with torch.inference_mode():
        for out_ch, in_ch, k in WEIGHT_REORDER_SHAPES:
            conv = torch.nn.Conv2d(in_ch, out_ch, k, 1, k // 2, bias=False).eval()
            x = torch.randn(1, in_ch, 14, 14)
            weight = conv.weight.detach().clone()
            for _ in range(3):
                conv(x)
            print(f"SHAPE {out_ch} {in_ch} {k}", flush=True)
            clone = copy = math.inf
            for _ in range(calls):
                sweep.add_(1.0)
                with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                    conv(x)
                sweep.add_(1.0)
                start = time.perf_counter()
                weight.clone()
                clone = min(clone, time.perf_counter() - start)
                start = time.perf_counter()
                dst.copy_(src)
                copy = min(copy, time.perf_counter() - start)
            print(f"CLONE {clone}\nCOPY {copy}", flush=True)


def weight_reorder(calls: int = 20, threads: int = 1) -> dict[tuple[int, int, int], tuple[float, float, float]]:
    """Per conv (out, in channels, kernel): (reorder us, clone us, reorder time over weight bytes / stream-copy rate),
    on ``threads`` threads (the stream copy too: torch's copy_ splits it over them), caches swept before each call,
    minimum of ``calls``; the reorder's time from ONEDNN_VERBOSE. Shapes with no reorder (a 1x1 conv on one thread
    runs natively) are left out."""
    import subprocess
    import sys

    text = subprocess.run([sys.executable, __file__, "--weight-reorder-child", str(calls), "--threads", str(threads)],
                          capture_output=True, text=True, check=True).stdout
    shape: tuple[int, int, int] = (0, 0, 0)
    reorder: dict[tuple[int, int, int], float] = {}
    clone: dict[tuple[int, int, int], float] = {}
    copy: dict[tuple[int, int, int], float] = {}
    for line in text.splitlines():
        fields = line.split(",")
        if line.startswith("SHAPE"):
            shape = (int(line.split()[1]), int(line.split()[2]), int(line.split()[3]))
        elif line.startswith(("CLONE", "COPY")):
            (clone if line.startswith("CLONE") else copy)[shape] = float(line.split()[1])
        elif len(fields) > 10 and fields[3] == "exec" and fields[5] == "reorder" and not fields[-2].startswith("1x"):
            reorder[shape] = min(reorder.get(shape, math.inf), float(fields[-1]) * 1e-3)  # verbose: ms
    out = {}
    for shape, seconds in reorder.items():
        nbytes = shape[0] * shape[1] * shape[2] ** 2 * 4
        stream_rate = 2 * 4 * LLC_BYTES / copy[shape]  # read + write bytes per second, as stream_copy counts them
        out[shape] = (seconds * 1e6, clone[shape] * 1e6, seconds / (nbytes / stream_rate))
    return out


GEMM_SHAPES = ((384, 384), (256, 1024), (1024, 256), (128, 512))  # (K, N): a linear layer's in and out features
GEMM_ROWS = (16, 32, 64, 128, 256)  # M: the tokens of a batch-1 transformer stage (LeViT: 196, 49, 16)


CONV1X1_SIDES = (4, 8, 16)  # a native 1x1 conv's pixels (16, 64, 256): multiples of its GEMM's 16-pixel tiles


def conv1x1_pixels(rounds: int = 4, each: int = 25,
                   peak: float = CORE_PEAK_FLOPS) -> dict[tuple[int, int], tuple[list[float], float, float]]:
    """Per 1x1 conv (in, out channels) = GEMM_SHAPES on one thread (PyTorch's native GEMM there): (minimum us per side
    in CONV1X1_SIDES, slope efficiency over 16-256 pixels, intercept us less a tiny conv's per-call cost, in ns per
    weight). Side 7 (49 pixels) costs as much as 8 (the GEMM's pixel tiles), so the line takes multiples of 16."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    torch.set_num_threads(1)
    out = {}
    with torch.inference_mode():
        tiny = (torch.randn(1, 8, 2, 2), torch.randn(8, 8, 1, 1), torch.randn(8))
        for cin, cout in GEMM_SHAPES:
            weight, bias = torch.randn(cout, cin, 1, 1), torch.randn(cout)
            calls = {side: functools.partial(F.conv2d, torch.randn(1, cin, side, side), weight, bias)
                     for side in CONV1X1_SIDES}
            calls[0] = functools.partial(F.conv2d, *tiny)
            best = _interleaved(calls, rounds, each)
            pixels = [side * side for side in CONV1X1_SIDES]
            slope, intercept = np.polyfit(pixels, [best[side] for side in CONV1X1_SIDES], 1)
            out[(cin, cout)] = ([best[side] * 1e6 for side in CONV1X1_SIDES], 2 * cin * cout / slope / peak,
                                (intercept - best[0]) * 1e9 / (cin * cout))
    return out


def gemm_rows(rounds: int = 4, each: int = 25,
              peak: float = CORE_PEAK_FLOPS) -> dict[tuple[int, int], tuple[list[float], float, float, float]]:
    """Per linear layer (K, N) on one thread: (minimum us per M in GEMM_ROWS, efficiency of the slope over M = 64-256
    against one core's peak (``CORE_PEAK_FLOPS``, --core-peak-gflops), intercept us less a tiny
    F.linear's per-call cost, that intercept over weight bytes / the stream-copy rate measured in the same rounds)."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    torch.set_num_threads(1)
    src, dst = torch.ones(LLC_BYTES), torch.empty(LLC_BYTES)  # 4 x LLC bytes each
    out = {}
    with torch.inference_mode():
        tiny = (torch.randn(1, 8), torch.randn(8, 8), torch.randn(8))
        for k, n in GEMM_SHAPES:
            weight, bias = torch.randn(n, k), torch.randn(n)
            calls = {m: functools.partial(F.linear, torch.randn(1, m, k), weight, bias) for m in GEMM_ROWS}
            calls[0] = functools.partial(F.linear, *tiny)
            calls[-1] = functools.partial(dst.copy_, src)
            best = _interleaved(calls, rounds, each)
            fit = [m for m in GEMM_ROWS if m >= 64]
            slope, intercept = np.polyfit(fit, [best[m] for m in fit], 1)
            stream_rate = 2 * 4 * LLC_BYTES / best[-1]
            fixed = intercept - best[0]
            out[(k, n)] = ([best[m] * 1e6 for m in GEMM_ROWS], 2 * k * n / slope / peak, fixed * 1e6,
                           fixed / (k * n * 4 / stream_rate))
    return out


def conv_as_linear(calls: int = 3) -> tuple[float, float]:
    """(ms, ms): VGG-16's fc1 as a 7x7 conv over a 7x7 input (oneDNN, weights reordered per call) and as a linear
    layer (MKL, weights read as they are), one thread, minimum of ``calls``."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    torch.set_num_threads(1)
    with torch.inference_mode():
        weight, x = torch.randn(4096, 512, 7, 7), torch.randn(1, 512, 7, 7)
        flat, row = weight.reshape(4096, -1), x.reshape(1, -1)
        best = _interleaved({"conv": functools.partial(F.conv2d, x, weight),
                             "linear": functools.partial(F.linear, row, flat)}, rounds=1, each=calls)
    return best["conv"] * 1e3, best["linear"] * 1e3


def print_conv1x1_parts(rows: list[Conv1x1Parts], hw: str) -> None:
    """Per shape, the calls and the 2-thread parts (us), then the figures: the reorders per element of input and
    output (median over the shapes), a line through the rest over those elements, and what the profile ``hw`` then
    gets: ``conv1x1_threaded_us`` (the rest's intercept less the launch and conv dispatch the model adds per call)
    and ``conv1x1_reorder_ns`` (the reorders' median plus the rest's slope)."""
    from costmodel.hardware import load_profile
    from costmodel.vocab import EfficiencyClass

    print(f"load average at the start {os.getloadavg()[0]:.1f}")
    for r in rows:
        print(f"1x1 {r.cin:5d} -> {r.cout:5d} @ {r.height:3d}x{r.width:<3d}: 1 thread {r.one * 1e6:8.1f} us, 2 threads "
              f"{r.two * 1e6:8.1f} us ({r.one / r.two:.2f}x); src {r.src * 1e6:6.1f}, weights {r.weights * 1e6:6.1f}, "
              f"conv {r.conv * 1e6:7.1f} ({2 * r.cin * r.cout * r.height * r.width / r.conv / 1e9:5.0f} GFLOP/s), "
              f"dst {r.dst * 1e6:6.1f}, rest {r.rest * 1e6:6.1f} us")
    reorder = statistics.median((r.src + r.dst) / r.elements for r in rows) * 1e9
    intercept, slope = line_fit([r.elements for r in rows], [r.rest * 1e6 for r in rows])
    profile = load_profile(hw)
    per_call = profile.launch_overhead_us + (profile.cpu.dispatch_us.get(EfficiencyClass.CONV, 0.0)
                                             if profile.cpu is not None else 0.0)
    print(f"{len(rows)} shapes: reorders (src + dst) median {reorder:.3f} ns per element of input and output; the "
          f"rest {intercept:.1f} us + {slope * 1e3:.3f} ns per element; speed-up 2 / 1 thread median "
          f"{statistics.median(r.one / r.two for r in rows):.2f}")
    print(f"-> on {hw} (launch + conv dispatch {per_call:.1f} us): conv1x1_threaded_us {intercept - per_call:.1f}, "
          f"conv1x1_reorder_ns {reorder + slope * 1e3:.3f}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: PyTorch's)")
    parser.add_argument("--ops", action="store_true", help="only the per-op dispatch and depthwise figures")
    parser.add_argument("--fork-join", action="store_true", help="only the fork/join test at 1 and 2 threads")
    parser.add_argument("--all", action="store_true", help="with --fork-join: also 3x3, depthwise and linear layers")
    parser.add_argument("--verbose", action="store_true", help="with --fork-join: also each shape's minimum times")
    parser.add_argument("--smt", action="store_true", help="only the SMT test: logical CPUs 0 and 1 alone and at once")
    parser.add_argument("--op-costs", action="store_true", help="only the per-element op costs (cpu.op_ns)")
    parser.add_argument("--page-faults", action="store_true", help="only the fresh-page cost (cpu.page_fault_us)")
    parser.add_argument("--clock", action="store_true", help="only the core clock of dependent imul and add chains")
    parser.add_argument("--weight-reorder", action="store_true",
                        help="only oneDNN's per-call weight reorder against a clone and the stream copy")
    parser.add_argument("--weight-reorder-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--speedups", action="store_true",
                        help="only network-sized layers at 1 and 2 threads, alternating, caches swept: measured "
                        "speed-up against the latency model's for each")
    parser.add_argument("--thread-breakdown", action="store_true",
                        help="only layers at 1 and 2 threads, alternating, warm: each call split into its oneDNN "
                        "primitives and MKL GEMMs (their verbose times) and the rest")
    parser.add_argument("--thread-breakdown-child", help=argparse.SUPPRESS)
    parser.add_argument("--conv1x1-parts", type=int, nargs="?", const=5, metavar="EVERY",
                        help="only the zoo's 1x1 convs that change library with the thread count (every EVERY-th, "
                        "default 5): 1 and 2 threads, the 2-thread call split into oneDNN's primitives and the rest "
                        "(cpu.conv1x1_threaded_us, cpu.conv1x1_reorder_ns; --hw names the profile whose launch "
                        "and conv dispatch are taken off)")
    parser.add_argument("--conv1x1-parts-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cross-core", action="store_true",
                        help="only the cross-core handoff: a buffer in L2 summed by one core after the other core "
                        "wrote it, against after it wrote it itself (cpu.cross_core_ns_per_kib)")
    parser.add_argument("--no-sweep", action="store_true", help="with --speedups: keep the caches warm")
    parser.add_argument("--matmuls", action="store_true",
                        help="only batched matmuls of attention shapes on one thread against the latency model")
    parser.add_argument("--hw", default="epyc_zen3_vm_b",
                        help="with --matmuls: the profile whose latency model is printed beside each measurement")
    parser.add_argument("--gemm-rows", action="store_true",
                        help="only F.linear's time against its rows (M): slope efficiency and per-call intercept")
    parser.add_argument("--core-peak-gflops", type=float, default=CORE_PEAK_FLOPS / 1e9,
                        help="with --gemm-rows: one core's fp32 peak the slopes are compared with (default: the Zen 3 "
                        "VM's 32 FLOP/cycle x 3.23 GHz)")
    parser.add_argument("--fma", action="store_true",
                        help="only one core's fp32 FMA throughput at 256 and 512 bits, with the clock after each")
    parser.add_argument("--bandwidth-sizes", action="store_true",
                        help="only a NumPy copy at sizes from in-cache to DRAM, one thread")
    args = parser.parse_args()
    if args.fma:
        figures = fma_peak()
        if figures is None:
            print("no C compiler, or not x86-64: no FMA figure")
            return
        ymm, zmm, after_ymm, after_zmm = figures
        print(f"256-bit FMA (1 core): {ymm:.1f} GFLOP/s, imul clock after it {after_ymm:.3f} GHz: "
              f"{ymm / after_ymm:.1f} fp32 FLOP/cycle")
        if zmm:
            print(f"512-bit FMA (1 core): {zmm:.1f} GFLOP/s, imul clock after it {after_zmm:.3f} GHz: "
                  f"{zmm / after_zmm:.1f} fp32 FLOP/cycle")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        return
    if args.bandwidth_sizes:
        print(f"last-level cache {LLC_BYTES / 2**20:.0f} MiB; load average at the start {os.getloadavg()[0]:.1f}")
        for mb in COPY_SIZES_MB:
            best, median = stream_copy(max(3, min(args.repeat, int(20 * 256 / mb))), mb * 2**20)
            print(f"numpy copy (1 thread) of {mb:5d} MiB float32: best {best:6.1f} GB/s, median {median:6.1f} GB/s")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        return
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    print(f"cores visible: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    if args.fork_join:
        minima: dict[str, dict[int, list[float]]] = {}
        for kind, lines in fork_join(kinds=FORK_JOIN_KINDS + (FORK_JOIN_MORE if args.all else ()),
                                     minima=minima).items():
            (a1, b1), (a2, b2) = lines[1], lines[2]
            print(f"{kind:<8} 1 thread: {a1:7.2f} us + {b1:8.2f} us/M; 2 threads: {a2:7.2f} us + "
                  f"{b2:8.2f} us/M (M elements / M MACs): fork/join {a2 - a1:6.2f} us, work speed-up {b1 / b2:.2f}")
            if args.verbose:
                for (c, side), one, two in zip(FORK_JOIN_SHAPES, minima[kind][1], minima[kind][2], strict=True):
                    print(f"    {kind} {c} ch {side}x{side}: 1 thread {one:9.1f} us, 2 threads {two:9.1f} us, "
                          f"ratio {one / two:.2f}")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        return
    if args.matmuls:
        print(f"load average at the start {os.getloadavg()[0]:.1f}")
        for a, b, measured, tiny, model in batched_matmuls(hw=args.hw):
            flops = 2 * a[0] * a[1] * a[2] * b[2]
            print(f"matmul {a} @ {b}: {measured:7.1f} us ({flops / measured / 1e3:5.1f} GFLOP/s; a tiny relu call "
                  f"{tiny:.1f} us), model {model:7.1f} us on {args.hw}: model / measured {model / measured:.2f}")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        return
    if args.thread_breakdown_child:
        rounds, each = (int(v) for v in args.thread_breakdown_child.split(","))
        _thread_breakdown_child(rounds, each)
        return
    if args.cross_core:
        print(f"load average at the start {os.getloadavg()[0]:.1f}")
        rows = cross_core()
        for kb, local, remote in rows:
            extra = kb * 1024 / (remote - local) / 1e3 if remote > local else math.nan
            print(f"{kb:5d} KiB: sum after this core wrote it {local:7.1f} us ({kb * 1.024 / local:5.1f} GB/s), "
                  f"after the other core did {remote:7.1f} us ({kb * 1.024 / remote:5.1f} GB/s): the extra at "
                  f"{extra:5.1f} GB/s")
        rate = cross_core_gbs(rows)
        print(f"-> {rate:.1f} GB/s (median over the sizes): cpu.cross_core_ns_per_kib {1024 / rate:.1f}")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        return
    if args.conv1x1_parts_child:
        _conv1x1_parts_child(args.conv1x1_parts_child)
        return
    if args.conv1x1_parts:
        print_conv1x1_parts(conv1x1_parts(args.conv1x1_parts), args.hw)
        return
    if args.thread_breakdown:
        print(f"load average at the start {os.getloadavg()[0]:.1f}")
        for label, calls, per, load in thread_breakdown():
            inside = {t: sum(s for _, s in per[t]) for t in (1, 2)}
            print(f"{label:<28} call 1 thread {calls[1] * 1e6:9.1f} us, 2 threads {calls[2] * 1e6:9.1f} us: speed-up "
                  f"{calls[1] / calls[2]:.2f}; outside the libraries {(calls[1] - inside[1]) * 1e6:7.1f} / "
                  f"{(calls[2] - inside[2]) * 1e6:7.1f} us (load {load:.1f})")
            for i in range(max(len(per[1]), len(per[2]))):
                one = per[1][i] if i < len(per[1]) else ("-", math.nan)
                two = per[2][i] if i < len(per[2]) else ("-", math.nan)
                print(f"    {one[0]:<36} {one[1] * 1e6:9.1f} us | {two[0]:<36} {two[1] * 1e6:9.1f} us: "
                      f"{one[1] / two[1]:.2f}")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        return
    if args.speedups:
        print(f"load average at the start {os.getloadavg()[0]:.1f}")
        for label, one, two, measured, modelled in speedups(sweep=not args.no_sweep):
            print(f"{label:<26} 1 thread {one:9.1f} us, 2 threads {two:9.1f} us: speed-up measured {measured:.2f}, "
                  f"modelled {modelled:.2f} (epyc_zen3_vm_b)")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        return
    if args.clock:
        chains = core_clock_ghz()
        if chains is None:
            print("no C compiler, or not x86-64: no clock figure")
            return
        problem = clock_problem(*chains)
        if problem is not None:
            print(f"error: {problem}", file=sys.stderr)
            raise SystemExit(2)
        print(f"dependent imul chain: {chains[0]:.3f} GHz (3 cycles per imul); dependent add chain: {chains[1]:.3f} "
              "GHz (1 cycle per add)")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        return
    if args.weight_reorder_child:
        _weight_reorder_child(args.weight_reorder_child, args.threads or 1)
        return
    if args.gemm_rows:
        print(f"load average at the start {os.getloadavg()[0]:.1f}")
        for (k, n), (times, efficiency, fixed, factor) in gemm_rows(peak=args.core_peak_gflops * 1e9).items():
            cells = ", ".join(f"M={m} {t:.0f}" for m, t in zip(GEMM_ROWS, times, strict=True))
            print(f"linear {k:4d} -> {n:4d} ({k * n * 4 / 1e6:.2f} MB of weights), us: {cells}; slope over M 64-256 "
                  f"at {efficiency:.2f} of peak, intercept beyond a tiny call {fixed:.1f} us = {factor:.2f} x weight "
                  f"bytes / stream-copy rate ({fixed * 1e3 / (k * n):.3f} ns per weight)")
        for (cin, cout), (times, efficiency, per_weight) in conv1x1_pixels(peak=args.core_peak_gflops * 1e9).items():
            cells = ", ".join(f"{side * side} px {t:.0f}" for side, t in zip(CONV1X1_SIDES, times, strict=True))
            print(f"native 1x1 conv {cin:4d} -> {cout:4d}, us: {cells}; slope at {efficiency:.2f} of peak, intercept "
                  f"beyond a tiny call {per_weight:.3f} ns per weight")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        return
    if args.weight_reorder:
        print(f"load average at the start {os.getloadavg()[0]:.1f}")
        threads = args.threads or 1
        for (out_ch, in_ch, k), (reorder, clone, factor) in weight_reorder(threads=threads).items():
            mb = out_ch * in_ch * k * k * 4 / 1e6
            print(f"{k}x{k} conv {in_ch:4d} -> {out_ch:4d} ({mb:5.2f} MB of weights, {threads} thread(s)): reorder "
                  f"{reorder:7.1f} us, clone {clone:7.1f} us; reorder = {factor:.2f} x weight bytes / stream-copy rate")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        return
    if args.page_faults:
        for mb, (fresh, reused, per_page) in page_faults().items():
            print(f"{mb:6.1f} MB float32: allocate + fill {fresh:8.3f} ms, fill a kept buffer {reused:8.3f} ms: "
                  f"{per_page:5.2f} us per 4 KiB page")
        conv, linear = conv_as_linear()
        print(f"VGG-16 fc1 (512 -> 4096, 7x7 over 7x7, 411 MB of weights, 1 thread): F.conv2d {conv:.1f} ms, "
              f"F.linear {linear:.1f} ms")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        return
    if args.op_costs:
        for name, rows in op_costs().items():
            cells = ", ".join(f"{shape} {ns:.2f}" for shape, ns in rows)
            print(f"{name:<11} ns per output element beyond the reference (1 thread): {cells}; "
                  f"median {statistics.median(ns for _, ns in rows):.2f}")
        rows = attention_score_costs()
        intercept, slope = line_fit([scores for _, scores, _ in rows], [us for _, _, us in rows])
        cells = ", ".join(f"{shape} ({scores} scores) {us:.1f} us" for shape, scores, us in rows)
        print(f"attention  layer beyond its GEMM calls run bare (1 thread): {cells}; line: {intercept:.1f} us + "
              f"{slope * 1e3:.2f} ns per score")
        norms = strided_norm_costs()
        per_element, per_norm = plane_fit([(n, c, us) for _, n, c, us, _ in norms])
        cells = ", ".join(f"{shape} {us:.1f} us ({flat / n * 1e3:.3f} ns/el contiguous)" for shape, n, _, us, flat
                          in norms)
        print(f"strided_norm GRN's spatial L2 norm of channels-last maps (1 thread): {cells}; line: "
              f"{per_element * 1e3:.2f} ns per element + {per_norm * 1e3:.0f} ns per channel")
        rows = masked_score_costs()
        cells = ", ".join(f"{shape} ({count} masked) {ns:.1f}" for shape, count, ns in rows)
        print(f"shift_window_mask ns per masked score (mask + softmax + p @ v against a zero mask, 1 thread): {cells}; "
              f"median {statistics.median(ns for _, _, ns in rows):.1f}")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        return
    if args.smt:
        units = {"gemm": "GFLOP/s", "copy": "GB/s", "dispatch": "layers/us"}
        for kind, (alone, pair) in smt_pairs().items():
            print(f"{kind:<8} CPU 0 alone {alone:8.2f} {units[kind]}, CPUs 0+1 at once {pair:8.2f}: "
                  f"pair / alone {pair / alone:.2f}")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        return
    if args.ops:
        for name, us in op_dispatch_us().items():
            shape = OP_CHAINS[name].get("_input", [8, 4, 4])
            print(f"SpecModule layer, {name:<11} (chains of 1 and 6 on {[1, *shape]}): min {us:.2f} us")
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
