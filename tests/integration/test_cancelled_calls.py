"""A call its client cancels, or whose deadline passes, stops its work (issue 14 item 5).

One real `gateway serve` process holds many revoked records: an export reads
them page by page and finds nothing to send, so gRPC alone never notices that
the caller has gone (it learns it only when a response is sent). The export
asks the node's cancellation port before each page and stops; the node audits
the call as cancelled, saying how far it had read, and answers the next check
at once. The assertions count rows and events, never time.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from gateway._proto.v1 import (
    discipline_pb2,
    discipline_pb2_grpc,
    intake_pb2,
    intake_pb2_grpc,
    records_pb2,
    records_pb2_grpc,
)
from gateway.store import RecordRow, open_store
from tests.support.cluster import Cluster, listed, make_cluster, running, wait_for
from tests.support.federation import client_channel
from tests.support.records import company_code, penalty_fields

NATIONAL = "000000"
# Enough that reading them all takes several times the half-second these calls last:
# a node reads about 70,000 such rows a second on a quiet two-core machine (60,000 were
# too few once its collector was paced: half of them went by within the deadline).
ROWS = 240_000
CLIENTS = [
    (NATIONAL, "audit-office", "auditor", None),
    (NATIONAL, "procurement-office", "department", "procurement"),
]
PURPOSE = "cancellation test"
EXPORT = "/gateway.v1.Records/Export"


def _revoked(i: int, now: int) -> RecordRow:
    """A revoked penalty: stored, never served (nothing of it is sent)."""
    return RecordRow(
        record_id=f"{NATIONAL}-{i:032x}",
        version=1,
        issuer=NATIONAL,
        category="admin_penalty",
        subject_type="legal_person",
        subject_key=company_code(i),
        document_number=f"罚{i}号",
        status="revoked",
        iat=now - 3600,
        exp=now + 365 * 86_400,
        sd_jwt=f"eyJhbGciOiJFZERTQSJ9.P{i}.c2ln~",
        origin="local",
        stored_at=now,
        status_changed_at=now,
    )


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    built = make_cluster(tmp_path, [NATIONAL], clients=CLIENTS)
    config = tomllib.loads(built.configs[NATIONAL].read_text(encoding="utf-8"))
    store = open_store(config["node"]["database"])
    try:
        now = int(time.time())
        for start in range(0, ROWS, 20_000):
            store.records.put_many([_revoked(i, now) for i in range(start, start + 20_000)])
    finally:
        store.close()
    with running(built, [NATIONAL]) as started:
        yield started


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[Cluster]:
    """The national node, holding nothing yet."""
    built = make_cluster(tmp_path, [NATIONAL], clients=CLIENTS)
    with running(built, [NATIONAL]) as started:
        yield started


def _stopped_call(cluster: Cluster, action: str, rule: str) -> dict[str, Any]:
    """The audit event of the call that stopped, once the node has written it."""

    def find() -> dict[str, Any] | None:
        events = cluster.gateway_json_lines(
            "audit",
            "events",
            "--as",
            str(cluster.client(NATIONAL, "audit-office")),
            "--endpoint",
            cluster.endpoint(NATIONAL),
            "--action",
            action,
        )
        return next((e for e in events if e["rule"] == rule), None)

    return wait_for(f"the {rule} call in the audit log", find)


def _rows_read(event: dict[str, Any]) -> int:
    match = re.search(r"after (\d+) pages of the export \((\d+) rows read\)", event["detail"])
    assert match is not None, event["detail"]
    pages, rows = int(match[1]), int(match[2])
    assert rows == pages * 200
    return rows


def _logged(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    lines = cluster.log(NATIONAL).splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]
    return [e for e in events if e.get("event") == name]


def _check_answers(cluster: Cluster) -> None:
    client = cluster.client(NATIONAL, "procurement-office")
    with client_channel(client, cluster.endpoint(NATIONAL)) as channel:
        answer = discipline_pb2_grpc.DisciplineStub(channel).Check(
            discipline_pb2.CheckRequest(subject=company_code(ROWS + 1), purpose=PURPOSE),
            timeout=10,
        )
    assert answer.decision == "clear"


def _export(channel: grpc.Channel, **options: Any) -> Any:
    request = records_pb2.ExportRecordsRequest(purpose=PURPOSE)
    return records_pb2_grpc.RecordsStub(channel).Export(request, **options)


@pytest.mark.slow
def test_an_export_past_its_deadline_stops_reading_and_the_node_answers_the_next_check(
    cluster: Cluster,
) -> None:
    client = cluster.client(NATIONAL, "audit-office")
    with client_channel(client, cluster.endpoint(NATIONAL)) as channel:
        with pytest.raises(grpc.RpcError) as ended:
            list(_export(channel, timeout=0.5))
    assert ended.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED

    event = _stopped_call(cluster, EXPORT, "call:deadline-exceeded")
    assert event["decision"] == "allowed"
    assert event["actor"] == f"auditor:{NATIONAL}/audit-office"
    assert _rows_read(event) < ROWS // 2
    [logged] = _logged(cluster, "rpc cancelled")
    assert (logged["code"], logged["rpc"], logged["detail"]) == (
        "DEADLINE_EXCEEDED",
        EXPORT,
        event["detail"],
    )
    _check_answers(cluster)


@pytest.mark.slow
def test_an_export_its_client_cancels_stops_reading(cluster: Cluster) -> None:
    client = cluster.client(NATIONAL, "audit-office")
    with client_channel(client, cluster.endpoint(NATIONAL)) as channel:
        call = _export(channel)
        time.sleep(0.5)  # the server is reading pages by now
        call.cancel()
        with pytest.raises(grpc.RpcError) as ended:
            list(call)
    assert ended.value.code() is grpc.StatusCode.CANCELLED

    event = _stopped_call(cluster, EXPORT, "call:cancelled")
    assert _rows_read(event) < ROWS // 2
    _check_answers(cluster)


@pytest.mark.slow
def test_a_submit_stream_its_client_cancels_keeps_what_it_stored_and_is_audited(
    empty: Cluster,
) -> None:
    decided = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)
    release = threading.Event()

    def messages() -> Iterator[intake_pb2.SubmitRequest]:
        yield intake_pb2.SubmitRequest(
            records=[
                intake_pb2.SubmittedRecord(
                    ref="1", category="admin_penalty", fields=penalty_fields(1, decided=decided)
                )
            ]
        )
        release.wait(60)  # the client holds the stream open, then leaves

    client = empty.client(NATIONAL, "procurement-office")
    with client_channel(client, empty.endpoint(NATIONAL)) as channel:
        call = intake_pb2_grpc.IntakeStub(channel).Submit(messages())
        [stored] = next(call).results
        call.cancel()
        release.set()
    assert stored.outcome == intake_pb2.SUBMIT_OUTCOME_ACCEPTED

    event = _stopped_call(empty, "/gateway.v1.Intake/Submit", "call:cancelled")
    # Either gRPC stopped taking the stream's responses (the interceptor counts them), or
    # the servicer was waiting for the next message when the stream broke (it counts records).
    assert re.fullmatch(
        r"the caller cancelled the call; stopped after 1 (responses|records submitted)",
        event["detail"],
    ), event["detail"]
    assert [line["code"] for line in _logged(empty, "rpc cancelled")] == ["CANCELLED"]
    assert _logged(empty, "rpc failed") == []
    assert stored.record_id in listed(empty, NATIONAL, "audit-office")
