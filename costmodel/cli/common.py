"""What every command shares: the app, the one-line error exit (code 2), atomic output and option parsers."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from enum import Enum
from functools import cache, wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from ..errors import UserError, one_line
from ..fileio import output_problem, output_stream
from ..vocab import Choice, Dtype, Format, Fusion, Precision
from ..yamlio import YamlError, parse_yaml

DEBUG_ENV = "COSTMODEL_DEBUG"  # set to 1 to see the traceback of an internal error


class OneLineErrors(TyperGroup):
    """The command group, with click's usage errors (unknown option, bad value) and any unexpected failure
    reported as one ``error:`` line on stderr: exit code 2 for usage errors, 1 for internal errors (a bug)."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        defer_coercion(self)
        one_line_summaries(self)
        plain_metavars(self)
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[misc]
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[misc]
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        except (SystemExit, KeyboardInterrupt):
            raise
        except RecursionError:
            internal_error("input nested too deeply (RecursionError)")
        except MemoryError:
            internal_error("out of memory")
        except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, never a traceback
            if not _is_click_error(exc):
                internal_error(f"{type(exc).__name__}: {exc}")
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:  # `costmodel` alone: the help
                typer.echo(ctx.get_help())
                sys.exit(0)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            typer.echo(f"error: {one_line(exc.format_message())}{hint}", err=True)  # type: ignore[attr-defined]
            sys.exit(2)
        sys.exit(code if isinstance(code, int) else 0)


class _DeferredCoercion:
    """Stands in for typer's coercion of one parameter's value (its ``RuntimeParam``), which typer builds for every
    parameter of the command run, given or not, as a pydantic TypeAdapter: about 20 adapters and pydantic's import
    for ``costmodel analyze`` (a third of its start-up). A parameter not given (None) becomes what typer makes of
    None; a parameter with a parser, an enum parameter at a member and a plain path get what typer's adapter would
    give them (the parser's result; the member; typer's own path checks); any other value, or a parser's
    ValueError, builds typer's coercion and hands over to it (from then on the parameter uses it)."""

    def __init__(self, build: Callable[[Any], Any], coerce_path: Callable[..., Any]) -> None:
        self.build = build
        self.coerce_path = coerce_path

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        multi = param.multiple or param.nargs == -1
        if value is None:  # as typer's RuntimeParam.coerce
            return () if multi else None
        desc = param.type_descriptor
        annotation, info = desc.annotation, desc.parameter_info
        if not multi and desc.file_annotation is None:
            if info.parser is not None:  # typer's adapter: the parser's result, its ValueError a usage error
                try:
                    return info.parser(value)
                except (ValueError, AssertionError):
                    pass  # typer's coercion says it in its words
            elif isinstance(annotation, type) and issubclass(annotation, Enum) and any(value is c for c in annotation):
                return value  # typer's coerce_cli_choice: a member of the enum is itself
            elif annotation is Path and info.path_type is None and type(value) is str and value:
                return self.coerce_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
        runtime = param._runtime_param = self.build(desc)
        return runtime.coerce(value, param=param, ctx=ctx)


@cache
def typer_coercion() -> tuple[Callable[[Any], Any], Callable[..., Any]] | None:
    """typer's private coercion functions that :class:`_DeferredCoercion` stands in for (``build_runtime_param``,
    ``coerce_cli_path``), or None when this typer does not have every private piece it relies on in the shape it
    relies on: per-parameter ``_runtime_param`` built from a ``type_descriptor`` (typer 0.29), a descriptor with
    ``annotation``, ``parameter_info`` and ``file_annotation``, parameter infos with ``parser`` and ``path_type``,
    and ``coerce_cli_path(value, parameter_info, *, path_type, param, ctx)``. None leaves typer's own coercion
    untouched (correct, only slower to start); tests/test_cli.py fails on a typer where it is None, so that an
    upgrade which changes these is seen and this code updated or dropped."""
    import dataclasses
    import inspect

    try:
        from typer._coercion import TypeDescriptor, build_runtime_param
        from typer._param_types import coerce_cli_path
        from typer.core import _TyperParameter
        from typer.models import ParameterInfo
    except ImportError:
        return None
    descriptor = {f.name for f in dataclasses.fields(TypeDescriptor)} if dataclasses.is_dataclass(TypeDescriptor) \
        else set()
    info = set(inspect.signature(ParameterInfo).parameters)
    path = set(inspect.signature(coerce_cli_path).parameters)
    held = getattr(_TyperParameter, "__annotations__", {})
    if not ({"annotation", "parameter_info", "file_annotation"} <= descriptor and {"parser", "path_type"} <= info
            and {"value", "parameter_info", "path_type", "param", "ctx"} <= path
            and {"_runtime_param", "type_descriptor"} <= set(held)):
        return None
    return build_runtime_param, coerce_cli_path


def defer_coercion(command: Any) -> None:
    """Give every parameter of ``command`` and of its subcommands a :class:`_DeferredCoercion` (a typer whose
    private coercion is not what it stands in for is left as it is: :func:`typer_coercion`)."""
    found = typer_coercion()
    if found is None:
        return
    deferred = _DeferredCoercion(*found)

    def defer(param: Any) -> None:
        if hasattr(param, "type_descriptor") and getattr(param, "_runtime_param", False) is None:
            param._runtime_param = deferred

    def with_help(get_help_option: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def get(ctx: Any) -> Any:  # the --help option is made on first use
            option = get_help_option(ctx)
            defer(option)
            return option
        return get

    for cmd in every_command(command):
        for param in getattr(cmd, "params", ()):
            defer(param)
        if hasattr(cmd, "get_help_option"):
            cmd.get_help_option = with_help(cmd.get_help_option)


def every_command(command: Any) -> Iterator[Any]:
    """``command`` and every subcommand below it (click commands and groups)."""
    todo = [command]
    while todo:
        cmd = todo.pop()
        yield cmd
        todo.extend(getattr(cmd, "commands", {}).values())


def one_line_summaries(command: Any) -> None:
    """Give every subcommand of ``command`` a ``short_help``: its help's first paragraph on one line. A group's list
    of commands shows that paragraph, and in rich markup typer keeps the docstring's line breaks there, so a
    summary wrapped in the source broke mid-sentence in `costmodel --help` (``node`` alone on a line)."""
    import inspect

    for cmd in every_command(command):
        if cmd is not command and cmd.help and not cmd.short_help:
            cmd.short_help = " ".join(inspect.cleandoc(cmd.help).split("\n\n")[0].split())


# What --help shows for a value whose option names none: typer 0.29 printed the Python type (<list[str]> for --hw and
# --input, <int range>, <str>, <path>), <bool> after every flag (--help included) and the argument as {spec}.
TYPE_METAVARS = {int: "INTEGER", float: "FLOAT", str: "TEXT", Path: "PATH"}
OPTION_METAVARS = {"--hw": "PROFILE", "--input": "NAME=D1,D2,..."}


def plain_metavars(command: Any) -> None:
    """Give every parameter of ``command`` and its subcommands that names no metavar of its own the one ``--help``
    shows in click's words: nothing after a flag (--help too), ``SPEC`` (``SPECS...`` for several) for an argument
    and no type beside it, ``[a|b]`` for an enum, INTEGER, FLOAT, TEXT or PATH for a value (a repeatable option:
    its element's), and for --hw and --input what they take (:data:`OPTION_METAVARS`)."""
    import typing

    def with_help(get_help_option: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def get(ctx: Any) -> Any:  # the --help option is made on first use: a flag
            option = get_help_option(ctx)
            if option is not None and option.metavar is None:
                option.metavar = ""
            return option
        return get

    for cmd in every_command(command):
        if hasattr(cmd, "get_help_option"):
            cmd.get_help_option = with_help(cmd.get_help_option)
        for param in getattr(cmd, "params", ()):
            if param.metavar is not None:
                continue
            if getattr(param, "is_flag", False):
                param.metavar = ""
                continue
            if param.param_type_name == "argument":
                param.metavar = (param.name or "value").upper()  # typer adds the "..." of several
                param.display_type_rich = lambda ctx: None  # its help says what it takes (<path> for a zoo name)
                continue
            named = next((OPTION_METAVARS[o] for o in param.opts if o in OPTION_METAVARS), None)
            annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
            if typing.get_origin(annotation) is list:
                annotation = typing.get_args(annotation)[0]
            if named is None and isinstance(annotation, type) and issubclass(annotation, Enum):
                named = f"[{'|'.join(str(m.value) for m in annotation)}]"
            plain = TYPE_METAVARS.get(annotation) if isinstance(annotation, type) else None
            param.metavar = named or plain or "VALUE"


def _is_click_error(exc: BaseException) -> bool:
    """A usage error of click's (typer vendors click, so its classes are not importable by a public name)."""
    return any(cls.__name__ == "ClickException" for cls in type(exc).__mro__)


def internal_error(what: str) -> None:
    """Report a failure that is a bug of ours, not the user's input: one line, exit code 1 (the traceback with
    COSTMODEL_DEBUG=1)."""
    if os.environ.get(DEBUG_ENV):
        raise
    typer.echo(f"error: internal error, please report it: {one_line(what, 300)}", err=True)
    sys.exit(1)


app = typer.Typer(
    cls=OneLineErrors,
    name="costmodel",
    help="Analytical cost model for neural-network architectures: params, MACs, FLOPs, activations, memory.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from ..version import __version__

        typer.echo(f"costmodel {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="print the version and exit"),
) -> None:
    """Analytical cost model for neural-network architectures: params, MACs, FLOPs, activations, memory and
    roofline latency. A SPEC is a YAML file or a zoo name (`costmodel zoo list`)."""

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` to stderr and return the exit to raise (code 2)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def user_errors(fn: F) -> F:
    """Turn the errors users cause (SpecError, DesignError and BridgeError are ones; HardwareError; OutputError:
    PlotError, a figure that cannot be built or written, and ReportError, an unusable report folder) into one
    clear line and exit code 2 (never a traceback)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            raise fail(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def write_output(text: str, output: Path | None) -> None:
    """Print, or write ``output`` (:func:`fileio.output_stream`: atomically with the permissions a plain ``open()``
    gives, missing folders created; a symbolic link stays one; a device or FIFO written in place, never replaced): a
    failed write is one error line and leaves no half-written file nor a folder it created."""
    if output is None:
        sys.stdout.write(text)
        return
    try:
        with output_stream(output) as handle:
            handle.write(text.encode("utf-8"))
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {output}", err=True)


def files_read() -> list[Path]:
    """The files the running command reads: its positional arguments (a spec, a measurement file, an ONNX model, a
    space, a results table) that name an existing file; none outside a command."""
    try:  # typer >= 0.2x runs commands on its own copy of click
        from typer._click.globals import get_current_context
    except ImportError:  # older typer: click itself
        from click import get_current_context  # type: ignore[no-redef]

    ctx = get_current_context(silent=True)
    if ctx is None:
        return []
    found: list[Path] = []
    for param in ctx.command.params:
        if getattr(param, "param_type_name", "") == "argument" and param.name:
            value = ctx.params.get(param.name)
            for item in value if isinstance(value, list | tuple) else [value]:
                if isinstance(item, str | Path) and str(item) and os.path.isfile(item):
                    found.append(Path(item))
    return found


def check_writable(path: Path, what: str) -> None:
    """Fail early (before any work) when ``path`` cannot be created (:func:`fileio.output_problem`: a folder, or no
    writable folder to put it in), or is a file the command reads (:func:`files_read`: `import m.onnx -o m.onnx`
    replaced the model by its spec, `calibrate m.csv -o m.csv` the measurements by the fitted profile)."""
    problem = output_problem(path)
    if problem:
        raise fail(f"cannot write {what} {path}: {problem}")
    for read in files_read():
        try:
            same = os.path.samefile(path, read)
        except (OSError, ValueError):
            continue
        if same:
            raise fail(f"cannot write {what} {path}: it is {read}, the file this command reads; choose another name")


def parse_inputs(values: list[str]) -> dict[str, list[int]]:
    """``['image=3,256,256'] -> {'image': [3, 256, 256]}``."""
    shapes: dict[str, list[int]] = {}
    for value in values:
        name, sep, dims = value.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            shapes[name.strip()] = [int(d) for d in dims.replace("x", ",").split(",")]
        except ValueError:
            raise fail(f"--input expects NAME=D1,D2,... (e.g. image=3,256,256), got {value!r}") from None
    return shapes


SetOption = Annotated[list[str] | None, typer.Option(
    "--set", metavar="NAME=VALUE", show_default=False,
    help="set a spec variable; VALUE is read as YAML (a number, a list such as [2,2,6,2], or an expression); "
         "repeatable")]
"""The ``--set NAME=VALUE`` option of every command that reads a spec; :func:`parse_set` reads it."""


def parse_set(values: list[str] | None) -> dict[str, Any]:
    """``['depths=[2,2,6,2]', 'width=0.5']`` -> ``{'depths': [2, 2, 6, 2], 'width': 0.5}`` (values parsed as YAML),
    for :func:`costmodel.spec.load_spec`'s ``overrides``."""
    overrides: dict[str, Any] = {}
    for text in values or []:
        name, sep, raw = text.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise fail(f"--set expects NAME=VALUE (e.g. depths=[2,2,6,2]), got {text!r}")
        try:  # the bounded reader every YAML file goes through (a recursive alias, a bomb, a duplicated key)
            value = parse_yaml(raw) if raw.strip() else None
        except YamlError as exc:
            raise fail(f"--set {name}: cannot read {raw!r} as a YAML value ({exc}); "
                       "quote it for the shell, e.g. --set 'depths=[2, 2, 6, 2]'") from None
        if value is None or isinstance(value, dict):
            raise fail(f"--set {name}: expected a number, a list or an expression, got {raw!r}")
        overrides[name] = value
    return overrides


def parse_batches(text: str, option: str = "--sweep-batch") -> list[int]:
    """``'1,8,64' -> [1, 8, 64]``: positive batch sizes given to ``option`` (named in the error)."""
    try:
        batches = [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        batches = []
    if not batches or min(batches) < 1:
        raise fail(f"{option} expects positive batch sizes separated by commas (e.g. 1,8,64,256), got {text!r}")
    return batches


def check_choice(option: str, value: str | None, choices: Iterable[str]) -> None:
    """Reject a value outside ``choices`` (None: not given, fine) with one line naming the option and the choices."""
    choices = tuple(choices)
    if value is not None and value not in choices:
        raise fail(f"unknown {option} {value!r}; choose one of {', '.join(choices)}")


C = TypeVar("C", bound=Choice)


def choice_option(vocabulary: type[C], *names: str, help: str, only: Sequence[C] = ()) -> Any:
    """A typer option taking one value of ``vocabulary`` (a :class:`~costmodel.vocab.Choice`; ``only``: of those
    values alone): ``--help`` lists the values, shell completion offers them, and an unknown value is one line naming
    the option, exit code 2."""
    values = tuple(str(v) for v in only) or vocabulary.values()

    def parse(value: str | C) -> C:
        if value in values:
            return vocabulary(value)
        raise fail(f"unknown {names[0]} {value!r}; choose one of {', '.join(values)}")

    def complete(incomplete: str) -> list[str]:
        return [v for v in values if v.startswith(incomplete)]

    return typer.Option(*names, parser=parse, metavar=f"[{'|'.join(values)}]", autocompletion=complete, help=help)


DtypeOption = Annotated[Dtype | None, choice_option(Dtype, "--dtype", help="element type (default: the spec's)")]
FusionOption = Annotated[Fusion, choice_option(
    Fusion, "--fusion", help="kernel fusion for latency (none = eager PyTorch)")]
FormatOption = Annotated[Format, choice_option(Format, "--format", "-f", help="output format")]
OptionalFormatOption = Annotated[Format | None, choice_option(
    Format, "--format", "-f", help="output format (default: from -o's extension, else table)")]


TableJsonOption = Annotated[Format, choice_option(
    Format, "--format", "-f", only=(Format.TABLE, Format.JSON), help="output format (json: raw numbers, stable keys)")]
"""The ``--format`` of commands whose output is a table or JSON."""


def echo_text(text: str) -> None:
    """Print a command's text report with each line longer than the terminal wrapped (:func:`layout.wrap`: a
    continuation indented one step more than its line); a pipe or a file (no width) gets it as it is."""
    from ..layout import terminal_width, wrap

    width = terminal_width()
    lines = text.split("\n")
    sys.stdout.write("\n".join(line if width is None or len(line) <= width else "\n".join(wrap([line], width))
                               for line in lines))


def emit_json(data: Any) -> None:
    """Print ``data`` as JSON (see :mod:`costmodel.report.jsonable`)."""
    from ..jsonable import dumps

    sys.stdout.write(dumps(data))


# What an output file's extension says about its format (--format may say the same, or be left out).
EXTENSION_FORMATS = {".json": "json", ".csv": "csv", ".md": "markdown", ".markdown": "markdown", ".txt": "table",
                     ".yaml": "yaml", ".yml": "yaml"}


# Extensions of files that are not text: without --format, `analyze -o fig.png` wrote the table, as text, under a
# picture's name (exit 0).
NOT_TEXT_EXTENSIONS = {".png", ".svg", ".pdf", ".jpg", ".jpeg", ".gif", ".webp", ".html", ".htm", ".xlsx", ".xls",
                       ".parquet", ".pq", ".npy", ".pkl"}


def output_format(fmt: str | None, output: Path | None, choices: Iterable[str], default: str = "table") -> str:
    """The format to write: ``--format`` when given, else the one ``-o FILE``'s extension names, else
    ``default``. A --format that contradicts the extension, or one outside ``choices``, is an error; so is, without
    --format, an extension of a file that is not text (.png, .xlsx: :data:`NOT_TEXT_EXTENSIONS`)."""
    choices = tuple(choices)
    if fmt is None and output is not None and output.suffix.lower() in NOT_TEXT_EXTENSIONS:
        page = "; for an HTML page see `costmodel report`" if output.suffix.lower() in (".html", ".htm") else ""
        raise fail(f"cannot write a table to {output}: {output.suffix} is not a table format; name it .txt, .csv, "
                   f".json or .md, or pass --format{page}")
    implied = EXTENSION_FORMATS.get(output.suffix.lower()) if output is not None else None
    if fmt is not None:
        check_choice("--format", fmt, choices)
        if implied is not None and implied != fmt:
            raise fail(f"--format {fmt} contradicts the extension of {output} ({implied}); "
                       f"leave out --format or change the file name")
        return fmt
    if implied is not None:
        if implied not in choices:
            raise fail(f"cannot write {implied} to {output}: this command writes {', '.join(choices)}")
        return implied
    return default


def screen_width(output: Path | None) -> int | None:
    """The width text output must fit: the terminal's (``$COLUMNS``) when printing, no limit for a file."""
    from ..layout import terminal_width

    return terminal_width() if output is None else None
PrecisionOption = Annotated[Precision, choice_option(
    Precision, "--precision", help="precision policy for latency (amp: torch.autocast with --dtype fp16 or bf16 as "
                                   "the half type; what timm's AMP tables run)")]
