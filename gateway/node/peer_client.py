"""The peer-client port: everything this node asks of a neighbouring node.

The node's use cases talk to peers only through :class:`PeerClient`, in domain
types, and see only the domain error tree: a transport adapter (``gateway.rpc``
implements the one over gRPC, tests an in-memory one) turns every failure into
:class:`~gateway.core.errors.PeerUnavailableError` when a retry may cure it and
:class:`~gateway.core.errors.PeerError` when the peer refused, as python-tuf's
``FetcherInterface`` turns every download failure into one ``DownloadError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from gateway.core.batch_items import ReceiveResult
from gateway.node.audit_log import CosignReply, CosignRequest, WitnessStatement
from gateway.node.trust import SignedDirectoryFile

__all__ = ["HolderView", "HopBatch", "ParentWitness", "PeerClient"]


@dataclass(frozen=True, slots=True)
class HopBatch:
    """A signed hop batch as it travels: the DSSE envelope and the items it covers.

    ``cursor`` is set on batches served by Pull: the sender's outbox position
    the batch reaches, which the receiver stores once it has applied the batch.
    """

    envelope_json: bytes
    records: tuple[str, ...] = ()
    statements: tuple[bytes, ...] = ()
    messages: tuple[bytes, ...] = ()
    cursor: int = 0


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


class PeerClient(Protocol):
    """A neighbouring node's Federation and Witness services, as this node calls them.

    Every method raises, besides what it names:
        PeerUnavailableError: the peer is unreachable, timed out or overloaded
            (transient: a later attempt may succeed).
        PeerError: the peer refused or failed; the message names its answer.
        ConfigurationError, AccessDeniedError, ExpiredError: no usable endpoint
            for ``peer`` (not in the directory, or no directory in force).
    """

    def push(self, peer: str, batch: HopBatch, *, timeout_s: float) -> ReceiveResult:
        """Send one batch; returns the peer's acknowledgement once the batch is durable there.

        The acknowledgement answers for each record (stored, duplicate, or refused
        alone with its reason); a fault of the sender refuses the whole call.
        """
        ...

    def pull(self, peer: str, after: int, *, timeout_s: float) -> Iterator[HopBatch]:
        """Stream the batches the peer holds for this node past outbox position ``after``.

        Asking also acknowledges everything up to ``after``. Closing the
        iterator early ends the call.
        """
        ...

    def holders(self, peer: str, record_id: str, *, timeout_s: float) -> list[HolderView]:
        """The peer's delivery ledger for one record."""
        ...

    def directory(self, peer: str, *, timeout_s: float) -> SignedDirectoryFile:
        """The peer's copy of the signed federation directory (not yet verified)."""
        ...

    def witness(self, peer: str, request: CosignRequest, *, timeout_s: float) -> CosignReply:
        """Ask the peer to cosign this node's audit checkpoint."""
        ...

    def witnessed(self, peer: str, *, timeout_s: float) -> WitnessStatement:
        """The peer's fresh statement on the latest checkpoint of this node it cosigned."""
        ...

    def close(self) -> None:
        """Release connections (the client may not be used afterwards)."""
        ...


@dataclass(frozen=True, slots=True)
class ParentWitness:
    """A :class:`~gateway.node.audit_log.WitnessClient`: the parent, through the peer client."""

    peers: PeerClient
    parent: str
    timeout_s: float = 10.0

    def cosign(self, request: CosignRequest) -> CosignReply:
        """Ask the parent to cosign.

        Raises:
            PeerUnavailableError: unreachable, timed out or overloaded.
            PeerError: the parent refused, with its status and message.
        """
        return self.peers.witness(self.parent, request, timeout_s=self.timeout_s)

    def latest_cosigned(self) -> WitnessStatement:
        """Ask the parent for its fresh statement on the latest checkpoint it cosigned.

        Raises:
            PeerUnavailableError: unreachable, timed out or overloaded.
            PeerError: the parent refused, or has cosigned no checkpoint of this node.
        """
        return self.peers.witnessed(self.parent, timeout_s=self.timeout_s)
