"""Concurrent audit appends from many transactions keep the log dense and its tree intact."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from gateway.core.audit import AuditEvent, Decision
from gateway.core.merkle import MerkleTree
from gateway.store import Store


def _event(i: int) -> AuditEvent:
    return AuditEvent(
        time=1_790_000_000 + i,
        node="330000",
        actor=f"department:330000/office-{i % 7}",
        action="records.list",
        decision=Decision.ALLOWED,
        detail=f"call {i}",
    )


def test_parallel_appends_never_collide(store: Store) -> None:
    # Direct appends (each its own transaction) race with each other, as queries do.
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: store.audit.append([_event(i)]), range(200)))
    assert store.audit.size() == 200
    stored = store.audit.events(limit=1000)
    assert [e.seq for e in stored] == list(range(200))
    tree = MerkleTree()
    tree.extend(e.data for e in stored)
    assert store.audit.root(200) == tree.root()
