"""The command line: a thin layer over the analyzer. Errors in user input exit with code 2.

Each module registers its commands on the one ``app`` (common.py). A run imports only the modules of the
command it runs (:data:`COMMAND_MODULES`; every module for help, completion or an unknown command), so
``costmodel analyze`` does not pay for the designer, the importers or the plots. ``costmodel.cli.app`` (what
tests and embedders use) is the app with every command registered.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

MODULES = ("analyze", "design", "importer", "measure", "plots", "report", "sweep", "zoo")
"""The command modules, in registration order (the order ``costmodel --help`` lists the commands in)."""

COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "analyze": ("analyze",), "schema": ("analyze",), "ops": ("analyze",), "hw": ("analyze",),
    "design": ("design",),
    "import": ("importer",),
    "calibrate": ("measure",), "validate": ("measure",), "bench": ("measure",),
    "plot": ("plots", "sweep"),  # sweep adds `plot sweep`
    "compare": ("report",), "report": ("report",),
    "sweep": ("sweep",),
    "zoo": ("zoo",),
}
"""Top-level command (or group) -> the modules that register it and its subcommands (tests/test_cli.py checks
this against the full registration)."""


def register_commands(modules: Sequence[str] = MODULES) -> typer.Typer:
    """Import the command modules ``modules`` (each registers its commands on the app) and return the app."""
    for name in MODULES:  # registration order kept whatever subset is asked for
        if name in modules:
            importlib.import_module(f"{__name__}.{name}")
    from .common import app

    return app


def modules_for(args: Sequence[str]) -> tuple[str, ...]:
    """The command modules a run with arguments ``args`` needs: the named command's, else all of them (help,
    ``--version``, shell completion, an unknown command: click's messages list every command)."""
    if any(key.startswith("_COSTMODEL_COMPLETE") for key in os.environ):
        return MODULES
    return COMMAND_MODULES.get(args[0], MODULES) if args else MODULES


def main() -> None:
    """Entry point: run the app; usage errors exit with code 2 as click does."""
    register_commands(modules_for(sys.argv[1:]))()


def __getattr__(name: str) -> Any:
    """``app``: the app with every command registered (PEP 562)."""
    if name == "app":
        return register_commands()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["COMMAND_MODULES", "MODULES", "app", "main", "modules_for", "register_commands"]
