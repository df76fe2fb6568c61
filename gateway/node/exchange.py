"""The serving side of node-to-node federation: what a peer may ask of this node.

:class:`FederationExchange` holds the use cases behind the Federation service
(Push, Pull, GetDirectory, Holders), in domain types, so that its servicer only
converts messages and an in-process harness can wire nodes together without a
transport. A Pull carries an explicit acknowledgement: the child's cursor says
which of the rows this node served it have been applied there, and
:meth:`FederationExchange.acknowledge` settles exactly those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from gateway.core.audit import Decision, error_detail, error_rule, event_by, mark_audited
from gateway.core.catalog import RecipientKind
from gateway.core.errors import AccessDeniedError, GatewayError, NotFoundError
from gateway.core.policy import node_relation
from gateway.core.principal import Principal
from gateway.node.cancellation import NEVER_CANCELLED, Cancellation
from gateway.node.outbound import Outbound, OutboundBatch
from gateway.node.peer_client import HolderView, HopBatch
from gateway.node.receive import FederationReceiver, ReceiveResult
from gateway.node.trust import FederationTrust, SignedDirectoryFile
from gateway.store import Store

__all__ = ["FederationExchange"]


class FederationExchange:
    """What this node serves to its neighbours."""

    def __init__(
        self,
        *,
        node_id: str,
        receiver: FederationReceiver,
        outbound: Outbound,
        trust: FederationTrust,
        store: Store,
        clock: Callable[[], int],
        batch_records: int,
    ) -> None:
        self._node_id = node_id
        self._receiver = receiver
        self._outbound = outbound
        self._trust = trust
        self._store = store
        self._clock = clock
        self._batch_records = batch_records

    def _refused(self, principal: Principal, action: str, exc: GatewayError) -> None:
        """Audit a refused batch or call (verification or policy), in its own transaction."""
        self._store.audit.append(
            [
                event_by(
                    principal,
                    node=self._node_id,
                    time=self._clock(),
                    action=action,
                    decision=Decision.DENIED,
                    rule=error_rule(exc),
                    detail=error_detail(exc),
                )
            ]
        )
        # The RPC edge must not log this refusal a second time.
        mark_audited(exc)

    def receive(self, principal: Principal, batch: HopBatch) -> ReceiveResult:
        """Verify and store one batch pushed by ``principal``; a refusal is audited.

        Raises:
            As :meth:`gateway.node.receive.FederationReceiver.receive`.
        """
        try:
            return self._receiver.receive(
                principal,
                batch.envelope_json,
                list(batch.records),
                list(batch.statements),
                list(batch.messages),
            )
        except GatewayError as exc:
            self._refused(principal, "push.receive", exc)
            raise

    def pull(
        self, principal: Principal, after: int, *, cancel: Cancellation = NEVER_CANCELLED
    ) -> Iterator[HopBatch]:
        """Acknowledge what the child applied (through ``after``), then serve what is past it.

        Each batch carries the outbox position it reaches as its cursor. Rows
        that must never go (purged, expired, not shared) are retired on the way.
        Nothing runs until the iteration starts. Before each batch it asks
        ``cancel`` whether the child still wants it: what was served and not
        acknowledged stays pending, so stopping loses nothing.

        Raises:
            AccessDeniedError: the caller is not a listed node, or not a child of this one.
            CallCancelledError: the child cancelled, or the call's deadline passed.
        """
        self._trust.check_peer(principal)
        child = principal.node_id
        if node_relation(self._node_id, child) is not RecipientKind.CHILD:
            raise AccessDeniedError(
                f"node {child} is not a child of {self._node_id}: nothing to catch up on",
                rule="federation:pull-children-only",
            )
        self.acknowledge(child, after)
        served = 0
        while True:
            cancel.check(f"after {served} batches served (through outbox position {after})")
            items = self._store.outbox.pending_after(child, after, limit=self._batch_records)
            if not items:
                return
            batch = self._outbound.build(child, items)
            after = batch.last_id
            if batch.dropped:
                self._drop(batch)
            if batch.empty:
                continue
            served += 1
            yield HopBatch(
                envelope_json=batch.envelope_json,
                records=batch.records,
                statements=batch.statements,
                messages=batch.messages,
                cursor=after,
            )

    def _drop(self, batch: OutboundBatch) -> None:
        self._store.writer.submit(lambda conn: self._outbound.drop(batch, conn)).result()

    def acknowledge(self, child: str, through: int) -> int:
        """Settle the rows served to ``child`` up to outbox position ``through``.

        The child stores its cursor only with the batch it applied, so a cursor
        is proof of receipt for every row up to it. Returns how many rows it settled.
        """
        acknowledged = self._store.outbox.pending_through(child, through)
        if acknowledged:
            self._store.writer.submit(
                lambda conn: self._outbound.acknowledge(child, acknowledged, conn)
            ).result()
        return len(acknowledged)

    def directory(self) -> SignedDirectoryFile:
        """The signed directory in force here, as received.

        Raises:
            NotFoundError: this node has none yet.
        """
        signed = self._trust.signed
        if signed is None:
            raise NotFoundError(f"node {self._node_id} has no federation directory yet")
        return signed

    def holders(self, principal: Principal, record_id: str) -> list[HolderView]:
        """This node's delivery ledger for one record, for a listed peer.

        Raises:
            AccessDeniedError: the caller is not a listed node.
        """
        self._trust.check_peer(principal)
        return [
            HolderView(
                node=r.node,
                version=r.version,
                delivered_at=r.delivered_at,
                status_sent=r.status_sent,
                confirmed_status=r.confirmed_status or "",
                confirmed_at=r.confirmed_at or 0,
                reported_by=self._node_id,
            )
            for r in self._store.outbox.holders(record_id)
        ]
