"""``gateway outbox list|retry``: deliveries that met trouble, and sending them again.

Operator's commands: they run on the node's host with its configuration
(``--config``) and store, and ``retry`` is audited as the operator.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from gateway.app.operator import operator_session
from gateway.commands._common import (
    emit_json,
    handle_errors,
    json_option,
    local_time,
    print_table,
    say,
)
from gateway.node.outbox_admin import DeliveryTrouble

__all__ = ["outbox"]

config_option = click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The node's configuration file (as for `gateway serve`).",
)


def _as_dict(row: DeliveryTrouble) -> dict[str, Any]:
    return {**dataclasses.asdict(row), "state": row.state.value}


@click.group()
def outbox() -> None:
    """Deliveries that failed or are being retried (operator, on the node's host)."""


@outbox.command("list")
@config_option
@click.option("--recipient", default=None, help="Only deliveries to this node.")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(min=1))
@json_option
@handle_errors
def outbox_list(*, config_path: Path, recipient: str | None, limit: int, as_json: bool) -> None:
    """List every failed or retrying delivery: recipient, item, reason, attempts, since."""
    with operator_session(config_path) as session:
        rows = session.outbox.troubled(recipient=recipient, limit=limit)
        session.audit("outbox.list", f"{len(rows)} deliveries listed")
    if as_json:
        for row in rows:
            emit_json(_as_dict(row))
        return
    if not rows:
        say("nothing failed or waiting for a retry")
        return
    print_table(
        f"{len(rows)} deliveries that met trouble",
        ["id", "recipient", "kind", "item", "state", "attempts", "since", "reason"],
        [
            (
                r.id,
                r.recipient,
                r.kind,
                r.item,
                r.state.value,
                r.attempts,
                local_time(r.since),
                r.reason,
            )
            for r in rows
        ],
        droppable=("since", "kind", "attempts"),
    )


@outbox.command("retry")
@config_option
@click.option("--id", "ids", multiple=True, type=int, help="An outbox row (repeatable).")
@click.option("--recipient", default=None, help="Every failed delivery to this node.")
@click.option("--all-failed", is_flag=True, help="Every failed delivery.")
@json_option
@handle_errors
def outbox_retry(
    *,
    config_path: Path,
    ids: tuple[int, ...],
    recipient: str | None,
    all_failed: bool,
    as_json: bool,
) -> None:
    """Queue failed deliveries again (audited as the operator); the running node sends them."""
    chosen = sum((bool(ids), recipient is not None, all_failed))
    if chosen != 1:
        raise click.UsageError("name what to retry: --id (repeatable), --recipient or --all-failed")
    with operator_session(config_path) as session:
        requeued = session.outbox.retry(session.operator, ids=ids, recipient=recipient)
    if as_json:
        emit_json({"requeued": requeued})
        return
    say(f"requeued {len(requeued)} failed deliveries" + (f": {requeued}" if requeued else ""))
