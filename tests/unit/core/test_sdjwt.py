"""SD-JWT: issuing, redaction, parsing and every rejection rule of the strict verifier.

Bad tokens are built here with the standard library (base64, json, hashlib) and
signed with a test key, so the rules after the signature check are reached and
the expected digests do not come from the code under test.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.algorithms import Ed25519Signer, Ed25519Verifier, Verifier
from gateway.core.disclosure import decode_many
from gateway.core.errors import (
    AlgorithmError,
    ClockSkewError,
    DisclosureError,
    ExpiredError,
    InputError,
    LimitExceededError,
    MalformedError,
    NotFoundError,
    SignatureError,
    VerificationError,
)
from gateway.core.limits import Limits
from gateway.core.sdjwt import (
    DEFAULT_TYP,
    Disclosure,
    VerifiedSdJwt,
    digest_of,
    issue_sd_jwt,
    parse_sd_jwt,
    redact,
    verify_sd_jwt,
)

NOW = 1_750_000_000
SIGNER = Ed25519Signer("node-330500-sign-1", Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
OTHER = Ed25519Signer("node-330500-sign-1", Ed25519PrivateKey.from_private_bytes(bytes(32)))
HEADER = {"alg": "EdDSA", "kid": SIGNER.key_id, "typ": DEFAULT_TYP}
CLAIMS = {"iss": "330500", "rid": "r-1", "iat": NOW - 60, "exp": NOW + 3600}


def resolve(kid: str) -> Verifier:
    return {SIGNER.key_id: SIGNER.verifier()}[kid]


def verify(text: str, **kwargs: Any) -> VerifiedSdJwt:
    kwargs.setdefault("resolve_key", resolve)
    kwargs.setdefault("now", NOW)
    return verify_sd_jwt(text, **kwargs)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def disc(*array: Any) -> str:
    """An encoded Disclosure built without the code under test."""
    return b64(json.dumps(list(array)).encode())


def dig(encoded: str) -> str:
    return b64(hashlib.sha256(encoded.encode()).digest())


def jwt(payload: Any, header: Any = None, signer: Ed25519Signer = SIGNER) -> str:
    head = b64(json.dumps(HEADER if header is None else header).encode())
    body = b64(payload if isinstance(payload, bytes) else json.dumps(payload).encode())
    signature = signer.sign(f"{head}.{body}".encode())
    return f"{head}.{body}.{b64(signature)}"


def sd(payload: Any, disclosures: Sequence[str] = (), header: Any = None) -> str:
    return jwt(payload, header) + "~" + "".join(f"{d}~" for d in disclosures)


def record(disclosable: Sequence[tuple[str, Any]] = (), sd_size: int = 4) -> str:
    return issue_sd_jwt(signer=SIGNER, claims=CLAIMS, disclosable=disclosable, sd_size=sd_size)


FIELDS = [("XDR_MC", "某某建材有限公司"), ("FR_ZJHM", "11010519491231002X")]
FIELDS_MASKED = [*FIELDS, ("FR_ZJHM#masked", "1101**********002X")]


# --- Disclosure ---------------------------------------------------------------------------------


def test_create_uses_a_fresh_128_bit_salt() -> None:
    first, second = Disclosure.create("CF_WSH", "x"), Disclosure.create("CF_WSH", "x")
    assert len(unb64(first.salt)) == 16
    assert b64(unb64(first.salt)) == first.salt
    assert first.salt != second.salt
    assert first.digest != second.digest


def test_create_encodes_compact_json_and_its_digest() -> None:
    d = Disclosure.create("FR_ZJHM#masked", "1101**********002X", salt="c2FsdA")
    assert unb64(d.encoded) == b'["c2FsdA","FR_ZJHM#masked","1101**********002X"]'
    assert d.digest == dig(d.encoded)
    assert Disclosure.decode(d.encoded) == d


def test_create_array_element_has_two_elements() -> None:
    d = Disclosure.create(None, {"k": ["v"]}, salt="s")
    assert json.loads(unb64(d.encoded)) == ["s", {"k": ["v"]}]
    assert Disclosure.decode(d.encoded).name is None


def test_create_keeps_non_ascii_unescaped() -> None:
    d = Disclosure.create("XDR_MC", "浙江", salt="s")
    assert "浙江".encode() in unb64(d.encoded)


@pytest.mark.parametrize("name", ["_sd", "...", "_sd_alg"])
def test_create_refuses_reserved_name(name: str) -> None:
    with pytest.raises(DisclosureError, match=f"claim name '{re.escape(name)}' is reserved"):
        Disclosure.create(name, 1)


def test_create_refuses_a_value_that_is_not_json() -> None:
    with pytest.raises(InputError, match="value of disclosure 'a' is not JSON"):
        Disclosure.create("a", {1, 2})
    with pytest.raises(InputError, match="value of disclosure 'a' is not JSON"):
        Disclosure.create("a", float("nan"))


def test_decode_keeps_the_received_encoding() -> None:
    # RFC 9901 §4.2.1: the digest covers the encoding chosen by the issuer, spaces included.
    encoded = b64(b'[ "salt" ,\n "n", 1 ]')
    d = Disclosure.decode(encoded)
    assert (d.salt, d.name, d.value, d.encoded, d.digest) == ("salt", "n", 1, encoded, dig(encoded))


def test_a_decoded_disclosure_is_the_one_its_constructor_makes_and_frozen() -> None:
    # The decoder sets these slots itself: a field added to Disclosure must be added there.
    assert [f.name for f in dataclasses.fields(Disclosure)] == [
        "salt",
        "name",
        "value",
        "encoded",
        "digest",
    ]
    for made in (Disclosure.create("XDR_MC", "某某公司"), Disclosure.create(None, 7)):
        [decoded] = decode_many([made.encoded], keep=False)

        assert decoded is not made
        assert type(decoded) is Disclosure
        assert decoded == made
        assert (repr(decoded), hash(decoded)) == (repr(made), hash(made))
        with pytest.raises(dataclasses.FrozenInstanceError):
            decoded.value = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("encoded", "error", "message"),
    [
        ("not base64!", MalformedError, "disclosure is not base64url"),
        ("WyJhIiwiYiIsMV0=", MalformedError, "disclosure is not base64url"),
        (b64(b'["a","b",1]')[:-1] + "1", MalformedError, "not canonical base64url"),
        (b64(b"\xff\xfe"), MalformedError, "disclosure is not UTF-8"),
        (b64(b"[1,"), MalformedError, "disclosure is not valid JSON"),
        (b64(b'["s","n",NaN]'), MalformedError, "disclosure is not valid JSON"),
        (b64(b'["s","n",{"a":1,"a":2}]'), MalformedError, "duplicate member 'a'"),
        (b64(b'{"s":1}'), DisclosureError, "not a JSON array of 2 or 3"),
        (disc("s"), DisclosureError, "not a JSON array of 2 or 3 elements"),
        (disc("s", "n", 1, 2), DisclosureError, "not a JSON array of 2 or 3 elements"),
        (disc(1, "n", 1), DisclosureError, "disclosure salt is not a string"),
        (disc("s", 7, 1), DisclosureError, "claim name 7 is not a string"),
        (disc("s", "_sd", 1), DisclosureError, "claim name '_sd' is reserved"),
        (disc("s", "...", 1), DisclosureError, r"claim name '\.\.\.' is reserved"),
        (disc("s", "_sd_alg", 1), DisclosureError, "claim name '_sd_alg' is reserved"),
    ],
)
def test_decode_is_strict(encoded: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        Disclosure.decode(encoded)


def test_digest_of_is_sha256_of_the_ascii_text() -> None:
    assert digest_of("WyJhIl0") == b64(hashlib.sha256(b"WyJhIl0").digest())


def test_digest_of_refuses_other_hash_algorithms() -> None:
    with pytest.raises(AlgorithmError, match="_sd_alg 'sha-512' is not allowed"):
        digest_of("WyJhIl0", sd_alg="sha-512")


# --- issuing ------------------------------------------------------------------------------------


def split(text: str) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    issuer_jwt, *disclosures, last = text.split("~")
    assert last == ""
    head, body, _ = issuer_jwt.split(".")
    return json.loads(unb64(head)), json.loads(unb64(body)), disclosures


def test_issue_builds_header_payload_and_disclosures() -> None:
    text = record(FIELDS_MASKED, sd_size=8)
    header, payload, disclosures = split(text)
    assert header == {"alg": "EdDSA", "kid": SIGNER.key_id, "typ": DEFAULT_TYP}
    assert [json.loads(unb64(d))[1:] for d in disclosures] == [list(f) for f in FIELDS_MASKED]
    assert {k: v for k, v in payload.items() if k not in ("_sd", "_sd_alg")} == CLAIMS
    assert payload["_sd_alg"] == "sha-256"
    assert len(payload["_sd"]) == 8
    assert payload["_sd"] == sorted(payload["_sd"])
    assert {dig(d) for d in disclosures} < set(payload["_sd"])
    assert len(set(payload["_sd"])) == 8


def test_issue_signs_compact_json() -> None:
    issuer_jwt = record(FIELDS).split("~")[0]
    head, body, _ = issuer_jwt.split(".")
    for part in (head, body):
        raw = unb64(part)
        value = json.loads(raw)
        assert raw == json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def test_issue_pads_every_record_to_the_same_size() -> None:
    few, many = split(record(FIELDS[:1], sd_size=6))[1], split(record(FIELDS_MASKED, sd_size=6))[1]
    assert len(few["_sd"]) == len(many["_sd"]) == 6


def test_issue_without_selective_disclosure_omits_sd() -> None:
    text = record((), sd_size=0)
    assert text.endswith("~")
    assert text.count("~") == 1
    assert "_sd" not in split(text)[1]
    assert dict(verify(text).claims) == CLAIMS


def test_issue_refuses_sd_size_below_the_disclosure_count() -> None:
    with pytest.raises(InputError, match="sd_size 2 is smaller than the 3 disclosures"):
        record(FIELDS_MASKED, sd_size=2)


@pytest.mark.parametrize("name", ["_sd", "...", "_sd_alg"])
def test_issue_refuses_reserved_claim_names(name: str) -> None:
    with pytest.raises(DisclosureError, match=f"reserved name '{re.escape(name)}' in claims"):
        issue_sd_jwt(signer=SIGNER, claims={name: 1}, disclosable=[], sd_size=0)


def test_issue_refuses_reserved_names_nested_in_values() -> None:
    with pytest.raises(DisclosureError, match="reserved name '_sd' in claims"):
        issue_sd_jwt(signer=SIGNER, claims={"a": [{"_sd": []}]}, disclosable=[], sd_size=0)
    with pytest.raises(DisclosureError, match=r"reserved name '\.\.\.' in disclosable claim 'b'"):
        record([("b", {"...": "x"})])


def test_issue_refuses_reserved_disclosable_name() -> None:
    with pytest.raises(DisclosureError, match="reserved name '_sd' in disclosable claim '_sd'"):
        record([("_sd", 1)])


def test_issue_refuses_disclosable_name_colliding_with_a_claim() -> None:
    with pytest.raises(DisclosureError, match="disclosable claim 'iss' is also an always-visible"):
        record([("iss", "x")])


def test_issue_refuses_repeated_disclosable_name() -> None:
    with pytest.raises(DisclosureError, match="disclosable claim 'a' is given more than once"):
        record([("a", 1), ("a", 2)])


def test_issue_refuses_claims_that_are_not_json() -> None:
    with pytest.raises(InputError, match="claims are not JSON"):
        issue_sd_jwt(signer=SIGNER, claims={"a": object()}, disclosable=[], sd_size=0)


def test_issue_refuses_an_algorithm_off_the_allow_list() -> None:
    @dataclass(frozen=True)
    class HmacSigner:
        key_id: str = "k"
        jws_algorithm: str = "HS256"

        def sign(self, data: bytes) -> bytes:
            return b"mac"

    with pytest.raises(AlgorithmError, match="algorithm 'HS256' is not allowed"):
        issue_sd_jwt(signer=HmacSigner(), claims=CLAIMS, disclosable=[], sd_size=0)


# --- verifying: the happy paths -----------------------------------------------------------------


def test_verify_returns_header_payload_claims_and_disclosed() -> None:
    text = record(FIELDS_MASKED, sd_size=8)
    result = verify(text)
    assert dict(result.header) == HEADER
    assert dict(result.payload) == CLAIMS
    assert dict(result.claims) == CLAIMS | dict(FIELDS_MASKED)
    assert dict(result.disclosed) == dict(FIELDS_MASKED)
    assert [d.name for d in result.disclosures] == [name for name, _ in FIELDS_MASKED]
    assert result.issuer_jwt == text.split("~")[0]


def test_verify_processes_nested_objects_and_array_elements() -> None:
    # RFC 9901 §6.2 and §4.2.6: digests in nested _sd arrays, array elements and disclosures.
    street = disc("s1", "street", "Main St")
    fr = disc("s2", "FR")
    de = disc("s3", "DE")
    nats = disc("s4", "nationalities", [{"...": dig(fr)}, {"...": dig(de)}, "UK"])
    payload = {
        **CLAIMS,
        "address": {"_sd": [dig(street), dig(disc("decoy", "x", 0))], "city": "Ningbo"},
        "_sd": [dig(nats)],
        "_sd_alg": "sha-256",
    }
    result = verify(sd(payload, [street, fr, nats]))
    assert result.claims["address"] == {"city": "Ningbo", "street": "Main St"}
    assert result.claims["nationalities"] == ["FR", "UK"]
    assert dict(result.disclosed) == {"nationalities": ["FR", "UK"]}
    assert dict(result.payload) == CLAIMS | {"address": {"city": "Ningbo"}}
    assert "DE" not in json.dumps(dict(result.claims))


def test_verify_accepts_a_payload_without_sd_alg() -> None:
    # RFC 9901 §4.1.1: sha-256 is the default.
    d = disc("s", "a", 1)
    assert verify(sd({"_sd": [dig(d)]}, [d])).claims == {"a": 1}


def test_verify_without_typ_expectation_accepts_other_types() -> None:
    text = sd(CLAIMS, header={"alg": "EdDSA", "kid": SIGNER.key_id, "typ": "example+sd-jwt"})
    assert verify(text, expected_typ=None).header["typ"] == "example+sd-jwt"


def test_verified_mappings_are_read_only() -> None:
    result = verify(record(FIELDS))
    with pytest.raises(TypeError):
        result.claims["iss"] = "x"  # type: ignore[index]


# --- parsing and size limits --------------------------------------------------------------------


def test_parse_splits_jwt_and_disclosures() -> None:
    text = record(FIELDS)
    parsed = parse_sd_jwt(text)
    assert parsed.issuer_jwt == text.split("~")[0]
    assert [d.encoded for d in parsed.disclosures] == text.split("~")[1:-1]


def test_parse_refuses_a_malformed_issuer_jwt() -> None:
    with pytest.raises(MalformedError, match="issuer-signed JWT has 2 segments, expected 3"):
        parse_sd_jwt("a.b~")
    with pytest.raises(MalformedError, match="issuer-signed JWT payload is not valid JSON"):
        parse_sd_jwt(f"e30.{b64(b'{')}.e30~")


def test_parse_names_the_bad_disclosure() -> None:
    text = record(FIELDS)
    with pytest.raises(DisclosureError, match="disclosure 3: disclosure salt is not a string"):
        parse_sd_jwt(text + disc(1, "a", 1) + "~")


def test_size_limit_is_checked_before_parsing() -> None:
    garbage = "!" * 101
    with pytest.raises(LimitExceededError, match="SD-JWT is 101 bytes, over the limit of 100"):
        parse_sd_jwt(garbage, limits=Limits(max_record_bytes=100))
    with pytest.raises(LimitExceededError, match="SD-JWT is 101 bytes"):
        verify(garbage, limits=Limits(max_record_bytes=100))


def test_size_limit_counts_utf8_bytes() -> None:
    with pytest.raises(LimitExceededError, match="SD-JWT is 102 bytes"):
        parse_sd_jwt("浙" * 34, limits=Limits(max_record_bytes=101))


def test_disclosure_count_limit_is_checked_before_parsing() -> None:
    garbage = "x" + "~!" * 4 + "~"
    with pytest.raises(LimitExceededError, match="disclosures in SD-JWT: 4 is over the limit of 3"):
        parse_sd_jwt(garbage, limits=Limits(max_disclosures_per_record=3))
    with pytest.raises(LimitExceededError, match="disclosures in SD-JWT: 4"):
        verify(garbage, limits=Limits(max_disclosures_per_record=3))


@pytest.mark.parametrize(
    "text", ["", "x", "x~", "x~~", "~~~", "x~a~b~", "x~a~b", "é~a~b~c~", "~" * 9, "x~!~!~!~!~"]
)
def test_the_disclosure_count_is_the_tildes_less_one_and_is_checked_before_the_text(
    text: str,
) -> None:
    # The count is taken from the split parts (one scan): it must be the figure the raw text
    # gives, and still be refused before the text's other faults (non-ASCII, the shape).
    count = max(text.count("~") - 1, 0)
    if count:
        with pytest.raises(LimitExceededError, match=f"disclosures in SD-JWT: {count} is over"):
            parse_sd_jwt(text, limits=Limits(max_disclosures_per_record=count - 1))
        with pytest.raises(LimitExceededError, match=f"disclosures in SD-JWT: {count} is over"):
            verify(text, limits=Limits(max_disclosures_per_record=count - 1))
    with pytest.raises(VerificationError) as refused:
        verify(text, limits=Limits(max_disclosures_per_record=count))
    assert not isinstance(refused.value, LimitExceededError)


def test_digest_count_limit() -> None:
    text = record(FIELDS, sd_size=6)
    with pytest.raises(LimitExceededError, match="digests in SD-JWT: 6 is over the limit of 5"):
        parse_sd_jwt(text, limits=Limits(max_sd_digests_per_record=5))
    with pytest.raises(LimitExceededError, match="digests in SD-JWT: 6 is over the limit of 5"):
        verify(text, limits=Limits(max_sd_digests_per_record=5))
    assert verify(text, limits=Limits(max_sd_digests_per_record=6)).disclosed


def test_digest_count_includes_digests_inside_disclosures() -> None:
    inner = disc("s", "x")
    outer = disc("t", "list", [{"...": dig(inner)}, {"...": dig(disc("u", "y"))}])
    text = sd({"_sd": [dig(outer)]}, [outer, inner])
    with pytest.raises(LimitExceededError, match="digests in SD-JWT: 3 is over the limit of 2"):
        verify(text, limits=Limits(max_sd_digests_per_record=2))


def test_key_binding_jwt_is_refused() -> None:
    text = record(FIELDS) + jwt({"nonce": "n"}, {"alg": "EdDSA", "typ": "kb+jwt"})
    with pytest.raises(MalformedError, match="key binding is not supported"):
        parse_sd_jwt(text)
    with pytest.raises(MalformedError, match="key binding is not supported"):
        verify(text)


def test_missing_final_tilde_is_refused() -> None:
    with pytest.raises(MalformedError, match="key binding is not supported"):
        verify(record(FIELDS)[:-1])


def test_plain_jwt_is_refused() -> None:
    with pytest.raises(MalformedError, match="not an SD-JWT: no '~'"):
        verify(jwt(CLAIMS))


def test_empty_disclosure_is_refused() -> None:
    text = record(FIELDS)
    issuer_jwt, first, *_ = text.split("~")
    with pytest.raises(MalformedError, match="disclosure 2 is empty"):
        verify(f"{issuer_jwt}~{first}~~")


def test_non_ascii_text_is_refused() -> None:
    with pytest.raises(MalformedError, match="non-ASCII"):
        verify(record(FIELDS) + "é~")


# --- verifying: the issuer-signed JWT -----------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "HS256", "ES256", None, 7])
def test_algorithm_off_the_allow_list_is_refused(alg: Any) -> None:
    header = {"kid": SIGNER.key_id, "typ": DEFAULT_TYP} | ({} if alg is None else {"alg": alg})
    with pytest.raises(AlgorithmError, match=f"algorithm {alg!r} is not allowed"):
        verify(sd(CLAIMS, header=header))


def test_algorithm_is_checked_before_anything_else() -> None:
    # Unsigned, no kid, wrong typ, broken disclosure: the alg is still what is reported.
    head = b64(json.dumps({"alg": "none", "typ": "jwt"}).encode())
    text = f"{head}.{b64(json.dumps(CLAIMS).encode())}.~!!~"
    with pytest.raises(AlgorithmError, match="algorithm 'none' is not allowed"):
        verify(text)


def test_crit_header_is_refused() -> None:
    with pytest.raises(MalformedError, match="header parameter 'crit' is not supported"):
        verify(sd(CLAIMS, header=HEADER | {"crit": ["exp"], "exp": 1}))


@pytest.mark.parametrize("typ", ["JWT", "example+sd-jwt", None])
def test_wrong_typ_is_refused(typ: str | None) -> None:
    header = {k: v for k, v in HEADER.items() if k != "typ"} | ({"typ": typ} if typ else {})
    with pytest.raises(MalformedError, match=re.escape(f"header typ {typ!r} is not the expected")):
        verify(sd(CLAIMS, header=header))


@pytest.mark.parametrize("kid", [None, "", 5])
def test_missing_kid_is_refused(kid: Any) -> None:
    header = {"alg": "EdDSA", "typ": DEFAULT_TYP} | ({} if kid is None else {"kid": kid})
    with pytest.raises(SignatureError, match="header has no 'kid'"):
        verify(sd(CLAIMS, header=header))


def test_unknown_kid_is_refused() -> None:
    with pytest.raises(SignatureError, match="unknown signing key 'node-999999'"):
        verify(sd(CLAIMS, header=HEADER | {"kid": "node-999999"}))


def test_resolver_not_found_is_an_unknown_key() -> None:
    def not_found(kid: str) -> Verifier:
        raise NotFoundError(kid)

    with pytest.raises(SignatureError, match="unknown signing key"):
        verify(record(FIELDS), resolve_key=not_found)


def test_resolver_signature_error_passes_through() -> None:
    def revoked(kid: str) -> Verifier:
        raise SignatureError(f"certificate {kid} is revoked")

    with pytest.raises(SignatureError, match="certificate node-330500-sign-1 is revoked"):
        verify(record(FIELDS), resolve_key=revoked)


def test_a_header_seen_before_is_checked_again_on_every_token() -> None:
    # The same header text verifies once, then every check of it runs again: the key is
    # resolved anew, the expected typ is compared anew, the signature is the token's own.
    text = record(FIELDS)
    assert verify(text).header["kid"] == SIGNER.key_id

    def revoked(kid: str) -> Verifier:
        raise SignatureError(f"certificate {kid} is revoked")

    with pytest.raises(SignatureError, match="certificate node-330500-sign-1 is revoked"):
        verify(text, resolve_key=revoked)
    with pytest.raises(
        MalformedError, match=re.escape(f"header typ {DEFAULT_TYP!r} is not the expected 'other'")
    ):
        verify(text, expected_typ="other")
    with pytest.raises(SignatureError, match="does not verify"):
        verify(text, resolve_key=lambda kid: OTHER.verifier())
    forged = text.split(".", 2)
    forged[1] = b64(json.dumps(CLAIMS | {"rid": "r-2"}).encode())
    with pytest.raises(SignatureError, match="does not verify"):
        verify(".".join(forged))


def test_a_header_that_is_not_an_object_is_refused_every_time() -> None:
    text = sd(CLAIMS, header=["EdDSA"])
    for _ in range(2):
        with pytest.raises(MalformedError, match="issuer-signed JWT header is not a JSON object"):
            verify(text)


def test_verifying_leaves_the_disclosure_memo_as_it_was_and_redaction_finds_the_parts() -> None:
    # Verification keeps a record's parts whole for the redaction that follows; putting each
    # of its Disclosures in the Disclosure memo too would only push older entries out.
    from gateway.core import disclosure

    text = issue_sd_jwt(
        signer=SIGNER, claims=CLAIMS, disclosable=[("XDR_MC", {"nested": "value"})], sd_size=2
    )
    encoded = text.split("~")[1]
    assert disclosure._DECODED.get(encoded) is None  # issuing keeps only text values
    verified = verify(text)
    assert disclosure._DECODED.get(encoded) is None
    assert verified.disclosed == {"XDR_MC": {"nested": "value"}}
    assert redact(text, lambda d: False) == text.split("~", 1)[0] + "~"
    assert redact(text, lambda d: True) == text


def test_verifying_decodes_every_disclosure_from_the_text_received_not_the_memo() -> None:
    # A hub verifies records it never saw: verification decodes each Disclosure from the
    # received text and never reads the Disclosure memo, so no entry kept there (right or
    # wrong) can stand in for what arrived.
    from gateway.core import disclosure

    text = record(FIELDS)
    encoded = text.split("~")[1]
    real = Disclosure.decode(encoded)
    planted = Disclosure(real.salt, real.name, "planted", encoded, real.digest)
    disclosure._DECODED.put(encoded, planted)
    try:
        verified = verify(text)
    finally:
        disclosure._DECODED.clear()
    assert real.name is not None
    assert verified.disclosed[real.name] == real.value != "planted"
    assert verified.disclosures[0] == real
    assert verified.disclosures[0] is not planted


def test_resolver_returning_another_key_is_refused() -> None:
    other = Ed25519Verifier("node-000000", SIGNER.private_key.public_key())
    with pytest.raises(SignatureError, match="returned key 'node-000000' for kid"):
        verify(record(FIELDS), resolve_key=lambda kid: other)


def test_key_of_another_algorithm_is_refused() -> None:
    @dataclass(frozen=True)
    class Sm2Verifier:
        key_id: str
        jws_algorithm: str = "SM2"

        def verify(self, signature: bytes, data: bytes) -> None:
            return None

    with pytest.raises(AlgorithmError, match=r"alg 'EdDSA' does not match key .* \(SM2\)"):
        verify(record(FIELDS), resolve_key=Sm2Verifier)


def test_signature_by_another_key_is_refused() -> None:
    text = issue_sd_jwt(signer=OTHER, claims=CLAIMS, disclosable=FIELDS, sd_size=2)
    with pytest.raises(SignatureError, match="signature by key 'node-330500-sign-1' does not"):
        verify(text)


def test_signature_is_checked_over_the_received_bytes() -> None:
    # Same JSON, different bytes (a space added): the issuer never signed these bytes.
    issuer_jwt = record(FIELDS).split("~")[0]
    head, body, signature = issuer_jwt.split(".")
    respaced = b64(unb64(body).replace(b",", b", ", 1))
    assert json.loads(unb64(respaced)) == json.loads(unb64(body))
    with pytest.raises(SignatureError, match="does not verify"):
        verify(f"{head}.{respaced}.{signature}~")


def test_non_canonical_signature_encoding_is_refused() -> None:
    issuer_jwt = record().split("~")[0]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # 64 bytes -> 86 characters; the low 4 bits of the last one are padding.
    last = alphabet.index(issuer_jwt[-1])
    twin = issuer_jwt[:-1] + alphabet[last ^ 1]
    assert base64.urlsafe_b64decode(twin.split(".")[2] + "==") == unb64(issuer_jwt.split(".")[2])
    with pytest.raises(MalformedError, match="signature is not canonical base64url"):
        verify(twin + "~")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"[1]", "payload is not a JSON object"),
        (b"{", "payload is not valid JSON"),
        (b'{"iss":"a","iss":"b"}', "duplicate member 'iss'"),
        (b"\xff", "payload is not UTF-8"),
    ],
)
def test_malformed_payload_is_refused(payload: bytes, message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        verify(jwt(payload) + "~")


@pytest.mark.parametrize(
    ("issuer_jwt", "message"),
    [
        ("a.b", "has 2 segments, expected 3"),
        ("a.b.c.d", "has 4 segments, expected 3"),
        ("e30!.e30.e30", "header is not base64url"),
        (b64(b"[]") + ".e30.e30", "header is not a JSON object"),
    ],
)
def test_malformed_jwt_is_refused(issuer_jwt: str, message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        verify(issuer_jwt + "~")


# --- verifying: the disclosure rules (RFC 9901 §7.1 step 3 to 5) --------------------------------


def test_unreferenced_disclosure_is_refused() -> None:
    a, stray = disc("s1", "a", 1), disc("s2", "b", 2)
    with pytest.raises(DisclosureError, match="disclosure 2 is not referenced by any digest"):
        verify(sd({"_sd": [dig(a)]}, [a, stray]))


def test_disclosure_from_another_record_is_refused() -> None:
    first, second = record(FIELDS), record(FIELDS)
    foreign = second.split("~")[1]
    with pytest.raises(DisclosureError, match="disclosure 3 is not referenced by any digest"):
        verify(first + foreign + "~")


def test_orphaned_nested_disclosure_is_refused() -> None:
    # RFC 9901 §4.2.6: an element disclosure is only reachable through its parent.
    fr = disc("s1", "FR")
    parent = disc("s2", "nationalities", [{"...": dig(fr)}])
    with pytest.raises(DisclosureError, match="disclosure 1 is not referenced by any digest"):
        verify(sd({"_sd": [dig(parent)]}, [fr]))


def test_duplicate_disclosure_is_refused() -> None:
    a, b = disc("s1", "a", 1), disc("s2", "b", 2)
    with pytest.raises(DisclosureError, match="disclosure 3 is a duplicate of disclosure 1"):
        verify(sd({"_sd": [dig(a), dig(b)]}, [a, b, a]))


def test_digest_repeated_in_sd_is_refused() -> None:
    a = disc("s1", "a", 1)
    with pytest.raises(DisclosureError, match="digest of disclosure 1 appears more than once"):
        verify(sd({"_sd": [dig(a), dig(a)]}, [a]))


def test_decoy_digest_repeated_is_refused() -> None:
    decoy = dig(disc("decoy"))
    with pytest.raises(DisclosureError, match="a digest appears more than once in the payload"):
        verify(sd({"_sd": [decoy], "nested": {"_sd": [decoy]}}))


def test_digest_repeated_across_object_and_array_is_refused() -> None:
    a = disc("s1", "a")
    with pytest.raises(
        DisclosureError, match=r"disclosure 1 appears more than once in the payload \(at \$\._sd\)"
    ):
        verify(sd({"_sd": [dig(a)], "list": [{"...": dig(a)}]}, [a]))


def test_digest_repeated_through_a_disclosure_is_refused() -> None:
    inner = disc("s1", "x", 1)
    outer = disc("s2", "obj", {"_sd": [dig(inner)]})
    with pytest.raises(DisclosureError, match="digest of disclosure 1 appears more than once"):
        verify(sd({"_sd": [dig(inner), dig(outer)]}, [inner, outer]))


def test_disclosed_name_colliding_with_a_claim_is_refused() -> None:
    a = disc("s1", "iss", "forged")
    with pytest.raises(DisclosureError, match="disclosure 1 claim 'iss' already exists at \\$"):
        verify(sd(CLAIMS | {"_sd": [dig(a)]}, [a]))


def test_two_disclosures_with_the_same_name_are_refused() -> None:
    a, b = disc("s1", "XDR_MC", "A"), disc("s2", "XDR_MC", "B")
    with pytest.raises(DisclosureError, match="disclosure 2 claim 'XDR_MC' already exists"):
        verify(sd({"_sd": sorted([dig(a), dig(b)])}, [a, b]))


def test_nested_collision_is_refused() -> None:
    a = disc("s1", "city", "Hangzhou")
    with pytest.raises(DisclosureError, match=r"claim 'city' already exists at \$\.address"):
        verify(sd({"address": {"city": "Ningbo", "_sd": [dig(a)]}}, [a]))


@pytest.mark.parametrize("name", ["_sd", "...", "_sd_alg"])
def test_reserved_disclosed_name_is_refused(name: str) -> None:
    a, bad = disc("s1", "a", 1), disc("s2", name, [])
    pattern = f"disclosure 2: claim name '{re.escape(name)}' is reserved"
    with pytest.raises(DisclosureError, match=pattern):
        verify(sd({"_sd": [dig(a), dig(bad)]}, [a, bad]))


def test_array_element_disclosure_in_sd_is_refused() -> None:
    a, element = disc("s1", "a", 1), disc("s2", "FR")
    with pytest.raises(DisclosureError, match="disclosure 2 is an array element but its digest"):
        verify(sd({"_sd": [dig(a), dig(element)]}, [a, element]))


def test_object_property_disclosure_in_array_is_refused() -> None:
    prop = disc("s1", "a", "FR")
    pattern = r"disclosure 1 is an object property but its digest is an array element at \$\.n\[0\]"
    with pytest.raises(DisclosureError, match=pattern):
        verify(sd({"n": [{"...": dig(prop)}]}, [prop]))


@pytest.mark.parametrize("value", ["digest", [1], [["x"]], {"a": "b"}, None])
def test_sd_that_is_not_an_array_of_strings_is_refused(value: Any) -> None:
    with pytest.raises(DisclosureError, match=r"_sd at \$ is not an array of strings"):
        verify(sd({"_sd": value}))


def test_sd_inside_a_disclosure_must_be_an_array_of_strings() -> None:
    a = disc("s1", "address", {"_sd": "x"})
    with pytest.raises(DisclosureError, match=r"_sd at \$\.address is not an array of strings"):
        verify(sd({"_sd": [dig(a)]}, [a]))


@pytest.mark.parametrize("element", [{"...": 5}, {"...": "d", "extra": 1}, {"...": ["d"]}])
def test_malformed_array_digest_is_refused(element: dict[str, Any]) -> None:
    with pytest.raises(DisclosureError, match=r"array element digest at \$\.n\[1\] is not"):
        verify(sd({"n": ["DE", element]}))


def test_ellipsis_as_an_object_claim_is_refused() -> None:
    with pytest.raises(DisclosureError, match=r"reserved claim name '\.\.\.' in an object at \$"):
        verify(sd({"...": dig(disc("s", "x"))}))


def test_nested_sd_alg_is_refused() -> None:
    with pytest.raises(DisclosureError, match=r"_sd_alg is only allowed at the top level.*\$\.a"):
        verify(sd({"a": {"_sd_alg": "sha-256"}}))


def test_other_sd_alg_is_refused() -> None:
    a = disc("s1", "a", 1)
    with pytest.raises(AlgorithmError, match="_sd_alg 'sha-512' is not allowed"):
        verify(sd({"_sd": [dig(a)], "_sd_alg": "sha-512"}, [a]))


def test_malformed_disclosure_is_named_by_position() -> None:
    a = disc("s1", "a", 1)
    with pytest.raises(MalformedError, match="disclosure 2: disclosure is not base64url"):
        verify(sd({"_sd": [dig(a)]}, [a, "!!"]))


def test_excessive_nesting_is_refused() -> None:
    deep: Any = "x"
    for _ in range(70):
        deep = [deep]
    with pytest.raises(MalformedError, match="nesting deeper than 64"):
        verify(sd({"deep": deep}))


# --- verifying: validity period -----------------------------------------------------------------


@pytest.mark.parametrize("exp", [NOW - 1, NOW])
def test_expired_record_is_refused(exp: int) -> None:
    with pytest.raises(ExpiredError, match=f"expired: exp {exp} is not after now {NOW}"):
        verify(sd(CLAIMS | {"exp": exp}))


def test_exp_leeway() -> None:
    text = sd(CLAIMS | {"exp": NOW - 30})
    assert verify(text, leeway_s=31).claims["exp"] == NOW - 30
    with pytest.raises(ExpiredError, match="leeway 30s"):
        verify(text, leeway_s=30)


def test_not_yet_valid_record_is_refused() -> None:
    text = sd(CLAIMS | {"nbf": NOW + 10})
    with pytest.raises(ClockSkewError, match=f"not yet valid: nbf {NOW + 10} is after now {NOW}"):
        verify(text)
    assert verify(text, leeway_s=10).claims["nbf"] == NOW + 10


def test_record_issued_in_the_future_is_refused() -> None:
    text = sd(CLAIMS | {"iat": NOW + 10})
    with pytest.raises(ClockSkewError, match=f"issued in the future: iat {NOW + 10}"):
        verify(text)
    assert verify(text, leeway_s=10).claims["iat"] == NOW + 10


def test_disclosed_exp_is_enforced() -> None:
    # RFC 9901 §7.1 step 6 checks the processed payload, disclosed claims included.
    exp = disc("s1", "exp", NOW - 1)
    claims = {k: v for k, v in CLAIMS.items() if k != "exp"}
    with pytest.raises(ExpiredError, match="expired"):
        verify(sd(claims | {"_sd": [dig(exp)]}, [exp]))


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", ["2030-01-01", True, None, [1]])
def test_non_numeric_dates_are_refused(claim: str, value: Any) -> None:
    with pytest.raises(MalformedError, match=f"claim '{claim}' is not a NumericDate"):
        verify(sd(CLAIMS | {claim: value}))


# --- redaction ----------------------------------------------------------------------------------


def test_redact_removes_disclosures_and_keeps_the_jwt_bytes() -> None:
    text = record(FIELDS_MASKED, sd_size=8)
    issuer_jwt = text.split("~")[0]
    redacted = redact(text, lambda d: d.name != "FR_ZJHM")
    assert redacted.startswith(issuer_jwt + "~")
    assert redacted.split("~")[1:-1] == [text.split("~")[1], text.split("~")[3]]
    result = verify(redacted)
    assert dict(result.disclosed) == {
        "XDR_MC": FIELDS[0][1],
        "FR_ZJHM#masked": "1101**********002X",
    }
    assert "FR_ZJHM" not in result.claims


def test_redact_keeping_everything_changes_nothing() -> None:
    text = record(FIELDS_MASKED)
    assert redact(text, lambda d: True) == text


def test_redact_everything_leaves_the_signed_claims() -> None:
    text = record(FIELDS)
    redacted = redact(text, lambda d: False)
    assert redacted == text.split("~")[0] + "~"
    assert dict(verify(redacted).claims) == CLAIMS


def test_redact_refuses_to_orphan_a_nested_disclosure() -> None:
    fr = disc("s1", "FR")
    parent = disc("s2", "nationalities", [{"...": dig(fr)}])
    text = sd({"_sd": [dig(parent)]}, [parent, fr])
    assert verify(redact(text, lambda d: True)).claims == {"nationalities": ["FR"]}
    assert verify(redact(text, lambda d: d.name is not None)).claims == {"nationalities": []}
    with pytest.raises(DisclosureError, match="disclosure 2 is kept but the disclosure embedding"):
        redact(text, lambda d: d.name is None)


def test_redact_applies_the_limits() -> None:
    with pytest.raises(MalformedError, match="key binding is not supported"):
        redact(record(FIELDS)[:-1], lambda d: True)


# --- tampering ----------------------------------------------------------------------------------

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _variants(char: str) -> list[str]:
    out = [chr(ord(char) ^ 0x01)]
    if char in _ALPHABET:
        # Also a valid base64url character, so decoding succeeds and the signature
        # or digest check is what has to catch it.
        out.append(_ALPHABET[(_ALPHABET.index(char) + 1) % len(_ALPHABET)])
    return out


def test_every_single_byte_change_is_refused() -> None:
    text = issue_sd_jwt(
        signer=SIGNER,
        claims={"iss": "330500", "exp": NOW + 60},
        disclosable=[("XDR_MC", "A"), ("FR_ZJHM#masked", "1101**2X")],
        sd_size=2,
    )
    assert dict(verify(text).disclosed) == {"XDR_MC": "A", "FR_ZJHM#masked": "1101**2X"}
    checked = 0
    for position, char in enumerate(text):
        for replacement in _variants(char):
            tampered = text[:position] + replacement + text[position + 1 :]
            with pytest.raises(VerificationError):
                verify(tampered)
            checked += 1
    assert checked > 2 * len(text) - text.count("~") - text.count(".") - 1


# --- property: any record, any redaction --------------------------------------------------------

_NAMES = st.text(min_size=1, max_size=12).filter(
    lambda n: n not in {"_sd", "...", "_sd_alg", *CLAIMS}
)
_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
).filter(lambda v: "_sd" not in json.dumps(v) and '"..."' not in json.dumps(v))


@dataclass(frozen=True)
class _Case:
    fields: dict[str, Any]
    keep: list[bool]
    extra_decoys: int


_CASES = st.builds(
    _Case,
    fields=st.dictionaries(_NAMES, _JSON, max_size=8),
    keep=st.lists(st.booleans(), min_size=8, max_size=8),
    extra_decoys=st.integers(min_value=0, max_value=4),
)


def _decoded_texts(text: str) -> str:
    issuer_jwt, *disclosures, _ = text.split("~")
    parts = [unb64(p).decode() for p in issuer_jwt.split(".")[:2]]
    parts += [unb64(d).decode() for d in disclosures]
    return "\n".join(parts)


@settings(max_examples=60, deadline=None)
@given(case=_CASES)
def test_any_redaction_verifies_and_leaks_nothing_removed(case: _Case) -> None:
    tags = {name: f"tag-{secrets.token_hex(8)}" for name in case.fields}
    disclosable = [(name, [tags[name], value]) for name, value in case.fields.items()]
    text = issue_sd_jwt(
        signer=SIGNER,
        claims=CLAIMS,
        disclosable=disclosable,
        sd_size=len(disclosable) + case.extra_decoys,
    )
    kept_names = {name for (name, _), keep in zip(disclosable, case.keep, strict=False) if keep}
    redacted = redact(text, lambda d: d.name in kept_names)
    result = verify(redacted)
    assert dict(result.disclosed) == {name: v for name, v in disclosable if name in kept_names}
    assert dict(result.claims) == CLAIMS | dict(result.disclosed)
    decoded = _decoded_texts(redacted)
    for removed in parse_sd_jwt(text).disclosures:
        if removed.name in kept_names:
            continue
        assert removed.encoded not in redacted
        assert removed.salt not in redacted
        assert removed.salt not in decoded
        assert tags[str(removed.name)] not in redacted
        assert tags[str(removed.name)] not in decoded
