"""The joint discipline loop across a real federation of `gateway serve` processes.

National 000000 issues notices; they reach Zhejiang 330000 and its cities Huzhou
330500 and Lishui 331100. Departments check at their own nodes, feedback and
objections travel to the issuer, the issuer's decisions reach every holder.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from gateway._proto.v1 import discipline_pb2, discipline_pb2_grpc, intake_pb2, intake_pb2_grpc
from gateway.core.record_fields import add_months
from tests.support.cluster import Cluster, make_cluster, running, wait_for
from tests.support.federation import client_channel, run_gateway
from tests.support.records import (
    company_code,
    debtor_fields,
    honours_fields,
    notice_fields,
    penalty_fields,
)

NATIONAL, ZHEJIANG, HUZHOU, LISHUI = "000000", "330000", "330500", "331100"
NODES = [NATIONAL, ZHEJIANG, HUZHOU, LISHUI]
TODAY = dt.datetime.now(dt.UTC).date()
RECENT = TODAY - dt.timedelta(days=20)
PURPOSE = "政府采购资格审查"

CLIENTS = [
    (NATIONAL, "credit-office", "department", "procurement"),
    (NATIONAL, "court-office", "department", "court"),
    (NATIONAL, "credit-admin", "admin", None),
    (NATIONAL, "audit-office", "auditor", None),
    (ZHEJIANG, "procurement-office", "department", "procurement"),
    (HUZHOU, "procurement-office", "department", "procurement"),
    (HUZHOU, "service-office", "department", "public_service"),
    (HUZHOU, "licensing-office", "department", "licensing"),
    (HUZHOU, "audit-office", "auditor", None),
    (LISHUI, "procurement-office", "department", "procurement"),
    (LISHUI, "credit-admin", "admin", None),
    (LISHUI, "audit-office", "auditor", None),
]
PROCUREMENT = {
    NATIONAL: "credit-office",
    ZHEJIANG: "procurement-office",
    HUZHOU: "procurement-office",
    LISHUI: "procurement-office",
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    built = make_cluster(tmp_path_factory.mktemp("discipline"), NODES, clients=CLIENTS)
    with running(built, NODES) as started:
        yield started


def issue(
    cluster: Cluster,
    category: str,
    fields: dict[str, str],
    client: str = "credit-office",
    *,
    node: str = NATIONAL,
) -> str:
    with client_channel(cluster.client(node, client), cluster.endpoint(node)) as channel:
        request = intake_pb2.SubmitRequest(
            records=[intake_pb2.SubmittedRecord(ref="1", category=category, fields=fields)]
        )
        (result,) = [
            r
            for reply in intake_pb2_grpc.IntakeStub(channel).Submit(iter([request]))
            for r in reply.results
        ]
    assert result.outcome == intake_pb2.SUBMIT_OUTCOME_ACCEPTED, result
    return result.record_id


def subject_of(i: int) -> str:
    return company_code(100_000 + i)


def check(
    cluster: Cluster, node: str, client: str, subject: str, *, purpose: str = PURPOSE
) -> discipline_pb2.CheckResponse:
    with client_channel(cluster.client(node, client), cluster.endpoint(node)) as channel:
        return discipline_pb2_grpc.DisciplineStub(channel).Check(
            discipline_pb2.CheckRequest(subject=subject, purpose=purpose, case_id="CG-2026-7")
        )


def wait_check(
    cluster: Cluster,
    node: str,
    client: str,
    subject: str,
    until: Callable[[discipline_pb2.CheckResponse], bool],
) -> discipline_pb2.CheckResponse:
    def probe() -> discipline_pb2.CheckResponse | None:
        reply = check(cluster, node, client, subject)
        return reply if until(reply) else None

    return wait_for(f"the check at {node} by {client}", probe)


def wait_everywhere(
    cluster: Cluster, subject: str, decision: str
) -> dict[str, discipline_pb2.CheckResponse]:
    """Wait until a procurement department at every node gets ``decision``."""
    return {
        node: wait_check(cluster, node, client, subject, lambda r: r.decision == decision)
        for node, client in PROCUREMENT.items()
    }


def _as(cluster: Cluster, node: str, client: str) -> list[str]:
    return ["--as", str(cluster.client(node, client)), "--endpoint", cluster.endpoint(node)]


def gateway(cluster: Cluster, node: str, client: str, *args: str) -> Any:
    """``gateway GROUP COMMAND --as CLIENT --endpoint NODE ARGS... --json``."""
    return cluster.gateway_json(*args[:2], *_as(cluster, node, client), *args[2:])


def gateway_lines(cluster: Cluster, node: str, client: str, *args: str) -> list[Any]:
    return cluster.gateway_json_lines(*args[:2], *_as(cluster, node, client), *args[2:])


def audit_actions(cluster: Cluster, node: str, *, decision: str = "allowed") -> set[str]:
    events = cluster.gateway_json_lines(
        "audit",
        "events",
        *_as(cluster, node, "audit-office"),
        "--decision",
        decision,
        "--limit",
        "5000",
    )
    return {e["action"] for e in events}


def test_procurement_is_intercepted_an_unrelated_domain_is_clear_and_feedback_reaches_the_issuer(
    cluster: Cluster,
) -> None:
    record_id = issue(cluster, "serious_dishonesty", notice_fields(1, decided=RECENT))
    subject = subject_of(1)
    wait_everywhere(cluster, subject, "intercept")

    huzhou = cluster.gateway_json(
        "check",
        *_as(cluster, HUZHOU, "procurement-office"),
        subject,
        "--domain",
        "procurement",
        "--purpose",
        PURPOSE,
        "--case",
        "CG-2026-7",
    )
    assert huzhou["decision"] == "intercept"
    (hit,) = huzhou["hits"]
    assert (hit["record_id"], hit["issuer"], hit["status"]) == (record_id, NATIONAL, "active")
    assert [m["code"] for m in hit["measures"]] == ["M-PROC-01"]
    assert "政府采购法" in hit["measures"][0]["basis"]
    assert hit["basis"] == notice_fields(1, decided=RECENT)["LB_YJ"]

    unrelated = check(cluster, HUZHOU, "service-office", subject)
    assert unrelated.decision == "clear"
    assert list(unrelated.hits) == []

    lishui = check(cluster, LISHUI, "procurement-office", subject)
    assert lishui.decision == "intercept"
    for node, check_id, action in (
        (HUZHOU, huzhou["check_id"], "applied"),
        (LISHUI, lishui.check_id, "not_applicable"),
    ):
        sent = gateway(
            cluster,
            node,
            "procurement-office",
            "feedback",
            "send",
            check_id,
            record_id,
            "--action",
            action,
            "--note",
            f"{node} {action}",
        )
        assert sent["issuer"] == NATIONAL

    def at_issuer() -> dict[str, Any] | None:
        got = gateway(cluster, NATIONAL, "audit-office", "feedback", "list", record_id)
        nodes = {f["node"] for f in got["feedback"]}
        return got if nodes == {HUZHOU, LISHUI} else None

    listed = wait_for("feedback from both cities at national", at_issuer)
    assert {(f["node"], f["action"], f["note"]) for f in listed["feedback"]} == {
        (HUZHOU, "applied", f"{HUZHOU} applied"),
        (LISHUI, "not_applicable", f"{LISHUI} not_applicable"),
    }
    hit_checks = {h["check_id"]: h for h in listed["hits"]}
    assert huzhou["check_id"] in hit_checks
    assert lishui.check_id in hit_checks
    assert hit_checks[lishui.check_id]["node"] == LISHUI
    assert hit_checks[lishui.check_id]["case_id"] == "CG-2026-7"
    assert hit_checks[lishui.check_id]["measures"] == ["M-PROC-01"]
    assert {"discipline.feedback.receive", "discipline.hits"} <= audit_actions(cluster, NATIONAL)
    assert {"discipline.check", "discipline.feedback"} <= audit_actions(cluster, LISHUI)


def test_an_objection_at_a_city_disputes_everywhere_and_dismissal_restores_interception(
    cluster: Cluster,
) -> None:
    record_id = issue(cluster, "serious_dishonesty", notice_fields(2, decided=RECENT))
    # 谁产生、谁负责: a court files the judgment debtor.
    debtor_id = issue(
        cluster, "dishonest_debtor", debtor_fields(3, decided=RECENT), client="court-office"
    )
    subject = subject_of(2)
    wait_everywhere(cluster, subject, "intercept")
    wait_everywhere(cluster, subject_of(3), "intercept")

    filed: dict[str, str] = {}
    for rid in (record_id, debtor_id):
        reply = gateway(
            cluster,
            LISHUI,
            "credit-admin",
            "objection",
            "file",
            rid,
            "--grounds",
            "已全部履行，申请更正",
        )
        assert reply["issuer"] == NATIONAL
        filed[rid] = reply["objection_id"]

    def objections_at_issuer() -> dict[str, Any] | None:
        rows = gateway_lines(cluster, NATIONAL, "credit-admin", "objection", "list")
        mine = {r["objection_id"]: r for r in rows if r["objection_id"] in filed.values()}
        return mine if len(mine) == 2 else None

    stored = wait_for("the objections at the issuer", objections_at_issuer)
    first = stored[filed[record_id]]
    assert (first["state"], first["node"], first["record_id"]) == ("filed", LISHUI, record_id)
    assert first["deadline_at"] - first["filed_at"] == 15 * 86_400
    overdue = gateway_lines(cluster, NATIONAL, "credit-admin", "objection", "list", "--overdue")
    assert not {r["objection_id"] for r in overdue} & set(filed.values())

    # The issuer's catalog: a serious-dishonesty entry pauses its measures once accepted; a
    # court-listed debtor's stay in force (disputed, flagged only).
    for rid, status in ((record_id, "suspended"), (debtor_id, "disputed")):
        decided = gateway(
            cluster,
            NATIONAL,
            "credit-admin",
            "objection",
            "decide",
            filed[rid],
            "--decision",
            "accept",
            "--reason",
            "异议受理，核查期间暂停",
        )
        assert (decided["objection"]["state"], decided["status"]) == ("accepted", status)

    disputed = wait_everywhere(cluster, subject, "disputed")
    (hit,) = disputed[HUZHOU].hits
    assert (hit.status, hit.disputed, hit.measures_suspended, hit.intercepts) == (
        "suspended",
        True,
        True,
        False,
    )
    # The court-listed debtor's measures stay in force during the objection: flagged only.
    still = wait_check(
        cluster, HUZHOU, "procurement-office", subject_of(3), lambda r: r.hits[0].disputed
    )
    assert still.decision == "intercept"
    assert (still.hits[0].status, still.hits[0].intercepts) == ("disputed", True)

    gateway(
        cluster,
        NATIONAL,
        "credit-admin",
        "objection",
        "decide",
        filed[record_id],
        "--decision",
        "dismiss",
        "--reason",
        "经核查，列入依据充分",
    )
    wait_everywhere(cluster, subject, "intercept")

    # Every decision went back to Lishui, where the objections were filed.
    def decisions_at_lishui() -> dict[str, Any] | None:
        rows = gateway_lines(cluster, LISHUI, "credit-admin", "objection", "list")
        mine = {r["objection_id"]: r for r in rows if r["objection_id"] in filed.values()}
        dismissed = mine.get(filed[record_id], {}).get("state") == "dismissed"
        return mine if dismissed and len(mine) == 2 else None

    at_lishui = wait_for("the decisions at Lishui", decisions_at_lishui)
    dismissed, accepted = at_lishui[filed[record_id]], at_lishui[filed[debtor_id]]
    assert (dismissed["node"], dismissed["resolution"]) == (LISHUI, "经核查，列入依据充分")
    assert (accepted["state"], accepted["resolution"]) == ("accepted", "异议受理，核查期间暂停")
    assert 0 < accepted["decided_at"] <= dismissed["decided_at"]
    assert "discipline.objection.decision.receive" in audit_actions(cluster, LISHUI)
    actions = audit_actions(cluster, NATIONAL)
    assert {
        "discipline.objection.receive",
        "discipline.objection.decide",
        "status.dispute",
        "status.suspension",
        "status.reinstatement",
    } <= actions
    assert "discipline.objection.file" in audit_actions(cluster, LISHUI)


def test_repair_waits_for_the_minimum_period_then_clears_everywhere_with_confirmations(
    cluster: Cluster,
) -> None:
    early_id = issue(cluster, "serious_dishonesty", notice_fields(4, decided=RECENT))
    refused = run_gateway(
        "repair",
        "apply",
        *_as(cluster, NATIONAL, "credit-admin"),
        early_id,
        "--reason",
        "已履行义务",
    )
    assert refused.returncode == 1
    assert f"may be asked from {add_months(RECENT, 12).isoformat()}" in refused.stderr

    decided = TODAY - dt.timedelta(days=400)
    record_id = issue(cluster, "serious_dishonesty", notice_fields(5, decided=decided))
    subject = subject_of(5)
    wait_everywhere(cluster, subject, "intercept")
    application = gateway(
        cluster, NATIONAL, "credit-admin", "repair", "apply", record_id, "--reason", "已履行义务"
    )
    assert application["state"] == "pending"
    approved = gateway(
        cluster,
        NATIONAL,
        "credit-admin",
        "repair",
        "approve",
        application["application_id"],
        "--note",
        "信用修复申请核准",
    )
    assert (approved["application"]["state"], approved["status"]) == ("approved", "repaired")
    wait_everywhere(cluster, subject, "clear")

    def confirmed() -> dict[str, str] | None:
        where = gateway(cluster, NATIONAL, "audit-office", "records", "where", record_id)
        status = {h["node"]: h["confirmed_status"] for h in where["holders"]}
        return status if set(status.values()) == {"repaired"} and len(status) == 3 else None

    assert wait_for("every holder confirms the repair", confirmed) == {
        ZHEJIANG: "repaired",
        HUZHOU: "repaired",
        LISHUI: "repaired",
    }
    assert {"discipline.repair.apply", "discipline.repair.decide", "status.repair"} <= (
        audit_actions(cluster, NATIONAL)
    )

    # Lishui's procurement department intercepted the notice: it learns the measure ended
    # (及时解除), lifts it and says so, and the hit leaves its list.
    def lifted_at_lishui() -> list[Any]:
        rows = gateway_lines(
            cluster, LISHUI, "procurement-office", "feedback", "pending", "--lifted"
        )
        return [r for r in rows if r["record_id"] == record_id]

    lifted = lifted_at_lishui()
    assert lifted
    assert {(r["lifted"], r["status"], r["answered"], r["issuer"]) for r in lifted} == {
        ("repaired", "repaired", False, NATIONAL)
    }
    assert {r["department"] for r in lifted} == {f"department:{LISHUI}/procurement-office"}
    first = lifted[0]["check_id"]
    gateway(
        cluster,
        LISHUI,
        "procurement-office",
        "feedback",
        "send",
        first,
        record_id,
        "--action",
        "lifted",
        "--note",
        "已恢复投标资格",
    )
    assert first not in {r["check_id"] for r in lifted_at_lishui()}
    assert "discipline.feedback.pending" in audit_actions(cluster, LISHUI)


def test_red_list_gives_a_green_channel_to_the_catalogs_domains(cluster: Cluster) -> None:
    issue(cluster, "honours", honours_fields(6, decided=RECENT))
    subject = subject_of(6)
    green = wait_check(
        cluster, HUZHOU, "licensing-office", subject, lambda r: r.decision == "green_channel"
    )
    (hit,) = green.hits
    assert (hit.kind, hit.green, [m.code for m in hit.measures]) == ("redlist", True, ["M-INC-01"])
    assert check(cluster, HUZHOU, "procurement-office", subject).decision == "clear"


def test_a_check_without_purpose_or_for_another_domain_is_refused_and_audited(
    cluster: Cluster,
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        check(cluster, HUZHOU, "procurement-office", subject_of(1), purpose="")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "a purpose is required" in (caught.value.details() or "")
    with (
        client_channel(
            cluster.client(HUZHOU, "procurement-office"), cluster.endpoint(HUZHOU)
        ) as channel,
        pytest.raises(grpc.RpcError) as other,
    ):
        discipline_pb2_grpc.DisciplineStub(channel).Check(
            discipline_pb2.CheckRequest(subject=subject_of(1), domain="finance", purpose=PURPOSE)
        )
    assert other.value.code() == grpc.StatusCode.PERMISSION_DENIED
    usage = run_gateway(
        "check",
        *_as(cluster, HUZHOU, "procurement-office"),
        subject_of(1),
        "--domain",
        "procurement",
    )
    assert usage.returncode == 2
    assert "--purpose" in usage.stderr
    denied = cluster.gateway_json_lines(
        "audit",
        "events",
        *_as(cluster, HUZHOU, "audit-office"),
        "--decision",
        "denied",
        "--action",
        "discipline.check",
    )
    assert "check:purpose-required" in {e["rule"] for e in denied}
    refused = cluster.gateway_json_lines(
        "audit",
        "events",
        *_as(cluster, HUZHOU, "audit-office"),
        "--decision",
        "denied",
    )
    assert "check:own-domain" in {e["rule"] for e in refused}


def test_gateway_check_shows_review_with_its_reason_and_the_penalty_for_reference(
    cluster: Cluster,
) -> None:
    fields = penalty_fields(8, decided=RECENT, severity="serious")
    record_id = issue(cluster, "admin_penalty", fields, "procurement-office", node=HUZHOU)
    shown = run_gateway(
        "check",
        *_as(cluster, HUZHOU, "procurement-office"),
        company_code(8),
        "--domain",
        "procurement",
        "--purpose",
        PURPOSE,
        "--wide",
        env={"COLUMNS": "400"},
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("REVIEW for domain procurement (check ")
    assert lines[1] == (
        f"  because {record_id} (admin_penalty): serious 行政处罚 in force: "
        "the catalog weighs it in procurement, review required"
    )
    assert "1 credit records in force (reference)" in shown.stdout
    assert fields["CF_WSH"] in shown.stdout
    # Zhejiang withholds personal fields from screening departments.
    assert fields["FR_ZJHM"] not in shown.stdout
    assert "minor" not in shown.stdout
    as_json = cluster.gateway_json(
        "check",
        *_as(cluster, HUZHOU, "procurement-office"),
        company_code(8),
        "--domain",
        "procurement",
        "--purpose",
        PURPOSE,
    )
    assert (as_json["decision"], as_json["minor"], as_json["unread"]) == ("review", False, [])
    (hit,) = as_json["hits"]
    assert (hit["record_id"], hit["reference"], hit["outcome"], hit["severity"]) == (
        record_id,
        True,
        "review",
        "serious",
    )
