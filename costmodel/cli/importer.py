"""`import`: an ONNX model -> a costmodel spec (YAML), ready for `costmodel analyze`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..bridges.onnx_import import import_onnx
from .common import app, user_errors, write_output


@app.command("import")
@user_errors
def import_model(
    model: Annotated[Path, typer.Argument(help="ONNX model file, e.g. resnet18.onnx")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write the spec (YAML) to this file")] = None,
    name: Annotated[str | None, typer.Option(help="the spec's name (default: the file's stem)")] = None,
    batch: Annotated[int | None, typer.Option(
        min=1, help="batch size for a model exported with a dynamic batch dimension (default 1)")] = None,
) -> None:
    """Convert an ONNX model into a flat spec: constants folded, ONNX node names kept, unsupported ops listed."""
    write_output(import_onnx(model, name, batch), output)
