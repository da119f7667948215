"""oneDNN convs with channel counts on and off its 16-channel block (AVX-512 fp32), 1 and 2 threads, the heap held
steady: 3x3 depthwise convs (ns per output element) and dense 3x3 convs (GFLOP/s counted) at 56^2 and 28^2, best of
100 (50) calls after 10. A conv of 72 -> 72 channels runs on 80 -> 80 (oneDNN pads the channels to its block) and
pays the generic reorder of its 72-channel activations on top. Usage: python benchmarks/cpu_micro/onednn_blocks.py"""
import ctypes
import time

import torch

LIBC = ctypes.CDLL(None)
LIBC.mallopt(-1, 2**31 - 1)  # M_TRIM_THRESHOLD: never give the heap's top back (costmodel bench --malloc steady)
LIBC.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD: 32 MiB


def best(f, x, n=100):  # noqa: ANN001, ANN201
    for _ in range(10):
        f(x)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        f(x)
        times.append(time.perf_counter() - start)
    return min(times)


with torch.inference_mode():
    for t in (1, 2):
        torch.set_num_threads(t)
        for hw in (56, 28):
            for c in (64, 72, 80, 96, 112, 120, 128):
                conv = torch.nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False).eval()
                x = torch.randn(1, c, hw, hw)
                b = best(conv, x)
                print(f"{t}t dw3 {hw:3d} C {c:4d} {'x' if c % 16 else ' '} {b * 1e6:7.1f} us  "
                      f"{b * 1e9 / (c * hw * hw):6.3f} ns/out-elem", flush=True)
        for hw in (56, 28):
            for cin, cout in ((32, 32), (24, 24), (48, 48), (40, 40), (64, 64), (72, 72), (80, 80)):
                conv = torch.nn.Conv2d(cin, cout, 3, padding=1, bias=False).eval()
                x = torch.randn(1, cin, hw, hw)
                b = best(conv, x, 50)
                print(f"{t}t c3 {hw:3d} {cin:3d}->{cout:<3d} {'x' if cin % 16 else ' '} {b * 1e6:7.1f} us  "
                      f"{2 * 9 * cin * cout * hw * hw / b / 1e9:6.1f} GFLOP/s", flush=True)
