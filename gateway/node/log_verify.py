"""Verifying an audit log as an auditor does: checkpoints, proofs, the witness's word, columns.

:func:`verify_log` replays the events the node serves against its published
checkpoints, checks each checkpoint's consistency with the previous one and the
parent's cosignatures, the indexed columns against the signed events, and a
fresh witness statement (:func:`open_witness_statement`) so that a log rolled
back behind what the parent cosigned fails.

Epochs (:mod:`gateway.core.log_epoch`): the replay follows the log's epochs.
Each ``audit.incident`` event opens the epoch after the checkpoint it cites,
whose cosignature must verify under the witness's key; each checkpoint must
carry the origin of the epoch its events are in, so a log that changes epoch
without an incident fails. Every epoch change is reported as a gap
(:class:`EpochGap`): the cosigned checkpoint it rests on and the events lost.
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
    EpochError,
    ExpiredError,
    GatewayError,
    MalformedError,
    ProofError,
    VerificationError,
)
from gateway.core.limits import DEFAULT_LIMITS, Limits
from gateway.core.log_epoch import (
    INCIDENT_ACTION,
    EpochIncident,
    epoch_of,
    gap_citation,
    note_origin,
)
from gateway.core.merkle import MerkleTree, leaf_hash, verify_consistency, verify_inclusion
from gateway.core.note import NoteVerifier
from gateway.node.audit_log import WitnessStatement
from gateway.store.audit import IndexedColumns

__all__ = [
    "EpochGap",
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
    """A verified witness statement: the checkpoint the parent vouches for, and when.

    ``cosignature`` is the statement's cosignature line (no newline).
    """

    witness: str
    checkpoint: Checkpoint
    cosigned_at: int
    cosignature: str


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
    ``origin`` is the log's epoch-1 origin; the statement's checkpoint may be of any epoch.

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
        cited = note_origin(statement.checkpoint)
        epoch_of(cited, origin)
        checkpoint, note = open_checkpoint(
            statement.checkpoint, [log_key, *retired_log_keys], origin=cited, limits=limits
        )
        cosig = verify_cosignature(
            note.body, statement.cosignature, witness, now=now, skew_s=skew_s
        )
    except VerificationError as exc:
        raise type(exc)(f"{what}: {exc}") from exc
    age = now - cosig.timestamp
    if age > max_age_s:
        raise ExpiredError(f"{what} is {age} s old, over the {max_age_s} s allowed")
    line = statement.cosignature.removesuffix("\n")
    return WitnessedHead(witness.name, checkpoint, cosig.timestamp, line)


@dataclass(frozen=True, slots=True)
class EpochGap:
    """A change of epoch: event ``seq`` (by ``actor``) opens ``incident.epoch``.

    The incident cites the last checkpoint of the epoch before that the
    witness cosigned (its cosignature verified) and the events lost.
    """

    seq: int
    actor: str
    incident: EpochIncident

    def describe(self) -> str:
        """One line for the auditor: where the epoch opens, what it rests on, what was lost."""
        incident = self.incident
        return (
            f"epoch {incident.epoch} opens at event {self.seq} ({self.actor}) after "
            f"{gap_citation(incident.witness, incident.checkpoint)}: {incident.lost()}; "
            f"reason: {incident.reason}"
        )


@dataclass(frozen=True, slots=True)
class LogReport:
    """What :func:`verify_log` proved; ``gaps`` lists every change of epoch, oldest first."""

    events: int
    checkpoints: int
    signed_size: int
    witnessed_size: int
    cosignatures: int
    epoch: int = 1
    gaps: tuple[EpochGap, ...] = ()


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
    """Prove offline that a log is intact: events, checkpoints, cosignatures and epochs.

    Recomputes the RFC 9162 tree from the events' exact bytes; checks each
    checkpoint's signature, that its root is the recomputed root at its size,
    that consecutive checkpoints are consistent, and each cosignature by
    ``witness``. When a checkpoint's root differs, ``inclusion(seq, size)``
    (the node's proofs, untrusted) locates the altered event: an untouched
    event still proves against the signed root, an altered one cannot.
    ``indexed`` (the columns stored beside each event) must say what the event
    says, or listings and subject access reports would show another log.
    ``witnessed_head`` (the parent's verified statement) must be a prefix of
    the log: a log behind it was rolled back. ``origin`` is the log's epoch-1
    origin: each checkpoint must carry the origin of its events' epoch. A
    checkpoint may be signed by ``log_key`` or, from before a renewal, by one
    of ``retired_log_keys``; a cosignature by ``witness`` or one of its
    ``retired_witness_keys``.

    Raises:
        ProofError: naming the first missing or altered event or indexed
            column, the first checkpoint the events contradict, a log behind
            or beside the checkpoint its witness last cosigned; or, with a
            ``witness``, when no checkpoint carries its cosignature.
        EpochError: a checkpoint of an epoch no incident opened (or of an
            epoch already closed), or an incident that does not follow the
            log's epoch.
        MalformedError: naming the first event that is not a canonical audit event.
        SignatureError: naming the first checkpoint or cosignature that does not
            verify, or an incident citing a cosignature that does not.
    """
    keys = [witness, *retired_witness_keys] if witness is not None else []
    replay = _Replay(origin, entries, indexed, keys)
    tree = replay.tree
    previous: Checkpoint | None = None
    witnessed = cosignatures = 0
    for published in sorted(checkpoints, key=lambda c: c.size):
        what = f"checkpoint {published.size}"
        try:
            named = note_origin(published.note)
            epoch = epoch_of(named, origin)
            checkpoint, note = open_checkpoint(
                published.note, [log_key, *retired_log_keys], origin=named, limits=limits
            )
        except VerificationError as exc:
            raise type(exc)(f"{what}: {exc}") from exc
        if checkpoint.size != published.size:
            raise MalformedError(f"{what}: its note says size {checkpoint.size}")
        replay.extend(checkpoint.size)
        if tree.root(checkpoint.size) != checkpoint.root:
            _locate(entries, previous, checkpoint, inclusion)
        replay.check_epoch(checkpoint, epoch)
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
    replay.extend(len(entries))
    if witness is not None and previous is not None and not cosignatures:
        raise ProofError(f"no checkpoint carries a cosignature by witness {witness.name}")
    if witnessed_head is not None:
        _check_head(tree, witnessed_head, replay.gaps)
    return LogReport(
        events=tree.size,
        checkpoints=len(checkpoints),
        signed_size=previous.size if previous is not None else 0,
        witnessed_size=witnessed,
        cosignatures=cosignatures,
        epoch=replay.epoch,
        gaps=tuple(replay.gaps),
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


class _Replay:
    """The events appended one by one: the tree, the epoch they are in, its changes."""

    def __init__(
        self,
        origin: str,
        entries: Sequence[tuple[int, bytes]],
        indexed: Mapping[int, IndexedColumns] | None,
        witness_keys: Sequence[CosignatureVerifier],
    ) -> None:
        self.tree = MerkleTree()
        self.epoch = 1
        self.gaps: list[EpochGap] = []
        self._origin = origin
        self._entries = entries
        self._indexed = indexed
        self._witness_keys = witness_keys

    def extend(self, size: int) -> None:
        """Append entries up to ``size``, naming the first event missing, malformed or out of
        epoch."""
        for index in range(self.tree.size, size):
            if index >= len(self._entries) or self._entries[index][0] != index:
                raise ProofError(f"event {index} is missing from the log")
            data = self._entries[index][1]
            try:
                event = AuditEvent.from_bytes(data)
            except MalformedError as exc:
                raise MalformedError(f"event {index} was altered: {exc}") from exc
            if self._indexed is not None:
                _check_columns(index, event, self._indexed.get(index))
            if event.action == INCIDENT_ACTION:
                self._open(index, event)
            self.tree.append(data)

    def check_epoch(self, checkpoint: Checkpoint, epoch: int) -> None:
        """A checkpoint must carry the origin of the epoch its events are in."""
        if epoch == self.epoch:
            return
        if epoch > self.epoch:
            raise EpochError(
                f"checkpoint {checkpoint.size} is of epoch {epoch}, but no incident event "
                f"opens epoch {epoch} in its events: the log restarted without an incident"
            )
        raise EpochError(
            f"checkpoint {checkpoint.size} is of epoch {epoch}, but its events are in "
            f"epoch {self.epoch}"
        )

    def _open(self, index: int, event: AuditEvent) -> None:
        try:
            incident = EpochIncident.parse(event.detail)
        except MalformedError as exc:
            raise EpochError(f"event {index}: {exc}") from exc
        closed = incident.epoch - 1
        if closed < self.epoch:
            raise EpochError(
                f"event {index}: the incident opens epoch {incident.epoch}, but the log is "
                f"already in epoch {self.epoch}"
            )
        if self._witness_keys:
            # The cited cosignature may be by a key the witness has since renewed.
            try:
                incident.verify(self._origin, self._witness_keys)
            except VerificationError as exc:
                raise type(exc)(f"event {index}: {exc}") from exc
        self.epoch = incident.epoch
        self.gaps.append(EpochGap(index, event.actor, incident))


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


def _check_head(tree: MerkleTree, head: WitnessedHead, gaps: Sequence[EpochGap]) -> None:
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
    raise ProofError(problem + _incident_of(head, gaps))


def _incident_of(head: WitnessedHead, gaps: Sequence[EpochGap]) -> str:
    """Where the operator recorded this gap (see :mod:`gateway.node.audit_gap`), if they did."""
    for gap in reversed(gaps):
        if gap.incident.checkpoint == head.checkpoint:
            return (
                f" (recorded as an incident at event {gap.seq} by {gap.actor}; its witness has "
                f"not yet cosigned epoch {gap.incident.epoch})"
            )
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
