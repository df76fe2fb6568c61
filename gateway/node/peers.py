"""Talking to neighbours: channels, the directory refresher and the catch-up puller."""

from __future__ import annotations

import threading
from collections.abc import Callable

import grpc
import structlog

from gateway._proto.v1 import federation_pb2, federation_pb2_grpc
from gateway.core.errors import ConfigurationError, GatewayError
from gateway.core.limits import Limits
from gateway.node.periodic import Periodic
from gateway.node.receive import CATCH_UP_STREAM, FederationReceiver
from gateway.node.trust import FederationTrust, SignedDirectoryFile
from gateway.pki import NodeCredentials
from gateway.rpc.peer import open_peer_channel
from gateway.store import Store

__all__ = ["PeerChannels", "PeerMaintenance"]

log = structlog.get_logger("gateway.peers")


class PeerChannels:
    """One cached mutual-TLS channel per neighbour: the parent by config, children by directory."""

    def __init__(
        self,
        *,
        creds: NodeCredentials,
        parent: tuple[str, str] | None,
        trust: FederationTrust,
        limits: Limits,
    ) -> None:
        self._creds = creds
        self._parent = parent
        self._trust = trust
        self._limits = limits
        self._channels: dict[str, tuple[str, grpc.Channel]] = {}
        self._lock = threading.Lock()

    def endpoint(self, node: str) -> str:
        """Where ``node`` listens.

        Raises:
            ConfigurationError / AccessDeniedError: unknown endpoint or node.
        """
        if self._parent is not None and node == self._parent[0]:
            return self._parent[1]
        return self._trust.directory().node(node).endpoint

    def channel(self, node: str) -> grpc.Channel:
        endpoint = self.endpoint(node)
        with self._lock:
            cached = self._channels.get(node)
            if cached is not None and cached[0] == endpoint:
                return cached[1]
            if cached is not None:
                cached[1].close()
            channel = open_peer_channel(self._creds, endpoint, limits=self._limits)
            self._channels[node] = (endpoint, channel)
            return channel

    def close(self) -> None:
        with self._lock:
            for _endpoint, channel in self._channels.values():
                channel.close()
            self._channels.clear()


class PeerMaintenance:
    """Background upkeep towards the parent: refresh the directory, catch up from the cursor."""

    def __init__(
        self,
        *,
        node_id: str,
        parent: str | None,
        channels: PeerChannels,
        trust: FederationTrust,
        receiver: FederationReceiver,
        store: Store,
        directory_cache: Callable[[SignedDirectoryFile], None] | None,
        interval_s: float,
    ) -> None:
        self._node_id = node_id
        self._parent = parent
        self._channels = channels
        self._trust = trust
        self._receiver = receiver
        self._store = store
        self._directory_cache = directory_cache
        self._loop = Periodic(f"peers-{node_id}", self._step, interval_s)

    def start(self) -> None:
        if self._parent is not None:
            self._loop.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._loop.stop(timeout_s)

    def _step(self) -> None:
        try:
            self.refresh_directory()
            self.catch_up()
        except grpc.RpcError as exc:
            code = getattr(exc, "code", lambda: None)()
            log.info("parent unreachable", code=code.name if code else "unknown")
        except GatewayError as exc:
            log.warning("peer upkeep failed", error=type(exc).__name__, detail=str(exc))

    def refresh_directory(self) -> None:
        """Fetch the parent's copy of the directory; keep it if it verifies and is newer."""
        if self._parent is None:
            return
        stub = federation_pb2_grpc.FederationStub(self._channels.channel(self._parent))
        reply = stub.GetDirectory(federation_pb2.GetDirectoryRequest(), timeout=10)
        signed = SignedDirectoryFile(reply.envelope, reply.signer_chain_pem)
        before = self._trust.signed
        directory = self._trust.install(signed)
        if self._directory_cache is not None and self._trust.signed is not before:
            self._directory_cache(signed)
            log.info("directory refreshed", serial=directory.serial)

    def catch_up(self) -> int:
        """Pull what the parent holds for this node since the stored cursor; returns batches."""
        if self._parent is None:
            return 0
        try:
            self._trust.directory()
        except (ConfigurationError, GatewayError):
            return 0
        stub = federation_pb2_grpc.FederationStub(self._channels.channel(self._parent))
        after = self._store.cursors.position(self._parent, CATCH_UP_STREAM)
        batches = 0
        for message in stub.Pull(federation_pb2.PullRequest(after=after), timeout=120):
            self._receiver.receive_pulled(
                self._parent,
                message.hop_envelope,
                list(message.records),
                list(message.statements),
                list(message.messages),
                cursor=message.cursor,
            )
            batches += 1
        if batches:
            # Acknowledge what was just applied, so the parent settles those rows now.
            after = self._store.cursors.position(self._parent, CATCH_UP_STREAM)
            for _message in stub.Pull(federation_pb2.PullRequest(after=after), timeout=120):
                break
            log.info("caught up from parent", parent=self._parent, batches=batches)
        return batches
