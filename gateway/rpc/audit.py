"""Audit and Witness servicers: protobuf in, one use case, protobuf out.

The Audit service (auditors only) is :class:`~gateway.node.audit_queries.AuditQueries`;
the Witness service is :class:`~gateway.node.checkpoint_witness.CheckpointWitness`.
"""

from __future__ import annotations

from dataclasses import asdict

import grpc
from cryptography.hazmat.primitives.serialization import Encoding

from gateway._proto.v1 import audit_pb2, audit_pb2_grpc
from gateway.core.errors import InputError
from gateway.core.limits import Limits
from gateway.node.audit_log import CosignRequest, WitnessStatement
from gateway.node.audit_queries import AuditQueries, EventsPage
from gateway.node.checkpoint_witness import CheckpointWitness
from gateway.pki import NodeCredentials
from gateway.rpc.context import current_principal
from gateway.store import AuditFilter
from gateway.store.checkpoints import CheckpointRow

__all__ = ["AuditServicer", "WitnessServicer", "retired_chains_pem", "signing_chain_pem"]


def signing_chain_pem(creds: NodeCredentials) -> bytes:
    """The node's signing certificate then its CA chain, PEM (root excluded)."""
    return b"".join(c.public_bytes(Encoding.PEM) for c in (creds.signing_cert, *creds.chain))


def retired_chains_pem(creds: NodeCredentials) -> list[bytes]:
    """Each retired signing certificate of the node then its CA chain, PEM (root excluded)."""
    return [
        b"".join(c.public_bytes(Encoding.PEM) for c in (r.certificate, *(r.chain or creds.chain)))
        for r in creds.retired_signing
    ]


def _events_to_proto(page: EventsPage) -> audit_pb2.ListEventsResponse:
    return audit_pb2.ListEventsResponse(
        events=[audit_pb2.LogEntry(seq=e.seq, event=e.data) for e in page.events],
        next_page_token=page.next_page_token,
    )


def _statement_to_proto(statement: WitnessStatement) -> audit_pb2.WitnessStatement:
    return audit_pb2.WitnessStatement(
        checkpoint=statement.checkpoint,
        cosignature=statement.cosignature,
        witness_certificate_chain=statement.certificate_chain,
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

    def __init__(self, queries: AuditQueries, limits: Limits) -> None:
        self._queries = queries
        self._limits = limits

    def _check(self, *values: str) -> None:
        for value in values:
            if len(value) > self._limits.max_string_chars:
                raise InputError(f"a request string is {len(value)} characters, over the limit")

    def ListEvents(
        self, request: audit_pb2.ListEventsRequest, context: grpc.ServicerContext
    ) -> audit_pb2.ListEventsResponse:
        self._check(request.actor, request.action, request.subject, request.page_token)
        where = AuditFilter(
            since=request.since if request.HasField("since") else None,
            until=request.until if request.HasField("until") else None,
            actor=request.actor,
            action=request.action,
            subject=request.subject,
            decision=request.decision,
        )
        page = self._queries.list_events(
            current_principal(), where, page_token=request.page_token, limit=request.limit
        )
        return _events_to_proto(page)

    def GetEntries(
        self, request: audit_pb2.GetEntriesRequest, context: grpc.ServicerContext
    ) -> audit_pb2.GetEntriesResponse:
        page = self._queries.entries(current_principal(), start=request.start, limit=request.limit)
        return audit_pb2.GetEntriesResponse(
            entries=[
                audit_pb2.LogEntry(
                    seq=leaf.seq,
                    event=leaf.data,
                    indexed=audit_pb2.IndexedColumns(**asdict(leaf.indexed)),
                )
                for leaf in page.entries
            ],
            tree_size=page.tree_size,
        )

    def GetInclusionProof(
        self, request: audit_pb2.InclusionProofRequest, context: grpc.ServicerContext
    ) -> audit_pb2.InclusionProofResponse:
        proof = self._queries.inclusion_proof(seq=request.seq, size=request.size)
        return audit_pb2.InclusionProofResponse(
            seq=proof.seq,
            size=proof.size,
            hashes=proof.hashes,
            event=proof.event,
            checkpoint=proof.checkpoint,
        )

    def GetConsistencyProof(
        self, request: audit_pb2.ConsistencyProofRequest, context: grpc.ServicerContext
    ) -> audit_pb2.ConsistencyProofResponse:
        hashes = self._queries.consistency_proof(request.size1, request.size2)
        return audit_pb2.ConsistencyProofResponse(hashes=hashes)

    def ListCheckpoints(
        self, request: audit_pb2.ListCheckpointsRequest, context: grpc.ServicerContext
    ) -> audit_pb2.ListCheckpointsResponse:
        page = self._queries.checkpoints(after_size=request.after_size, limit=request.limit)
        return audit_pb2.ListCheckpointsResponse(
            checkpoints=[_checkpoint_entry(r) for r in page.checkpoints],
            tree_size=page.tree_size,
            more=page.more,
        )

    def SubjectAccess(
        self, request: audit_pb2.SubjectAccessRequest, context: grpc.ServicerContext
    ) -> audit_pb2.ListEventsResponse:
        self._check(request.subject, request.page_token)
        page = self._queries.subject_access(
            current_principal(), request.subject, page_token=request.page_token, limit=request.limit
        )
        return _events_to_proto(page)

    def GetSigningCertificates(
        self, request: audit_pb2.SigningCertificatesRequest, context: grpc.ServicerContext
    ) -> audit_pb2.SigningCertificatesResponse:
        found = self._queries.signing_certificates()
        return audit_pb2.SigningCertificatesResponse(
            node=audit_pb2.SigningCertificateChain(
                node_id=found.node_id,
                certificate_chain=found.certificate_chain,
                retired_certificate_chains=list(found.retired_chains),
            ),
            witnesses=[
                audit_pb2.SigningCertificateChain(
                    node_id=w,
                    certificate_chain=pem,
                    retired_certificate_chains=list(found.witness_retired.get(w, ())),
                )
                for w, pem in found.witnesses
            ],
        )

    def GetWitnessStatement(
        self, request: audit_pb2.WitnessStatementRequest, context: grpc.ServicerContext
    ) -> audit_pb2.WitnessStatement:
        return _statement_to_proto(self._queries.witness_statement())


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
                incident=request.incident_event,
                incident_index=request.incident_index,
                incident_proof=list(request.incident_inclusion_proof),
            ),
        )
        return audit_pb2.CosignResponse(
            cosignature=reply.cosignature,
            witnessed_size=reply.witnessed_size,
            witness_certificate_chain=reply.certificate_chain,
        )

    def LatestCosigned(
        self, request: audit_pb2.WitnessStatementRequest, context: grpc.ServicerContext
    ) -> audit_pb2.WitnessStatement:
        return _statement_to_proto(self._witness.latest_cosigned(current_principal()))
