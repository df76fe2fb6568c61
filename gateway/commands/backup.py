"""``gateway backup`` / ``gateway restore``: a copy of a node's SQLite store, and putting it back.

Operator's commands: they run on the node's host with its configuration
(``--config``) and are audited as the operator. ``backup`` copies while the
node serves (SQLite's online backup API); ``restore`` wants the node stopped.
PostgreSQL stores are copied with ``pg_dump -Fc`` and put back with
``pg_restore`` (see the README).
"""

from __future__ import annotations

from pathlib import Path

import click

from gateway.app.operator import operator_session
from gateway.commands._common import emit_json, handle_errors, json_option, say
from gateway.commands.outbox import config_option
from gateway.node.config import load_config
from gateway.store.backup import restore_sqlite

__all__ = ["backup", "restore"]


@click.command("backup")
@config_option
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@handle_errors
def backup(*, config_path: Path, target: Path, as_json: bool) -> None:
    """Copy the node's SQLite store into the new file TARGET while it serves (audited)."""
    with operator_session(config_path) as session:
        size = session.backups.backup(session.operator, target)
    if as_json:
        emit_json({"backup": str(target), "audit_events": size})
        return
    say(f"backed up into {target}: audit log of {size} events")


@click.command("restore")
@config_option
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@handle_errors
def restore(*, config_path: Path, source: Path, as_json: bool) -> None:
    """Put the backup SOURCE in place of the stopped node's SQLite store (audited)."""
    restore_sqlite(source, load_config(config_path).database)
    with operator_session(config_path) as session:
        size = session.backups.restored(session.operator, source)
    if as_json:
        emit_json({"restored": str(source), "audit_events": size})
        return
    say(f"restored from {source}: audit log of {size} events")
