"""Reading a verified record: every claim and disclosure within the limits (issue 13 item 8)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.core._jws import b64url_encode, sign_compact
from gateway.core.algorithms import Ed25519Signer, Verifier
from gateway.core.errors import GatewayError, OutOfRangeError
from gateway.core.identifiers import SubjectType
from gateway.core.records import RECORD_TYP, SignedRecord, not_public_reason, verify_record
from gateway.core.sdjwt import digest_of, issue_sd_jwt, redact

NOW = 1_760_000_000
SIGNER = Ed25519Signer("node-331100-sign", Ed25519PrivateKey.from_private_bytes(b"\x07" * 32))
CLAIMS: dict[str, object] = {
    "iss": "331100",
    "rid": "331100-R0123456789abcdef",
    "ver": 1,
    "cat": "admin_penalty",
    "cv": "2025.1",
    "sbt": "legal_person",
    "iat": NOW - 60,
    "exp": NOW + 86_400,
}


def _verify(
    *, disclosed: dict[str, str] | None = None, claims: dict[str, object] | None = None
) -> object:
    sd_jwt = issue_sd_jwt(
        signer=SIGNER,
        claims={**CLAIMS, **(claims or {})},
        disclosable=list((disclosed or {"XDR_MC": "丽水测试企业有限公司"}).items()),
        sd_size=4,
        typ=RECORD_TYP,
    )

    def resolve(kid: str) -> Verifier:
        return SIGNER.verifier()

    return verify_record(sd_jwt, resolve_key=resolve, key_owner=lambda kid: "331100", now=NOW)


def test_a_record_within_the_limits_is_read() -> None:
    _verify()


@pytest.mark.parametrize(
    ("claims", "message", "rule"),
    [
        (
            {"ver": 2**40},
            "record claim 'ver' is 1099511627776, outside 1..1000000",
            "limits:record-version",
        ),
        ({"ver": 0}, "record claim 'ver' is 0, outside 1..1000000", "limits:record-version"),
        ({"exp": 2**70}, f"record claim 'exp' is {2**70}, outside 0..253402300799", "limits:time"),
        ({"iat": -1}, "record claim 'iat' is -1, outside 0..253402300799", "limits:time"),
        ({"rid": "R" * 41}, "record claim 'rid' length is 41, outside 0..40", "limits:text"),
        ({"cv": "9" * 257}, "record claim 'cv' length is 257, outside 0..256", "limits:text"),
    ],
)
def test_claims_beyond_the_limits_are_refused(
    claims: dict[str, object], message: str, rule: str
) -> None:
    with pytest.raises(OutOfRangeError) as caught:
        _verify(claims=claims)
    assert (str(caught.value), caught.value.rule) == (message, rule)


def test_an_overlong_disclosure_is_refused() -> None:
    with pytest.raises(OutOfRangeError, match=r"^disclosure 'XDR_MC' length is 4001, outside"):
        _verify(disclosed={"XDR_MC": "x" * 4001})


def test_a_not_public_reason_is_a_signed_claim_every_reader_sees() -> None:
    record = _verify(claims={"npr": "涉及个人隐私"})
    assert isinstance(record, SignedRecord)
    assert record.not_public == "涉及个人隐私"
    assert not_public_reason(record.sd_jwt) == "涉及个人隐私"
    # Redaction keeps the issuer's JWT, so the claim survives every hop.
    assert not_public_reason(redact(record.sd_jwt, lambda _d: False)) == "涉及个人隐私"
    plain = _verify()
    assert isinstance(plain, SignedRecord)
    assert (plain.not_public, not_public_reason(plain.sd_jwt)) == ("", "")


@pytest.mark.parametrize(
    ("npr", "message"),
    [
        (7, "record claim 'npr' is not a string"),
        ("理" * 2001, "record claim 'npr' length is 2001, outside 0..2000"),
    ],
)
def test_a_malformed_not_public_reason_is_refused(npr: object, message: str) -> None:
    with pytest.raises(GatewayError, match=message):
        _verify(claims={"npr": npr})


def _verify_raw(disclosures: list[tuple[str, str]]) -> object:
    """A record whose Disclosures are the given (name, JSON value text) pairs, as written."""
    encoded = [
        b64url_encode(f'["c2FsdHNhbHRzYWx0c2FsdA","{name}",{value}]'.encode())
        for name, value in disclosures
    ]
    payload = {**CLAIMS, "_sd": sorted(digest_of(e) for e in encoded), "_sd_alg": "sha-256"}
    header = {"alg": "EdDSA", "kid": SIGNER.key_id, "typ": RECORD_TYP}
    jwt = sign_compact(SIGNER, header, json.dumps(payload).encode())
    sd_jwt = "".join([jwt, "~", *(f"{e}~" for e in encoded)])
    return verify_record(
        sd_jwt,
        resolve_key=lambda kid: SIGNER.verifier(),
        key_owner=lambda kid: "331100",
        now=NOW,
    )


@pytest.mark.parametrize(
    ("disclosures", "message"),
    [
        ([("A", '"x"'), ("B", "7")], "disclosure 'B' is not a string"),
        ([("A", '"' + "x" * 4001 + '"'), ("B", "7")], "disclosure 'A' length is 4001, outside"),
        ([("A", "7"), ("B", '"' + "x" * 4001 + '"')], "disclosure 'A' is not a string"),
        (
            [("A", '"ok"'), ("B", '"\\ud800"'), ("C", "[1]")],
            "disclosure 'B' is not valid Unicode text (a lone surrogate)",
        ),
        (
            [("A", '"\\udc00x"'), ("B", '"' + "x" * 4001 + '"')],
            "disclosure 'A' is not valid Unicode text (a lone surrogate)",
        ),
    ],
)
def test_disclosed_values_are_checked_in_received_order(
    disclosures: list[tuple[str, str]], message: str
) -> None:
    with pytest.raises(GatewayError) as caught:
        _verify_raw(disclosures)
    assert str(caught.value).startswith(message)


def test_lone_surrogate_halves_in_two_values_are_refused_not_paired() -> None:
    with pytest.raises(GatewayError) as caught:
        _verify_raw([("A", '"x\\ud83d"'), ("B", '"\\ude00y"')])
    assert str(caught.value) == "disclosure 'A' is not valid Unicode text (a lone surrogate)"


def test_raw_disclosures_that_are_plain_text_are_read() -> None:
    record = _verify_raw([("A", '"\\u4e3d\\u6c34"'), ("B#masked", '"33**"')])
    assert isinstance(record, SignedRecord)
    assert (dict(record.clear), dict(record.masked)) == ({"A": "丽水"}, {"B": "33**"})


def _verify_claims(claims: dict[str, object]) -> object:
    """A record with one Disclosure whose claims are ``CLAIMS`` changed by ``claims`` (``None``
    removes one), written with JSON escapes, so a claim can hold a lone surrogate."""
    encoded = b64url_encode(b'["c2FsdHNhbHRzYWx0c2FsdA","XDR_MC","x"]')
    payload = {**CLAIMS, **claims, "_sd": [digest_of(encoded)], "_sd_alg": "sha-256"}
    payload = {name: value for name, value in payload.items() if value is not None}
    header = {"alg": "EdDSA", "kid": SIGNER.key_id, "typ": RECORD_TYP}
    jwt = sign_compact(SIGNER, header, json.dumps(payload).encode())
    return verify_record(
        f"{jwt}~{encoded}~",
        resolve_key=lambda kid: SIGNER.verifier(),
        key_owner=lambda kid: "331100",
        now=NOW,
    )


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"sbt": "robot"}, "record claim 'sbt' has unknown subject type 'robot'"),
        ({"sbt": 5, "ver": 0}, "record claim 'sbt' is missing or not a str"),
        ({"ver": True}, "record claim 'ver' is missing or not a int"),
        ({"iat": None, "ver": 0}, "record claim 'iat' is missing or not a int"),
        ({"ver": 0, "rid": "R" * 41}, "record claim 'ver' is 0, outside 1..1000000"),
        ({"exp": 2**70, "iat": -1}, "record claim 'iat' is -1, outside 0..253402300799"),
        ({"exp": 2**70, "rid": None}, f"record claim 'exp' is {2**70}, outside 0..253402300799"),
        ({"rid": None, "iss": 7}, "record claim 'rid' is missing or not a str"),
        (
            {"rid": "331100-\ud800", "iss": 7},
            "record claim 'rid' is not valid Unicode text (a lone surrogate)",
        ),
        ({"rid": "R" * 41, "cv": None}, "record claim 'rid' length is 41, outside 0..40"),
        ({"iss": "33\ud800", "cat": 7}, "record claim 'cat' is missing or not a str"),
        (
            {"iss": "33\ud800", "cat": "x" * 257},
            "record claim 'iss' is not valid Unicode text (a lone surrogate)",
        ),
        ({"cat": "x" * 257, "cv": "\udc00"}, "record claim 'cat' length is 257, outside 0..256"),
        (
            {"cv": "\udc00", "npr": 7},
            "record claim 'cv' is not valid Unicode text (a lone surrogate)",
        ),
        ({"npr": "\ud800"}, "record claim 'npr' is not valid Unicode text (a lone surrogate)"),
    ],
)
def test_the_first_faulty_claim_in_reading_order_is_the_one_refused(
    claims: dict[str, object], message: str
) -> None:
    with pytest.raises(GatewayError) as caught:
        _verify_claims(claims)
    assert str(caught.value) == message


def test_claims_at_their_bounds_are_read_as_given() -> None:
    record = _verify_claims(
        {"ver": 1_000_000, "iat": 0, "exp": 253_402_300_799, "npr": "", "sbt": "natural_person"}
    )
    assert isinstance(record, SignedRecord)
    assert (
        record.version,
        record.issued_at,
        record.expires_at,
        record.not_public,
        record.subject_type,
        record.issuer,
        record.record_id,
        record.category,
        record.catalog_version,
        type(record.issuer),
        type(record.version),
    ) == (
        1_000_000,
        0,
        253_402_300_799,
        "",
        SubjectType.NATURAL_PERSON,
        "331100",
        "331100-R0123456789abcdef",
        "admin_penalty",
        "2025.1",
        str,
        int,
    )
