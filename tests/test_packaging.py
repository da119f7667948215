"""Packaging and names: the zoo and the profiles found through costmodel.resources, zoo names wherever a spec
path goes, `zoo list`, `--version` and `python -m costmodel` (the wheel itself is checked by .ci/install_check)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import costmodel
from costmodel.api import load_graph
from costmodel.cli import app
from costmodel.errors import SpecError
from costmodel.resources import profiles_dir, zoo_dir
from costmodel.spec.zoo import resolve_spec, zoo_specs

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_checkout_data_folders_are_found() -> None:
    assert zoo_dir().resolve() == (ROOT / "arch_specs").resolve()
    assert profiles_dir().resolve() == (ROOT / "hardware_profiles").resolve()


def test_every_zoo_file_has_a_name() -> None:
    on_disk = sorted(p.resolve() for p in (ROOT / "arch_specs").rglob("*.yaml"))
    assert sorted(p.resolve() for p in zoo_specs().values()) == on_disk
    assert zoo_specs()["convnext_t"].resolve() == (ROOT / "arch_specs/convnext_t.yaml").resolve()


def test_zoo_name_works_like_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no arch_specs/ here
    by_name = load_graph("convnext_t")
    by_path = load_graph(ROOT / "arch_specs/convnext_t.yaml")
    assert [n.path for n in by_name.layers] == [n.path for n in by_path.layers]
    assert resolve_spec("convnext_t.yaml") == zoo_specs()["convnext_t"]


def test_a_file_in_the_folder_wins_over_the_zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "resnet18").write_text("local")
    assert resolve_spec("resnet18") == Path("resnet18")


def test_unknown_name_offers_every_close_match() -> None:
    with pytest.raises(SpecError) as err:
        resolve_spec("resnet")
    message = str(err.value)
    assert all(name in message for name in ("resnet18", "resnet34", "resnet50")), message


def test_zoo_list_json_and_table() -> None:
    result = runner.invoke(app, ["zoo", "list", "--format", "json"])
    assert result.exit_code == 0, result.output
    entries = json.loads(result.output)
    assert [e["name"] for e in entries] == list(zoo_specs())
    convnext = next(e for e in entries if e["name"] == "convnext_t")
    meta = yaml.safe_load((ROOT / "arch_specs/convnext_t.yaml").read_text())["metadata"]
    assert convnext["timm_name"] == meta["timm_name"] == "convnext_tiny"
    table = runner.invoke(app, ["zoo", "list"]).output.splitlines()
    assert [line.split()[0] for line in table] == list(zoo_specs())


def test_version_and_python_m(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"costmodel {costmodel.__version__}"
    env_path = str(ROOT)
    proc = subprocess.run([sys.executable, "-m", "costmodel", "--version"], capture_output=True, text=True,
                          cwd=tmp_path, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == f"costmodel {costmodel.__version__}", proc.stderr


def test_shell_completion_is_offered() -> None:
    assert "--show-completion" in runner.invoke(app, ["--help"]).output
