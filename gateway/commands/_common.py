"""Shared plumbing for subcommands: errors, output, client folders.

Exit codes: 0 success, 1 a refused or failed operation, 2 bad usage (click).

Every value a command prints goes through :func:`print_table`, :func:`say` or
:func:`fail`, which show it as plain text made safe for a terminal, or as CSV
cells no spreadsheet runs (``gateway.commands._display``); ``--json`` output
is exact.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import click
import grpc
from rich.console import Console
from rich.table import Table
from rich.text import Text

from gateway.commands._display import csv_cell, terminal_text
from gateway.core.errors import GatewayError
from gateway.core.records import CHINA_STANDARD_TIME
from gateway.pki import ClientCredentials, load_client_credentials
from gateway.rpc.client import open_client_channel

__all__ = [
    "as_client_option",
    "emit_json",
    "err_console",
    "fail",
    "handle_errors",
    "json_option",
    "local_time",
    "open_client",
    "out_console",
    "print_table",
    "say",
]

P = ParamSpec("P")
R = TypeVar("R")

out_console = Console(soft_wrap=True)
err_console = Console(stderr=True)


def fail(message: str, *, kind: str = "error", code: str | None = None) -> NoReturn:
    """Report a failure on stderr and exit 1.

    As ``error: message`` in plain text, or, when the command was given
    ``--json``, as one JSON line ``{"error": {"kind", "code", "message"}}`` so
    that scripts read failures the way they read results.

    Args:
        message: what went wrong, for a person.
        kind: the error's class (``AccessDeniedError``...), for a script.
        code: the gRPC status name when a node refused the call.
    """
    if _as_json():
        click.echo(
            json.dumps(
                {"error": {"kind": kind, "code": code, "message": message}},
                ensure_ascii=False,
                sort_keys=True,
            ),
            err=True,
        )
        sys.exit(1)
    # Plain text: messages name tables such as [node], which are not markup. One line
    # whatever its length, so that scripts and log collectors keep it whole.
    err_console.print(
        Text.assemble(("error:", "bold red"), " ", terminal_text(message)), soft_wrap=True
    )
    sys.exit(1)


def _as_json() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.params.get("as_json"))


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn gateway errors and gRPC failures into a clear message and exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except GatewayError as exc:
            fail(str(exc), kind=type(exc).__name__)
        except grpc.RpcError as exc:
            # Errors raised by calls are also grpc.Call, which carries code and details.
            code = exc.code().name if hasattr(exc, "code") else "RPC failed"
            details = exc.details() if hasattr(exc, "details") else str(exc)
            fail(f"{code}: {details}", kind="RpcError", code=code)
        raise AssertionError("unreachable")  # pragma: no cover - fail() exits

    return wrapper


_CSV = "gateway.csv"
_WIDE = "gateway.wide"


def _choose_csv(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    ctx.meta[_CSV] = value


def _choose_wide(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    ctx.meta[_WIDE] = value


def json_option(fn: Callable[P, R]) -> Callable[P, R]:
    """``--json`` (as ``as_json``), ``--csv`` and ``--wide`` (read by :func:`print_table`)."""
    fn = click.option(
        "--wide",
        is_flag=True,
        expose_value=False,
        callback=_choose_wide,
        help="Tables with every column, however wide the terminal.",
    )(fn)
    fn = click.option(
        "--csv",
        is_flag=True,
        expose_value=False,
        callback=_choose_csv,
        help="Tables as CSV (cells that start like a formula are prefixed with ').",
    )(fn)
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(fn)


def _as_csv() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(_CSV))


as_client_option = click.option(
    "--as",
    "client_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Client folder made by `gateway pki client` (certificate, key, root, endpoint).",
)

endpoint_option = click.option(
    "--endpoint", default=None, help="Node address host:port (default: from the client folder)."
)


@contextmanager
def open_client(
    client_dir: Path, endpoint: str | None
) -> Iterator[tuple[ClientCredentials, grpc.Channel]]:
    """Load a client folder and open a channel to its node."""
    client = load_client_credentials(client_dir)
    channel = open_client_channel(client, endpoint=endpoint)
    try:
        yield client, channel
    finally:
        channel.close()


def local_time(ts: int | None) -> str:
    """A Unix time as China Standard Time to the minute (``never`` for None)."""
    if ts is None:
        return "never"
    return dt.datetime.fromtimestamp(ts, CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M")


def emit_json(value: Any) -> None:
    """One JSON document (or line) on stdout, UTF-8, not escaped."""
    click.echo(json.dumps(value, ensure_ascii=False, sort_keys=True))


def print_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    droppable: Sequence[str] = (),
) -> None:
    """A readable table on stdout, or CSV under ``--csv`` (without the title).

    Title and cells are shown as plain text, never as rich markup, with the
    characters that would steer a terminal escaped. When the table is wider
    than the terminal (80 columns, say), the ``droppable`` columns are left out
    one by one, in the order given, until it fits, and a line under the table
    names them; the cells of what remains wrap. ``--wide`` keeps every column.

    Args:
        droppable: names of columns that may be left out, least needed first.
    """
    if _as_csv():
        # RFC 4180 line ends; with "\n" alone the writer would leave a lone CR unquoted.
        writer = csv.writer(sys.stdout, lineterminator="\r\n")
        writer.writerow([csv_cell(column) for column in columns])
        writer.writerows([csv_cell(cell) for cell in row] for row in rows)
        return
    ctx = click.get_current_context(silent=True)
    wide = bool(ctx is not None and ctx.meta.get(_WIDE))
    shown = list(range(len(columns)))
    left_out: list[str] = []
    table = _table(title, columns, rows, shown)
    if wide:
        # Console.print never goes past the console's width: a wider console, once.
        width = max(out_console.width, _natural_width(table))
        Console(file=out_console.file, width=width, no_color=out_console.no_color).print(table)
        return
    for name in droppable:
        if _natural_width(table) <= out_console.width:
            break
        shown.remove(list(columns).index(name))
        left_out.append(name)
        table = _table(title, columns, rows, shown)
    # Not soft-wrapped: a long title wraps to the terminal like the cells do.
    out_console.print(table, soft_wrap=False)
    if left_out:
        out_console.print(
            Text(f"left out to fit {out_console.width} columns: {', '.join(left_out)} (--wide)"),
            style="dim",
        )


def _table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], shown: Sequence[int]
) -> Table:
    table = Table(title=terminal_text(title), title_justify="left", show_lines=False)
    for i in shown:
        table.add_column(terminal_text(columns[i]), overflow="fold")
    for row in rows:
        table.add_row(*(terminal_text(row[i]) for i in shown))
    return table


def _natural_width(table: Table) -> int:
    """The width ``table`` takes unwrapped."""
    return out_console.measure(table, options=out_console.options.update(width=10_000)).maximum


def say(*parts: str | tuple[str, str]) -> None:
    """A line of plain text: each part as it is, or (text, rich style).

    On stdout, or on stderr under ``--csv`` so that stdout stays one CSV table.
    """
    line = Text.assemble(
        *(terminal_text(*p) if isinstance(p, tuple) else terminal_text(p) for p in parts)
    )
    (err_console if _as_csv() else out_console).print(line)
