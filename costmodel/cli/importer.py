"""`import`: an ONNX model, a timm model or a PyTorch builder -> a costmodel spec (YAML) for `costmodel analyze`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import app, check_writable, parse_inputs, user_errors, write_output


@app.command("import")
@user_errors
def import_model(
    model: Annotated[str, typer.Argument(
        help="an ONNX file (resnet18.onnx), timm:NAME (timm:convnext_tiny) or torch:package.module:builder "
             "(a callable returning an nn.Module)")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write the spec (YAML) to this file")] = None,
    name: Annotated[str | None, typer.Option(help="the spec's name (default: the file's stem or model name)")] = None,
    batch: Annotated[int | None, typer.Option(
        min=1, help="ONNX: batch size for a model exported with a dynamic batch dimension (default 1)")] = None,
    inputs: Annotated[list[str] | None, typer.Option(
        "--input", help="PyTorch: per-sample input shape NAME=C,H,W (repeat for several inputs); timm models "
                        "default to their own input size")] = None,
    reparam: Annotated[bool, typer.Option(
        "--reparam", help="PyTorch: import the deployed form (timm's reparameterize_model), as timm's benchmark "
                          "figures are")] = False,
    allow_opaque: Annotated[bool, typer.Option(
        "--allow-opaque", help="import unsupported ops as explicit `opaque` nodes (traced shapes, zero MACs and "
                               "FLOPs, flagged) instead of failing")] = False,
    flat: Annotated[bool, typer.Option("--flat", help="PyTorch: one node per op, no repeat: blocks")] = False,
) -> None:
    """Convert a model into a spec. PyTorch models go through torch.export (no weights are downloaded); node
    names follow the module hierarchy and repeated modules fold into blocks with `repeat:`. Unsupported ops are
    all listed (or, with --allow-opaque, kept as flagged opaque nodes)."""
    if output is not None:
        check_writable(output, "the spec to")  # before the import (minutes for a large PyTorch model), not after it
    if model.startswith(("timm:", "torch:")):
        from ..bridges.torch_import import import_source, summary

        shapes = {k: tuple(v) for k, v in parse_inputs(inputs).items()} if inputs else None
        text, report = import_source(model, shapes, reparam=reparam, allow_opaque=allow_opaque, name=name,
                                     fold=not flat)
        write_output(text, output)
        for line in summary(report, model):
            typer.echo(line, err=True)
        return
    from ..bridges.onnx_import import import_onnx

    write_output(import_onnx(Path(model), name, batch, allow_opaque=allow_opaque), output)
