"""Singleton duties move between replicas with their lease: two keepers over one store."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from gateway.node.singleton import LeaseKeeper, singleton
from gateway.store import Store, open_store
from tests.support.harness import Clock

TTL_S = 30
DUTY = "audit-checkpoints"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'node.db'}")
    try:
        yield opened
    finally:
        opened.close()


def _keeper(store: Store, holder: str, clock: Clock) -> LeaseKeeper:
    # One clock for the table's times and the process's own: the test moves both.
    return LeaseKeeper(
        store.leases, [DUTY], holder=holder, ttl_s=TTL_S, clock=clock, monotonic=clock
    )


def test_a_duty_runs_on_one_replica_and_moves_to_the_survivor_when_the_holder_dies(
    store: Store,
) -> None:
    clock = Clock(1_750_000_000.0)
    first, second = _keeper(store, "replica-a", clock), _keeper(store, "replica-b", clock)
    ran: list[str] = []
    steps = {k.holder: singleton(k, DUTY, partial(ran.append, k.holder)) for k in (first, second)}

    with capture_logs() as logs:
        first.renew()
        second.renew()
        for step in steps.values():
            step()
        assert ran == ["replica-a"]

        # replica-a dies (no more renewals); within its time to live nothing moves.
        clock.advance(TTL_S - 1)
        second.renew()
        assert second.holds(DUTY) is False
        # Its own trust in the lease ran out a second before the table's.
        assert first.holds(DUTY) is False
        clock.advance(1)
        second.renew()
        ran.clear()
        for step in steps.values():
            step()
        assert ran == ["replica-b"]
    assert [(e["event"], e["holder"]) for e in logs] == [
        ("lease.acquired", "replica-a"),
        ("lease.acquired", "replica-b"),
    ]


def test_a_replica_that_stops_releases_its_lease_for_the_other_at_once(store: Store) -> None:
    clock = Clock(1_750_000_000.0)
    first, second = _keeper(store, "replica-a", clock), _keeper(store, "replica-b", clock)
    first.renew()
    second.renew()
    assert (first.holds(DUTY), second.holds(DUTY)) == (True, False)
    first.stop()
    assert first.holds(DUTY) is False
    second.renew()
    assert second.holds(DUTY) is True
    lease = store.leases.get(DUTY)
    assert lease is not None
    assert (lease.holder, lease.expires_at) == ("replica-b", int(clock()) + TTL_S)


def test_a_holder_that_loses_its_lease_says_so_and_stops_the_duty(store: Store) -> None:
    clock = Clock(1_750_000_000.0)
    first = _keeper(store, "replica-a", clock)
    first.renew()
    # Another replica took the row over (replica-a was paused past the lease).
    clock.advance(TTL_S)
    assert store.leases.acquire(DUTY, "replica-b", now=int(clock()), ttl_s=TTL_S) is True
    with capture_logs() as logs:
        first.renew()
    assert first.holds(DUTY) is False
    assert logs == [
        {"event": "lease.lost", "log_level": "warning", "lease": DUTY, "holder": "replica-a"}
    ]
