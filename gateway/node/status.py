"""One screen about a node, read from its configuration, keys, directory and store.

``gateway status`` shows it: who the node is and where it sits in the tree, its
neighbours with their backlogs and the last delivery to each, what failed,
when its directory and certificates expire, how large its audit log is and how
long ago the parent last cosigned it, and whether it is ready (the same checks
as the node's own health service and ``/readyz``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509

from gateway.core.directory import Directory
from gateway.core.log_epoch import epoch_of, note_origin
from gateway.core.node_id import NodeLevel, node_level
from gateway.node.audit_log import log_origin
from gateway.node.directory_watch import directory_expiring
from gateway.node.readiness import ReadinessCheck, ReadinessReport, node_readiness
from gateway.store import Store
from gateway.store.checkpoints import CheckpointRepository

__all__ = ["CertificateStatus", "NodeStatus", "PeerStatus", "read_status"]


@dataclass(frozen=True, slots=True)
class PeerStatus:
    """A neighbour: the parent or a child as the directory lists it."""

    node_id: str
    relation: str
    """``parent`` or ``child``."""
    endpoint: str
    backlog: int
    """Outbox rows still to deliver to it."""
    oldest_waiting_s: float | None
    """Age of the oldest of them; None when nothing waits."""
    last_delivery_at: int | None
    """When something was last delivered to it; None if never."""


@dataclass(frozen=True, slots=True)
class CertificateStatus:
    """One of the node's certificates."""

    name: str
    subject: str
    not_after: int
    expires_in_s: float


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """Everything ``gateway status`` shows, read at ``at``."""

    at: int
    node_id: str
    level: NodeLevel
    parent: str | None
    listen: str
    peers: tuple[PeerStatus, ...]
    failed_deliveries: int
    directory_serial: int | None
    directory_expires_in_s: float | None
    directory_expiring: bool
    """The directory is within its warning window (``[directory] warning_days``) or expired."""
    certificates: tuple[CertificateStatus, ...]
    audit_events: int
    audit_epoch: int
    """The epoch of the log's latest checkpoint: 1, or more after restores recorded as
    incidents (``gateway audit incident``, :mod:`gateway.core.log_epoch`)."""
    last_checkpoint_age_s: float | None
    parent_cosignature_age_s: float | None
    readiness: ReadinessReport


def read_status(
    *,
    node_id: str,
    listen: str,
    parent: str | None,
    store: Store,
    database_url: str,
    directory: Directory | None,
    directory_check: ReadinessCheck,
    certificates: tuple[tuple[str, x509.Certificate], ...],
    clock: Callable[[], float],
    directory_warning_s: float,
) -> NodeStatus:
    """Read the node's status.

    Args:
        directory: the directory held (expired or not), None when there is none.
        directory_check: raises when there is no directory in force (as readiness does).
        certificates: (name, certificate) pairs of the node.
        directory_warning_s: how long before expiry the directory is flagged as expiring.

    Raises:
        StorageError: the store cannot be read (readiness alone never raises).
    """
    now = clock()
    readiness = node_readiness(
        store=store,
        database_url=database_url,
        directory=directory_check,
        certificates=certificates,
        clock=clock,
    ).check()
    backlog = store.outbox.backlog()
    neighbours: list[tuple[str, str, str]] = []
    if parent is not None:
        endpoint = (
            directory.nodes[parent].endpoint if directory and parent in directory.nodes else ""
        )
        neighbours.append((parent, "parent", endpoint))
    if directory is not None:
        neighbours += [
            (n.node_id, "child", n.endpoint)
            for n in sorted(directory.nodes.values(), key=lambda n: n.node_id)
            if n.parent == node_id
        ]
    last = store.outbox.last_delivered([peer for peer, _, _ in neighbours])
    peers = tuple(
        PeerStatus(
            node_id=peer,
            relation=relation,
            endpoint=endpoint,
            backlog=backlog.get(peer, (0, 0))[0],
            oldest_waiting_s=now - backlog[peer][1] if peer in backlog else None,
            last_delivery_at=last.get(peer),
        )
        for peer, relation, endpoint in neighbours
    )
    checkpoints = CheckpointRepository(store.engine)
    latest = checkpoints.latest()
    cosigned_at = checkpoints.last_cosigned_at(parent) if parent is not None else None
    return NodeStatus(
        at=int(now),
        node_id=node_id,
        level=node_level(node_id),
        parent=parent,
        listen=listen,
        peers=peers,
        failed_deliveries=store.outbox.failed_count(),
        directory_serial=directory.serial if directory else None,
        directory_expires_in_s=directory.expires_at - now if directory else None,
        directory_expiring=directory_expiring(directory, now, directory_warning_s),
        certificates=tuple(
            CertificateStatus(
                name=name,
                subject=cert.subject.rfc4514_string(),
                not_after=int(cert.not_valid_after_utc.timestamp()),
                expires_in_s=cert.not_valid_after_utc.timestamp() - now,
            )
            for name, cert in certificates
        ),
        audit_events=store.audit.size(),
        audit_epoch=(
            epoch_of(note_origin(latest.note), log_origin(node_id)) if latest is not None else 1
        ),
        last_checkpoint_age_s=now - latest.published_at if latest else None,
        parent_cosignature_age_s=now - cosigned_at if cosigned_at is not None else None,
        readiness=readiness,
    )
