"""Verifying an audit log as an auditor does: checkpoints, proofs, the witness's word, columns.

:func:`verify_log` replays the events the node serves against its published
checkpoints, checks each checkpoint's consistency with the previous one and the
parent's cosignatures, the indexed columns against the signed events, and a
fresh witness statement (:func:`open_witness_statement`) so that a log rolled
back behind what the parent cosigned fails.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from gateway.core.audit import AuditEvent
from gateway.core.checkpoint import (
    Checkpoint,
    CosignatureVerifier,
    open_checkpoint,
    verify_cosignature,
)
from gateway.core.errors import (
    ExpiredError,
    GatewayError,
    MalformedError,
    ProofError,
    VerificationError,
)
from gateway.core.limits import DEFAULT_LIMITS, Limits
from gateway.core.merkle import MerkleTree, leaf_hash, verify_consistency, verify_inclusion
from gateway.core.note import NoteVerifier
from gateway.node.audit_log import INCIDENT_ACTION, WitnessStatement, checkpoint_citation
from gateway.store.audit import IndexedColumns

__all__ = [
    "LogReport",
    "PublishedCheckpoint",
    "WitnessedHead",
    "open_witness_statement",
    "verify_log",
]


@dataclass(frozen=True, slots=True)
class PublishedCheckpoint:
    """A checkpoint as an auditor fetched it: the signed note and its cosignature lines."""

    size: int
    note: str
    cosignatures: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WitnessedHead:
    """A verified witness statement: the checkpoint the parent vouches for, and when."""

    witness: str
    checkpoint: Checkpoint
    cosigned_at: int


def open_witness_statement(
    statement: WitnessStatement,
    *,
    origin: str,
    log_key: NoteVerifier,
    witness: CosignatureVerifier,
    now: int,
    max_age_s: int,
    skew_s: int = DEFAULT_LIMITS.clock_skew_s,
    limits: Limits = DEFAULT_LIMITS,
    retired_log_keys: Sequence[NoteVerifier] = (),
) -> WitnessedHead:
    """Check the parent's statement: the log's signature, the witness's, and its age.

    ``retired_log_keys`` are the node's signing keys before its renewals: the
    checkpoint the parent last cosigned may be signed by one of them.

    Raises:
        ProofError: the node relayed no statement.
        SignatureError, MalformedError: the checkpoint or cosignature does not verify.
        ExpiredError: the cosignature is older than ``max_age_s`` (a stale
            statement may predate later checkpoints), or dated in the future.
    """
    if not statement.checkpoint or not statement.cosignature:
        raise ProofError(f"the node relayed no statement of its witness {witness.name}")
    what = f"the statement of witness {witness.name}"
    try:
        checkpoint, note = open_checkpoint(
            statement.checkpoint, [log_key, *retired_log_keys], origin=origin, limits=limits
        )
        cosig = verify_cosignature(
            note.body, statement.cosignature, witness, now=now, skew_s=skew_s
        )
    except VerificationError as exc:
        raise type(exc)(f"{what}: {exc}") from exc
    age = now - cosig.timestamp
    if age > max_age_s:
        raise ExpiredError(f"{what} is {age} s old, over the {max_age_s} s allowed")
    return WitnessedHead(witness.name, checkpoint, cosig.timestamp)


@dataclass(frozen=True, slots=True)
class LogReport:
    """What :func:`verify_log` proved."""

    events: int
    checkpoints: int
    signed_size: int
    witnessed_size: int
    cosignatures: int


def verify_log(
    *,
    origin: str,
    log_key: NoteVerifier,
    witness: CosignatureVerifier | None,
    checkpoints: Sequence[PublishedCheckpoint],
    entries: Sequence[tuple[int, bytes]],
    inclusion: Callable[[int, int], Sequence[bytes]] | None = None,
    indexed: Mapping[int, IndexedColumns] | None = None,
    witnessed_head: WitnessedHead | None = None,
    limits: Limits = DEFAULT_LIMITS,
    retired_log_keys: Sequence[NoteVerifier] = (),
    retired_witness_keys: Sequence[CosignatureVerifier] = (),
) -> LogReport:
    """Prove offline that a log is intact: events, checkpoints and cosignatures.

    Recomputes the RFC 9162 tree from the events' exact bytes; checks each
    checkpoint's signature, that its root is the recomputed root at its size,
    that consecutive checkpoints are consistent, and each cosignature by
    ``witness``. When a checkpoint's root differs, ``inclusion(seq, size)``
    (the node's proofs, untrusted) locates the altered event: an untouched
    event still proves against the signed root, an altered one cannot.
    ``indexed`` (the columns stored beside each event) must say what the event
    says, or listings and subject access reports would show another log.
    ``witnessed_head`` (the parent's verified statement) must be a prefix of
    the log: a log behind it was rolled back. A checkpoint may be signed by
    ``log_key`` or, from before a renewal, by one of ``retired_log_keys``; a
    cosignature by ``witness`` or one of its ``retired_witness_keys``.

    Raises:
        ProofError: naming the first missing or altered event or indexed
            column, the first checkpoint the events contradict, a log behind
            or beside the checkpoint its witness last cosigned; or, with a
            ``witness``, when no checkpoint carries its cosignature.
        MalformedError: naming the first event that is not a canonical audit event.
        SignatureError: naming the first checkpoint or cosignature that does not verify.
    """
    tree = MerkleTree()
    previous: Checkpoint | None = None
    witnessed = cosignatures = 0
    for published in sorted(checkpoints, key=lambda c: c.size):
        what = f"checkpoint {published.size}"
        try:
            checkpoint, note = open_checkpoint(
                published.note, [log_key, *retired_log_keys], origin=origin, limits=limits
            )
        except VerificationError as exc:
            raise type(exc)(f"{what}: {exc}") from exc
        if checkpoint.size != published.size:
            raise MalformedError(f"{what}: its note says size {checkpoint.size}")
        _extend(tree, entries, checkpoint.size, indexed)
        if tree.root(checkpoint.size) != checkpoint.root:
            _locate(entries, previous, checkpoint, inclusion)
        if previous is not None and previous.size > 0:
            proof = tree.consistency_proof(previous.size, checkpoint.size)
            verify_consistency(
                size1=previous.size,
                size2=checkpoint.size,
                proof=proof,
                root1=previous.root,
                root2=checkpoint.root,
            )
        for line in published.cosignatures:
            if witness is None or not line.startswith(f"— {witness.name} "):
                continue
            try:
                _verify_by_any(note.body, line, [witness, *retired_witness_keys])
            except VerificationError as exc:
                raise type(exc)(f"{what}: {exc}") from exc
            witnessed, cosignatures = checkpoint.size, cosignatures + 1
        previous = checkpoint
    _extend(tree, entries, len(entries), indexed)
    if witness is not None and previous is not None and not cosignatures:
        raise ProofError(f"no checkpoint carries a cosignature by witness {witness.name}")
    if witnessed_head is not None:
        _check_head(tree, witnessed_head, entries)
    return LogReport(
        events=tree.size,
        checkpoints=len(checkpoints),
        signed_size=previous.size if previous is not None else 0,
        witnessed_size=witnessed,
        cosignatures=cosignatures,
    )


def _verify_by_any(body: str, line: str, keys: Sequence[CosignatureVerifier]) -> None:
    """Verify a cosignature by the witness's current key or one it used before a renewal.

    Raises:
        VerificationError: as the current key's verification, if no key verifies it.
    """
    first: VerificationError | None = None
    for key in keys:
        try:
            verify_cosignature(body, line, key)
        except VerificationError as exc:
            first = first or exc
        else:
            return
    assert first is not None
    raise first


def _extend(
    tree: MerkleTree,
    entries: Sequence[tuple[int, bytes]],
    size: int,
    indexed: Mapping[int, IndexedColumns] | None,
) -> None:
    """Append entries up to ``size``, naming the first event that is missing or malformed."""
    for index in range(tree.size, size):
        if index >= len(entries) or entries[index][0] != index:
            raise ProofError(f"event {index} is missing from the log")
        data = entries[index][1]
        try:
            event = AuditEvent.from_bytes(data)
        except MalformedError as exc:
            raise MalformedError(f"event {index} was altered: {exc}") from exc
        if indexed is not None:
            _check_columns(index, event, indexed.get(index))
        tree.append(data)


def _check_columns(index: int, event: AuditEvent, stored: IndexedColumns | None) -> None:
    if stored is None:
        raise ProofError(f"event {index} was served without its indexed columns")
    expected = IndexedColumns.of(event)
    for name in ("time", "actor", "action", "decision", "subject"):
        found, signed = getattr(stored, name), getattr(expected, name)
        if found != signed:
            raise ProofError(
                f"event {index}: its indexed {name} column says {found!r}, "
                f"its signed bytes say {signed!r}"
            )


def _check_head(
    tree: MerkleTree, head: WitnessedHead, entries: Sequence[tuple[int, bytes]]
) -> None:
    size = head.checkpoint.size
    vouched = f"checkpoint {size} that its witness {head.witness} cosigned"
    if tree.size < size:
        problem = f"the log holds {tree.size} events, behind {vouched}: it was rolled back"
    elif tree.root(size) != head.checkpoint.root:
        problem = (
            f"the log's first {size} events are not those of {vouched}: "
            "it was rolled back and rewritten"
        )
    else:
        return
    raise ProofError(problem + _incident_of(head, entries))


def _incident_of(head: WitnessedHead, entries: Sequence[tuple[int, bytes]]) -> str:
    """Where the operator recorded this gap (see :mod:`gateway.node.audit_gap`), if they did."""
    cited = checkpoint_citation(head.witness, head.checkpoint) + ";"
    for seq, data in reversed(entries):
        event = AuditEvent.from_bytes(data)
        if event.action == INCIDENT_ACTION and event.detail.startswith(cited):
            return f" (recorded as an incident at event {seq} by {event.actor})"
    return ""


def _locate(
    entries: Sequence[tuple[int, bytes]],
    previous: Checkpoint | None,
    checkpoint: Checkpoint,
    inclusion: Callable[[int, int], Sequence[bytes]] | None,
) -> None:
    start = previous.size if previous is not None else 0
    what = f"checkpoint {checkpoint.size}"
    span = f"events {start}..{checkpoint.size - 1}"
    if inclusion is not None:
        unproven = []
        for seq in range(start, checkpoint.size):
            try:
                verify_inclusion(
                    leaf_hash=leaf_hash(entries[seq][1]),
                    index=seq,
                    size=checkpoint.size,
                    proof=inclusion(seq, checkpoint.size),
                    root=checkpoint.root,
                )
            except GatewayError:
                unproven.append(seq)
        if unproven and (len(unproven) < checkpoint.size - start or len(unproven) == 1):
            raise ProofError(f"event {unproven[0]} was altered: its bytes are not in signed {what}")
    raise ProofError(
        f"{what} does not match {span} as stored: an event among them was altered "
        "and the stored tree rewritten"
    )
