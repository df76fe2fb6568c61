"""Epochs of an audit log: how a log that lost events its witness cosigned goes on.

A witness never cosigns a tree smaller than one it cosigned, nor another tree of
the same size (c2sp.org/tlog-witness). A node restored from a backup that lost
events its parent had cosigned can therefore never again grow a log its parent
accepts. Rather than fork silently, the log goes on as a **new epoch**, the way
a transparency log that lost its state is replaced by a new log with a new
origin:

- Epoch 1 is the log as it always was: checkpoint origin ``credit-gateway/<id>``.
  Epoch ``n >= 2`` signs its checkpoints under the origin
  ``credit-gateway/<id>/epoch/<n>``, with the same key (the key name stays the
  epoch-1 origin, so key lookup knows nothing of epochs). To a witness each
  epoch is a log of its own.
- The events stay one RFC 9162 tree from event 0: the surviving prefix, then
  the new events. An epoch change is an ``audit.incident`` event, recorded by
  the operator (``gateway audit incident``) after the parent's word showed the
  gap. It **opens** the epoch: every checkpoint whose tree holds the incident,
  and no later incident, is of the epoch it opens. Its detail cites the last
  checkpoint of the old epoch the parent cosigned (origin, size, root, the
  parent's cosignature) and the events lost (those from the size the restored
  log held up to the cited size)::

      epoch 2 opens after checkpoint 6 of credit-gateway/330500, root <hex>,
      cosigned by credit-gateway/330000 (<base64 cosignature>); the log holds
      4 events: events 4..5 lost; reason: <the operator's words>

- The parent cosigns the first checkpoint of epoch ``n`` only with the
  incident that opens it (:func:`check_epoch_opening`): its bytes, its index
  and an inclusion proof in that checkpoint; the incident must cite exactly the
  last checkpoint of epoch ``n - 1`` the parent cosigned, with a cosignature
  that verifies under the parent's key. Within the epoch, consistency is
  enforced as before. A node that restarts its log without such an incident
  (to hide events) is refused.
- An auditor's verification (``gateway.node.log_verify``) replays the events:
  every checkpoint must carry the origin of the epoch its tree is in, every
  incident must open the epoch after the one it cites, and each gap is
  reported: the checkpoint it rests on and the events lost.

Everything here is pure: bytes and domain objects in, results or errors out.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.core.audit import AuditEvent
from gateway.core.checkpoint import Checkpoint, CosignatureVerifier, verify_cosignature
from gateway.core.errors import EpochError, MalformedError, ProofError, SignatureError
from gateway.core.merkle import leaf_hash, verify_inclusion

__all__ = [
    "INCIDENT_ACTION",
    "EpochIncident",
    "check_epoch_opening",
    "epoch_of",
    "epoch_origin",
    "gap_citation",
    "lost_events",
    "note_origin",
]

INCIDENT_ACTION = "audit.incident"
"""The operator's record of a gap between the log and its parent's word; it opens an epoch."""

_MAX_EPOCH = 2**31 - 1
_EPOCH_SUFFIX = "/epoch/"
_DECIMAL = re.compile(r"[1-9][0-9]{0,9}")
_INCIDENT = re.compile(
    r"epoch (?P<epoch>[1-9][0-9]{0,9}) opens after checkpoint (?P<size>0|[1-9][0-9]{0,19}) "
    r"of (?P<origin>[^ ]+), root (?P<root>[0-9a-f]{64}), cosigned by (?P<witness>[^ ]+) "
    r"\((?P<cosignature>[A-Za-z0-9+/]+={0,2})\); the log holds (?P<held>0|[1-9][0-9]{0,19}) "
    r"events(?:: events [0-9]+\.\.[0-9]+ lost|; its first [0-9]+ are not those cosigned); "
    r"reason: (?P<reason>.*)",
    re.DOTALL,
)


def epoch_origin(base: str, epoch: int) -> str:
    """The checkpoint origin of epoch ``epoch`` of the log whose epoch-1 origin is ``base``.

    Raises:
        MalformedError: if ``epoch`` is not in ``[1, 2^31 - 1]``.
    """
    if not 1 <= epoch <= _MAX_EPOCH:
        raise MalformedError(f"log epoch {epoch} is outside [1, 2^31 - 1]")
    return base if epoch == 1 else f"{base}{_EPOCH_SUFFIX}{epoch}"


def epoch_of(origin: str, base: str) -> int:
    """The epoch a checkpoint origin names, for the log whose epoch-1 origin is ``base``.

    Raises:
        SignatureError: if ``origin`` is no epoch of that log (a checkpoint of another log).
    """
    if origin == base:
        return 1
    number = origin.removeprefix(base + _EPOCH_SUFFIX)
    if number != origin and _DECIMAL.fullmatch(number) and 2 <= int(number) <= _MAX_EPOCH:
        return int(number)
    raise SignatureError(f"checkpoint origin {origin!r} is not an epoch of log {base!r}")


def note_origin(note: str | bytes) -> str:
    """The first line of a checkpoint note, unverified, to choose the origin to verify it under.

    Only the first line is read, and at most 1 KiB of it; the signature check
    (:func:`gateway.core.checkpoint.open_checkpoint`) then binds that origin.
    """
    head = note[:1024]
    text = head.decode("utf-8", "replace") if isinstance(head, bytes) else head
    return text.split("\n", 1)[0]


def gap_citation(witness: str, checkpoint: Checkpoint) -> str:
    """How events name a cosigned checkpoint: size, origin, root and witness."""
    return (
        f"checkpoint {checkpoint.size} of {checkpoint.origin}, root {checkpoint.root.hex()}, "
        f"cosigned by {witness}"
    )


def lost_events(held: int, size: int) -> str:
    """Which events are lost when a log of ``held`` events lacks cosigned checkpoint ``size``."""
    if held < size:
        return f"the log holds {held} events: events {held}..{size - 1} lost"
    return f"the log holds {held} events; its first {size} are not those cosigned"


@dataclass(frozen=True, slots=True)
class EpochIncident:
    """What an ``audit.incident`` event says: the epoch it opens, after which checkpoint.

    Attributes:
        epoch: the epoch the incident opens (the cited checkpoint's epoch + 1).
        checkpoint: the last checkpoint of the closed epoch the witness cosigned.
        witness: the witness's cosignature name (its log origin).
        cosignature: the witness's cosignature line over ``checkpoint``, no newline.
        held: how many events the log held when the gap was recorded.
        reason: the operator's words.
    """

    epoch: int
    checkpoint: Checkpoint
    witness: str
    cosignature: str
    held: int
    reason: str

    def detail(self) -> str:
        """The event detail that states the incident (see the module docstring)."""
        signature = self.cosignature.removeprefix(f"— {self.witness} ")
        return (
            f"epoch {self.epoch} opens after {gap_citation(self.witness, self.checkpoint)} "
            f"({signature}); {self.lost()}; reason: {self.reason}"
        )

    def lost(self) -> str:
        """Which events of the closed epoch are lost."""
        return lost_events(self.held, self.checkpoint.size)

    @classmethod
    def parse(cls, detail: str) -> EpochIncident:
        """Read an incident event's detail strictly.

        Raises:
            MalformedError: if the detail is not an incident's statement.
        """
        found = _INCIDENT.fullmatch(detail)
        if found is None:
            raise MalformedError(f"incident detail {detail[:80]!r}... cites no checkpoint")
        witness, signature = found["witness"], found["cosignature"]
        try:
            base64.b64decode(signature, validate=True)
        except binascii.Error as exc:
            raise MalformedError("incident cosignature is not base64") from exc
        checkpoint = Checkpoint(found["origin"], int(found["size"]), bytes.fromhex(found["root"]))
        return cls(
            epoch=int(found["epoch"]),
            checkpoint=checkpoint,
            witness=witness,
            cosignature=f"— {witness} {signature}",
            held=int(found["held"]),
            reason=found["reason"],
        )

    def verify(self, base: str, witness_keys: Sequence[CosignatureVerifier]) -> None:
        """Check the incident against the log (epoch-1 origin ``base``) and its witness's keys.

        ``witness_keys`` are the witness's current key first, then the keys it
        used before renewals: the cited cosignature may predate a renewal.

        Raises:
            EpochError: the cited checkpoint is of another log, or the incident does not
                open the epoch after the cited checkpoint's, or names another witness.
            SignatureError: the cited cosignature verifies under none of ``witness_keys``
                (the current key's failure is named).
        """
        try:
            closed = epoch_of(self.checkpoint.origin, base)
        except SignatureError as exc:
            raise EpochError(f"the incident cites a checkpoint of another log: {exc}") from exc
        if self.epoch != closed + 1:
            raise EpochError(
                f"the incident opens epoch {self.epoch} after a checkpoint of epoch {closed}"
            )
        first: SignatureError | None = None
        for key in witness_keys:
            if self.witness != key.name:
                raise EpochError(f"the incident cites witness {self.witness}, not {key.name}")
            try:
                verify_cosignature(self.checkpoint.body(), self.cosignature, key)
            except (SignatureError, MalformedError) as exc:
                first = first or SignatureError(f"the cosignature the incident cites: {exc}")
            else:
                return
        if first is not None:
            raise first


def check_epoch_opening(
    *,
    base: str,
    node: str,
    previous: Checkpoint,
    new: Checkpoint,
    incident: bytes,
    index: int,
    proof: Sequence[bytes],
    witness_keys: Sequence[CosignatureVerifier],
) -> EpochIncident:
    """The witness's rule for the first checkpoint of a new epoch.

    ``previous`` is the last checkpoint the witness cosigned for the log (of
    the epoch before), exactly as it was cosigned; ``new`` the verified
    checkpoint of the next epoch; ``incident`` the bytes of event ``index``,
    proven included in ``new`` by ``proof``; ``witness_keys`` the witness's
    current key first, then the keys it used before renewals.

    Raises:
        EpochError: the checkpoint skips or reopens an epoch, comes with no
            incident, the event is not an incident of ``node``, or the incident
            cites another checkpoint than ``previous``.
        ProofError: the incident is not event ``index`` of ``new``.
        SignatureError: the cosignature the incident cites does not verify.
    """
    opened, closed = epoch_of(new.origin, base), epoch_of(previous.origin, base)
    if opened != closed + 1:
        raise EpochError(
            f"checkpoint {new.size} of epoch {opened} cannot follow epoch {closed}, "
            f"whose checkpoint {previous.size} is the last this witness cosigned"
        )
    cited = gap_citation(witness_keys[0].name, previous)
    if not incident:
        raise EpochError(
            f"epoch {opened} opens without an incident event citing {cited}: "
            "a log does not restart silently"
        )
    if not 0 <= index < new.size:
        raise ProofError(f"incident event {index} is outside checkpoint {new.size}")
    try:
        verify_inclusion(
            leaf_hash=leaf_hash(incident), index=index, size=new.size, proof=proof, root=new.root
        )
    except ProofError as exc:
        raise ProofError(
            f"the incident is not event {index} of checkpoint {new.size}: {exc}"
        ) from exc
    try:
        event = AuditEvent.from_bytes(incident)
        if event.action != INCIDENT_ACTION or event.node != node:
            raise EpochError(
                f"event {index} is {event.action} of {event.node}, not an incident of {node}"
            )
        stated = EpochIncident.parse(event.detail)
    except MalformedError as exc:
        raise EpochError(f"event {index} states no incident: {exc}") from exc
    if (stated.epoch, stated.checkpoint) != (opened, previous):
        raise EpochError(
            f"the incident opening epoch {stated.epoch} cites "
            f"{gap_citation(stated.witness, stated.checkpoint)}, not {cited}"
        )
    stated.verify(base, witness_keys)
    return stated
