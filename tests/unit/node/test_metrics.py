"""NodeMetrics and the counting peer client: one registry per node, events counted once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.core.batch_items import ReceiveResult
from gateway.core.errors import PeerError, PeerUnavailableError, SignatureError
from gateway.node.audit_log import CosignReply, CosignRequest, WitnessStatement
from gateway.node.metrics import CountingPeerClient, NodeMetrics
from gateway.node.peer_client import HolderView, HopBatch
from gateway.node.trust import SignedDirectoryFile


def _value(metrics: NodeMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


class _Peers:
    """Answers push with the next outcome of a script: None (acknowledged) or an error."""

    def __init__(self, *outcomes: Exception | None) -> None:
        self._outcomes = list(outcomes)
        self.closed = False

    def push(self, peer: str, batch: HopBatch, *, timeout_s: float) -> ReceiveResult:
        outcome = self._outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return ReceiveResult("0" * 32, stored=0, duplicates=0, applied=0)

    def pull(self, peer: str, after: int, *, timeout_s: float) -> Iterator[HopBatch]:
        return iter(())

    def holders(self, peer: str, record_id: str, *, timeout_s: float) -> list[HolderView]:
        return []

    def directory(self, peer: str, *, timeout_s: float) -> SignedDirectoryFile:
        raise NotImplementedError

    def witness(self, peer: str, request: CosignRequest, *, timeout_s: float) -> CosignReply:
        raise NotImplementedError

    def witnessed(self, peer: str, *, timeout_s: float) -> WitnessStatement:
        raise NotImplementedError

    def close(self) -> None:
        self.closed = True


def test_each_node_has_its_own_registry() -> None:
    first, second = NodeMetrics(), NodeMetrics()
    first.records_stored("intake", 3)
    assert _value(first, "gateway_records_stored_total", source="intake") == 3
    assert _value(second, "gateway_records_stored_total", source="intake") == 0


def test_record_sources_are_present_before_any_record() -> None:
    metrics = NodeMetrics()
    for source in ("intake", "push", "pull"):
        assert _value(metrics, "gateway_records_received_total", source=source) == 0
        assert _value(metrics, "gateway_records_stored_total", source=source) == 0


def test_rpc_handled_splits_the_method_name_and_times_the_call() -> None:
    metrics = NodeMetrics()
    metrics.rpc_handled("/gateway.v1.Records/Get", "OK", 0.003)
    metrics.rpc_handled("/gateway.v1.Records/Get", "NOT_FOUND", 0.2)
    labels = {"service": "gateway.v1.Records", "method": "Get"}
    assert _value(metrics, "gateway_rpc_handled_total", code="OK", **labels) == 1
    assert _value(metrics, "gateway_rpc_handled_total", code="NOT_FOUND", **labels) == 1
    assert _value(metrics, "gateway_rpc_duration_seconds_count", **labels) == 2
    assert _value(metrics, "gateway_rpc_duration_seconds_bucket", le="0.005", **labels) == 1
    assert _value(metrics, "gateway_rpc_duration_seconds_sum", **labels) == pytest.approx(0.203)


def test_refusals_count_a_failed_block_by_the_error_class_and_re_raise() -> None:
    metrics = NodeMetrics()
    with pytest.raises(SignatureError, match="forged"), metrics.refusals("push", 7):
        raise SignatureError("forged")
    with metrics.refusals("push", 2):
        pass
    assert (
        _value(metrics, "gateway_records_refused_total", source="push", reason="SignatureError")
        == 7
    )
    assert (
        _value(metrics, "gateway_records_refused_total", source="push", reason="Exception") is None
    )


def test_counting_peer_client_counts_acknowledged_batches_and_failures_by_kind() -> None:
    metrics = NodeMetrics()
    inner = _Peers(None, PeerUnavailableError("down"), PeerError("refused it"), None)
    peers = CountingPeerClient(inner, metrics)
    batch = HopBatch(envelope_json=b"{}")
    peers.push("330000", batch, timeout_s=1)
    with pytest.raises(PeerUnavailableError, match="down"):
        peers.push("330000", batch, timeout_s=1)
    with pytest.raises(PeerError, match="refused it"):
        peers.push("330000", batch, timeout_s=1)
    peers.push("330100", batch, timeout_s=1)
    peers.close()
    assert _value(metrics, "gateway_push_batches_total", peer="330000") == 1
    assert _value(metrics, "gateway_push_batches_total", peer="330100") == 1
    assert _value(metrics, "gateway_push_failures_total", peer="330000", reason="unavailable") == 1
    assert _value(metrics, "gateway_push_failures_total", peer="330000", reason="refused") == 1
    assert inner.closed
