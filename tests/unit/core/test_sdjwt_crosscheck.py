"""Cross-check with the `sd-jwt` reference implementation (test only, never in production).

Every SD-JWT we issue, and every redaction of it, must verify with the reference
verifier and give the same claims; SD-JWTs issued and presented by the reference
implementation (nested objects, array elements, decoys) must verify with ours
and give the same claims.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwcrypto.jwk import JWK  # type: ignore[import-untyped]  # no stubs; test-only
from jwcrypto.jws import InvalidJWSSignature  # type: ignore[import-untyped]
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

from gateway.core.algorithms import Ed25519Signer, Verifier
from gateway.core.errors import DisclosureError
from gateway.core.sdjwt import (
    DEFAULT_TYP,
    Disclosure,
    issue_sd_jwt,
    parse_sd_jwt,
    redact,
    verify_sd_jwt,
)

NOW = 1_750_000_000
SIGNER = Ed25519Signer("node-330500-sign-1", Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
ISSUER_JWK = JWK.from_pyca(SIGNER.private_key)
CLAIMS = {"iss": "330500", "rid": "330500-2025-000001", "v": 1, "iat": NOW, "exp": NOW + 86400}

RECORDS: dict[str, list[tuple[str, Any]]] = {
    "penalty": [
        ("XDR_MC", "宁波某某建材有限公司"),
        ("FR_ZJHM", "11010519491231002X"),
        ("FR_ZJHM#masked", "1101**********002X"),
        ("CF_NR_FK", 12000.5),
    ],
    "json-shapes": [
        ("obj", {"a": [1, {"b": None}], "c": "ü\u2028\"'\\"}),
        ("list", ["x", 2, False]),
        ("empty", ""),
        ("null", None),
    ],
}


def resolve(kid: str) -> Verifier:
    return {SIGNER.key_id: SIGNER.verifier()}[kid]


def ours(text: str) -> dict[str, Any]:
    return dict(verify_sd_jwt(text, resolve_key=resolve, now=NOW).claims)


def reference(text: str) -> dict[str, Any]:
    def issuer_key(issuer: str, header: dict[str, Any]) -> JWK:
        assert header["kid"] == SIGNER.key_id
        return JWK.from_pyca(SIGNER.private_key.public_key())

    payload: dict[str, Any] = SDJWTVerifier(text, issuer_key).get_verified_payload()
    return payload


def keeping(names: set[str]) -> Callable[[Disclosure], bool]:
    return lambda disclosure: disclosure.name in names


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_every_redaction_of_our_records_verifies_with_the_reference(name: str) -> None:
    fields = RECORDS[name]
    text = issue_sd_jwt(signer=SIGNER, claims=CLAIMS, disclosable=fields, sd_size=12)
    names = [field for field, _ in fields]
    subsets = [set(c) for r in range(len(names) + 1) for c in itertools.combinations(names, r)]
    assert len(subsets) == 2 ** len(names)
    for kept in subsets:
        redacted = redact(text, keeping(kept))
        expected = CLAIMS | {field: value for field, value in fields if field in kept}
        assert reference(redacted) == expected
        assert ours(redacted) == expected


def test_reference_refuses_our_record_signed_by_another_key() -> None:
    other = Ed25519Signer(SIGNER.key_id, Ed25519PrivateKey.from_private_bytes(bytes(32)))
    text = issue_sd_jwt(signer=other, claims=CLAIMS, disclosable=RECORDS["penalty"], sd_size=4)
    with pytest.raises(InvalidJWSSignature, match="Verification failed"):
        reference(text)


USER_CLAIMS: dict[Any, Any] = {
    "iss": "330500",
    "exp": NOW + 3600,
    SDObj("XDR_MC"): "宁波某某建材有限公司",
    SDObj("address"): {
        "region": "330203",
        SDObj("street"): "中山东路1号",
        SDObj("postcode"): "315000",
    },
    "measures": [SDObj("M-01"), "M-02", SDObj({"code": "M-03", SDObj("note"): "限制"})],
    SDObj("nested_list"): [SDObj([SDObj("deep")])],
}

PRESENTATIONS: dict[str, Any] = {
    "everything": {
        "XDR_MC": True,
        "address": {"street": True, "postcode": True},
        "measures": [True, None, {"note": True}],
        "nested_list": [[True]],
    },
    "nothing": {},
    "top-level-only": {"XDR_MC": True, "address": True},
    "nested-only": {"address": {"postcode": True}, "measures": [None, None, True]},
    "array-element": {"measures": [True]},
}


def reference_issued(add_decoys: bool) -> str:
    issuer = SDJWTIssuer(
        USER_CLAIMS,
        ISSUER_JWK,
        sign_alg="EdDSA",
        add_decoy_claims=add_decoys,
        extra_header_parameters={"kid": SIGNER.key_id, "typ": DEFAULT_TYP},
    )
    issuance: str = issuer.sd_jwt_issuance
    return issuance


@pytest.mark.parametrize("add_decoys", [False, True])
@pytest.mark.parametrize("presentation", sorted(PRESENTATIONS))
def test_reference_presentations_verify_with_ours(add_decoys: bool, presentation: str) -> None:
    holder = SDJWTHolder(reference_issued(add_decoys))
    holder.create_presentation(PRESENTATIONS[presentation])
    text: str = holder.sd_jwt_presentation
    assert ours(text) == reference(text)


def test_reference_full_issuance_verifies_with_ours() -> None:
    text = reference_issued(add_decoys=True)
    claims = ours(text)
    assert claims == reference(text)
    assert claims["address"] == {"region": "330203", "street": "中山东路1号", "postcode": "315000"}
    assert claims["measures"] == ["M-01", "M-02", {"code": "M-03", "note": "限制"}]
    assert claims["nested_list"] == [["deep"]]


def test_our_redact_of_a_reference_issuance_keeps_nesting_consistent() -> None:
    text = reference_issued(add_decoys=True)
    disclosures = parse_sd_jwt(text).disclosures
    top_level = {d.digest for d in disclosures if d.name in ("XDR_MC", "address")}
    redacted = redact(text, lambda d: d.digest in top_level)
    assert ours(redacted) == reference(redacted)
    assert ours(redacted)["address"] == {"region": "330203"}
    with pytest.raises(DisclosureError, match="is kept but the disclosure embedding it is removed"):
        redact(text, lambda d: d.name == "street")
