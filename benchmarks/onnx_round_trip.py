"""The ONNX round trip on the zoo: spec -> PyTorch (costmodel.bridges.torch) -> torch.onnx.export -> costmodel's
ONNX import, and the four counts (params, MACs, FLOPs, activations) against the original spec's.

    python benchmarks/onnx_round_trip.py [NAME ...] [--set NAME.VAR=VALUE]   # needs torch and onnx

Legacy (TorchScript) exporter, training=TrainingMode.PRESERVE, do_constant_folding=False, at the spec's batch and
input shapes (docs/onnx-import.md). Prints a Markdown table to stdout (docs/onnx-import.md holds its output) and the
seconds each model took (export, import) on stderr. Not in CI: the 39 zoo specs take minutes; the test runs a sample.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from costmodel.analysis import analyze_graph  # noqa: E402
from costmodel.api import load_graph  # noqa: E402
from costmodel.graph import build_graph  # noqa: E402
from costmodel.spec.loader import parse_spec  # noqa: E402

COUNTS = ("params", "macs", "flops", "activations")


def round_trip(name: str, folder: Path) -> tuple[dict[str, int], dict[str, int] | str, float, float]:
    """The spec's counts, the imported ONNX export's counts (or the first line of the error), and the seconds the
    export and the import took."""
    import torch

    from costmodel.bridges.onnx_import import onnx_to_spec
    from costmodel.bridges.torch import build_module, example_inputs

    original = load_graph(ROOT / "arch_specs" / f"{name}.yaml")
    before = analyze_graph(original).totals
    expected = {key: int(getattr(before, key)) for key in COUNTS}
    path = folder / f"{name}.onnx"
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(build_module(original), example_inputs(original), str(path), dynamo=False,
                              training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    except Exception as exc:  # noqa: BLE001 - reported in the table
        return expected, f"export failed: {str(exc).strip().splitlines()[0][:200]}", time.perf_counter() - start, 0.0
    exported = time.perf_counter() - start
    start = time.perf_counter()
    try:
        totals = analyze_graph(build_graph(parse_spec(onnx_to_spec(path)))).totals
    except Exception as exc:  # noqa: BLE001 - reported in the table
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return expected, text.replace(str(path) + ": ", "")[:300], exported, time.perf_counter() - start
    return expected, {key: int(getattr(totals, key)) for key in COUNTS}, exported, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="zoo specs (default: every arch_specs/*.yaml)")
    args = parser.parse_args()
    names = args.names or sorted(p.stem for p in (ROOT / "arch_specs").glob("*.yaml"))
    print("| model | params | MACs | FLOPs | activations | round trip |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    equal = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            expected, got, exported, imported = round_trip(name, Path(tmp))
            if isinstance(got, str):
                cells = [f"{expected[k]:,}" for k in COUNTS]
                print(f"| {name} | {' | '.join(cells)} | **fails**: {got.replace('|', '/')} |")
            else:
                cells = [f"{got[k]:,}" if got[k] == expected[k] else f"**{got[k]:,}** (spec {expected[k]:,})"
                         for k in COUNTS]
                same = got == expected
                equal += same
                print(f"| {name} | {' | '.join(cells)} | {'equal' if same else '**differs**'} |")
            sys.stdout.flush()
            print(f"{name}: export {exported:.1f} s, import {imported:.1f} s", file=sys.stderr)
    print(f"\n{equal} of {len(names)} round-trip with all four counts equal.")


if __name__ == "__main__":
    main()
