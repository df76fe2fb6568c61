"""Our golden vectors (tests/vectors/ours) and the checks a receiving node runs on them.

The vectors are one push from Huzhou (330500) to its province Zhejiang (330000),
and Huzhou's audit log cosigned by Zhejiang; Lishui (331100) is the attacker of
the negative vectors. Each ``verify_*`` here calls the project's public
verification functions the way the receiving node does (``gateway.node.receive``,
``gateway.node.audit_log``), with the vectors' fixed keys in place of the
federation directory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.core.algorithms import Ed25519Verifier, Verifier
from gateway.core.catalog import Catalog
from gateway.core.checkpoint import (
    Checkpoint,
    Cosignature,
    CosignatureVerifier,
    open_checkpoint,
    verify_cosignature,
    witness_checkpoint,
)
from gateway.core.dsse import Envelope
from gateway.core.errors import NotFoundError, ProofError, SignatureError
from gateway.core.hop import HopBatch, verify_hop_batch
from gateway.core.limits import DEFAULT_LIMITS
from gateway.core.messages import RoutedMessage, verify_message
from gateway.core.note import NoteVerifier
from gateway.core.policy import MASKED_SUFFIX, Recipient, check_received, decide, node_relation
from gateway.core.record_fields import check_record_issuer
from gateway.core.records import SignedRecord, verify_record
from gateway.core.statements import StatusStatement, check_statement_bounds, verify_statement
from gateway.node.audit_log import WitnessStatement, log_origin
from gateway.node.catalog_files import load_packaged_catalog
from gateway.node.log_verify import WitnessedHead, open_witness_statement

__all__ = [
    "HUZHOU",
    "LISHUI",
    "VECTORS",
    "VERIFY_AT",
    "ZHEJIANG",
    "VectorKey",
    "key_owner",
    "keys",
    "keys_of",
    "open_cosigned_checkpoint",
    "open_relayed_witness_statement",
    "read",
    "resolve_key",
    "verify_hop",
    "verify_record_at_parent",
    "verify_routed_message",
    "verify_statement_of_issuer",
    "witness_after_golden_checkpoint",
]

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "ours"
HUZHOU = "330500"
ZHEJIANG = "330000"
LISHUI = "331100"
VERIFY_AT = 1_764_554_400 + 120
"""Two minutes after the record was issued, one after the batch was sent."""


@dataclass(frozen=True, slots=True)
class VectorKey:
    """One node's fixed test key, as listed in ``keys.json``."""

    node: str
    seed: bytes
    public: bytes
    kid: str

    def public_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public)


def read(name: str) -> bytes:
    """The bytes of the vector file ``name`` (a path under ``tests/vectors/ours``)."""
    return (VECTORS / name).read_bytes()


@cache
def keys() -> dict[str, VectorKey]:
    """Every vector key, by node id."""
    listed = json.loads(read("keys.json"))["keys"]
    return {
        entry["node"]: VectorKey(
            node=entry["node"],
            seed=bytes.fromhex(entry["seed"]),
            public=bytes.fromhex(entry["public"]),
            kid=entry["kid"],
        )
        for entry in listed
    }


def resolve_key(kid: str) -> Verifier:
    """The directory's part: a key id -> the verifier of that node's signing key.

    Raises:
        NotFoundError: for a key id no vector node holds.
    """
    for key in keys().values():
        if key.kid == kid:
            return Ed25519Verifier(kid, key.public_key())
    raise NotFoundError(f"no vector key {kid!r}")


def key_owner(kid: str) -> str:
    """The node whose signing key ``kid`` names.

    Raises:
        NotFoundError: for a key id no vector node holds.
    """
    for key in keys().values():
        if key.kid == kid:
            return key.node
    raise NotFoundError(f"no vector key {kid!r}")


def keys_of(node: str) -> Callable[[str], Verifier]:
    """A resolver that trusts only ``node``'s keys (as the receiver does for hop evidence)."""

    def resolve(kid: str) -> Verifier:
        if key_owner(kid) != node:
            raise SignatureError(f"key {kid[:16]}… is not a signing key of node {node}")
        return resolve_key(kid)

    return resolve


@cache
def _zhejiang_catalog() -> Catalog:
    return load_packaged_catalog(ZHEJIANG)


def verify_record_at_parent(sd_jwt: str) -> SignedRecord:
    """Zhejiang receives a record pushed by Huzhou: strict verification, then its entitlement.

    Raises:
        VerificationError: the record does not verify.
        ScopeViolationError: it carries disclosures Zhejiang may not see.
    """
    record = verify_record(sd_jwt, resolve_key=resolve_key, key_owner=key_owner, now=VERIFY_AT)
    category = _zhejiang_catalog().category(record.category)
    me = Recipient(node_relation(HUZHOU, ZHEJIANG), node_id=ZHEJIANG)
    plan = decide(category, me, record.subject_type)
    check_received(plan, {*record.clear, *(code + MASKED_SUFFIX for code in record.masked)})
    return record


def verify_hop(envelope_json: bytes, items: Sequence[bytes]) -> HopBatch:
    """Zhejiang checks the hop evidence of a push over its connection from Huzhou."""
    return verify_hop_batch(
        Envelope.from_json(envelope_json),
        resolve_key=keys_of(HUZHOU),
        expected_sender=HUZHOU,
        expected_audience=ZHEJIANG,
        items=items,
        now=VERIFY_AT,
    )


def verify_statement_of_issuer(data: bytes) -> StatusStatement:
    """A statement as the receiver checks it: signature, bounds, and whose record id it names.

    Signed by the issuer it names, within the bounds, and that issuer owns the
    record id (the id alone decides it when the receiver does not hold the record).

    Raises:
        VerificationError: the statement does not verify.
        OutOfRangeError: a number or the record id is outside the bounds.
        AccessDeniedError: the record id is another node's.
    """
    envelope = Envelope.from_json(data)
    claimed = StatusStatement.from_payload(envelope.payload)
    statement = verify_statement(envelope, resolve_key=keys_of(claimed.issuer))
    check_statement_bounds(statement, DEFAULT_LIMITS)
    check_record_issuer(
        statement.record_id,
        statement.issuer,
        what=f"statement {statement.statement_id} about record",
    )
    return statement


def verify_routed_message(data: bytes) -> RoutedMessage:
    """A routed message verified as signed by the origin it names."""
    return verify_message(Envelope.from_json(data), resolve_key=resolve_key, key_owner=key_owner)


def _log_key() -> NoteVerifier:
    return NoteVerifier.for_key(log_origin(HUZHOU), keys()[HUZHOU].public_key())


def _witness_key() -> CosignatureVerifier:
    return CosignatureVerifier.for_key(log_origin(ZHEJIANG), keys()[ZHEJIANG].public_key())


def open_cosigned_checkpoint(text: bytes) -> tuple[Checkpoint, Cosignature]:
    """Huzhou's checkpoint, opened with its log key, and Zhejiang's cosignature of it.

    Raises:
        VerificationError: the checkpoint or the cosignature does not verify.
        ProofError: no cosignature line by Zhejiang.
    """
    checkpoint, note = open_checkpoint(text, [_log_key()], origin=log_origin(HUZHOU))
    witness = _witness_key()
    lines = [s.line() for s in note.signatures if s.name == witness.name]
    if not lines:
        raise ProofError(f"no cosignature by witness {witness.name}")
    return checkpoint, verify_cosignature(note.body, lines[0], witness, now=VERIFY_AT)


def open_relayed_witness_statement(text: bytes) -> WitnessedHead:
    """An auditor of Huzhou checks Zhejiang's word on Huzhou's log, relayed by Huzhou.

    ``text`` is a checkpoint note whose last line is Zhejiang's cosignature; the
    statement may be at most 300 s old (``gateway audit verify``'s default).

    Raises:
        VerificationError: the checkpoint or cosignature does not verify.
        ExpiredError: the cosignature is too old.
    """
    note, line = text.decode().removesuffix("\n").rsplit("\n", 1)
    return open_witness_statement(
        WitnessStatement(checkpoint=note + "\n", cosignature=line, certificate_chain=b""),
        origin=log_origin(HUZHOU),
        log_key=_log_key(),
        witness=_witness_key(),
        now=VERIFY_AT,
        max_age_s=300,
    )


def witness_after_golden_checkpoint(text: bytes) -> Checkpoint:
    """Zhejiang, having cosigned the golden checkpoint, is offered ``text`` (no proof)."""
    previous, _ = open_cosigned_checkpoint(read("checkpoint.cosigned.note"))
    checkpoint, _ = open_checkpoint(text, [_log_key()], origin=log_origin(HUZHOU))
    witness_checkpoint(previous, checkpoint, [])
    return checkpoint
