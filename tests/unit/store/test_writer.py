"""The single writer: group commit, per-job failure isolation, shutdown, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

import gateway
from gateway.core.audit import AuditEvent, Decision
from gateway.core.errors import ConfigurationError, InputError, StorageError
from gateway.core.merkle import MerkleTree
from gateway.store import Completion, PutOutcome, Store, StoreWriter, open_store, sd_jwt_digest
from tests.support.statements import statements_sent
from tests.unit.store.conftest import occupy_writer, record_row


def _put_job(store: Store, *record_ids: str) -> Callable[[Connection], list[PutOutcome]]:
    rows = [record_row(record_id) for record_id in record_ids]

    def job(conn: Connection) -> list[PutOutcome]:
        return store.records.put_many(rows, conn=conn)

    return job


def test_concurrent_submits_all_land_in_far_fewer_commits(store: Store) -> None:
    futures: list[Completion[list[PutOutcome]]] = []
    lock = threading.Lock()

    def submitter(thread_no: int) -> None:
        for i in range(250):
            future = store.writer.submit(_put_job(store, f"T{thread_no}-{i:03d}"))
            with lock:
                futures.append(future)

    commits_before = store.writer.commits
    threads = [threading.Thread(target=submitter, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [f.result(timeout=60) for f in futures] == [[PutOutcome.INSERTED]] * 2_000
    assert store.records.count() == 2_000
    commits = store.writer.commits - commits_before
    assert 0 < commits <= 2_000 // 4, f"{commits} commits for 2000 jobs"


def test_a_failing_job_is_rolled_back_alone(store: Store) -> None:
    release = occupy_writer(store)
    commits_before = store.writer.commits

    def put(record_id: str) -> Completion[list[PutOutcome]]:
        return store.writer.submit(_put_job(store, record_id))

    def writes_then_raises(conn: Connection) -> None:
        store.records.put_many([record_row("HALF")], conn=conn)
        raise InputError("catalog refused field XDR_MC")

    def breaks_sql(conn: Connection) -> None:
        conn.execute(text("INSERT INTO no_such_table VALUES (1)"))

    before = [put(f"OK{i}") for i in range(3)]
    raising = store.writer.submit(writes_then_raises)
    bad_sql = store.writer.submit(breaks_sql)
    after = [put(f"OK{i}") for i in range(3, 6)]
    release.set()

    with pytest.raises(InputError, match="catalog refused field XDR_MC"):
        raising.result(timeout=10)
    with pytest.raises(StorageError, match=r"store write job failed: .*no_such_table"):
        bad_sql.result(timeout=10)
    assert [f.result(timeout=10) for f in before + after] == [[PutOutcome.INSERTED]] * 6
    # The gate, and every other job queued behind it, went out in two commits at most.
    assert store.writer.commits - commits_before <= 2
    assert [r.record_id for r in store.records.list()] == [f"OK{i}" for i in range(6)]


def _audited_put(
    store: Store, record_id: str, *, fail: bool = False
) -> Callable[[Connection], None]:
    """Store a record and append its audit event in the job; optionally raise afterwards."""

    def job(conn: Connection) -> None:
        store.records.put_many([record_row(record_id)], conn=conn)
        event = AuditEvent(
            time=1_790_000_000,
            node="330500",
            actor="department:330500/intake-office",
            action="records.put",
            decision=Decision.ALLOWED,
            subject=record_id,
        )
        store.audit.append([event], conn=conn)
        if fail:
            raise InputError(f"refused {record_id} after auditing it")

    return job


def test_a_group_appends_its_audit_events_in_job_order_without_the_failed_jobs(
    store: Store,
) -> None:
    release = occupy_writer(store)
    commits_before = store.writer.commits
    ids = [f"A{i}" for i in range(12)]
    futures = [store.writer.submit(_audited_put(store, i, fail=i in {"A3", "A7"})) for i in ids]
    release.set()
    for record_id, future in zip(ids, futures, strict=True):
        if record_id in {"A3", "A7"}:
            with pytest.raises(InputError, match=f"refused {record_id} after auditing it"):
                future.result(timeout=10)
        else:
            assert future.result(timeout=10) is None
    assert store.writer.commits - commits_before <= 2
    kept = [i for i in ids if i not in {"A3", "A7"}]
    stored = store.audit.events(limit=100)
    assert [e.event.subject for e in stored] == kept
    assert [e.seq for e in stored] == list(range(len(kept)))
    assert [r.record_id for r in store.records.list()] == sorted(kept)
    tree = MerkleTree(e.data for e in stored)
    assert store.audit.root(len(kept)) == tree.root()
    # The log goes on from there, one job after another.
    store.writer.submit(_audited_put(store, "B0")).result(timeout=10)
    tree.append(store.audit.events(after=len(kept) - 1)[0].data)
    assert store.audit.size() == len(kept) + 1
    assert store.audit.root(len(kept) + 1) == tree.root()


def test_jobs_with_savepoints_of_their_own_fail_alone_and_the_rest_commit_once(
    store: Store,
) -> None:
    release = occupy_writer(store)
    commits_before = store.writer.commits

    def own_savepoint(record_id: str, *, fail: bool) -> Callable[[Connection], str]:
        # As a hop batch's acceptance does: a savepoint of the job's own inside the writer's.
        def job(conn: Connection) -> str:
            with conn.begin_nested():
                store.records.put_many([record_row(record_id)], conn=conn)
            try:
                with conn.begin_nested():
                    store.records.put_many([record_row(record_id)], conn=conn)
                    conn.execute(text("INSERT INTO no_such_table VALUES (1)"))
            except Exception:  # noqa: BLE001  # its own savepoint took the failed insert back
                pass
            _audited_put(store, f"{record_id}-event", fail=fail)(conn)
            return record_id

        return job

    names = ["N0", "N1", "N2", "N3", "N4"]
    futures = [store.writer.submit(own_savepoint(n, fail=n in {"N1", "N2"})) for n in names]
    release.set()
    assert futures[0].result(timeout=10) == "N0"
    for name, future in zip(names[1:3], futures[1:3], strict=True):
        with pytest.raises(InputError, match=f"^refused {name}-event after auditing it$"):
            future.result(timeout=10)
    assert [f.result(timeout=10) for f in futures[3:]] == ["N3", "N4"]
    assert store.writer.commits - commits_before <= 2
    kept = ["N0", "N3", "N4"]
    assert [r.record_id for r in store.records.list()] == sorted(
        kept + [f"{n}-event" for n in kept]
    )
    assert [e.event.subject for e in store.audit.events()] == [f"{n}-event" for n in kept]
    assert store.audit.size() == 3


def test_replayable_jobs_share_a_group_without_savepoints(store: Store) -> None:
    ids = [f"R{i}" for i in range(6)]
    release = occupy_writer(store)
    commits_before = store.writer.commits
    with statements_sent(store.engine) as seen:
        futures = [store.writer.submit(_audited_put(store, i), replayable=True) for i in ids]
        release.set()
        assert [f.result(timeout=10) for f in futures] == [None] * 6
    assert [s for s in seen if "SAVEPOINT" in s] == []
    # The occupying job's commit, and one for the six.
    assert store.writer.commits - commits_before == 2
    stored = store.audit.events()
    assert [e.event.subject for e in stored] == ids
    assert [e.seq for e in stored] == list(range(6))
    assert store.audit.root(6) == MerkleTree(e.data for e in stored).root()
    assert [r.record_id for r in store.records.list()] == ids


def test_a_group_of_replayable_jobs_with_failures_is_replayed_and_the_rest_commit_once(
    store: Store,
) -> None:
    runs: dict[str, int] = {}

    def counted(record_id: str, job: Callable[[Connection], None]) -> Callable[[Connection], str]:
        def run(conn: Connection) -> str:
            runs[record_id] = runs.get(record_id, 0) + 1
            job(conn)
            return record_id

        return run

    def breaks_sql(conn: Connection) -> None:
        _audited_put(store, "F3")(conn)
        conn.execute(text("INSERT INTO no_such_table VALUES (1)"))

    jobs = {
        "F0": _audited_put(store, "F0"),
        "F1": _audited_put(store, "F1", fail=True),
        "F2": _audited_put(store, "F2"),
        "F3": breaks_sql,
        "F4": _audited_put(store, "F4"),
    }
    release = occupy_writer(store)
    commits_before = store.writer.commits
    with statements_sent(store.engine) as seen:
        futures = {
            name: store.writer.submit(counted(name, job), replayable=True)
            for name, job in jobs.items()
        }
        release.set()
        with pytest.raises(InputError, match=r"^refused F1 after auditing it$"):
            futures["F1"].result(timeout=10)
        with pytest.raises(StorageError, match=r"^store write job failed: .*no_such_table"):
            futures["F3"].result(timeout=10)
        assert [futures[n].result(timeout=10) for n in ("F0", "F2", "F4")] == ["F0", "F2", "F4"]
    # F1 failed the first run: F0 and F1 ran again, then every job once, in its savepoint.
    assert runs == {"F0": 2, "F1": 2, "F2": 1, "F3": 1, "F4": 1}
    assert seen.count("SAVEPOINT store_job") == 5
    assert store.writer.commits - commits_before == 2
    kept = ["F0", "F2", "F4"]
    stored = store.audit.events()
    assert [e.event.subject for e in stored] == kept
    assert [e.seq for e in stored] == [0, 1, 2]
    assert store.audit.root(3) == MerkleTree(e.data for e in stored).root()
    assert [r.record_id for r in store.records.list()] == kept


def test_a_replayable_job_alone_fails_alone(store: Store) -> None:
    with pytest.raises(InputError, match=r"^refused GONE after auditing it$"):
        store.writer.submit(_audited_put(store, "GONE", fail=True), replayable=True).result(10)
    assert store.writer.submit(_audited_put(store, "KEPT"), replayable=True).result(10) is None
    assert [e.event.subject for e in store.audit.events()] == ["KEPT"]


def test_a_lone_failing_job_leaves_neither_its_rows_nor_its_event(store: Store) -> None:
    store.writer.submit(_audited_put(store, "KEPT")).result(timeout=10)
    with pytest.raises(InputError, match="refused GONE after auditing it"):
        store.writer.submit(_audited_put(store, "GONE", fail=True)).result(timeout=10)
    assert [r.record_id for r in store.records.list()] == ["KEPT"]
    assert [e.event.subject for e in store.audit.events()] == ["KEPT"]
    assert store.audit.size() == 1


def test_audit_appends_cannot_be_deferred_twice_on_one_connection(store: Store) -> None:
    def nested(conn: Connection) -> None:
        with store.audit.deferred(conn):
            pass

    with pytest.raises(StorageError, match="audit appends on this connection are already deferred"):
        store.writer.submit(nested).result(timeout=10)


def test_close_finishes_queued_work_then_refuses_more(store_url: str) -> None:
    store = open_store(store_url)
    try:
        release = occupy_writer(store)
        futures = [store.writer.submit(_put_job(store, f"Q{i}")) for i in range(50)]
        cancelled = store.writer.submit(lambda _conn: "never")
        assert cancelled.cancel()
        release.set()
        store.writer.close()
        assert all(f.done() and f.exception() is None for f in futures)
        assert store.records.count() == 50
        with pytest.raises(StorageError, match="the store writer is closed"):
            store.writer.submit(lambda _conn: None)
    finally:
        store.close()


def test_writer_refuses_a_non_positive_batch_size(store: Store) -> None:
    with pytest.raises(ConfigurationError, match="max_batch must be positive, got 0"):
        StoreWriter(store.engine, store.audit, max_batch=0)


# Each job stores a family of three rows; the ids are printed once the job's commit is done.
_CHILD = textwrap.dedent(
    """
    import sys
    from gateway.store import RecordRow, open_store

    store = open_store(sys.argv[1], max_batch=32)

    def family(n):
        return [
            RecordRow(
                record_id=f"C{n:06d}", version=v, issuer="330500", category="penalty",
                subject_type="legal_person", subject_key="91330500MA2B3C4D5E",
                document_number=f"N{n}", status="active", iat=1, exp=2,
                sd_jwt=f"eyJ.{n}.{v}." + "A" * 3000 + "~", origin="local",
                stored_at=1, status_changed_at=1,
            )
            for v in (1, 2, 3)
        ]

    n = 0
    while True:
        jobs = []
        for _ in range(40):
            rows = family(n)
            job = store.writer.submit(lambda c, rows=rows: store.records.put_many(rows, conn=c))
            jobs.append((rows, job))
            n += 1
        for rows, job in jobs:
            job.result()
            print(rows[0].record_id, rows[0].digest, flush=True)
    """
)


def test_acknowledged_writes_survive_sigkill(store_url: str, tmp_path: Path) -> None:
    open_store(store_url).close()  # migrate before the child starts writing
    env = {**os.environ, "PYTHONPATH": str(Path(gateway.__file__).parent.parent)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, store_url],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert child.stdout is not None
    acknowledged: dict[str, str] = {}
    try:
        for line in child.stdout:
            record_id, digest = line.split()
            acknowledged[record_id] = digest
            if len(acknowledged) >= 400:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    for line in child.stdout:  # acknowledged before the kill landed
        fields = line.split()
        if line.endswith("\n") and len(fields) == 2 and len(fields[1]) == 64:
            acknowledged[fields[0]] = fields[1]
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 400

    store = open_store(store_url)
    try:
        for record_id, digest in acknowledged.items():
            row = store.records.get(record_id, 1)
            assert row.sd_jwt is not None
            assert row.digest == digest == sd_jwt_digest(row.sd_jwt)
        stored = []
        after = None
        while page := store.records.list(limit=500, after=after):
            stored += page
            after = page[-1].key
        families: dict[str, set[int]] = {}
        for row in stored:
            assert row.sd_jwt is not None
            assert row.digest == sd_jwt_digest(row.sd_jwt), f"{row.key} is torn"
            families.setdefault(row.record_id, set()).add(row.version)
        # A job is all or nothing: no family is missing a member.
        assert all(versions == {1, 2, 3} for versions in families.values())
        assert set(acknowledged) <= set(families)
        with store.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    finally:
        store.close()
