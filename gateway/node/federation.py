"""A node's federation parts: trust, receiver, sender, upkeep, expiry, and where-is.

Built by :func:`build_federation` from a :class:`~gateway.node.peer_client.PeerClient`
(the node never opens a connection itself) and started/stopped with the node. Intake
calls :meth:`FederationParts.route_local` inside its own transaction, so a
record and its outbox rows commit together (nothing lost on a crash).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import structlog
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Connection

from gateway.core.algorithms import Signer
from gateway.core.catalog import Catalog
from gateway.core.errors import ConfigurationError, GatewayError
from gateway.core.identifiers import SubjectType
from gateway.core.routing import LOCAL
from gateway.node.catalog_files import load_packaged_catalog
from gateway.node.config import NodeConfig
from gateway.node.exchange import FederationExchange
from gateway.node.expiry import ExpirySweeper
from gateway.node.forwards import ForwardRedactions, OnwardRedactions, RedactingCheck
from gateway.node.messages import MessageRouter
from gateway.node.metrics import NodeMetrics
from gateway.node.outbound import Outbound
from gateway.node.peer_client import HolderView, PeerClient
from gateway.node.peers import PeerMaintenance
from gateway.node.push import PushSettings, PushWorker
from gateway.node.receive import FederationReceiver
from gateway.node.receive_pool import ReceivePool, WorkerSetup
from gateway.node.record_check import RecordCheck
from gateway.node.routing import enqueue_records
from gateway.node.statuses import StatusService
from gateway.node.trust import (
    FederationTrust,
    SignedDirectoryFile,
    read_directory_file,
    write_directory_file,
)
from gateway.pki import parent_of
from gateway.store import RecordRow, Store

__all__ = ["FederationParts", "HolderView", "build_federation", "load_directory_cache"]

log = structlog.get_logger("gateway.federation")

HOLDERS_TIMEOUT_S = 5.0


@dataclass
class FederationParts:
    node_id: str
    parent: str | None
    catalog: Catalog
    trust: FederationTrust
    store: Store
    peers: PeerClient
    receiver: FederationReceiver
    outbound: Outbound
    exchange: FederationExchange
    push: PushWorker
    upkeep: PeerMaintenance
    expiry: ExpirySweeper
    statuses: StatusService
    messages: MessageRouter
    pool: ReceivePool | None = None
    """The receive workers (``[receive] workers``), or None: records checked in process."""

    def start(self) -> None:
        if self.pool is not None:
            self.pool.start()
        self.push.start()
        self.upkeep.start()
        self.expiry.start()

    def stop(self) -> None:
        self.upkeep.stop()
        self.push.stop()
        self.expiry.stop()
        if self.pool is not None:
            self.pool.stop()

    def wake(self) -> None:
        self.push.wake()

    def route_local(self, conn: Connection, rows: Sequence[RecordRow], now: int) -> None:
        """Enqueue new local records for the neighbours that should get them.

        Without a usable directory a record still goes to the parent; children
        are known only from the directory.
        """
        try:
            children = self.trust.directory().children_of(self.node_id)
        except GatewayError:
            children = ()
        enqueue_records(
            self.store,
            conn,
            ((r.record_id, r.version, r.category, SubjectType(r.subject_type)) for r in rows),
            origin=LOCAL,
            parent=self.parent,
            children=children,
            catalog=self.catalog,
            now=now,
        )

    def where(self, record_id: str) -> list[HolderView]:
        """Every node the record went to: this ledger, then each holder's onward ledger.

        Holders are asked in turn, each once, whatever their place in the tree:
        a listing filed at a city reaches every node, and its issuer lists them
        all (通报给已推送单位). A holder that does not answer is skipped, and with
        it what only it could report.
        """
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
            for r in self.store.outbox.holders(record_id)
        ]
        asked = {self.node_id}
        waiting = sorted({v.node for v in views})
        while waiting:
            holder = waiting.pop(0)
            if holder in asked:
                continue
            asked.add(holder)
            try:
                reported = self.peers.holders(holder, record_id, timeout_s=HOLDERS_TIMEOUT_S)
            except GatewayError as exc:
                log.info("holder unreachable", peer=holder, error=type(exc).__name__)
                continue
            onward = [h for h in reported if h.node not in asked]
            views.extend(onward)
            waiting.extend(sorted({h.node for h in onward}))
        return views


def load_directory_cache(
    trust: FederationTrust, path: Path | None
) -> Callable[[SignedDirectoryFile], None] | None:
    """Install the cached directory file if usable; return the function that rewrites it."""
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


def _own_directory_file(config: NodeConfig) -> Callable[[], SignedDirectoryFile] | None:
    """The national node's source of the directory: its own signed file, re-read each time."""
    path = config.directory_file
    if path is None:
        return None
    return lambda: read_directory_file(path)


def build_federation(
    *,
    config: NodeConfig,
    catalog: Catalog,
    store: Store,
    signer: Signer,
    clock: Callable[[], float],
    trust: FederationTrust,
    peers: PeerClient,
    directory_cache: Callable[[SignedDirectoryFile], None] | None = None,
    metrics: NodeMetrics | None = None,
    expiry_may_run: Callable[[], bool] = lambda: True,
) -> FederationParts:
    """Wire the federation parts of one node (not started).

    ``trust`` holds the directory in force (see :func:`load_directory_cache`);
    ``peers`` reaches the neighbours; the expiry sweep runs only while
    ``expiry_may_run`` says so (the replica holding its lease).
    """

    def now() -> int:
        return int(clock())

    node_id = config.node_id
    parent = parent_of(node_id) if config.parent is not None else None
    # The receive side redacts each record it verified for the next hops while its
    # reading is at hand (in the workers, or here); the push takes those redactions.
    redactions = ForwardRedactions()
    outbound = Outbound(
        node_id=node_id,
        catalog=catalog,
        store=store,
        signer=signer,
        clock=now,
        redactions=redactions,
    )
    settings = config.federation
    push = PushWorker(
        node_id=node_id,
        outbound=outbound,
        store=store,
        peers=peers,
        clock=now,
        settings=PushSettings(
            batch_records=settings.batch_records,
            initial_backoff_ms=settings.initial_backoff_ms,
            max_backoff_ms=settings.max_backoff_ms,
            lease_s=settings.lease_s,
        ),
    )
    router = MessageRouter(
        node_id=node_id, signer=signer, store=store, clock=now, wake_sender=push.wake
    )
    local = _local_check(config, catalog, trust, parent, redactions)
    pool = (
        _receive_pool(config, catalog, trust, parent, local=local, redactions=redactions)
        if config.receive.workers
        else None
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
        metrics=metrics,
        records=local if pool is None else pool,
    )
    upkeep = PeerMaintenance(
        node_id=node_id,
        parent=parent,
        peers=peers,
        trust=trust,
        receiver=receiver,
        store=store,
        directory_cache=directory_cache,
        interval_s=settings.sync_interval_s,
        local_directory=_own_directory_file(config) if parent is None else None,
    )
    return FederationParts(
        node_id=node_id,
        parent=parent,
        catalog=catalog,
        trust=trust,
        store=store,
        peers=peers,
        receiver=receiver,
        outbound=outbound,
        exchange=FederationExchange(
            node_id=node_id,
            receiver=receiver,
            outbound=outbound,
            trust=trust,
            store=store,
            clock=now,
            batch_records=settings.batch_records,
        ),
        push=push,
        upkeep=upkeep,
        expiry=ExpirySweeper(
            node_id=node_id,
            store=store,
            clock=now,
            interval_s=settings.expiry_interval_s,
            may_run=expiry_may_run,
        ),
        statuses=StatusService(
            node_id=node_id, signer=signer, store=store, clock=now, wake_sender=push.wake
        ),
        messages=router,
        pool=pool,
    )


def _local_check(
    config: NodeConfig,
    catalog: Catalog,
    trust: FederationTrust,
    parent: str | None,
    redactions: ForwardRedactions,
) -> RedactingCheck:
    """The records' check in the node process, its redactions for the forward to ``redactions``."""
    check = RecordCheck(
        node_id=config.node_id,
        parent=parent,
        catalog=catalog,
        trust=trust,
        limits=config.limits,
    )
    onward = OnwardRedactions(node_id=config.node_id, parent=parent, catalog=catalog, trust=trust)
    return RedactingCheck(check, onward, redactions)


def _receive_pool(
    config: NodeConfig,
    catalog: Catalog,
    trust: FederationTrust,
    parent: str | None,
    *,
    local: RedactingCheck,
    redactions: ForwardRedactions,
) -> ReceivePool:
    """The receive workers of ``[receive] workers``, not started."""
    setup = WorkerSetup(
        node_id=config.node_id,
        parent=parent,
        root_pem=trust.root.public_bytes(Encoding.PEM),
        load_catalog=partial(load_packaged_catalog, config.node_id),
        catalog_version=catalog.version,
        limits=config.limits,
        clock_skew_s=config.limits.clock_skew_s,
    )
    return ReceivePool(
        workers=config.receive.workers,
        setup=setup,
        trust=trust,
        local=local,
        redactions=redactions,
    )
