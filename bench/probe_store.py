"""In-process probe: a hub's storage work per received record as its SQLite store grows.

Per batch of 500 synthetic received records (about 5,100 characters of SD-JWT each, one
related person, random record ids and subject keys as from many issuers), the store work
of a hub (a province) receiving and forwarding them, as two store-writer jobs:

- receive (``gateway.node.receive``'s ``_store_batch``): ``accept_batch`` (the hop batch
  with its envelope, the records, their person index and change log rows) and the
  outbox rows for one recipient (the parent), as ``enqueue_records`` writes them;
- forward (``gateway.node.push``/``outbound``): ``claim`` of those outbox rows, the
  records read back (``get_many``), then ``mark_delivered`` and the ``delivery`` rows.

Each variant has its own store (its own temporary folder); the variants run the same
records batch by batch, in a rotating order, so that a noisy machine slows them alike.
Printed per variant and interval (ending at 10^3, 10^4, 5*10^4, 10^5 records): process CPU
(every thread: the store writer does the work) and wall time, in microseconds per record,
and the slowest writer job in milliseconds (a checkpoint runs inside the commit that
triggers it), as ``cpu/wall/worst``.

A variant is a name from :data:`VARIANTS`: SQLite pragmas set on every connection of its
store or at the start of every writer job, and DDL run on the freshly migrated store (each
undoes or tries one change; ``session9`` is the store as it was before session 10).

Run from a tree with ``PYTHONPATH`` at it:
``python -m bench.probe_store [records] [variant ...]`` (default 100000 and every variant;
prints a table, then one JSON line).
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from gateway.core.catalog import PersonRole
from gateway.core.related_persons import RelatedPerson
from gateway.store import DeliveryRow, OutboxEntry, RecordRow, Store, open_store

BATCH = 500
MARKS = (1_000, 10_000, 50_000, 100_000)
NODE, SENDER, PARENT = "330000", "330500", "000000"
CATEGORIES = ("admin_penalty", "admin_license", "dishonest_person")
_SD_JWT_CHARS = 5_100
# A DSSE envelope carries its records base64-encoded: about 4/3 of their bytes.
_ENVELOPE_BYTES_PER_RECORD = 6_800
_T = TypeVar("_T")


@dataclass(frozen=True)
class Variant:
    """A store set up one way: pragmas on each connection or writer job, DDL on the new store."""

    pragmas: tuple[str, ...] = ()
    ddl: tuple[str, ...] = ()
    note: str = ""
    job_pragmas: tuple[str, ...] = ()
    """Sent at the start of every writer job (to undo what the writer's connection sets)."""
    page_size: int = 0
    """Set on the empty database before it is migrated (0: SQLite's default, 4096)."""


def _without_rowid(
    table: str, columns: str, primary_key: str, indexes: tuple[str, ...]
) -> tuple[str, ...]:
    """DDL rebuilding an empty ``table`` as WITHOUT ROWID (the probe's stores start empty)."""
    return (
        f"DROP TABLE {table}",
        f"CREATE TABLE {table} ({columns}, PRIMARY KEY ({primary_key})) WITHOUT ROWID",
        *indexes,
    )


_PERSON_WITHOUT_ROWID = _without_rowid(
    "record_person",
    "person_key VARCHAR(18) NOT NULL, record_id VARCHAR(40) NOT NULL, "
    "version INTEGER NOT NULL, role VARCHAR(32) NOT NULL",
    "person_key, record_id, version, role",
    ("CREATE INDEX ix_record_person_record ON record_person (record_id, version)",),
)
_DELIVERY_WITHOUT_ROWID = _without_rowid(
    "delivery",
    "record_id VARCHAR(40) NOT NULL, version INTEGER NOT NULL, node VARCHAR(6) NOT NULL, "
    "delivered_at BIGINT NOT NULL, status_sent VARCHAR(16) NOT NULL, "
    "confirmed_status VARCHAR(16), confirmed_at BIGINT, "
    "CONSTRAINT fk_delivery_record FOREIGN KEY(record_id, version) "
    "REFERENCES record (record_id, version)",
    "record_id, version, node",
    (),
)

VARIANTS: dict[str, Variant] = {
    "as_is": Variant(note="the store as gateway opens it"),
    "session9": Variant(
        job_pragmas=("PRAGMA wal_autocheckpoint=1000", "PRAGMA cache_size=-2000"),
        note="as before session 10: checkpoint every 1,000 WAL pages, a 2 MiB writer cache",
    ),
    "checkpoint1k": Variant(
        job_pragmas=("PRAGMA wal_autocheckpoint=1000",), note="checkpoint every 1,000 pages"
    ),
    "writer_cache2m": Variant(
        job_pragmas=("PRAGMA cache_size=-2000",), note="the writer's cache at 2 MiB"
    ),
    "checkpoint40k": Variant(
        ("PRAGMA wal_autocheckpoint=40000",), note="checkpoint every 40,000 WAL pages"
    ),
    "checkpoint100k": Variant(
        ("PRAGMA wal_autocheckpoint=100000",), note="checkpoint every 100,000 WAL pages"
    ),
    "mmap256": Variant(("PRAGMA mmap_size=268435456",), note="256 MiB memory map"),
    "page2k": Variant(page_size=2048, note="2 KiB pages"),
    "page1k": Variant(page_size=1024, note="1 KiB pages"),
    "without_rowid": Variant(
        ddl=_PERSON_WITHOUT_ROWID + _DELIVERY_WITHOUT_ROWID,
        note="record_person and delivery WITHOUT ROWID",
    ),
    "one_subject_index": Variant(
        ddl=("DROP INDEX ix_record_subject",),
        note="ix_record_subject dropped (a listing by subject would sort: not a candidate)",
    ),
    "no_subject_index": Variant(
        ddl=("DROP INDEX ix_record_subject", "DROP INDEX ix_record_subject_category"),
        note="both subject indexes dropped (a floor, not a candidate)",
    ),
}


@dataclass
class _Run:
    name: str
    store: Store
    variant: Variant
    cpu_s: float = 0.0
    wall_s: float = 0.0
    worst_s: float = 0.0
    intervals: list[dict[str, float]] = field(default_factory=list)


def _open(folder: Path, variant: Variant) -> Store:
    if variant.page_size:
        empty = sqlite3.connect(folder / "hub.db")
        empty.execute(f"PRAGMA page_size={variant.page_size}")
        empty.execute("VACUUM")
        empty.close()
    store = open_store(f"sqlite:///{folder}/hub.db")
    if variant.pragmas:

        @event.listens_for(store.engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            for pragma in variant.pragmas:
                dbapi_connection.execute(pragma)

        store.engine.dispose()
    if variant.ddl:
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            for statement in variant.ddl:
                conn.execute(text(statement))
            conn.commit()
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
    return store


def _batch(rnd: random.Random, now: int) -> list[RecordRow]:
    rows = []
    for _ in range(BATCH):
        record_id = uuid.UUID(int=rnd.getrandbits(128)).hex
        subject = f"91{rnd.getrandbits(56):016d}"[:18]
        rows.append(
            RecordRow(
                record_id=record_id,
                version=1,
                issuer=SENDER,
                category=rnd.choice(CATEGORIES),
                subject_type="legal",
                subject_key=subject,
                document_number=f"D{record_id[:12]}",
                status="active",
                iat=now,
                # About three years on, as a penalty's publication period: near-ascending.
                exp=now + 3 * 365 * 86_400 + rnd.randrange(86_400),
                sd_jwt=record_id + "x" * (_SD_JWT_CHARS - len(record_id)),
                origin=SENDER,
                stored_at=now,
                status_changed_at=now,
                persons=(
                    RelatedPerson(
                        PersonRole.LEGAL_REPRESENTATIVE, f"{rnd.getrandbits(59):018d}"[:18]
                    ),
                ),
            )
        )
    return rows


def _hub_work(run: _Run, rows: list[RecordRow], envelope: bytes, now: int) -> None:
    """What the hub's store does for one received batch: receive, then forward."""
    store, batch_id = run.store, uuid.uuid4().hex

    def job(fn: Callable[[Connection], _T]) -> _T:
        def pragmas_first(conn: Connection) -> _T:
            for pragma in run.variant.job_pragmas:
                conn.exec_driver_sql(pragma)
            return fn(conn)

        start = time.perf_counter()
        result = store.writer.submit(pragmas_first).result()
        run.worst_s = max(run.worst_s, time.perf_counter() - start)
        return result

    def receive(conn: Connection) -> None:
        store.batches.accept_batch(batch_id, SENDER, envelope, rows, received_at=now, conn=conn)
        entries = [OutboxEntry(PARENT, "record", r.record_id, r.version) for r in rows]
        store.outbox.enqueue_many(entries, now=now, conn=conn)

    job(receive)
    items = job(
        lambda conn: store.outbox.claim(
            PARENT, worker="probe", limit=BATCH, now=now, lease_s=60, conn=conn
        )
    )
    store.records.get_many([(i.record_id, i.version) for i in items])

    def settle(conn: Connection) -> None:
        store.outbox.mark_delivered([i.id for i in items], now, conn=conn)
        store.outbox.record_delivery(
            [DeliveryRow(i.record_id, i.version, PARENT, now, "active") for i in items], conn=conn
        )

    job(settle)


def main() -> None:
    args = sys.argv[1:]
    total = int(args[0]) if args and args[0].isdigit() else 100_000
    names = [a for a in args if not a.isdigit()] or list(VARIANTS)
    marks = [m for m in MARKS if m <= total] or [total]
    rnd = random.Random(1)
    now = int(time.time())
    envelope = b"e" * (_ENVELOPE_BYTES_PER_RECORD * BATCH)
    with tempfile.TemporaryDirectory() as scratch:
        runs = []
        for name in names:
            folder = Path(scratch) / name
            folder.mkdir()
            runs.append(_Run(name, _open(folder, VARIANTS[name]), VARIANTS[name]))
        # The first batch warms every variant up (imports, statement caches) untimed.
        done, last = 0, BATCH
        while done < marks[-1]:
            rows = _batch(rnd, now)
            # Rotate who goes first: a variant after another's checkpoint is not always the same.
            turn = (done // BATCH) % len(runs)
            for run in runs[turn:] + runs[:turn]:
                cpu, wall = time.process_time(), time.perf_counter()
                _hub_work(run, rows, envelope, now)
                if done:
                    run.cpu_s += time.process_time() - cpu
                    run.wall_s += time.perf_counter() - wall
            done += BATCH
            if done in marks:
                for run in runs:
                    count = done - last
                    run.intervals.append(
                        {
                            "at": done,
                            "cpu_us": round(run.cpu_s / count * 1e6, 1),
                            "wall_us": round(run.wall_s / count * 1e6, 1),
                            "worst_job_ms": round(run.worst_s * 1e3, 1),
                        }
                    )
                    run.cpu_s = run.wall_s = run.worst_s = 0.0
                last = done
                print(
                    f"{done:>7}: "
                    + "  ".join(
                        f"{r.name} {r.intervals[-1]['cpu_us']:.0f}/{r.intervals[-1]['wall_us']:.0f}"
                        f"/{r.intervals[-1]['worst_job_ms']:.0f}"
                        for r in runs
                    ),
                    flush=True,
                )
        for run in runs:
            run.store.close()
    print(
        json.dumps(
            {
                "records": marks[-1],
                "load": os.getloadavg()[0],
                "variants": {r.name: r.intervals for r in runs},
            }
        )
    )


if __name__ == "__main__":
    main()
