"""Shared helpers: small specs written to temporary files; the optional bridge dependencies (torch, onnx)."""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write a YAML spec (dedented) and return its path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


def require_module(name: str, extra: str) -> ModuleType:
    """Import an optional dependency; skip without it, unless COSTMODEL_REQUIRE_TORCH=1 (CI), where the bridge
    tests must run and a missing package fails them."""
    try:
        return importlib.import_module(name)
    except ImportError:
        if os.environ.get("COSTMODEL_REQUIRE_TORCH") == "1":
            pytest.fail(f"COSTMODEL_REQUIRE_TORCH=1 but {name} is not installed", pytrace=False)
        pytest.skip(f"{name} is not installed (pip install 'costmodel[{extra}]')")


@pytest.fixture(scope="session")
def torch() -> ModuleType:
    """PyTorch on two threads (the CI machine's cores)."""
    torch = require_module("torch", "torch")
    torch.set_num_threads(2)
    return torch


@pytest.fixture(scope="session")
def onnx() -> ModuleType:
    """The onnx package."""
    return require_module("onnx", "onnx")


def benchmark_module(name: str) -> ModuleType:
    """benchmarks/NAME.py as a module (a benchmark's helpers, for its tests); benchmarks/ is on the import path
    only while it is imported (its modules import one another)."""
    benchmarks = str(Path(__file__).resolve().parents[1] / "benchmarks")
    sys.path.insert(0, benchmarks)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(benchmarks)


@pytest.fixture(scope="session")
def validate() -> ModuleType:
    """benchmarks/validate_latency.py as a module (the validation benchmark's helpers, for its tests)."""
    return benchmark_module("validate_latency")


@pytest.fixture(scope="session")
def wide_set() -> ModuleType:
    """benchmarks/wide_set.py as a module (the wide validation set's tables and cached specs)."""
    return benchmark_module("wide_set")


WIDE_HEADER = "model,infer_img_size,infer_samples_per_sec,infer_step_time,infer_batch_size,param_count,infer_gmacs\n"


@pytest.fixture
def wide_stand_in(wide_set: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., ModuleType]:
    """Stands in for the wide set's inputs (timm's shared tables and the cache of imported specs), for its tests:
    ``write(tables, specs, extends=())`` writes each table's rows (``wide_set.TABLES`` label -> CSV lines under
    timm's header), copies zoo specs as cached imports (model name -> zoo spec, as ``NAME-deploy.yaml``) and the
    zoo specs they extend, points wide_set at them and returns it."""

    def write(tables: Mapping[str, Sequence[str]], specs: Mapping[str, str], extends: Sequence[str] = ()) -> ModuleType:
        zoo = Path(__file__).resolve().parents[1] / "arch_specs"
        reference = tmp_path / "reference"
        reference.mkdir()
        for table, lines in tables.items():
            (reference / wide_set.TABLES[table]).write_text(WIDE_HEADER + "\n".join(lines) + "\n", encoding="utf-8")
        cached = tmp_path / "cache" / "timm_specs"
        cached.mkdir(parents=True)
        for name, spec in specs.items():
            shutil.copy(zoo / f"{spec}.yaml", cached / f"{name}-deploy.yaml")
        for spec in extends:
            shutil.copy(zoo / f"{spec}.yaml", cached)
        monkeypatch.setattr(wide_set, "REFERENCE", reference)
        monkeypatch.setenv("COSTMODEL_CACHE", str(tmp_path / "cache"))
        return wide_set

    return write
