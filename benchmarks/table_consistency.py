"""Audit timm's GPU tables for rows they contradict themselves: among model families whose members contain one
another (every layer of the smaller, and more: VGG-11/13/16/19 with and without BN, ResNet-18/34, ResNet-50/101/152
and their D / SE variants, ResNeXt-50/101, ConvNeXt-T/S, Swin-T/S, ...), a member measured over
validate_latency.CONSISTENCY_MARGIN faster than one it contains, at batch 1024 and 224 px.

Run: COSTMODEL_CACHE=DIR python benchmarks/table_consistency.py   (imports the specs into DIR/timm_specs_families on
first use: not the wide set's folder, whose cached models must stay a prefix of its pseudo-random order)
Prints the containment pairs found and, per table, the rows validate_latency.contradicted would drop.
docs/latency-model.md ("What the figures say", 3 December) has the result.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import validate_latency  # noqa: E402  (the sibling benchmark module)
import wide_set  # noqa: E402

from costmodel.bridges.torch_import import timm_spec  # noqa: E402
from costmodel.calibration.measurements import Matched, Measurement, read_measurements  # noqa: E402
from costmodel.errors import UserError  # noqa: E402

FAMILIES = [
    "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnet18d", "resnet34d", "resnet50d", "resnet101d",
    "resnet152d", "resnext50_32x4d", "resnext101_32x4d", "seresnet50", "seresnet152d",
    "deit_tiny_patch16_224", "deit_small_patch16_224", "vit_small_patch16_224", "vit_base_patch16_224",
    "vit_large_patch16_224", "convnext_tiny", "convnext_small", "convnext_base",
    "swin_tiny_patch4_window7_224", "swin_small_patch4_window7_224", "efficientnet_b0", "mobilenetv3_large_100",
    "densenet121", "densenet169",
]
BATCH, SIZE = 1024, 224


def main() -> None:
    specs: dict[str, Path] = {}
    for name in FAMILIES:
        try:
            specs[name] = timm_spec(name, wide_set.cache_dir().parent / "timm_specs_families")
        except UserError as exc:
            print(f"skipped {name}: {exc}")
    graphs = {n: Matched(Measurement(model=n, batch=1, image_size=SIZE, throughput=1.0), p).graph()
              for n, p in specs.items()}
    pairs = [(a, b) for a in graphs for b in graphs if a != b and validate_latency.contains(graphs[b], graphs[a])]
    print(f"{len(specs)} models, {len(pairs)} containment pairs: {', '.join(f'{a} < {b}' for a, b in pairs)}")
    for table in wide_set.TABLES:
        rows = {row.model: Matched(row, specs[row.model])
                for row in read_measurements(wide_set.REFERENCE / wide_set.TABLES[table]).rows
                if row.model in specs and row.batch == BATCH and row.image_size == SIZE}
        bad = validate_latency.contradicted(list(rows.values()))
        print(f"{table}: {len(rows)} rows, {len(bad)} contradicted")
        for reason in bad.values():
            print(f"  {reason}")


if __name__ == "__main__":
    main()
