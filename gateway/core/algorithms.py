"""Signature algorithms, named where they are used and checked against an allow-list.

Formats name their algorithm (JWS ``alg``, DSSE key ids, checkpoint key types).
Callers sign through :class:`Signer` and verify through :class:`Verifier`, so a
national-cryptography suite (SM2 with SM3) can be registered later without
changing any format or caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.core.errors import AlgorithmError, SignatureError

__all__ = [
    "ALLOWED_JWS_ALGORITHMS",
    "Ed25519Signer",
    "Ed25519Verifier",
    "Signer",
    "Verifier",
    "check_jws_algorithm",
]

ALLOWED_JWS_ALGORITHMS = frozenset({"EdDSA"})
"""JWS ``alg`` values the federation accepts. ``none`` and HMAC are never allowed."""


class Signer(Protocol):
    """Something that signs bytes with a named key."""

    @property
    def key_id(self) -> str:
        """Names the signing certificate (JWS ``kid``, DSSE ``keyid``)."""
        ...

    @property
    def jws_algorithm(self) -> str:
        """The JWS ``alg`` value for this key."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Sign exactly ``data``."""
        ...


class Verifier(Protocol):
    """Something that verifies a signature over bytes."""

    @property
    def key_id(self) -> str: ...

    @property
    def jws_algorithm(self) -> str: ...

    def verify(self, signature: bytes, data: bytes) -> None:
        """Verify ``signature`` over exactly ``data``.

        Raises:
            SignatureError: if the signature does not verify.
        """
        ...


@dataclass(frozen=True, slots=True)
class Ed25519Signer:
    """Ed25519 (RFC 8032) signer; JWS ``alg`` ``EdDSA`` (RFC 8037)."""

    key_id: str
    private_key: Ed25519PrivateKey
    jws_algorithm: str = "EdDSA"

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)

    def verifier(self) -> Ed25519Verifier:
        """The matching verifier."""
        return Ed25519Verifier(self.key_id, self.private_key.public_key())


@dataclass(frozen=True, slots=True)
class Ed25519Verifier:
    """Ed25519 verifier for one named public key."""

    key_id: str
    public_key: Ed25519PublicKey
    jws_algorithm: str = "EdDSA"

    def verify(self, signature: bytes, data: bytes) -> None:
        try:
            self.public_key.verify(signature, data)
        except InvalidSignature as exc:
            raise SignatureError(f"signature by key {self.key_id!r} does not verify") from exc


def check_jws_algorithm(alg: object) -> str:
    """Return ``alg`` if the federation allows it.

    Raises:
        AlgorithmError: for anything not on :data:`ALLOWED_JWS_ALGORITHMS`.
    """
    if not isinstance(alg, str) or alg not in ALLOWED_JWS_ALGORITHMS:
        raise AlgorithmError(f"algorithm {alg!r} is not allowed (allowed: EdDSA)")
    return alg
