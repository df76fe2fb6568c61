"""``gateway status``: one screen about a node, read on its host from its config and store."""

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
from gateway.commands.outbox import config_option
from gateway.node.status import NodeStatus

__all__ = ["status"]


def _span(seconds: float | None) -> str:
    """A duration as a person reads it: ``3d 4h``, ``12m``, ``-2h`` (past)."""
    if seconds is None:
        return "—"
    sign = "-" if seconds < 0 else ""
    left = abs(int(seconds))
    days, left = divmod(left, 86_400)
    hours, left = divmod(left, 3_600)
    minutes, secs = divmod(left, 60)
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes}m"
    if minutes:
        return f"{sign}{minutes}m"
    return f"{sign}{secs}s"


def _as_dict(found: NodeStatus) -> dict[str, Any]:
    document = dataclasses.asdict(found)
    document["readiness"] = {
        "ready": found.readiness.ready,
        "checks": {r.name: r.reason or "ok" for r in found.readiness.results},
    }
    return document


@click.command()
@config_option
@json_option
@handle_errors
def status(*, config_path: Path, as_json: bool) -> None:
    """Node, level, parent, peers with last contact, outbox, directory, certificates, audit log."""
    with operator_session(config_path) as session:
        found = session.status()
        session.audit("operator.status")
    if as_json:
        emit_json(_as_dict(found))
        return
    ready = found.readiness
    print_table(
        f"node {found.node_id} ({found.level})",
        ["", "now"],
        [
            ("ready", "yes" if ready.ready else f"NO: {ready.summary()}"),
            ("parent", found.parent or "— (national)"),
            ("listen", found.listen),
            ("directory", _directory(found)),
            *((f"certificate {c.name}", f"expires in {_span(c.expires_in_s)}")
              for c in found.certificates),
            ("audit log", f"{found.audit_events} events, "
             + (f"epoch {found.audit_epoch} (after restores), " if found.audit_epoch > 1 else "")
             + f"last checkpoint {_span(found.last_checkpoint_age_s)} ago"),
            ("parent cosigned", "—" if found.parent is None
             else f"{_span(found.parent_cosignature_age_s)} ago"),
            ("failed deliveries", f"{found.failed_deliveries} (gateway outbox list)"),
        ],
    )  # fmt: skip
    if not found.peers:
        say("no neighbours in the directory")
        return
    print_table(
        "neighbours",
        ["node", "is", "endpoint", "backlog", "oldest waiting", "last delivery"],
        [
            (p.node_id, p.relation, p.endpoint, p.backlog, _span(p.oldest_waiting_s),
             local_time(p.last_delivery_at))
            for p in found.peers
        ],
        droppable=("endpoint", "oldest waiting"),
    )  # fmt: skip


def _directory(found: NodeStatus) -> str:
    if found.directory_serial is None:
        return "none verified"
    shown = f"serial {found.directory_serial}, expires in {_span(found.directory_expires_in_s)}"
    if found.directory_expiring:
        # Re-signing at national and the refresh from the parent both failed to renew it.
        shown += " — EXPIRING: check the parent link, or re-sign it at national"
    return shown
