"""A node's federation parts: trust, receiver, sender, upkeep, expiry, and where-is.

Built by :func:`build_federation` and started/stopped with the node. Intake
calls :meth:`FederationParts.route_local` inside its own transaction, so a
record and its outbox rows commit together (nothing lost on a crash).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import structlog
from sqlalchemy import Connection

from gateway._proto.v1 import federation_pb2, federation_pb2_grpc
from gateway.core.algorithms import Signer
from gateway.core.catalog import Catalog, RecipientKind
from gateway.core.errors import ConfigurationError, GatewayError
from gateway.core.identifiers import SubjectType
from gateway.core.policy import node_relation
from gateway.core.routing import LOCAL, record_recipients
from gateway.node.config import NodeConfig
from gateway.node.expiry import ExpirySweeper
from gateway.node.messages import MessageRouter
from gateway.node.outbound import Outbound
from gateway.node.peers import PeerChannels, PeerMaintenance
from gateway.node.push import PushSettings, PushWorker
from gateway.node.receive import FederationReceiver
from gateway.node.statuses import StatusService
from gateway.node.trust import (
    FederationTrust,
    SignedDirectoryFile,
    read_directory_file,
    write_directory_file,
)
from gateway.pki import NodeCredentials, parent_of
from gateway.rpc.federation import FederationServicer
from gateway.rpc.server import ServiceRegistration
from gateway.store import RecordRow, Store
from gateway.store.outbox import OutboxEntry, OutboxKind

__all__ = ["FederationParts", "HolderView", "build_federation"]

log = structlog.get_logger("gateway.federation")


@dataclass(frozen=True, slots=True)
class HolderView:
    """One node holding a record, as some node's delivery ledger reports it."""

    node: str
    version: int
    delivered_at: int
    status_sent: str
    confirmed_status: str
    confirmed_at: int
    reported_by: str


@dataclass
class FederationParts:
    node_id: str
    parent: str | None
    catalog: Catalog
    trust: FederationTrust
    store: Store
    channels: PeerChannels
    push: PushWorker
    upkeep: PeerMaintenance
    expiry: ExpirySweeper
    statuses: StatusService
    messages: MessageRouter
    services: list[ServiceRegistration]

    def start(self) -> None:
        self.push.start()
        self.upkeep.start()
        self.expiry.start()

    def stop(self) -> None:
        self.upkeep.stop()
        self.push.stop()
        self.expiry.stop()
        self.channels.close()

    def wake(self) -> None:
        self.push.wake()

    def route_local(self, conn: Connection, rows: Sequence[RecordRow], now: int) -> None:
        """Enqueue new local records for the neighbours that should get them."""
        try:
            children = self.trust.directory().children_of(self.node_id)
        except GatewayError:
            children = ()
        entries: list[OutboxEntry] = []
        for row in rows:
            recipients = record_recipients(
                origin=LOCAL,
                parent=self.parent,
                children=children,
                category=self.catalog.category(row.category),
                subject_type=SubjectType(row.subject_type),
            )
            entries.extend(
                OutboxEntry(node, OutboxKind.RECORD.value, row.record_id, row.version)
                for node in recipients
            )
        self.store.outbox.enqueue_many(entries, now=now, conn=conn)

    def where(self, record_id: str) -> list[HolderView]:
        """Every node the record went to: this ledger, then each neighbour's onward ledger."""
        own = self.store.outbox.holders(record_id)
        views = [
            HolderView(
                r.node,
                r.version,
                r.delivered_at,
                r.status_sent,
                r.confirmed_status or "",
                r.confirmed_at or 0,
                self.node_id,
            )
            for r in own
        ]
        for neighbour in sorted({r.node for r in own}):
            if node_relation(self.node_id, neighbour) not in (
                RecipientKind.PARENT,
                RecipientKind.CHILD,
            ):
                continue
            try:
                stub = federation_pb2_grpc.FederationStub(self.channels.channel(neighbour))
                reply = stub.Holders(federation_pb2.HoldersRequest(record_id=record_id), timeout=5)
            except (grpc.RpcError, GatewayError) as exc:
                log.info("holder unreachable", peer=neighbour, error=type(exc).__name__)
                continue
            views.extend(
                HolderView(
                    h.node,
                    h.version,
                    h.delivered_at,
                    h.status_sent,
                    h.confirmed_status,
                    h.confirmed_at,
                    h.reported_by,
                )
                for h in reply.holders
                if h.node != self.node_id
            )
        return views


def _load_directory(
    trust: FederationTrust, path: Path | None
) -> Callable[[SignedDirectoryFile], None] | None:
    if path is None:
        return None
    if path.exists():
        try:
            trust.install(read_directory_file(path))
        except (GatewayError, ConfigurationError) as exc:
            log.warning("cached directory not usable", path=str(path), error=str(exc))

    def cache(signed: SignedDirectoryFile) -> None:
        write_directory_file(path, signed)

    return cache


def build_federation(
    *,
    config: NodeConfig,
    creds: NodeCredentials,
    catalog: Catalog,
    store: Store,
    signer: Signer,
    clock: Callable[[], float],
) -> FederationParts:
    """Wire the federation parts of one node (not started)."""

    def now() -> int:
        return int(clock())

    node_id = config.node_id
    parent = parent_of(node_id) if config.parent is not None else None
    trust = FederationTrust(node_id=node_id, root=creds.root, clock=clock)
    cache = _load_directory(trust, config.directory)
    channels = PeerChannels(
        creds=creds,
        parent=(parent, config.parent) if parent is not None and config.parent else None,
        trust=trust,
        limits=config.limits,
    )
    outbound = Outbound(node_id=node_id, catalog=catalog, store=store, signer=signer, clock=now)
    settings = config.federation
    push = PushWorker(
        node_id=node_id,
        outbound=outbound,
        store=store,
        channel_for=channels.channel,
        clock=now,
        settings=PushSettings(
            batch_records=settings.batch_records,
            initial_backoff_ms=settings.initial_backoff_ms,
            max_backoff_ms=settings.max_backoff_ms,
        ),
    )
    router = MessageRouter(
        node_id=node_id, signer=signer, store=store, clock=now, wake_sender=push.wake
    )
    receiver = FederationReceiver(
        node_id=node_id,
        parent=parent,
        catalog=catalog,
        trust=trust,
        store=store,
        clock=now,
        limits=config.limits,
        wake_sender=push.wake,
        router=router,
    )
    upkeep = PeerMaintenance(
        node_id=node_id,
        parent=parent,
        channels=channels,
        trust=trust,
        receiver=receiver,
        store=store,
        directory_cache=cache,
        interval_s=settings.sync_interval_s,
    )
    servicer = FederationServicer(
        node_id=node_id,
        receiver=receiver,
        outbound=outbound,
        trust=trust,
        store=store,
        limits=config.limits,
        clock=now,
        batch_records=settings.batch_records,
    )
    services = [
        ServiceRegistration(
            federation_pb2.DESCRIPTOR.services_by_name["Federation"].full_name,
            lambda server: federation_pb2_grpc.add_FederationServicer_to_server(servicer, server),
        )
    ]
    return FederationParts(
        node_id=node_id,
        parent=parent,
        catalog=catalog,
        trust=trust,
        store=store,
        channels=channels,
        push=push,
        upkeep=upkeep,
        expiry=ExpirySweeper(
            node_id=node_id, store=store, clock=now, interval_s=settings.expiry_interval_s
        ),
        statuses=StatusService(
            node_id=node_id, signer=signer, store=store, clock=now, wake_sender=push.wake
        ),
        messages=router,
        services=services,
    )
