"""Status statements: canonical payloads, strict parsing, signing and verification."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.core.algorithms import Ed25519Signer, Verifier
from gateway.core.dsse import Envelope, sign_envelope
from gateway.core.errors import MalformedError, NotFoundError, OutOfRangeError, SignatureError
from gateway.core.hop import HOP_PAYLOAD_TYPE
from gateway.core.limits import DEFAULT_LIMITS
from gateway.core.statements import (
    STATEMENT_PAYLOAD_TYPE,
    STATUS_EFFECT,
    StatusKind,
    StatusStatement,
    check_statement_bounds,
    purges_disclosures,
    sign_statement,
    verify_statement,
)

STATEMENT_ID = "9f1c2a7e5b3d4c8e9a0b1c2d3e4f5a6b"  # a uuid4 in hex: version 4, variant 9


def _statement(**changes: object) -> StatusStatement:
    fields: dict[str, object] = {
        "statement_id": STATEMENT_ID,
        "kind": StatusKind.SUSPENSION,
        "issuer": "330500",
        "record_id": "330500-XZCF-2025-000123",
        "version": 2,
        "issued_at": 1_760_000_000,
        "reason": "异议申请已受理　待核实",
        "new_version": None,
    }
    fields.update(changes)
    return StatusStatement(**fields)  # type: ignore[arg-type]


def _fields(**changes: object) -> dict[str, object]:
    fields = json.loads(_statement().to_payload())
    assert isinstance(fields, dict)
    fields.update(changes)
    return fields


def _canonical(fields: dict[str, object]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _signer(key_id: str = "node-330500-sign", seed: int = 1) -> Ed25519Signer:
    return Ed25519Signer(key_id, Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))


def _resolver(*verifiers: Verifier) -> Callable[[str], Verifier]:
    by_id = {verifier.key_id: verifier for verifier in verifiers}

    def resolve(key_id: str) -> Verifier:
        if key_id not in by_id:
            raise NotFoundError(f"no key {key_id!r}")
        return by_id[key_id]

    return resolve


# --- kinds and effects ---------------------------------------------------------------


def test_each_kind_has_its_effect_and_only_revocation_and_repair_purge() -> None:
    assert dict(STATUS_EFFECT) == {
        StatusKind.CORRECTION: "corrected",
        StatusKind.DISPUTE: "disputed",
        StatusKind.SUSPENSION: "suspended",
        StatusKind.REINSTATEMENT: "active",
        StatusKind.REVOCATION: "revoked",
        StatusKind.REPAIR: "repaired",
    }
    assert {kind for kind in StatusKind if purges_disclosures(kind)} == {
        StatusKind.REVOCATION,
        StatusKind.REPAIR,
    }


def test_status_effect_cannot_be_changed() -> None:
    with pytest.raises(TypeError):
        STATUS_EFFECT[StatusKind.REPAIR] = "active"  # type: ignore[index]


# --- payload form --------------------------------------------------------------------


def test_payload_is_canonical_json_with_every_field() -> None:
    payload = _statement().to_payload()
    assert (
        payload
        == (
            '{"issued_at":1760000000,"issuer":"330500","kind":"suspension","new_version":null,'
            '"reason":"异议申请已受理　待核实","record_id":"330500-XZCF-2025-000123",'
            f'"statement_id":"{STATEMENT_ID}","version":2}}'
        ).encode()
    )


@pytest.mark.parametrize("kind", list(StatusKind))
def test_every_kind_round_trips(kind: StatusKind) -> None:
    new_version = 3 if kind is StatusKind.CORRECTION else None
    statement = _statement(kind=kind, new_version=new_version)
    assert StatusStatement.from_payload(statement.to_payload()) == statement


def test_reason_may_hold_line_breaks_and_tabs() -> None:
    statement = _statement(reason="第一行\n第二行\t附注")
    assert StatusStatement.from_payload(statement.to_payload()) == statement


# --- constructor validation ----------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"statement_id": "9F1C2A7E5B3D4C8E9A0B1C2D3E4F5A6B"}, "'statement_id' is .* not a uuid4"),
        ({"statement_id": "9f1c2a7e5b3d1c8e9a0b1c2d3e4f5a6b"}, "'statement_id' is .* not a uuid4"),
        ({"statement_id": "9f1c2a7e5b3d4c8e7a0b1c2d3e4f5a6b"}, "'statement_id' is .* not a uuid4"),
        ({"statement_id": "9f1c2a7e-5b3d-4c8e-9a0b-1c2d3e4f5a6b"}, "'statement_id' is .* not a uu"),
        ({"kind": "suspension"}, "'kind' is 'suspension', not a StatusKind"),
        ({"issuer": "33050"}, "'issuer' is '33050', not a 6-digit node id"),
        ({"issuer": "３３０５００"}, "'issuer' is .*, not a 6-digit node id"),
        ({"issuer": "330500\n"}, "'issuer' is .*, not a 6-digit node id"),
        ({"record_id": ""}, "'record_id' is empty"),
        ({"record_id": "r" * 257}, "'record_id' is 257 characters, over 256"),
        ({"record_id": "a b"}, "'record_id' has whitespace or unprintable characters"),
        ({"record_id": "a\u200bb"}, "'record_id' has whitespace or unprintable characters"),
        ({"version": 0}, "'version' is 0, outside 1\\.\\."),
        ({"version": True}, "'version' must be an integer, not True"),
        ({"version": 2**63}, "'version' is 9223372036854775808, outside"),
        ({"issued_at": -1}, "'issued_at' is -1, outside 0\\.\\."),
        ({"reason": " \n\t　"}, "'reason' is blank"),
        ({"reason": "r" * 2001}, "'reason' is 2001 characters, over 2000"),
        ({"reason": "ok\x00"}, "'reason' has a control character or lone surrogate U\\+0000"),
        ({"reason": "ok\ud800"}, "'reason' has a control character or lone surrogate U\\+D800"),
        ({"kind": StatusKind.CORRECTION}, "'new_version' is required for a correction"),
        ({"kind": StatusKind.CORRECTION, "new_version": 2}, "'new_version' is 2, outside 3\\.\\."),
        ({"new_version": 3}, "'new_version' must be null for a suspension"),
        ({"kind": StatusKind.REPAIR, "new_version": 3}, "'new_version' must be null for a repair"),
    ],
)
def test_constructor_refuses_fields_out_of_domain(changes: dict[str, object], message: str) -> None:
    with pytest.raises(MalformedError, match="status statement key " + message):
        _statement(**changes)


# --- strict parsing ------------------------------------------------------------------


def test_missing_key_is_named() -> None:
    for key in _fields():
        fields = _fields()
        del fields[key]
        with pytest.raises(MalformedError, match=f"status statement is missing key '{key}'"):
            StatusStatement.from_payload(_canonical(fields))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"extra": 1}, "status statement has unknown key 'extra'"),
        ({"statement_id": 7}, "key 'statement_id' must be a string, not an integer"),
        ({"kind": None}, "key 'kind' must be a string, not null"),
        ({"kind": "objection_dismissed"}, "key 'kind' is 'objection_dismissed', not one of corr"),
        ({"kind": "Suspension"}, "key 'kind' is 'Suspension', not one of"),
        ({"issuer": 330500}, "key 'issuer' must be a string, not an integer"),
        ({"issuer": "330 500"}, "key 'issuer' is '330 500', not a 6-digit node id"),
        ({"record_id": ["r"]}, "key 'record_id' must be a string, not an array"),
        ({"version": "2"}, "key 'version' must be an integer, not a string"),
        ({"version": 2.0}, "key 'version' must be an integer, not a number"),
        ({"version": True}, "key 'version' must be an integer, not a boolean"),
        ({"version": 0}, "key 'version' is 0, outside 1"),
        ({"issued_at": None}, "key 'issued_at' must be an integer, not null"),
        ({"reason": {}}, "key 'reason' must be a string, not an object"),
        ({"reason": ""}, "key 'reason' is blank"),
        ({"new_version": "3"}, "key 'new_version' must be an integer, not a string"),
        ({"new_version": 3}, "key 'new_version' must be null for a suspension"),
        ({"kind": "correction"}, "key 'new_version' is required for a correction"),
    ],
)
def test_malformed_payload_is_refused_naming_the_key(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(MalformedError, match=message):
        StatusStatement.from_payload(_canonical(_fields(**changes)))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "status statement is not valid JSON"),
        (b"\xfe\xff", "status statement is not UTF-8"),
        (b"[]", "status statement must be a JSON object, not an array"),
        (b'{"version":NaN}', "status statement is not valid JSON: NaN is not allowed"),
        (
            _canonical(_fields())[:-1] + b',"version":2}',
            "status statement has duplicate key 'version'",
        ),
        (
            _canonical(_fields()).replace(b'"reason":"', b'"reason":"\\ud800'),
            "key 'reason' is not valid Unicode text",
        ),
    ],
)
def test_unparseable_payload_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        StatusStatement.from_payload(data)


@pytest.mark.parametrize(
    "data",
    [
        json.dumps(_fields(), ensure_ascii=False).encode(),  # spaces after separators
        json.dumps(_fields(), sort_keys=True, separators=(",", ":")).encode(),  # \\u escapes
        _canonical(_fields()) + b"\n",
        json.dumps(
            dict(reversed(list(_fields().items()))), separators=(",", ":"), ensure_ascii=False
        ).encode(),
    ],
    ids=["spaces", "ascii-escapes", "trailing-newline", "key-order"],
)
def test_non_canonical_encodings_of_a_valid_statement_are_refused(data: bytes) -> None:
    assert json.loads(data) == _fields()
    with pytest.raises(MalformedError, match="status statement is not canonical JSON"):
        StatusStatement.from_payload(data)


# --- signing -------------------------------------------------------------------------


def test_sign_and_verify_round_trip_through_json() -> None:
    signer = _signer()
    statement = _statement(kind=StatusKind.CORRECTION, new_version=3)
    envelope = Envelope.from_json(sign_statement(statement, signer).to_json())
    assert envelope.payload_type == STATEMENT_PAYLOAD_TYPE
    verified = verify_statement(
        envelope, resolve_key=_resolver(signer.verifier()), issuer_keyid=signer.key_id
    )
    assert verified == statement


def test_statement_signed_by_another_trusted_node_is_refused_with_issuer_keyid() -> None:
    issuer, other = _signer(), _signer("node-331100-sign", seed=2)
    envelope = sign_statement(_statement(), other)
    resolve = _resolver(issuer.verifier(), other.verifier())
    with pytest.raises(SignatureError, match="no valid signature by the required key 'node-3305"):
        verify_statement(envelope, resolve_key=resolve, issuer_keyid=issuer.key_id)


def test_statement_from_an_unknown_key_is_refused() -> None:
    envelope = sign_statement(_statement(), _signer("stranger"))
    with pytest.raises(SignatureError, match="no signature from a trusted key"):
        verify_statement(envelope, resolve_key=_resolver(_signer().verifier()))


def test_tampered_statement_is_refused() -> None:
    signer = _signer()
    envelope = sign_statement(_statement(), signer)
    forged = replace(envelope, payload=envelope.payload.replace(b'"version":2', b'"version":1'))
    with pytest.raises(SignatureError, match="signature by key 'node-330500-sign' does not verify"):
        verify_statement(forged, resolve_key=_resolver(signer.verifier()))


def test_hop_batch_envelope_is_not_accepted_as_a_statement() -> None:
    signer = _signer()
    envelope = sign_envelope(HOP_PAYLOAD_TYPE, _statement().to_payload(), signer)
    with pytest.raises(MalformedError, match=r"payload type .*hop-batch.* is not the expected"):
        verify_statement(envelope, resolve_key=_resolver(signer.verifier()))


def test_signed_but_malformed_statement_is_refused_after_verification() -> None:
    signer = _signer()
    payload = _canonical(_fields(issuer="33050"))
    envelope = sign_envelope(STATEMENT_PAYLOAD_TYPE, payload, signer)
    with pytest.raises(MalformedError, match="key 'issuer' is '33050', not a 6-digit node id"):
        verify_statement(envelope, resolve_key=_resolver(signer.verifier()))


# --- bounds of the receiving node ---------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message", "rule"),
    [
        (
            {"version": 2**40},
            "status statement key 'version' is 1099511627776, outside 1..1000000",
            "limits:record-version",
        ),
        (
            {"kind": StatusKind.CORRECTION, "new_version": 2**31},
            "status statement key 'new_version' is 2147483648, outside 1..1000000",
            "limits:record-version",
        ),
        (
            {"issued_at": 2**62},
            f"status statement key 'issued_at' is {2**62}, outside 0..253402300799",
            "limits:time",
        ),
        (
            {"record_id": "R" * 41},
            "status statement key 'record_id' length is 41, outside 1..40",
            "limits:text",
        ),
    ],
)
def test_statement_numbers_and_ids_beyond_the_limits_are_refused(
    changes: dict[str, object], message: str, rule: str
) -> None:
    with pytest.raises(OutOfRangeError) as caught:
        check_statement_bounds(_statement(**changes), DEFAULT_LIMITS)
    assert (str(caught.value), caught.value.rule) == (message, rule)


def test_a_statement_within_the_limits_passes_the_bounds() -> None:
    check_statement_bounds(_statement(), DEFAULT_LIMITS)
