"""The node's check ledger: checks' writes share the writer's groups without savepoints."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.core.algorithms import Ed25519Signer
from gateway.core.audit import AuditEvent, Decision
from gateway.core.errors import ConflictError
from gateway.node.check_ledger import CheckWrite, HitReportTo, StoreCheckLedger
from gateway.node.messages import MessageRouter
from gateway.store import Store
from gateway.store.discipline import CheckRow
from tests.support.statements import statements_sent
from tests.unit.store.conftest import occupy_writer

NODE = "330500"
ISSUER = "330100"
HOP = "330000"  # a report to ISSUER goes up through the province
ACTOR = f"department:{NODE}/procurement-office"


def _ledger(store: Store, wakes: list[int]) -> StoreCheckLedger:
    router = MessageRouter(
        node_id=NODE,
        signer=Ed25519Signer("k" * 16, Ed25519PrivateKey.generate()),
        store=store,
        clock=lambda: 1_700_000_000,
        wake_sender=lambda: wakes.append(1),
    )
    return StoreCheckLedger(store, router)


def _event(detail: str) -> AuditEvent:
    return AuditEvent(
        time=1_700_000_000,
        node=NODE,
        actor=ACTOR,
        action="discipline.check",
        decision=Decision.ALLOWED,
        detail=detail,
    )


def _write(check_id: str, *, report: bool = False) -> CheckWrite:
    check = CheckRow(
        check_id, 1_700_000_000, ACTOR, "procurement", "bid", "C-1", "91***", "clear", ""
    )
    reports = (HitReportTo(ISSUER, {"check_id": check_id}),) if report else ()
    return CheckWrite(check, (), reports, _event(f"check {check_id}"))


def _details(store: Store) -> list[str]:
    return [e.event.detail for e in store.audit.events()]


def test_checks_and_refusals_share_a_group_without_savepoints(store: Store) -> None:
    wakes: list[int] = []
    ledger = _ledger(store, wakes)
    release = occupy_writer(store)
    commits_before = store.writer.commits
    with statements_sent(store.engine, lambda s: "SAVEPOINT" in s) as savepoints:
        futures = [ledger.submit(_write(f"c{i}", report=i == 1)) for i in range(3)]
        refusal = ledger.submit_audit(_event("refused"))
        release.set()
        assert [f.result(timeout=10) for f in futures] == [None, None, None]
        assert refusal.result(timeout=10) is None
    assert savepoints == []
    assert store.writer.commits - commits_before == 2  # the occupying job's, and the group's
    assert _details(store) == ["check c0", "check c1", "check c2", "refused"]
    assert list(store.outbox.backlog()) == [HOP]
    assert store.outbox.pending_count() == 1
    assert wakes == [1]


def test_a_check_stored_already_fails_alone_and_the_group_is_replayed(store: Store) -> None:
    wakes: list[int] = []
    ledger = _ledger(store, wakes)
    assert ledger.record(_write("c0")) is None
    release = occupy_writer(store)
    with statements_sent(store.engine, lambda s: "SAVEPOINT" in s) as savepoints:
        first = ledger.submit(_write("c1", report=True))
        again = ledger.submit(_write("c0"))
        last = ledger.submit(_write("c2"))
        release.set()
        assert first.result(timeout=10) is None
        with pytest.raises(ConflictError, match=r"^check c0 is already stored$"):
            again.result(timeout=10)
        assert last.result(timeout=10) is None
    # The first run stopped at c0 and was rolled back; the replay took a savepoint per job.
    assert savepoints.count("SAVEPOINT store_job") == 3
    assert _details(store) == ["check c0", "check c1", "check c2"]
    # c1's report was queued once (its first run's row was rolled back); the sender was
    # woken by both runs, which is all a replay repeats outside the connection.
    assert store.outbox.pending_count() == 1
    assert wakes == [1, 1]
