"""peer.unreachable and peer.recovered: once per transition, whatever the retries."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any

import pytest
from structlog.testing import capture_logs

from gateway.core.batch_items import ReceiveResult
from gateway.core.errors import PeerError, PeerUnavailableError
from gateway.node.audit_log import CosignReply, CosignRequest, WitnessStatement
from gateway.node.peer_client import HolderView, HopBatch
from gateway.node.peer_reachability import ReachabilityLog
from gateway.node.trust import SignedDirectoryFile

BATCH = HopBatch(envelope_json=b"{}")


class FlakyPeers:
    """An in-memory PeerClient whose answers the test sets per call."""

    def __init__(self) -> None:
        self.failure: Exception | None = None
        self.pulled: list[HopBatch] = [BATCH, BATCH]

    def _answer(self) -> None:
        if self.failure is not None:
            raise self.failure

    def push(self, peer: str, batch: HopBatch, *, timeout_s: float) -> ReceiveResult:
        self._answer()
        return ReceiveResult("0" * 32, stored=0, duplicates=0, applied=0)

    def pull(self, peer: str, after: int, *, timeout_s: float) -> Iterator[HopBatch]:
        for batch in self.pulled:
            self._answer()
            yield batch

    def holders(self, peer: str, record_id: str, *, timeout_s: float) -> list[HolderView]:
        self._answer()
        return []

    def directory(self, peer: str, *, timeout_s: float) -> SignedDirectoryFile:
        raise NotImplementedError

    def witness(self, peer: str, request: CosignRequest, *, timeout_s: float) -> CosignReply:
        raise NotImplementedError

    def witnessed(self, peer: str, *, timeout_s: float) -> WitnessStatement:
        raise NotImplementedError

    def close(self) -> None:
        pass


def events(logs: Sequence[MutableMapping[str, Any]]) -> list[tuple[object, object]]:
    return [(e["event"], e.get("peer")) for e in logs if str(e["event"]).startswith("peer.")]


def test_each_transition_is_logged_once_however_many_retries() -> None:
    flaky = FlakyPeers()
    peers = ReachabilityLog(flaky, clock=lambda: 100.0)
    with capture_logs() as logs:
        peers.push("330000", BATCH, timeout_s=1)
        flaky.failure = PeerUnavailableError("330000: UNAVAILABLE: connection refused")
        for _ in range(3):
            with pytest.raises(PeerUnavailableError):
                peers.push("330000", BATCH, timeout_s=1)
        with pytest.raises(PeerUnavailableError):
            peers.holders("330000", "r1", timeout_s=1)
        assert set(peers.unreachable()) == {"330000"}
        flaky.failure = None
        peers.push("330000", BATCH, timeout_s=1)
        peers.push("330000", BATCH, timeout_s=1)
    assert events(logs) == [("peer.unreachable", "330000"), ("peer.recovered", "330000")]
    assert logs[0]["detail"] == "330000: UNAVAILABLE: connection refused"
    assert logs[0]["log_level"] == "warning"
    assert logs[1]["log_level"] == "info"
    assert peers.unreachable() == {}


def test_a_refusal_is_an_answer() -> None:
    flaky = FlakyPeers()
    peers = ReachabilityLog(flaky, clock=lambda: 0.0)
    flaky.failure = PeerUnavailableError("down")
    with capture_logs() as logs:
        with pytest.raises(PeerUnavailableError):
            peers.push("330500", BATCH, timeout_s=1)
        flaky.failure = PeerError("330500: PERMISSION_DENIED: not a child")
        with pytest.raises(PeerError):
            peers.push("330500", BATCH, timeout_s=1)
    assert events(logs) == [("peer.unreachable", "330500"), ("peer.recovered", "330500")]


def test_a_pulled_stream_that_breaks_marks_the_peer_and_its_batches_still_arrive() -> None:
    flaky = FlakyPeers()
    peers = ReachabilityLog(flaky, clock=lambda: 0.0)
    assert list(peers.pull("330000", 0, timeout_s=1)) == [BATCH, BATCH]
    flaky.failure = PeerUnavailableError("stream broke")
    with capture_logs() as logs, pytest.raises(PeerUnavailableError):
        list(peers.pull("330000", 0, timeout_s=1))
    assert events(logs) == [("peer.unreachable", "330000")]
