"""The CPU-side part of eager PyTorch's per-op host cost, measured on this machine (docs/latency-model.md, "Launch
overhead and the host stream").

Per op kind, the time per module of an ``nn.Sequential`` chain of such modules called as a network's layers are
(``nn.Module.__call__``, Python, the ATen dispatcher, the output's allocation), on CPU tensors of 1 x 8 x 4 x 4, so the
op's own work is a few hundred elements: the difference of the minimum call times of a 22- and a 2-module chain over 20,
the chains taking turns (``ROUNDS`` rounds of ``CALLS`` calls each), one thread, under ``torch.no_grad``. ``cast`` is
what autocast adds per weight and input: ``Tensor.to(torch.bfloat16)`` of a float32 tensor. ``relu (functional)``: the
same op without the module call. What a GPU adds (the caching allocator, ``cudaLaunchKernel``, cuDNN's and cuBLAS's
per-call work) is not here: no GPU on this machine.

Run: nice python benchmarks/host_ops.py
"""

from __future__ import annotations

import os
import time

SHORT, LONG, ROUNDS, CALLS, CHANNELS = 2, 22, 40, 10, 8


def modules() -> dict[str, object]:
    import torch
    from torch import nn

    class Add(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + x

    class Cast(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.to(torch.bfloat16).to(torch.float32)  # two casts: the chain stays float32

    class FunctionalRelu(nn.Module):  # one module call for the whole chain: the ops alone
        def __init__(self, n: int) -> None:
            super().__init__()
            self.n = n

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for _ in range(self.n):
                x = torch.relu(x)
            return x

    c = CHANNELS
    kinds = {"identity": nn.Identity, "relu": lambda: nn.ReLU(inplace=True), "sigmoid": nn.Sigmoid, "add": Add,
             "batchnorm (eval)": lambda: nn.BatchNorm2d(c), "linear": lambda: nn.Linear(4, 4),
             "conv 1x1": lambda: nn.Conv2d(c, c, 1, bias=False), "conv 3x3": lambda: nn.Conv2d(c, c, 3, padding=1,
                                                                                                bias=False),
             "cast x2": Cast}
    chains: dict[str, object] = {}
    for name, make in kinds.items():
        for n in (SHORT, LONG):
            chains[f"{name}:{n}"] = nn.Sequential(*[make() for _ in range(n)]).eval()
    for n in (SHORT, LONG):
        chains[f"relu (functional):{n}"] = FunctionalRelu(n)
    return chains


def measure() -> dict[str, float]:
    """Per op kind, µs per op (module call included, except for the functional line)."""
    import torch

    torch.set_num_threads(1)
    chains = modules()
    x = torch.randn(1, CHANNELS, 4, 4)
    best = dict.fromkeys(chains, float("inf"))
    with torch.no_grad():
        for chain in chains.values():
            for _ in range(20):
                chain(x)  # type: ignore[operator]
        for _ in range(ROUNDS):
            for key, chain in chains.items():
                for _ in range(CALLS):
                    start = time.perf_counter()
                    chain(x)  # type: ignore[operator]
                    best[key] = min(best[key], time.perf_counter() - start)
    names = dict.fromkeys(key.rsplit(":", 1)[0] for key in chains)
    return {name: (best[f"{name}:{LONG}"] - best[f"{name}:{SHORT}"]) / (LONG - SHORT) * 1e6 for name in names}


def main() -> int:
    import torch

    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; torch {torch.__version__}, "
          "1 thread, CPU tensors 1x8x4x4")
    for name, us in measure().items():
        if name.startswith("cast"):  # two casts per module call
            name, us = "cast (per cast)", us / 2
        print(f"  {name:18} {us:6.2f} us per op")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
