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

import time
from collections.abc import Callable

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
from gateway.app.http import start_http
from gateway.app.peers import peer_client
from gateway.app.readiness import readiness_monitor
from gateway.app.running import RunningNode
from gateway.app.start_checks import checked_credentials, checked_parent_witness
from gateway.app.tasks import (
    CHECKPOINTS_DUTY,
    DIRECTORY_DUTY,
    EXPIRY_DUTY,
    certificate_watch,
    checkpoint_task,
    directory_watch_tasks,
    start_all,
)
from gateway.core.algorithms import Ed25519Signer
from gateway.core.audit import AuditEvent
from gateway.node.audit_gap import retired_signing_keys
from gateway.node.audit_log import CheckpointPublisher
from gateway.node.audit_queries import AuditQueries
from gateway.node.catalog_files import load_packaged_catalog, load_packaged_measures
from gateway.node.check_ledger import StoreCheckLedger
from gateway.node.checkpoint_witness import CheckpointWitness
from gateway.node.config import NodeConfig
from gateway.node.credit_reports import CreditReports
from gateway.node.discipline import DisciplineService
from gateway.node.federation import build_federation, load_directory_cache
from gateway.node.intake import IntakeService
from gateway.node.metrics import CountingPeerClient, NodeMetrics
from gateway.node.node_state import NodeStateCollector
from gateway.node.peer_client import PeerClient
from gateway.node.peer_reachability import ReachabilityLog
from gateway.node.publication import PublicationFeed
from gateway.node.quality_metrics import QualityCollector
from gateway.node.queries import RecordQueries
from gateway.node.record_reader import StoreRecordReader
from gateway.node.remedies import RemedyService
from gateway.node.revocations import Revocations
from gateway.node.singleton import LeaseKeeper
from gateway.node.statistics import statistics_upkeep
from gateway.node.tracking import RecordTracking
from gateway.node.trust import FederationTrust
from gateway.pki import (
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
from gateway.rpc.identity import CertificateAuthenticator
from gateway.rpc.intake import IntakeServicer
from gateway.rpc.interceptor import GatewayInterceptor
from gateway.rpc.records import RecordsServicer
from gateway.rpc.server import ServerTls, build_server, service
from gateway.rpc.streams import StreamLimits
from gateway.store import Store, open_store
from gateway.store.checkpoints import CheckpointRepository, LogEntries, WitnessRepository

__all__ = ["ACCESS", "RunningNode", "start_node"]

log = structlog.get_logger("gateway.node")


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
    creds = checked_credentials(config, clock)
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
            ReachabilityLog(peer_client(config, creds, trust), clock=clock), metrics
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
        revocations = Revocations(
            store, node_id=config.node_id, directory=lambda: trust.held, clock=now
        )
        discipline = DisciplineService(
            node_id=config.node_id,
            catalog=catalog,
            measures=measures,
            store=store,
            router=federation.messages,
            clock=now,
            revocations=revocations,
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
        parent_witness = checked_parent_witness(config, peers, store, creds, now)
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
            revoked=revocation_check(revocations),
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
        certificates = certificate_watch(config, creds, clock)
        directory_tasks = directory_watch_tasks(config, creds, trust, clock, duties)
        # Each binds its own port: one that cannot be bound fails the start.
        frontends = start_check_frontends(config, check_ledger, metrics)
        # A taken operations or publication port fails the start before anything else runs.
        operations, publication = start_http(
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
        checkpoints_task = checkpoint_task(config, duties, publisher)
        server.start()
        # Leases first (the keeper renews once as it starts), so that the duties find them
        # held, or not, from their first round.
        start_all(duties, checkpoints_task, federation, statistics)
        # Health is right from the first answer: checked once here, then every interval.
        readiness.refresh()
        start_all(readiness, certificates, *directory_tasks)
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
