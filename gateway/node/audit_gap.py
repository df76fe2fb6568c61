"""A log behind what its parent cosigned: refused at start until recorded as an incident.

A store restored from a backup holds fewer events than the checkpoints its
parent cosigned since (or, once it has grown again, other events in their
place). At start the node asks its parent for its fresh statement on the latest
checkpoint it cosigned (:meth:`~gateway.node.audit_log.WitnessClient.latest_cosigned`);
if the log does not hold that checkpoint, the node appends an ``audit.gap``
event and refuses to serve, until the operator records the gap with
``gateway audit incident``: an ``audit.incident`` event citing the checkpoint
(origin, size, root, the parent's cosignature), the events lost and the
operator's reason, which every auditor reads in the log. The incident opens a
new epoch of the log (:mod:`gateway.core.log_epoch`): the node's next
checkpoints are signed under the new epoch's origin, and the parent cosigns
them once it has checked the incident. A parent that cannot be reached is
logged and the node serves: its word is needed to see a gap, and availability
comes first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.core.audit import MAX_DETAIL_CHARS, Decision, event_by_node, event_by_operator
from gateway.core.checkpoint import Checkpoint, CosignatureVerifier
from gateway.core.errors import (
    ConflictError,
    InputError,
    MalformedError,
    PeerError,
    ProofError,
)
from gateway.core.log_epoch import (
    INCIDENT_ACTION,
    EpochIncident,
    epoch_of,
    gap_citation,
    lost_events,
)
from gateway.core.note import NoteVerifier
from gateway.node.audit_log import WitnessClient, log_origin, signing_key_from_chain
from gateway.node.log_verify import WitnessedHead, open_witness_statement
from gateway.node.operator import Operator
from gateway.pki import NodeCredentials, parent_of
from gateway.store import AuditFilter, Store

__all__ = ["GAP_ACTION", "AuditGap", "AuditGapGuard"]

GAP_ACTION = "audit.gap"
_FRESH_S = 300  # the statement is fetched just now; this only absorbs clock skew

log = structlog.get_logger("gateway.audit")


@dataclass(frozen=True, slots=True)
class AuditGap:
    """The log (of ``held`` events) does not hold ``checkpoint`` that ``witness`` cosigned.

    ``cosignature`` is the witness's line over it, as its statement carried it.
    """

    witness: str
    checkpoint: Checkpoint
    cosignature: str
    held: int

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root(self) -> bytes:
        return self.checkpoint.root

    def citation(self) -> str:
        """How events name the checkpoint: size, origin, root and witness."""
        return gap_citation(self.witness, self.checkpoint)

    def lost(self) -> str:
        """Which events are lost, as far as the log can tell."""
        return lost_events(self.held, self.size)

    def incident(self, base: str, reason: str) -> EpochIncident:
        """The incident that records this gap and opens the next epoch (log origin ``base``)."""
        return EpochIncident(
            epoch=epoch_of(self.checkpoint.origin, base) + 1,
            checkpoint=self.checkpoint,
            witness=self.witness,
            cosignature=self.cosignature,
            held=self.held,
            reason=reason,
        )


class AuditGapGuard:
    """Compares the log with its parent's word; records a gap and its incident."""

    def __init__(
        self,
        *,
        node_id: str,
        store: Store,
        witness: WitnessClient,
        log_key: NoteVerifier,
        root: x509.Certificate,
        clock: Callable[[], int],
        retired_log_keys: Sequence[NoteVerifier] = (),
    ) -> None:
        self._node_id = node_id
        self._store = store
        self._witness = witness
        self._log_key = log_key
        self._retired_log_keys = tuple(retired_log_keys)
        self._root = root
        self._clock = clock

    @classmethod
    def for_node(
        cls,
        *,
        node_id: str,
        store: Store,
        witness: WitnessClient,
        creds: NodeCredentials,
        clock: Callable[[], int],
    ) -> AuditGapGuard:
        """The guard of node ``node_id``'s log, from the node's own credentials."""
        origin = log_origin(node_id)
        return cls(
            node_id=node_id,
            store=store,
            witness=witness,
            log_key=NoteVerifier.for_key(origin, creds.signing_key.public_key()),
            root=creds.root,
            clock=clock,
            retired_log_keys=retired_note_verifiers(origin, creds),
        )

    def check(self) -> None:
        """Refuse to serve a log behind its parent's latest cosigned checkpoint, unless recorded.

        Raises:
            ProofError: the log has an unrecorded gap (an ``audit.gap`` event is appended).
            VerificationError: the parent's statement does not verify.
            StorageError: the database failed.
        """
        try:
            gap = self.find()
        except PeerError as exc:
            log.warning("audit gap not checked: no word from the parent", detail=str(exc))
            return
        if gap is None or self._recorded(gap):
            return
        self._store.audit.append(
            [
                event_by_node(
                    self._node_id,
                    time=self._clock(),
                    action=GAP_ACTION,
                    decision=Decision.DENIED,
                    rule="audit:behind-parent",
                    detail=f"{gap.citation()}; {gap.lost()}",
                )
            ]
        )
        raise ProofError(
            f"the audit log does not hold {gap.citation()} ({gap.lost()}): record the gap "
            "with `gateway audit incident` before serving"
        )

    def record_incident(self, operator: Operator, reason: str) -> EpochIncident:
        """Record the gap the parent's word shows as an incident, by ``operator``.

        Returns the incident, which opens the log's next epoch.

        Raises:
            PeerError: the parent cannot be reached or refused (its word is needed).
            ConflictError: there is no gap, or it is already recorded.
            InputError: the reason is too long for the event.
            VerificationError: the parent's statement does not verify.
            StorageError: the database failed.
        """
        gap = self.find()
        if gap is None:
            raise ConflictError("the audit log holds every checkpoint its parent cosigned")
        if self._recorded(gap):
            raise ConflictError(f"the gap at {gap.citation()} is already recorded")
        incident = gap.incident(log_origin(self._node_id), reason)
        if len(incident.detail()) > MAX_DETAIL_CHARS:
            spare = MAX_DETAIL_CHARS - len(incident.detail()) + len(reason)
            raise InputError(f"the reason is {len(reason)} characters; at most {spare} fit")
        self._store.audit.append(
            [
                event_by_operator(
                    self._node_id,
                    user=operator.user,
                    host=operator.host,
                    time=self._clock(),
                    action=INCIDENT_ACTION,
                    decision=Decision.ALLOWED,
                    rule="audit:gap-recorded",
                    detail=incident.detail(),
                )
            ]
        )
        return incident

    def find(self) -> AuditGap | None:
        """The gap between the log and the parent's latest cosigned checkpoint, if any.

        Raises:
            PeerError: the parent cannot be reached, refused, or never cosigned.
            VerificationError: the parent's statement does not verify.
            StorageError: the database failed.
        """
        head = self._head()
        size, checkpoint = self._store.audit.size(), head.checkpoint
        if size >= checkpoint.size and self._store.audit.root(checkpoint.size) == checkpoint.root:
            return None
        return AuditGap(head.witness, checkpoint, head.cosignature, size)

    def _head(self) -> WitnessedHead:
        statement = self._witness.latest_cosigned()
        now = self._clock()
        parent = _parent(self._node_id)
        key = signing_key_from_chain(
            statement.certificate_chain,
            root=self._root,
            node_id=parent,
            at_time=dt.datetime.fromtimestamp(now, dt.UTC),
        )
        return open_witness_statement(
            statement,
            origin=log_origin(self._node_id),
            log_key=self._log_key,
            witness=CosignatureVerifier.for_key(log_origin(parent), key),
            now=now,
            max_age_s=_FRESH_S,
            retired_log_keys=self._retired_log_keys,
        )

    def _recorded(self, gap: AuditGap) -> bool:
        after = -1
        while True:
            page = self._store.audit.events(
                AuditFilter(action=INCIDENT_ACTION), after=after, limit=500
            )
            if any(_cites(e.event.detail, gap) for e in page):
                return True
            if len(page) < 500:
                return False
            after = page[-1].seq


def retired_signing_keys(creds: NodeCredentials) -> tuple[Ed25519PublicKey, ...]:
    """The node's retired signing keys (its own history, from its keystore)."""
    keys = [r.certificate.public_key() for r in creds.retired_signing]
    return tuple(k for k in keys if isinstance(k, Ed25519PublicKey))


def retired_note_verifiers(origin: str, creds: NodeCredentials) -> tuple[NoteVerifier, ...]:
    """Note verifiers of the node's retired signing keys."""
    return tuple(NoteVerifier.for_key(origin, k) for k in retired_signing_keys(creds))


def _cites(detail: str, gap: AuditGap) -> bool:
    try:
        incident = EpochIncident.parse(detail)
    except MalformedError:
        return False
    return (incident.witness, incident.checkpoint) == (gap.witness, gap.checkpoint)


def _parent(node_id: str) -> str:
    parent = parent_of(node_id)
    if parent is None:
        raise ProofError(f"{node_id} has no parent to witness its audit log")
    return parent
