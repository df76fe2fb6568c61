"""Credit records as SD-JWTs: issue from a validated record, read a verified one.

Always-visible claims (signed, never redacted)::

    iss  issuing node id          rid  record id         ver  version
    cat  catalog category         cv   catalog version   sbt  subject type
    iat  issue time               exp  end of the disclosure period

Every catalog field is its own disclosure; a field with a mask rule also gets a
masked-variant disclosure ``<code>#masked``. Redaction for a recipient removes
disclosures and never re-signs (see :mod:`gateway.core.policy`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from gateway.core._jws import b64url_decode, loads_strict
from gateway.core.algorithms import Signer, Verifier
from gateway.core.catalog import Category
from gateway.core.disclosure import decode_flat
from gateway.core.errors import MalformedError, SignatureError
from gateway.core.flat_sd_jwt import flat_digests
from gateway.core.identifiers import SubjectType
from gateway.core.limits import DEFAULT_LIMITS, Limits
from gateway.core.masking import apply_mask
from gateway.core.policy import MASKED_SUFFIX, SharePlan, disclosure_names
from gateway.core.record_fields import ValidatedRecord, check_record_issuer
from gateway.core.sdjwt import (
    FlatParts,
    SignedJwt,
    VerifiedSdJwt,
    issue_sd_jwt,
    parse_sd_jwt,
    process_signed,
    redact,
    redact_flat,
    verify_issuer_jwt,
)
from gateway.core.strict_json import is_unicode

__all__ = [
    "NOT_PUBLIC_CLAIM",
    "RECORD_TYP",
    "SignedRecord",
    "content_digest",
    "disclosed_names",
    "display_fields",
    "expires_at",
    "issue_record",
    "not_public_reason",
    "read_record",
    "redact_record",
    "redact_verified",
    "verify_record",
]

RECORD_TYP = "vnd.credit-gateway.record+sd-jwt"
NOT_PUBLIC_CLAIM = "npr"
"""The always-visible claim of a record its issuer marked 不宜公开, holding the reason."""
CHINA_STANDARD_TIME = timezone(timedelta(hours=8))


@dataclass(frozen=True, slots=True)
class SignedRecord:
    """A verified record: its signed claims and what was disclosed to us.

    Attributes:
        clear: field code -> clear value, for the fields disclosed in clear.
        masked: field code -> masked value, for fields disclosed only masked.
        sd_jwt: the exact SD-JWT text as received (never rebuilt).
    """

    issuer: str
    record_id: str
    version: int
    category: str
    catalog_version: str
    subject_type: SubjectType
    issued_at: int
    expires_at: int
    key_id: str
    clear: Mapping[str, str]
    masked: Mapping[str, str]
    sd_jwt: str
    not_public: str = ""
    """The issuer's reason why the record is never published (不宜公开); "" if none."""
    flat: FlatParts | None = field(default=None, compare=False, repr=False)
    """What redacting ``sd_jwt`` reads, kept by :func:`verify_record` when it read the
    record flat (:func:`redact_verified`); None otherwise. Not part of the record."""

    def display_fields(self) -> dict[str, str]:
        """Clear values, and masked ones where only the mask was disclosed."""
        return {**self.masked, **self.clear}


def expires_at(expires_on: date) -> int:
    """Unix time at the end of ``expires_on`` in China Standard Time (UTC+8)."""
    next_day = datetime.combine(expires_on + timedelta(days=1), datetime.min.time())
    return int(next_day.replace(tzinfo=CHINA_STANDARD_TIME).timestamp()) - 1


def content_digest(category: str, fields: Mapping[str, str]) -> str:
    """Hex SHA-256 over a record's category and normalised fields (order-free).

    Intake uses it to tell a re-submission of the same content (no new version)
    from a changed document (a new version).
    """
    canonical = json.dumps(
        [category, sorted(fields.items())], ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def issue_record(
    record: ValidatedRecord,
    category: Category,
    *,
    issuer: str,
    record_id: str,
    version: int,
    catalog_version: str,
    signer: Signer,
    now: int,
    not_public: str = "",
    random_bytes: Callable[[int], bytes] = secrets.token_bytes,
) -> str:
    """Sign ``record`` as an SD-JWT with one disclosure per field (+ masked variants).

    ``not_public``: the issuer's reason why the record must never be published
    (不宜公开, Huzhou 2018), signed as the always-visible claim ``npr``.
    ``random_bytes`` draws the salts and decoys (see :func:`issue_sd_jwt`).

    Raises:
        InputError: if the category's ``sd_size`` cannot hold the disclosures.
    """
    claims = {
        "iss": issuer,
        "rid": record_id,
        "ver": version,
        "cat": category.code,
        "cv": catalog_version,
        "sbt": record.subject_type.value,
        "iat": now,
        "exp": expires_at(record.expires_on),
    }
    if not_public:
        claims[NOT_PUBLIC_CLAIM] = not_public
    disclosable: list[tuple[str, str]] = []
    for spec in category.fields:
        value = record.fields.get(spec.code)
        if value is None:
            continue
        disclosable.append((spec.code, value))
        if spec.mask is not None:
            disclosable.append((spec.code + MASKED_SUFFIX, apply_mask(spec.mask, value)))
    return issue_sd_jwt(
        signer=signer,
        claims=claims,
        disclosable=disclosable,
        sd_size=category.sd_size,
        typ=RECORD_TYP,
        random_bytes=random_bytes,
    )


def _claim(payload: Mapping[str, object], name: str, kind: type) -> object:
    value = payload.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise MalformedError(f"record claim {name!r} is missing or not a {kind.__name__}")
    return value


def read_record(
    verified: VerifiedSdJwt, sd_jwt: str, *, limits: Limits = DEFAULT_LIMITS
) -> SignedRecord:
    """Read the record claims of an already verified SD-JWT.

    Every claim and disclosure is bounded by ``limits`` here, before any caller
    stores, forwards or serves the record.

    Args:
        verified: the result of verifying ``sd_jwt``.
        sd_jwt: the exact text that was verified, kept as received.
        limits: the bounds of versions, times, ids and texts.

    Raises:
        MalformedError: naming the claim or disclosure that does not fit a record.
        OutOfRangeError: naming the claim outside its bounds.
    """
    payload = verified.payload
    subject_type = str(_claim(payload, "sbt", str))
    try:
        sbt = SubjectType(subject_type)
    except ValueError as exc:
        raise MalformedError(
            f"record claim 'sbt' has unknown subject type {subject_type!r}"
        ) from exc
    disclosed = verified.disclosed
    clear: dict[str, str] = {}
    masked: dict[str, str] = {}
    max_chars = limits.max_field_chars
    plain = True
    # One pass sorts the Disclosures and checks each is text within the bound; a lone
    # surrogate is looked for once in all of them joined (Python keeps surrogates as
    # separate code points, so joining cannot pair two lone halves: the joined text has a
    # UTF-8 form exactly when every value has one). Where any of it fails, the checks run
    # value by value, in order, for the precise error.
    for name, value in disclosed.items():
        if not isinstance(value, str) or len(value) > max_chars:
            plain = False
            break
        if name.endswith(MASKED_SUFFIX):
            masked[name.removesuffix(MASKED_SUFFIX)] = value
        else:
            clear[name] = value
    if not plain or not is_unicode("".join(disclosed.values())):
        for name, value in disclosed.items():
            if not isinstance(value, str):
                raise MalformedError(f"disclosure {name!r} is not a string")
            _check_text(f"disclosure {name!r}", value, max_chars, limits)
    version = int(str(_claim(payload, "ver", int)))
    issued_at = int(str(_claim(payload, "iat", int)))
    expires_at = int(str(_claim(payload, "exp", int)))
    limits.check_range(
        "record claim 'ver'", version, 1, limits.max_record_version, rule="limits:record-version"
    )
    for name, when in (("iat", issued_at), ("exp", expires_at)):
        limits.check_range(
            f"record claim {name!r}", when, 0, limits.max_unix_time_s, rule="limits:time"
        )
    record_id = str(_claim(payload, "rid", str))
    _check_text("record claim 'rid'", record_id, limits.max_record_id_chars, limits)
    texts = {name: str(_claim(payload, name, str)) for name in ("iss", "cat", "cv")}
    for name, text in texts.items():
        _check_text(f"record claim {name!r}", text, limits.max_string_chars, limits)
    not_public = payload.get(NOT_PUBLIC_CLAIM, "")
    if not isinstance(not_public, str):
        raise MalformedError(f"record claim {NOT_PUBLIC_CLAIM!r} is not a string")
    _check_text(f"record claim {NOT_PUBLIC_CLAIM!r}", not_public, limits.max_text_chars, limits)
    return SignedRecord(
        issuer=texts["iss"],
        record_id=record_id,
        version=version,
        category=texts["cat"],
        catalog_version=texts["cv"],
        subject_type=sbt,
        issued_at=issued_at,
        expires_at=expires_at,
        key_id=str(verified.header.get("kid", "")),
        clear=clear,
        masked=masked,
        sd_jwt=sd_jwt,
        not_public=not_public,
    )


def _check_text(what: str, text: str, max_chars: int, limits: Limits) -> None:
    if not is_unicode(text):
        raise MalformedError(f"{what} is not valid Unicode text (a lone surrogate)")
    limits.check_range(f"{what} length", len(text), 0, max_chars, rule="limits:text")


_SUBJECT_TYPES = {kind.value: kind for kind in SubjectType}
_TIME_CLAIMS = frozenset({"exp", "nbf", "iat"})


def _flat_fields(
    payload: dict[str, Any], names: list[str], values: list[str], limits: Limits
) -> tuple[dict[str, str], dict[str, str]] | None:
    """The clear and masked fields of text Disclosures within the bound with fresh names."""
    max_chars = limits.max_field_chars
    clear: dict[str, str] = {}
    masked: dict[str, str] = {}
    for name, value in zip(names, values, strict=True):
        if len(value) > max_chars or name in payload or name in _TIME_CLAIMS:
            return None
        if name.endswith(MASKED_SUFFIX):
            masked[name.removesuffix(MASKED_SUFFIX)] = value
        else:
            clear[name] = value
    if len(clear) + len(masked) != len(names):
        return None  # a name disclosed twice
    return clear, masked


def _read_flat(signed: SignedJwt, now: int, limits: Limits) -> SignedRecord | None:
    """The record of a flat SD-JWT every check passes, in one pass; else None.

    What :meth:`~gateway.core.sdjwt.SignedJwt.decoded`,
    :func:`~gateway.core.sdjwt.process_signed` then :func:`read_record` make of the
    same record, with what its redaction reads (:attr:`SignedRecord.flat`) instead
    of the parts :func:`~gateway.core.sdjwt.process_signed` keeps. Only the
    accepting path is taken here: at anything that is not plainly valid (a
    Disclosure that is not a named text, anything nested, an ``_sd_alg`` other than
    sha-256, too many digests, a repeated digest, a duplicate or unreferenced
    Disclosure, a name collision or a Disclosure named after a time claim, an
    ``nbf``, an expired or future record, any claim or Disclosure that
    :func:`read_record` would refuse) it returns None, and the caller runs those
    three, which raise the precise error in their order.
    """
    decoded = decode_flat(signed.encoded)
    if decoded is None:
        return None
    names, texts, digests = decoded
    payload = signed.payload
    sd = flat_digests(payload, digests, limits)
    if sd is None:
        return None
    fields = _flat_fields(payload, names, texts, limits)
    if fields is None:
        return None
    clear, masked = fields
    sbt = payload.get("sbt")
    subject_type = _SUBJECT_TYPES.get(sbt) if type(sbt) is str else None
    version, issued_at, expires_at = payload.get("ver"), payload.get("iat"), payload.get("exp")
    record_id, issuer = payload.get("rid"), payload.get("iss")
    category, catalog_version = payload.get("cat"), payload.get("cv")
    not_public = payload.get(NOT_PUBLIC_CLAIM, "")
    max_time, leeway = limits.max_unix_time_s, limits.clock_skew_s
    if (
        subject_type is None
        or "nbf" in payload
        or type(version) is not int
        or type(issued_at) is not int
        or type(expires_at) is not int
        or not 1 <= version <= limits.max_record_version
        or not 0 <= issued_at <= max_time
        or not 0 <= expires_at <= max_time
        or now >= expires_at + leeway
        or now + leeway < issued_at
        or type(record_id) is not str
        or len(record_id) > limits.max_record_id_chars
        or type(issuer) is not str
        or type(category) is not str
        or type(catalog_version) is not str
        or max(len(issuer), len(category), len(catalog_version)) > limits.max_string_chars
        or type(not_public) is not str
        or len(not_public) > limits.max_text_chars
    ):
        return None
    texts += (record_id, issuer, category, catalog_version, not_public)
    if not is_unicode("".join(texts)):
        return None
    return SignedRecord(
        issuer=issuer,
        record_id=record_id,
        version=version,
        category=category,
        catalog_version=catalog_version,
        subject_type=subject_type,
        issued_at=issued_at,
        expires_at=expires_at,
        key_id=str(signed.header.get("kid", "")),
        clear=clear,
        masked=masked,
        sd_jwt=signed.text,
        not_public=not_public,
        flat=FlatParts(signed.issuer_jwt, tuple(zip(names, signed.encoded, strict=True)), len(sd)),
    )


def verify_record(
    sd_jwt: str,
    *,
    resolve_key: Callable[[str], Verifier],
    key_owner: Callable[[str], str],
    now: int,
    limits: Limits = DEFAULT_LIMITS,
) -> SignedRecord:
    """Verify an SD-JWT strictly and read it as a record.

    Args:
        resolve_key: kid -> verifier for the signing certificate valid at issue time.
        key_owner: kid -> node id named by that signing certificate.

    Raises:
        VerificationError: any RFC 9901 rule, signature, expiry or record claim failure.
        SignatureError: if the key that signed is not the issuing node's.
        AccessDeniedError: the record id is not one of its issuer's (a node
            publishing a record, or a version of one, of another node's).
    """
    signed = verify_issuer_jwt(
        sd_jwt, resolve_key=resolve_key, limits=limits, expected_typ=RECORD_TYP
    )
    record = _read_flat(signed, now, limits)
    if record is None:
        verified = process_signed(
            signed.decoded(), now=now, limits=limits, leeway_s=limits.clock_skew_s
        )
        record = read_record(verified, sd_jwt, limits=limits)
    owner = key_owner(record.key_id)
    if owner != record.issuer:
        raise SignatureError(
            f"record {record.record_id} claims issuer {record.issuer} but is signed by node {owner}"
        )
    check_record_issuer(record.record_id, record.issuer)
    return record


def display_fields(sd_jwt: str, *, limits: Limits = DEFAULT_LIMITS) -> dict[str, str]:
    """The disclosed field values of an SD-JWT (parsed, not verified), for display.

    A masked variant (``CODE#masked``) shows under its field's code; a clear
    value, when the SD-JWT carries one, wins over it.
    """
    fields: dict[str, str] = {}
    for disclosure in parse_sd_jwt(sd_jwt, limits=limits).disclosures:
        if disclosure.name is None or not isinstance(disclosure.value, str):
            continue
        code = disclosure.name.removesuffix(MASKED_SUFFIX)
        if disclosure.name == code or code not in fields:
            fields[code] = disclosure.value
    return fields


def not_public_reason(sd_jwt: str, *, limits: Limits = DEFAULT_LIMITS) -> str:
    """The issuer's 不宜公开 reason signed in a record ("" if none): parsed, not verified.

    For records this node already verified (when it issued or received them).

    Raises:
        MalformedError: the issuer JWT's payload is not JSON.
    """
    issuer_jwt = parse_sd_jwt(sd_jwt, limits=limits).issuer_jwt
    payload = loads_strict(
        b64url_decode(issuer_jwt.split(".")[1], what="JWT payload"), what="JWT payload"
    )
    reason = payload.get(NOT_PUBLIC_CLAIM, "") if isinstance(payload, dict) else ""
    return reason if isinstance(reason, str) else ""


def disclosed_names(sd_jwt: str, *, limits: Limits = DEFAULT_LIMITS) -> frozenset[str]:
    """Names of the disclosures an SD-JWT carries (parsed, not verified)."""
    return frozenset(
        d.name for d in parse_sd_jwt(sd_jwt, limits=limits).disclosures if d.name is not None
    )


def redact_record(sd_jwt: str, plan: SharePlan) -> str:
    """Keep only the disclosures ``plan`` allows; the issuer JWT is untouched."""
    keep = disclosure_names(plan)
    return redact(sd_jwt, lambda disclosure: disclosure.name in keep)


def redact_verified(record: SignedRecord, plan: SharePlan) -> str:
    """``redact_record(record.sd_jwt, plan)`` for a record :func:`verify_record` returned.

    A record read flat is redacted from what its reading kept (nothing parsed
    again); any other from its text, as :func:`redact_record`.

    Raises:
        LimitExceededError, MalformedError, DisclosureError: as :func:`redact_record`.
    """
    if record.flat is None:
        return redact_record(record.sd_jwt, plan)
    return redact_flat(record.sd_jwt, record.flat, disclosure_names(plan))
