"""Whether each neighbour answers, logged once per change: ``peer.unreachable``, ``peer.recovered``.

Every worker that talks to peers (push, catch-up, directory refresh, holders,
witness) retries on its own schedule and would otherwise log each failure. A
:class:`ReachabilityLog` wraps the node's :class:`PeerClient` and watches every
call's outcome instead: the first unavailability of a peer is logged at
warning as ``peer.unreachable``, the first answer after it at info as
``peer.recovered``. A refusal is an answer: the peer is reachable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import structlog

from gateway.core.batch_items import ReceiveResult
from gateway.core.errors import PeerError, PeerUnavailableError
from gateway.node.audit_log import CosignReply, CosignRequest, WitnessStatement
from gateway.node.peer_client import HolderView, HopBatch, PeerClient
from gateway.node.trust import SignedDirectoryFile

__all__ = ["ReachabilityLog"]

log = structlog.get_logger("gateway.peers")

T = TypeVar("T")


class ReachabilityLog:
    """A :class:`PeerClient` that logs each peer's transitions between reachable and not."""

    def __init__(self, peers: PeerClient, *, clock: Callable[[], float]) -> None:
        self._peers = peers
        self._clock = clock
        self._lock = threading.Lock()
        self._down_since: dict[str, float] = {}

    def unreachable(self) -> dict[str, float]:
        """Peers whose last call found them unavailable, with when that began."""
        with self._lock:
            return dict(self._down_since)

    def _answered(self, peer: str) -> None:
        with self._lock:
            since = self._down_since.pop(peer, None)
        if since is not None:
            log.info("peer.recovered", peer=peer, down_s=round(self._clock() - since, 3))

    def _unavailable(self, peer: str, exc: PeerUnavailableError) -> None:
        with self._lock:
            first = peer not in self._down_since
            if first:
                self._down_since[peer] = self._clock()
        if first:
            log.warning("peer.unreachable", peer=peer, detail=str(exc))

    def _watch(self, peer: str, call: Callable[[], T]) -> T:
        try:
            result = call()
        except PeerUnavailableError as exc:
            self._unavailable(peer, exc)
            raise
        except PeerError:
            # The peer refused: it answered.
            self._answered(peer)
            raise
        self._answered(peer)
        return result

    def push(self, peer: str, batch: HopBatch, *, timeout_s: float) -> ReceiveResult:
        return self._watch(peer, lambda: self._peers.push(peer, batch, timeout_s=timeout_s))

    def pull(self, peer: str, after: int, *, timeout_s: float) -> Iterator[HopBatch]:
        stream = self._peers.pull(peer, after, timeout_s=timeout_s)
        try:
            # The call goes out with the first item; a stream can also break later.
            while (batch := self._watch(peer, lambda: next(stream, None))) is not None:
                yield batch
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()

    def holders(self, peer: str, record_id: str, *, timeout_s: float) -> list[HolderView]:
        return self._watch(peer, lambda: self._peers.holders(peer, record_id, timeout_s=timeout_s))

    def directory(self, peer: str, *, timeout_s: float) -> SignedDirectoryFile:
        return self._watch(peer, lambda: self._peers.directory(peer, timeout_s=timeout_s))

    def witness(self, peer: str, request: CosignRequest, *, timeout_s: float) -> CosignReply:
        return self._watch(peer, lambda: self._peers.witness(peer, request, timeout_s=timeout_s))

    def witnessed(self, peer: str, *, timeout_s: float) -> WitnessStatement:
        return self._watch(peer, lambda: self._peers.witnessed(peer, timeout_s=timeout_s))

    def close(self) -> None:
        self._peers.close()
