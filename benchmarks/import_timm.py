"""Import one timm model per architecture family and compare its counts with PyTorch's and timm's published ones.

    python benchmarks/import_timm.py                    # every family -> docs/timm-import.md
    python benchmarks/import_timm.py --sample           # the CI sample (CNN, ViT, Swin, hybrid, re-parameterisable)
    python benchmarks/import_timm.py --pick-from ../shared/reference/timm-benchmark-infer-amp-nchw-pt291-cu128-4090.csv

A family is a timm model module (``timm.list_modules()``). The model per family and its published figures
(param_count, GMACs, activations per image, fvcore counts, deployed form) are read from
tests/fixtures/timm_families.csv; ``--pick-from`` rewrites that fixture from timm's benchmark table (the smallest
non-test model of each family that the table lists at its default input size; else the family's first model).
Every model is imported in its deployed form (timm's ``reparameterize_model``, a no-op for most), because timm's
figures are of that form. Import time (export + mapping + folding + checks) is measured per model in this one run.
timm is imported through costmodel.bridges.timm_compat (a torchvision stand-in where torchvision cannot load).
"""

from __future__ import annotations

import argparse
import csv
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "timm_families.csv"
DOC = ROOT / "docs" / "timm-import.md"
SAMPLE = ["resnet", "vision_transformer", "swin_transformer", "levit", "mobileone"]
FIELDS = ["family", "model", "img_size", "param_count_m", "gmacs", "macts_m"]
TIMEOUT_S = 900  # per model (build + export + mapping): minutes for the largest on a 2-core machine at load 20+
TIMED = ["resnet50", "vit_small_patch16_224", "swin_tiny_patch4_window7_224"]  # import times quoted in the doc


def pick(table: Path) -> list[dict[str, str]]:
    """One model per timm module: the smallest non-test model the benchmark table lists at its default size."""
    from costmodel.bridges.timm_compat import require_timm

    timm = require_timm()
    rows = {r["model"]: r for r in csv.DictReader(table.open(encoding="utf-8"))}
    out = []
    for module in sorted(timm.list_modules()):
        names = [n for n in timm.list_models(module=module) if not n.startswith("test_")]
        if not names:
            continue
        listed = []
        for n in names:
            if n in rows:
                size = timm.get_pretrained_cfg(n).input_size[-1] if timm.get_pretrained_cfg(n) else None
                if size is None or int(rows[n]["infer_img_size"]) == size:
                    listed.append(n)
        if listed:
            best = min(listed, key=lambda n: float(rows[n]["infer_gmacs"]))
            r = rows[best]
            out.append({"family": module, "model": best, "img_size": r["infer_img_size"],
                        "param_count_m": r["param_count"], "gmacs": r["infer_gmacs"], "macts_m": r["infer_macts"]})
        else:
            out.append({"family": module, "model": names[0], "img_size": "", "param_count_m": "", "gmacs": "",
                        "macts_m": ""})
    return out


def write_fixture(rows: list[dict[str, str]], source: Path) -> None:
    with FIXTURE.open("w", encoding="utf-8", newline="") as handle:
        handle.write("# One model per timm family (module) and timm's published figures for it, copied from "
                     f"{source.name}\n# (huggingface/pytorch-image-models results, fvcore counts per image, "
                     "deployed form); empty: the table does not list the family.\n"
                     "# Regenerate: python benchmarks/import_timm.py --pick-from CSV\n")
        writer = csv.DictWriter(handle, FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def read_fixture() -> list[dict[str, str]]:
    lines = [line for line in FIXTURE.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines))


class Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Timeout()


def run_one(row: dict[str, str]) -> dict[str, Any]:
    from costmodel.bridges.torch_import import module_to_spec_dict, timm_model

    result: dict[str, Any] = {**row, "ok": False, "reason": ""}
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIMEOUT_S)
    try:
        model, inputs = timm_model(row["model"], reparam=True)
        result["torch_params"] = sum(p.numel() for p in model.parameters())
        start = time.perf_counter()
        spec, report = module_to_spec_dict(model, inputs, name=row["model"])
        result["seconds"] = time.perf_counter() - start
        result.update(ok=True, params=report.params, macs=report.macs, activations=report.activations,
                      folded=any(n.get("repeat") for n in spec["nodes"]), notes="; ".join(report.notes))
    except Timeout:
        result["reason"] = f"timed out after {TIMEOUT_S} s"
    except Exception as exc:  # noqa: BLE001 - every failure is a row of the table
        result["reason"] = " ".join(str(exc).split())[:400]
    finally:
        signal.alarm(0)
    return result


def within(ours: float, published: str, rel: float = 0.01) -> bool | None:
    """ours (already in the published unit) agrees with the published 2-decimal figure: within ``rel`` or the
    rounding of the last digit (0.005)."""
    if not published:
        return None
    pub = float(published)
    return abs(ours - pub) <= max(rel * pub, 0.005 + 1e-9)


def mark(flag: bool | None) -> str:
    return "" if flag is None else ("yes" if flag else "**no**")


def time_imports(names: list[str]) -> list[tuple[str, float, float]]:
    """(name, seconds to build the model, seconds to import it) for the common models, one after the other."""
    from costmodel.bridges.torch_import import module_to_spec_dict, timm_model

    out = []
    for name in names:
        start = time.perf_counter()
        model, inputs = timm_model(name, reparam=True)
        built = time.perf_counter()
        module_to_spec_dict(model, inputs, name=name)
        out.append((name, built - start, time.perf_counter() - built))
    return out


def report(results: list[dict[str, Any]], common: list[tuple[str, float, float]] | None = None) -> str:
    ok = [r for r in results if r["ok"]]
    exact = [r for r in ok if r["params"] == r["torch_params"]]
    published = [r for r in ok if r["gmacs"]]
    macs_ok = [r for r in published if within(r["macs"] / 1e9, r["gmacs"])]
    params_pub_ok = [r for r in published if within(r["params"] / 1e6, r["param_count_m"])]
    act_ok = [r for r in published if within(r["activations"] / 1e6, r["macts_m"])]
    both = [r for r in published if r["params"] == r["torch_params"] and within(r["macs"] / 1e9, r["gmacs"])]
    times = sorted(r["seconds"] for r in ok)
    lines = [
        "# timm coverage of `costmodel import`",
        "",
        "Generated by `python benchmarks/import_timm.py` (do not edit by hand): one model per timm architecture",
        "family (timm model module), in its deployed form (`reparameterize_model`, as timm's tables are), at the",
        "input size of timm's benchmark table. Published figures: timm's RTX 4090 benchmark table (fvcore counts,",
        "2 decimals), copied to tests/fixtures/timm_families.csv. A figure agrees when within 1 % or the last",
        "digit's rounding (0.005). Import time: export + mapping + folding + checks, measured in one run on this",
        "2-core machine shared with other jobs (compare the seconds with each other only).",
        "",
        "## Summary",
        "",
        f"- families: {len(results)}; imported without `--allow-opaque`: {len(ok)} "
        f"({100 * len(ok) / max(len(results), 1):.1f} %)",
        f"- params == sum(p.numel()): {len(exact)} of {len(ok)} imported ({100 * len(exact) / max(len(ok), 1):.1f} %)",
        f"- with published figures: {len(published)}; GMACs agree: {len(macs_ok)}; params agree: "
        f"{len(params_pub_ok)}; activations agree: {len(act_ok)}",
        f"- params exact and GMACs agree (of those with published figures): {len(both)} of {len(published)} "
        f"({100 * len(both) / max(len(published), 1):.1f} %)",
        f"- import time: median {times[len(times) // 2]:.1f} s, max {times[-1]:.1f} s" if times else "- import time: -",
        "",
        *(["## Import time of common models", "",
           f"Measured one after the other in this run (load average {_load()}): building the timm model, then "
           "`costmodel import` (torch.export + mapping + folding + checks).", "",
           "| model | build (s) | import (s) |", "| --- | ---: | ---: |",
           *(f"| {n} | {b:.1f} | {i:.1f} |" for n, b, i in common), ""] if common else []),
        "## Per family",
        "",
        "| family | model | imported | repeat | params (M) | = sum(p.numel()) | published | GMACs | published | "
        "activations (M) | published | seconds |",
        "| --- | --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        if r["ok"]:
            params, macs, acts = r["params"] / 1e6, r["macs"] / 1e9, r["activations"] / 1e6
            lines.append(
                f"| {r['family']} | {r['model']} | yes | {'yes' if r['folded'] else 'no'} | {params:.3f} | "
                f"{mark(r['params'] == r['torch_params'])} | {r['param_count_m']} "
                f"{mark(within(params, r['param_count_m']))} | {macs:.3f} | {r['gmacs']} "
                f"{mark(within(macs, r['gmacs']))} | "
                f"{acts:.3f} | {r['macts_m']} {mark(within(acts, r['macts_m']))} | {r['seconds']:.1f} |")
        else:
            reason = r["reason"].replace("|", "/")
            lines.append(f"| {r['family']} | {r['model']} | **no**: {reason} | | | | {r['param_count_m']} | | "
                         f"{r['gmacs']} | | {r['macts_m']} | |")
    return "\n".join(lines) + "\n"


def _load() -> str:
    import os

    return " / ".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pick-from", type=Path, help="rewrite the fixture from timm's benchmark CSV first")
    parser.add_argument("--sample", action="store_true", help="only the CI sample; print, write nothing")
    parser.add_argument("--families", nargs="*", help="only these families; print, write nothing")
    parser.add_argument("--shard", help="K/N: run every N-th family from the K-th (0-based) and save --json")
    parser.add_argument("--json", type=Path, help="save the raw results here (after every family), write no doc")
    parser.add_argument("--merge", type=Path, nargs="*",
                        help="write the doc from saved shard results (a family in several files: the last one's)")
    parser.add_argument("--no-times", action="store_true", help="skip timing the imports of " + ", ".join(TIMED))
    parser.add_argument("--times", type=Path, help="with --merge: the import times saved by --save-times")
    parser.add_argument("--save-times", type=Path, help="only time the imports of the common models, save them here")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    if args.save_times:
        args.save_times.write_text(json.dumps(time_imports(TIMED)), encoding="utf-8")
        return 0
    if args.pick_from:
        write_fixture(pick(args.pick_from), args.pick_from)
    rows = read_fixture()
    if args.merge:
        # a family saved in several files: the last file's result (a re-run after a fix) wins
        latest = {r["family"]: r for path in args.merge for r in json.loads(path.read_text(encoding="utf-8"))}
        missing = [{**r, "ok": False, "reason": "not measured (the run was stopped before this family)"}
                   for r in rows if r["family"] not in latest]
        merged = list(latest.values()) + missing
        order = {r["family"]: k for k, r in enumerate(rows)}
        times = (None if args.no_times else [tuple(t) for t in json.loads(args.times.read_text(encoding="utf-8"))]
                 if args.times else time_imports(TIMED))
        DOC.write_text(report(sorted(merged, key=lambda r: order[r["family"]]), times), encoding="utf-8")
        print(f"wrote {DOC}", file=sys.stderr)
        return 0
    if args.shard:
        k, n = (int(v) for v in args.shard.split("/"))
        rows = rows[k::n]
    only = SAMPLE if args.sample else args.families
    if only:
        rows = [r for r in rows if r["family"] in only]
    results = []
    for row in rows:
        result = run_one(row)
        results.append(result)
        if args.json:  # saved after every family, so that a long run's finished part survives an interruption
            args.json.write_text(json.dumps(results), encoding="utf-8")
        status = f"{result.get('seconds', 0):.1f} s" if result["ok"] else f"FAILED: {result['reason'][:160]}"
        print(f"{row['family']:28s} {row['model']:40s} {status}", file=sys.stderr, flush=True)
    if args.json:
        return 0
    text = report(results, None if only or args.no_times else time_imports(TIMED))
    if only:
        print(text)
    else:
        DOC.write_text(text, encoding="utf-8")
        print(f"wrote {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
