"""The wide validation set: every model in timm's shared benchmark tables that `costmodel import` can build.

Specs are imported on demand (:func:`costmodel.bridges.torch_import.timm_spec`, deployed form) into
``$COSTMODEL_CACHE/timm_specs`` and reused; a model that fails (or runs past ``--timeout`` seconds) is cached as
``NAME-deploy.error`` and not retried. Generating the cache takes seconds to a minute per model, so run it in the
background, niced:

    COSTMODEL_CACHE=/work/cache nice -n 10 python benchmarks/wide_set.py --generate [--limit N] [--timeout 150]

``python benchmarks/validate_latency.py --wide`` then scores every cached spec against the tables (nothing is
imported there). Models are taken in a fixed pseudo-random order (SHA-1 of the name), so a partial cache is an
unbiased sample of the tables.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import signal
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference"
TABLES = {  # case key -> timm benchmark file in REFERENCE
    "rtx3090": "timm-benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv",
    "rtx4090": "timm-benchmark-infer-amp-nchw-pt291-cu128-4090.csv",
    "rtx4090 compile": "timm-benchmark-infer-amp-nchw-pt291-cu128-4090-dynamo.csv",
}


def table_models(reference: Path | None = None) -> list[str]:
    """Model names in both eager tables (3090 and 4090), test models excluded, in the fixed pseudo-random order."""
    reference = reference or REFERENCE
    names: list[set[str]] = []
    for key in ("rtx3090", "rtx4090"):
        with (reference / TABLES[key]).open(encoding="utf-8") as handle:
            names.append({row["model"] for row in csv.DictReader(handle)})
    common = {n for n in names[0] & names[1] if not n.startswith("test_")}
    return sorted(common, key=lambda n: hashlib.sha1(n.encode()).hexdigest())


def cache_dir() -> Path:
    from costmodel.bridges.torch_import import default_cache_dir

    return default_cache_dir()


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout()


def generate(names: list[str], timeout_s: int) -> None:
    """Import every name not yet cached (a success or a failure); print one line per model."""
    from costmodel.bridges.torch_import import timm_spec

    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGALRM, _alarm)
    for i, name in enumerate(names):
        path, failed = folder / f"{name}-deploy.yaml", folder / f"{name}-deploy.error"
        if path.exists() or failed.exists():
            continue
        start = time.perf_counter()
        signal.alarm(timeout_s)
        try:
            timm_spec(name, folder)
            outcome = "ok"
        except _Timeout:
            failed.write_text(f"timed out after {timeout_s} s\n", encoding="utf-8")
            outcome = "timeout"
        except Exception as exc:  # noqa: BLE001 - every failure is recorded and skipped
            if not failed.exists():
                failed.write_text(" ".join(str(exc).split())[:400] + "\n", encoding="utf-8")
            outcome = "failed: " + " ".join(str(exc).split())[:120]
        finally:
            signal.alarm(0)
        print(f"[{i + 1}/{len(names)}] {name}: {outcome} ({time.perf_counter() - start:.1f} s)", flush=True)


def cached_specs() -> dict[str, Path]:
    """timm name -> cached spec, for the models of the tables that imported."""
    folder = cache_dir()
    return {n: folder / f"{n}-deploy.yaml" for n in table_models() if (folder / f"{n}-deploy.yaml").exists()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--generate", action="store_true", help="import the models not yet cached")
    parser.add_argument("--limit", type=int, default=None, help="only the first N models of the order")
    parser.add_argument("--timeout", type=int, default=150, help="seconds per model before giving up")
    args = parser.parse_args()
    names = table_models()[: args.limit]
    if args.generate:
        generate(names, args.timeout)
    done = cached_specs()
    errors = sum((cache_dir() / f"{n}-deploy.error").exists() for n in names)
    print(f"{len(names)} models in both eager tables; cached specs: {len(done)}; failed: {errors}", file=sys.stderr)


if __name__ == "__main__":
    main()
