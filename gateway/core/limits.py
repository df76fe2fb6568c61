"""Explicit limits on every untrusted input, in one place.

Every size and count that a remote party controls is bounded here and checked
*before* parsing. Limits are configuration, not constants: a node may tighten
them in its config file.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.errors import LimitExceededError, OutOfRangeError

__all__ = ["DEFAULT_LIMITS", "Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on untrusted input. Field names carry their unit."""

    max_record_bytes: int = 64 * 1024
    """One SD-JWT in compact serialisation, with all its disclosures."""
    max_disclosures_per_record: int = 128
    """Selective disclosures carried by one record."""
    max_sd_digests_per_record: int = 256
    """Digests in one record's ``_sd`` arrays, decoys included."""
    max_field_chars: int = 4000
    """One field value of a submitted record."""
    max_fields_per_record: int = 96
    """Fields of one submitted record."""
    max_batch_records: int = 2000
    """Records in one submitted, pushed or pulled batch."""
    max_batch_bytes: int = 8 * 1024 * 1024
    """Encoded size of one batch of records."""
    max_stream_records: int = 1_000_000
    """Records in one streaming call, over all its batches."""
    max_message_bytes: int = 16 * 1024 * 1024
    """gRPC receive limit; must exceed max_batch_bytes plus envelope overhead."""
    max_envelope_bytes: int = 16 * 1024 * 1024
    """One signed envelope (DSSE) between nodes, payload included."""
    max_signatures_per_envelope: int = 8
    """Signatures on one envelope."""
    max_proof_hashes: int = 128
    """Hashes in one Merkle inclusion or consistency proof."""
    max_note_bytes: int = 16 * 1024
    """One signed checkpoint note of an audit log."""
    max_string_chars: int = 256
    """Identifiers, names, purposes and other short strings in requests."""
    clock_skew_s: int = 300
    """How far a signed time may be from this node's clock and still be accepted: a
    record's ``iat``/``nbf``/``exp``, a hop batch's ``sent_at``, a cosignature's time and
    the directory's expiry. Nodes' clocks drift; beyond this a refusal is retried."""
    max_record_id_chars: int = 40
    """A record id in a signed record, statement or message (the store's record id column)."""
    max_actor_chars: int = 160
    """Who acted, as a signed message names them (a department, an objection's filer)."""
    max_text_chars: int = 2000
    """Free text in a signed payload: a statement's reason, an objection's grounds, a note."""
    max_record_version: int = 1_000_000
    """Versions of one record: each correction adds one; far below every column and
    wire field (``uint32``) that carries a version."""
    max_unix_time_s: int = 253_402_300_799
    """Times in signed payloads (``iat``, ``exp``, ``issued_at``): 9999-12-31T23:59:59Z,
    the last second every date library can represent."""
    max_log_entries: int = 2**53
    """Positions and sizes of an audit log (checkpoint sizes, the first entry asked for):
    far beyond any real log, within every integer column and a JSON number's exact range."""

    def check_bytes(self, what: str, size: int, limit: int) -> None:
        """Raise if ``size`` exceeds ``limit``.

        Raises:
            LimitExceededError: naming ``what``, the size and the limit.
        """
        if size > limit:
            raise LimitExceededError(f"{what} is {size} bytes, over the limit of {limit}")

    def check_count(self, what: str, count: int, limit: int) -> None:
        """Raise if ``count`` exceeds ``limit``.

        Raises:
            LimitExceededError: naming ``what``, the count and the limit.
        """
        if count > limit:
            raise LimitExceededError(f"{what}: {count} is over the limit of {limit}")

    def check_range(self, what: str, value: int, minimum: int, maximum: int, *, rule: str) -> None:
        """Raise if ``value`` is outside ``minimum..maximum``.

        Raises:
            OutOfRangeError: naming ``what``, the value and the range; ``rule`` for the audit.
        """
        if not minimum <= value <= maximum:
            raise OutOfRangeError(f"{what} is {value}, outside {minimum}..{maximum}", rule=rule)


DEFAULT_LIMITS = Limits()
