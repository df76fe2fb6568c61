"""The discipline repository contract, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Connection

from gateway.core.errors import ConflictError, InputError, NotFoundError, StorageError
from gateway.store import Store
from gateway.store.discipline import (
    CheckRow,
    DisciplineRepository,
    FeedbackRow,
    HitRow,
    ObjectionRow,
    RepairRow,
    deferred_checks,
)
from tests.unit.store.conftest import NOW, record_row


@pytest.fixture
def repo(store: Store) -> DisciplineRepository:
    return DisciplineRepository(store.engine)


def check_row(check_id: str = "c" * 32) -> CheckRow:
    return CheckRow(
        check_id=check_id,
        checked_at=NOW,
        actor="department:330500/procurement-office",
        domain="procurement",
        purpose="bid review",
        case_id="CG-2025-001",
        subject="91330502MA2B3C4D5E",
        decision="intercept",
    )


def hit_row(check_id: str = "c" * 32, record_id: str = "R1", *, at: int = NOW) -> HitRow:
    return HitRow(
        check_id=check_id,
        record_id=record_id,
        version=1,
        issuer="000000",
        node="330500",
        checked_at=at,
        actor="department:330500/procurement-office",
        domain="procurement",
        case_id="CG-2025-001",
        decision="intercept",
        measures="M-PROC-01",
        received_at=at,
    )


def feedback_row(feedback_id: str, *, record_id: str = "R1", at: int = NOW) -> FeedbackRow:
    return FeedbackRow(
        feedback_id=feedback_id,
        check_id="c" * 32,
        record_id=record_id,
        version=1,
        issuer="000000",
        node="330500",
        actor="department:330500/procurement-office",
        domain="procurement",
        action="applied",
        note="bid refused",
        case_id="CG-2025-001",
        checked_at=NOW,
        reported_at=at,
        received_at=at,
    )


def objection_row(objection_id: str, *, deadline: int, state: str = "filed") -> ObjectionRow:
    return ObjectionRow(
        objection_id=objection_id,
        record_id="R1",
        version=1,
        category="serious_dishonesty",
        node="331100",
        filed_by="admin:331100/credit-admin",
        grounds="the judgment was fully performed",
        filed_at=NOW,
        received_at=NOW,
        deadline_at=deadline,
        state=state,
    )


def test_a_check_and_its_hits_are_stored_once(repo: DisciplineRepository) -> None:
    repo.add_check(check_row(), [hit_row(), hit_row(record_id="R2")])
    assert repo.get_check("c" * 32) == check_row()
    assert [h.record_id for h in repo.hits_of_check("c" * 32)] == ["R1", "R2"]
    with pytest.raises(ConflictError, match=f"check {'c' * 32} is already stored"):
        repo.add_check(check_row(), [])
    with pytest.raises(NotFoundError, match="check " + "d" * 32 + " was not made at this node"):
        repo.get_check("d" * 32)


def test_deferred_checks_are_stored_when_the_block_ends_and_not_if_it_raises(
    store: Store, repo: DisciplineRepository
) -> None:
    first, second = check_row("a" * 32), check_row("b" * 32)
    with store.engine.begin() as conn:
        with deferred_checks(conn) as stage:
            repo.add_check(first, [hit_row(first.check_id)], conn=conn)
            repo.add_check(second, [], conn=conn)
            assert (stage.checks, stage.hits) == ([first, second], [hit_row(first.check_id)])
            # Staged, not sent: the transaction holds nothing of them yet.
            assert repo.check_for_request(first.actor, first.request_id, conn=conn) is None
            with pytest.raises(StorageError, match="already deferred"), deferred_checks(conn):
                pass
        assert "gateway.discipline.checks" not in conn.info
    assert [repo.get_check(c.check_id) for c in (first, second)] == [first, second]
    assert repo.hits_of_check(first.check_id) == [hit_row(first.check_id)]
    third = check_row("e" * 32)

    def add_staged(conn: Connection, *checks: CheckRow, fail: bool = False) -> None:
        with deferred_checks(conn):
            for check in checks:
                repo.add_check(check, [hit_row(check.check_id)], conn=conn)
            if fail:
                raise RuntimeError("the job failed")

    with store.engine.connect() as conn:
        with pytest.raises(RuntimeError, match="the job failed"):
            add_staged(conn, third, fail=True)
        conn.commit()
    with pytest.raises(NotFoundError):
        repo.get_check(third.check_id)
    # One staged check already stored: the insert says so, and the caller rolls back.
    with store.engine.connect() as conn:
        with pytest.raises(ConflictError, match=r"^one of 2 checks is already stored$"):
            add_staged(conn, third, first)
        conn.rollback()
    with pytest.raises(NotFoundError):
        repo.get_check(third.check_id)


def test_hit_reports_are_idempotent_and_listed_per_record(repo: DisciplineRepository) -> None:
    # The check was made at the issuer itself: its local hit and its report share a key.
    repo.add_check(check_row(), [hit_row()])
    # The same hit reported again, received later: the stored one is left as it is.
    repo.add_hits([dataclasses.replace(hit_row(), received_at=NOW + 99)])
    repo.add_hits([hit_row("e" * 32, at=NOW + 5), hit_row("f" * 32, "R9")])
    repo.add_hits([])
    assert repo.hits_for("R1") == [hit_row(), hit_row("e" * 32, at=NOW + 5)]
    assert repo.hits_for("R9") == [hit_row("f" * 32, "R9")]
    assert repo.hits_for("R0") == []
    with pytest.raises(InputError, match="limit must be between 1 and 10000, got 0"):
        repo.hits_for("R1", limit=0)


def test_feedback_is_idempotent_and_listed_in_report_order(repo: DisciplineRepository) -> None:
    assert repo.add_feedback([feedback_row("2" * 32, at=NOW + 2), feedback_row("1" * 32)]) == [
        "2" * 32,
        "1" * 32,
    ]
    assert repo.add_feedback([feedback_row("1" * 32)]) == []
    repo.add_feedback([feedback_row("3" * 32, record_id="R2")])
    assert [f.feedback_id for f in repo.feedback_for("R1")] == ["1" * 32, "2" * 32]


def test_objections_filter_by_state_record_and_deadline(repo: DisciplineRepository) -> None:
    assert repo.add_objection(objection_row("a" * 32, deadline=NOW + 100))
    assert not repo.add_objection(objection_row("a" * 32, deadline=NOW + 100))
    repo.add_objection(objection_row("b" * 32, deadline=NOW + 10, state="accepted"))
    repo.add_objection(objection_row("c" * 32, deadline=NOW + 1, state="dismissed"))
    assert [o.objection_id for o in repo.list_objections()] == ["c" * 32, "b" * 32, "a" * 32]
    overdue = repo.list_objections(states=["filed", "accepted"], due_before=NOW + 50)
    assert [o.objection_id for o in overdue] == ["b" * 32]
    assert repo.list_objections(record_id="R2") == []
    assert repo.get_objection("a" * 32).grounds == "the judgment was fully performed"
    with pytest.raises(NotFoundError, match="objection " + "9" * 32 + " is not held"):
        repo.get_objection("9" * 32)


def test_an_objection_is_decided_once_even_by_concurrent_admins(
    repo: DisciplineRepository,
) -> None:
    repo.add_objection(objection_row("a" * 32, deadline=NOW + 100))

    def decide(who: str) -> str:
        try:
            repo.decide_objection(
                "a" * 32,
                expected_state="filed",
                state="accepted",
                decided_at=NOW + 1,
                decided_by=who,
                resolution="admissible",
                statement_id="s" * 32,
            )
        except ConflictError as exc:
            return str(exc)
        return "won"

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(decide, ["a1", "a2", "a3", "a4"]))
    assert outcomes.count("won") == 1
    assert all("is no longer filed: decided meanwhile" in o for o in outcomes if o != "won")
    stored = repo.get_objection("a" * 32)
    assert (stored.state, stored.statement_id, stored.decided_at) == ("accepted", "s" * 32, NOW + 1)


def test_repair_applications_are_stored_listed_and_decided_once(
    repo: DisciplineRepository,
) -> None:
    row = RepairRow(
        application_id="r" * 32,
        record_id="R1",
        version=1,
        category="serious_dishonesty",
        applied_by="admin:000000/credit-admin",
        reason="obligations performed, commitment signed",
        applied_at=NOW,
        state="pending",
    )
    repo.add_repair(row)
    with pytest.raises(ConflictError, match="already stored"):
        repo.add_repair(row)
    assert [r.application_id for r in repo.list_repairs(states=["pending"])] == ["r" * 32]
    repo.decide_repair(
        "r" * 32,
        expected_state="pending",
        state="approved",
        decided_at=NOW + 9,
        decided_by="admin:000000/credit-admin",
        note="approved",
        statement_id="t" * 32,
    )
    assert repo.get_repair("r" * 32).state == "approved"
    assert repo.list_repairs(states=["pending"]) == []
    with pytest.raises(ConflictError, match="is no longer pending"):
        repo.decide_repair(
            "r" * 32,
            expected_state="pending",
            state="refused",
            decided_at=NOW + 10,
            decided_by="x",
            note="",
            statement_id=None,
        )
    with pytest.raises(NotFoundError, match=r"repair application x+ is not held"):
        repo.get_repair("x" * 32)


def test_objection_states_are_those_of_one_record_version(repo: DisciplineRepository) -> None:
    assert repo.objection_states("R1", 1) == []
    repo.add_objection(objection_row("a" * 32, deadline=NOW + 10))
    repo.add_objection(objection_row("b" * 32, deadline=NOW + 20, state="accepted"))
    other_version = dataclasses.replace(objection_row("c" * 32, deadline=NOW), version=2)
    other_record = dataclasses.replace(objection_row("d" * 32, deadline=NOW), record_id="R2")
    repo.add_objection(other_version)
    repo.add_objection(other_record)
    assert sorted(repo.objection_states("R1", 1)) == ["accepted", "filed"]
    assert repo.objection_states("R1", 2) == ["filed"]


def test_open_hits_are_this_nodes_without_lifted_feedback_with_their_record_state(
    store: Store, repo: DisciplineRepository
) -> None:
    store.records.put_many(
        [record_row("R1"), record_row("R2", status="revoked"), record_row("R9", exp=NOW + 5)]
    )
    here = [hit_row(c * 32, r) for c, r in (("a", "R1"), ("b", "R2"), ("c", "R9"), ("d", "R1"))]
    elsewhere = dataclasses.replace(hit_row("e" * 32, "R1"), node="331100")
    other_client = dataclasses.replace(hit_row("f" * 32, "R1"), actor="department:330500/x")
    repo.add_hits([*here, elsewhere, other_client])
    answered = dataclasses.replace(feedback_row("1" * 32), check_id="a" * 32)
    lifted = dataclasses.replace(feedback_row("2" * 32, record_id="R2"), check_id="b" * 32)
    repo.add_feedback([answered, dataclasses.replace(lifted, action="lifted")])

    found = repo.open_hits(node="330500", actor="department:330500/procurement-office")

    assert [(o.hit.check_id[0], o.hit.record_id, o.answered, o.status, o.exp) for o in found] == [
        ("a", "R1", True, "active", NOW + 86_400),
        ("c", "R9", False, "active", NOW + 5),
        ("d", "R1", False, "active", NOW + 86_400),
    ]
    assert {o.hit.check_id[0] for o in repo.open_hits(node="330500")} == {"a", "c", "d", "f"}
    assert {o.hit.check_id[0] for o in repo.open_hits(node="331100")} == {"e"}


def test_a_department_stores_one_check_per_request_id(repo: DisciplineRepository) -> None:
    first = dataclasses.replace(check_row("a" * 32), request_id="req-1")
    repo.add_check(first, [])
    assert repo.check_for_request(first.actor, "req-1") == first
    assert repo.check_for_request(first.actor, "req-2") is None
    # Another replica racing with the same request id: the database refuses the second row.
    with pytest.raises(StorageError):
        repo.add_check(dataclasses.replace(first, check_id="b" * 32), [])
    # Another department's id, and checks without one, do not collide.
    repo.add_check(dataclasses.replace(first, check_id="e" * 32, actor="department:x/y"), [])
    repo.add_check(check_row("f" * 32), [])
    repo.add_check(check_row("9" * 32), [])
    assert repo.get_check("9" * 32).request_id == ""


def test_replicas_racing_with_one_request_id_store_one_check_and_agree_on_it(
    repo: DisciplineRepository,
) -> None:
    attempts = [
        dataclasses.replace(check_row(f"{i:x}" * 32), request_id="req-race") for i in range(1, 9)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        stored = list(
            pool.map(lambda check: repo.add_check_once(check, [hit_row(check.check_id)]), attempts)
        )
    assert len({s.check_id for s in stored}) == 1
    winner = stored[0].check_id
    assert repo.check_for_request(attempts[0].actor, "req-race") == stored[0]
    assert [h.check_id for h in repo.hits_of_check(winner)] == [winner]
    for loser in {a.check_id for a in attempts} - {winner}:
        with pytest.raises(NotFoundError):
            repo.get_check(loser)
    with pytest.raises(InputError, match="needs a request id"):
        repo.add_check_once(check_row("0" * 32), [])
