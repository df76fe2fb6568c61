"""Audit events serialise to one canonical byte form that names every field."""

from __future__ import annotations

import dataclasses
import json

import pytest

from gateway.core.audit import AuditEvent, Decision
from gateway.core.errors import MalformedError

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
