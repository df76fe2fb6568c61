"""``gateway node init`` and ``gateway serve``: configure and run a node."""

from __future__ import annotations

import faulthandler
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from gateway.commands._common import emit_json, handle_errors, json_option, out_console
from gateway.core.errors import ConfigurationError
from gateway.logging import configure_logging, route_native_stderr
from gateway.node.config import config_from_tables, load_config, write_config

__all__ = ["node", "serve"]


@click.group()
def node() -> None:
    """Configure a node."""


def _node_keys(keys: Path, node_id: str) -> Path:
    candidate = keys / "nodes" / node_id
    if (candidate / "tls.crt").exists():
        return candidate.resolve()
    if (keys / "tls.crt").exists():
        return keys.resolve()
    raise ConfigurationError(
        f"no credentials for node {node_id} under {keys}: run `gateway pki node` first"
    )


@node.command("init")
@click.option("--node", "node_id", required=True, help="6-digit region code of this node.")
@click.option(
    "--keys",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Federation keystore (or this node's credential folder).",
)
@click.option("--listen", required=True, help="host:port to serve on (port 0 picks one).")
@click.option("--parent", default=None, help="Parent node address host:port.")
@click.option("--db", "database", default=None, help="Database URL (default: SQLite beside --out).")
@click.option(
    "--directory",
    "directory_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Signed federation directory: the source at 000000, a cache elsewhere.",
)
@click.option(
    "--operations-listen",
    default=None,
    help="host:port of /healthz, /readyz and /metrics (default: loopback, a free port).",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@json_option
@handle_errors
def node_init(
    *,
    node_id: str,
    keys: Path,
    listen: str,
    parent: str | None,
    database: str | None,
    directory_file: Path | None,
    operations_listen: str | None,
    out: Path,
    as_json: bool,
) -> None:
    """Write a node configuration file."""
    out = out.resolve()
    config = config_from_tables(
        node={
            "id": node_id,
            "keys": _node_keys(keys, node_id),
            "listen": listen,
            "database": database or f"sqlite:///{out.parent / (node_id + '.db')}",
            "parent": parent,
            "directory": directory_file.resolve()
            if directory_file
            else out.parent / f"{node_id}.directory.json",
        },
        operations={} if operations_listen is None else {"listen": operations_listen},
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    write_config(config, out)
    if as_json:
        emit_json({"config": str(out), "database": config.database})
    else:
        out_console.print(f"node {node_id} configuration written to {out}")


@click.command()
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option("--log-json/--log-console", default=None, help="Log format (default: by terminal).")
@click.pass_context
@handle_errors
def serve(ctx: click.Context, *, config_path: Path, log_json: bool | None) -> None:
    """Run a node: gRPC over mutual TLS, health, reflection. SIGTERM stops it gracefully."""
    from gateway.app import start_node
    from gateway.node.collector import freeze_startup_heap, pace_collector_for_serving

    config = load_config(config_path)
    use_json = (not sys.stderr.isatty()) if log_json is None else log_json
    if use_json:
        # Production: C-core's own lines on fd 2 become JSON events too.
        route_native_stderr()
    level = (ctx.find_root().obj or {}).get("log_level", "info")
    configure_logging(json=use_json, level=level)
    # A fault in native code (SIGBUS from a mapped SQLite file, SIGSEGV) leaves its
    # reason and the threads' stacks in the log instead of a silent death.
    faulthandler.enable(file=sys.stderr)
    pace_collector_for_serving()
    running = start_node(config)
    freeze_startup_heap()
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # One line on stdout that scripts and tests read to learn the bound ports.
    operations = f", operations on {running.operations.url}" if running.operations else ""
    publication = f", publication on {running.publication.url}" if running.publication else ""
    frontends = (
        ", check frontends on ports " + " ".join(str(p) for p in running.frontends.ports)
        if running.frontends
        else ""
    )
    click.echo(
        f"serving node {config.node_id} on port {running.port}{operations}{publication}{frontends}",
        err=False,
    )
    while not stop.wait(0.5):
        pass
    running.stop()
