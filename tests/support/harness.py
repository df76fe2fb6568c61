"""An in-process federation: real stores, use cases and keys, wired by an in-memory peer client.

Like python-tuf's ``RepositorySimulator``: each node is what the composition
root would build (a migrated SQLite store, the packaged catalog, its own signing
key, the signed directory, :func:`gateway.node.federation.build_federation`)
except that neighbours are reached through :class:`InMemoryPeers`, which calls
the other node's use cases directly, and nothing runs in the background: a test
drives every step (:meth:`InProcessFederation.deliver`,
:meth:`HarnessNode.catch_up`) with an injected clock (:class:`Clock`), so flows
that take seconds between processes take milliseconds and assert exactly.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from gateway.core.algorithms import Ed25519Signer
from gateway.core.batch_items import ReceiveResult
from gateway.core.errors import (
    GatewayError,
    PeerError,
    PeerUnavailableError,
    StorageError,
    passes_with_time,
)
from gateway.core.limits import DEFAULT_LIMITS, Limits
from gateway.core.principal import Principal, Role
from gateway.core.working_days import WorkingCalendar
from gateway.node.audit_log import (
    CosignReply,
    CosignRequest,
    WitnessStatement,
)
from gateway.node.catalog_files import load_packaged_catalog, load_packaged_measures
from gateway.node.checkpoint_witness import CheckpointWitness
from gateway.node.config import FederationSettings, NodeConfig, NodeSettings, ReceiveSettings
from gateway.node.directory_file import build_directory, sign_directory_file
from gateway.node.discipline import DisciplineService
from gateway.node.federation import FederationParts, build_federation
from gateway.node.intake import IntakeResult, IntakeService, Submission
from gateway.node.peer_client import HolderView, HopBatch
from gateway.node.revocations import Revocations
from gateway.node.trust import FederationTrust, SignedDirectoryFile, write_directory_file
from gateway.pki import NodeCredentials, fingerprint, load_node_credentials, parent_of, signing_kid
from gateway.store import Store, open_store
from gateway.store.checkpoints import WitnessRepository
from tests.support.federation import Keystore, make_keystore

__all__ = [
    "Clock",
    "HarnessNode",
    "InMemoryPeers",
    "InProcessFederation",
    "department",
    "keystore_for",
    "migrated_template",
]

DIRECTORY_VALID_S = 7 * 86_400
MAX_ROUNDS = 20


class Clock:
    """A clock that moves only when told to (seconds since the epoch)."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def department(
    node_id: str, name: str = "procurement-office", *, domain: str = "procurement"
) -> Principal:
    """A department client of ``node_id`` in ``domain`` (procurement unless told)."""
    return Principal(
        role=Role.DEPARTMENT,
        node_id=node_id,
        name=name,
        domain=domain,
        fingerprint="0" * 64,
        address="in-process",
    )


def keystore_for(root: Path, nodes: Sequence[str]) -> Keystore:
    """Root CA and the given nodes (parents first): issue once, share between tests."""
    return make_keystore(root, nodes=nodes, clients=[])


def migrated_template(directory: Path) -> Path:
    """A migrated, empty SQLite store to copy: a copy opens ten times faster than a migration."""
    path = directory / "template.db"
    open_store(f"sqlite:///{path}").close()
    return path


@dataclass
class HarnessNode:
    """One node of the harness: its store, its federation parts and its intake."""

    node_id: str
    creds: NodeCredentials
    store: Store
    federation: FederationParts
    intake: IntakeService
    witness: CheckpointWitness
    principal: Principal
    """How this node appears to its peers (its TLS certificate's fingerprint)."""
    peers: InMemoryPeers
    """The node's peer client (its ``calls`` list every call made)."""
    discipline: DisciplineService
    """Checks (逢办必查) and feedback at this node, as the composition root builds them."""

    def submit(
        self, submissions: Sequence[Submission], principal: Principal | None = None
    ) -> list[IntakeResult]:
        return self.intake.submit(submissions, principal or department(self.node_id))

    def push_round(self) -> bool:
        """One round of the push worker; True if it sent anything."""
        return self.federation.push.drain_once()

    def catch_up(self) -> int:
        """Pull from the parent what it holds past this node's cursor; returns batches."""
        return self.federation.upkeep.catch_up()


class InMemoryPeers:
    """The :class:`~gateway.node.peer_client.PeerClient` port, calling peers' use cases directly.

    A peer that is offline answers :class:`PeerUnavailableError`; a refusal by
    the peer becomes :class:`PeerError` naming the error, as the gRPC client
    names the status.
    """

    def __init__(self, federation: InProcessFederation, caller: str) -> None:
        self._federation = federation
        self._caller = caller
        self.calls: list[tuple[str, str]] = []
        """(method, peer) of every call made, in order."""

    def _peer(self, method: str, peer: str) -> HarnessNode:
        self.calls.append((method, peer))
        if peer in self._federation.offline or peer not in self._federation.nodes:
            raise PeerUnavailableError(f"UNAVAILABLE: node {peer} is not reachable")
        return self._federation.nodes[peer]

    @property
    def _me(self) -> Principal:
        return self._federation.nodes[self._caller].principal

    def push(self, peer: str, batch: HopBatch, *, timeout_s: float) -> ReceiveResult:
        target = self._peer("push", peer)
        with _as_peer_error():
            return target.federation.exchange.receive(self._me, batch)

    def pull(self, peer: str, after: int, *, timeout_s: float) -> Iterator[HopBatch]:
        target = self._peer("pull", peer)
        return self._pulled(target, after)

    def _pulled(self, target: HarnessNode, after: int) -> Iterator[HopBatch]:
        with _as_peer_error():
            yield from target.federation.exchange.pull(self._me, after)

    def holders(self, peer: str, record_id: str, *, timeout_s: float) -> list[HolderView]:
        target = self._peer("holders", peer)
        with _as_peer_error():
            return target.federation.exchange.holders(self._me, record_id)

    def directory(self, peer: str, *, timeout_s: float) -> SignedDirectoryFile:
        target = self._peer("directory", peer)
        with _as_peer_error():
            return target.federation.exchange.directory()

    def witness(self, peer: str, request: CosignRequest, *, timeout_s: float) -> CosignReply:
        target = self._peer("witness", peer)
        with _as_peer_error():
            return target.witness.cosign(self._me, request)

    def witnessed(self, peer: str, *, timeout_s: float) -> WitnessStatement:
        target = self._peer("witness", peer)
        with _as_peer_error():
            return target.witness.latest_cosigned(self._me)

    def close(self) -> None:
        """Nothing to release."""


@contextmanager
def _as_peer_error() -> Iterator[None]:
    """Translate the peer's own errors as a transport would: transient or a final refusal."""
    try:
        yield
    except PeerError:
        raise
    except GatewayError as exc:
        # As gateway.rpc.errors: refusals that pass with time answer UNAVAILABLE.
        transient = passes_with_time(exc) or (isinstance(exc, StorageError) and exc.transient)
        error = PeerUnavailableError if transient else PeerError
        raise error(f"{type(exc).__name__}: {exc}") from exc


@dataclass
class InProcessFederation:
    """Nodes of one federation in this process; call :meth:`close` when done."""

    clock: Clock
    nodes: dict[str, HarnessNode] = field(default_factory=dict)
    offline: set[str] = field(default_factory=set)
    signed_directory: SignedDirectoryFile | None = None
    endpoints: dict[str, str] = field(default_factory=dict)
    """Where the directory says each node listens (nothing listens: peers are in-process)."""
    calendar: WorkingCalendar | None = None
    """Working days for reporting deadlines at intake (None: the official calendar)."""
    national_directory: Path | None = None
    """The national node's own signed directory file, if the federation was built with one."""
    keystore: Keystore | None = None
    settings: FederationSettings = field(default_factory=FederationSettings)
    urls: dict[str, str] = field(default_factory=dict)
    """Each node's store URL, kept across :meth:`restart`."""
    offsets: dict[str, float] = field(default_factory=dict)
    """Seconds a node's clock is ahead of :attr:`clock` (behind if negative); change at will."""
    receive_workers: dict[str, int] = field(default_factory=dict)
    """A node's ``[receive] workers`` (0 when not listed), kept across :meth:`restart`."""

    @classmethod
    def build(
        cls,
        root: Path,
        keystore: Keystore,
        nodes: Sequence[str],
        *,
        settings: FederationSettings | None = None,
        clock: Clock | None = None,
        databases: Mapping[str, str] | None = None,
        template: Path | None = None,
        calendar: WorkingCalendar | None = None,
        national_directory: Path | None = None,
        limits: Mapping[str, Limits] | None = None,
        receive_workers: Mapping[str, int] | None = None,
    ) -> InProcessFederation:
        """Open a store per node under ``root``, sign a directory of ``nodes``, wire them.

        ``nodes`` must list parents first; ``databases`` overrides a node's store URL;
        a SQLite store starts as a copy of ``template`` (see :func:`migrated_template`);
        with ``national_directory`` the signed directory is written there and the
        national node's upkeep re-reads it (its ``[node] directory`` file);
        ``limits`` gives a node other limits than the defaults (its ``[limits]`` table);
        ``receive_workers`` starts worker processes that check a node's received records
        (its ``[receive] workers``), stopped by :meth:`close`.
        """
        clock = clock or Clock(float(int(time.time())))
        federation = cls(
            clock=clock,
            calendar=calendar,
            keystore=keystore,
            settings=settings or FederationSettings(),
            receive_workers=dict(receive_workers or {}),
        )
        now = int(clock())
        federation.endpoints = {node: f"127.0.0.1:{7000 + i}" for i, node in enumerate(nodes)}
        directory = build_directory(
            keystore.root,
            federation.endpoints,
            serial=now,
            now=now,
            valid_s=DIRECTORY_VALID_S,
        )
        federation.signed_directory = sign_directory_file(keystore.root, directory)
        federation.national_directory = national_directory
        if national_directory is not None:
            write_directory_file(national_directory, federation.signed_directory)
        try:
            for node in nodes:
                url = (databases or {}).get(node)
                if url is None:
                    path = root / f"{node}.db"
                    if template is not None:
                        shutil.copyfile(template, path)
                    url = f"sqlite:///{path}"
                federation.urls[node] = url
                federation.nodes[node] = federation._node(
                    keystore, node, url, federation.settings, (limits or {}).get(node)
                )
        except BaseException:
            federation.close()
            raise
        return federation

    def restart(self, node_id: str, *, limits: Limits | None = None) -> HarnessNode:
        """Stop ``node_id`` and start it again on the same store, with ``limits`` this time.

        What an operator does after changing a node's configuration.
        """
        assert self.keystore is not None
        old = self.nodes[node_id]
        old.federation.stop()
        old.store.close()
        node = self._node(self.keystore, node_id, self.urls[node_id], self.settings, limits)
        # Same place in the order: push rounds still run parents first.
        self.nodes = {n: node if n == node_id else at for n, at in self.nodes.items()}
        return node

    def _node(
        self,
        keystore: Keystore,
        node_id: str,
        url: str,
        settings: FederationSettings,
        limits: Limits | None = None,
    ) -> HarnessNode:
        creds = load_node_credentials(keystore.node(node_id))
        catalog = load_packaged_catalog(node_id)
        signer = Ed25519Signer(signing_kid(creds.signing_cert), creds.signing_key)
        store = open_store(url)
        offsets = self.offsets
        shared = self.clock

        def clock() -> float:
            return shared() + offsets.get(node_id, 0)

        def now() -> int:
            return int(clock())

        parent = parent_of(node_id)
        config = NodeConfig(
            node=NodeSettings(
                id=node_id,
                keys=keystore.node(node_id),
                listen=self.endpoints[node_id],
                database=url,
                parent=self.endpoints[parent] if parent is not None else None,
                directory=self.national_directory if parent is None else None,
            ),
            federation=settings,
            limits=limits or DEFAULT_LIMITS,
            receive=ReceiveSettings(workers=self.receive_workers.get(node_id, 0)),
        )
        trust = FederationTrust(node_id=node_id, root=creds.root, clock=clock)
        assert self.signed_directory is not None
        trust.install(self.signed_directory)
        peers = InMemoryPeers(self, node_id)
        parts = build_federation(
            config=config,
            catalog=catalog,
            store=store,
            signer=signer,
            clock=clock,
            trust=trust,
            peers=peers,
        )
        intake = IntakeService(
            node_id=node_id,
            catalog=catalog,
            signer=signer,
            store=store,
            clock=now,
            route=parts.route_local,
            wake=parts.wake,
            calendar=self.calendar,
        )
        witness = CheckpointWitness(
            node_id=node_id,
            signing_key=creds.signing_key,
            certificate_chain=b"".join(
                c.public_bytes(Encoding.PEM) for c in (creds.signing_cert, *creds.chain)
            ),
            root=creds.root,
            witnessed=WitnessRepository(store.engine),
            audit=store.audit,
            writer=store.writer,
            clock=now,
            limits=config.limits,
            key_check=trust.check_in_force,
        )
        principal = Principal(
            role=Role.NODE,
            node_id=node_id,
            name=node_id,
            domain=None,
            fingerprint=fingerprint(creds.tls_cert),
            address="in-process",
        )
        discipline = DisciplineService(
            node_id=node_id,
            catalog=catalog,
            measures=load_packaged_measures(node_id),
            store=store,
            router=parts.messages,
            clock=now,
            revocations=Revocations(store, node_id=node_id, directory=lambda: None, clock=now),
        )
        return HarnessNode(
            node_id, creds, store, parts, intake, witness, principal, peers, discipline
        )

    def __getitem__(self, node_id: str) -> HarnessNode:
        return self.nodes[node_id]

    def deliver(self, *, max_rounds: int = MAX_ROUNDS) -> int:
        """Push rounds on every online node until a round sends nothing; returns rounds that sent.

        Raises:
            AssertionError: still sending after ``max_rounds`` (a loop, not a backlog).
        """
        for rounds in range(max_rounds):
            sent = [n.push_round() for n in self.nodes.values() if n.node_id not in self.offline]
            if not any(sent):
                return rounds
        raise AssertionError(f"still delivering after {max_rounds} rounds")

    def close(self) -> None:
        for node in self.nodes.values():
            node.federation.stop()
            node.store.close()
