"""Hop batches: digests of items as sent, and every refusal of verify_hop_batch."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.algorithms import Ed25519Signer, Verifier
from gateway.core.dsse import Envelope, EnvelopeSignature, canonical_json, sign_envelope
from gateway.core.errors import (
    ClockSkewError,
    LimitExceededError,
    MalformedError,
    NotFoundError,
    SignatureError,
)
from gateway.core.hop import (
    HOP_PAYLOAD_TYPE,
    HopBatch,
    build_hop_batch,
    item_digest,
    sign_hop_batch,
    verify_hop_batch,
)
from gateway.core.limits import Limits
from gateway.core.statements import STATEMENT_PAYLOAD_TYPE

SENDER = "330500"
RECEIVER = "330000"
BATCH_ID = "0f8e2d4c6b1a49e7a3c5d7f9e1b3a5c7"
NOW = 1_760_000_000
ITEMS: tuple[bytes | str, ...] = (
    "eyJhbGciOiJFZERTQSJ9.eyJpc3MiOiIzMzA1MDAifQ.c2ln~WyJzYWx0IiwiWERSX01DIiwi5p-Q5YWs5Y-4Il0~",
    b'{"payload":"e30=","payloadType":"application/vnd.credit-gateway.status+json"}',
    "第三条记录~",
)

SIGNER = Ed25519Signer("node-330500-sign", Ed25519PrivateKey.from_private_bytes(b"\x01" * 32))


def _resolve(*signers: Ed25519Signer) -> Callable[[str], Verifier]:
    by_id = {signer.key_id: signer.verifier() for signer in signers or (SIGNER,)}

    def resolve(key_id: str) -> Verifier:
        if key_id not in by_id:
            raise NotFoundError(f"no key {key_id!r}")
        return by_id[key_id]

    return resolve


def _batch(items: Sequence[bytes | str] = ITEMS, **changes: object) -> HopBatch:
    fields: dict[str, object] = {
        "sender": SENDER,
        "audience": RECEIVER,
        "batch_id": BATCH_ID,
        "sent_at": NOW,
        "items": items,
    }
    fields.update(changes)
    return build_hop_batch(**fields)  # type: ignore[arg-type]


def _verify(envelope: Envelope, **changes: object) -> HopBatch:
    arguments: dict[str, object] = {
        "resolve_key": _resolve(),
        "expected_sender": SENDER,
        "expected_audience": RECEIVER,
        "items": ITEMS,
        "now": NOW,
    }
    arguments.update(changes)
    return verify_hop_batch(envelope, **arguments)  # type: ignore[arg-type]


def _signed_payload(**changes: object) -> Envelope:
    """A validly signed envelope over a payload our own constructor would refuse."""
    fields: dict[str, object] = json.loads(_batch().to_payload())
    fields.update(changes)
    return sign_envelope(HOP_PAYLOAD_TYPE, canonical_json(fields), SIGNER)


# --- digests and payload -------------------------------------------------------------


def test_item_digest_is_sha256_of_the_utf8_bytes_as_sent() -> None:
    assert item_digest("第三条记录~") == hashlib.sha256("第三条记录~".encode()).hexdigest()
    assert item_digest(b"\x00\xff") == hashlib.sha256(b"\x00\xff").hexdigest()
    assert item_digest("abc") == item_digest(b"abc")
    assert item_digest(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_batch_lists_digests_in_sending_order() -> None:
    batch = _batch()
    assert batch.item_digests == tuple(item_digest(item) for item in ITEMS)
    assert _batch(ITEMS[::-1]).item_digests == batch.item_digests[::-1]


def test_payload_is_canonical_json_and_round_trips() -> None:
    batch = _batch()
    digests = ",".join(f'"{item_digest(item)}"' for item in ITEMS)
    assert (
        batch.to_payload()
        == (
            f'{{"audience":"{RECEIVER}","batch_id":"{BATCH_ID}","item_digests":[{digests}],'
            f'"sender":"{SENDER}","sent_at":{NOW}}}'
        ).encode()
    )
    assert HopBatch.from_payload(batch.to_payload()) == batch


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sender": "3305"}, "hop batch key 'sender' is '3305', not a 6-digit node id"),
        ({"audience": "33000a"}, "hop batch key 'audience' is '33000a', not a 6-digit node id"),
        ({"batch_id": BATCH_ID.upper()}, "hop batch key 'batch_id' is .*, not a 32-hex uuid"),
        ({"batch_id": BATCH_ID[:-1]}, "hop batch key 'batch_id' is .*, not a 32-hex uuid"),
        ({"sent_at": -1}, "hop batch key 'sent_at' is -1, not a Unix time"),
        ({"sent_at": True}, "hop batch key 'sent_at' is True, not a Unix time"),
        ({"items": []}, "hop batch has no items"),
    ],
)
def test_build_refuses_fields_out_of_domain(changes: dict[str, object], message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        _batch(**changes)  # type: ignore[arg-type]


def test_constructor_refuses_a_digest_that_is_not_lowercase_hex_sha256() -> None:
    digests = (item_digest("a"), item_digest("b").upper())
    with pytest.raises(MalformedError, match="digest of item 2 is not lowercase hex SHA-256"):
        HopBatch(SENDER, RECEIVER, BATCH_ID, NOW, digests)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"extra": True}, "hop batch has unknown key 'extra'"),
        ({"sender": 330500}, "hop batch key 'sender' must be a string, not an integer"),
        ({"sent_at": "1760000000"}, "hop batch key 'sent_at' must be an integer, not a string"),
        ({"item_digests": "abc"}, "hop batch key 'item_digests' must be an array"),
        ({"item_digests": [1]}, "hop batch digest of item 1 is not lowercase hex SHA-256"),
    ],
)
def test_from_payload_refuses_malformed_payloads(changes: dict[str, object], message: str) -> None:
    fields: dict[str, object] = json.loads(_batch().to_payload())
    fields.update(changes)
    with pytest.raises(MalformedError, match=message):
        HopBatch.from_payload(canonical_json(fields))


def test_from_payload_names_a_missing_key() -> None:
    fields: dict[str, object] = json.loads(_batch().to_payload())
    del fields["sent_at"]
    with pytest.raises(MalformedError, match="hop batch is missing key 'sent_at'"):
        HopBatch.from_payload(canonical_json(fields))


def test_from_payload_refuses_a_non_canonical_encoding() -> None:
    data = json.dumps(json.loads(_batch().to_payload())).encode()
    with pytest.raises(MalformedError, match="hop batch is not canonical JSON"):
        HopBatch.from_payload(data)


def test_from_payload_limits_the_number_of_digests() -> None:
    with pytest.raises(LimitExceededError, match="hop batch items: 3 is over the limit of 2"):
        HopBatch.from_payload(_batch().to_payload(), limits=Limits(max_batch_records=2))


# --- verification: the happy path ----------------------------------------------------


def test_valid_batch_verifies_after_a_json_round_trip() -> None:
    envelope = Envelope.from_json(sign_hop_batch(_batch(), SIGNER).to_json())
    assert _verify(envelope, sender_keyid=SIGNER.key_id) == _batch()


@pytest.mark.parametrize("skew", [-300, 0, 300])
def test_sent_at_within_the_skew_is_accepted(skew: int) -> None:
    envelope = sign_hop_batch(_batch(sent_at=NOW + skew), SIGNER)
    assert _verify(envelope).sent_at == NOW + skew


# --- verification: each refusal ------------------------------------------------------


def test_refuses_wrong_payload_type() -> None:
    envelope = sign_envelope(STATEMENT_PAYLOAD_TYPE, _batch().to_payload(), SIGNER)
    with pytest.raises(
        MalformedError,
        match=r"payload type 'application/vnd\.credit-gateway\.status\+json' is not the expected"
        r" 'application/vnd\.credit-gateway\.hop-batch\+json'",
    ):
        _verify(envelope)


def test_refuses_an_invalid_signature() -> None:
    envelope = sign_hop_batch(_batch(), SIGNER)
    forged = Envelope(
        HOP_PAYLOAD_TYPE, envelope.payload, (EnvelopeSignature(SIGNER.key_id, b"\x00" * 64),)
    )
    with pytest.raises(SignatureError, match="signature by key 'node-330500-sign' does not verify"):
        _verify(forged)


def test_refuses_a_batch_from_an_untrusted_key() -> None:
    stranger = Ed25519Signer("stranger", Ed25519PrivateKey.from_private_bytes(b"\x02" * 32))
    with pytest.raises(SignatureError, match="no signature from a trusted key"):
        _verify(sign_hop_batch(_batch(), stranger))


def test_refuses_a_batch_not_signed_by_the_senders_key() -> None:
    other = Ed25519Signer("node-331100-sign", Ed25519PrivateKey.from_private_bytes(b"\x03" * 32))
    envelope = sign_hop_batch(_batch(), other)
    with pytest.raises(
        SignatureError, match="no valid signature by the required key 'node-330500-sign'"
    ):
        _verify(envelope, resolve_key=_resolve(SIGNER, other), sender_keyid=SIGNER.key_id)


def test_refuses_a_sender_other_than_the_mtls_peer() -> None:
    envelope = sign_hop_batch(_batch(), SIGNER)
    with pytest.raises(
        SignatureError,
        match="batch signed for sender 330500 but the connection is from 331100",
    ):
        _verify(envelope, expected_sender="331100")


def test_refuses_an_audience_other_than_this_node() -> None:
    envelope = sign_hop_batch(_batch(audience="000000"), SIGNER)
    with pytest.raises(
        SignatureError, match="batch is addressed to 000000 but this node is 330000"
    ):
        _verify(envelope)


def test_refuses_fewer_items_than_signed() -> None:
    envelope = sign_hop_batch(_batch(), SIGNER)
    with pytest.raises(SignatureError, match="batch signs 3 items but 2 were received"):
        _verify(envelope, items=ITEMS[:2])


def test_refuses_more_items_than_signed() -> None:
    envelope = sign_hop_batch(_batch(), SIGNER)
    with pytest.raises(SignatureError, match="batch signs 3 items but 4 were received"):
        _verify(envelope, items=(*ITEMS, "extra"))


def test_refuses_items_received_out_of_order() -> None:
    envelope = sign_hop_batch(_batch(), SIGNER)
    with pytest.raises(SignatureError, match="digest mismatch for item 2"):
        _verify(envelope, items=(ITEMS[0], ITEMS[2], ITEMS[1]))


def test_refuses_a_changed_item_naming_its_1_based_index() -> None:
    envelope = sign_hop_batch(_batch(), SIGNER)
    changed = (ITEMS[0], ITEMS[1], "第三条记录~x")
    with pytest.raises(SignatureError, match=r"digest mismatch for item 3$"):
        _verify(envelope, items=changed)


@pytest.mark.parametrize(
    ("sent_at", "message"),
    [
        (
            NOW - 301,
            f"batch sent_at {NOW - 301} is 301 s behind now \\({NOW}\\), over the allowed"
            " skew of 300 s",
        ),
        (
            NOW + 301,
            f"batch sent_at {NOW + 301} is 301 s ahead of now \\({NOW}\\), over the"
            " allowed skew of 300 s",
        ),
    ],
)
def test_refuses_sent_at_outside_the_skew(sent_at: int, message: str) -> None:
    envelope = sign_hop_batch(_batch(sent_at=sent_at), SIGNER)
    with pytest.raises(ClockSkewError, match=message):
        _verify(envelope)


def test_skew_is_configurable() -> None:
    envelope = sign_hop_batch(_batch(sent_at=NOW - 10), SIGNER)
    with pytest.raises(ClockSkewError, match="over the allowed skew of 5 s"):
        _verify(envelope, max_skew_s=5)
    # By default, the skew is the node's limits' (one setting for every signed time).
    with pytest.raises(ClockSkewError, match="over the allowed skew of 9 s"):
        _verify(envelope, limits=Limits(clock_skew_s=9))
    assert _verify(envelope, limits=Limits(clock_skew_s=10)).sent_at == NOW - 10


def test_refuses_a_signed_empty_batch() -> None:
    with pytest.raises(MalformedError, match="hop batch has no items"):
        _verify(_signed_payload(item_digests=[]), items=())


def test_refuses_a_signed_batch_id_that_is_not_32_hex() -> None:
    envelope = _signed_payload(batch_id="0f8e2d4c-6b1a-49e7-a3c5-d7f9e1b3a5c7")
    with pytest.raises(
        MalformedError,
        match="hop batch key 'batch_id' is '0f8e2d4c-6b1a-49e7-a3c5-d7f9e1b3a5c7', not a 32-hex",
    ):
        _verify(envelope)


def test_refuses_a_signed_batch_with_too_many_digests() -> None:
    with pytest.raises(LimitExceededError, match="hop batch items: 3 is over the limit of 1"):
        _verify(sign_hop_batch(_batch(), SIGNER), limits=Limits(max_batch_records=1))


# --- property: any flipped byte of any item is caught, and named ---------------------

_ITEM_BYTES = st.lists(st.binary(min_size=1, max_size=64), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(items=_ITEM_BYTES, data=st.data())
def test_flipping_any_byte_of_any_item_is_detected_naming_that_item(
    items: list[bytes], data: st.DataObject
) -> None:
    envelope = sign_hop_batch(_batch(items), SIGNER)
    index = data.draw(st.integers(0, len(items) - 1), label="item")
    position = data.draw(st.integers(0, len(items[index]) - 1), label="byte")
    flip = data.draw(st.integers(1, 255), label="xor")
    tampered = bytearray(items[index])
    tampered[position] ^= flip
    received = [*items[:index], bytes(tampered), *items[index + 1 :]]
    with pytest.raises(SignatureError, match=f"digest mismatch for item {index + 1}$"):
        _verify(envelope, items=received)
