"""The lease contract, on SQLite and PostgreSQL: one holder at a time, taken over on expiry."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from gateway.store import LeaseRow, Store
from tests.unit.store.conftest import NOW

TTL_S = 30


def test_a_free_lease_is_taken_and_renewed_by_its_holder_only(store: Store) -> None:
    leases = store.leases
    assert leases.get("checkpoints") is None
    assert leases.acquire("checkpoints", "replica-a", now=NOW, ttl_s=TTL_S) is True
    assert leases.acquire("checkpoints", "replica-b", now=NOW + 1, ttl_s=TTL_S) is False
    assert leases.acquire("checkpoints", "replica-a", now=NOW + 10, ttl_s=TTL_S) is True
    assert leases.get("checkpoints") == LeaseRow("checkpoints", "replica-a", NOW + 10 + TTL_S)
    # Another duty is another lease.
    assert leases.acquire("expiry", "replica-b", now=NOW + 10, ttl_s=TTL_S) is True


def test_an_expired_lease_moves_to_the_next_replica_that_asks(store: Store) -> None:
    leases = store.leases
    assert leases.acquire("expiry", "replica-a", now=NOW, ttl_s=TTL_S) is True
    assert leases.acquire("expiry", "replica-b", now=NOW + TTL_S - 1, ttl_s=TTL_S) is False
    assert leases.acquire("expiry", "replica-b", now=NOW + TTL_S, ttl_s=TTL_S) is True
    assert leases.get("expiry") == LeaseRow("expiry", "replica-b", NOW + 2 * TTL_S)
    # The old holder, back from a pause, does not get it back while it is current.
    assert leases.acquire("expiry", "replica-a", now=NOW + TTL_S + 1, ttl_s=TTL_S) is False


def test_a_released_lease_is_free_at_once_and_only_its_holder_releases_it(store: Store) -> None:
    leases = store.leases
    assert leases.acquire("directory", "replica-a", now=NOW, ttl_s=TTL_S) is True
    assert leases.release("directory", "replica-b") is False
    assert leases.release("directory", "replica-a") is True
    assert leases.get("directory") is None
    assert leases.acquire("directory", "replica-b", now=NOW + 1, ttl_s=TTL_S) is True


def test_replicas_racing_for_a_free_lease_get_exactly_one_holder(store: Store) -> None:
    holders = [f"replica-{i}" for i in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        won = list(
            pool.map(
                lambda holder: store.leases.acquire("race", holder, now=NOW, ttl_s=TTL_S), holders
            )
        )
    assert won.count(True) == 1
    lease = store.leases.get("race")
    assert lease is not None
    assert lease.holder == holders[won.index(True)]
