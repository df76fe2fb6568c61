"""C2SP signed notes (c2sp.org/signed-note): text signed by one or more named keys.

A note is its text (ending in a newline), a blank line, then one signature line per
key::

    — <key name> base64(4-byte key hash || signature)

A key is identified by its name *and* its key hash together; signatures from
keys the caller does not know are kept but never trusted. Verifier keys travel as
``<name>+<hex key hash>+base64(signature type || public key)``.

Signature types are named by their type byte (``0x01`` Ed25519 here, ``0x04`` for
checkpoint cosignatures in :mod:`gateway.core.checkpoint`); any other type is
refused, so a national-cryptography type can be registered later without
changing the format.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.core.errors import (
    AlgorithmError,
    ConfigurationError,
    InputError,
    MalformedError,
    SignatureError,
)
from gateway.core.limits import DEFAULT_LIMITS, Limits

__all__ = [
    "ED25519_SIGNATURE_TYPE",
    "KEY_HASH_SIZE",
    "MAX_NOTE_SIGNATURES",
    "NoteKeyVerifier",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "SignedNote",
    "VerifierKey",
    "check_key_name",
    "decode_base64",
    "ed25519_public_key",
    "key_hash",
    "open_note",
    "parse_signature_line",
    "parse_vkey",
    "sign_note",
]

ED25519_SIGNATURE_TYPE = 0x01
KEY_HASH_SIZE = 4
MAX_NOTE_SIGNATURES = 100
"""Signature lines accepted in one note; the spec requires at least 16."""

_SIGNATURE_PREFIX = "— "  # em dash U+2014, then a space
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_HEX_KEY_HASH = re.compile(r"[0-9a-f]{8}")


def key_hash(name: str, signature_type: int, public_key: bytes) -> bytes:
    """Return ``SHA-256(name || 0x0A || signature type || public key)[:4]``."""
    data = name.encode("utf-8") + b"\n" + bytes([signature_type]) + public_key
    return hashlib.sha256(data).digest()[:KEY_HASH_SIZE]


def check_key_name(name: str) -> str:
    """Return ``name`` if it is a valid key name: non-empty, no spaces, no ``+``.

    Raises:
        MalformedError: naming the rule the name breaks.
    """
    if not name:
        raise MalformedError("key name is empty")
    if "+" in name or any(c.isspace() for c in name):
        raise MalformedError(f"key name {name!r} contains a space or '+'")
    if _CONTROL.search(name):
        raise MalformedError(f"key name {name!r} contains a control character")
    return name


def decode_base64(what: str, text: str) -> bytes:
    """Decode canonical standard base64 (RFC 4648 §4, padded).

    Raises:
        MalformedError: naming ``what`` when ``text`` is not canonical base64.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedError(f"{what} is not valid base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise MalformedError(f"{what} is not canonical base64")
    return raw


def _raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A parsed verifier key (vkey): name, key hash, signature type and key material."""

    name: str
    key_hash: bytes
    signature_type: int
    public_key: bytes

    def __str__(self) -> str:
        material = base64.b64encode(bytes([self.signature_type]) + self.public_key).decode()
        return f"{self.name}+{self.key_hash.hex()}+{material}"


def parse_vkey(vkey: str) -> VerifierKey:
    """Parse ``<name>+<hex key hash>+base64(type || key)`` and check its key hash.

    Raises:
        MalformedError: if a part is missing or malformed, or the key hash does
            not match the name and key.
    """
    name, sep1, rest = vkey.partition("+")
    hash_hex, sep2, material64 = rest.partition("+")
    if not (sep1 and sep2):
        raise MalformedError("verifier key needs three parts separated by '+'")
    check_key_name(name)
    if not _HEX_KEY_HASH.fullmatch(hash_hex):
        raise MalformedError(f"verifier key hash {hash_hex!r} is not 8 lowercase hex digits")
    material = decode_base64("verifier key material", material64)
    if len(material) < 2:
        raise MalformedError("verifier key material is empty")
    parsed = VerifierKey(name, bytes.fromhex(hash_hex), material[0], material[1:])
    expected = key_hash(name, parsed.signature_type, parsed.public_key)
    if parsed.key_hash != expected:
        raise MalformedError(
            f"verifier key hash {hash_hex} does not match its name and key ({expected.hex()})"
        )
    return parsed


def ed25519_public_key(parsed: VerifierKey, signature_type: int) -> Ed25519PublicKey:
    """Return the Ed25519 key of a vkey whose signature type must be ``signature_type``.

    Raises:
        AlgorithmError: if the vkey has another signature type.
        MalformedError: if the key is not 32 bytes.
    """
    if parsed.signature_type != signature_type:
        raise AlgorithmError(
            f"key {parsed.name} has signature type 0x{parsed.signature_type:02x}, "
            f"expected 0x{signature_type:02x}"
        )
    if len(parsed.public_key) != 32:
        raise MalformedError(f"Ed25519 public key is {len(parsed.public_key)} bytes, expected 32")
    return Ed25519PublicKey.from_public_bytes(parsed.public_key)


class NoteKeyVerifier(Protocol):
    """A trusted key that verifies note signatures carrying its name and key hash."""

    @property
    def name(self) -> str: ...

    @property
    def key_hash(self) -> bytes: ...

    def verify(self, message: bytes, signature: bytes) -> None:
        """Verify ``signature`` (the line's bytes after the key hash) over the note text.

        Raises:
            SignatureError: if it does not verify.
        """
        ...


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """An Ed25519 (type 0x01) note verifier: key name, key hash and public key."""

    name: str
    key_hash: bytes
    public_key: Ed25519PublicKey

    def __post_init__(self) -> None:
        check_key_name(self.name)
        expected = key_hash(self.name, ED25519_SIGNATURE_TYPE, _raw_public_key(self.public_key))
        if self.key_hash != expected:
            raise MalformedError(f"key hash {self.key_hash.hex()} is not that of {self.name}")

    @classmethod
    def for_key(cls, name: str, public_key: Ed25519PublicKey) -> NoteVerifier:
        """Build the verifier of ``public_key`` under ``name``, computing its key hash."""
        raw = _raw_public_key(public_key)
        return cls(name, key_hash(name, ED25519_SIGNATURE_TYPE, raw), public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse a type 0x01 verifier key.

        Raises:
            MalformedError: if the vkey is malformed or its key hash is wrong.
            AlgorithmError: if it is not an Ed25519 (0x01) key.
        """
        parsed = parse_vkey(vkey)
        public_key = ed25519_public_key(parsed, ED25519_SIGNATURE_TYPE)
        return cls(parsed.name, parsed.key_hash, public_key)

    def to_vkey(self) -> str:
        """Return the verifier key string."""
        raw = _raw_public_key(self.public_key)
        return str(VerifierKey(self.name, self.key_hash, ED25519_SIGNATURE_TYPE, raw))

    def verify(self, message: bytes, signature: bytes) -> None:
        """Verify an Ed25519 signature over ``message``.

        Raises:
            SignatureError: naming the key when the signature does not verify.
        """
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature as exc:
            raise SignatureError(
                f"signature by known key {self.name}+{self.key_hash.hex()} does not verify"
            ) from exc


@dataclass(frozen=True, slots=True)
class NoteSigner:
    """An Ed25519 (type 0x01) note signer."""

    name: str
    private_key: Ed25519PrivateKey
    key_hash: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        raw = _raw_public_key(self.private_key.public_key())
        object.__setattr__(self, "key_hash", key_hash(self.name, ED25519_SIGNATURE_TYPE, raw))

    def sign(self, message: bytes) -> bytes:
        """Sign exactly ``message``."""
        return self.private_key.sign(message)

    def verifier(self) -> NoteVerifier:
        """The matching verifier."""
        return NoteVerifier(self.name, self.key_hash, self.private_key.public_key())


# --------------------------------------------------------------------------- notes


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: key name, 4-byte key hash, and the signature bytes after it."""

    name: str
    key_hash: bytes
    signature: bytes

    def line(self) -> str:
        """The signature line, newline included."""
        encoded = base64.b64encode(self.key_hash + self.signature).decode("ascii")
        return f"{_SIGNATURE_PREFIX}{self.name} {encoded}\n"


@dataclass(frozen=True, slots=True)
class SignedNote:
    """An opened note: its text, every signature line, and the trusted keys that verified."""

    body: str
    signatures: tuple[NoteSignature, ...]
    verified_by: tuple[str, ...]


def parse_signature_line(line: str) -> NoteSignature:
    """Parse ``— <name> <base64>`` (without its newline).

    Raises:
        MalformedError: naming what is wrong with the line.
    """
    if not line.startswith(_SIGNATURE_PREFIX):
        raise MalformedError("signature line does not start with an em dash and a space")
    name, _, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
    check_key_name(name)
    raw = decode_base64(f"signature of {name}", encoded)
    if len(raw) <= KEY_HASH_SIZE:
        raise MalformedError(f"signature of {name} is {len(raw)} bytes, too short")
    return NoteSignature(name, raw[:KEY_HASH_SIZE], raw[KEY_HASH_SIZE:])


def _check_text(text: str, error: type[Exception]) -> None:
    control = _CONTROL.search(text)
    if control:
        raise error(f"note has control character U+{ord(control.group()):04X}")
    if not text.endswith("\n"):
        raise error("note text does not end in a newline")


def sign_note(body: str, signers: Sequence[NoteSigner]) -> str:
    """Sign ``body`` with each signer and return the signed note.

    Raises:
        InputError: if the body is not a valid note text, no signer is given, or
            two signers share a name and key hash.
    """
    _check_text(body, InputError)
    try:
        message = body.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError("note text is not valid UTF-8") from exc
    if not signers:
        raise InputError("a signed note needs at least one signer")
    if len({(s.name, s.key_hash) for s in signers}) != len(signers):
        raise InputError("two signers share a key name and key hash")
    lines = [NoteSignature(s.name, s.key_hash, s.sign(message)).line() for s in signers]
    return body + "\n" + "".join(lines)


def open_note(
    text: str | bytes,
    verifiers: Sequence[NoteKeyVerifier],
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> SignedNote:
    """Parse a signed note and verify it against trusted keys.

    Signatures from unknown keys (name and key hash not both matching a verifier)
    are kept in ``signatures`` but never trusted.

    Raises:
        LimitExceededError: if the note is over ``limits.max_note_bytes`` (checked first).
        MalformedError: if the note does not follow the format.
        SignatureError: if a known key's signature fails, or no known key signed.
        ConfigurationError: if two verifiers share a name and key hash.
    """
    raw = _note_bytes(text, limits)
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedError("note is not valid UTF-8") from exc
    _check_text(decoded, MalformedError)
    split = decoded.rfind("\n\n")
    if split < 0:
        raise MalformedError("note has no blank line before its signatures")
    body, lines = decoded[: split + 1], decoded[split + 2 :].split("\n")[:-1]
    if not lines:
        raise MalformedError("note has no signature lines")
    if len(lines) > MAX_NOTE_SIGNATURES:
        raise MalformedError(f"note has {len(lines)} signatures, over {MAX_NOTE_SIGNATURES}")
    signatures = tuple(parse_signature_line(line) for line in lines)

    message = body.encode("utf-8")
    verified: list[str] = []
    for sig in signatures:
        known = [v for v in verifiers if v.name == sig.name and v.key_hash == sig.key_hash]
        if len(known) > 1:
            raise ConfigurationError(f"ambiguous verifiers for key {sig.name}+{sig.key_hash.hex()}")
        if known:
            known[0].verify(message, sig.signature)
            if sig.name not in verified:
                verified.append(sig.name)
    if not verified:
        seen = ", ".join(f"{s.name}+{s.key_hash.hex()}" for s in signatures)
        raise SignatureError(f"note has no signature from a trusted key (signed by {seen})")
    return SignedNote(body, signatures, tuple(verified))


def _note_bytes(text: str | bytes, limits: Limits) -> bytes:
    # A character is at least one byte, so an over-long str is refused before
    # paying for its encoding.
    limits.check_bytes("note", len(text), limits.max_note_bytes)
    if isinstance(text, bytes):
        return text
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedError("note is not valid UTF-8") from exc
    limits.check_bytes("note", len(raw), limits.max_note_bytes)
    return raw
