"""The audit log's checkpoints: publishing, witnessing by the parent, and offline verification.

- :class:`CheckpointPublisher` signs a C2SP checkpoint of the node's log every
  ``N`` events or ``T`` seconds, whichever comes first, on a background thread.
  Before signing it checks that the stored tree is still consistent with the
  last checkpoint it signed, so a rewritten history is alarmed, never signed.
  It then asks the parent to cosign, proving consistency from the last
  checkpoint the parent cosigned.
- :class:`~gateway.node.checkpoint_witness.CheckpointWitness` (its own
  module) is the parent's side: it cosigns a child's
  checkpoint only after verifying the child's signature (with the child's
  signing certificate) and a consistency proof from the last checkpoint it
  cosigned for that child; a refusal is audited and an inconsistency alarmed.
- Epochs (:mod:`gateway.core.log_epoch`): a log that lost events its parent
  cosigned goes on under a new origin ``credit-gateway/<id>/epoch/<n>``, opened
  by an ``audit.incident`` event. The publisher signs each checkpoint under the
  origin of the epoch its tree is in and sends the first of a new epoch with
  the incident and its inclusion proof; the witness cosigns it only if the
  incident cites exactly the last checkpoint it cosigned, then enforces
  consistency within the epoch, and refuses (and audits) any other change of
  epoch.
- :meth:`~gateway.node.checkpoint_witness.CheckpointWitness.latest_cosigned`
  is the parent's word on how far it
  has witnessed a child: the latest checkpoint it cosigned, cosigned afresh
  when asked. The child relays it to its auditors; the cosignature's timestamp
  tells how fresh it is, and only the parent can make one.
- :func:`verify_log` checks a whole log offline: every event's exact bytes
  against every signed checkpoint, consistency between checkpoints, the
  witness's cosignatures, the columns listings select on, and (given the
  parent's statement, see :func:`open_witness_statement`) that the log is not
  behind the latest checkpoint its parent cosigned.

Checkpoints of node ``<id>`` carry the origin ``credit-gateway/<id>`` (in epoch 1;
``credit-gateway/<id>/epoch/<n>`` after) and the key name ``credit-gateway/<id>``;
a witness cosigns under its own origin name.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.core.checkpoint import (
    Checkpoint,
    CosignatureVerifier,
    sign_checkpoint,
    verify_cosignature,
)
from gateway.core.errors import (
    ConfigurationError,
    ConflictError,
    GatewayError,
    MalformedError,
    PeerError,
    PeerUnavailableError,
    ProofError,
    VerificationError,
)
from gateway.core.limits import DEFAULT_LIMITS
from gateway.core.log_epoch import epoch_of, epoch_origin, note_origin
from gateway.core.merkle import verify_consistency
from gateway.core.note import NoteSigner
from gateway.node.log_epochs import LogEpochs
from gateway.pki import parent_of, verify_signing_certificate
from gateway.store.audit import AuditLogRepository
from gateway.store.checkpoints import (
    CheckpointRepository,
    CheckpointRow,
    CosignatureRow,
    LogEntries,
)

__all__ = [
    "CheckpointPublisher",
    "CosignReply",
    "CosignRequest",
    "WitnessClient",
    "WitnessStatement",
    "log_origin",
    "signing_key_from_chain",
]

log = structlog.get_logger("gateway.audit")

_ORIGIN_PREFIX = "credit-gateway/"
_MAX_CHAIN_BYTES = 64 * 1024


def log_origin(node_id: str, epoch: int = 1) -> str:
    """The checkpoint origin of epoch ``epoch`` of node ``node_id``'s audit log.

    The epoch-1 origin is also the key name every epoch's checkpoints are signed under.
    """
    return epoch_origin(_ORIGIN_PREFIX + node_id, epoch)


def signing_key_from_chain(
    pem: bytes, *, root: x509.Certificate, node_id: str, at_time: dt.datetime
) -> Ed25519PublicKey:
    """Check a PEM signing certificate chain (leaf first) of ``node_id``; return its key.

    Raises:
        LimitExceededError: if the PEM is over 64 KiB (checked before parsing).
        MalformedError: if it holds no PEM certificate.
        ExpiredError, SignatureError, AlgorithmError: from
            :func:`gateway.pki.verify_signing_certificate`.
    """
    DEFAULT_LIMITS.check_bytes("signing certificate chain", len(pem), _MAX_CHAIN_BYTES)
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise MalformedError(f"signing certificate chain of {node_id} is not PEM") from exc
    return verify_signing_certificate(
        certs[0], certs[1:], root=root, node_id=node_id, at_time=at_time
    )


# --------------------------------------------------------------------------- the node's side


@dataclass(frozen=True, slots=True)
class CosignRequest:
    """A checkpoint sent to the parent with a consistency proof from ``old_size``.

    The first checkpoint of a new epoch comes instead with the incident that
    opens it: the event's exact bytes, its index and its inclusion proof in
    the checkpoint (``old_size`` 0, no consistency proof).
    """

    checkpoint: str
    old_size: int
    proof: Sequence[bytes]
    certificate_chain: bytes
    incident: bytes = b""
    incident_index: int = 0
    incident_proof: Sequence[bytes] = ()


@dataclass(frozen=True, slots=True)
class CosignReply:
    """The cosignature line, or (empty line) the size the witness last cosigned."""

    cosignature: str
    witnessed_size: int
    certificate_chain: bytes


@dataclass(frozen=True, slots=True)
class WitnessStatement:
    """The parent's word on a child's log, as it travels (unverified).

    ``checkpoint`` is the latest checkpoint note of the child the parent
    cosigned, as the child sent it; ``cosignature`` a line over it made when
    asked; ``certificate_chain`` the parent's signing chain (PEM).
    """

    checkpoint: str
    cosignature: str
    certificate_chain: bytes


class WitnessClient(Protocol):
    """The parent's Witness service."""

    def cosign(self, request: CosignRequest) -> CosignReply:
        """Ask for a cosignature.

        Raises:
            PeerUnavailableError: the parent cannot be reached (transient).
            PeerError: the parent refused.
        """
        ...

    def latest_cosigned(self) -> WitnessStatement:
        """Ask for the parent's fresh statement on the latest checkpoint it cosigned.

        Raises:
            PeerUnavailableError: the parent cannot be reached (transient).
            PeerError: the parent refused, or has cosigned no checkpoint of this node.
        """
        ...


class CheckpointPublisher:
    """Signs checkpoints of the node's audit log and has the parent cosign them."""

    def __init__(
        self,
        *,
        node_id: str,
        signing_key: Ed25519PrivateKey,
        certificate_chain: bytes,
        root: x509.Certificate,
        audit: AuditLogRepository,
        entries: LogEntries,
        checkpoints: CheckpointRepository,
        witness: WitnessClient | None,
        every_events: int,
        every_s: float,
        clock: Callable[[], int],
    ) -> None:
        self._node_id = node_id
        self._signer = NoteSigner(log_origin(node_id), signing_key)
        self._chain = certificate_chain
        self._root = root
        self._audit = audit
        self._entries = entries
        self._checkpoints = checkpoints
        self._witness = witness
        self._parent = parent_of(node_id)
        self._every_events = max(1, every_events)
        self._every_s = every_s
        self._clock = clock
        self._started_at = clock()
        self._checked: tuple[int, bytes] | None = None
        self._epochs = LogEpochs(audit)
        self._retry_at = 0
        self._last_alarm = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def publish(self, *, final: bool = False) -> CheckpointRow | None:
        """Sign and store a checkpoint if one is due (any growth when ``final``).

        Raises:
            ProofError: the stored log shrank or is no longer consistent with
                the last checkpoint this node signed (nothing is signed).
            StorageError: the database failed.
        """
        size, root = self._entries.head()
        last = self._checkpoints.latest()
        now = self._clock()
        if last is not None:
            self._check_against(last, size, root)
            if size == last.size:
                return None
            grown, since = size - last.size, last.published_at
        else:
            if size == 0:
                return None
            grown, since = size, self._started_at
        if not (final or grown >= self._every_events or now - since >= self._every_s):
            return None
        origin = log_origin(self._node_id, self._epochs.epoch_at(size))
        note = sign_checkpoint(Checkpoint(origin, size, root), self._signer)
        row = CheckpointRow(size=size, root=root, note=note, published_at=now)
        if self._checkpoints.add(row):
            log.info("audit checkpoint published", size=size)
        return row

    def request_cosignature(self) -> CosignatureRow | None:
        """Have the parent cosign the latest checkpoint, unless it already has.

        Raises:
            PeerError: the parent refused or cannot be reached.
            ProofError: the parent has cosigned a larger tree than this log holds.
            VerificationError: the parent's certificate or cosignature does not verify.
            ConflictError: the parent keeps moving the size to prove from.
        """
        if self._witness is None or self._parent is None:
            return None
        latest = self._checkpoints.latest()
        if latest is None or latest.cosigned_by(self._parent):
            return None
        previous = self._checkpoints.latest_cosigned(self._parent)
        epoch = self._epoch_of(latest.note)
        if epoch > 1 and (previous is None or self._epoch_of(previous.note) < epoch):
            # The first checkpoint of an epoch the parent has not cosigned: it is a
            # new log to the parent, opened by its incident.
            reply = self._send(latest, 0, opening=True)
        else:
            reply = self._send(latest, previous.size if previous is not None else 0)
        if not reply.cosignature:
            if reply.witnessed_size > latest.size:
                raise ProofError(
                    f"witness {self._parent} cosigned size {reply.witnessed_size}, beyond "
                    f"this log's latest checkpoint {latest.size}"
                )
            reply = self._send(latest, reply.witnessed_size)
            if not reply.cosignature:
                raise ConflictError(f"witness {self._parent} asked twice for another old size")
        now = self._clock()
        key = signing_key_from_chain(
            reply.certificate_chain,
            root=self._root,
            node_id=self._parent,
            at_time=dt.datetime.fromtimestamp(now, dt.UTC),
        )
        verifier = CosignatureVerifier.for_key(log_origin(self._parent), key)
        body = latest.note[: latest.note.index("\n\n") + 1]
        cosig = verify_cosignature(body, reply.cosignature, verifier)
        row = CosignatureRow(
            size=latest.size,
            witness=self._parent,
            line=reply.cosignature.removesuffix("\n"),
            certificate_chain=reply.certificate_chain,
            cosigned_at=cosig.timestamp,
        )
        self._checkpoints.add_cosignature(row)
        log.info("checkpoint.cosigned", size=latest.size, witness=self._parent)
        return row

    def tick(self) -> None:
        """One round: publish if due, then seek the parent's cosignature (with back-off)."""
        self._guarded(self.publish)
        if self._witness is not None and self._clock() >= self._retry_at:
            ok = self._guarded(self.request_cosignature)
            if not ok:
                self._retry_at = self._clock() + int(min(self._every_s, 10.0))

    def start(self) -> None:
        """Run :meth:`tick` on a background thread until :meth:`stop`."""
        poll_s = max(0.05, min(1.0, self._every_s / 4))

        def run() -> None:
            while not self._stop.wait(poll_s):
                self.tick()
            self._guarded(lambda: self.publish(final=True))

        self._thread = threading.Thread(target=run, name="checkpoint-publisher", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the thread after a last checkpoint covering every event (not yet cosigned)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _send(self, latest: CheckpointRow, old_size: int, *, opening: bool = False) -> CosignReply:
        proof: Sequence[bytes] = []
        if 0 < old_size < latest.size:
            proof = self._audit.consistency_proof(old_size, latest.size)
        request = CosignRequest(latest.note, old_size, proof, self._chain)
        incident = self._epochs.opening(latest.size) if opening else None
        if incident is not None:
            request = dataclasses.replace(
                request,
                incident=incident.data,
                incident_index=incident.seq,
                incident_proof=self._audit.inclusion_proof(incident.seq, latest.size),
            )
        if self._witness is None:
            raise ConfigurationError("no witness to send checkpoints to")
        return self._witness.cosign(request)

    def _epoch_of(self, note: str) -> int:
        return epoch_of(note_origin(note), log_origin(self._node_id))

    def _check_against(self, last: CheckpointRow, size: int, root: bytes) -> None:
        if self._checked == (size, root):
            return
        if size < last.size:
            raise ProofError(
                f"the audit log holds {size} events, fewer than the {last.size} "
                "its last checkpoint signed: events were deleted"
            )
        if size == last.size and root != last.root:
            raise ProofError(
                f"the audit log's root differs from checkpoint {last.size}: "
                "the stored tree was rewritten"
            )
        if size > last.size:
            try:
                verify_consistency(
                    size1=last.size,
                    size2=size,
                    proof=self._audit.consistency_proof(last.size, size),
                    root1=last.root,
                    root2=root,
                )
            except ProofError as exc:
                raise ProofError(
                    f"the audit log is not consistent with checkpoint {last.size}: {exc}"
                ) from exc
        self._checked = (size, root)

    def _guarded(self, step: Callable[[], object]) -> bool:
        # The thread must outlive any failure; each is logged, an alarm once per cause.
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - a bug must not silently stop checkpoints
            failure: Exception = exc
        else:
            return True
        detail = str(failure)
        if isinstance(failure, VerificationError):
            if detail != self._last_alarm:
                self._last_alarm = detail
                log.error("audit log alarm", error=type(failure).__name__, detail=detail)
        elif isinstance(failure, PeerUnavailableError):
            # Each retry; the transition is logged once as peer.unreachable (ReachabilityLog).
            log.debug("checkpoint not cosigned", witness=self._parent, detail=detail)
        elif isinstance(failure, PeerError):
            log.error("audit alarm: witness refused", witness=self._parent, detail=detail)
        elif isinstance(failure, GatewayError):
            log.error("checkpoint step failed", error=type(failure).__name__, detail=detail)
        else:
            log.error("checkpoint step crashed", exc_info=failure)
        return False


# --------------------------------------------------------------------------- the parent's side
