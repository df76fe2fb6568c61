"""Routing and enqueueing: which neighbours get a record or a statement next, queued at once.

Every use case that makes something travel goes through here, inside its own
transaction so that the thing and its outbox rows commit together: intake
(records issued here), receive (records and statements from a peer, passed
on) and status statements issued here. Where a record goes is
:func:`gateway.core.routing.record_recipients`; a statement follows its record
to the neighbours this node's delivery ledger lists, and to a neighbour the
record reaches only later (:func:`enqueue_held_statements`, when it is delivered).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection

from gateway.core.catalog import Catalog, RecipientKind
from gateway.core.identifiers import SubjectType
from gateway.core.policy import node_relation
from gateway.core.routing import record_recipients
from gateway.core.statements import StatusStatement
from gateway.store import Store
from gateway.store.outbox import OutboxEntry, OutboxKind

__all__ = ["RoutedRecord", "enqueue_held_statements", "enqueue_records", "enqueue_statements"]

RoutedRecord = tuple[str, int, str, SubjectType]
"""What routing needs of a record: (record id, version, category code, subject type)."""


def enqueue_records(
    store: Store,
    conn: Connection,
    records: Iterable[RoutedRecord],
    *,
    origin: str,
    parent: str | None,
    children: Sequence[str],
    catalog: Catalog,
    now: int,
) -> None:
    """Queue each record for the neighbours it goes to next, in ``conn``'s transaction.

    Args:
        origin: :data:`gateway.core.routing.LOCAL` for records issued here, else
            the neighbour they came from (never sent back there).
        parent: this node's parent, None at the national node.
        children: this node's children, as the directory in force lists them.
    """
    entries: list[OutboxEntry] = []
    # Where a record goes depends only on its category and subject type.
    routes: dict[tuple[str, SubjectType], list[str]] = {}
    for record_id, version, category, subject_type in records:
        recipients = routes.get((category, subject_type))
        if recipients is None:
            recipients = routes[(category, subject_type)] = record_recipients(
                origin=origin,
                parent=parent,
                children=children,
                category=catalog.category(category),
                subject_type=subject_type,
            )
        entries.extend(
            OutboxEntry(node, OutboxKind.RECORD.value, record_id, version) for node in recipients
        )
    store.outbox.enqueue_many(entries, now=now, conn=conn)


def enqueue_statements(
    store: Store,
    conn: Connection,
    node_id: str,
    statements: Iterable[StatusStatement],
    *,
    exclude: str | None,
    now: int,
) -> None:
    """Queue each statement for the neighbours this node delivered its record version to.

    Args:
        exclude: the neighbour the statements came from (never sent back there).
    """
    entries: list[OutboxEntry] = []
    for statement in statements:
        for holder in store.outbox.holders(statement.record_id):
            neighbour = node_relation(node_id, holder.node) in (
                RecipientKind.PARENT,
                RecipientKind.CHILD,
            )
            if holder.version == statement.version and neighbour and holder.node != exclude:
                entries.append(
                    OutboxEntry(
                        holder.node,
                        OutboxKind.STATEMENT.value,
                        statement.record_id,
                        statement.version,
                        payload_ref=statement.statement_id,
                    )
                )
    store.outbox.enqueue_many(entries, now=now, conn=conn)


def enqueue_held_statements(
    store: Store,
    conn: Connection,
    recipient: str,
    delivered: Iterable[tuple[str, int]],
    *,
    now: int,
) -> None:
    """Queue for ``recipient`` the statements held here about record versions it just received.

    A statement that reached this node while its record still waited in the
    outbox found no ledger entry for the next hop (:func:`enqueue_statements`
    routes by the ledger), so it follows the record once delivered. A statement
    already queued for ``recipient`` is not queued twice.
    """
    entries = [
        OutboxEntry(
            recipient,
            OutboxKind.STATEMENT.value,
            statement.record_id,
            statement.version,
            payload_ref=statement.statement_id,
        )
        for statement in store.batches.statements_about(list(delivered), conn=conn)
    ]
    store.outbox.enqueue_many(entries, now=now, conn=conn)
