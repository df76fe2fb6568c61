"""Federation servicer: Push, Pull (catch-up), GetDirectory and Holders, node peers only.

Protobuf stops here: each method converts its request, calls one use case of
:class:`~gateway.node.exchange.FederationExchange` and converts the result.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from gateway._proto.v1 import federation_pb2, federation_pb2_grpc
from gateway.core.batch_items import ItemOutcome, ItemResult, ReceiveResult
from gateway.core.errors import PeerError
from gateway.node.exchange import FederationExchange
from gateway.node.peer_client import HopBatch
from gateway.rpc.context import call_cancellation, client_messages, current_principal

__all__ = [
    "FederationServicer",
    "hop_batch_from_proto",
    "hop_batch_to_proto",
    "receipt_from_proto",
    "receipt_to_proto",
]

_OUTCOMES = {
    ItemOutcome.STORED: federation_pb2.ITEM_OUTCOME_STORED,
    ItemOutcome.DUPLICATE: federation_pb2.ITEM_OUTCOME_DUPLICATE,
    ItemOutcome.REFUSED: federation_pb2.ITEM_OUTCOME_REFUSED,
}
_FROM_OUTCOMES = {wire: outcome for outcome, wire in _OUTCOMES.items()}


def hop_batch_from_proto(message: federation_pb2.PushRequest) -> HopBatch:
    return HopBatch(
        envelope_json=message.hop_envelope,
        records=tuple(message.records),
        statements=tuple(message.statements),
        messages=tuple(message.messages),
        cursor=message.cursor,
    )


def hop_batch_to_proto(batch: HopBatch) -> federation_pb2.PushRequest:
    return federation_pb2.PushRequest(
        hop_envelope=batch.envelope_json,
        records=list(batch.records),
        statements=list(batch.statements),
        messages=list(batch.messages),
        cursor=batch.cursor,
    )


def receipt_to_proto(result: ReceiveResult) -> federation_pb2.PushResponse:
    return federation_pb2.PushResponse(
        batch_id=result.batch_id,
        stored=result.stored,
        duplicates=result.duplicates,
        applied=result.applied,
        records=[
            federation_pb2.ItemResult(
                outcome=_OUTCOMES[item.outcome],
                reason=item.reason,
                passes_with_time=item.passes_with_time,
            )
            for item in result.records
        ],
    )


def receipt_from_proto(message: federation_pb2.PushResponse) -> ReceiveResult:
    """The receiver's acknowledgement in domain types.

    Raises:
        PeerError: an item result names no outcome this node knows.
    """
    items: list[ItemResult] = []
    for index, item in enumerate(message.records, start=1):
        outcome = _FROM_OUTCOMES.get(item.outcome)
        if outcome is None:
            raise PeerError(f"the acknowledgement of record {index} names no known outcome")
        items.append(ItemResult(outcome, item.reason, item.passes_with_time))
    return ReceiveResult(
        message.batch_id, message.stored, message.duplicates, message.applied, tuple(items)
    )


class FederationServicer(federation_pb2_grpc.FederationServicer):
    def __init__(self, exchange: FederationExchange) -> None:
        self._exchange = exchange

    def Push(
        self,
        request_iterator: Iterator[federation_pb2.PushRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[federation_pb2.PushResponse]:
        principal = current_principal()
        acknowledged = 0
        requests = client_messages(
            request_iterator,
            call_cancellation(context),
            # Each batch is stored whole (one transaction) or not at all.
            lambda: f"after {acknowledged} batches acknowledged",
        )
        for request in requests:
            result = self._exchange.receive(principal, hop_batch_from_proto(request))
            acknowledged += 1
            yield receipt_to_proto(result)

    def Pull(
        self, request: federation_pb2.PullRequest, context: grpc.ServicerContext
    ) -> Iterator[federation_pb2.PushRequest]:
        cancel = call_cancellation(context)
        for batch in self._exchange.pull(current_principal(), request.after, cancel=cancel):
            yield hop_batch_to_proto(batch)

    def GetDirectory(
        self, request: federation_pb2.GetDirectoryRequest, context: grpc.ServicerContext
    ) -> federation_pb2.SignedDirectory:
        signed = self._exchange.directory()
        return federation_pb2.SignedDirectory(
            envelope=signed.envelope, signer_chain_pem=signed.signer_chain_pem
        )

    def Holders(
        self, request: federation_pb2.HoldersRequest, context: grpc.ServicerContext
    ) -> federation_pb2.HoldersResponse:
        holders = self._exchange.holders(current_principal(), request.record_id)
        return federation_pb2.HoldersResponse(
            holders=[
                federation_pb2.Holder(
                    record_id=request.record_id,
                    version=h.version,
                    node=h.node,
                    delivered_at=h.delivered_at,
                    status_sent=h.status_sent,
                    confirmed_status=h.confirmed_status,
                    confirmed_at=h.confirmed_at,
                    reported_by=h.reported_by,
                )
                for h in holders
            ]
        )
