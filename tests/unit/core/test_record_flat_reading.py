"""verify_record's one-pass reading of flat records against the general path.

For every record below (well-formed, at a bound, or faulty in one way), ``verify_record``
must give exactly what the general path gives: ``verify_sd_jwt`` (RFC 9901 processing,
the validity times) then ``read_record``: the same record, or the same error, with the
same message. The redaction for the next hop, made from what the one-pass reading kept
(``redact_verified``), must be exactly ``redact``'s of the same text, for every set of
names kept.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from gateway.core._jws import b64url_encode, sign_compact
from gateway.core.algorithms import Verifier
from gateway.core.catalog import RecipientKind, Visibility
from gateway.core.errors import GatewayError, LimitExceededError
from gateway.core.limits import DEFAULT_LIMITS
from gateway.core.policy import Recipient, SharePlan
from gateway.core.records import (
    RECORD_TYP,
    SignedRecord,
    read_record,
    redact_verified,
    verify_record,
)
from gateway.core.sdjwt import digest_of, redact, redact_flat, verify_sd_jwt
from tests.unit.core.test_records import CLAIMS, NOW, SIGNER

SKEW = DEFAULT_LIMITS.clock_skew_s
FIELDS = [("XDR_MC", '"丽水测试企业有限公司"'), ("FR_ZJHM#masked", '"3311**"'), ("CF_JE", '"12.5"')]
DECOYS = [digest_of(b64url_encode(f"decoy-{n}".encode())) for n in range(3)]


def _disclosure(name: str | None, value: str, salt: str = "c2FsdHNhbHRzYWx0c2FsdA") -> str:
    head = f'"{salt}"' if name is None else f'"{salt}",{json.dumps(name)}'
    return b64url_encode(f"[{head},{value}]".encode())


def _sd_jwt(
    *,
    claims: dict[str, Any] | None = None,
    fields: list[tuple[str | None, str]] | None = None,
    extra: list[str] | None = None,
    sd: Any = None,
) -> str:
    """A record signed by SIGNER: ``claims`` over CLAIMS (None removes one), the Disclosures
    of ``fields`` (name, JSON value text) and the ``extra`` ones sent, ``sd`` instead of the
    digests of ``fields`` and the decoys, sorted."""
    encoded = [_disclosure(name, value) for name, value in (FIELDS if fields is None else fields)]
    digests = sorted([*(digest_of(e) for e in encoded), *DECOYS]) if sd is None else sd
    payload = {**CLAIMS, "_sd": digests, "_sd_alg": "sha-256", **(claims or {})}
    payload = {name: value for name, value in payload.items() if value is not None}
    header = {"alg": "EdDSA", "kid": SIGNER.key_id, "typ": RECORD_TYP}
    jwt = sign_compact(SIGNER, header, json.dumps(payload).encode())
    return "".join([jwt, "~", *(f"{e}~" for e in [*encoded, *(extra or [])])])


def _resolve(kid: str) -> Verifier:
    return SIGNER.verifier()


KEPT = [
    frozenset(),
    frozenset({"CF_JE"}),
    frozenset({"XDR_MC", "FR_ZJHM#masked", "A", "rid", "nbf"}),
    frozenset({"XDR_MC", "FR_ZJHM#masked", "CF_JE", "A", "B", "#masked"}),
]
"""The names a redaction keeps: none, one, most, all (and names no record here carries)."""


def _redacted(sd_jwt: str, keep: frozenset[str]) -> str | tuple[str, str]:
    try:
        return redact(sd_jwt, lambda disclosure: disclosure.name in keep)
    except GatewayError as exc:
        return type(exc).__name__, str(exc)


def _redacted_verified(record: SignedRecord, keep: frozenset[str]) -> str | tuple[str, str]:
    try:
        if record.flat is None:
            return redact(record.sd_jwt, lambda disclosure: disclosure.name in keep)
        return redact_flat(record.sd_jwt, record.flat, keep)
    except GatewayError as exc:
        return type(exc).__name__, str(exc)


def _outcome(
    read: Any,
    sd_jwt: str,
    redacted: Callable[[SignedRecord, frozenset[str]], str | tuple[str, str]],
) -> tuple[str, Any]:
    try:
        record = read(sd_jwt)
    except GatewayError as exc:
        return type(exc).__name__, str(exc)
    assert isinstance(record, SignedRecord)
    parts = (
        record,
        list(record.clear.items()),
        list(record.masked.items()),
        [redacted(record, keep) for keep in KEPT],
    )
    return "record", parts


def _general_outcome(sd_jwt: str) -> tuple[str, Any]:
    return _outcome(_general, sd_jwt, lambda record, keep: _redacted(record.sd_jwt, keep))


def _node_outcome(sd_jwt: str) -> tuple[str, Any]:
    return _outcome(_node, sd_jwt, _redacted_verified)


def _general(sd_jwt: str) -> SignedRecord:
    verified = verify_sd_jwt(
        sd_jwt,
        resolve_key=_resolve,
        now=NOW,
        expected_typ=RECORD_TYP,
        leeway_s=SKEW,
    )
    return read_record(verified, sd_jwt)


def _node(sd_jwt: str) -> SignedRecord:
    return verify_record(sd_jwt, resolve_key=_resolve, key_owner=lambda kid: "331100", now=NOW)


A = _disclosure("A", '"a"')


def _named(json_bytes: bytes) -> str:
    """A record whose one Disclosure is ``json_bytes`` as written, its digest in ``_sd``."""
    encoded = b64url_encode(json_bytes)
    return _sd_jwt(fields=[], extra=[encoded], sd=[digest_of(encoded)])


RECORDS: dict[str, str] = {
    "well-formed": _sd_jwt(),
    "no disclosures": _sd_jwt(fields=[]),
    "no _sd and no disclosures": _sd_jwt(fields=[], claims={"_sd": None}),
    "no _sd_alg": _sd_jwt(claims={"_sd_alg": None}),
    "_sd_alg sha-512": _sd_jwt(claims={"_sd_alg": "sha-512"}),
    "_sd not an array": _sd_jwt(fields=[], sd="x"),
    "_sd holding a number": _sd_jwt(fields=[], sd=[1]),
    # Not hashable: a set of these digests would raise TypeError, not the refusal.
    "_sd holding an object": _sd_jwt(fields=[], sd=[{"a": 1}]),
    "_sd holding an array": _sd_jwt(fields=[("A", '"a"')], sd=[["x"], digest_of(A)]),
    "a digest twice": _sd_jwt(fields=[("A", '"a"')], sd=[digest_of(A), digest_of(A)]),
    "too many digests": _sd_jwt(sd=[digest_of(str(n)) for n in range(257)]),
    "a Disclosure twice": _sd_jwt(fields=[("A", '"a"')], extra=[A]),
    "an unreferenced Disclosure": _sd_jwt(extra=[_disclosure("Z", '"z"')]),
    "a name twice": _sd_jwt(fields=[("A", '"a"'), ("A", '"b"')]),
    "a name also visible": _sd_jwt(fields=[("rid", '"R-2"')]),
    "an array element": _sd_jwt(fields=[(None, '"a"')]),
    "a number value": _sd_jwt(fields=[("A", "7")]),
    "an object value": _sd_jwt(fields=[("A", '{"b": "c"}')]),
    "an array value": _sd_jwt(fields=[("A", '["b"]')]),
    "a value at the bound": _sd_jwt(fields=[("A", '"' + "x" * 4000 + '"')]),
    "a value over the bound": _sd_jwt(fields=[("A", '"' + "x" * 4001 + '"')]),
    "a lone surrogate value": _sd_jwt(fields=[("A", '"\\ud800"')]),
    "an object claim": _sd_jwt(claims={"ext": {"a": 1}}),
    "an array claim": _sd_jwt(claims={"ext": [1]}),
    "a '...' claim": _sd_jwt(claims={"...": "x"}),
    "an unknown text claim": _sd_jwt(claims={"ext": "x"}),
    "nbf past": _sd_jwt(claims={"nbf": NOW - 10}),
    "nbf future": _sd_jwt(claims={"nbf": NOW + SKEW + 1}),
    "nbf as a Disclosure": _sd_jwt(fields=[("nbf", '"1"')]),
    "exp as a Disclosure": _sd_jwt(fields=[("exp", "1")], claims={"exp": None}),
    "iat as a Disclosure": _sd_jwt(fields=[("iat", f"{NOW + SKEW + 1}")], claims={"iat": None}),
    "exp at the leeway": _sd_jwt(claims={"exp": NOW - SKEW}),
    "exp just inside the leeway": _sd_jwt(claims={"exp": NOW - SKEW + 1}),
    "iat at the leeway": _sd_jwt(claims={"iat": NOW + SKEW}),
    "iat past the leeway": _sd_jwt(claims={"iat": NOW + SKEW + 1}),
    "exp a float": _sd_jwt(claims={"exp": NOW + 0.5}),
    "exp a text": _sd_jwt(claims={"exp": "soon"}),
    "ver true": _sd_jwt(claims={"ver": True}),
    "ver 0": _sd_jwt(claims={"ver": 0}),
    "unknown subject type": _sd_jwt(claims={"sbt": "robot"}),
    "natural person": _sd_jwt(claims={"sbt": "natural_person"}),
    "rid over the bound": _sd_jwt(claims={"rid": "R" * 41}),
    "cv a lone surrogate": _sd_jwt(claims={"cv": "\udc00"}),
    "npr given": _sd_jwt(claims={"npr": "不宜公开"}),
    "npr a number": _sd_jwt(claims={"npr": 7}),
    "npr over the bound": _sd_jwt(claims={"npr": "x" * 10_001}),
    "a masked name only": _sd_jwt(fields=[("#masked", '"x"')]),
    "a Disclosure not base64url": _sd_jwt(extra=["a+b"]),
    "a Disclosure not JSON": _sd_jwt(extra=[b64url_encode(b'["s","A",')]),
    "a Disclosure of four elements": _sd_jwt(extra=[b64url_encode(b'["s","A","a","b"]')]),
    "a Disclosure with a number salt": _sd_jwt(extra=[b64url_encode(b'[1,"A","a"]')]),
    "a Disclosure with a number name": _sd_jwt(extra=[b64url_encode(b'["s",1,"a"]')]),
    "a Disclosure with a reserved name": _sd_jwt(fields=[("_sd", '"x"')]),
    "a Disclosure not an array": _sd_jwt(extra=[b64url_encode(b'{"s":"A"}')]),
    "an object value, then a malformed Disclosure": _sd_jwt(
        fields=[("A", '{"b": "c"}')], extra=["a+b"]
    ),
    "a malformed Disclosure, then an object value": _sd_jwt(
        fields=[("A", '"a"'), ("B", '{"b": "c"}')], extra=["a+b"]
    ),
    "too many digests and a malformed Disclosure": _sd_jwt(
        fields=[], sd=[digest_of(str(n)) for n in range(257)], extra=["a+b"]
    ),
    # How each Disclosure's JSON is written: read flat only when bare (nothing around it).
    "a Disclosure spaced inside": _named(b'[ "s" , "A" , "a" ]'),
    "a Disclosure with escapes": _named(b'["s","A","\\u4e3d\\n"]'),
    "a Disclosure with a space before": _named(b' ["s","A","a"]'),
    "a Disclosure with a newline after": _named(b'["s","A","a"]\n'),
    "a Disclosure with a byte order mark": _named('\ufeff["s","A","a"]'.encode()),
    "a Disclosure not UTF-8": _named(b'["s","A","\xff"]'),
    "a Disclosure with more JSON after it": _named(b'["s","A","a"]["x"]'),
    "a Disclosure with a NaN value": _named(b'["s","A",NaN]'),
    "a Disclosure with a duplicate member": _named(b'["s","A",{"a":1,"a":2}]'),
    "a null Disclosure": _named(b"null"),
    "a Disclosure nested too deeply": _named(b"[" * 100_000 + b"]" * 100_000),
}


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_verify_record_reads_as_the_general_path(name: str) -> None:
    sd_jwt = RECORDS[name]
    general = _general_outcome(sd_jwt)
    assert _node_outcome(sd_jwt) == general


def test_a_flat_record_is_redacted_from_its_reading_and_any_other_from_its_text() -> None:
    read_flat = {
        name
        for name, sd_jwt in RECORDS.items()
        if _node_outcome(sd_jwt)[0] == "record"
        if _node(sd_jwt).flat is not None
    }
    # Every record accepted but those with an object, an array or an nbf claim, or a
    # Disclosure's JSON with whitespace around it.
    assert read_flat == {
        "well-formed",
        "no disclosures",
        "no _sd and no disclosures",
        "no _sd_alg",
        "a value at the bound",
        "an unknown text claim",
        "exp just inside the leeway",
        "iat at the leeway",
        "natural person",
        "npr given",
        "a masked name only",
        "a Disclosure spaced inside",
        "a Disclosure with escapes",
    }
    record = _node(RECORDS["well-formed"])
    assert record.flat is not None
    assert record == dataclasses.replace(record, flat=None)
    assert "flat" not in repr(record)


def test_the_forward_of_a_record_read_flat_is_the_plans_redaction() -> None:
    record = _node(RECORDS["well-formed"])
    assert record.flat is not None
    plan = SharePlan(
        category="admin_penalty",
        recipient=Recipient(RecipientKind.PARENT, node_id="330000"),
        shared=True,
        rule="test",
        fields={
            "XDR_MC": Visibility.CLEAR,
            "FR_ZJHM": Visibility.MASKED,
            "CF_JE": Visibility.WITHHELD,
        },
    )
    kept = redact_verified(record, plan)
    assert kept == redact(record.sd_jwt, lambda d: d.name in {"XDR_MC", "FR_ZJHM#masked"})
    assert kept == redact_verified(dataclasses.replace(record, flat=None), plan)
    assert kept.count("~") == 3


def test_the_forward_of_a_record_read_under_wider_limits_is_refused_as_redact_refuses_it() -> None:
    many: list[tuple[str | None, str]] = [
        (f"F{n}", '"v"') for n in range(DEFAULT_LIMITS.max_disclosures_per_record + 1)
    ]
    sd_jwt = _sd_jwt(fields=many)
    wide = dataclasses.replace(DEFAULT_LIMITS, max_disclosures_per_record=1_000)
    record = verify_record(
        sd_jwt, resolve_key=_resolve, key_owner=lambda kid: "331100", now=NOW, limits=wide
    )
    assert record.flat is not None
    with pytest.raises(LimitExceededError) as general:
        redact(sd_jwt, lambda d: True)
    with pytest.raises(LimitExceededError) as flat:
        redact_flat(sd_jwt, record.flat, frozenset({"F0"}))
    assert str(flat.value) == str(general.value)


def test_the_records_cover_acceptance_and_refusal() -> None:
    kinds = {name: _general_outcome(sd_jwt)[0] for name, sd_jwt in RECORDS.items()}
    assert [name for name, kind in kinds.items() if kind == "record"] == [
        "well-formed",
        "no disclosures",
        "no _sd and no disclosures",
        "no _sd_alg",
        "a value at the bound",
        "an object claim",
        "an array claim",
        "an unknown text claim",
        "nbf past",
        "exp just inside the leeway",
        "iat at the leeway",
        "natural person",
        "npr given",
        "a masked name only",
        "a Disclosure spaced inside",
        "a Disclosure with escapes",
        "a Disclosure with a space before",
        "a Disclosure with a newline after",
    ]
