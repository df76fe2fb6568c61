"""Clock skew never loses records: a city whose clock runs ahead of its province's.

The city process runs with a wall clock shifted ahead of the province's (a
preloaded library, :mod:`tests.support.clock`: Debian's datefudge, since
libfaketime breaks Python's timed waits). Within the allowed skew
(``[limits] clock_skew_s``) every record is delivered; beyond it the province
refuses the batches as UNAVAILABLE, the city retries them (never marks them
failed), and once the clocks agree they arrive. To stay fast the second case
gives the province a skew of 2 s and cures the skew by restarting the province
with the city's offset (an NTP fix, seen from the province).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway._proto.v1 import intake_pb2, intake_pb2_grpc, records_pb2, records_pb2_grpc
from tests.support.clock import needs_datefudge, shifted_clock_env
from tests.support.cluster import Cluster, make_cluster, wait_for
from tests.support.federation import client_channel
from tests.support.node_config import set_config_keys
from tests.support.records import penalty_fields

NATIONAL, PROVINCE, CITY = "000000", "330000", "330500"
DECIDED = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)
PURPOSE = "clock skew test"
CLIENTS = [
    (CITY, "procurement-office", "department", "procurement"),
    (PROVINCE, "audit-office", "auditor", None),
]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """National (listed, never started), province and city configs; stops what runs."""
    built = make_cluster(tmp_path, [NATIONAL, PROVINCE, CITY], clients=CLIENTS)
    try:
        yield built
    finally:
        for node in list(built.processes):
            built.stop(node)


def _submit(cluster: Cluster, count: int) -> set[str]:
    client = cluster.client(CITY, "procurement-office")
    with client_channel(client, cluster.endpoint(CITY)) as channel:
        request = intake_pb2.SubmitRequest(
            records=[
                intake_pb2.SubmittedRecord(
                    ref=str(i),
                    category="admin_penalty",
                    fields=penalty_fields(i, decided=DECIDED),
                )
                for i in range(count)
            ]
        )
        stub = intake_pb2_grpc.IntakeStub(channel)
        results = [r for reply in stub.Submit(iter([request])) for r in reply.results]
    assert [r.outcome for r in results] == [intake_pb2.SUBMIT_OUTCOME_ACCEPTED] * count
    return {r.record_id for r in results}


def _held_by_province(cluster: Cluster) -> set[str]:
    client = cluster.client(PROVINCE, "audit-office")
    with client_channel(client, cluster.endpoint(PROVINCE)) as channel:
        page = records_pb2_grpc.RecordsStub(channel).List(
            records_pb2.ListRecordsRequest(purpose=PURPOSE, limit=500)
        )
    return {view.record_id for view in page.records}


def _events(cluster: Cluster, node: str, name: str) -> list[dict[str, object]]:
    lines = cluster.log(node).splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]
    return [e for e in events if e.get("event") == name]


@needs_datefudge
def test_a_city_five_seconds_ahead_delivers_every_record(cluster: Cluster) -> None:
    cluster.start(PROVINCE)
    cluster.start(CITY, env=shifted_clock_env(5))
    submitted = _submit(cluster, 5)
    wait_for(
        "the city's records at the province",
        lambda: submitted <= _held_by_province(cluster),
        timeout_s=60,
    )
    assert _events(cluster, CITY, "batch refused by peer") == []


@needs_datefudge
def test_a_city_beyond_the_skew_is_retried_and_delivered_once_the_clocks_agree(
    cluster: Cluster,
) -> None:
    set_config_keys(cluster.configs[PROVINCE], "limits", clock_skew_s=2)
    cluster.start(PROVINCE)
    ahead = shifted_clock_env(300)
    cluster.start(CITY, env=ahead)
    submitted = _submit(cluster, 5)

    def retried_for_skew() -> list[dict[str, object]]:
        return [
            e
            for e in _events(cluster, CITY, "peer.unreachable")
            if e.get("peer") == PROVINCE and "over the allowed skew of 2 s" in str(e["detail"])
        ]

    wait_for("the city to retry a batch refused for clock skew", retried_for_skew, timeout_s=60)
    assert _held_by_province(cluster) == set()
    assert _events(cluster, CITY, "batch refused by peer") == []

    # The province's clock is put right (it now agrees with the city's).
    cluster.stop(PROVINCE)
    cluster.start(PROVINCE, env=ahead)
    wait_for(
        "the retried records at the province",
        lambda: submitted <= _held_by_province(cluster),
        timeout_s=60,
    )
    assert _events(cluster, CITY, "batch refused by peer") == []
