"""RFC 9901's own examples: every Disclosure and digest, and the §7.1 processing of its SD-JWTs.

The examples are signed with ES256, which the federation does not allow, and carry
no ``kid``; so digests and processing are checked through the internal processing
function, and the signature path is covered with our Ed25519 keys elsewhere.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from gateway.core.errors import AlgorithmError, MalformedError
from gateway.core.sdjwt import Disclosure, _process, digest_of, parse_sd_jwt, verify_sd_jwt

VECTORS = Path(__file__).parents[2] / "vectors" / "rfc9901"
DISCLOSURES: list[dict[str, Any]] = json.loads((VECTORS / "disclosures.json").read_text())[
    "disclosures"
]
EXAMPLES: dict[str, Any] = json.loads((VECTORS / "sd_jwts.json").read_text())
SD_JWTS: list[dict[str, Any]] = EXAMPLES["sd_jwts"]


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _id(vector: dict[str, Any]) -> str:
    return f"{vector['section']}:{vector.get('label') or vector['introduced_by'][:40]}"


def _without_key_binding(compact: str) -> str:
    """The SD-JWT part of an example; the bare Issuer-signed JWT of §5.1 becomes ``<jwt>~``."""
    if "~" not in compact:
        return compact + "~"
    return compact[: compact.rindex("~") + 1]


_PRESENTATIONS_WITH_KB = [e for e in SD_JWTS if "~" in e["compact"] and e["compact"][-1] != "~"]


def _process_example(compact: str) -> dict[str, Any]:
    """RFC 9901 §7.1 steps 3 to 5 on an example, signature left to the test below."""
    parsed = parse_sd_jwt(_without_key_binding(compact))
    payload = json.loads(_unb64(parsed.issuer_jwt.split(".")[1]))
    claims, _ = _process(payload, parsed.disclosures)
    return claims


def test_vectors_are_all_there() -> None:
    assert len(DISCLOSURES) == 92
    assert {v["section"] for v in DISCLOSURES} == {
        "4.2.1", "4.2.2", "5.1", "6.1", "6.2", "6.3", "A.1", "A.2", "A.3", "A.4",
    }  # fmt: skip
    assert len(SD_JWTS) == 9


@pytest.mark.parametrize("vector", DISCLOSURES, ids=_id)
def test_disclosure_decodes_to_the_listed_contents(vector: dict[str, Any]) -> None:
    disclosure = Disclosure.decode(vector["disclosure"])
    contents = vector["contents"]
    assert disclosure.salt == contents[0]
    assert disclosure.name == (contents[1] if len(contents) == 3 else None)
    assert disclosure.value == contents[-1]
    assert disclosure.encoded == vector["disclosure"]


@pytest.mark.parametrize("vector", [v for v in DISCLOSURES if v["digest"]], ids=_id)
def test_disclosure_digest_is_reproduced(vector: dict[str, Any]) -> None:
    assert digest_of(vector["disclosure"]) == vector["digest"]
    assert Disclosure.decode(vector["disclosure"]).digest == vector["digest"]


def test_encoding_variations_are_the_same_claim_with_different_digests() -> None:
    # RFC 9901 §4.2.1: no canonicalisation; the digest covers the issuer's chosen encoding.
    variants = [v for v in DISCLOSURES if v["section"] == "4.2.1"]
    decoded = [Disclosure.decode(v["disclosure"]) for v in variants]
    assert len(variants) == 4
    assert {(d.salt, d.name, d.value) for d in decoded} == {
        ("_26bc4LT-ac6q2KI6cBW5es", "family_name", "Möbius")
    }
    assert len({d.digest for d in decoded}) == 4


@pytest.mark.parametrize("example", SD_JWTS, ids=_id)
def test_example_issuer_signature_is_intact(example: dict[str, Any]) -> None:
    # Proves the vectors were copied without damage: the RFC's own ES256 signatures verify
    # with the Appendix A.5 key.
    jwk = EXAMPLES["issuer_public_key"]["jwk"]
    key = ec.EllipticCurvePublicNumbers(
        int.from_bytes(_unb64(jwk["x"]), "big"),
        int.from_bytes(_unb64(jwk["y"]), "big"),
        ec.SECP256R1(),
    ).public_key()
    head, body, signature = example["compact"].split("~")[0].split(".")
    raw = _unb64(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key.verify(der, f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("example", SD_JWTS, ids=_id)
def test_example_disclosures_are_the_listed_ones(example: dict[str, Any]) -> None:
    listed = {v["disclosure"] for v in DISCLOSURES if v["section"] == example["section"]}
    if example["section"] == "5.2":  # the presentation of the §5.1 issuance
        listed = {v["disclosure"] for v in DISCLOSURES if v["section"] == "5.1"}
    parsed = parse_sd_jwt(_without_key_binding(example["compact"]))
    assert {d.encoded for d in parsed.disclosures} <= listed


@pytest.mark.parametrize("example", [e for e in SD_JWTS if "processed_payload" in e], ids=_id)
def test_example_processing_gives_the_rfc_processed_payload(example: dict[str, Any]) -> None:
    assert _process_example(example["compact"]) == example["processed_payload"]


@pytest.mark.parametrize("example", SD_JWTS, ids=_id)
def test_example_processing_references_every_disclosure(example: dict[str, Any]) -> None:
    # _process raises for an unreferenced or misplaced Disclosure; here it must not.
    claims = _process_example(example["compact"])
    assert "_sd" not in json.dumps(claims)
    assert '"..."' not in json.dumps(claims)


def test_full_issuance_discloses_every_claim_of_section_5() -> None:
    issuance = next(e for e in SD_JWTS if e["section"] == "5.1" and e["compact"].count("~") > 1)
    claims = _process_example(issuance["compact"])
    assert claims["given_name"] == "John"
    assert claims["address"]["country"] == "US"
    assert claims["nationalities"] == ["US", "DE"]
    assert claims["updated_at"] == 1570000000


def test_decoys_of_appendix_a1_are_ignored() -> None:
    example = next(e for e in SD_JWTS if e["section"] == "A.1")
    payload = json.loads(_unb64(example["compact"].split(".")[1]))
    decoys = set(EXAMPLES["decoy_digests"]["digests"])
    embedded = set(payload["_sd"]) | set(payload["address"]["_sd"])
    assert len(decoys) == 6
    assert decoys <= embedded
    assert decoys.isdisjoint(v["digest"] for v in DISCLOSURES)
    assert _process_example(example["compact"]) == example["processed_payload"]


def test_rfc_has_three_key_binding_presentations() -> None:
    assert [e["section"] for e in _PRESENTATIONS_WITH_KB] == ["5.2", "A.3", "A.4"]


@pytest.mark.parametrize("example", _PRESENTATIONS_WITH_KB, ids=_id)
def test_rfc_key_binding_presentations_are_refused(example: dict[str, Any]) -> None:
    with pytest.raises(MalformedError, match="key binding is not supported"):
        parse_sd_jwt(example["compact"])


@pytest.mark.parametrize("example", SD_JWTS, ids=_id)
def test_rfc_examples_fail_our_algorithm_allow_list(example: dict[str, Any]) -> None:
    def no_key(kid: str) -> Any:
        raise AssertionError("the key must not be looked up before the algorithm is checked")

    with pytest.raises(AlgorithmError, match="algorithm 'ES256' is not allowed"):
        verify_sd_jwt(
            _without_key_binding(example["compact"]), resolve_key=no_key, now=1_700_000_000
        )
