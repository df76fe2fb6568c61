"""Audit and Witness servicers.

The Audit service (auditors only) serves events as their exact stored bytes, so
an auditor verifies what the log hashed, never a re-serialisation. Reads of the
log's contents (event listings, subject access, a full read) are themselves
audited; proofs, checkpoints and certificates are not, as they disclose no event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import grpc
from cryptography.hazmat.primitives.serialization import Encoding

from gateway._proto.v1 import audit_pb2, audit_pb2_grpc
from gateway.core.audit import Decision, event_by
from gateway.core.errors import InputError, NotFoundError
from gateway.core.limits import Limits
from gateway.core.principal import Principal
from gateway.node.audit_log import CheckpointWitness, CosignRequest
from gateway.node.queries import display_subject, normalise_subject
from gateway.pki import NodeCredentials
from gateway.rpc.context import current_principal
from gateway.store import AuditFilter, Store, StoredEvent
from gateway.store.checkpoints import CheckpointRepository, CheckpointRow, LogEntries

__all__ = ["AuditServicer", "WitnessServicer", "signing_chain_pem"]

MAX_PAGE = 1000
_DECISIONS = {"", *(d.value for d in Decision)}


def signing_chain_pem(creds: NodeCredentials) -> bytes:
    """The node's signing certificate then its CA chain, PEM (root excluded)."""
    return b"".join(c.public_bytes(Encoding.PEM) for c in (creds.signing_cert, *creds.chain))


def _page(limit: int, default: int) -> int:
    if limit > MAX_PAGE:
        raise InputError(f"limit {limit} is over the maximum page of {MAX_PAGE}")
    return limit or default


def _after(token: str) -> int:
    if not token:
        return -1
    if not token.isdigit() or len(token) > 20:
        raise InputError("page token is not one this node issued")
    return int(token)


def _events_page(events: Sequence[StoredEvent], limit: int) -> audit_pb2.ListEventsResponse:
    shown = events[:limit]
    more = len(events) > limit
    return audit_pb2.ListEventsResponse(
        events=[audit_pb2.LogEntry(seq=e.seq, event=e.data) for e in shown],
        next_page_token=str(shown[-1].seq) if more and shown else "",
    )


def _checkpoint_entry(row: CheckpointRow) -> audit_pb2.CheckpointEntry:
    return audit_pb2.CheckpointEntry(
        size=row.size,
        note=row.note,
        published_at=row.published_at,
        cosignatures=[
            audit_pb2.CosignatureEntry(witness=c.witness, line=c.line, cosigned_at=c.cosigned_at)
            for c in row.cosignatures
        ],
    )


class AuditServicer(audit_pb2_grpc.AuditServicer):
    """The auditor's view of this node's log."""

    def __init__(
        self,
        *,
        node_id: str,
        store: Store,
        entries: LogEntries,
        checkpoints: CheckpointRepository,
        signing_chain: bytes,
        limits: Limits,
        clock: Callable[[], int],
    ) -> None:
        self._node_id = node_id
        self._store = store
        self._entries = entries
        self._checkpoints = checkpoints
        self._signing_chain = signing_chain
        self._limits = limits
        self._clock = clock

    def _check(self, *values: str) -> None:
        for value in values:
            if len(value) > self._limits.max_string_chars:
                raise InputError(f"a request string is {len(value)} characters, over the limit")

    def _audit(self, principal: Principal, action: str, *, subject: str = "", detail: str) -> None:
        self._store.audit.append(
            [
                event_by(
                    principal,
                    node=self._node_id,
                    time=self._clock(),
                    action=action,
                    decision=Decision.ALLOWED,
                    rule="access-table:auditor",
                    subject=subject,
                    detail=detail,
                )
            ]
        )

    def ListEvents(
        self, request: audit_pb2.ListEventsRequest, context: grpc.ServicerContext
    ) -> audit_pb2.ListEventsResponse:
        self._check(request.actor, request.action, request.subject, request.page_token)
        if request.decision not in _DECISIONS:
            raise InputError(f"decision must be allowed or denied, not {request.decision!r}")
        where = AuditFilter(
            since=request.since if request.HasField("since") else None,
            until=request.until if request.HasField("until") else None,
            actor=request.actor,
            action=request.action,
            subject=request.subject,
            decision=request.decision,
        )
        limit = _page(request.limit, 100)
        events = self._store.audit.events(where, after=_after(request.page_token), limit=limit + 1)
        if not request.page_token:
            self._audit(
                current_principal(), "audit.list_events", subject=request.subject, detail=f"{where}"
            )
        return _events_page(events, limit)

    def GetEntries(
        self, request: audit_pb2.GetEntriesRequest, context: grpc.ServicerContext
    ) -> audit_pb2.GetEntriesResponse:
        limit = _page(request.limit, MAX_PAGE)
        size = self._store.audit.size()
        entries = self._entries.read(request.start, limit)
        if request.start == 0:
            # A full read starts here: audit it once, not once per page.
            self._audit(current_principal(), "audit.get_entries", detail=f"log of {size} events")
        return audit_pb2.GetEntriesResponse(
            entries=[audit_pb2.LogEntry(seq=seq, event=data) for seq, data in entries],
            tree_size=size,
        )

    def GetInclusionProof(
        self, request: audit_pb2.InclusionProofRequest, context: grpc.ServicerContext
    ) -> audit_pb2.InclusionProofResponse:
        size = request.size
        if size == 0:
            latest = self._checkpoints.latest()
            if latest is None:
                raise NotFoundError("this node has published no checkpoint yet")
            size = latest.size
        current = self._store.audit.size()
        if not request.seq < size <= current:
            raise InputError(f"no event {request.seq} in a tree of {size} (log size {current})")
        found = self._entries.read(request.seq, 1)
        if not found or found[0][0] != request.seq:
            raise NotFoundError(f"event {request.seq} is missing from the log")
        proof = self._store.audit.inclusion_proof(request.seq, size)
        published = self._checkpoints.list(after_size=size - 1, limit=1)
        note = published[0].note if published and published[0].size == size else ""
        return audit_pb2.InclusionProofResponse(
            seq=request.seq, size=size, hashes=proof, event=found[0][1], checkpoint=note
        )

    def GetConsistencyProof(
        self, request: audit_pb2.ConsistencyProofRequest, context: grpc.ServicerContext
    ) -> audit_pb2.ConsistencyProofResponse:
        current = self._store.audit.size()
        if not 0 < request.size1 <= request.size2 <= current:
            raise InputError(
                f"no consistency proof from {request.size1} to {request.size2} (log size {current})"
            )
        proof = self._store.audit.consistency_proof(request.size1, request.size2)
        return audit_pb2.ConsistencyProofResponse(hashes=proof)

    def ListCheckpoints(
        self, request: audit_pb2.ListCheckpointsRequest, context: grpc.ServicerContext
    ) -> audit_pb2.ListCheckpointsResponse:
        limit = _page(request.limit, 100)
        size = self._store.audit.size()
        rows = self._checkpoints.list(after_size=request.after_size, limit=limit + 1)
        return audit_pb2.ListCheckpointsResponse(
            checkpoints=[_checkpoint_entry(r) for r in rows[:limit]],
            tree_size=size,
            more=len(rows) > limit,
        )

    def SubjectAccess(
        self, request: audit_pb2.SubjectAccessRequest, context: grpc.ServicerContext
    ) -> audit_pb2.ListEventsResponse:
        self._check(request.subject, request.page_token)
        subject_type, key = normalise_subject(request.subject)
        shown = display_subject(subject_type.value, key)
        limit = _page(request.limit, 100)
        events = self._store.audit.events(
            AuditFilter(subject=shown), after=_after(request.page_token), limit=limit + 1
        )
        if not request.page_token:
            self._audit(current_principal(), "audit.subject_access", subject=shown, detail="report")
        return _events_page(events, limit)

    def GetSigningCertificates(
        self, request: audit_pb2.SigningCertificatesRequest, context: grpc.ServicerContext
    ) -> audit_pb2.SigningCertificatesResponse:
        witnesses = self._checkpoints.witness_certificates()
        return audit_pb2.SigningCertificatesResponse(
            node=audit_pb2.SigningCertificateChain(
                node_id=self._node_id, certificate_chain=self._signing_chain
            ),
            witnesses=[
                audit_pb2.SigningCertificateChain(node_id=w, certificate_chain=pem)
                for w, pem in sorted(witnesses.items())
            ],
        )


class WitnessServicer(audit_pb2_grpc.WitnessServicer):
    """The parent's side of checkpoint witnessing."""

    def __init__(self, witness: CheckpointWitness) -> None:
        self._witness = witness

    def Cosign(
        self, request: audit_pb2.CosignRequest, context: grpc.ServicerContext
    ) -> audit_pb2.CosignResponse:
        reply = self._witness.cosign(
            current_principal(),
            CosignRequest(
                checkpoint=request.checkpoint,
                old_size=request.old_size,
                proof=list(request.consistency_proof),
                certificate_chain=request.signing_certificate_chain,
            ),
        )
        return audit_pb2.CosignResponse(
            cosignature=reply.cosignature,
            witnessed_size=reply.witnessed_size,
            witness_certificate_chain=reply.certificate_chain,
        )
