"""``gateway notices``: disciplinary notices (black and red lists) issued at a hub node.

A notice is a record of a list category (严重失信主体名单, 失信被执行人, 经营异常名录,
红名单...) issued through the hub's intake: validated against the catalog,
signed by the hub and pushed to every descendant.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from gateway._proto.v1 import intake_pb2, intake_pb2_grpc, records_pb2, records_pb2_grpc
from gateway.commands._common import (
    as_client_option,
    emit_json,
    endpoint_option,
    fail,
    handle_errors,
    json_option,
    open_client,
    print_table,
    say,
)
from gateway.core.errors import IdentifierError
from gateway.core.identifiers import validate_citizen_id, validate_uscc
from gateway.core.records import CHINA_STANDARD_TIME

__all__ = ["notices"]

LIST_CATEGORIES = ("serious_dishonesty", "dishonest_debtor", "abnormal_operation", "honours")


def _subject_fields(subject: str) -> dict[str, str]:
    try:
        return {"XDR_LB": "法人及非法人组织", "XDR_SHXYM": validate_uscc(subject)}
    except IdentifierError:
        return {"XDR_LB": "自然人", "XDR_ZJLX": "身份证", "XDR_ZJHM": validate_citizen_id(subject)}


@click.group()
def notices() -> None:
    """Disciplinary notices: issue at a national or provincial node, list anywhere."""


@notices.command("issue")
@as_client_option
@endpoint_option
@click.option("--list", "category", required=True, type=click.Choice(["serious_dishonesty"]))
@click.option("--subject", required=True, help="USCC or citizen number of the listed subject.")
@click.option("--name", required=True, help="The subject's name (失信主体名称).")
@click.option(
    "--document", required=True, help="Listing decision document number (列入决定文书号)."
)
@click.option("--reason", required=True, help="Why the subject is listed (列入事由).")
@click.option("--basis", required=True, help="Legal basis (列入依据).")
@click.option("--authority", required=True, help="Deciding authority (认定机关).")
@click.option("--authority-code", required=True, help="Deciding authority's USCC.")
@click.option("--decided", default=None, help="Decision date YYYY-MM-DD (default: today).")
@click.option(
    "--until", default=None, help="Listed until YYYY-MM-DD (default: the catalog's period)."
)
@click.option("--measures", default=None, help="Measures text (惩戒措施), e.g. 限制参与政府采购.")
@json_option
@handle_errors
def notices_issue(
    *,
    client_dir: Path,
    endpoint: str | None,
    category: str,
    subject: str,
    name: str,
    document: str,
    reason: str,
    basis: str,
    authority: str,
    authority_code: str,
    decided: str | None,
    until: str | None,
    measures: str | None,
    as_json: bool,
) -> None:
    """Sign a notice at this hub and push it to every descendant node."""
    fields = {
        **_subject_fields(subject),
        "XDR_MC": name,
        "LB_WSH": document,
        "LB_LRYY": reason,
        "LB_YJ": basis,
        "LB_JDRQ": decided or dt.datetime.now(CHINA_STANDARD_TIME).date().isoformat(),
        "LB_RDJG": authority,
        "LB_RDJGDM": authority_code,
    }
    if until:
        fields["LB_YXQZ"] = until
    if measures:
        fields["LB_CJCS"] = measures
    request = intake_pb2.SubmitRequest(
        records=[intake_pb2.SubmittedRecord(ref="notice", category=category, fields=fields)]
    )
    with open_client(client_dir, endpoint) as (_client, channel):
        responses = list(intake_pb2_grpc.IntakeStub(channel).Submit(iter([request])))
    result = responses[0].results[0]
    if result.outcome == intake_pb2.SUBMIT_OUTCOME_REFUSED:
        fail(f"notice refused: {result.reason}")
    if as_json:
        emit_json({"record_id": result.record_id, "version": result.version})
    else:
        say(
            f"notice {result.record_id} v{result.version} signed; it is being pushed to every "
            "node below this one"
        )


@notices.command("list")
@as_client_option
@endpoint_option
@click.option("--purpose", required=True, help="Why the notices are needed (audited).")
@json_option
@handle_errors
def notices_list(*, client_dir: Path, endpoint: str | None, purpose: str, as_json: bool) -> None:
    """Notices this client may see at its node."""
    rows: list[records_pb2.RecordView] = []
    with open_client(client_dir, endpoint) as (_client, channel):
        stub = records_pb2_grpc.RecordsStub(channel)
        for category in LIST_CATEGORIES:
            token = ""
            while True:
                page = stub.List(
                    records_pb2.ListRecordsRequest(
                        category=category, purpose=purpose, limit=500, page_token=token
                    )
                )
                rows.extend(page.records)
                token = page.next_page_token
                if not token:
                    break
    if as_json:
        for view in rows:
            emit_json(
                {
                    "record_id": view.record_id,
                    "category": view.category,
                    "issuer": view.issuer,
                    "status": view.status,
                    "fields": dict(view.fields),
                }
            )
        return
    print_table(
        f"{len(rows)} notices",
        ["notice", "list", "issuer", "status", "subject", "document"],
        [
            (
                v.record_id,
                v.category,
                v.issuer,
                v.status,
                v.fields.get("XDR_MC", ""),
                v.fields.get("LB_WSH", ""),
            )
            for v in rows
        ],
        droppable=("document", "issuer"),
    )
