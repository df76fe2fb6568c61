"""A province checking received records in worker processes, as real `gateway serve` processes.

Records travel city -> province -> national over mutual TLS with the province's
``[receive] workers = 2``; its workers are its children (spawned, never forked),
and none is left once the province has stopped. What the pool answers (the same
rows, audit leaves, refusals, a worker killed mid-batch) is shown in process by
``tests/unit/node/test_receive_pool.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import Cluster, listed, make_cluster, running, submit, wait_for
from tests.support.processes import process_running
from tests.support.records import penalty_fields

NATIONAL, ZHEJIANG, HUZHOU = "000000", "330000", "330500"
DECIDED = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=30)
CLIENTS = [
    (HUZHOU, "procurement-office", "department", "procurement"),
    (NATIONAL, "audit-office", "auditor", None),
    (ZHEJIANG, "audit-office", "auditor", None),
]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    built = make_cluster(tmp_path, [NATIONAL, ZHEJIANG, HUZHOU], clients=CLIENTS)
    with built.configs[ZHEJIANG].open("a", encoding="utf-8") as handle:
        handle.write("\n[receive]\nworkers = 2\n")
    with running(built, [NATIONAL, ZHEJIANG, HUZHOU]) as started:
        yield started


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text(encoding="ascii").split()]
    return found


def _command(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_a_province_with_two_workers_passes_records_on_and_leaves_no_process_behind(
    cluster: Cluster,
) -> None:
    ids = set(
        submit(
            cluster,
            HUZHOU,
            "procurement-office",
            [penalty_fields(i, decided=DECIDED) for i in range(40)],
        )
    )

    wait_for(
        "records at national",
        lambda: True if set(listed(cluster, NATIONAL, "audit-office")) >= ids else None,
    )

    assert set(listed(cluster, ZHEJIANG, "audit-office")) >= ids
    province = cluster.processes[ZHEJIANG].process.pid
    children = _children(province)
    workers = [pid for pid in children if "spawn_main" in _command(pid)]
    assert len(workers) == 2
    assert all("--multiprocessing-fork" in _command(pid) for pid in workers)

    cluster.stop(ZHEJIANG)

    # The node joined its workers before it exited.
    assert [pid for pid in workers if process_running(pid)] == []
    # multiprocessing's resource tracker ends by itself once the node's end of its pipe closed.
    wait_for(
        "every child of the province to end",
        lambda: True if not any(process_running(pid) for pid in children) else None,
        timeout_s=30,
    )


def test_the_workers_of_a_province_killed_outright_end_by_themselves(cluster: Cluster) -> None:
    province = cluster.processes[ZHEJIANG].process.pid
    workers = [pid for pid in _children(province) if "spawn_main" in _command(pid)]
    assert len(workers) == 2

    cluster.kill(ZHEJIANG)  # SIGKILL: the node cannot stop them

    wait_for(
        "the workers to end",
        lambda: True if not any(process_running(pid) for pid in workers) else None,
        timeout_s=30,
    )
