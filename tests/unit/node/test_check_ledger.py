"""The node's check ledger: checks' writes share the writer's groups without savepoints."""

from __future__ import annotations

import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection

from gateway.core.algorithms import Ed25519Signer
from gateway.core.audit import AuditEvent, Decision
from gateway.core.discipline import CheckDecision, CheckResult
from gateway.core.errors import AccessDeniedError, ConflictError, NotFoundError
from gateway.node.check_ledger import CheckWrite, DecidedCheck, HitReportTo, StoreCheckLedger
from gateway.node.messages import MessageRouter
from gateway.store import Store
from gateway.store.discipline import CheckRow, DisciplineRepository, HitRow
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


def _hit(check_id: str, record_id: str) -> HitRow:
    return HitRow(
        check_id, record_id, 1, ISSUER, NODE, 1_700_000_000, ACTOR, "procurement", "C-1",
        "hit", "bar", 1_699_999_000,
    )  # fmt: skip


def _write(
    check_id: str, *, report: bool = False, request_id: str = "", hits: tuple[str, ...] = ()
) -> CheckWrite:
    check = CheckRow(
        check_id, 1_700_000_000, ACTOR, "procurement", "bid", "C-1", "91***", "clear", request_id
    )
    reports = (HitReportTo(ISSUER, {"check_id": check_id}),) if report else ()
    found = tuple(_hit(check_id, record_id) for record_id in hits)
    return CheckWrite(check, found, reports, _event(f"check {check_id}"))


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
    assert ledger.submit(_write("c0")).result(timeout=10) is None
    release = occupy_writer(store)
    with statements_sent(store.engine, lambda s: "SAVEPOINT" in s) as savepoints:
        first = ledger.submit(_write("c1", report=True, hits=("N1",)))
        again = ledger.submit(_write("c0", hits=("N9",)))
        last = ledger.submit(_write("c2", hits=("N2", "N3")))
        release.set()
        assert first.result(timeout=10) is None
        with pytest.raises(ConflictError, match=r"^check c0 is already stored$"):
            again.result(timeout=10)
        assert last.result(timeout=10) is None
    # The first run's one insert of the group's checks met c0 and was rolled back; the
    # replay took a savepoint per job, each job inserting its own check.
    assert savepoints.count("SAVEPOINT store_job") == 3
    assert _details(store) == ["check c0", "check c1", "check c2"]
    repo = DisciplineRepository(store.engine)
    assert repo.hits_of_check("c0") == []
    assert repo.hits_of_check("c1") == [_hit("c1", "N1")]
    assert repo.hits_of_check("c2") == [_hit("c2", "N2"), _hit("c2", "N3")]
    # c1's report was queued once (its first run's row was rolled back); the sender was
    # woken by both runs, which is all a replay repeats outside the connection.
    assert store.outbox.pending_count() == 1
    assert wakes == [1, 1]


def test_a_groups_checks_go_in_one_insert_and_their_hits_in_another(store: Store) -> None:
    ledger = _ledger(store, [])
    release = occupy_writer(store)
    with statements_sent(store.engine, lambda s: s.startswith("INSERT INTO discipline_")) as sent:
        futures = [ledger.submit(_write(f"c{i}", hits=(f"N{i}", "M"))) for i in range(4)]
        retry = ledger.submit(_write("r0", request_id="req-0", hits=("N9",)))
        release.set()
        assert [f.result(timeout=10) for f in futures] == [None] * 4
        assert retry.result(timeout=10) is None
    # A check under a request id is stored at once (its insert says whether it is a
    # retry); the others wait for the group's end, in the order they were added.
    assert [s.split()[2] for s in sent] == [
        "discipline_check",
        "discipline_hit",
        "discipline_check",
        "discipline_hit",
    ]
    repo = DisciplineRepository(store.engine)
    assert [repo.get_check(f"c{i}").check_id for i in range(4)] == ["c0", "c1", "c2", "c3"]
    assert repo.hits_of_check("c2") == [_hit("c2", "M"), _hit("c2", "N2")]
    assert repo.hits_of_check("r0") == [_hit("r0", "N9")]
    assert _details(store) == ["check c0", "check c1", "check c2", "check c3", "check r0"]


def test_a_check_twice_in_one_group_is_stored_once_and_refused_once(store: Store) -> None:
    ledger = _ledger(store, [])
    release = occupy_writer(store)
    first = ledger.submit(_write("c0", hits=("N1",)))
    twice = ledger.submit(_write("c0", hits=("N2",)))
    other = ledger.submit(_write("c1"))
    release.set()
    assert first.result(timeout=10) is None
    with pytest.raises(ConflictError, match=r"^check c0 is already stored$"):
        twice.result(timeout=10)
    assert other.result(timeout=10) is None
    assert _details(store) == ["check c0", "check c1"]
    assert DisciplineRepository(store.engine).hits_of_check("c0") == [_hit("c0", "N1")]


def test_a_group_mixing_request_ids_a_retry_and_a_refusal_gives_each_its_outcome(
    store: Store,
) -> None:
    ledger = _ledger(store, [])
    assert ledger.submit(_write("r0", request_id="req-0", hits=("N1",))).result(timeout=10) is None
    release = occupy_writer(store)
    with statements_sent(store.engine, lambda s: "SAVEPOINT" in s) as savepoints:
        plain = ledger.submit(_write("c0", hits=("N1",)))
        retry = ledger.submit(_write("r9", request_id="req-0", hits=("N2",)))
        new = ledger.submit(_write("r1", request_id="req-1"))
        refusal = ledger.submit_audit(_event("refused"))
        last = ledger.submit(_write("c1"))
        release.set()
        assert plain.result(timeout=10) is None
        # A retry is answered with the check stored first, and neither stored nor audited.
        assert retry.result(timeout=10) == _write("r0", request_id="req-0").check
        assert new.result(timeout=10) is None
        assert refusal.result(timeout=10) is None
        assert last.result(timeout=10) is None
    assert savepoints == []
    assert _details(store) == ["check r0", "check c0", "check r1", "refused", "check c1"]
    repo = DisciplineRepository(store.engine)
    assert repo.check_for_request(ACTOR, "req-1") == _write("r1", request_id="req-1").check
    assert repo.hits_of_check("c0") == [_hit("c0", "N1")]
    assert repo.hits_of_check("r0") == [_hit("r0", "N1")]
    assert repo.hits_of_check("r9") == []
    with pytest.raises(NotFoundError):
        repo.get_check("r9")


def test_a_check_is_decided_on_the_writer_in_the_transaction_that_commits_it(
    store: Store,
) -> None:
    ledger = _ledger(store, [])
    seen: list[tuple[str, bool]] = []

    def decide(conn: object) -> DecidedCheck:
        assert isinstance(conn, Connection)
        seen.append((threading.current_thread().name, conn.in_transaction()))
        return DecidedCheck(_write("c1"), CheckResult(CheckDecision.CLEAR, ()))

    commits_before = store.writer.commits
    decided, first = ledger.answer(decide)
    assert (decided.write.check.check_id, decided.result.decision, first) == (
        "c1",
        CheckDecision.CLEAR,
        None,
    )
    assert seen == [("store-writer", True)]
    assert store.writer.commits - commits_before == 1
    assert _details(store) == ["check c1"]


def test_a_decision_that_refuses_writes_nothing_and_its_group_commits(store: Store) -> None:
    ledger = _ledger(store, [])

    def refuse(_conn: object) -> DecidedCheck:
        raise AccessDeniedError("revoked", rule="certificate:revoked")

    release = occupy_writer(store)
    before = ledger.submit(_write("c0"))
    refused: list[AccessDeniedError] = []

    def call() -> None:
        try:
            ledger.answer(refuse)
        except AccessDeniedError as exc:
            refused.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    after = ledger.submit(_write("c2"))
    release.set()
    caller.join(30)
    assert (before.result(timeout=10), after.result(timeout=10)) == (None, None)
    assert [e.rule for e in refused] == ["certificate:revoked"]
    assert _details(store) == ["check c0", "check c2"]
