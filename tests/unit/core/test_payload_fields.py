import pytest

from gateway.core.discipline_messages import ObjectionFiling
from gateway.core.errors import MalformedError
from gateway.core.hop import HopBatch
from gateway.core.messages import RoutedMessage
from gateway.core.payload_fields import (
    MAX_INT,
    check_exact_keys,
    check_int,
    check_node_id,
    check_record_id,
    check_text,
    is_hex_id,
    is_sha256_hex,
    is_unix_time,
    is_uuid4_hex,
)
from gateway.core.statements import StatusKind, StatusStatement

HEX = "0f8e2d4c6b1a49e7a3c5d7f9e1b3a5c7"


def test_predicates() -> None:
    assert is_hex_id(HEX)
    assert not is_hex_id(HEX.upper())
    assert not is_hex_id(7)
    assert is_uuid4_hex(HEX)
    assert not is_uuid4_hex("0" * 32)
    assert is_sha256_hex("a" * 64)
    assert not is_sha256_hex("a" * 63)
    assert [is_unix_time(v) for v in (0, MAX_INT, -1, MAX_INT + 1, True, "1")] == [
        True,
        True,
        False,
        False,
        False,
        False,
    ]


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (
            lambda: check_int(True, what="x", key="k", minimum=0),
            "x key 'k' must be an integer, not True",
        ),
        (
            lambda: check_int(0, what="x", key="k", minimum=1),
            f"x key 'k' is 0, outside 1..{MAX_INT}",
        ),
        (
            lambda: check_node_id("3305", what="x", key="k"),
            "x key 'k' is '3305', not a 6-digit node id",
        ),
        (lambda: check_record_id("", what="x", max_chars=4), "x key 'record_id' is empty"),
        (
            lambda: check_record_id("abcde", what="x", max_chars=4),
            "x key 'record_id' is 5 characters, over 4",
        ),
        (
            lambda: check_record_id("a b", what="x", max_chars=4),
            "x key 'record_id' has whitespace or unprintable",
        ),
        (lambda: check_text(" ", what="x", key="k", max_chars=4), "x key 'k' is blank"),
        (
            lambda: check_text(None, what="x", key="k", max_chars=4),
            "x key 'k' must be a string, not null",
        ),
        (
            lambda: check_text("a\x01", what="x", key="k", max_chars=4),
            "x key 'k' has a control character or lone surrogate U\\+0001",
        ),
        (
            lambda: check_exact_keys({"a": 1}, frozenset({"a", "b"}), what="x"),
            "x is missing key 'b'",
        ),
        (
            lambda: check_exact_keys({"a": 1, "c": 2}, frozenset({"a"}), what="x"),
            "x has unknown key 'c'",
        ),
    ],
)
def test_each_check_names_payload_key_and_fault(check: object, message: str) -> None:
    with pytest.raises(MalformedError, match=f"^{message}"):
        check()  # type: ignore[operator]


def test_one_node_id_rule_for_every_payload() -> None:
    refusals = []
    for build in (
        lambda: HopBatch("3305", "330000", HEX, 0, ("a" * 64,)),
        lambda: RoutedMessage(HEX, "3305", "330000", "discipline.hit", 0),
        lambda: StatusStatement(HEX, StatusKind.REVOCATION, "3305", "R1", 1, 0, "why", None),
    ):
        with pytest.raises(MalformedError) as caught:
            build()
        refusals.append(str(caught.value).split(" key ", 1)[1])
    assert refusals == [
        "'sender' is '3305', not a 6-digit node id",
        "'origin' is '3305', not a 6-digit node id",
        "'issuer' is '3305', not a 6-digit node id",
    ]


def test_one_record_id_and_text_rule_for_disciplinary_bodies() -> None:
    with pytest.raises(MalformedError, match=r"^objection key 'record_id' has whitespace"):
        ObjectionFiling(
            objection_id=HEX,
            record_id="R 1",
            version=1,
            grounds="wrong",
            filed_by="department:330500/a",
        )
