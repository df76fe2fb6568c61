"""Disclosures (RFC 9901 §4.2): the salted claims of an SD-JWT, made, decoded and digested.

A Disclosure is the base64url of a JSON array ``[salt, name, value]`` (or
``[salt, value]`` for an array element); its digest, over the encoded text
exactly as issued or received, is what the Issuer-signed JWT embeds.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring as _json_string
from typing import Any

from gateway.core._jws import b64url_decode, b64url_encode, dumps_compact, loads_strict
from gateway.core.errors import AlgorithmError, DisclosureError, InputError, MalformedError
from gateway.core.recent import Recent
from gateway.core.strict_json import scan_exact

__all__ = [
    "ELLIPSIS_KEY",
    "RESERVED_NAMES",
    "SALT_BYTES",
    "SD_ALG",
    "SD_ALG_KEY",
    "SD_KEY",
    "Disclosure",
    "decode_flat",
    "decode_many",
    "digest_of",
    "remember",
]

SD_ALG = "sha-256"
"""The only ``_sd_alg`` the federation accepts (RFC 9901 §4.1.1 makes it the default)."""

SD_KEY = "_sd"
ELLIPSIS_KEY = "..."
SD_ALG_KEY = "_sd_alg"
RESERVED_NAMES = frozenset({SD_KEY, ELLIPSIS_KEY, SD_ALG_KEY})
SALT_BYTES = 16


def digest_of(encoded: str, *, sd_alg: str = SD_ALG) -> str:
    """Digest of a Disclosure: base64url(SHA-256(ASCII bytes of the encoded form)), §4.2.3.

    Raises:
        AlgorithmError: if ``sd_alg`` is not ``sha-256``.
        MalformedError: if ``encoded`` is not ASCII.
    """
    if sd_alg != SD_ALG:
        raise AlgorithmError(f"_sd_alg {sd_alg!r} is not allowed (allowed: {SD_ALG})")
    try:
        data = encoded.encode("ascii")
    except UnicodeEncodeError as exc:
        raise MalformedError("disclosure is not ASCII") from exc
    return b64url_encode(hashlib.sha256(data).digest())


def _digest(encoded: str) -> str:
    # digest_of for base64url text this module made or checked: ASCII, sha-256.
    return b64url_encode(hashlib.sha256(encoded.encode("ascii")).digest())


def _check_name(name: object) -> None:
    if not isinstance(name, str):
        raise DisclosureError(f"claim name {name!r} is not a string")
    if name in RESERVED_NAMES:
        raise DisclosureError(f"claim name {name!r} is reserved")


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One Disclosure (RFC 9901 §4.2): salt, claim name (None for array elements), value.

    ``encoded`` is the base64url text exactly as issued or received; the digest is
    taken over it, so it is never re-encoded.
    """

    salt: str
    name: str | None
    value: Any
    encoded: str
    digest: str

    @classmethod
    def create(cls, name: str | None, value: Any, *, salt: str | None = None) -> Disclosure:
        """Make a Disclosure with a fresh 128-bit salt (RFC 9901 §9.3) unless one is given.

        Raises:
            DisclosureError: if ``name`` is reserved or not a string.
            InputError: if ``value`` is not JSON.
        """
        if name is not None:
            _check_name(name)
        salt = b64url_encode(secrets.token_bytes(SALT_BYTES)) if salt is None else salt
        if type(salt) is str and type(name) is str and type(value) is str:
            # What dumps_compact makes of three strings, without its per-call setup.
            text = f"[{_json_string(salt)},{_json_string(name)},{_json_string(value)}]"
        else:
            array = [salt, value] if name is None else [salt, name, value]
            try:
                text = dumps_compact(array)
            except (TypeError, ValueError) as exc:
                raise InputError(f"value of disclosure {name!r} is not JSON: {exc}") from exc
        encoded = b64url_encode(text.encode("utf-8"))
        return cls(salt=salt, name=name, value=value, encoded=encoded, digest=_digest(encoded))

    @classmethod
    def decode(cls, encoded: str) -> Disclosure:
        """Decode and check one received Disclosure.

        Raises:
            MalformedError: if it is not canonical base64url of UTF-8 JSON.
            DisclosureError: if it is not an array of 2 or 3 elements, the salt
                or name is not a string, or the name is reserved.
        """
        return _decode_cached(encoded)


# A received record's Disclosures are made here, about 19 per record: the frozen
# dataclass's __init__ sets each field through object.__setattr__, this sets the slots
# directly (same class, same fields, same values) in about half the time. The name's
# checks and the digest are written out too (what _check_name and _digest do): a function
# call each, per Disclosure, was a tenth of decoding one.
_NEW = object.__new__
_SET_SALT, _SET_NAME, _SET_VALUE, _SET_ENCODED, _SET_DIGEST = (
    vars(Disclosure)[name].__set__ for name in ("salt", "name", "value", "encoded", "digest")
)
_SHA256 = hashlib.sha256


def _decode(encoded: str) -> Disclosure:
    array = loads_strict(b64url_decode(encoded, what="disclosure"), what="disclosure")
    if not isinstance(array, list) or len(array) not in (2, 3):
        raise DisclosureError("disclosure is not a JSON array of 2 or 3 elements")
    salt = array[0]
    if not isinstance(salt, str):
        raise DisclosureError("disclosure salt is not a string")
    name: str | None = None
    if len(array) == 3:
        name = array[1]
        if not isinstance(name, str) or name in RESERVED_NAMES:
            _check_name(name)  # raises, naming the fault
    # The text decoded as base64url, so it is ASCII (the digest is _digest's).
    digest = b64url_encode(_SHA256(encoded.encode("ascii")).digest())
    disclosure: Disclosure = _NEW(Disclosure)
    _SET_SALT(disclosure, salt)
    _SET_NAME(disclosure, name)
    _SET_VALUE(disclosure, array[-1])
    _SET_ENCODED(disclosure, encoded)
    _SET_DIGEST(disclosure, digest)
    return disclosure


# A node decodes the same Disclosures more than once: the issuer when it
# redacts a record it just issued, a hop when it redacts for the next hop a
# record it just verified. Decoding is a pure function of the text and nothing
# here mutates a decoded Disclosure, so recent results are kept, about 1,500
# records' worth; when full, the oldest entry goes (insertion order), so the
# records of the batch in hand stay. Failures are never kept, so every error is
# raised afresh.
_DECODED: Recent[str, Disclosure] = Recent(32_768)


def remember(disclosure: Disclosure) -> None:
    """Keep a Disclosure this node made, as if it had been decoded (its value must be text)."""
    _DECODED.put(disclosure.encoded, disclosure)


def decode_many(encoded: Sequence[str], *, keep: bool = True) -> tuple[Disclosure, ...]:
    """Decode and check the Disclosures of one SD-JWT, in order, as :meth:`Disclosure.decode`.

    Args:
        encoded: the Disclosures as received.
        keep: read the memo and put the ones decoded here in it. A caller that keeps
            the whole record's parts itself (verification) passes False: every
            Disclosure is then decoded from the text received, and the memo is neither
            read (a hub verifies records it has never seen: one lookup per Disclosure
            for nothing) nor filled (it would only drop older entries).

    Raises:
        MalformedError, DisclosureError: as :meth:`Disclosure.decode`, the message
            starting with the Disclosure's 1-based position (``disclosure 3: ...``).
    """
    recent = _DECODED.get
    decoded: list[Disclosure] = []
    for position, text in enumerate(encoded, start=1):
        disclosure = recent(text) if keep else None
        if disclosure is None:
            try:
                disclosure = _decode(text)
            except (MalformedError, DisclosureError) as exc:
                raise type(exc)(f"disclosure {position}: {exc}") from exc
            if keep:
                _DECODED.put(text, disclosure)
        decoded.append(disclosure)
    return tuple(decoded)


def decode_flat(encoded: Sequence[str]) -> tuple[list[str], list[str], list[str]] | None:
    """The names, text values and digests of Disclosures that are each ``[salt, name, text]``.

    What :func:`decode_many` reads of them, without making
    :class:`Disclosure` objects. At the first Disclosure
    that is not a well-formed named one with a text value (malformed, an array
    element's, a reserved name, any other value) None: ``decode_many`` then raises
    the precise error, or decodes it for the general processor.
    """
    names: list[str] = []
    values: list[str] = []
    digests: list[str] = []
    try:
        for text in encoded:
            # loads_strict's decoder and hooks, on a value with nothing around it: at
            # anything else (whitespace, a byte order mark, not UTF-8, not JSON) None.
            array = scan_exact(b64url_decode(text, what="disclosure").decode("utf-8"))
            if type(array) is not list or len(array) != 3:
                return None
            salt, name, value = array
            if (
                type(salt) is not str
                or type(name) is not str
                or type(value) is not str
                or name in RESERVED_NAMES
            ):
                return None
            names.append(name)
            values.append(value)
            # The text decoded as base64url, so it is ASCII (the digest is decode_many's).
            digests.append(b64url_encode(_SHA256(text.encode("ascii")).digest()))
    except (MalformedError, DisclosureError, UnicodeDecodeError):
        return None
    return names, values, digests


def _decode_cached(encoded: str) -> Disclosure:
    disclosure = _DECODED.get(encoded)
    if disclosure is None:
        disclosure = _decode(encoded)
        remember(disclosure)
    return disclosure
