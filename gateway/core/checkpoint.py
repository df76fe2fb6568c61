"""Log checkpoints (c2sp.org/tlog-checkpoint) and witness cosignatures (c2sp.org/tlog-cosignature).

A checkpoint is a signed note whose text is the log's origin, its tree size and
its RFC 9162 root (base64), one per line, then optional extension lines::

    330500.credit-gateway/audit
    20852163
    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

A witness (here: the parent node) checks that a new checkpoint is consistent with
the last one it cosigned (:func:`witness_checkpoint`), then adds a v1 Ed25519
cosignature line (:func:`cosign`): signature type ``0x04``, signing
``"cosignature/v1\\ntime <t>\\n" + checkpoint text``, the line holding
``key hash || 8-byte big-endian t || signature``. Remembering the last cosigned
checkpoint is the caller's job.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.core.errors import (
    ClockSkewError,
    InputError,
    MalformedError,
    ProofError,
    SignatureError,
)
from gateway.core.limits import DEFAULT_LIMITS, Limits
from gateway.core.merkle import EMPTY_ROOT, HASH_SIZE, MAX_TREE_SIZE, verify_consistency
from gateway.core.note import (
    NoteKeyVerifier,
    NoteSignature,
    NoteSigner,
    SignedNote,
    VerifierKey,
    check_key_name,
    decode_base64,
    ed25519_public_key,
    key_hash,
    open_note,
    parse_signature_line,
    parse_vkey,
    sign_note,
)
from gateway.core.payload_fields import MAX_INT

__all__ = [
    "COSIGNATURE_SIGNATURE_TYPE",
    "Checkpoint",
    "Cosignature",
    "CosignatureVerifier",
    "cosign",
    "cosignature_message",
    "open_checkpoint",
    "parse_checkpoint",
    "sign_checkpoint",
    "verify_cosignature",
    "witness_checkpoint",
]

COSIGNATURE_SIGNATURE_TYPE = 0x04
_TIMESTAMPED_SIGNATURE_SIZE = 8 + 64
_SIZE = re.compile(r"0|[1-9][0-9]*")
_CONTROL = re.compile(r"[\x00-\x1f]")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's tree head: origin, tree size, RFC 9162 root and extension lines.

    Raises:
        MalformedError: from the constructor, if a field cannot appear in a checkpoint.
    """

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or _CONTROL.search(self.origin):
            raise MalformedError("checkpoint origin is empty or has a control character")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise MalformedError(f"checkpoint size {self.size} is outside the uint64 range")
        if len(self.root) != HASH_SIZE:
            raise MalformedError(f"checkpoint root is {len(self.root)} bytes, expected 32")
        for i, line in enumerate(self.extensions):
            if not line or _CONTROL.search(line):
                raise MalformedError(f"checkpoint extension line {i} is empty or has a control")

    def body(self) -> str:
        """The note text: origin, size, base64 root and extension lines, each ending in newline."""
        lines = [self.origin, str(self.size), _b64(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def parse_checkpoint(body: str) -> Checkpoint:
    """Parse a checkpoint note text strictly (tlog-checkpoint "Note text").

    Raises:
        MalformedError: naming the line at fault.
    """
    if not body.endswith("\n"):
        raise MalformedError("checkpoint does not end in a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedError(f"checkpoint has {len(lines)} lines, expected at least 3")
    origin, size, root, *extensions = lines
    if not _SIZE.fullmatch(size):
        raise MalformedError(f"checkpoint size line {size!r} is not a decimal without zero padding")
    return Checkpoint(origin, int(size), decode_base64("checkpoint root", root), tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    """Return the checkpoint as a note signed by the log's key."""
    return sign_note(checkpoint.body(), [signer])


def open_checkpoint(
    text: str | bytes,
    verifiers: Sequence[NoteKeyVerifier],
    *,
    origin: str,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[Checkpoint, SignedNote]:
    """Verify a signed checkpoint from the log named ``origin`` and parse it.

    Raises:
        LimitExceededError: if the note is too large.
        MalformedError: if the note or its checkpoint text is malformed.
        SignatureError: if no trusted key signed, a trusted signature fails, or
            the checkpoint is for another origin.
        OutOfRangeError: if the size is over ``limits.max_log_entries``.
    """
    note = open_note(text, verifiers, limits=limits)
    checkpoint = parse_checkpoint(note.body)
    if checkpoint.origin != origin:
        raise SignatureError(f"checkpoint origin {checkpoint.origin!r} is not {origin!r}")
    # Sizes beyond any real log would overflow the store's columns downstream.
    limits.check_range(
        "checkpoint size", checkpoint.size, 0, limits.max_log_entries, rule="limits:checkpoint-size"
    )
    return checkpoint, note


# --------------------------------------------------------------------------- cosignatures


def cosignature_message(checkpoint_body: str, timestamp: int) -> bytes:
    """The bytes a v1 cosignature signs: ``cosignature/v1``, the time line, the checkpoint."""
    return f"cosignature/v1\ntime {timestamp}\n{checkpoint_body}".encode()


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A verified cosignature: witness name, key hash, POSIX time and Ed25519 signature."""

    name: str
    key_hash: bytes
    timestamp: int
    signature: bytes


@dataclass(frozen=True, slots=True)
class CosignatureVerifier:
    """A witness's Ed25519 cosignature (type 0x04) key; also a note key verifier."""

    name: str
    key_hash: bytes
    public_key: Ed25519PublicKey

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if self.key_hash != key_hash(self.name, COSIGNATURE_SIGNATURE_TYPE, self._raw()):
            raise MalformedError(f"key hash {self.key_hash.hex()} is not that of {self.name}")

    @classmethod
    def for_key(cls, name: str, public_key: Ed25519PublicKey) -> CosignatureVerifier:
        """Build the verifier of ``public_key`` under ``name``, computing its key hash."""
        raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return cls(name, key_hash(name, COSIGNATURE_SIGNATURE_TYPE, raw), public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        """Parse a type 0x04 verifier key.

        Raises:
            MalformedError: if the vkey is malformed or its key hash is wrong.
            AlgorithmError: if it is not a 0x04 cosignature key.
        """
        parsed = parse_vkey(vkey)
        public_key = ed25519_public_key(parsed, COSIGNATURE_SIGNATURE_TYPE)
        return cls(parsed.name, parsed.key_hash, public_key)

    def to_vkey(self) -> str:
        """Return the verifier key string."""
        return str(VerifierKey(self.name, self.key_hash, COSIGNATURE_SIGNATURE_TYPE, self._raw()))

    def timestamp_of(self, signature: bytes) -> int:
        """Return the time in a timestamped signature.

        Raises:
            MalformedError: if the signature is not 8 + 64 bytes or the time is over 2^63 - 1.
        """
        if len(signature) != _TIMESTAMPED_SIGNATURE_SIZE:
            raise MalformedError(
                f"cosignature by {self.name} is {len(signature)} bytes, expected 72"
            )
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp > MAX_INT:
            raise MalformedError(f"cosignature time {timestamp} is over 2^63 - 1")
        return timestamp

    def verify(self, message: bytes, signature: bytes) -> None:
        """Verify a timestamped cosignature over checkpoint text ``message``.

        Raises:
            MalformedError: if the signature is not a timestamped Ed25519 signature.
            SignatureError: naming the witness when it does not verify.
        """
        timestamp = self.timestamp_of(signature)
        signed = cosignature_message("", timestamp) + message
        try:
            self.public_key.verify(signature[8:], signed)
        except InvalidSignature as exc:
            raise SignatureError(
                f"cosignature by witness {self.name}+{self.key_hash.hex()} does not verify"
            ) from exc

    def _raw(self) -> bytes:
        return self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def cosign(
    checkpoint_note_body: str, witness_name: str, private_key: Ed25519PrivateKey, timestamp: int
) -> str:
    """Cosign a checkpoint text and return the signature line (newline included).

    The caller has checked consistency (:func:`witness_checkpoint`) and appends
    the line to the checkpoint note.

    Raises:
        MalformedError: if the text is not a checkpoint or the name is invalid.
        InputError: if the timestamp is outside ``[0, 2^63 - 1]``.
    """
    parse_checkpoint(checkpoint_note_body)
    check_key_name(witness_name)
    if not 0 <= timestamp <= MAX_INT:
        raise InputError(f"cosignature time {timestamp} is outside [0, 2^63 - 1]")
    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    signature = private_key.sign(cosignature_message(checkpoint_note_body, timestamp))
    stamped = timestamp.to_bytes(8, "big") + signature
    witness_key_hash = key_hash(witness_name, COSIGNATURE_SIGNATURE_TYPE, raw)
    return NoteSignature(witness_name, witness_key_hash, stamped).line()


def verify_cosignature(
    checkpoint_note_body: str,
    signature_line: str,
    verifier: CosignatureVerifier,
    *,
    now: int | None = None,
    skew_s: int = 0,
) -> Cosignature:
    """Verify one cosignature line by a known witness over a checkpoint text.

    Args:
        checkpoint_note_body: the checkpoint text, final newline included.
        signature_line: the ``— name base64`` line, with or without its newline.
        verifier: the witness's key.
        now: if given, cosignatures dated after it (by more than ``skew_s``) are refused.
        skew_s: how far the witness's clock may be ahead of ``now``.

    Raises:
        MalformedError: if the line is malformed.
        SignatureError: if the line is from another key or does not verify.
        ClockSkewError: if it is dated after ``now`` plus ``skew_s``.
    """
    sig = parse_signature_line(signature_line.removesuffix("\n"))
    if (sig.name, sig.key_hash) != (verifier.name, verifier.key_hash):
        raise SignatureError(
            f"cosignature is by {sig.name}+{sig.key_hash.hex()}, "
            f"not witness {verifier.name}+{verifier.key_hash.hex()}"
        )
    verifier.verify(checkpoint_note_body.encode("utf-8"), sig.signature)
    timestamp = verifier.timestamp_of(sig.signature)
    if now is not None and timestamp > now + skew_s:
        raise ClockSkewError(
            f"cosignature time {timestamp} is in the future (now {now}, skew {skew_s} s)"
        )
    return Cosignature(sig.name, sig.key_hash, timestamp, sig.signature[8:])


def witness_checkpoint(
    previous: Checkpoint | None, new: Checkpoint, consistency_proof: Sequence[bytes]
) -> None:
    """Check that ``new`` may be cosigned after ``previous`` (c2sp.org/tlog-witness rules).

    ``previous`` is the last checkpoint this witness cosigned for the log, or
    ``None`` if it never did (the empty tree, consistent with any tree).

    Raises:
        ProofError: if the origins differ, the tree shrank, the same size has
            another root, a size-0 root is not the empty root, or the
            consistency proof does not verify.
    """
    if new.size == 0 and new.root != EMPTY_ROOT:
        raise ProofError("checkpoint of size 0 does not carry the empty tree's root")
    if previous is not None and previous.origin != new.origin:
        raise ProofError(
            f"checkpoint origin {new.origin!r} is not the witnessed {previous.origin!r}"
        )
    if previous is None or previous.size == 0:
        if consistency_proof:
            raise ProofError("consistency proof from the empty tree must be empty")
        return
    if new.size < previous.size:
        raise ProofError(f"checkpoint size {new.size} is smaller than cosigned {previous.size}")
    if new.size == previous.size and new.root != previous.root:
        raise ProofError(f"checkpoint of size {new.size} has a root other than the cosigned one")
    verify_consistency(
        size1=previous.size,
        size2=new.size,
        proof=consistency_proof,
        root1=previous.root,
        root2=new.root,
    )
