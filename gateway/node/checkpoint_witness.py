"""The parent's witness of its children's audit logs (C2SP tlog-witness style).

:class:`CheckpointWitness` cosigns a child's checkpoint once it is consistent
with the last one the witness cosigned for that child, signed by a key the
directory lists in force for the child, and, for a new epoch after a restore,
opened by an incident event citing exactly the checkpoint the witness holds
(see :mod:`gateway.node.audit_log` for the log and its publisher).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import structlog
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection

from gateway.core.audit import AuditEvent, Decision, error_detail, event_by, mark_audited
from gateway.core.checkpoint import (
    Checkpoint,
    CosignatureVerifier,
    cosign,
    open_checkpoint,
    parse_checkpoint,
    witness_checkpoint,
)
from gateway.core.errors import (
    AccessDeniedError,
    EpochError,
    NotFoundError,
    ProofError,
    VerificationError,
)
from gateway.core.limits import DEFAULT_LIMITS, Limits
from gateway.core.log_epoch import check_epoch_opening, epoch_of, note_origin
from gateway.core.note import NoteVerifier
from gateway.core.principal import Principal, Role
from gateway.node.audit_log import (
    CosignReply,
    CosignRequest,
    WitnessStatement,
    log_origin,
    signing_key_from_chain,
)
from gateway.pki import parent_of, signing_kid
from gateway.store.audit import AuditLogRepository
from gateway.store.checkpoints import (
    WitnessedRow,
    WitnessRepository,
)
from gateway.store.writer import StoreWriter

__all__ = ["CheckpointWitness"]

log = structlog.get_logger("gateway.audit")

_MAX_INCIDENT_BYTES = 8 * 1024  # an event's fields are bounded; this bounds the bytes first


class CheckpointWitness:
    """Cosigns the checkpoints of this node's children, after checking consistency."""

    def __init__(
        self,
        *,
        node_id: str,
        signing_key: Ed25519PrivateKey,
        certificate_chain: bytes,
        root: x509.Certificate,
        witnessed: WitnessRepository,
        audit: AuditLogRepository,
        writer: StoreWriter,
        clock: Callable[[], int],
        limits: Limits = DEFAULT_LIMITS,
        key_check: Callable[[str, str], None] | None = None,
        retired_signing_keys: Sequence[Ed25519PublicKey] = (),
    ) -> None:
        self._node_id = node_id
        self._name = log_origin(node_id)
        self._key = signing_key
        # (child, key id) -> raises unless the directory lists the key in the child's key
        # history and in force now: a certificate the child's own CA made for a key it
        # never published cannot sign what this witness cosigns.
        self._key_check = key_check
        # This witness's own keys before its renewals: an incident opening a child's new
        # epoch may cite a cosignature made before the witness renewed its key.
        self._retired_keys = tuple(retired_signing_keys)
        self._chain = certificate_chain
        self._root = root
        self._witnessed = witnessed
        self._audit = audit
        self._writer = writer
        self._clock = clock
        self._limits = limits

    def cosign(self, principal: Principal, request: CosignRequest) -> CosignReply:
        """Cosign a child's checkpoint, or say which old size to prove from.

        Raises:
            AccessDeniedError: the caller is not a child of this node.
            LimitExceededError: the proof or certificate chain is too large.
            OutOfRangeError: a size beyond ``max_log_entries``.
            VerificationError: the certificate or note signature does not verify.
            ProofError: the checkpoint is inconsistent with the last one cosigned
                (audited as a denial and logged as an alarm).
        """
        child = principal.node_id
        if principal.role is not Role.NODE or parent_of(child) != self._node_id:
            raise AccessDeniedError(
                f"{principal.actor} is not a child node of {self._node_id}",
                rule="witness:not-a-child",
            )
        limits = self._limits
        limits.check_count("consistency proof hashes", len(request.proof), limits.max_proof_hashes)
        limits.check_count(
            "incident inclusion proof hashes", len(request.incident_proof), limits.max_proof_hashes
        )
        limits.check_bytes("incident event", len(request.incident), _MAX_INCIDENT_BYTES)
        now = self._clock()
        try:
            key = signing_key_from_chain(
                request.certificate_chain,
                root=self._root,
                node_id=child,
                at_time=dt.datetime.fromtimestamp(now, dt.UTC),
            )
            if self._key_check is not None:
                self._key_check(child, _leaf_kid(request.certificate_chain))
            # Any epoch of the child's log; the signature check binds the origin read here.
            base = log_origin(child)
            origin = note_origin(request.checkpoint)
            epoch_of(origin, base)
            checkpoint, note = open_checkpoint(
                request.checkpoint,
                [NoteVerifier.for_key(base, key)],
                origin=origin,
                limits=limits,
            )
            # open_checkpoint bounds the checkpoint's size; the old size is the request's.
            sizes = (("old size", request.old_size), ("incident index", request.incident_index))
            for name, value in sizes:
                limits.check_range(
                    name, value, 0, limits.max_log_entries, rule="limits:checkpoint-size"
                )
            return self._writer.submit(
                lambda conn: self._decide(
                    principal=principal,
                    request=request,
                    checkpoint=checkpoint,
                    body=note.body,
                    now=now,
                    conn=conn,
                )
            ).result()
        except VerificationError as exc:
            self._refused(principal, exc, now)
            raise

    def latest_cosigned(self, principal: Principal) -> WitnessStatement:
        """Cosign afresh the latest checkpoint cosigned for the calling child.

        The answer is the child's to relay to its auditors: a C2SP cosignature
        dated now, over the largest checkpoint this witness cosigned for it.
        This witness never cosigns a smaller checkpoint after a larger one
        (:func:`~gateway.core.checkpoint.witness_checkpoint`), so a recent
        cosignature can only name the latest; the child cannot make one.

        Raises:
            AccessDeniedError: the caller is not a child of this node.
            NotFoundError: no checkpoint of the caller was ever cosigned.
        """
        child = principal.node_id
        if principal.role is not Role.NODE or parent_of(child) != self._node_id:
            raise AccessDeniedError(
                f"{principal.actor} is not a child node of {self._node_id}",
                rule="witness:not-a-child",
            )
        last = self._witnessed.last(child)
        if last is None:
            raise NotFoundError(f"{self._node_id} has cosigned no checkpoint of {child}")
        body = last.note[: last.note.index("\n\n") + 1]
        line = cosign(body, self._name, self._key, self._clock())
        return WitnessStatement(last.note, line, self._chain)

    def _decide(
        self,
        *,
        principal: Principal,
        request: CosignRequest,
        checkpoint: Checkpoint,
        body: str,
        now: int,
        conn: Connection,
    ) -> CosignReply:
        # One writer job: the read of the last cosigned checkpoint and the new row
        # commit together, so two requests of one child cannot both pass the check.
        child = principal.node_id
        epoch = epoch_of(checkpoint.origin, log_origin(child))
        last = self._witnessed.last(child, conn=conn)
        last_epoch = last.epoch if last is not None else 1
        if epoch < last_epoch:
            raise EpochError(
                f"epoch {epoch} of {child}'s log is closed: this witness cosigns its epoch "
                f"{last_epoch}"
            )
        if epoch > last_epoch:
            if last is None:
                raise EpochError(
                    f"epoch {epoch} of {child}'s log cannot open: this witness cosigned "
                    "no checkpoint of it"
                )
            if request.old_size != 0:
                return CosignReply("", 0, self._chain)
            opened = check_epoch_opening(
                base=log_origin(child),
                node=child,
                previous=parse_checkpoint(last.note[: last.note.index("\n\n") + 1]),
                new=checkpoint,
                incident=request.incident,
                index=request.incident_index,
                proof=request.incident_proof,
                witness_keys=[
                    CosignatureVerifier.for_key(self._name, key)
                    for key in (self._key.public_key(), *self._retired_keys)
                ],
            )
            detail = (
                f"cosigned checkpoint {checkpoint.size} of {child}, opening epoch {epoch} "
                f"with incident event {request.incident_index} after checkpoint {last.size} "
                f"of epoch {last_epoch} ({opened.lost()})"
            )
            return self._cosigned(
                principal,
                checkpoint,
                request,
                body,
                now=now,
                epoch=epoch,
                conn=conn,
                rule="witness:epoch",
                detail=detail,
            )
        last_size = last.size if last is not None else 0
        if request.old_size != last_size:
            return CosignReply("", last_size, self._chain)
        previous = None if last is None else Checkpoint(checkpoint.origin, last.size, last.root)
        witness_checkpoint(previous, checkpoint, request.proof)
        if last is not None and last.size == checkpoint.size:
            return CosignReply(last.cosignature, last.size, self._chain)
        detail = f"cosigned checkpoint {checkpoint.size} of {child} (from {last_size})"
        return self._cosigned(
            principal,
            checkpoint,
            request,
            body,
            now=now,
            epoch=epoch,
            conn=conn,
            rule="witness:consistent",
            detail=detail,
        )

    def _cosigned(
        self,
        principal: Principal,
        checkpoint: Checkpoint,
        request: CosignRequest,
        body: str,
        *,
        now: int,
        epoch: int,
        conn: Connection,
        rule: str,
        detail: str,
    ) -> CosignReply:
        line = cosign(body, self._name, self._key, now)
        self._witnessed.add(
            WitnessedRow(
                principal.node_id,
                checkpoint.size,
                checkpoint.root,
                request.checkpoint,
                line,
                now,
                epoch=epoch,
            ),
            conn=conn,
        )
        self._audit.append(
            [
                _event(
                    principal,
                    node=self._node_id,
                    time=now,
                    decision=Decision.ALLOWED,
                    rule=rule,
                    detail=detail,
                )
            ],
            conn=conn,
        )
        return CosignReply(line, checkpoint.size, self._chain)

    def _refused(self, principal: Principal, exc: VerificationError, now: int) -> None:
        inconsistent = isinstance(exc, ProofError)
        rule = "witness:inconsistent-checkpoint" if inconsistent else "witness:unverified"
        if isinstance(exc, EpochError):
            rule = "witness:epoch-unopened"
        if inconsistent:
            log.error(
                "audit alarm: child presented an inconsistent checkpoint",
                child=principal.node_id,
                detail=str(exc),
            )
        else:
            log.warning("checkpoint refused", child=principal.node_id, detail=str(exc))
        event = _event(
            principal,
            node=self._node_id,
            time=now,
            decision=Decision.DENIED,
            rule=rule,
            detail=error_detail(exc),
        )
        self._audit.append([event])
        mark_audited(exc)


def _leaf_kid(pem: bytes) -> str:
    """The key id of the first certificate of a chain already checked by
    :func:`signing_key_from_chain`."""
    return signing_kid(x509.load_pem_x509_certificates(pem)[0])


def _event(
    principal: Principal, *, node: str, time: int, decision: Decision, rule: str, detail: str
) -> AuditEvent:
    return event_by(
        principal,
        node=node,
        time=time,
        action="witness.cosign",
        decision=decision,
        rule=rule,
        detail=detail,
    )
