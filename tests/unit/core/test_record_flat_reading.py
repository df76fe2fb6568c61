"""verify_record's one-pass reading of flat records against the general path.

For every record below (well-formed, at a bound, or faulty in one way), ``verify_record``
must give exactly what the general path gives: ``verify_sd_jwt`` (RFC 9901 processing,
the validity times) then ``read_record``: the same record, or the same error, with the
same message. The redaction for the next hop must find the same parts after both.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.core._jws import b64url_encode, sign_compact
from gateway.core.algorithms import Verifier
from gateway.core.errors import GatewayError
from gateway.core.limits import DEFAULT_LIMITS
from gateway.core.records import RECORD_TYP, SignedRecord, read_record, verify_record
from gateway.core.sdjwt import digest_of, redact, verify_sd_jwt
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


def _outcome(read: Any, sd_jwt: str) -> tuple[str, Any]:
    try:
        record = read(sd_jwt)
    except GatewayError as exc:
        return type(exc).__name__, str(exc)
    assert isinstance(record, SignedRecord)
    parts = (
        record,
        list(record.clear.items()),
        list(record.masked.items()),
        redact(sd_jwt, lambda disclosure: disclosure.name != "CF_JE"),
    )
    return "record", parts


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
}


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_verify_record_reads_as_the_general_path(name: str) -> None:
    sd_jwt = RECORDS[name]
    general = _outcome(_general, sd_jwt)
    assert _outcome(_node, sd_jwt) == general


def test_the_records_cover_acceptance_and_refusal() -> None:
    kinds = {name: _outcome(_general, sd_jwt)[0] for name, sd_jwt in RECORDS.items()}
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
    ]
