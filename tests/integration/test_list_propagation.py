"""一处失信、处处受限 across real `gateway serve` processes over mutual TLS.

Seven processes, each on its own SQLite file: national 000000, Zhejiang 330000
with Huzhou 330500 and Lishui 331100, Hunan 430000 with Changsha 430100 and
Zhuzhou 430200. The Huzhou court files 失信被执行人 listings at Huzhou; procurement
checks at Lishui (the peer city) and at Changsha and Zhuzhou (another province)
answer INTERCEPT, naming Huzhou as issuer; the court's revocation reaches every
holder, each confirms, and the checks answer CLEAR again.

The propagation time (filing at Huzhou until a Changsha check answers
INTERCEPT) is written to the terminal, median over :data:`REPETITIONS`
listings.
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from gateway._proto.v1 import discipline_pb2, discipline_pb2_grpc, intake_pb2, intake_pb2_grpc
from tests.support.cluster import Cluster, make_cluster, running, submit, wait_for
from tests.support.federation import client_channel
from tests.support.records import company_code, debtor_fields

NATIONAL = "000000"
ZHEJIANG, HUZHOU, LISHUI = "330000", "330500", "331100"
HUNAN, CHANGSHA, ZHUZHOU = "430000", "430100", "430200"
NODES = [NATIONAL, ZHEJIANG, HUNAN, HUZHOU, LISHUI, CHANGSHA, ZHUZHOU]
CITIES = [HUZHOU, LISHUI, CHANGSHA, ZHUZHOU]
COURT, PROCUREMENT = "court-office", "procurement-office"
CLIENTS = [
    (HUZHOU, COURT, "department", "court"),
    *((city, PROCUREMENT, "department", "procurement") for city in CITIES),
]
RECENT = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)
PURPOSE = "政府采购供应商资格审查"
REPETITIONS = 5
POLL_S = 0.01
TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    built = make_cluster(tmp_path_factory.mktemp("lists"), NODES, clients=CLIENTS)
    with running(built, NODES) as started:
        yield started


def subject_of(i: int) -> str:
    return company_code(100_000 + i)


def check(cluster: Cluster, node: str, subject: str) -> discipline_pb2.CheckResponse:
    with client_channel(cluster.client(node, PROCUREMENT), cluster.endpoint(node)) as channel:
        return discipline_pb2_grpc.DisciplineStub(channel).Check(
            discipline_pb2.CheckRequest(subject=subject, purpose=PURPOSE, case_id="ZC-2026-15")
        )


def wait_decision(
    cluster: Cluster, node: str, subject: str, decision: str
) -> discipline_pb2.CheckResponse:
    def probe() -> discipline_pb2.CheckResponse | None:
        reply = check(cluster, node, subject)
        return reply if reply.decision == decision else None

    return wait_for(f"{decision} at {node}", probe, timeout_s=TIMEOUT_S)


def test_a_huzhou_court_listing_intercepts_procurement_at_lishui_and_in_another_province(
    cluster: Cluster,
) -> None:
    subject = subject_of(1)
    assert check(cluster, CHANGSHA, subject).decision == "clear"

    [record_id] = submit(
        cluster, HUZHOU, COURT, [debtor_fields(1, decided=RECENT)], category="dishonest_debtor"
    )

    for node in (CHANGSHA, LISHUI, ZHUZHOU, HUZHOU):
        reply = wait_decision(cluster, node, subject, "intercept")
        [hit] = reply.hits
        assert (hit.record_id, hit.issuer, hit.category, hit.status, hit.intercepts) == (
            record_id,
            HUZHOU,
            "dishonest_debtor",
            "active",
            True,
        ), node
        assert [m.code for m in hit.measures] == ["M-PROC-01"], node


def test_the_court_revokes_and_every_holder_confirms_and_clears(cluster: Cluster) -> None:
    subject = subject_of(2)
    [record_id] = submit(
        cluster, HUZHOU, COURT, [debtor_fields(2, decided=RECENT)], category="dishonest_debtor"
    )
    wait_decision(cluster, ZHUZHOU, subject, "intercept")

    cluster.gateway_json(
        "records",
        "status",
        "--as",
        str(cluster.client(HUZHOU, COURT)),
        "--endpoint",
        cluster.endpoint(HUZHOU),
        record_id,
        "--kind",
        "revocation",
        "--reason",
        "debt paid in full; listing withdrawn by the court",
    )

    def confirmed() -> set[tuple[str, str, str]] | None:
        got = cluster.gateway_json(
            "records",
            "where",
            "--as",
            str(cluster.client(HUZHOU, PROCUREMENT)),
            "--endpoint",
            cluster.endpoint(HUZHOU),
            record_id,
        )
        holders = {(h["reported_by"], h["node"], h["confirmed_status"]) for h in got["holders"]}
        return holders if {status for _by, _node, status in holders} == {"revoked"} else None

    assert wait_for("every holder confirms the revocation", confirmed, timeout_s=TIMEOUT_S) == {
        (HUZHOU, ZHEJIANG, "revoked"),
        (ZHEJIANG, NATIONAL, "revoked"),
        (ZHEJIANG, LISHUI, "revoked"),
        (NATIONAL, HUNAN, "revoked"),
        (HUNAN, CHANGSHA, "revoked"),
        (HUNAN, ZHUZHOU, "revoked"),
    }
    for node in (LISHUI, CHANGSHA, ZHUZHOU):
        assert check(cluster, node, subject).decision == "clear", node


def test_filing_at_huzhou_to_intercept_at_changsha_is_measured(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    samples_ms: list[float] = []
    court = cluster.client(HUZHOU, COURT)
    procurement = cluster.client(CHANGSHA, PROCUREMENT)
    with (
        client_channel(court, cluster.endpoint(HUZHOU)) as filing,
        client_channel(procurement, cluster.endpoint(CHANGSHA)) as checking,
    ):
        intake = intake_pb2_grpc.IntakeStub(filing)
        discipline = discipline_pb2_grpc.DisciplineStub(checking)

        def file(i: int) -> None:
            request = intake_pb2.SubmitRequest(
                records=[
                    intake_pb2.SubmittedRecord(
                        ref=str(i),
                        category="dishonest_debtor",
                        fields=debtor_fields(i, decided=RECENT),
                    )
                ]
            )
            [result] = [r for reply in intake.Submit(iter([request])) for r in reply.results]
            assert result.outcome == intake_pb2.SUBMIT_OUTCOME_ACCEPTED, result

        def decision(subject: str) -> Callable[[], str]:
            request = discipline_pb2.CheckRequest(subject=subject, purpose=PURPOSE)
            return lambda: discipline.Check(request, timeout=10).decision

        for i in range(100, 100 + REPETITIONS):
            probe = decision(subject_of(i))
            assert probe() == "clear"
            start = time.perf_counter()
            file(i)
            while probe() != "intercept":
                assert time.perf_counter() - start < TIMEOUT_S, f"listing {i} never reached"
                time.sleep(POLL_S)
            samples_ms.append((time.perf_counter() - start) * 1000)

    # Shown on the terminal whatever the capture mode: the figure is the point of the test.
    with capsys.disabled():
        sys.stdout.write(
            f"\nfiling at Huzhou -> INTERCEPT at Changsha (4 hops, 7 processes): median "
            f"{statistics.median(samples_ms):.0f} ms over {REPETITIONS} listings "
            f"(min {min(samples_ms):.0f}, max {max(samples_ms):.0f}; "
            + ", ".join(f"{s:.0f}" for s in samples_ms)
            + ")\n"
        )
    assert len(samples_ms) == REPETITIONS
