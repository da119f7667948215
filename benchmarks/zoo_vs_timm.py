"""The zoo against timm: per spec, params / GMACs / activations from costmodel, the published figures (the
test fixture, copied from timm's benchmark tables) and ``sum(p.numel())`` of timm's PyTorch model
(pretrained=False; for re-parameterisable specs also after timm's ``reparameterize_model``).

    python benchmarks/zoo_vs_timm.py [--markdown]      # needs torch and timm (torchvision stand-in if needed)

Writes a table to stdout; docs/zoo.md holds its output.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from costmodel import analyze  # noqa: E402
from costmodel.bridges.timm_compat import require_timm  # noqa: E402
from costmodel.spec import load_spec  # noqa: E402


def published(fixture: str = "timm_reference.csv") -> dict[tuple[str, int], dict[str, str]]:
    """(model, image size) -> the fixture's row: timm's published params (M), GMACs, activations (M)."""
    lines = [line for line in (ROOT / "tests/fixtures" / fixture).read_text().splitlines()
             if not line.startswith("#")]
    return {(row["model"], int(row["img_size"])): row for row in csv.DictReader(lines)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", type=Path, help="specs (default: arch_specs/*.yaml)")
    args = parser.parse_args()
    timm = require_timm()
    from timm.utils.model import reparameterize_model

    table, training = published(), published("timm_reference_training_form.csv")
    print("| model | form | params (M) | PyTorch params | = | GMACs | published | acts (M) | published |")
    print("| --- | --- | ---: | ---: | :-: | ---: | ---: | ---: | ---: |")
    for path in args.specs or sorted((ROOT / "arch_specs").glob("*.yaml")):
        spec = load_spec(path)
        name = spec.metadata.timm_name
        if not name:
            continue
        size = next(iter(spec.inputs.values()))[-1]
        ref = table.get((name, size), {})
        model = timm.create_model(name, pretrained=False)
        forms = [("deployed", True), ("training", False)] if "deploy" in spec.vars else [("", None)]
        for form, deploy in forms:
            totals = analyze(path, set=None if deploy is None else {"deploy": deploy}).totals
            module = reparameterize_model(timm.create_model(name, pretrained=False)) if deploy else model
            torch_params = sum(p.numel() for p in module.parameters())
            shown = training.get((name, size), {}) if deploy is False else ref  # timm's older table: training form
            print(f"| {path.stem} | {form} | {totals.params / 1e6:.3f} | {torch_params / 1e6:.3f} | "
                  f"{'yes' if totals.params == torch_params else 'NO'} | {totals.macs / 1e9:.3f} | "
                  f"{shown.get('gmacs', '')} | {totals.activations / 1e6:.2f} | {shown.get('macts_m', '')} |")


if __name__ == "__main__":
    main()
