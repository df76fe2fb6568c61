"""Compact JWS (RFC 7515 §7.1) signing and strict verification, and base64url.

Internal to the SD-JWT code. The rules that keep the verifier honest live here:
the algorithm is checked against the allow-list before anything else in the
header is trusted, and the signature is verified over exactly the bytes that
were received, never over a re-serialisation.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from gateway.core import strict_json
from gateway.core.algorithms import Signer, Verifier, check_jws_algorithm
from gateway.core.errors import AlgorithmError, MalformedError, NotFoundError, SignatureError
from gateway.core.recent import Recent
from gateway.core.strict_json import JsonProblem, StrictJsonError

__all__ = [
    "VerifiedJws",
    "b64url_decode",
    "b64url_encode",
    "dumps_compact",
    "loads_strict",
    "sign_compact",
    "verify_compact",
]

_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_VALUE = {char: index for index, char in enumerate(_ALPHABET)}
_UNUSED_BITS = {2: 0b1111, 3: 0b11}
"""Low bits of the last character that encode nothing, by ``len(text) % 4``."""


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return (
        binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode("ascii")
    )


def b64url_decode(text: str, *, what: str) -> bytes:
    """Decode canonical base64url without padding.

    Non-canonical encodings (stray bits in the last character) are refused so
    that one byte string has exactly one encoding: otherwise a changed
    character could leave the decoded signature, and so the verdict, unchanged.

    Raises:
        MalformedError: naming ``what`` if ``text`` is not canonical base64url.
    """
    remainder = len(text) % 4
    # The alphabet is checked by the strict decoder below, once "-_" are mapped to
    # "+/": so the characters that mapping would let through (the standard
    # alphabet's "+/" and its padding "=") are refused first. Three scans and a
    # strict decode cost a fraction of a regular expression over the text.
    if remainder == 1 or "+" in text or "/" in text or "=" in text:
        raise MalformedError(f"{what} is not base64url")
    try:
        padded = (text + "=" * (-remainder % 4)).encode("ascii").translate(_TO_STANDARD)
        data = binascii.a2b_base64(padded, strict_mode=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
        raise MalformedError(f"{what} is not base64url") from exc
    # Canonical means the last character's unused low bits are zero, which is
    # exactly when re-encoding the decoded bytes gives the same text back.
    unused = _UNUSED_BITS.get(remainder, 0)
    if unused and _VALUE[text[-1]] & unused:
        raise MalformedError(f"{what} is not canonical base64url")
    return data


# One encoder for every call: json.dumps builds a new one per call when given options.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dumps_compact(value: Any) -> str:
    """Compact JSON as signed by this gateway: no spaces, UTF-8 kept as is.

    Raises:
        TypeError, ValueError: if ``value`` is not JSON (including NaN).
    """
    return _ENCODER.encode(value)


def loads_strict(data: bytes, *, what: str) -> Any:
    """Parse UTF-8 JSON by the rules of :mod:`gateway.core.strict_json`.

    Raises:
        MalformedError: naming ``what`` and the problem.
    """
    try:
        return strict_json.loads(data)
    except StrictJsonError as exc:
        if exc.problem is JsonProblem.NOT_UTF8:
            raise MalformedError(f"{what} is not UTF-8") from exc
        if exc.problem is JsonProblem.TOO_DEEP:
            raise MalformedError(f"{what} is nested too deeply") from exc
        raise MalformedError(f"{what} is not valid JSON: {exc}") from exc


def sign_compact(signer: Signer, header: Mapping[str, Any], payload: bytes) -> str:
    """Sign ``payload`` and return ``header.payload.signature``.

    Raises:
        AlgorithmError: if the signer's algorithm is not on the allow-list.
    """
    check_jws_algorithm(header.get("alg"))
    signing_input = (
        f"{b64url_encode(dumps_compact(dict(header)).encode())}.{b64url_encode(payload)}"
    )
    signature = signer.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(signature)}"


@dataclass(frozen=True, slots=True)
class VerifiedJws:
    """A compact JWS whose signature verified."""

    header: Mapping[str, Any]
    payload: bytes
    key_id: str


def _resolve(resolve_key: Callable[[str], Verifier], kid: str) -> Verifier:
    try:
        verifier = resolve_key(kid)
    except (LookupError, NotFoundError) as exc:
        raise SignatureError(f"unknown signing key {kid!r}") from exc
    if verifier.key_id != kid:
        raise SignatureError(f"key resolver returned key {verifier.key_id!r} for kid {kid!r}")
    return verifier


# Every token one key signs for one purpose carries the same header text: its parse
# (base64url and strict JSON) is kept for the most recent texts, read-only. Every check of
# its contents (alg, crit, typ, kid, the key) still runs on every token; only a text that
# parsed to an object is kept, so every parse error is raised afresh.
_HEADERS: Recent[str, Mapping[str, Any]] = Recent(64)
_MAX_KEPT_HEADER_CHARS = 1024


def _read_header(encoded: str, what: str) -> Mapping[str, Any]:
    header = _HEADERS.get(encoded)
    if header is not None:
        return header
    parsed = loads_strict(b64url_decode(encoded, what=f"{what} header"), what=f"{what} header")
    if not isinstance(parsed, dict):
        raise MalformedError(f"{what} header is not a JSON object")
    header = MappingProxyType(parsed)
    if len(encoded) <= _MAX_KEPT_HEADER_CHARS:
        _HEADERS.put(encoded, header)
    return header


def verify_compact(
    token: str,
    *,
    resolve_key: Callable[[str], Verifier],
    expected_typ: str | None,
    what: str = "JWT",
) -> VerifiedJws:
    """Verify a compact JWS and return its header and payload bytes.

    Checks, in order: three segments; header JSON; ``alg`` on the allow-list
    (before anything else in the header is used); no ``crit``; ``typ``; ``kid``
    present and resolved to a verifier for the same algorithm; the signature
    over exactly the received ``header.payload`` bytes.

    Raises:
        MalformedError: bad segments, base64url, JSON, ``crit`` or ``typ``.
        AlgorithmError: ``alg`` not allowed, or not the resolved key's algorithm.
        SignatureError: no ``kid``, unknown key, or the signature does not verify.
    """
    segments = token.split(".")
    if len(segments) != 3:
        raise MalformedError(f"{what} has {len(segments)} segments, expected 3")
    encoded_header, encoded_payload, encoded_signature = segments
    header = _read_header(encoded_header, what)
    alg = check_jws_algorithm(header.get("alg"))
    if "crit" in header:
        raise MalformedError(f"{what} header parameter 'crit' is not supported")
    if expected_typ is not None and header.get("typ") != expected_typ:
        raise MalformedError(
            f"{what} header typ {header.get('typ')!r} is not the expected {expected_typ!r}"
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise SignatureError(f"{what} header has no 'kid' naming the signing key")
    verifier = _resolve(resolve_key, kid)
    if verifier.jws_algorithm != alg:
        raise AlgorithmError(
            f"{what} header alg {alg!r} does not match key {kid!r} ({verifier.jws_algorithm})"
        )
    payload = b64url_decode(encoded_payload, what=f"{what} payload")
    signature = b64url_decode(encoded_signature, what=f"{what} signature")
    # Both segments passed the base64url check, so the signing input is ASCII.
    verifier.verify(signature, f"{encoded_header}.{encoded_payload}".encode("ascii"))
    return VerifiedJws(header=header, payload=payload, key_id=kid)
