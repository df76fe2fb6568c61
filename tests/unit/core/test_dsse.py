"""DSSE envelopes: the spec's test vector, JSON round trip, tampering, key trust."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from gateway.core.algorithms import Ed25519Signer, Verifier
from gateway.core.dsse import (
    Envelope,
    EnvelopeSignature,
    pae,
    sign_envelope,
    verify_envelope,
)
from gateway.core.errors import (
    AlgorithmError,
    LimitExceededError,
    MalformedError,
    NotFoundError,
    SignatureError,
)
from gateway.core.limits import Limits

VECTORS = Path(__file__).parents[2] / "vectors" / "dsse"
TYPE = "application/vnd.credit-gateway.test+json"
PAYLOAD = b'{"hello":"world"}'


def _vector() -> dict[str, object]:
    data = json.loads((VECTORS / "hello-world.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _vector_key() -> ec.EllipticCurvePrivateKey:
    key = _vector()["key"]
    assert isinstance(key, dict)
    private = ec.derive_private_key(int(key["d"]), ec.SECP256R1())
    public = private.public_key().public_numbers()
    assert (public.x, public.y) == (int(key["X"]), int(key["Y"]))
    return private


@dataclass(frozen=True)
class _P256Verifier:
    """Test-only verifier for the spec's vector: ECDSA P-256, SHA-256, raw r || s."""

    key_id: str
    public_key: ec.EllipticCurvePublicKey
    jws_algorithm: str = "ES256"

    def verify(self, signature: bytes, data: bytes) -> None:
        if len(signature) != 64:
            raise SignatureError(f"signature by key {self.key_id!r} is not 64 bytes")
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            self.public_key.verify(der, data, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature as exc:
            raise SignatureError(f"signature by key {self.key_id!r} does not verify") from exc


def _signer(key_id: str = "node-330500-sign", seed: int = 1) -> Ed25519Signer:
    return Ed25519Signer(key_id, Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))


def _resolver(*verifiers: Verifier) -> Callable[[str], Verifier]:
    by_id = {verifier.key_id: verifier for verifier in verifiers}

    def resolve(key_id: str) -> Verifier:
        if key_id not in by_id:
            raise NotFoundError(f"no key {key_id!r}")
        return by_id[key_id]

    return resolve


# --- the spec's test vector (protocol.md "Test Vectors") -------------------------------


def test_pae_matches_the_spec_vector() -> None:
    vector = _vector()
    assert pae(str(vector["payloadType"]), str(vector["payload"]).encode()) == str(
        vector["pae"]
    ).encode("ascii")


def test_pae_counts_utf8_bytes_of_the_type_not_characters() -> None:
    assert pae("类型", b"") == "DSSEv1 6 类型 0 ".encode()


def test_spec_envelope_parses_and_its_p256_signature_verifies_over_our_pae() -> None:
    vector = _vector()
    envelope = Envelope.from_json((VECTORS / "hello-world.envelope.json").read_bytes())
    assert envelope.payload_type == vector["payloadType"]
    assert envelope.payload == str(vector["payload"]).encode()
    assert len(envelope.signatures) == 1
    assert envelope.signatures[0].keyid == ""  # unset keyid reads as empty (envelope.md)
    verifier = _P256Verifier("spec", _vector_key().public_key())
    verifier.verify(envelope.signatures[0].sig, pae(envelope.payload_type, envelope.payload))


def test_signing_the_spec_vector_reproduces_its_signature() -> None:
    """Deterministic ECDSA (RFC 6979) through sign_envelope gives the spec's exact bytes."""
    private = _vector_key()

    @dataclass(frozen=True)
    class _P256Signer:
        key_id: str = ""
        jws_algorithm: str = "ES256"

        def sign(self, data: bytes) -> bytes:
            der = private.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
            r, s = decode_dss_signature(der)
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    vector = _vector()
    ours = sign_envelope(str(vector["payloadType"]), str(vector["payload"]).encode(), _P256Signer())
    spec = Envelope.from_json((VECTORS / "hello-world.envelope.json").read_bytes())
    assert ours == spec
    assert json.loads(ours.to_json()) == json.loads(
        (VECTORS / "hello-world.envelope.json").read_bytes()
    )


def test_spec_p256_key_is_refused_by_the_federation_allow_list() -> None:
    envelope = Envelope.from_json((VECTORS / "hello-world.envelope.json").read_bytes())
    verifier = _P256Verifier("", _vector_key().public_key())
    with pytest.raises(AlgorithmError, match="algorithm 'ES256' is not allowed"):
        verify_envelope(
            envelope, expected_type="http://example.com/HelloWorld", resolve_key=_resolver(verifier)
        )


# --- JSON form -----------------------------------------------------------------------


def test_json_round_trip_is_compact_standard_base64_and_lossless() -> None:
    payload = bytes(range(256))
    envelope = Envelope(TYPE, payload, (EnvelopeSignature("k1", b"\xfb\xff" * 32),))
    data = envelope.to_json()
    assert data == (
        b'{"payload":"'
        + base64.standard_b64encode(payload)
        + b'","payloadType":"'
        + TYPE.encode()
        + b'","signatures":[{"keyid":"k1","sig":"'
        + base64.standard_b64encode(b"\xfb\xff" * 32)
        + b'"}]}'
    )
    assert Envelope.from_json(data) == envelope


def test_empty_keyid_is_omitted_and_reads_back_empty() -> None:
    envelope = Envelope(TYPE, b"", (EnvelopeSignature("", b"s"),))
    assert b"keyid" not in envelope.to_json()
    assert Envelope.from_json(envelope.to_json()) == envelope


@pytest.mark.parametrize(
    ("payload_text", "sig_text"),
    [("+/8=", "+/8="), ("-_8=", "-_8="), ("-_8=", "+/8=")],
    ids=["standard", "url-safe", "one-of-each"],
)
def test_standard_and_url_safe_base64_are_both_accepted(payload_text: str, sig_text: str) -> None:
    data = json.dumps(
        {"payload": payload_text, "payloadType": TYPE, "signatures": [{"sig": sig_text}]}
    ).encode()
    envelope = Envelope.from_json(data)
    assert envelope.payload == b"\xfb\xff"
    assert envelope.signatures[0].sig == b"\xfb\xff"


def test_unrecognised_fields_are_ignored_as_the_spec_requires() -> None:
    data = json.dumps(
        {"payload": "", "payloadType": TYPE, "x": 1, "signatures": [{"sig": "", "y": []}]}
    ).encode()
    assert Envelope.from_json(data) == Envelope(TYPE, b"", (EnvelopeSignature("", b""),))


def _envelope_json(**changes: object) -> bytes:
    obj: dict[str, object] = {
        "payload": "aGk=",
        "payloadType": TYPE,
        "signatures": [{"keyid": "k", "sig": "c2ln"}],
    }
    for key, value in changes.items():
        if value is _DROP:
            del obj[key]
        else:
            obj[key] = value
    return json.dumps(obj).encode()


_DROP = object()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "DSSE envelope is not valid JSON"),
        (b"\xff{}", "DSSE envelope is not UTF-8"),
        ('{"payload":""}'.encode("utf-16"), "DSSE envelope is not UTF-8"),
        (b"[]", "DSSE envelope must be a JSON object, not an array"),
        (b"[" * 100_000 + b"]" * 100_000, "DSSE envelope is not valid JSON"),
        (b'{"payload":"","payload":""}', "DSSE envelope has duplicate key 'payload'"),
        (_envelope_json(payload=_DROP), "field 'payload' is missing"),
        (_envelope_json(payload=None), "field 'payload' must be a string, not null"),
        (_envelope_json(payload="a!=="), "field 'payload' is not base64"),
        (_envelope_json(payload="aGk"), "field 'payload' is not base64"),
        (_envelope_json(payload="-+8="), "field 'payload' mixes base64 alphabets"),
        (_envelope_json(payload="aGk=\u00e9"), "field 'payload' is not base64"),
        (_envelope_json(payloadType=_DROP), "field 'payloadType' is missing"),
        (_envelope_json(payloadType=7), "field 'payloadType' must be a string, not an integer"),
        (_envelope_json(payloadType="\ud800"), "field 'payloadType' is not valid Unicode"),
        (_envelope_json(signatures=_DROP), "field 'signatures' is missing"),
        (_envelope_json(signatures={}), "field 'signatures' must be an array, not an object"),
        (_envelope_json(signatures=["x"]), "field 'signatures\\[0\\]' must be an object"),
        (_envelope_json(signatures=[{"keyid": "k"}]), "field 'signatures\\[0\\].sig' is missing"),
        (
            _envelope_json(signatures=[{"sig": ""}, {"sig": 1}]),
            "field 'signatures\\[1\\].sig' must be a string, not an integer",
        ),
        (
            _envelope_json(signatures=[{"sig": "***"}]),
            "field 'signatures\\[0\\].sig' is not base64",
        ),
        (
            _envelope_json(signatures=[{"sig": "", "keyid": None}]),
            "field 'signatures\\[0\\].keyid' must be a string, not null",
        ),
        (
            _envelope_json(signatures=[{"sig": "", "keyid": "\ud800"}]),
            "field 'signatures\\[0\\].keyid' is not valid Unicode",
        ),
        (
            _envelope_json(signatures=[{"sig": "", "keyid": True}]),
            "field 'signatures\\[0\\].keyid' must be a string, not a boolean",
        ),
    ],
)
def test_malformed_envelopes_are_refused_naming_the_field(data: bytes, message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        Envelope.from_json(data)


def test_envelope_size_is_checked_before_parsing() -> None:
    limits = Limits(max_envelope_bytes=10)
    with pytest.raises(LimitExceededError, match="DSSE envelope is 11 bytes, over the limit of 10"):
        Envelope.from_json(b"not json!!!", limits=limits)


def test_signature_count_is_limited() -> None:
    data = _envelope_json(signatures=[{"sig": ""}] * 3)
    assert (
        len(Envelope.from_json(data, limits=Limits(max_signatures_per_envelope=3)).signatures) == 3
    )
    with pytest.raises(
        LimitExceededError, match="DSSE envelope signatures: 3 is over the limit of 2"
    ):
        Envelope.from_json(data, limits=Limits(max_signatures_per_envelope=2))


def test_keyid_length_is_limited() -> None:
    data = _envelope_json(signatures=[{"sig": "", "keyid": "k" * 9}])
    with pytest.raises(LimitExceededError, match=r"signatures\[0\].keyid characters: 9 is over"):
        Envelope.from_json(data, limits=Limits(max_string_chars=8))


# --- verification --------------------------------------------------------------------


def test_sign_then_verify_returns_the_received_payload_object() -> None:
    signer = _signer()
    envelope = Envelope.from_json(sign_envelope(TYPE, PAYLOAD, signer).to_json())
    result = verify_envelope(envelope, expected_type=TYPE, resolve_key=_resolver(signer.verifier()))
    assert result is envelope.payload
    assert result == PAYLOAD


def test_signature_covers_pae_not_the_bare_payload() -> None:
    signer = _signer()
    envelope = sign_envelope(TYPE, PAYLOAD, signer)
    signer.verifier().verify(envelope.signatures[0].sig, pae(TYPE, PAYLOAD))
    with pytest.raises(SignatureError, match="does not verify"):
        signer.verifier().verify(envelope.signatures[0].sig, PAYLOAD)


def test_every_tampered_payload_byte_is_refused() -> None:
    signer = _signer()
    envelope = sign_envelope(TYPE, PAYLOAD, signer)
    resolve = _resolver(signer.verifier())
    for index in range(len(PAYLOAD)):
        tampered = bytearray(PAYLOAD)
        tampered[index] ^= 0x01
        forged = Envelope(TYPE, bytes(tampered), envelope.signatures)
        with pytest.raises(SignatureError, match="signature by key 'node-330500-sign' does not"):
            verify_envelope(forged, expected_type=TYPE, resolve_key=resolve)


def test_every_tampered_signature_byte_is_refused() -> None:
    signer = _signer()
    envelope = sign_envelope(TYPE, PAYLOAD, signer)
    resolve = _resolver(signer.verifier())
    sig = envelope.signatures[0].sig
    for index in range(len(sig)):
        tampered = bytearray(sig)
        tampered[index] ^= 0x80
        forged = Envelope(TYPE, PAYLOAD, (EnvelopeSignature(signer.key_id, bytes(tampered)),))
        with pytest.raises(SignatureError, match="signature by key 'node-330500-sign' does not"):
            verify_envelope(forged, expected_type=TYPE, resolve_key=resolve)


def test_truncated_and_extended_signatures_are_refused() -> None:
    signer = _signer()
    sig = sign_envelope(TYPE, PAYLOAD, signer).signatures[0].sig
    for bad in (sig[:-1], sig + b"\x00", b""):
        forged = Envelope(TYPE, PAYLOAD, (EnvelopeSignature(signer.key_id, bad),))
        with pytest.raises(SignatureError, match="signature by key 'node-330500-sign' does not"):
            verify_envelope(forged, expected_type=TYPE, resolve_key=_resolver(signer.verifier()))


def test_wrong_payload_type_is_refused_even_with_a_valid_signature() -> None:
    signer = _signer()
    envelope = sign_envelope(TYPE, PAYLOAD, signer)
    with pytest.raises(
        MalformedError, match=re.escape(f"payload type '{TYPE}' is not the expected 'other'")
    ):
        verify_envelope(envelope, expected_type="other", resolve_key=_resolver(signer.verifier()))


def test_signature_for_one_type_does_not_verify_under_another() -> None:
    signer = _signer()
    envelope = sign_envelope(TYPE, PAYLOAD, signer)
    relabelled = Envelope("other", PAYLOAD, envelope.signatures)
    with pytest.raises(SignatureError, match="signature by key 'node-330500-sign' does not"):
        verify_envelope(relabelled, expected_type="other", resolve_key=_resolver(signer.verifier()))


def test_unknown_keyid_only_is_refused() -> None:
    envelope = sign_envelope(TYPE, PAYLOAD, _signer("stranger"))
    with pytest.raises(
        SignatureError, match=r"no signature from a trusted key \(key ids: 'stranger'\)"
    ):
        verify_envelope(envelope, expected_type=TYPE, resolve_key=_resolver(_signer().verifier()))


def test_resolver_refusing_with_signature_error_counts_as_untrusted() -> None:
    def revoked(key_id: str) -> Verifier:
        raise SignatureError(f"key {key_id!r} is revoked")

    envelope = sign_envelope(TYPE, PAYLOAD, _signer())
    with pytest.raises(SignatureError, match="no signature from a trusted key"):
        verify_envelope(envelope, expected_type=TYPE, resolve_key=revoked)


def test_no_signatures_is_refused() -> None:
    with pytest.raises(SignatureError, match="envelope has no signatures"):
        verify_envelope(Envelope(TYPE, PAYLOAD, ()), expected_type=TYPE, resolve_key=_resolver())


def _two_signed(first: Ed25519Signer, second: Ed25519Signer) -> Envelope:
    one = sign_envelope(TYPE, PAYLOAD, first)
    two = sign_envelope(TYPE, PAYLOAD, second)
    return Envelope(TYPE, PAYLOAD, one.signatures + two.signatures)


def test_unknown_signer_is_skipped_when_a_trusted_one_verifies() -> None:
    trusted = _signer("trusted")
    envelope = _two_signed(_signer("stranger", seed=2), trusted)
    resolve = _resolver(trusted.verifier())
    assert verify_envelope(envelope, expected_type=TYPE, resolve_key=resolve) == PAYLOAD


def test_a_failing_trusted_signature_is_refused_even_beside_a_valid_one() -> None:
    good, bad = _signer("good"), _signer("bad", seed=2)
    envelope = _two_signed(good, bad)
    forged = Envelope(
        TYPE, PAYLOAD, (envelope.signatures[0], EnvelopeSignature("bad", b"\x00" * 64))
    )
    resolve = _resolver(good.verifier(), bad.verifier())
    with pytest.raises(SignatureError, match="signature by key 'bad' does not verify"):
        verify_envelope(forged, expected_type=TYPE, resolve_key=resolve)


def test_required_keyid_must_have_signed() -> None:
    issuer, other = _signer("issuer"), _signer("other", seed=2)
    envelope = sign_envelope(TYPE, PAYLOAD, other)
    resolve = _resolver(issuer.verifier(), other.verifier())
    assert verify_envelope(envelope, expected_type=TYPE, resolve_key=resolve) == PAYLOAD
    with pytest.raises(SignatureError, match="no valid signature by the required key 'issuer'"):
        verify_envelope(envelope, expected_type=TYPE, resolve_key=resolve, required_keyid="issuer")
    both = _two_signed(other, issuer)
    assert (
        verify_envelope(both, expected_type=TYPE, resolve_key=resolve, required_keyid="issuer")
        == PAYLOAD
    )


def test_required_keyid_unknown_to_the_resolver_is_refused() -> None:
    issuer, other = _signer("issuer"), _signer("other", seed=2)
    envelope = _two_signed(other, issuer)
    with pytest.raises(SignatureError, match="no valid signature by the required key 'issuer'"):
        verify_envelope(
            envelope,
            expected_type=TYPE,
            resolve_key=_resolver(other.verifier()),
            required_keyid="issuer",
        )
