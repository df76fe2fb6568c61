"""A frontend's ledger over its channel: the node's writer commits, then the frontend is answered.

Both ends run in this process over a real pipe and a real SQLite store; the
frontend processes themselves are tested in tests/integration/test_check_frontends.py.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.core.algorithms import Ed25519Signer
from gateway.core.audit import AuditEvent, Decision
from gateway.core.discipline import CheckDecision, CheckResult
from gateway.core.errors import StorageError
from gateway.node.check_ledger import CheckWrite, DecidedCheck, StoreCheckLedger
from gateway.node.ledger_channel import ChannelCheckLedger, serve_channel
from gateway.node.messages import MessageRouter
from gateway.store import AuditFilter, Store, open_store
from gateway.store.discipline import CheckRow, DisciplineRepository

NODE = "330500"
ACTOR = f"department:{NODE}/procurement-office"


@dataclass
class Ends:
    store: Store
    frontend: ChannelCheckLedger
    answered: list[str]
    lost: threading.Event
    node_thread: threading.Thread


@pytest.fixture
def ends(tmp_path: Path) -> Iterator[Ends]:
    store = open_store(f"sqlite:///{tmp_path / 'node.db'}")
    router = MessageRouter(
        node_id=NODE,
        signer=Ed25519Signer("k" * 16, Ed25519PrivateKey.generate()),
        store=store,
        clock=lambda: 1_700_000_000,
        wake_sender=lambda: None,
    )
    node_end, frontend_end = multiprocessing.Pipe()
    answered: list[str] = []
    node_thread = threading.Thread(
        target=serve_channel,
        args=(node_end, StoreCheckLedger(store, router)),
        kwargs={"name": "test", "answered": lambda w: answered.append(w.check.check_id)},
        daemon=True,
    )
    node_thread.start()
    lost = threading.Event()
    try:
        yield Ends(
            store, ChannelCheckLedger(frontend_end, on_lost=lost.set), answered, lost, node_thread
        )
    finally:
        node_end.close()
        frontend_end.close()
        store.close()


def _write(check_id: str, request_id: str = "") -> CheckWrite:
    check = CheckRow(
        check_id, 1_700_000_000, ACTOR, "procurement", "bid", "C-1", "91***", "clear", request_id
    )
    event = AuditEvent(
        time=1_700_000_000,
        node=NODE,
        actor=ACTOR,
        action="discipline.check",
        decision=Decision.ALLOWED,
        detail=f"check {check_id}: clear, 0 notices, 0 records",
    )
    return CheckWrite(check, (), (), event)


def _details(store: Store) -> list[str]:
    return [e.event.detail for e in store.audit.events(AuditFilter())]


def test_a_check_is_committed_with_its_event_before_the_frontend_is_answered(ends: Ends) -> None:
    assert ends.frontend.record(_write("c1")) is None
    # Answered: so already committed, row and event, and counted once by the node.
    assert DisciplineRepository(ends.store.engine).get_check("c1").actor == ACTOR
    assert _details(ends.store) == ["check c1: clear, 0 notices, 0 records"]
    assert ends.answered == ["c1"]


def test_a_frontend_decides_with_its_own_reads_and_the_node_commits(ends: Ends) -> None:
    given: list[object] = []

    def decide(conn: object) -> DecidedCheck:
        given.append(conn)
        return DecidedCheck(_write("c1"), CheckResult(CheckDecision.CLEAR, ()))

    decided, first = ends.frontend.answer(decide)
    # No connection of the node's crosses the channel: the frontend reads its own store.
    assert (given, decided.write.check.check_id, first) == ([None], "c1", None)
    assert _details(ends.store) == ["check c1: clear, 0 notices, 0 records"]
    assert ends.answered == ["c1"]


def test_a_retry_is_answered_with_the_first_check_and_writes_nothing(ends: Ends) -> None:
    assert ends.frontend.record(_write("c1", request_id="r-1")) is None
    first = ends.frontend.record(_write("c2", request_id="r-1"))
    assert first is not None
    assert (first.check_id, first.request_id) == ("c1", "r-1")
    assert _details(ends.store) == ["check c1: clear, 0 notices, 0 records"]
    assert ends.answered == ["c1"]


def test_many_threads_each_get_their_own_answer(ends: Ends) -> None:
    ids = [f"c{i}" for i in range(40)]
    threads = [threading.Thread(target=ends.frontend.record, args=(_write(i),)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(ends.answered) == sorted(ids)
    assert len(_details(ends.store)) == 40


def test_a_refusal_event_is_committed_through_the_node(ends: Ends) -> None:
    event = AuditEvent(
        time=1_700_000_000,
        node=NODE,
        actor=ACTOR,
        action="/gateway.v1.Discipline/Check",
        decision=Decision.DENIED,
        rule="certificate:revoked",
    )
    ends.frontend.audit(event)
    (stored,) = ends.store.audit.events(AuditFilter(decision="denied"))
    assert stored.event == event
    assert ends.answered == []


def test_a_write_the_node_cannot_queue_is_refused_at_the_frontend(ends: Ends) -> None:
    ends.store.writer.close()
    with pytest.raises(StorageError, match=r"^StorageError: the store writer is closed$"):
        ends.frontend.record(_write("c1"))
    assert ends.answered == []


def test_when_the_node_is_gone_the_frontend_is_told_and_refuses(tmp_path: Path) -> None:
    node_end, frontend_end = multiprocessing.Pipe()
    lost = threading.Event()
    frontend = ChannelCheckLedger(frontend_end, on_lost=lost.set)
    node_end.close()
    assert lost.wait(10)
    with pytest.raises(StorageError, match=r"^the node's writer is out of reach$") as refused:
        frontend.record(_write("c1"))
    assert refused.value.transient is True


def test_an_unreadable_answer_loses_the_channel_and_refuses_the_waiting_call() -> None:
    node_end, frontend_end = multiprocessing.Pipe()
    lost = threading.Event()
    frontend = ChannelCheckLedger(frontend_end, on_lost=lost.set)
    refused: list[StorageError] = []

    def call() -> None:
        try:
            frontend.record(_write("c1"))
        except StorageError as exc:
            refused.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    kind, call_id, _payload = node_end.recv()
    # Not the (call id, ok, value) the channel speaks: a node of another version, say.
    node_end.send(("unexpected", kind, call_id, "extra"))
    caller.join(timeout=10)
    assert not caller.is_alive()
    assert lost.wait(10)
    assert [(str(e), e.transient) for e in refused] == [("the node's writer is out of reach", True)]
    node_end.close()
    frontend_end.close()
