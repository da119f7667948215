"""A MobileNetV3-like design space: subnets differing in kernel sizes, expansion ratios, depths and resolution.

Each subnet is an OFA/MobileNetV3-style network (Howard et al. 2019; Cai et al., Once-for-All, 2020): a 3x3
stride-2 stem (16 channels, hardswish), five stages of inverted-residual blocks (24, 40, 80, 112, 160 channels;
strides 2, 2, 2, 1, 2; ReLU in the first two stages, hardswish after), each block's depthwise kernel drawn from
{3, 5, 7} and its expansion ratio from {3, 4, 6}, each stage 2-4 blocks deep; a 1x1 head conv to 960 channels,
global pooling, a 1280-wide linear with hardswish and the 1000-way classifier; input 160, 192 or 224 px.
Squeeze-excite is left out (it is not what the ranking question is about).

``python benchmarks/design_space.py DIR --count 24 --seed 0`` writes the specs of a seeded sample to DIR; the
validation benchmark (validate_latency.py) regenerates the same sample to match its measurements.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import yaml

KERNELS = (3, 5, 7)
EXPANSIONS = (3, 4, 6)
DEPTHS = (2, 3, 4)
RESOLUTIONS = (160, 192, 224)
CHANNELS = (24, 40, 80, 112, 160)
STRIDES = (2, 2, 2, 1, 2)
HARDSWISH_FROM = 2  # stages before this use ReLU


def _block(act: str) -> dict:
    return {
        "params": {"in_chs": None, "out_chs": None, "exp": None, "k": None, "stride": None},
        "vars": {"mid": "make_divisible(in_chs * exp, 8)"},
        "nodes": [
            {"name": "conv_pw", "op": "conv2d", "out": "mid", "kernel": 1},
            {"name": "bn1", "op": "batch_norm"},
            {"name": "act1", "op": act},
            {"name": "conv_dw", "op": "conv2d", "out": "mid", "kernel": "k", "stride": "stride", "padding": "k // 2",
             "groups": "mid"},
            {"name": "bn2", "op": "batch_norm"},
            {"name": "act2", "op": act},
            {"name": "conv_pwl", "op": "conv2d", "out": "out_chs", "kernel": 1},
            {"name": "bn3", "op": "batch_norm"},
            {"name": "add", "op": "add", "inputs": ["bn3", "x"], "when": "stride == 1 and in_chs == out_chs"},
        ],
    }


def subnet(rng: random.Random, index: int) -> dict:
    """One random subnet's spec (a dict ready for YAML)."""
    size = rng.choice(RESOLUTIONS)
    nodes: list[dict] = [
        {"name": "conv_stem", "op": "conv2d", "out": 16, "kernel": 3, "stride": 2, "padding": 1},
        {"name": "bn1", "op": "batch_norm"}, {"name": "act1", "op": "hardswish"},
    ]
    in_chs, choices = 16, []
    for s, (chs, stride) in enumerate(zip(CHANNELS, STRIDES, strict=True)):
        for b in range(rng.choice(DEPTHS)):
            k, e = rng.choice(KERNELS), rng.choice(EXPANSIONS)
            choices.append(f"{k}{e}")
            nodes.append({"name": f"s{s}b{b}", "block": "ir_hs" if s >= HARDSWISH_FROM else "ir_relu",
                          "in_chs": in_chs, "out_chs": chs, "exp": e, "k": k, "stride": stride if b == 0 else 1})
            in_chs = chs
        choices.append("|")
    nodes += [
        {"name": "conv_head", "op": "conv2d", "out": 960, "kernel": 1}, {"name": "bn2", "op": "batch_norm"},
        {"name": "act2", "op": "hardswish"}, {"name": "global_pool", "op": "global_avg_pool", "flatten": True},
        {"name": "pre_logits", "op": "linear", "out": 1280}, {"name": "act3", "op": "hardswish"},
        {"name": "classifier", "op": "linear", "out": 1000},
    ]
    name = f"mbv3_space_{index:03d}"
    return {
        "name": name,
        "description": f"MobileNetV3-like subnet (benchmarks/design_space.py), {size} px, kernel+expansion per block: "
                       + " ".join(choices),
        "inputs": {"image": [3, size, size]},
        "defaults": {"conv2d": {"bias": False}},
        "blocks": {"ir_relu": _block("relu"), "ir_hs": _block("hardswish")},
        "nodes": nodes,
    }


def sample(count: int, seed: int = 0) -> list[dict]:
    """``count`` subnets of a seeded sample (the same seed gives the same specs)."""
    rng = random.Random(seed)
    return [subnet(rng, i) for i in range(count)]


def write(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """Write the sample's specs to ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in sample(count, seed):
        path = folder / f"{spec['name']}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for path in write(args.folder, args.count, args.seed):
        print(path)


if __name__ == "__main__":
    main()
