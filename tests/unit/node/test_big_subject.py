"""A subject with 50,000 records cannot take a node down (issue 14, item 5).

A check and a page of a listing read only what they answer. The store holds
50,000 penalties of one company and three notices about it; a check reads the
notices and one bounded page of penalties (MAX_REFERENCE_ROWS). The tests count
what SQLite hands back to Python (rows fetched, through the connection's row
factory) and the work it does (virtual machine steps, through its progress
handler), never time.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, event

from gateway.core.algorithms import Ed25519Signer
from gateway.core.discipline import CheckDecision
from gateway.core.principal import Principal, Role
from gateway.node.catalog_files import load_packaged_catalog, load_packaged_measures
from gateway.node.discipline import MAX_REFERENCE_ROWS, DisciplineService
from gateway.node.intake import IntakeService, Submission
from gateway.node.messages import MessageRouter
from gateway.node.record_reader import StoreRecordReader
from gateway.node.revocations import Revocations
from gateway.store import RecordRow, Store, open_store
from tests.support.records import notice_fields, penalty_fields

NODE = "000000"
START = int(dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC).timestamp())
PENALTIES = 50_000
PROCUREMENT = Principal(Role.DEPARTMENT, NODE, "procurement-office", "procurement", "f" * 64)
ADMIN = Principal(Role.ADMIN, NODE, "credit-admin", None, "a" * 64)


@dataclass
class Counts:
    statements: int = 0
    rows: int = 0
    steps: int = 0


@contextmanager
def counting(engine: Engine) -> Iterator[Counts]:
    """Count statements, rows fetched and SQLite VM steps (in thousands) on every connection."""
    counts = Counts()

    def row(_cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> tuple[Any, ...]:
        counts.rows += 1
        return values

    def step() -> int:
        counts.steps += 1
        return 0

    def checkout(dbapi: sqlite3.Connection, _record: object, _proxy: object) -> None:
        dbapi.row_factory = row
        dbapi.set_progress_handler(step, 1000)

    def checkin(dbapi: sqlite3.Connection, _record: object) -> None:
        dbapi.row_factory = None
        dbapi.set_progress_handler(None, 0)

    def statement(*_args: object) -> None:
        counts.statements += 1

    engine.dispose()  # every connection from here on is checked out under the hooks
    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    event.listen(engine, "before_cursor_execute", statement)
    try:
        yield counts
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "checkin", checkin)
        event.remove(engine, "before_cursor_execute", statement)
        engine.dispose()


@dataclass
class Node:
    store: Store
    discipline: DisciplineService
    subject: str


def _penalty(i: int, subject: str, sd_jwt: str) -> RecordRow:
    return RecordRow(
        record_id=f"P{i:08d}",
        version=1,
        issuer=NODE,
        category="admin_penalty",
        subject_type="legal_person",
        subject_key=subject,
        document_number=f"罚{i}号",
        status="active",
        iat=START - 3600,
        exp=START + 365 * 86_400,
        # One real penalty's text: a check parses the page of penalties it reads.
        sd_jwt=sd_jwt,
        origin="local",
        stored_at=START,
        status_changed_at=START,
    )


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('big') / 'node.db'}")
    signer = Ed25519Signer("k" * 16, Ed25519PrivateKey.generate())
    catalog = load_packaged_catalog(NODE)
    clock: Callable[[], int] = lambda: START  # noqa: E731 - a fixed clock
    intake = IntakeService(node_id=NODE, catalog=catalog, signer=signer, store=store, clock=clock)
    decided = dt.datetime.fromtimestamp(START, dt.UTC).date() - dt.timedelta(days=30)
    fields = notice_fields(1, decided=decided)
    results = intake.submit(
        [
            Submission(str(n), "serious_dishonesty", {**fields, "LB_WSH": f"发改财金〔2026〕{n}号"})
            for n in range(3)
        ],
        ADMIN,
    )
    assert all(r.record_id for r in results), results
    subject = intake_subject(store, results[0].record_id)
    (penalty,) = intake.submit(
        [Submission("p", "admin_penalty", penalty_fields(100_001, decided=decided))], ADMIN
    )
    sd_jwt = store.records.get(penalty.record_id).sd_jwt
    assert sd_jwt is not None
    assert intake_subject(store, penalty.record_id) == subject
    store.records.put_many([_penalty(i, subject, sd_jwt) for i in range(PENALTIES)])
    router = MessageRouter(
        node_id=NODE, signer=signer, store=store, clock=clock, wake_sender=lambda: None
    )
    discipline = DisciplineService(
        node_id=NODE,
        catalog=catalog,
        measures=load_packaged_measures(NODE),
        store=store,
        router=router,
        clock=clock,
        revocations=Revocations(store, node_id=NODE, directory=lambda: None, clock=clock),
    )
    try:
        yield Node(store, discipline, subject)
    finally:
        store.close()


def intake_subject(store: Store, record_id: str) -> str:
    return store.records.get(record_id).subject_key


def test_check_of_a_subject_with_50000_records_reads_its_notices_and_one_page(
    node: Node,
) -> None:
    with counting(node.store.engine) as counts:
        outcome = node.discipline.check(
            PROCUREMENT, subject=node.subject, domain="procurement", purpose="tender", case_id=""
        )
    assert outcome.result.decision is CheckDecision.INTERCEPT
    notices = [h for h in outcome.result.hits if not h.reference]
    references = [h for h in outcome.result.hits if h.reference]
    assert (len(notices), len(references)) == (3, MAX_REFERENCE_ROWS)
    assert outcome.result.unread == ("admin_penalty",)
    # Three notices, one page of penalties, the check's own writes and the audit
    # append: about a hundred rows, not 50,000, and SQLite steps over no index
    # entry of the other penalties (87 million VM steps on the old offset-paged
    # read of every record).
    assert counts.rows < 100 + MAX_REFERENCE_ROWS, counts
    assert counts.statements < 40, counts
    assert counts.steps < 20, counts


def test_every_page_of_a_subject_costs_what_the_first_does(node: Node) -> None:
    reader = StoreRecordReader(node.store.records)
    pages: list[Counts] = []
    token: str | None = ""
    while token is not None:
        with counting(node.store.engine) as counts:
            _rows, token = reader.page(
                subject_key=node.subject, category="", limit=500, token=token
            )
        pages.append(counts)
    # 50,000 penalties, the one issued for its text, three notices.
    assert [p.rows for p in pages] == [501] * 100 + [4]
    assert {p.statements for p in pages} == {pages[0].statements}
    # With offset paging page n steps over the n * 500 rows before it.
    assert max(p.steps for p in pages) <= 1.5 * pages[0].steps, (pages[0], pages[-2])
