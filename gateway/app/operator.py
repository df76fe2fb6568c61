"""The operator's commands: a node's use cases opened on its host, from its config and store.

Like a database's admin tools, they need no certificate: whoever can read the
node's configuration and reach its database is the node's operator. What they
change is audited as ``operator:<node>/<user>`` with the host's name.
"""

from __future__ import annotations

import getpass
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gateway.core.audit import AuditEvent
from gateway.core.directory import Directory
from gateway.core.errors import AccessDeniedError, ConfigurationError, GatewayError
from gateway.core.node_id import NATIONAL, parent_of
from gateway.node.audit_gap import AuditGapGuard
from gateway.node.backups import Backups
from gateway.node.config import NodeConfig, load_config
from gateway.node.directory_signer import DirectorySigner
from gateway.node.operator import Operator
from gateway.node.outbox_admin import OutboxAdmin
from gateway.node.peer_client import ParentWitness
from gateway.node.revocations import Revocations
from gateway.node.status import NodeStatus, read_status
from gateway.node.trust import FederationTrust, read_directory_file
from gateway.pki import load_node_credentials
from gateway.rpc.peer import GrpcPeerClient, PeerChannels
from gateway.store import Store, open_store

__all__ = ["OperatorSession", "audit_gap_guard", "operator_session"]


@dataclass(frozen=True, slots=True)
class OperatorSession:
    """What an operator's command works with."""

    config: NodeConfig
    store: Store
    operator: Operator
    outbox: OutboxAdmin
    backups: Backups
    revocations: Revocations

    @staticmethod
    def now() -> int:
        """The wall clock the session stamps its events with (Unix seconds)."""
        return _wall_clock()

    def audit(self, action: str, detail: str = "") -> None:
        """Note in the node's audit log that the operator ran ``action`` (allowed).

        Raises:
            StorageError: the database failed.
        """
        self._append(
            self.operator.allowed(
                self.config.node_id, time=_wall_clock(), action=action, detail=detail
            )
        )

    def _append(self, event: AuditEvent) -> None:
        self.store.writer.submit(lambda conn: self.store.audit.append([event], conn=conn)).result()

    @contextmanager
    def refusals_audited(self, action: str, attempt: str) -> Iterator[None]:
        """Note in the node's audit log an ``action`` refused inside the block (denied):
        ``attempt`` says what was tried, the error why not; the error goes on.

        Raises:
            StorageError: the database failed (the refusal chained to it).
        """
        try:
            yield
        except GatewayError as exc:
            self._append(
                self.operator.refused(
                    self.config.node_id,
                    time=_wall_clock(),
                    action=action,
                    attempt=attempt,
                    error=exc,
                )
            )
            raise

    def directory(self, path: Path | None = None) -> Directory:
        """A signed directory file (the node's own by default), verified against the root.

        Raises:
            ConfigurationError: no file named and none configured; unreadable file or keys.
            VerificationError: not signed by the national node, malformed, or expired.
        """
        source = path or self.config.directory_file
        if source is None:
            raise ConfigurationError(
                f"node {self.config.node_id} has no [node] directory file: name one"
            )
        root = load_node_credentials(self.config.keys).root
        trust = FederationTrust(node_id=self.config.node_id, root=root, clock=time.time)
        return trust.install(read_directory_file(source))

    def directory_signer(self) -> DirectorySigner:
        """The national node's directory file, to edit and re-sign (``gateway directory``).

        Raises:
            AccessDeniedError: not the national node.
            ConfigurationError: no ``[node] directory`` file, or unreadable keys.
        """
        path = self.config.directory_file
        if self.config.node_id != NATIONAL:
            raise AccessDeniedError(
                f"node {self.config.node_id} is not the national node: only the national "
                "node edits and signs the federation directory",
                rule="directory:national-only",
            )
        if path is None:
            raise ConfigurationError("the national node has no [node] directory file to edit")
        return DirectorySigner(
            path=path,
            creds=load_node_credentials(self.config.keys),
            clock=time.time,
            valid_s=int(self.config.directory.valid_days * 86_400),
        )

    def status(self) -> NodeStatus:
        """The node's status, with its directory file verified against the federation root.

        A directory that cannot be verified (or has expired) is reported by the
        readiness check with its reason; the rest is read all the same.

        Raises:
            ConfigurationError: the node's credentials cannot be read.
            StorageError: the store cannot be read.
        """
        creds = load_node_credentials(self.config.keys)
        held: Directory | None = None
        problem: GatewayError | None = None
        try:
            held = self.directory()
        except GatewayError as exc:
            problem = exc

        def directory_check() -> Directory:
            if held is None:
                raise problem or ConfigurationError("no federation directory")
            held.check_current(int(time.time()))
            return held

        return read_status(
            node_id=self.config.node_id,
            listen=self.config.listen,
            parent=parent_of(self.config.node_id) if self.config.parent else None,
            store=self.store,
            database_url=self.config.database,
            directory=held,
            directory_check=directory_check,
            certificates=creds.certificates(),
            clock=time.time,
            directory_warning_s=self.config.directory.warning_days * 86_400,
        )


@contextmanager
def audit_gap_guard(session: OperatorSession) -> Iterator[AuditGapGuard]:
    """The guard of the node's audit log, asking the parent over the node's own mTLS.

    Raises:
        ConfigurationError: the node has no parent configured, or unreadable keys.
    """
    config = session.config
    parent = parent_of(config.node_id) if config.parent else None
    endpoint = config.parent
    if parent is None or not endpoint:
        raise ConfigurationError(f"node {config.node_id} has no parent witnessing its audit log")
    creds = load_node_credentials(config.keys)
    peers = GrpcPeerClient(
        PeerChannels(creds=creds, endpoints_of=lambda _node: (endpoint,), limits=config.limits)
    )
    try:
        yield AuditGapGuard.for_node(
            node_id=config.node_id,
            store=session.store,
            witness=ParentWitness(peers, parent),
            creds=creds,
            clock=_wall_clock,
        )
    finally:
        peers.close()


def _wall_clock() -> int:
    return int(time.time())


@contextmanager
def operator_session(config_path: Path) -> Iterator[OperatorSession]:
    """Load the node's config, open its store (migrated), and close it afterwards.

    Raises:
        ConfigurationError: the config is missing or invalid.
        StorageError: the database cannot be opened.
    """
    config = load_config(config_path)
    store = open_store(config.database)
    try:
        yield OperatorSession(
            config=config,
            store=store,
            operator=Operator(user=getpass.getuser(), host=socket.gethostname()),
            outbox=OutboxAdmin(store, config.node_id, _wall_clock),
            backups=Backups(
                node_id=config.node_id,
                store=store,
                database_url=config.database,
                clock=_wall_clock,
            ),
            revocations=Revocations(
                store, node_id=config.node_id, directory=lambda: None, clock=_wall_clock
            ),
        )
    finally:
        store.close()
