"""``gateway check | feedback | objection | repair``: the joint discipline loop.

Departments check a subject before acting (逢办必查) and report what they did
(反馈); objections (异议) are filed anywhere and decided at the record's
issuer; credit repair (信用修复) is applied for and approved at the issuer.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import click

from gateway._proto.v1 import discipline_pb2, discipline_pb2_grpc
from gateway.commands._common import (
    as_client_option,
    emit_json,
    endpoint_option,
    handle_errors,
    json_option,
    open_client,
    print_table,
    say,
)
from gateway.core.catalog import PersonRole
from gateway.core.records import CHINA_STANDARD_TIME
from gateway.node.hit_feedback import MAX_FEEDBACK_PAGE
from gateway.pki import load_client_credentials
from gateway.rpc.client import call_with_failover, client_endpoints

__all__ = ["check", "feedback", "objection", "repair"]


def _time(ts: int) -> str:
    if not ts:
        return ""
    return dt.datetime.fromtimestamp(ts, CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M")


def _hit_dict(hit: discipline_pb2.NoticeHit) -> dict[str, Any]:
    return {
        "record_id": hit.record_id,
        "version": hit.version,
        "category": hit.category,
        "kind": hit.kind,
        "issuer": hit.issuer,
        "status": hit.status,
        "measures": [
            {
                "code": m.code,
                "label": m.label,
                "kind": m.kind,
                "effect": m.effect,
                "basis": m.basis,
            }
            for m in hit.measures
        ],
        "basis": hit.basis,
        "disputed": hit.disputed,
        "measures_suspended": hit.measures_suspended,
        "intercepts": hit.intercepts,
        "green": hit.green,
        "outcome": hit.outcome,
        "reason": hit.reason,
        "reference": hit.reference,
        "severity": hit.severity,
        "expires_at": hit.expires_at,
        "fields": dict(hit.fields),
        "person_role": hit.person_role,
        "listed_subject": hit.listed_subject,
        "listed_name": hit.listed_name,
    }


def _listing(hit: discipline_pb2.NoticeHit, sep: str = "\n") -> str:
    """The list, and for a hit through a person, whom the person is listed with."""
    if not hit.person_role:
        return hit.category
    role = PersonRole(hit.person_role).label
    return f"{hit.category}{sep}{role} of {hit.listed_name} ({hit.listed_subject})"


def _flags(hit: discipline_pb2.NoticeHit) -> str:
    flags = []
    if hit.intercepts:
        flags.append("intercepts")
    elif hit.outcome == "review":
        flags.append("review")
    if hit.disputed:
        flags.append(
            "objection pending" + (", measures suspended" if hit.measures_suspended else "")
        )
    if hit.green:
        flags.append("green channel")
    return "; ".join(flags)


CHECK_TIMEOUT_S = 30.0
"""How long one attempt of a check may take before the next endpoint is tried."""


@click.command("check")
@as_client_option
@endpoint_option
@click.argument("subject")
@click.option("--domain", required=True, help="The department's domain (as in its certificate).")
@click.option("--purpose", required=True, help="Why the subject is checked (audited).")
@click.option("--case", "case_id", default="", help="Case or file number (audited).")
@click.option(
    "--request-id",
    default=None,
    help="This check's id (default: a new UUID); the node stores and audits one check per id.",
)
@json_option
@handle_errors
def check(
    *,
    client_dir: Path,
    endpoint: str | None,
    subject: str,
    domain: str,
    purpose: str,
    case_id: str,
    request_id: str | None,
    as_json: bool,
) -> None:
    """逢办必查: may this subject be awarded, licensed, hired? Answered by the local node.

    A node run as replicas is reached at any of its endpoints (``--endpoint A,B``): the
    check is retried at the next one while the failure is transient, under one request
    id, so the node stores and audits it once.
    """
    client = load_client_credentials(client_dir)
    request = discipline_pb2.CheckRequest(
        subject=subject,
        domain=domain,
        purpose=purpose,
        case_id=case_id,
        request_id=request_id or uuid.uuid4().hex,
    )
    reply = call_with_failover(
        client,
        client_endpoints(client, endpoint),
        lambda channel: discipline_pb2_grpc.DisciplineStub(channel).Check(
            request, timeout=CHECK_TIMEOUT_S
        ),
    )
    if as_json:
        emit_json(
            {
                "check_id": reply.check_id,
                "decision": reply.decision,
                "checked_at": reply.checked_at,
                "node": reply.node,
                "minor": reply.minor,
                "unread": list(reply.unread),
                "hits": [_hit_dict(h) for h in reply.hits],
            }
        )
        return
    _show_check(reply, domain)


def _show_check(reply: discipline_pb2.CheckResponse, domain: str) -> None:
    say(
        (reply.decision.upper(), "bold"),
        f" for domain {domain} "
        f"(check {reply.check_id} at node {reply.node}, {_time(reply.checked_at)})",
    )
    if reply.decision != "clear":
        for hit in reply.hits:
            if hit.outcome == reply.decision:
                say(f"  because {hit.record_id} ({_listing(hit, ', ')}): {hit.reason}")
    if reply.unread:
        say(
            "  more records than a check reads: "
            f"{', '.join(reply.unread)} (see `gateway records list --subject`)"
        )
    if reply.minor:
        say(("minor", "bold"), ": the subject is under 18; handle with 宽容审慎 (湖南 2021)")
    notices = [h for h in reply.hits if not h.reference]
    references = [h for h in reply.hits if h.reference]
    if notices:
        print_table(
            f"{len(notices)} notices in force",
            ["record", "list", "issuer", "status", "measures for this domain", "basis", "flags"],
            [
                (
                    f"{h.record_id} v{h.version}",
                    _listing(h),
                    h.issuer,
                    h.status,
                    "\n".join(f"{m.code} {m.label} [{m.effect}] ({m.basis})" for m in h.measures)
                    or "none",
                    h.basis,
                    _flags(h),
                )
                for h in notices
            ],
            droppable=("basis", "flags", "issuer"),
        )
    if references:
        print_table(
            f"{len(references)} credit records in force (reference)",
            ["record", "category", "severity", "until", "status", "answer", "fields", "issuer"],
            [
                (
                    f"{h.record_id} v{h.version}",
                    h.category,
                    h.severity,
                    _time(h.expires_at),
                    h.status,
                    h.reason,
                    "\n".join(f"{code}: {value}" for code, value in sorted(h.fields.items())),
                    h.issuer,
                )
                for h in references
            ],
            droppable=("issuer", "fields", "status"),
        )


@click.group()
def feedback() -> None:
    """Report what was done about a hit; hits awaiting it here; hits and feedback at the issuer."""


@feedback.command("send")
@as_client_option
@endpoint_option
@click.argument("check_id")
@click.argument("record_id")
@click.option("--action", required=True, type=click.Choice(["applied", "not_applicable", "lifted"]))
@click.option("--note", default="", help="What was done, e.g. the bid was refused.")
@json_option
@handle_errors
def feedback_send(
    *,
    client_dir: Path,
    endpoint: str | None,
    check_id: str,
    record_id: str,
    action: str,
    note: str,
    as_json: bool,
) -> None:
    """Feedback on one notice found by one of this client's checks; it goes to the issuer."""
    with open_client(client_dir, endpoint) as (_client, channel):
        reply = discipline_pb2_grpc.DisciplineStub(channel).Feedback(
            discipline_pb2.FeedbackRequest(
                check_id=check_id, record_id=record_id, action=action, note=note
            )
        )
    if as_json:
        emit_json({"feedback_id": reply.feedback_id, "issuer": reply.issuer})
    else:
        say(f"feedback {reply.feedback_id} sent to issuer {reply.issuer}")


@feedback.command("pending")
@as_client_option
@endpoint_option
@click.option(
    "--lifted",
    "lifted_only",
    is_flag=True,
    help="Only hits whose notice was revoked, repaired or expired since: lift the measure.",
)
@click.option(
    "--department", default="", help="Only this department client's checks (admin, auditor)."
)
@click.option(
    "--limit",
    default=1000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Most hits shown.",
)
@json_option
@handle_errors
def feedback_pending(
    *,
    client_dir: Path,
    endpoint: str | None,
    lifted_only: bool,
    department: str,
    limit: int,
    as_json: bool,
) -> None:
    """Hits of checks made here still waiting for feedback (及时解除: lifted ones first to act on).

    A hit waits until its department reports what it did; when the notice is then
    revoked, repaired or expires, it waits again until the department reports
    ``feedback send CHECK RECORD --action lifted``.
    """
    hits: list[discipline_pb2.PendingHit] = []
    token = ""
    with open_client(client_dir, endpoint) as (_client, channel):
        stub = discipline_pb2_grpc.DisciplineStub(channel)
        while len(hits) < limit:
            page = stub.PendingFeedback(
                discipline_pb2.PendingFeedbackRequest(
                    lifted_only=lifted_only,
                    department=department,
                    limit=min(MAX_FEEDBACK_PAGE, limit - len(hits)),
                    page_token=token,
                )
            )
            hits += page.hits
            token = page.next_page_token
            if not token:
                break
    if as_json:
        for p in hits:
            emit_json(
                {
                    "check_id": p.hit.check_id,
                    "record_id": p.record_id,
                    "version": p.hit.version,
                    "issuer": p.issuer,
                    "checked_at": p.hit.checked_at,
                    "department": p.hit.actor,
                    "domain": p.hit.domain,
                    "case_id": p.hit.case_id,
                    "decision": p.hit.decision,
                    "measures": list(p.hit.measures),
                    "status": p.status,
                    "answered": p.answered,
                    "lifted": p.lifted,
                    "lifted_at": p.lifted_at,
                }
            )
        return
    print_table(
        f"{len(hits)} hits awaiting feedback" + (" (lifted)" if lifted_only else ""),
        ["check", "record", "checked", "department", "case", "measures", "lifted", "since"],
        [
            (
                p.hit.check_id,
                f"{p.record_id} v{p.hit.version}",
                _time(p.hit.checked_at),
                p.hit.actor,
                p.hit.case_id,
                ",".join(p.hit.measures),
                p.lifted or ("" if p.answered else "(no feedback yet)"),
                _time(p.lifted_at),
            )
            for p in hits
        ],
        droppable=("case", "measures", "department", "since"),
    )


@feedback.command("list")
@as_client_option
@endpoint_option
@click.argument("record_id")
@json_option
@handle_errors
def feedback_list(*, client_dir: Path, endpoint: str | None, record_id: str, as_json: bool) -> None:
    """Every check that found a notice, and every feedback on it (at the issuer: from all nodes)."""
    with open_client(client_dir, endpoint) as (_client, channel):
        reply = discipline_pb2_grpc.DisciplineStub(channel).ListHits(
            discipline_pb2.ListHitsRequest(record_id=record_id)
        )
    hits = [
        {
            "check_id": h.check_id,
            "version": h.version,
            "node": h.node,
            "checked_at": h.checked_at,
            "actor": h.actor,
            "domain": h.domain,
            "case_id": h.case_id,
            "decision": h.decision,
            "measures": list(h.measures),
        }
        for h in reply.hits
    ]
    given = [
        {
            "feedback_id": f.feedback_id,
            "check_id": f.check_id,
            "version": f.version,
            "node": f.node,
            "actor": f.actor,
            "domain": f.domain,
            "action": f.action,
            "note": f.note,
            "case_id": f.case_id,
            "checked_at": f.checked_at,
            "reported_at": f.reported_at,
        }
        for f in reply.feedback
    ]
    if as_json:
        emit_json({"record_id": reply.record_id, "hits": hits, "feedback": given})
        return
    print_table(
        f"{len(hits)} checks found {record_id}",
        ["checked", "node", "department", "domain", "case", "decision", "measures"],
        [
            (
                _time(h.checked_at),
                h.node,
                h.actor,
                h.domain,
                h.case_id,
                h.decision,
                ",".join(h.measures),
            )
            for h in reply.hits
        ],
        droppable=("measures", "case", "node"),
    )
    print_table(
        f"{len(given)} feedback",
        ["reported", "node", "department", "action", "note", "check"],
        [
            (_time(f.reported_at), f.node, f.actor, f.action, f.note, f.check_id)
            for f in reply.feedback
        ],
        droppable=("check", "note", "node"),
    )


def _objection_dict(o: discipline_pb2.Objection) -> dict[str, Any]:
    return {
        "objection_id": o.objection_id,
        "record_id": o.record_id,
        "version": o.version,
        "category": o.category,
        "node": o.node,
        "filed_by": o.filed_by,
        "grounds": o.grounds,
        "filed_at": o.filed_at,
        "deadline_at": o.deadline_at,
        "state": o.state,
        "decided_at": o.decided_at,
        "decided_by": o.decided_by,
        "resolution": o.resolution,
        "statement_id": o.statement_id,
        "overdue": o.overdue,
    }


@click.group()
def objection() -> None:
    """Objections (异议): file at any node, decide at the record's issuer; list at either."""


@objection.command("file")
@as_client_option
@endpoint_option
@click.argument("record_id")
@click.option("--grounds", required=True, help="Why the record is wrong (异议理由).")
@click.option("--version", default=0, help="Version (default: latest held here).")
@json_option
@handle_errors
def objection_file(
    *,
    client_dir: Path,
    endpoint: str | None,
    record_id: str,
    grounds: str,
    version: int,
    as_json: bool,
) -> None:
    """File an objection; it travels to the record's issuer."""
    with open_client(client_dir, endpoint) as (_client, channel):
        reply = discipline_pb2_grpc.DisciplineStub(channel).FileObjection(
            discipline_pb2.FileObjectionRequest(
                record_id=record_id, version=version, grounds=grounds
            )
        )
    if as_json:
        emit_json({"objection_id": reply.objection_id, "issuer": reply.issuer})
    else:
        say(f"objection {reply.objection_id} sent to issuer {reply.issuer}")


@objection.command("list")
@as_client_option
@endpoint_option
@click.option("--overdue", is_flag=True, help="Only open objections past their deadline.")
@click.option(
    "--state",
    default="",
    type=click.Choice(["", "filed", "accepted", "rejected", "upheld", "dismissed"]),
)
@click.option("--record", "record_id", default="", help="Only objections to this record.")
@json_option
@handle_errors
def objection_list(
    *,
    client_dir: Path,
    endpoint: str | None,
    overdue: bool,
    state: str,
    record_id: str,
    as_json: bool,
) -> None:
    """Objections held at this node, by deadline: those to its records, those filed here.

    An objection filed here shows each decision of the issuer (and when) once it arrived.
    """
    with open_client(client_dir, endpoint) as (_client, channel):
        reply = discipline_pb2_grpc.DisciplineStub(channel).ListObjections(
            discipline_pb2.ListObjectionsRequest(overdue=overdue, state=state, record_id=record_id)
        )
    if as_json:
        for o in reply.objections:
            emit_json(_objection_dict(o))
        return
    print_table(
        f"{len(reply.objections)} objections" + (" overdue" if overdue else ""),
        ["objection", "record", "filed at", "filed", "deadline", "state", "decided", "grounds"],
        [
            (
                o.objection_id,
                f"{o.record_id} v{o.version}",
                o.node,
                _time(o.filed_at),
                _time(o.deadline_at) + (" OVERDUE" if o.overdue else ""),
                o.state,
                _time(o.decided_at),
                o.grounds,
            )
            for o in reply.objections
        ],
        droppable=("grounds", "filed at", "deadline", "decided"),
    )


@objection.command("decide")
@as_client_option
@endpoint_option
@click.argument("objection_id")
@click.option(
    "--decision", required=True, type=click.Choice(["accept", "reject", "uphold", "dismiss"])
)
@click.option("--reason", required=True, help="Why (kept in the signed statement).")
@click.option(
    "--new-version",
    default=0,
    help="Uphold only: the corrected version replacing the record (default: revoke it).",
)
@json_option
@handle_errors
def objection_decide(
    *,
    client_dir: Path,
    endpoint: str | None,
    objection_id: str,
    decision: str,
    reason: str,
    new_version: int,
    as_json: bool,
) -> None:
    """At the issuer: accept (suspend everywhere), reject, uphold (revoke/correct), dismiss."""
    with open_client(client_dir, endpoint) as (_client, channel):
        reply = discipline_pb2_grpc.DisciplineStub(channel).DecideObjection(
            discipline_pb2.DecideObjectionRequest(
                objection_id=objection_id,
                decision=decision,
                reason=reason,
                new_version=new_version,
            )
        )
    if as_json:
        emit_json(
            {
                "objection": _objection_dict(reply.objection),
                "status": reply.status,
                "statement_id": reply.statement_id,
            }
        )
        return
    statement = f", statement {reply.statement_id}" if reply.statement_id else ""
    say(
        f"objection {objection_id} is {reply.objection.state}; record "
        f"{reply.objection.record_id} is {reply.status}{statement}"
    )


def _repair_dict(a: discipline_pb2.RepairApplication) -> dict[str, Any]:
    return {
        "application_id": a.application_id,
        "record_id": a.record_id,
        "version": a.version,
        "category": a.category,
        "applied_by": a.applied_by,
        "reason": a.reason,
        "applied_at": a.applied_at,
        "state": a.state,
        "decided_at": a.decided_at,
        "decided_by": a.decided_by,
        "note": a.note,
        "statement_id": a.statement_id,
    }


@click.group()
def repair() -> None:
    """Credit repair (信用修复) at the record's issuer."""


@repair.command("apply")
@as_client_option
@endpoint_option
@click.argument("record_id")
@click.option("--reason", required=True, help="Why the record should be repaired.")
@click.option("--version", default=0, help="Version (default: latest).")
@json_option
@handle_errors
def repair_apply(
    *,
    client_dir: Path,
    endpoint: str | None,
    record_id: str,
    reason: str,
    version: int,
    as_json: bool,
) -> None:
    """Apply for credit repair (refused before the category's minimum period)."""
    with open_client(client_dir, endpoint) as (_client, channel):
        reply = discipline_pb2_grpc.DisciplineStub(channel).ApplyRepair(
            discipline_pb2.ApplyRepairRequest(record_id=record_id, version=version, reason=reason)
        )
    if as_json:
        emit_json(_repair_dict(reply.application))
    else:
        say(f"repair application {reply.application.application_id} for {record_id} is pending")


def _decide_repair(
    client_dir: Path, endpoint: str | None, application_id: str, decision: str, note: str
) -> discipline_pb2.DecideRepairResponse:
    with open_client(client_dir, endpoint) as (_client, channel):
        return discipline_pb2_grpc.DisciplineStub(channel).DecideRepair(
            discipline_pb2.DecideRepairRequest(
                application_id=application_id, decision=decision, note=note
            )
        )


def _print_repair(reply: discipline_pb2.DecideRepairResponse, as_json: bool) -> None:
    if as_json:
        emit_json(
            {
                "application": _repair_dict(reply.application),
                "status": reply.status,
                "statement_id": reply.statement_id,
            }
        )
        return
    statement = f" (statement {reply.statement_id})" if reply.statement_id else ""
    say(
        f"repair application {reply.application.application_id} {reply.application.state}; "
        f"record {reply.application.record_id} is {reply.status}{statement}"
    )


@repair.command("approve")
@as_client_option
@endpoint_option
@click.argument("application_id")
@click.option("--note", default="", help="Kept in the signed repair statement.")
@json_option
@handle_errors
def repair_approve(
    *, client_dir: Path, endpoint: str | None, application_id: str, note: str, as_json: bool
) -> None:
    """Approve: the record stops being shared and published everywhere it went."""
    _print_repair(_decide_repair(client_dir, endpoint, application_id, "approve", note), as_json)


@repair.command("refuse")
@as_client_option
@endpoint_option
@click.argument("application_id")
@click.option("--note", required=True, help="Why the application is refused.")
@json_option
@handle_errors
def repair_refuse(
    *, client_dir: Path, endpoint: str | None, application_id: str, note: str, as_json: bool
) -> None:
    """Refuse an application; the record stays as it is."""
    _print_repair(_decide_repair(client_dir, endpoint, application_id, "refuse", note), as_json)
