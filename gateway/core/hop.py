"""Hop evidence: the sender's signed account of one batch pushed to a peer.

For every batch it pushes, a node signs one DSSE envelope whose payload names the
sender, the audience, a batch id, the sending time and the SHA-256 of each item exactly
as sent (an SD-JWT string in UTF-8, or a status statement envelope's JSON bytes), in
order. The receiver checks it against the mTLS peer and the items it received, and
keeps it as evidence of who handed it what.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.core.algorithms import Signer, Verifier
from gateway.core.digested import sha256_hex
from gateway.core.dsse import (
    Envelope,
    canonical_json,
    sign_envelope,
    verify_envelope,
)
from gateway.core.errors import ClockSkewError, MalformedError, SignatureError
from gateway.core.limits import DEFAULT_LIMITS, Limits
from gateway.core.payload_fields import (
    check_node_id,
    is_hex_id,
    is_sha256_hex,
    is_unix_time,
    parse_json_payload,
    payload_int,
    payload_str,
)

__all__ = [
    "HOP_PAYLOAD_TYPE",
    "HopBatch",
    "build_hop_batch",
    "item_digest",
    "sign_hop_batch",
    "verify_hop_batch",
]

HOP_PAYLOAD_TYPE = "application/vnd.credit-gateway.hop-batch+json"

_WHAT = "hop batch"
_KEYS = frozenset({"sender", "audience", "batch_id", "sent_at", "item_digests"})


def item_digest(item: bytes | str) -> str:
    """Lowercase hex SHA-256 of one item as sent; a string is hashed as UTF-8 (a
    :class:`~gateway.core.digested.DigestedText` gives the digest it took of itself)."""
    if isinstance(item, str):
        return sha256_hex(item)
    return hashlib.sha256(item).hexdigest()


@dataclass(frozen=True, slots=True)
class HopBatch:
    """The signed payload of one hop; the constructor validates every field.

    Attributes:
        sender: 6-digit node id of the pushing node.
        audience: 6-digit node id of the receiving node.
        batch_id: 32 lowercase hex characters (a UUID in hex), unique per batch.
        sent_at: Unix time in seconds when the batch was signed.
        item_digests: :func:`item_digest` of each item, in sending order; not empty.

    Raises:
        MalformedError: naming the field that is out of its domain.
    """

    sender: str
    audience: str
    batch_id: str
    sent_at: int
    item_digests: tuple[str, ...]

    def __post_init__(self) -> None:
        check_node_id(self.sender, what=_WHAT, key="sender")
        check_node_id(self.audience, what=_WHAT, key="audience")
        if not is_hex_id(self.batch_id):
            raise MalformedError(
                f"{_WHAT} key 'batch_id' is {self.batch_id[:40]!r}, not a 32-hex uuid"
            )
        if not is_unix_time(self.sent_at):
            raise MalformedError(f"{_WHAT} key 'sent_at' is {self.sent_at!r}, not a Unix time")
        if not self.item_digests:
            raise MalformedError(f"{_WHAT} has no items")
        for index, digest in enumerate(self.item_digests, start=1):
            if not is_sha256_hex(digest):
                raise MalformedError(f"{_WHAT} digest of item {index} is not lowercase hex SHA-256")

    def to_payload(self) -> bytes:
        """Canonical JSON (sorted keys, compact, UTF-8)."""
        return canonical_json(
            {
                "sender": self.sender,
                "audience": self.audience,
                "batch_id": self.batch_id,
                "sent_at": self.sent_at,
                "item_digests": list(self.item_digests),
            }
        )

    @classmethod
    def from_payload(cls, data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> HopBatch:
        """Parse a batch payload strictly: exactly the known keys, canonical form.

        Raises:
            LimitExceededError: more digests than ``limits.max_batch_records``.
            MalformedError: naming the key that is missing, unknown, mistyped or out of
                its domain, or saying the payload is not canonical.
        """
        obj = parse_json_payload(data, what=_WHAT, keys=_KEYS)
        digests = obj["item_digests"]
        if not isinstance(digests, list):
            raise MalformedError(f"{_WHAT} key 'item_digests' must be an array")
        limits.check_count(f"{_WHAT} items", len(digests), limits.max_batch_records)
        batch = cls(
            sender=payload_str(obj, "sender", _WHAT),
            audience=payload_str(obj, "audience", _WHAT),
            batch_id=payload_str(obj, "batch_id", _WHAT),
            sent_at=payload_int(obj, "sent_at", _WHAT, minimum=0),
            item_digests=tuple(digests),
        )
        if batch.to_payload() != data:
            raise MalformedError(f"{_WHAT} is not canonical JSON (sorted keys, compact, UTF-8)")
        return batch


def build_hop_batch(
    *, sender: str, audience: str, batch_id: str, sent_at: int, items: Sequence[bytes | str]
) -> HopBatch:
    """The batch for ``items`` exactly as they will be sent, in order.

    Raises:
        MalformedError: a field out of its domain, or no items.
    """
    return HopBatch(
        sender=sender,
        audience=audience,
        batch_id=batch_id,
        sent_at=sent_at,
        item_digests=tuple(item_digest(item) for item in items),
    )


def sign_hop_batch(batch: HopBatch, signer: Signer) -> Envelope:
    """Sign ``batch``'s canonical payload with the sender's key."""
    return sign_envelope(HOP_PAYLOAD_TYPE, batch.to_payload(), signer)


def verify_hop_batch(
    envelope: Envelope,
    *,
    resolve_key: Callable[[str], Verifier],
    expected_sender: str,
    expected_audience: str,
    items: Sequence[bytes | str],
    now: int,
    max_skew_s: int | None = None,
    sender_keyid: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> HopBatch:
    """Check a batch's hop evidence against the connection and the items received.

    Replay is not detected here: whether ``batch_id`` was seen before is state, and
    the store records and refuses seen batch ids (:class:`ReplayError`). The time
    window bounds how long the store must remember them.

    A batch signed for another sender or audience is refused as a
    :class:`SignatureError`, not a policy decision: the signature is valid but does
    not bind these bytes to this connection, so the evidence is worthless here (a
    batch relayed or replayed from another hop), whatever any policy says.

    Args:
        envelope: the batch envelope as received.
        resolve_key: maps a key id to a trusted verifier (see ``verify_envelope``).
        expected_sender: the node id of the mTLS peer.
        expected_audience: this node's id.
        items: the items as received, in order.
        now: the current Unix time in seconds.
        max_skew_s: how far ``sent_at`` may be from ``now``, either way
            (default ``limits.clock_skew_s``).
        sender_keyid: if given, the sender's signing key must have signed.
        limits: bounds the number of item digests.

    Raises:
        MalformedError: wrong payload type, or a malformed batch (no items, bad batch
            id, bad node id, ...), naming the key.
        AlgorithmError: a trusted key's algorithm is not allowed.
        SignatureError: the signature does not verify; the batch names another sender
            or audience; the item count or an item's digest does not match (naming the
            1-based item index).
        ClockSkewError: ``sent_at`` is more than ``max_skew_s`` away from ``now``.
        LimitExceededError: more digests than ``limits.max_batch_records``.
    """
    payload = verify_envelope(
        envelope,
        expected_type=HOP_PAYLOAD_TYPE,
        resolve_key=resolve_key,
        required_keyid=sender_keyid,
    )
    batch = HopBatch.from_payload(payload, limits=limits)
    if batch.sender != expected_sender:
        raise SignatureError(
            f"batch signed for sender {batch.sender} but the connection is from {expected_sender}"
        )
    if batch.audience != expected_audience:
        raise SignatureError(
            f"batch is addressed to {batch.audience} but this node is {expected_audience}"
        )
    allowed = limits.clock_skew_s if max_skew_s is None else max_skew_s
    skew = batch.sent_at - now
    if abs(skew) > allowed:
        direction = "ahead of" if skew > 0 else "behind"
        raise ClockSkewError(
            f"batch sent_at {batch.sent_at} is {abs(skew)} s {direction} now ({now}),"
            f" over the allowed skew of {allowed} s"
        )
    if len(items) != len(batch.item_digests):
        raise SignatureError(
            f"batch signs {len(batch.item_digests)} items but {len(items)} were received"
        )
    for index, (item, digest) in enumerate(zip(items, batch.item_digests, strict=True), start=1):
        if item_digest(item) != digest:
            raise SignatureError(f"digest mismatch for item {index}")
    return batch
