"""Shared plumbing for subcommands: errors, output, client folders.

Exit codes: 0 success, 1 a refused or failed operation, 2 bad usage (click).
"""

from __future__ import annotations

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
from rich.markup import escape
from rich.table import Table

from gateway.core.errors import GatewayError
from gateway.pki import ClientCredentials, load_client_credentials
from gateway.rpc.client import open_client_channel

__all__ = [
    "as_client_option",
    "emit_json",
    "err_console",
    "fail",
    "handle_errors",
    "json_option",
    "open_client",
    "out_console",
    "print_table",
]

P = ParamSpec("P")
R = TypeVar("R")

out_console = Console(soft_wrap=True)
err_console = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` to stderr and exit 1."""
    # Escaped: messages name tables such as [node], which are not markup. One line
    # whatever its length, so that scripts and log collectors keep it whole.
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(1)


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn gateway errors and gRPC failures into a clear message and exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except GatewayError as exc:
            fail(str(exc))
        except grpc.RpcError as exc:
            # Errors raised by calls are also grpc.Call, which carries code and details.
            code = exc.code().name if hasattr(exc, "code") else "RPC failed"
            details = exc.details() if hasattr(exc, "details") else str(exc)
            fail(f"{code}: {details}")
        raise AssertionError("unreachable")  # pragma: no cover - fail() exits

    return wrapper


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")

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


def emit_json(value: Any) -> None:
    """One JSON document (or line) on stdout, UTF-8, not escaped."""
    click.echo(json.dumps(value, ensure_ascii=False, sort_keys=True))


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A readable table on stdout."""
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    out_console.print(table)
