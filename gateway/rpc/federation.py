"""Federation servicer: Push, Pull (catch-up), GetDirectory and Holders, node peers only."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc

from gateway._proto.v1 import federation_pb2, federation_pb2_grpc
from gateway.core.audit import Decision, error_detail, error_rule, event_by
from gateway.core.catalog import RecipientKind
from gateway.core.errors import AccessDeniedError, GatewayError, NotFoundError
from gateway.core.limits import Limits
from gateway.core.policy import node_relation
from gateway.node.outbound import Outbound, OutboundBatch
from gateway.node.receive import FederationReceiver
from gateway.node.trust import FederationTrust
from gateway.rpc.context import current_principal
from gateway.store import Store

__all__ = ["FederationServicer"]


class FederationServicer(federation_pb2_grpc.FederationServicer):
    def __init__(
        self,
        *,
        node_id: str,
        receiver: FederationReceiver,
        outbound: Outbound,
        trust: FederationTrust,
        store: Store,
        limits: Limits,
        clock: Callable[[], int],
        batch_records: int,
    ) -> None:
        self._node_id = node_id
        self._receiver = receiver
        self._outbound = outbound
        self._trust = trust
        self._store = store
        self._limits = limits
        self._clock = clock
        self._batch_records = batch_records

    def _refused(self, action: str, exc: GatewayError) -> None:
        """Audit a refused batch or call (verification or policy), in its own transaction."""
        principal = current_principal()
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

    def Push(
        self,
        request_iterator: Iterator[federation_pb2.PushRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[federation_pb2.PushResponse]:
        principal = current_principal()
        for request in request_iterator:
            try:
                result = self._receiver.receive(
                    principal,
                    request.hop_envelope,
                    list(request.records),
                    list(request.statements),
                    list(request.messages),
                )
            except GatewayError as exc:
                self._refused("push.receive", exc)
                raise
            yield federation_pb2.PushResponse(
                batch_id=result.batch_id,
                stored=result.stored,
                duplicates=result.duplicates,
                applied=result.applied,
            )

    def Pull(
        self, request: federation_pb2.PullRequest, context: grpc.ServicerContext
    ) -> Iterator[federation_pb2.PushRequest]:
        principal = current_principal()
        self._trust.check_peer(principal)
        child = principal.node_id
        if node_relation(self._node_id, child) is not RecipientKind.CHILD:
            raise AccessDeniedError(
                f"node {child} is not a child of {self._node_id}: nothing to catch up on",
                rule="federation:pull-children-only",
            )
        # The child's cursor acknowledges everything up to it: settle those rows.
        acknowledged = self._store.outbox.pending_through(child, request.after)
        if acknowledged:
            self._settle(self._outbound.build(child, acknowledged))
        after = request.after
        while True:
            items = self._store.outbox.pending_after(child, after, limit=self._batch_records)
            if not items:
                return
            batch = self._outbound.build(child, items)
            after = batch.last_id
            if batch.dropped:
                self._drop(batch)
            if batch.empty:
                continue
            yield federation_pb2.PushRequest(
                hop_envelope=batch.envelope_json,
                records=list(batch.records),
                statements=list(batch.statements),
                messages=list(batch.messages),
                cursor=after,
            )

    def _settle(self, batch: OutboundBatch) -> None:
        self._store.writer.submit(lambda conn: self._outbound.settle(batch, conn)).result()

    def _drop(self, batch: OutboundBatch) -> None:
        self._store.writer.submit(lambda conn: self._outbound.drop(batch, conn)).result()

    def GetDirectory(
        self, request: federation_pb2.GetDirectoryRequest, context: grpc.ServicerContext
    ) -> federation_pb2.SignedDirectory:
        signed = self._trust.signed
        if signed is None:
            raise NotFoundError(f"node {self._node_id} has no federation directory yet")
        return federation_pb2.SignedDirectory(
            envelope=signed.envelope, signer_chain_pem=signed.signer_chain_pem
        )

    def Holders(
        self, request: federation_pb2.HoldersRequest, context: grpc.ServicerContext
    ) -> federation_pb2.HoldersResponse:
        self._trust.check_peer(current_principal())
        rows = self._store.outbox.holders(request.record_id)
        return federation_pb2.HoldersResponse(
            holders=[
                federation_pb2.Holder(
                    record_id=r.record_id,
                    version=r.version,
                    node=r.node,
                    delivered_at=r.delivered_at,
                    status_sent=r.status_sent,
                    confirmed_status=r.confirmed_status or "",
                    confirmed_at=r.confirmed_at or 0,
                    reported_by=self._node_id,
                )
                for r in rows
            ]
        )
