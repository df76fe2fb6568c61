"""Audit events serialise to one canonical byte form that names every field."""

from __future__ import annotations

import dataclasses
import json

import pytest

from gateway.core.audit import (
    MAX_DETAIL_CHARS,
    MAX_RULE_CHARS,
    UNAUTHENTICATED,
    AuditEvent,
    Decision,
    error_detail,
    event_by,
    event_by_node,
    node_actor,
    record_ref,
    record_refs,
)
from gateway.core.errors import MalformedError
from gateway.core.principal import Principal, Role

EVENT = AuditEvent(
    time=1_790_000_000,
    node="330500",
    actor="department:330500/procurement-office",
    action="records.get",
    decision=Decision.DENIED,
    fingerprint="ab" * 32,
    address="ipv4:127.0.0.1:5555",
    rule="serious-dept",
    subject="3305**********1234",
    records=("R1@1", "R2@3"),
    purpose="招标资格审查",
    case_id="ZB-2026-001",
    detail="1 withheld by policy",
)


def test_bytes_carry_every_field_and_round_trip() -> None:
    data = EVENT.to_bytes()
    assert set(json.loads(data)) == {f.name for f in dataclasses.fields(AuditEvent)}
    assert AuditEvent.from_bytes(data) == EVENT
    assert "招标资格审查".encode() in data  # UTF-8, not escaped


def test_non_canonical_bytes_are_refused() -> None:
    spaced = json.dumps(json.loads(EVENT.to_bytes()), ensure_ascii=False, indent=1).encode()
    with pytest.raises(MalformedError, match="canonical"):
        AuditEvent.from_bytes(spaced)
    with pytest.raises(MalformedError, match="not an audit event"):
        AuditEvent.from_bytes(b'{"time": 1}')


# --- constructors ----------------------------------------------------------------------


def _principal(role: Role = Role.DEPARTMENT) -> Principal:
    return Principal(role, "330500", "procurement", "procurement", "ab" * 32, "ipv4:127.0.0.1:1")


def test_event_by_takes_the_callers_identity() -> None:
    event = event_by(
        _principal(),
        node="330500",
        time=7,
        action="records.list",
        decision=Decision.ALLOWED,
        records=record_refs([("R1", 1), ("R2", 3)]),
    )
    assert (event.actor, event.fingerprint, event.address, event.records) == (
        "department:330500/procurement",
        "ab" * 32,
        "ipv4:127.0.0.1:1",
        ("R1@1", "R2@3"),
    )


def test_an_unknown_caller_is_unauthenticated() -> None:
    event = event_by(None, node="330500", time=7, action="a.b", decision=Decision.DENIED)
    assert (event.actor, event.fingerprint, event.address) == (UNAUTHENTICATED, "", "")


def test_a_node_is_spelled_as_its_certificate_principal() -> None:
    peer = Principal(Role.NODE, "330000", "330000", None, "cd" * 32)
    own = event_by_node("330500", time=7, action="records.expire", decision=Decision.ALLOWED)
    pushed = event_by_node(
        "330500", time=7, actor_node="330000", action="push.receive", decision=Decision.ALLOWED
    )
    assert own.actor == node_actor("330500") == "node:330500/330500"
    assert pushed.actor == peer.actor == "node:330000/330000"


def test_free_text_is_cut_by_one_rule() -> None:
    exc = ValueError("x" * 1000)
    event = event_by_node(
        "330500",
        time=7,
        action="push.send",
        decision=Decision.DENIED,
        rule="r" * 1000,
        detail=error_detail(exc),
    )
    assert event.rule == "r" * MAX_RULE_CHARS
    assert event.detail == ("ValueError: " + "x" * 1000)[:MAX_DETAIL_CHARS]
    assert record_ref("R1", 2) == "R1@2"
