"""Assemble a node from its configuration and run it.

``start_node`` checks the node's credentials (refusing an expired, mismatched
or wrongly chained certificate, saying which), migrates and opens the store,
loads the packaged catalog for the node's region, wires the use cases into the
gRPC servicers and starts the server. ``RunningNode.stop`` shuts down
gracefully: no new calls, in-flight calls finish within the grace period, then
the store writer commits what is queued and closes.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
import structlog
from grpc_health.v1 import health, health_pb2

from gateway._proto.v1 import (
    audit_pb2,
    federation_pb2,
    intake_pb2,
    intake_pb2_grpc,
    records_pb2,
    records_pb2_grpc,
)
from gateway.core.algorithms import Ed25519Signer
from gateway.core.audit import AuditEvent, Decision
from gateway.core.errors import GatewayError
from gateway.core.principal import Principal, Role
from gateway.node.catalog_files import load_packaged_catalog, load_packaged_measures
from gateway.node.config import NodeConfig
from gateway.node.discipline import DisciplineService
from gateway.node.federation import FederationParts, build_federation
from gateway.node.intake import IntakeService
from gateway.node.periodic import Periodic
from gateway.node.queries import RecordQueries
from gateway.node.record_reader import StoreRecordReader
from gateway.node.remedies import RemedyService
from gateway.node.statistics import statistics_upkeep
from gateway.pki import check_node_credentials, load_node_credentials, signing_kid
from gateway.rpc.audit import AuditParts, build_audit
from gateway.rpc.discipline import DISCIPLINE_ACCESS, DisciplineServicer, discipline_registration
from gateway.rpc.identity import CertificateAuthenticator
from gateway.rpc.intake import IntakeServicer
from gateway.rpc.interceptor import AccessTable, GatewayInterceptor
from gateway.rpc.records import RecordsServicer
from gateway.rpc.server import ServerTls, ServiceRegistration, build_server
from gateway.store import Store, open_store

__all__ = ["ACCESS", "RunningNode", "start_node"]

log = structlog.get_logger("gateway.node")

_ANY = frozenset(Role)
_READERS = frozenset({Role.DEPARTMENT, Role.AUDITOR, Role.NODE})

ACCESS: AccessTable = {
    "/gateway.v1.Intake/Submit": frozenset({Role.DEPARTMENT}),
    "/gateway.v1.Records/List": _READERS,
    "/gateway.v1.Records/Get": _READERS,
    "/gateway.v1.Records/Export": _READERS,
    "/gateway.v1.Records/Where": frozenset({Role.DEPARTMENT, Role.AUDITOR, Role.ADMIN}),
    "/gateway.v1.Records/SetStatus": frozenset({Role.DEPARTMENT, Role.ADMIN}),
    **{
        f"/gateway.v1.Federation/{m}": frozenset({Role.NODE})
        for m in federation_pb2.DESCRIPTOR.services_by_name["Federation"].methods_by_name
    },
    **{
        f"/gateway.v1.Audit/{m}": frozenset({Role.AUDITOR})
        for m in audit_pb2.DESCRIPTOR.services_by_name["Audit"].methods_by_name
    },
    "/gateway.v1.Witness/Cosign": frozenset({Role.NODE}),
    **DISCIPLINE_ACCESS,
    "/grpc.health.v1.Health/Check": _ANY,
    "/grpc.health.v1.Health/Watch": _ANY,
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": _ANY,
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": _ANY,
}
"""Who may call what. A method missing here is refused for everyone."""


@dataclass
class RunningNode:
    """A started node."""

    config: NodeConfig
    server: grpc.Server
    port: int
    store: Store
    health: health.HealthServicer
    audit: AuditParts | None = None
    federation: FederationParts | None = None
    statistics: Periodic | None = None
    _stopped: bool = field(default=False)

    def stop(self, grace_s: float | None = None) -> None:
        """Graceful shutdown: refuse new calls, finish in-flight ones, flush the writer."""
        if self._stopped:
            return
        self._stopped = True
        self.health.enter_graceful_shutdown()
        grace = self.config.server.grace_s if grace_s is None else grace_s
        self.server.stop(grace).wait()
        if self.federation is not None:
            self.federation.stop()
        if self.audit is not None:
            self.audit.stop()
        if self.statistics is not None:
            self.statistics.stop()
        self.store.close()
        log.info("node stopped", node=self.config.node_id)

    def wait(self) -> None:
        self.server.wait_for_termination()


def start_node(config: NodeConfig, *, clock: Callable[[], float] = time.time) -> RunningNode:
    """Check credentials, open the store, start serving. Returns once listening.

    Raises:
        ConfigurationError: bad credentials or an address that cannot be bound.
        CatalogError: the packaged catalog does not load.
        StorageError: the database cannot be opened or migrated.
    """
    creds = load_node_credentials(config.keys)
    check_node_credentials(
        creds, node_id=config.node_id, now=dt.datetime.fromtimestamp(clock(), dt.UTC)
    )
    catalog = load_packaged_catalog(config.node_id)
    store = open_store(config.database)
    try:
        signer = Ed25519Signer(signing_kid(creds.signing_cert), creds.signing_key)

        def now() -> int:
            return int(clock())

        def audit(event: AuditEvent) -> None:
            store.audit.append([event])

        def denied(principal: Principal | None, method: str, exc: GatewayError) -> None:
            audit(
                AuditEvent(
                    time=now(),
                    node=config.node_id,
                    actor=principal.actor if principal else "unauthenticated",
                    fingerprint=principal.fingerprint if principal else "",
                    address=principal.address if principal else "",
                    action=method,
                    decision=Decision.DENIED,
                    rule=getattr(exc, "rule", type(exc).__name__),
                    detail=type(exc).__name__,
                )
            )

        federation = build_federation(
            config=config, creds=creds, catalog=catalog, store=store, signer=signer, clock=clock
        )
        intake = IntakeService(
            node_id=config.node_id,
            catalog=catalog,
            signer=signer,
            store=store,
            clock=now,
            route=federation.route_local,
            wake=federation.wake,
        )
        queries = RecordQueries(
            node_id=config.node_id,
            catalog=catalog,
            records=StoreRecordReader(store.records),
            audit=audit,
            clock=now,
        )
        discipline_servicer = DisciplineServicer(
            DisciplineService(
                node_id=config.node_id,
                catalog=catalog,
                measures=load_packaged_measures(config.node_id),
                store=store,
                router=federation.messages,
                clock=now,
            ),
            RemedyService(
                node_id=config.node_id,
                catalog=catalog,
                store=store,
                router=federation.messages,
                statuses=federation.statuses,
                clock=now,
            ),
            config.limits,
        )
        intake_servicer = IntakeServicer(intake, config.limits)
        records_servicer = RecordsServicer(queries, config.limits, federation=federation)
        audit_parts = build_audit(
            creds=creds,
            store=store,
            parent=config.parent,
            every_events=config.audit.checkpoint_every_events,
            every_s=config.audit.checkpoint_every_s,
            limits=config.limits,
            clock=now,
        )
        services = [
            *audit_parts.services,
            *federation.services,
            discipline_registration(discipline_servicer),
            ServiceRegistration(
                intake_pb2.DESCRIPTOR.services_by_name["Intake"].full_name,
                lambda server: intake_pb2_grpc.add_IntakeServicer_to_server(
                    intake_servicer, server
                ),
            ),
            ServiceRegistration(
                records_pb2.DESCRIPTOR.services_by_name["Records"].full_name,
                lambda server: records_pb2_grpc.add_RecordsServicer_to_server(
                    records_servicer, server
                ),
            ),
        ]
        interceptor = GatewayInterceptor(
            authenticate=CertificateAuthenticator(creds.root, clock=clock),
            access=ACCESS,
            on_denied=denied,
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
        )
        statistics = statistics_upkeep(config.node_id, store)
        server.start()
        audit_parts.start()
        federation.start()
        statistics.start()
    except BaseException:
        store.close()
        raise
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    log.info("node serving", node=config.node_id, port=port, catalog=catalog.version)
    return RunningNode(
        config=config,
        server=server,
        port=port,
        store=store,
        health=health_servicer,
        audit=audit_parts,
        federation=federation,
        statistics=statistics,
    )
