"""Upkeep towards the parent: the directory refresher and the catch-up puller."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from gateway.core.errors import ConfigurationError, GatewayError, PeerError
from gateway.node.peer_client import PeerClient
from gateway.node.periodic import Periodic
from gateway.node.receive import CATCH_UP_STREAM, FederationReceiver
from gateway.node.trust import FederationTrust, SignedDirectoryFile
from gateway.store import Store

__all__ = ["PeerMaintenance"]

DIRECTORY_TIMEOUT_S = 10.0
PULL_TIMEOUT_S = 120.0

log = structlog.get_logger("gateway.peers")


class PeerMaintenance:
    """Background upkeep: refresh the directory, catch up from the parent's cursor.

    A node with a parent takes the directory from it; the national node, which
    has none, re-reads its own signed directory file (``local_directory``), so
    a re-signed directory (new nodes, revocations) takes effect without a restart.
    """

    def __init__(
        self,
        *,
        node_id: str,
        parent: str | None,
        peers: PeerClient,
        trust: FederationTrust,
        receiver: FederationReceiver,
        store: Store,
        directory_cache: Callable[[SignedDirectoryFile], None] | None,
        interval_s: float,
        local_directory: Callable[[], SignedDirectoryFile] | None = None,
    ) -> None:
        self._node_id = node_id
        self._parent = parent
        self._peers = peers
        self._trust = trust
        self._receiver = receiver
        self._store = store
        self._directory_cache = directory_cache
        self._local_directory = local_directory
        self._loop = Periodic(f"peers-{node_id}", self._step, interval_s)

    def start(self) -> None:
        if self._parent is not None or self._local_directory is not None:
            self._loop.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._loop.stop(timeout_s)

    def _step(self) -> None:
        try:
            self.refresh_directory()
            self.catch_up()
        except PeerError as exc:
            # Each retry; the transition is logged once as peer.unreachable (ReachabilityLog).
            log.debug("parent upkeep failed", detail=str(exc))
        except GatewayError as exc:
            log.warning("peer upkeep failed", error=type(exc).__name__, detail=str(exc))

    def refresh_directory(self) -> None:
        """Fetch the parent's copy of the directory (or read the national node's own file);
        keep it if it verifies and is newer."""
        if self._parent is not None:
            signed = self._peers.directory(self._parent, timeout_s=DIRECTORY_TIMEOUT_S)
            source = self._parent
        elif self._local_directory is not None:
            signed = self._local_directory()
            source = "file"
        else:
            return
        before = self._trust.signed
        directory = self._trust.install(signed)
        if self._trust.signed is not before:
            if self._directory_cache is not None and self._parent is not None:
                self._directory_cache(signed)
            log.info("directory.refreshed", serial=directory.serial, source=source)

    def catch_up(self) -> int:
        """Pull what the parent holds for this node since the stored cursor; returns batches."""
        if self._parent is None:
            return 0
        try:
            self._trust.directory()
        except (ConfigurationError, GatewayError):
            return 0
        after = self._store.cursors.position(self._parent, CATCH_UP_STREAM)
        batches = 0
        for batch in self._peers.pull(self._parent, after, timeout_s=PULL_TIMEOUT_S):
            self._receiver.receive_pulled(
                self._parent,
                batch.envelope_json,
                list(batch.records),
                list(batch.statements),
                list(batch.messages),
                cursor=batch.cursor,
            )
            batches += 1
        if batches:
            # Acknowledge what was just applied, so the parent settles those rows now: asking
            # from the new cursor is the acknowledgement; what follows it is not awaited.
            after = self._store.cursors.position(self._parent, CATCH_UP_STREAM)
            acknowledgement = self._peers.pull(self._parent, after, timeout_s=PULL_TIMEOUT_S)
            try:
                next(acknowledgement, None)
            finally:
                close = getattr(acknowledgement, "close", None)
                if close is not None:
                    close()
            log.info("caught up from parent", parent=self._parent, batches=batches)
        return batches
