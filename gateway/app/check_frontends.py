"""Check frontends: processes beside the node that serve ``Discipline.Check`` on ports of their own.

grpcio cannot hand one bound socket to several processes, and a port shared
with ``SO_REUSEPORT`` could also be bound by a stranger (see
:func:`gateway.rpc.options.server_options`). So each frontend binds its own
address (``[check] frontends``, ``[check] frontend_listen``) and a balancer in
front spreads the departments' checks over the node's port and the frontends'.

A frontend is a child of the node (spawned, see :mod:`gateway.app.children`) and
does a check's read work itself: the caller from its mutual-TLS certificate, the
revocation lists, the access table, the subject's records, the decision. What
the check writes (its row, hits, hit reports, audit event) and every refusal's
audit event go to the node's one writer over the channel the frontend inherited
(:mod:`gateway.node.ledger_channel`), and the call is answered only once that
write is committed. A frontend serves nothing but ``Check`` and health. It stops
on SIGTERM (in-flight checks finish within ``[server] grace_s``) and when the
node's end of its channel closes (the node stopped or died). The node starts a
frontend that died again, on the same port.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext, SpawnProcess
from multiprocessing.reduction import recv_handle, send_handle

import structlog

from gateway.app.access import ACCESS, revocation_check
from gateway.app.children import ChildSupervisor
from gateway.app.readiness import readiness_monitor
from gateway.core.errors import ConfigurationError, GatewayError
from gateway.logging import configure_logging, logging_settings, route_native_stderr
from gateway.node.catalog_files import load_packaged_catalog, load_packaged_measures
from gateway.node.check_ledger import CheckWrite, StoreCheckLedger
from gateway.node.collector import freeze_startup_heap, pace_collector_for_serving
from gateway.node.config import NodeConfig, parse_endpoint
from gateway.node.discipline import DisciplineService
from gateway.node.ledger_channel import ChannelCheckLedger, await_ready, serve_channel
from gateway.node.metrics import NodeMetrics
from gateway.node.periodic import Periodic
from gateway.node.revocations import Revocations
from gateway.node.trust import FederationTrust, read_directory_file
from gateway.pki import load_serving_credentials
from gateway.rpc.discipline import CheckServicer, check_service
from gateway.rpc.identity import CertificateAuthenticator
from gateway.rpc.interceptor import GatewayInterceptor
from gateway.rpc.server import ServerTls, build_server
from gateway.store import open_store_reader

__all__ = ["CheckFrontends", "frontend_addresses", "start_check_frontends"]

log = structlog.get_logger("gateway.check_frontends")


def frontend_addresses(config: NodeConfig) -> list[str]:
    """Where each frontend listens: ``[check] frontend_listen``, or free ports on the node's
    host."""
    settings = config.check
    if settings.frontend_listen:
        return list(settings.frontend_listen)
    host, _port = parse_endpoint(config.listen)
    shown = f"[{host}]" if ":" in host else host
    return [f"{shown}:0"] * settings.frontends


@dataclass
class _Frontend:
    """One frontend as the node sees it: its address (port fixed once bound) and channel."""

    config: NodeConfig
    index: int
    listen: str
    ledger: StoreCheckLedger
    metrics: NodeMetrics
    port: int = 0
    _starting: Connection | None = None
    """The node's end of the channel of the process launched last, until it is ready."""

    @property
    def name(self) -> str:
        return f"check-frontend-{self.index}"

    def launch(self, context: SpawnContext) -> SpawnProcess:
        node_end, child_end = context.Pipe()
        process = context.Process(
            target=run_frontend,
            args=(self.config, self.name, self.listen, child_end, logging_settings()),
            name=self.name,
            daemon=True,
        )
        process.start()
        # The child holds its end now; ours would keep the channel open after it died.
        child_end.close()
        # The node's log stream (fd 2 may be a pipe into the node's own logger by now).
        send_handle(node_end, sys.stderr.fileno(), process.pid or 0)
        self._starting = node_end
        return process

    def await_ready(self, process: SpawnProcess, timeout_s: float) -> None:
        conn, self._starting = self._starting, None
        if conn is None:
            raise ConfigurationError(f"{self.name} was not launched")
        try:
            port = await_ready(conn, process.sentinel, timeout_s, name=self.name)
        except BaseException:
            conn.close()
            raise
        if not self.port:
            host, _ = parse_endpoint(self.listen)
            shown = f"[{host}]" if ":" in host else host
            # A restarted frontend binds the same port: the balancer knows that one.
            self.listen = f"{shown}:{port}"
            self.port = port
        threading.Thread(
            target=_serve_then_close,
            args=(conn, self.ledger, self.name, self.metrics),
            name=f"{self.name}-channel",
            daemon=True,
        ).start()
        log.info("frontend.serving", frontend=self.name, port=port, pid=process.pid)


def _serve_then_close(
    conn: Connection, ledger: StoreCheckLedger, name: str, metrics: NodeMetrics
) -> None:
    def answered(write: CheckWrite) -> None:
        metrics.check_answered(write.check.decision, write.check.domain)

    try:
        serve_channel(conn, ledger, name=name, answered=answered)
    finally:
        conn.close()


class CheckFrontends:
    """The node's check frontends, running."""

    def __init__(self, frontends: list[_Frontend], supervisor: ChildSupervisor) -> None:
        self._frontends = frontends
        self._supervisor = supervisor

    @property
    def ports(self) -> list[int]:
        """Each frontend's port, in ``[check]`` order."""
        return [f.port for f in self._frontends]

    def pids(self) -> list[int]:
        """Each frontend's current process id, in ``[check]`` order."""
        found = self._supervisor.pids()
        return [found[f.name] for f in self._frontends]

    def stop(self, grace_s: float) -> None:
        """Stop every frontend (in-flight checks get ``grace_s``), before the writer closes."""
        self._supervisor.stop(grace_s)


def start_check_frontends(
    config: NodeConfig, ledger: StoreCheckLedger, metrics: NodeMetrics
) -> CheckFrontends | None:
    """Start ``[check] frontends`` frontends, each ready to serve; None when there are none.

    Their checks are counted in the node's ``metrics`` (``gateway_checks_total``) as they
    commit; their RPC metrics are their own and not exported.

    Raises:
        ConfigurationError: no ``[node] directory`` file, or a frontend could not start
            (an address that cannot be bound, for one), saying why; none is left running.
    """
    if config.check.frontends == 0:
        return None
    if config.directory_file is None:
        raise ConfigurationError(
            "[check] frontends need [node] directory: they refuse what the federation "
            "directory revokes, reading it from the file this node keeps current"
        )
    frontends = [
        _Frontend(config, index, listen, ledger, metrics)
        for index, listen in enumerate(frontend_addresses(config), start=1)
    ]
    supervisor = ChildSupervisor(frontends, name=f"check-frontends-{config.node_id}")
    supervisor.start()
    return CheckFrontends(frontends, supervisor)


# -- in the frontend process -------------------------------------------------------------


def run_frontend(
    config: NodeConfig, name: str, listen: str, conn: Connection, logs: tuple[bool, str]
) -> None:
    """A frontend's process: serve checks on ``listen`` until SIGTERM or the node is gone."""
    # Ctrl-C reaches the whole process group: the node stops its frontends itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    stream = recv_handle(conn)
    os.dup2(stream, 2)
    os.close(stream)
    json, level = logs
    if json:
        route_native_stderr()
    configure_logging(json=json, level=level)
    structlog.contextvars.bind_contextvars(frontend=name)
    ledger = ChannelCheckLedger(conn, on_lost=stop.set)
    try:
        served = _serve(config, listen, ledger)
    except (GatewayError, ConfigurationError, OSError) as exc:
        ledger.failed(f"{type(exc).__name__}: {exc}")
        sys.exit(1)
    # A frontend serves checks as the node does: its collector set as the node's.
    pace_collector_for_serving()
    freeze_startup_heap()
    ledger.ready(served.port)
    while not stop.wait(1.0):
        pass
    served.stop(config.server.grace_s)
    sys.exit(0)


@dataclass
class _Served:
    port: int
    stop: Callable[[float], None]


def _serve(config: NodeConfig, listen: str, ledger: ChannelCheckLedger) -> _Served:
    """Build and start a frontend's server over a read-only store.

    Raises:
        ConfigurationError: unreadable credentials, or an address that cannot be bound.
        StorageError: the store cannot be opened.
    """

    def now() -> int:
        return int(time.time())

    # The TLS key and certificates only: a frontend signs nothing.
    creds = load_serving_credentials(config.keys)
    catalog = load_packaged_catalog(config.node_id)
    store = open_store_reader(config.database)
    trust = FederationTrust(
        node_id=config.node_id,
        root=creds.root,
        clock=time.time,
        clock_skew_s=config.limits.clock_skew_s,
    )
    directory = _directory_reload(config, trust)
    revocations = Revocations(
        store, node_id=config.node_id, directory=lambda: trust.held, clock=now
    )
    discipline = DisciplineService(
        node_id=config.node_id,
        catalog=catalog,
        measures=load_packaged_measures(config.node_id),
        store=store,
        # Checks send their hit reports through the ledger: no router, no signing key here.
        router=None,
        clock=now,
        revocations=revocations,
        ledger=ledger,
    )
    interceptor = GatewayInterceptor(
        node_id=config.node_id,
        authenticate=CertificateAuthenticator(creds.root, clock=time.time),
        access=ACCESS,
        audit=ledger.audit,
        clock=now,
        revoked=revocation_check(revocations),
    )
    server, port, health = build_server(
        listen=listen,
        tls=ServerTls(
            private_key_pem=creds.tls_private_key_pem(),
            certificate_chain_pem=creds.tls_certificate_chain_pem(),
            root_pem=creds.root_pem(),
        ),
        services=[check_service(CheckServicer(discipline, config.limits))],
        interceptor=interceptor,
        limits=config.limits,
        workers=config.server.workers,
    )
    readiness = readiness_monitor(
        config,
        store=store,
        trust=trust,
        credentials=creds,
        clock=time.time,
        name=f"{config.node_id}-frontend",
        on_change=health.apply,
    )
    server.start()
    readiness.refresh()
    readiness.start()
    directory.start()

    def stop(grace_s: float) -> None:
        directory.stop()
        readiness.stop()
        health.enter_graceful_shutdown()
        server.stop(grace_s).wait()
        store.close()

    return _Served(port, stop)


def _directory_reload(config: NodeConfig, trust: FederationTrust) -> Periodic:
    """Re-read the node's directory file (the node keeps it current) every sync interval: a
    node or certificate the federation revokes is refused here as at the node."""
    path = config.directory_file

    def reload() -> None:
        if path is None or not path.exists():
            return
        try:
            trust.install(read_directory_file(path))
        except (GatewayError, ConfigurationError) as exc:
            log.warning("frontend.directory_unusable", path=str(path), error=str(exc))

    reload()
    return Periodic(f"directory-reload-{config.node_id}", reload, config.federation.sync_interval_s)
