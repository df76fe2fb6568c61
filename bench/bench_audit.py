"""Audit log: append rate, inclusion-proof time as the log grows, offline verification.

Three measurements, each with its own baseline from the same run:

* append: events/s through :meth:`AuditLogRepository.append` in batches, against
  inserting the same events' rows into a plain table of the same columns
  (what an audit log without a Merkle tree would cost);
* proofs at 10^4, 10^5 and 10^6 events: ms per :meth:`inclusion_proof`, against
  the same proof computed by :func:`gateway.core.merkle.inclusion_proof` over
  an index-friendly read of the same stored nodes; the log should stay flat
  (O(log n)) from one size to the next;
* offline verification of the whole log: rebuilding the tree from the event
  bytes with :class:`MerkleTree` and comparing the root, against hashing the
  leaves alone.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable, Sequence

from sqlalchemy import Column, Connection, Index, MetaData, Table, and_, or_, select, tuple_

from bench.harness import (
    BenchConfig,
    BenchResult,
    Figure,
    Stats,
    ThreadProfiles,
    backends,
    database_url,
    time_ns,
)
from gateway.core.audit import AuditEvent, Decision
from gateway.core.merkle import MerkleTree, inclusion_proof, leaf_hash, verify_inclusion
from gateway.store import Store, open_store
from gateway.store.engine import write_tx
from gateway.store.tables import AUDIT_EVENT, AUDIT_NODE

__all__ = ["NAME", "audit_event", "run"]

NAME = "audit"
_APPEND_BATCH = 500
_BUILD_BATCH = 20_000
_ACTIONS = ("records.list", "records.get", "intake.submit", "records.export")


def audit_event(i: int) -> AuditEvent:
    """A realistic event (a department's query, allowed or denied), distinct per ``i``."""
    allowed = i % 7 != 0
    return AuditEvent(
        time=1_750_000_000 + i // 10,
        node="330500",
        actor=f"department:330500/office-{i % 40:02d}",
        fingerprint=f"{i * 2654435761 % (1 << 64):064x}",
        address=f"ipv4:10.0.{i % 250}.{i % 199}:{40000 + i % 20000}",
        action=_ACTIONS[i % len(_ACTIONS)],
        decision=Decision.ALLOWED if allowed else Decision.DENIED,
        rule="access-table:records" if allowed else "default-deny",
        subject=f"91330502MA{i % 10_000_000:07d}X",
        records=(f"330500-{i:010d}@1",) if allowed else (),
        purpose="招投标资格审查",
        case_id=f"ZB-2025-{i:08d}",
        detail="1 returned" if allowed else "AccessDeniedError",
    )


class _IndexedNodes:
    """The same stored nodes read with one equality pair per key, which every index serves."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> list[bytes]:
        wanted = list(dict.fromkeys(keys))
        condition = or_(
            *(and_(AUDIT_NODE.c.level == lv, AUDIT_NODE.c.idx == ix) for lv, ix in wanted)
        )
        query = select(AUDIT_NODE.c.level, AUDIT_NODE.c.idx, AUDIT_NODE.c.hash).where(condition)
        found = {(lv, ix): bytes(h) for lv, ix, h in self._conn.execute(query)}
        return [found[k] for k in keys]


def _indexed_proof(store: Store, index: int, size: int) -> list[bytes]:
    with store.engine.connect() as conn:
        return inclusion_proof(index, size, _IndexedNodes(conn))


# ------------------------------------------------------------------------------ append


def _append_rates(config: BenchConfig, result: BenchResult, backend: str) -> None:
    reps = config.pick(5, 2)
    batches = config.pick(20, 2)
    per_batch = config.pick(_APPEND_BATCH, 50)
    plain_table = _plain_table()
    with database_url(config, backend, "append") as url:
        store = open_store(url)
        try:
            plain_table.create(store.engine)
            ours: list[float] = []
            plain: list[float] = []
            next_id = 0
            for _ in range(reps):
                groups = [
                    [audit_event(next_id + b * per_batch + i) for i in range(per_batch)]
                    for b in range(batches)
                ]
                count = batches * per_batch

                def insert_plain(
                    groups: list[list[AuditEvent]] = groups, first: int = next_id
                ) -> None:
                    _plain_insert(store, plain_table, first, groups)

                def append(groups: list[list[AuditEvent]] = groups) -> None:
                    for group in groups:
                        store.audit.append(group)

                plain.append(count / (time_ns(insert_plain) / 1e9))
                ours.append(count / (time_ns(append) / 1e9))
                next_id += count
            if config.profile and backend == "sqlite":
                groups = [
                    [audit_event(next_id + b * per_batch + i) for i in range(per_batch)]
                    for b in range(batches)
                ]
                result.hot_spots = _profile_append(store, groups)
        finally:
            store.close()
    result.add(
        Figure(
            f"plain_insert_{backend}",
            f"plain insert of the same rows, {backend}",
            "events/s",
            "baseline",
            Stats.of(plain),
            higher_is_better=True,
        )
    )
    result.add(
        Figure(
            f"append_{backend}",
            f"AuditLogRepository.append, {backend}",
            "events/s",
            "measured",
            Stats.of(ours),
            higher_is_better=True,
        )
    )
    result.compare(
        f"append_vs_plain_{backend}",
        f"append_{backend}",
        f"plain_insert_{backend}",
        "share of a plain insert's rate the Merkle log keeps (leaf hashing, node rows, edge read)",
    )


def _plain_table() -> Table:
    """The event table's columns and indexes under another name, without Merkle nodes."""
    return Table(
        "bench_plain_audit_event",
        MetaData(),
        *(
            Column(c.name, c.type, primary_key=c.primary_key, autoincrement=False)
            for c in AUDIT_EVENT.columns
        ),
        *(
            Index(f"bench_{index.name}", *(c.name for c in index.columns))
            for index in AUDIT_EVENT.indexes
        ),
    )


def _plain_insert(
    store: Store, table: Table, first_seq: int, groups: list[list[AuditEvent]]
) -> None:
    seq = first_seq
    for group in groups:
        with write_tx(store.engine, "bench plain insert") as conn:
            conn.execute(
                table.insert(),
                [
                    {
                        "seq": seq + i,
                        "time": event.time,
                        "actor": event.actor,
                        "action": event.action,
                        "decision": event.decision.value,
                        "subject": event.subject,
                        "event": event.to_bytes(),
                    }
                    for i, event in enumerate(group)
                ],
            )
        seq += len(group)


def _profile_append(store: Store, groups: list[list[AuditEvent]]) -> list[tuple[str, float, float]]:
    profiles = ThreadProfiles()
    if not profiles.available:
        return []
    profiles.start_here()
    for group in groups:
        store.audit.append(group)
    profiles.stop_here()
    return profiles.hot_spots()


def _fields_bytes(event: AuditEvent) -> bytes:
    # The canonical form of AuditEvent.to_bytes, with the fields read directly
    # instead of through dataclasses.asdict (which deep-copies every value).
    doc: dict[str, object] = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    doc["decision"] = event.decision.value
    doc["records"] = list(event.records)
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _serialisation(config: BenchConfig, result: BenchResult) -> None:
    """The profile's top hot spot in isolation: event serialisation, and a what-if."""
    reps = config.pick(5, 2)
    events = [audit_event(i) for i in range(config.pick(20_000, 200))]
    if any(e.to_bytes() != _fields_bytes(e) for e in events):
        raise RuntimeError("the direct serialisation differs from AuditEvent.to_bytes")
    ours: list[float] = []
    direct: list[float] = []
    for _ in range(reps):
        direct.append(time_ns(lambda: [_fields_bytes(e) for e in events]) / len(events) / 1000)
        ours.append(time_ns(lambda: [e.to_bytes() for e in events]) / len(events) / 1000)
    result.add(
        Figure(
            "serialise_direct",
            "same bytes, fields read directly (what-if)",
            "µs",
            "baseline",
            Stats.of(direct),
        )
    )
    result.add(Figure("serialise", "AuditEvent.to_bytes", "µs", "measured", Stats.of(ours)))
    result.compare(
        "serialise_vs_direct",
        "serialise",
        "serialise_direct",
        "time per event of to_bytes (dataclasses.asdict) over building the same canonical "
        "bytes from the fields directly (bytes checked identical)",
    )


# ------------------------------------------------------------------------------ proofs


def _sizes(config: BenchConfig, backend: str) -> list[int]:
    if config.smoke:
        return [500, 2_000]
    # Building 10^6 events on PostgreSQL would take most of the run's budget;
    # the backend that scans (see the notes) is the one that needs the 10^6 point.
    return [10_000, 100_000, 1_000_000] if backend == "sqlite" else [10_000, 100_000]


def _grow(store: Store, size: int, target: int) -> float:
    """Append events up to ``target`` in large batches; returns the seconds it took."""
    elapsed = 0
    while size < target:
        events = [audit_event(size + i) for i in range(min(_BUILD_BATCH, target - size))]

        def append(events: list[AuditEvent] = events) -> None:
            store.audit.append(events)

        elapsed += time_ns(append)
        size += len(events)
    return elapsed / 1e9


def _sqlite_plans(store: Store) -> str:
    """How SQLite plans the repository's node read and the indexed one (EXPLAIN QUERY PLAN)."""
    keys = [(0, 1), (1, 2)]
    columns = (AUDIT_NODE.c.level, AUDIT_NODE.c.idx)
    shapes = {
        "`(level, idx) IN (VALUES ...)`, the shape of the repository's read": select(
            AUDIT_NODE.c.hash
        ).where(tuple_(*columns).in_(keys)),
        "one `(level = ? AND idx = ?)` pair per key, the indexed read": select(
            AUDIT_NODE.c.hash
        ).where(or_(*(and_(columns[0] == lv, columns[1] == ix) for lv, ix in keys))),
    }
    described = []
    with store.engine.connect() as conn:
        for shape, query in shapes.items():
            sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
            described.append(f"{shape}: {'; '.join(str(row[-1]) for row in plan)}")
    return "SQLite query plans for a node read, " + " — ".join(described)


def _check_proofs(store: Store, size: int, indices: Sequence[int]) -> None:
    # Both ways of proving must give the same, valid proof, or the timing compares nothing.
    root = store.audit.root(size)
    for index in indices:
        proof = store.audit.inclusion_proof(index, size)
        if proof != _indexed_proof(store, index, size):
            raise RuntimeError(f"indexed proof of leaf {index} differs from the repository's")
        with store.engine.connect() as conn:
            leaf = _IndexedNodes(conn).get_nodes([(0, index)])[0]
        verify_inclusion(leaf_hash=leaf, index=index, size=size, proof=proof, root=root)


def _time_proofs(prove: Callable[[int, int], object], size: int, indices: Sequence[int]) -> float:
    def work() -> None:
        for index in indices:
            prove(index, size)

    return time_ns(work) / len(indices) / 1e6


def _proofs(config: BenchConfig, result: BenchResult, backend: str) -> list[bytes]:
    """Grow a log through the sizes, timing proofs at each; returns SQLite's event bytes."""
    reps = config.pick(5, 2)
    slow = config.pick(8, 3)
    fast = config.pick(100, 10)
    sizes = _sizes(config, backend)
    events: list[bytes] = []
    with database_url(config, backend, "proofs") as url:
        store = open_store(url)
        try:
            size = 0
            for target in sizes:
                seconds = _grow(store, size, target)
                result.notes.append(
                    f"{backend}: appended events {size:,} to {target:,} in {seconds:.1f} s "
                    f"({(target - size) / seconds:,.0f} events/s, batches of {_BUILD_BATCH:,}, "
                    "one transaction each)"
                )
                size = target
                rng = random.Random(target)
                _check_proofs(store, size, rng.sample(range(size), 3))
                ours: list[float] = []
                indexed: list[float] = []
                for _ in range(reps):
                    indexed.append(
                        _time_proofs(
                            lambda i, n: _indexed_proof(store, i, n),
                            size,
                            rng.sample(range(size), fast),
                        )
                    )
                    ours.append(
                        _time_proofs(
                            store.audit.inclusion_proof, size, rng.sample(range(size), slow)
                        )
                    )
                result.add(
                    Figure(
                        f"proof_indexed_{backend}_{size}",
                        f"proof over indexed node reads, {backend}, {size:,} events",
                        "ms",
                        "baseline",
                        Stats.of(indexed),
                    )
                )
                result.add(
                    Figure(
                        f"proof_{backend}_{size}",
                        f"AuditLogRepository.inclusion_proof, {backend}, {size:,} events",
                        "ms",
                        "measured",
                        Stats.of(ours),
                    )
                )
            if backend == "sqlite":
                result.notes.append(_sqlite_plans(store))
                with store.engine.connect() as conn:
                    query = select(AUDIT_EVENT.c.event).order_by(AUDIT_EVENT.c.seq)
                    events = [bytes(blob) for (blob,) in conn.execute(query)]
                events_root = store.audit.root(size)
                if MerkleTree(events).root() != events_root:
                    raise RuntimeError("the log's root differs from a rebuild of its events")
        finally:
            store.close()
    small, large = sizes[0], sizes[-1]
    result.compare(
        f"proof_flatness_{backend}",
        f"proof_{backend}_{large}",
        f"proof_{backend}_{small}",
        f"repository proof time at {large:,} events over that at {small:,}; O(log n) "
        f"would be about {large.bit_length() / small.bit_length():.1f}",
    )
    result.compare(
        f"indexed_flatness_{backend}",
        f"proof_indexed_{backend}_{large}",
        f"proof_indexed_{backend}_{small}",
        f"the same for proofs over indexed node reads (O(log n): about "
        f"{large.bit_length() / small.bit_length():.1f})",
    )
    result.compare(
        f"proof_vs_indexed_{backend}",
        f"proof_{backend}_{large}",
        f"proof_indexed_{backend}_{large}",
        f"repository proof time over the indexed-read proof at {large:,} events",
    )
    return events


# ------------------------------------------------------------------------------ offline


def _offline(config: BenchConfig, result: BenchResult, events: list[bytes]) -> None:
    reps = config.pick(3, 2)
    rebuild: list[float] = []
    hashing: list[float] = []
    for _ in range(reps):
        hashing.append(time_ns(lambda: [leaf_hash(e) for e in events]) / 1e9)
        rebuild.append(time_ns(lambda: MerkleTree(events).root()) / 1e9)
    size = len(events)
    result.add(
        Figure(
            "leaf_hashing",
            f"hash the {size:,} leaves alone",
            "s",
            "baseline",
            Stats.of(hashing),
        )
    )
    result.add(
        Figure(
            "offline_verify",
            f"MerkleTree over {size:,} event bytes + root",
            "s",
            "measured",
            Stats.of(rebuild),
        )
    )
    result.compare(
        "offline_vs_hashing",
        "offline_verify",
        "leaf_hashing",
        "full offline rebuild of the log's root over hashing its leaves (an RFC 9162 tree "
        "needs about one interior hash per leaf, so about 2 is the floor)",
    )


def run(config: BenchConfig) -> BenchResult:
    """Append rates per backend, proofs as the log grows, offline verification."""
    sizes = ", ".join(f"{n:,}" for n in _sizes(config, "sqlite"))
    result = BenchResult(
        name=NAME,
        title="Audit log (append, inclusion proofs at growing size, offline verification)",
        measured=(
            f"(1) events/s through `AuditLogRepository.append` in batches of "
            f"{config.pick(_APPEND_BATCH, 50)} (one transaction each); (2) ms per "
            f"`inclusion_proof` at {sizes} events (SQLite; PostgreSQL up to 100,000), random "
            "leaves; (3) seconds to rebuild the root of the whole SQLite log from its event "
            "bytes with `MerkleTree` (the offline verifier's work) and compare it"
        ),
        baseline=(
            "(1) the same rows inserted into a plain table with the event table's columns and "
            "no Merkle nodes, same batches; (2) the same proof computed by "
            "`gateway.core.merkle.inclusion_proof` over a node read written as one "
            "`(level = ? AND idx = ?)` pair per key, and the repository's own time at the "
            "smallest size; (3) hashing the leaves alone"
        ),
    )
    for backend in backends(config):
        _append_rates(config, result, backend)
    _serialisation(config, result)
    events: list[bytes] = []
    for backend in backends(config):
        found = _proofs(config, result, backend)
        events = found or events
    _offline(config, result, events)
    result.headline = "proof_flatness_sqlite"
    return result
