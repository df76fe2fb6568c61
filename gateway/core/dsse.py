"""DSSE v1 envelopes (secure-systems-lab/dsse, protocol.md and envelope.md, version 1.0.2).

Everything the federation signs besides the records themselves (hop batches, status
statements) travels in a DSSE envelope. The signature covers
``PAE(payloadType, payload)``, so a signature made for one payload type can never be
passed off as another, and the payload bytes are signed and returned exactly as they
are: nothing is re-serialised to verify.

The payloads are canonical JSON (sorted keys, compact, UTF-8). :func:`canonical_json`
writes it; :func:`parse_json_payload` and the ``payload_*`` readers parse it strictly,
so that the payload modules (:mod:`gateway.core.hop`, :mod:`gateway.core.statements`)
share one set of rules.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from gateway.core import strict_json
from gateway.core.algorithms import Signer, Verifier, check_jws_algorithm
from gateway.core.errors import MalformedError, NotFoundError, SignatureError
from gateway.core.limits import DEFAULT_LIMITS, Limits
from gateway.core.payload_fields import describe_kind, describe_type, parse_json_payload

__all__ = [
    "Envelope",
    "EnvelopeSignature",
    "canonical_json",
    "pae",
    "sign_envelope",
    "verify_envelope",
]

_T = TypeVar("_T")


def pae(payload_type: str, payload: bytes) -> bytes:
    """Pre-Authentication Encoding (DSSE protocol.md, "Signature Definition").

    ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``. LEN counts the bytes of
    the UTF-8 type, not its characters (the reference implementation counts
    characters, which differs for non-ASCII types).

    Raises:
        MalformedError: if ``payload_type`` cannot be encoded as UTF-8 (lone surrogates).
    """
    try:
        type_bytes = payload_type.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedError("DSSE payload type is not valid UTF-8 text") from exc
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


@dataclass(frozen=True, slots=True)
class EnvelopeSignature:
    """One signature of an envelope; ``keyid`` is an unauthenticated hint ("" if unset)."""

    keyid: str
    sig: bytes


@dataclass(frozen=True, slots=True)
class Envelope:
    """A DSSE JSON envelope (envelope.md, "Standard JSON envelope")."""

    payload_type: str
    payload: bytes
    signatures: tuple[EnvelopeSignature, ...]

    def to_json(self) -> bytes:
        """The standard JSON envelope: compact, standard base64; ``keyid`` omitted if empty."""
        signatures: list[dict[str, str]] = []
        for signature in self.signatures:
            entry = {"sig": _b64encode(signature.sig)}
            if signature.keyid:
                entry["keyid"] = signature.keyid
            signatures.append(entry)
        return canonical_json(
            {
                "payload": _b64encode(self.payload),
                "payloadType": self.payload_type,
                "signatures": signatures,
            }
        )

    @classmethod
    def from_json(cls, data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> Envelope:
        """Parse a JSON envelope.

        Base64 may be standard or URL-safe (protocol.md requires verifiers to accept
        both). Unrecognised fields are ignored, as envelope.md requires; an unset
        ``keyid`` reads as "". The signature list may be empty here:
        :func:`verify_envelope` refuses it.

        Raises:
            LimitExceededError: if ``data`` exceeds ``limits.max_envelope_bytes``, the
                signatures exceed ``limits.max_signatures_per_envelope``, or a key id
                exceeds ``limits.max_string_chars`` (each checked before decoding it).
            MalformedError: naming the field that is missing, mistyped or not base64.
        """
        limits.check_bytes("DSSE envelope", len(data), limits.max_envelope_bytes)
        obj = parse_json_payload(data, what="DSSE envelope")
        payload = _b64decode(_required(obj, "payload", str, "payload"), "payload")
        payload_type = _required(obj, "payloadType", str, "payloadType")
        if not strict_json.is_unicode(payload_type):
            raise MalformedError("DSSE envelope field 'payloadType' is not valid Unicode")
        raw_signatures = _required(obj, "signatures", list, "signatures")
        limits.check_count(
            "DSSE envelope signatures", len(raw_signatures), limits.max_signatures_per_envelope
        )
        signatures: list[EnvelopeSignature] = []
        for index, raw in enumerate(raw_signatures):
            where = f"signatures[{index}]"
            if not isinstance(raw, dict):
                raise MalformedError(
                    f"DSSE envelope field {where!r} must be an object, not {describe_kind(raw)}"
                )
            keyid = raw.get("keyid", "")
            if not isinstance(keyid, str):
                kind = describe_kind(keyid)
                raise MalformedError(
                    f"DSSE envelope field '{where}.keyid' must be a string, not {kind}"
                )
            limits.check_count(
                f"DSSE envelope {where}.keyid characters", len(keyid), limits.max_string_chars
            )
            if not strict_json.is_unicode(keyid):
                raise MalformedError(f"DSSE envelope field '{where}.keyid' is not valid Unicode")
            sig = _b64decode(_required(raw, "sig", str, f"{where}.sig"), f"{where}.sig")
            signatures.append(EnvelopeSignature(keyid=keyid, sig=sig))
        return cls(payload_type=payload_type, payload=payload, signatures=tuple(signatures))


def sign_envelope(payload_type: str, payload: bytes, signer: Signer) -> Envelope:
    """Sign exactly ``payload`` under ``payload_type``; the key id is ``signer.key_id``.

    Raises:
        MalformedError: if ``payload_type`` cannot be encoded as UTF-8.
    """
    sig = signer.sign(pae(payload_type, payload))
    return Envelope(payload_type, payload, (EnvelopeSignature(signer.key_id, sig),))


def verify_envelope(
    envelope: Envelope,
    *,
    expected_type: str,
    resolve_key: Callable[[str], Verifier],
    required_keyid: str | None = None,
) -> bytes:
    """Verify ``envelope`` and return its payload bytes exactly as received.

    Key ids are only hints (protocol.md): ``resolve_key`` decides which keys are
    trusted and must raise :class:`SignatureError` or :class:`NotFoundError` for a key
    id it does not trust; such signatures are skipped. A trusted key whose signature
    fails is an attack or a fault, never skipped, even if another signature is valid.

    Args:
        envelope: the parsed envelope.
        expected_type: the only payload type the caller accepts.
        resolve_key: maps a key id to the verifier of a trusted key.
        required_keyid: if given, this key's signature must be present and valid.

    Raises:
        MalformedError: if the payload type is not ``expected_type``.
        AlgorithmError: if a trusted key's algorithm is not on the federation allow-list.
        SignatureError: if there are no signatures, a trusted key's signature does not
            verify (naming the key id), no signature is from a trusted key, or the
            required key's signature is missing.
    """
    if envelope.payload_type != expected_type:
        raise MalformedError(
            f"payload type {envelope.payload_type!r} is not the expected {expected_type!r}"
        )
    if not envelope.signatures:
        raise SignatureError("envelope has no signatures")
    message = pae(envelope.payload_type, envelope.payload)
    verified: set[str] = set()
    untrusted: list[str] = []
    for signature in envelope.signatures:
        try:
            verifier = resolve_key(signature.keyid)
        except (SignatureError, NotFoundError):
            untrusted.append(signature.keyid)
            continue
        check_jws_algorithm(verifier.jws_algorithm)
        try:
            verifier.verify(signature.sig, message)
        except SignatureError as exc:
            raise SignatureError(f"signature by key {signature.keyid!r} does not verify") from exc
        verified.add(signature.keyid)
    if not verified:
        names = ", ".join(repr(keyid) for keyid in untrusted)
        raise SignatureError(f"no signature from a trusted key (key ids: {names})")
    if required_keyid is not None and required_keyid not in verified:
        raise SignatureError(f"no valid signature by the required key {required_keyid!r}")
    return envelope.payload


def canonical_json(obj: Mapping[str, object]) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 without escaping non-ASCII."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _required(obj: Mapping[str, object], key: str, kind: type[_T], where: str) -> _T:
    if key not in obj:
        raise MalformedError(f"DSSE envelope field {where!r} is missing")
    value = obj[key]
    if not isinstance(value, kind):
        expected, found = describe_type(kind), describe_kind(value)
        raise MalformedError(f"DSSE envelope field {where!r} must be {expected}, not {found}")
    return value


def _b64encode(data: bytes) -> str:
    return base64.standard_b64encode(data).decode("ascii")


def _b64decode(text: str, where: str) -> bytes:
    # protocol.md: verifiers MUST accept standard and URL-safe base64. One string may
    # not mix the two alphabets: that is neither encoding.
    if "-" in text or "_" in text:
        if "+" in text or "/" in text:
            raise MalformedError(f"DSSE envelope field {where!r} mixes base64 alphabets")
        text = text.translate(_URL_SAFE_TO_STANDARD)
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:  # binascii.Error, or non-ASCII text
        raise MalformedError(f"DSSE envelope field {where!r} is not base64") from exc


_URL_SAFE_TO_STANDARD = str.maketrans("-_", "+/")
