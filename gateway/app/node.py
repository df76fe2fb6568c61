"""Assemble a node from its configuration and run it: the composition root.

Only this module knows every layer. ``start_node`` checks the node's
credentials (refusing an expired, mismatched or wrongly chained certificate,
saying which), migrates and opens the store, loads the packaged catalog for the
node's region, builds the peer client, the use cases, the servicers, the
interceptor with the one access table (:mod:`gateway.app.access`), and starts
the server. ``RunningNode.stop`` shuts down gracefully: no new calls, in-flight
calls finish within the grace period, the background workers stop, then the
store writer commits what is queued and closes.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import grpc
import structlog

from gateway import __version__
from gateway._proto.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    discipline_pb2,
    discipline_pb2_grpc,
    federation_pb2,
    federation_pb2_grpc,
    intake_pb2,
    intake_pb2_grpc,
    records_pb2,
    records_pb2_grpc,
)
from gateway.app.access import ACCESS, revocation_check
from gateway.app.check_frontends import CheckFrontends, start_check_frontends
from gateway.app.readiness import readiness_monitor
from gateway.core.algorithms import Ed25519Signer
from gateway.core.audit import AuditEvent
from gateway.core.errors import GatewayError
from gateway.core.node_id import NATIONAL
from gateway.http import OperationsListener, operations_app
from gateway.http.publication import publication_app
from gateway.node.audit_gap import AuditGapGuard, retired_signing_keys
from gateway.node.audit_log import CheckpointPublisher
from gateway.node.audit_queries import AuditQueries
from gateway.node.catalog_files import load_packaged_catalog, load_packaged_measures
from gateway.node.certificate_watch import CertificateWatch
from gateway.node.check_ledger import StoreCheckLedger
from gateway.node.checkpoint_witness import CheckpointWitness
from gateway.node.config import NodeConfig
from gateway.node.credit_reports import CreditReports
from gateway.node.directory_signer import DirectorySigner
from gateway.node.directory_watch import DIRECTORY_CHECK_INTERVAL_S, DirectoryWatch
from gateway.node.discipline import DisciplineService
from gateway.node.federation import FederationParts, build_federation, load_directory_cache
from gateway.node.intake import IntakeService
from gateway.node.metrics import CountingPeerClient, NodeMetrics
from gateway.node.node_state import NodeStateCollector
from gateway.node.peer_client import ParentWitness, PeerClient
from gateway.node.peer_reachability import ReachabilityLog
from gateway.node.periodic import Periodic
from gateway.node.publication import PublicationFeed
from gateway.node.quality_metrics import QualityCollector
from gateway.node.queries import RecordQueries
from gateway.node.readiness import ReadinessMonitor
from gateway.node.record_reader import StoreRecordReader
from gateway.node.remedies import RemedyService
from gateway.node.revocations import Revocations
from gateway.node.singleton import LeaseKeeper, singleton
from gateway.node.statistics import statistics_upkeep
from gateway.node.tracking import RecordTracking
from gateway.node.trust import FederationTrust, SignedDirectoryFile
from gateway.pki import (
    NodeCredentials,
    check_node_credentials,
    load_node_credentials,
    parent_of,
    signing_kid,
)
from gateway.rpc.audit import (
    AuditServicer,
    WitnessServicer,
    retired_chains_pem,
    signing_chain_pem,
)
from gateway.rpc.discipline import DisciplineServicer
from gateway.rpc.federation import FederationServicer
from gateway.rpc.health import ReadinessHealth
from gateway.rpc.identity import CertificateAuthenticator
from gateway.rpc.intake import IntakeServicer
from gateway.rpc.interceptor import GatewayInterceptor
from gateway.rpc.peer import GrpcPeerClient, PeerChannels
from gateway.rpc.records import RecordsServicer
from gateway.rpc.server import ServerTls, build_server, service
from gateway.rpc.streams import StreamLimits
from gateway.store import Store, open_store
from gateway.store.checkpoints import CheckpointRepository, LogEntries, WitnessRepository

__all__ = ["ACCESS", "RunningNode", "start_node"]

log = structlog.get_logger("gateway.node")

CHECKPOINTS_DUTY = "audit-checkpoints"
EXPIRY_DUTY = "expiry-sweep"
DIRECTORY_DUTY = "directory-resign"
"""The singleton duties: each runs on the one replica holding its lease."""


@dataclass
class RunningNode:
    """A started node."""

    config: NodeConfig
    server: grpc.Server
    port: int
    store: Store
    health: ReadinessHealth
    readiness: ReadinessMonitor
    peers: PeerClient
    publisher: CheckpointPublisher | None = None
    federation: FederationParts | None = None
    statistics: Periodic | None = None
    certificates: Periodic | None = None
    operations: OperationsListener | None = None
    publication: OperationsListener | None = None
    """The public publication feed (None when ``[publication] enabled`` is off)."""
    metrics: NodeMetrics = field(default_factory=NodeMetrics)
    directory_tasks: tuple[Periodic, ...] = ()
    """The directory's expiry watch, and at national its re-signing schedule."""
    duties: LeaseKeeper | None = None
    """This replica's leases on the singleton duties (checkpoints, expiry, re-signing)."""
    checkpoints: Periodic | None = None
    """The checkpoint publisher's schedule, run while this replica holds its lease."""
    frontends: CheckFrontends | None = None
    """The check frontend processes (``[check] frontends``), writing through this node."""
    _stopped: bool = field(default=False)

    def stop(self, grace_s: float | None = None) -> None:
        """Graceful shutdown: refuse new calls, finish in-flight ones, flush the writer."""
        if self._stopped:
            return
        self._stopped = True
        if self.operations is not None:
            self.operations.stop()
        if self.publication is not None:
            self.publication.stop()
        self.readiness.stop()
        self.health.enter_graceful_shutdown()
        grace = self.config.server.grace_s if grace_s is None else grace_s
        # The frontends drain beside the server; their checks still need the writer.
        frontends = threading.Thread(
            target=self.frontends.stop if self.frontends is not None else lambda _grace: None,
            args=(grace,),
            name="check-frontends-stop",
        )
        frontends.start()
        self.server.stop(grace).wait()
        frontends.join()
        if self.federation is not None:
            self.federation.stop()
        if self.checkpoints is not None:
            self.checkpoints.stop()
        for task in self.directory_tasks:
            task.stop()
        holds_checkpoints = self.duties is not None and self.duties.holds(CHECKPOINTS_DUTY)
        if self.publisher is not None and holds_checkpoints:
            # A last checkpoint covering every event, before the store closes.
            try:
                self.publisher.publish(final=True)
            except GatewayError as exc:
                log.warning("checkpoint.final_failed", error=type(exc).__name__, detail=str(exc))
        if self.duties is not None:
            self.duties.stop()
        self.peers.close()
        if self.statistics is not None:
            self.statistics.stop()
        if self.certificates is not None:
            self.certificates.stop()
        self.store.close()
        log.info("node.stopped", node=self.config.node_id)

    def wait(self) -> None:
        self.server.wait_for_termination()


def _certificate_watch(
    config: NodeConfig, creds: NodeCredentials, clock: Callable[[], float]
) -> Periodic:
    """``certificate.expiring`` for this node's own certificates and the federation root."""
    watch = CertificateWatch(
        {name: cert.not_valid_after_utc.timestamp() for name, cert in creds.certificates()},
        warn_before_s=config.server.certificate_warning_days * 86_400,
        clock=clock,
    )
    return watch.periodic(f"certificates-{config.node_id}")


def _directory_tasks(
    config: NodeConfig,
    creds: NodeCredentials,
    trust: FederationTrust,
    clock: Callable[[], float],
    duties: LeaseKeeper,
) -> tuple[Periodic, ...]:
    """Every node watches its directory's expiry; the national node also re-signs its file
    before expiry (``[directory]``), which its upkeep then reads and its children fetch."""
    settings = config.directory
    watch = DirectoryWatch(
        lambda: trust.held, warn_before_s=settings.warning_days * 86_400, clock=clock
    )
    tasks = [watch.periodic(f"directory-watch-{config.node_id}")]
    path = config.directory_file
    if config.node_id == NATIONAL and path is not None:
        signer = DirectorySigner(
            path=path, creds=creds, clock=clock, valid_s=int(settings.valid_days * 86_400)
        )
        tasks.append(
            signer.periodic(
                f"directory-resign-{config.node_id}",
                interval_s=DIRECTORY_CHECK_INTERVAL_S,
                resign_before_s=settings.resign_before_days * 86_400,
                may_run=lambda: duties.holds(DIRECTORY_DUTY),
            )
        )
    return tuple(tasks)


def _check_child_key(trust: FederationTrust, config: NodeConfig, child: str, kid: str) -> None:
    """The witness's check of a child's checkpoint key against the directory's key history.

    A node that has never held a directory (an audit-only deployment, no federation
    traffic) checks the child's certificate chain alone, as before key histories.

    Raises:
        VerificationError: the key is not listed for the child, retired, or not valid now.
    """
    if trust.held is None:
        return
    trust.check_in_force(child, kid, skew_s=config.limits.clock_skew_s)


class _Startable(Protocol):
    def start(self) -> None: ...


def _start_all(*tasks: _Startable) -> None:
    for task in tasks:
        task.start()


def _checkpoint_task(
    config: NodeConfig, duties: LeaseKeeper, publisher: CheckpointPublisher
) -> Periodic:
    """The publisher's rounds, on the replica holding the checkpoints' lease only."""
    return Periodic(
        f"checkpoints-{config.node_id}",
        singleton(duties, CHECKPOINTS_DUTY, publisher.tick),
        max(0.05, min(1.0, config.audit.checkpoint_every_s / 4)),
    )


def _peer_client(
    config: NodeConfig, creds: NodeCredentials, trust: FederationTrust
) -> GrpcPeerClient:
    """Neighbours over gRPC at every endpoint the directory lists for them, failing over.

    The parent is also reached at ``[node] parent``, tried after the directory's
    endpoints: a node starts before it has a directory, and the directory names
    the parent's new endpoints once an operator moved it (``set-endpoints``).
    """
    parent = parent_of(config.node_id) if config.parent is not None else None

    def endpoints_of(node: str) -> tuple[str, ...]:
        bootstrap = (config.parent,) if parent is not None and node == parent else ()
        try:
            listed = trust.directory().node(node).endpoints
        except GatewayError:
            if bootstrap:
                return tuple(e for e in bootstrap if e)
            raise
        return tuple(dict.fromkeys((*listed, *(e for e in bootstrap if e))))

    return GrpcPeerClient(
        PeerChannels(creds=creds, endpoints_of=endpoints_of, limits=config.limits)
    )


def _start_http(
    config: NodeConfig,
    metrics: NodeMetrics,
    state: NodeStateCollector,
    quality: QualityCollector,
    readiness: ReadinessMonitor,
    *,
    feed: PublicationFeed,
    directory: Callable[[], SignedDirectoryFile | None],
) -> tuple[OperationsListener, OperationsListener | None]:
    """Serve /healthz, /readyz (the same readiness as gRPC health) and /metrics over HTTP,
    and the public publication feed on its own port (unless ``[publication] enabled`` is off).

    Raises:
        ConfigurationError: ``[operations] listen`` or ``[publication] listen`` cannot be bound.
    """
    metrics.register(state)
    metrics.register(quality)
    operations = OperationsListener(
        operations_app(registry=metrics.registry, readiness=lambda: readiness.report),
        listen=config.operations.listen,
    )
    publication = None
    if config.publication.enabled:
        try:
            publication = OperationsListener(
                publication_app(feed=feed, directory=directory, count=metrics.publication_read),
                listen=config.publication.listen,
                name="publication",
            )
        except BaseException:
            operations.stop()
            raise
        publication.start()
    operations.start()
    return operations, publication


def _checked_parent_witness(
    config: NodeConfig,
    peers: PeerClient,
    store: Store,
    creds: NodeCredentials,
    clock: Callable[[], int],
) -> ParentWitness | None:
    """The parent's Witness service, once the log is found to hold what the parent cosigned.

    Raises:
        ProofError: the log has a gap not yet recorded as an incident (see
            :mod:`gateway.node.audit_gap`): the node must not serve.
    """
    parent = parent_of(config.node_id) if config.parent else None
    if parent is None:
        return None
    # A short wait for the parent at start: if it does not answer, the node serves.
    asked = ParentWitness(peers, parent, timeout_s=3.0)
    guard = AuditGapGuard.for_node(
        node_id=config.node_id, store=store, witness=asked, creds=creds, clock=clock
    )
    guard.check()
    return ParentWitness(peers, parent)


def _checked_credentials(config: NodeConfig, clock: Callable[[], float]) -> NodeCredentials:
    """The node's credentials, refused if they are not the node's or not valid now.

    Raises:
        ConfigurationError: unreadable, foreign or expired credentials.
    """
    creds = load_node_credentials(config.keys)
    check_node_credentials(
        creds, node_id=config.node_id, now=dt.datetime.fromtimestamp(clock(), dt.UTC)
    )
    return creds


def _release(frontends: CheckFrontends | None, peers: PeerClient | None, store: Store) -> None:
    """Undo a start that failed half-way."""
    if frontends is not None:
        frontends.stop(0.0)
    if peers is not None:
        peers.close()
    store.close()


def start_node(config: NodeConfig, *, clock: Callable[[], float] = time.time) -> RunningNode:
    """Check credentials, open the store, start serving. Returns once listening.

    Raises:
        ConfigurationError: bad credentials or an address that cannot be bound.
        CatalogError: the packaged catalog does not load.
        StorageError: the database cannot be opened or migrated.
    """
    log.info("node.started", node=config.node_id, version=__version__, listen=config.listen)
    creds = _checked_credentials(config, clock)
    catalog = load_packaged_catalog(config.node_id)
    store = open_store(config.database)
    peers: PeerClient | None = None
    frontends: CheckFrontends | None = None
    metrics = NodeMetrics()
    try:
        signer = Ed25519Signer(signing_kid(creds.signing_cert), creds.signing_key)

        def now() -> int:
            return int(clock())

        def audit(event: AuditEvent) -> None:
            store.audit.append([event])

        trust = FederationTrust(
            node_id=config.node_id,
            root=creds.root,
            clock=clock,
            clock_skew_s=config.limits.clock_skew_s,
        )
        directory_cache = load_directory_cache(trust, config.directory_file)
        # Every call to a neighbour passes here: peer.unreachable / peer.recovered;
        # every push is counted.
        peers = CountingPeerClient(
            ReachabilityLog(_peer_client(config, creds, trust), clock=clock), metrics
        )
        duties = LeaseKeeper.for_node(
            store.leases,
            (CHECKPOINTS_DUTY, EXPIRY_DUTY, DIRECTORY_DUTY),
            node_id=config.node_id,
            ttl_s=config.federation.duty_lease_s,
            clock=clock,
        )
        federation = build_federation(
            config=config,
            catalog=catalog,
            store=store,
            signer=signer,
            clock=clock,
            trust=trust,
            peers=peers,
            directory_cache=directory_cache,
            metrics=metrics,
            expiry_may_run=lambda: duties.holds(EXPIRY_DUTY),
        )
        intake = IntakeService(
            node_id=config.node_id,
            catalog=catalog,
            signer=signer,
            store=store,
            clock=now,
            route=federation.route_local,
            wake=federation.wake,
            metrics=metrics,
        )
        queries = RecordQueries(
            node_id=config.node_id,
            catalog=catalog,
            records=StoreRecordReader(store.records),
            audit=audit,
            clock=now,
        )
        measures = load_packaged_measures(config.node_id)
        # The one writer of checks, for this process's and the frontends' alike.
        check_ledger = StoreCheckLedger(store, federation.messages)
        discipline = DisciplineService(
            node_id=config.node_id,
            catalog=catalog,
            measures=measures,
            store=store,
            router=federation.messages,
            clock=now,
            metrics=metrics,
            ledger=check_ledger,
        )
        remedies = RemedyService(
            node_id=config.node_id,
            catalog=catalog,
            store=store,
            router=federation.messages,
            statuses=federation.statuses,
            clock=now,
        )
        chain = signing_chain_pem(creds)
        parent_witness = _checked_parent_witness(config, peers, store, creds, now)
        entries = LogEntries(store.engine, store.audit)
        checkpoints = CheckpointRepository(store.engine)
        publisher = CheckpointPublisher(
            node_id=config.node_id,
            signing_key=creds.signing_key,
            certificate_chain=chain,
            root=creds.root,
            audit=store.audit,
            entries=entries,
            checkpoints=checkpoints,
            witness=parent_witness,
            every_events=config.audit.checkpoint_every_events,
            every_s=config.audit.checkpoint_every_s,
            clock=now,
        )
        witness = CheckpointWitness(
            node_id=config.node_id,
            signing_key=creds.signing_key,
            certificate_chain=chain,
            root=creds.root,
            witnessed=WitnessRepository(store.engine),
            audit=store.audit,
            writer=store.writer,
            clock=now,
            limits=config.limits,
            key_check=lambda child, kid: _check_child_key(trust, config, child, kid),
            retired_signing_keys=retired_signing_keys(creds),
        )
        services = [
            service(
                audit_pb2.DESCRIPTOR.services_by_name["Audit"],
                audit_pb2_grpc.add_AuditServicer_to_server,
                AuditServicer(
                    AuditQueries(
                        node_id=config.node_id,
                        store=store,
                        entries=entries,
                        checkpoints=checkpoints,
                        signing_chain=chain,
                        witness=parent_witness,
                        clock=now,
                        limits=config.limits,
                        retired_chains=retired_chains_pem(creds),
                    ),
                    config.limits,
                ),
            ),
            service(
                audit_pb2.DESCRIPTOR.services_by_name["Witness"],
                audit_pb2_grpc.add_WitnessServicer_to_server,
                WitnessServicer(witness),
            ),
            service(
                federation_pb2.DESCRIPTOR.services_by_name["Federation"],
                federation_pb2_grpc.add_FederationServicer_to_server,
                FederationServicer(federation.exchange),
            ),
            service(
                discipline_pb2.DESCRIPTOR.services_by_name["Discipline"],
                discipline_pb2_grpc.add_DisciplineServicer_to_server,
                DisciplineServicer(discipline, remedies, config.limits),
            ),
            service(
                intake_pb2.DESCRIPTOR.services_by_name["Intake"],
                intake_pb2_grpc.add_IntakeServicer_to_server,
                IntakeServicer(intake, config.limits),
            ),
            service(
                records_pb2.DESCRIPTOR.services_by_name["Records"],
                records_pb2_grpc.add_RecordsServicer_to_server,
                RecordsServicer(
                    queries,
                    RecordTracking(queries, federation),
                    CreditReports(
                        node_id=config.node_id,
                        catalog=catalog,
                        measures=measures,
                        queries=queries,
                        store=store,
                        signer=signer,
                        certificate_chain=chain.decode(),
                        audit=audit,
                        clock=now,
                    ),
                    config.limits,
                ),
            ),
        ]
        interceptor = GatewayInterceptor(
            node_id=config.node_id,
            authenticate=CertificateAuthenticator(creds.root, clock=clock),
            access=ACCESS,
            audit=audit,
            clock=now,
            observe=metrics.rpc_handled,
            revoked=revocation_check(
                Revocations(store, node_id=config.node_id, directory=lambda: trust.held, clock=now)
            ),
        )
        tls = ServerTls(
            private_key_pem=creds.tls_private_key_pem(),
            certificate_chain_pem=creds.tls_certificate_chain_pem(),
            root_pem=creds.root_pem(),
        )
        server, port, health_servicer = build_server(
            listen=config.listen,
            tls=tls,
            services=services,
            interceptor=interceptor,
            limits=config.limits,
            workers=config.server.workers,
            streams=StreamLimits(
                max_streams=config.server.max_streams,
                max_streams_per_client=config.server.max_streams_per_client,
                max_streams_per_peer=config.server.max_streams_per_peer,
                idle_s=config.server.stream_idle_s,
                max_s=config.server.stream_max_s,
            ),
        )
        statistics = statistics_upkeep(config.node_id, store)
        readiness = readiness_monitor(
            config,
            store=store,
            trust=trust,
            credentials=creds.serving(),
            clock=clock,
            name=config.node_id,
            on_change=health_servicer.apply,
        )
        certificates = _certificate_watch(config, creds, clock)
        directory_tasks = _directory_tasks(config, creds, trust, clock, duties)
        # Each binds its own port: one that cannot be bound fails the start.
        frontends = start_check_frontends(config, check_ledger, metrics)
        # A taken operations or publication port fails the start before anything else runs.
        operations, publication = _start_http(
            config,
            metrics,
            NodeStateCollector(
                parent=parent_witness.parent if parent_witness is not None else None,
                store=store,
                checkpoints=checkpoints,
                trust=trust,
                certificates=creds.certificates(),
                clock=clock,
                readiness=lambda: readiness.report,
                directory_warning_s=config.directory.warning_days * 86_400,
            ),
            QualityCollector(
                store=store,
                catalog=catalog,
                expected=config.reporting.departments,
                clock=clock,
            ),
            readiness,
            feed=PublicationFeed(
                node_id=config.node_id,
                catalog=catalog,
                store=store,
                signer=signer,
                clock=now,
                settle_s=config.publication.settle_s,
            ),
            directory=lambda: trust.signed,
        )
        checkpoints_task = _checkpoint_task(config, duties, publisher)
        server.start()
        # Leases first (the keeper renews once as it starts), so that the duties find them
        # held, or not, from their first round.
        _start_all(duties, checkpoints_task, federation, statistics)
        # Health is right from the first answer: checked once here, then every interval.
        readiness.refresh()
        _start_all(readiness, certificates, *directory_tasks)
    except BaseException:
        _release(frontends, peers, store)
        raise
    log.info(
        "node.serving",
        node=config.node_id,
        port=port,
        catalog=catalog.version,
        check_frontends=frontends.ports if frontends is not None else [],
    )
    return RunningNode(
        config=config,
        server=server,
        port=port,
        store=store,
        health=health_servicer,
        readiness=readiness,
        peers=peers,
        publisher=publisher,
        federation=federation,
        statistics=statistics,
        certificates=certificates,
        operations=operations,
        publication=publication,
        metrics=metrics,
        directory_tasks=directory_tasks,
        duties=duties,
        checkpoints=checkpoints_task,
        frontends=frontends,
    )
