"""The push acknowledgement on the wire: one result per record, both ways, nothing lost."""

from __future__ import annotations

import pytest

from gateway._proto.v1 import federation_pb2
from gateway.core.batch_items import ItemOutcome, ItemResult, ReceiveResult
from gateway.core.errors import PeerError
from gateway.rpc.federation import receipt_from_proto, receipt_to_proto

RECEIPT = ReceiveResult(
    "ab" * 16,
    stored=1,
    duplicates=1,
    applied=0,
    records=(
        ItemResult(ItemOutcome.STORED),
        ItemResult(ItemOutcome.REFUSED, "ClockSkewError: not yet valid", passes_with_time=True),
        ItemResult(ItemOutcome.DUPLICATE),
    ),
)


def test_a_receipt_survives_the_wire() -> None:
    wire = receipt_to_proto(RECEIPT)

    assert [r.outcome for r in wire.records] == [
        federation_pb2.ITEM_OUTCOME_STORED,
        federation_pb2.ITEM_OUTCOME_REFUSED,
        federation_pb2.ITEM_OUTCOME_DUPLICATE,
    ]
    assert receipt_from_proto(federation_pb2.PushResponse.FromString(wire.SerializeToString())) == (
        RECEIPT
    )


def test_a_receipt_without_results_per_record_reads_as_the_whole_batch_held() -> None:
    old = federation_pb2.PushResponse(batch_id="cd" * 16, stored=2, duplicates=0, applied=0)

    assert receipt_from_proto(old) == ReceiveResult("cd" * 16, 2, 0, 0, ())


def test_an_item_result_without_an_outcome_is_a_peer_error() -> None:
    wire = receipt_to_proto(RECEIPT)
    wire.records[2].outcome = federation_pb2.ITEM_OUTCOME_UNSPECIFIED

    with pytest.raises(PeerError, match=r"^the acknowledgement of record 3 names no known "):
        receipt_from_proto(wire)
