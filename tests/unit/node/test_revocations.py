"""A node's client-certificate revocations: refused at once, audited, idempotent."""

from __future__ import annotations

import pytest

from gateway.core.errors import AccessDeniedError, InputError
from gateway.core.principal import Principal, Role
from gateway.node.operator import Operator
from gateway.node.revocations import Revocation, Revocations
from gateway.store import Store
from tests.unit.store.conftest import NOW

OPS = Operator(user="ops", host="gw-1")
FP = "ab" * 32
CLIENT = Principal(Role.AUDITOR, "330500", "audit-office", None, FP, "127.0.0.1:5")
NODE = Principal(Role.NODE, "330000", "330000", None, FP, "127.0.0.1:6")


def test_a_revoked_client_is_refused_and_a_second_revoke_changes_nothing(store: Store) -> None:
    revocations = Revocations(store, node_id="330500", directory=lambda: None, clock=lambda: NOW)
    revocations.check(CLIENT)
    assert revocations.revoke(OPS, Revocation(FP, "auditor:330500/audit-office", "left")) is True
    with pytest.raises(AccessDeniedError) as caught:
        revocations.check(CLIENT)
    assert caught.value.rule == "certificate:revoked"
    assert str(caught.value).endswith("was revoked by node 330500: left")
    assert revocations.revoke(OPS, Revocation(FP, "auditor:330500/audit-office", "again")) is False
    assert store.revocations.get(FP).reason == "left"  # type: ignore[union-attr]
    # A node's own list is for its clients: node certificates are the directory's.
    revocations.check(NODE)
    details = [e.event.detail for e in store.audit.events() if e.event.action == "pki.revoke"]
    assert details == [
        f"auditor:330500/audit-office {FP}: left",
        f"auditor:330500/audit-office {FP}: again (already revoked)",
    ]


@pytest.mark.parametrize(
    ("revocation", "message"),
    [
        (Revocation(FP, "x", " "), "a revocation needs a reason"),
        (Revocation("AB" * 32, "x", "why"), "is not a lower-case hex SHA-256"),
        (Revocation("ab", "x", "why"), "is not a lower-case hex SHA-256"),
    ],
)
def test_a_revocation_needs_a_reason_and_a_fingerprint(
    store: Store, revocation: Revocation, message: str
) -> None:
    revocations = Revocations(store, node_id="330500", directory=lambda: None, clock=lambda: NOW)
    with pytest.raises(InputError, match=message):
        revocations.revoke(OPS, revocation)
    assert store.revocations.get(revocation.fingerprint) is None
