"""``gateway report``: the credit office's duties, as figures, and credit reports.

``timeliness`` is an operator's command: it runs on the node's host with its
configuration (``--config``) and store, audited as the operator. ``subject``
asks the node, as a client (``--as``), for the signed credit report of one
subject and writes it as JSON (the evidence) and PDF (for people); ``verify``
checks such a JSON file offline against the federation's root certificate.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
from cryptography import x509

from gateway._proto.v1 import records_pb2, records_pb2_grpc
from gateway.app.operator import operator_session
from gateway.commands._common import (
    as_client_option,
    emit_json,
    endpoint_option,
    handle_errors,
    json_option,
    local_time,
    open_client,
    print_table,
    say,
)
from gateway.commands._report_pdf import render_report_pdf
from gateway.commands.outbox import config_option
from gateway.core.credit_report import CreditReport, ReportFile, payload_digest
from gateway.core.errors import ConfigurationError
from gateway.node.catalog_files import load_packaged_catalog
from gateway.node.credit_reports import verify_report_file
from gateway.node.quality import quality_report
from gateway.node.timeliness import Month, timeliness_report
from gateway.pki import load_client_credentials

__all__ = ["report"]


_month_option = click.option(
    "--month",
    "month_text",
    default=None,
    metavar="YYYY-MM",
    help="The calendar month (China Standard Time); default: the current month.",
)


@click.group()
def report() -> None:
    """The credit office's reports (operator, on the node's host)."""


@report.command("timeliness")
@config_option
@_month_option
@json_option
@handle_errors
def report_timeliness(*, config_path: Path, month_text: str | None, as_json: bool) -> None:
    """Per department: records filed, on time, late, worst delay, last submission.

    Deadlines are 7 working days from the decision for 行政许可 and 行政处罚
    (the catalog's reporting_working_days), on the official calendar with 调休.
    Departments listed in [reporting] departments that filed nothing in the
    month are named.
    """
    with operator_session(config_path) as session:
        month = Month.parse(month_text) if month_text else Month.of(session.now())
        found = timeliness_report(session.store, month, session.config.reporting.departments)
        session.audit(
            "report.timeliness",
            f"{month}: {len(found.departments)} departments, {found.late} late records",
        )
    if as_json:
        emit_json(
            {
                "month": str(month),
                "departments": [dataclasses.asdict(d) for d in found.departments],
                "not_submitted": list(found.silent),
            }
        )
        return
    if found.departments:
        print_table(
            f"{month}: reporting timeliness by department",
            ["department", "domain", "records", "on time", "late", "worst", "last submission"],
            [
                (
                    d.client,
                    d.domain,
                    d.records,
                    d.on_time,
                    d.late,
                    f"{d.worst_late_working_days} wd" + (" ~" if d.approximate else ""),
                    local_time(d.last_filed_at),
                )
                for d in found.departments
            ],
            droppable=("domain", "last submission"),
        )
    else:
        say(f"{month}: no department filed a record")
    if found.silent:
        say(f"not submitted in {month}: " + ", ".join(found.silent))
    if any(d.approximate for d in found.departments):
        say("~: counted over a year the official calendar does not cover yet (weekdays assumed)")


@report.command("quality")
@config_option
@_month_option
@json_option
@handle_errors
def report_quality(*, config_path: Path, month_text: str | None, as_json: bool) -> None:
    """Quality indicators per department and category: received, refused (by reason and
    field), late, published, withheld (不宜公开), withdrawn; 双公示覆盖率 and 公示率 over
    the node."""
    with operator_session(config_path) as session:
        month = Month.parse(month_text) if month_text else Month.of(session.now())
        found = quality_report(
            session.store,
            load_packaged_catalog(session.config.node_id),
            month,
            session.config.reporting.departments,
            now=session.now(),
        )
        session.audit("report.quality", f"{month}: {len(found.rows)} department categories")
    if as_json:
        emit_json(
            {
                "month": str(month),
                "coverage": found.coverage,
                "publication_rate": found.publication_rate,
                "expected": list(found.expected),
                "reported": list(found.reported),
                "withheld": sum(r.withheld for r in found.rows),
                "rows": [{**dataclasses.asdict(r), "received": r.received} for r in found.rows],
            }
        )
        return
    if not found.rows:
        say(f"{month}: nothing received")
    else:
        print_table(
            f"{month}: reporting quality by department and category",
            ["department", "category", "received", "stored", "refused", "late", "published",
             "withheld", "withdrawn", "refused for"],
            [
                (r.client, r.category, r.received, r.stored, r.refused, r.late, r.published,
                 r.withheld, r.withdrawn, _top(r.refused_by_field) or _top(r.refused_by_reason))
                for r in found.rows
            ],
            droppable=("refused for", "withdrawn", "withheld", "stored"),
        )  # fmt: skip
    coverage = _rate(found.coverage, len(found.reported), len(found.expected))
    say(f"双公示覆盖率 (coverage): {coverage}")
    publishable = sum(r.publishable for r in found.rows)
    on_time = sum(r.published_on_time for r in found.rows)
    say(f"公示率 (published on time): {_rate(found.publication_rate, on_time, publishable)}")
    withheld = sum(r.withheld for r in found.rows)
    say(f"不宜公开 (in force, withheld from publication by their issuer): {withheld}")


def _rate(value: float | None, part: int, whole: int) -> str:
    if value is None:
        return "n/a (nothing to count)"
    return f"{value:.1%} ({part} of {whole})"


def _top(counts: dict[str, int]) -> str:
    """The most frequent few, ``FIELD ×n``."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    return ", ".join(f"{k} ×{n}" for k, n in ranked)


@report.command("subject")
@click.argument("subject")
@as_client_option
@endpoint_option
@click.option("--purpose", required=True, help="Why the report is needed (audited, printed).")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the report: OUT.json (signed) and OUT.pdf (its rendering).",
)
@click.option("--no-pdf", is_flag=True, help="Write only the signed JSON.")
@json_option
@handle_errors
def report_subject(
    *,
    subject: str,
    client_dir: Path,
    endpoint: str | None,
    purpose: str,
    out: Path,
    no_pdf: bool,
    as_json: bool,
) -> None:
    """The credit report (信用报告) of SUBJECT as this client may see it, signed by the node.

    SUBJECT is a unified social credit code or a citizen number. The node checks
    the client's sharing rules, audits the request, and signs the report; the
    command verifies the signature against the client's root before writing.
    """
    with open_client(client_dir, endpoint) as (client, channel):
        stub = records_pb2_grpc.RecordsStub(channel)
        answer = stub.Report(records_pb2.CreditReportRequest(subject=subject, purpose=purpose))
    data = answer.report_file
    found = verify_report_file(data, root=client.root)
    digest = payload_digest(ReportFile.from_json(data).envelope.payload)
    json_path, pdf_path = out.with_suffix(".json"), out.with_suffix(".pdf")
    json_path.write_bytes(data)
    if not no_pdf:
        render_report_pdf(found, digest, pdf_path)
    summary = _summary(found, digest)
    if as_json:
        emit_json({**summary, "json": str(json_path), "pdf": None if no_pdf else str(pdf_path)})
        return
    say(
        f"credit report {found.report_id} of {found.subject}: "
        f"{len(found.lists)} list entries, {len(found.records)} records"
    )
    say(f"wrote {json_path}" + ("" if no_pdf else f" and {pdf_path}"))


@report.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--root",
    "root_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The federation's root certificate (PEM).",
)
@click.option(
    "--as",
    "client_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Or a client folder, whose root certificate is used.",
)
@json_option
@handle_errors
def report_verify(
    *, file: Path, root_path: Path | None, client_dir: Path | None, as_json: bool
) -> None:
    """Check a credit report's JSON file offline: signed by the node it names, under the root.

    Exits 1, naming what failed, for a tampered or foreign report.
    """
    if root_path is not None:
        root = x509.load_pem_x509_certificate(root_path.read_bytes())
    elif client_dir is not None:
        root = load_client_credentials(client_dir).root
    else:
        raise ConfigurationError("name the federation's root: --root ROOT.pem or --as CLIENT")
    data = file.read_bytes()
    found = verify_report_file(data, root=root)
    summary = _summary(found, payload_digest(ReportFile.from_json(data).envelope.payload))
    if as_json:
        emit_json({**summary, "verified": True})
        return
    say(
        f"verified: credit report {found.report_id} of {found.subject}, made by node "
        f"{found.node} at {local_time(found.generated_at)} for {found.requested_by}"
    )
    say(f"payload SHA-256 {summary['payload_sha256']} (printed on its PDF)")


def _summary(found: CreditReport, digest: str) -> dict[str, object]:
    return {
        "report_id": found.report_id,
        "node": found.node,
        "subject": found.subject,
        "generated_at": found.generated_at,
        "requested_by": found.requested_by,
        "purpose": found.purpose,
        "lists": len(found.lists),
        "records": len(found.records),
        "truncated": found.truncated,
        "payload_sha256": digest,
    }
