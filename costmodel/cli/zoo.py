"""`zoo list`: the specs that ship with costmodel, usable by name wherever a spec path is."""

from __future__ import annotations

import json
from typing import Any

import typer
import yaml

from ..layout import terminal_width, wrap
from ..spec.zoo import zoo_specs
from ..vocab import Format
from .common import TableJsonOption, app, user_errors

zoo_app = typer.Typer(help="The model zoo: specs shipped with costmodel, usable by name (`costmodel analyze "
                           "convnext_t`).", no_args_is_help=True)
app.add_typer(zoo_app, name="zoo")


def zoo_entries() -> list[dict[str, Any]]:
    """One entry per zoo spec: name, file, spec name, description and the metadata's timm name and top-1."""
    entries = []
    for name, path in zoo_specs().items():
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            data = None
        spec: dict[str, Any] = data if isinstance(data, dict) else {}
        meta: dict[str, Any] = spec["metadata"] if isinstance(spec.get("metadata"), dict) else {}
        entries.append({"name": name, "file": str(path), "spec_name": spec.get("name"),
                        "description": spec.get("description") or "", "timm_name": meta.get("timm_name"),
                        "top1": meta.get("top1")})
    return entries


@zoo_app.command("list")
@user_errors
def zoo_list(
    fmt: TableJsonOption = Format.TABLE,
) -> None:
    """List the zoo's specs by name (a name works wherever a spec path does)."""
    entries = zoo_entries()
    if fmt == "json":
        typer.echo(json.dumps(entries, indent=2))
        return
    width = max((len(e["name"]) for e in entries), default=4)
    screen = terminal_width()  # a description longer than the terminal wraps under the descriptions
    for entry in entries:
        typer.echo("\n".join(wrap([f"{entry['name']:<{width}}  {entry['description']}".rstrip()], screen,
                                   " " * (width + 2))))
