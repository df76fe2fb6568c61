"""``gateway notices``: disciplinary notices (black and red lists), issued at any node.

A notice is a record of a list category (严重失信主体名单, 失信被执行人, 经营异常名录,
重大税收违法失信主体, 红名单 ...) issued through the node's intake by a
department of a domain that files the list: validated against the catalog,
signed by the node and sent to every node of the federation.
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
from gateway.commands._notice_fields import (
    NamedOptions,
    assemble_fields,
    missing_fields,
    read_fields_json,
)
from gateway.core.catalog import Category
from gateway.core.errors import InputError
from gateway.core.records import CHINA_STANDARD_TIME
from gateway.node.catalog_files import load_packaged_catalog
from gateway.pki import ClientCredentials, load_client_credentials

__all__ = ["notices"]


def _list_category(client: ClientCredentials, code: str) -> Category:
    """The list ``code`` of the catalog the client's node uses (refused as bad usage)."""
    catalog = load_packaged_catalog(client.node_id)
    lists = sorted(c for c, category in catalog.categories.items() if category.kind.is_list)
    if code not in lists:
        raise click.UsageError(
            f"{code!r} is not a list of catalog {catalog.version}; one of: {', '.join(lists)}"
        )
    return catalog.category(code)


def _given(fields_json: str | None, pairs: tuple[str, ...]) -> dict[str, str]:
    """``--fields`` and ``--field CODE=VALUE`` together; a field given two values is refused."""
    given = read_fields_json(fields_json) if fields_json else {}
    for pair in pairs:
        code, sep, value = pair.partition("=")
        code = code.strip()
        if not sep or not code:
            raise InputError(f"--field {pair!r} is not CODE=VALUE")
        if given.get(code, value) != value:
            raise InputError(f"field {code} is given twice: {given[code]!r} and {value!r}")
        given[code] = value
    return given


@click.group()
def notices() -> None:
    """Disciplinary notices (black and red lists): issue at any node, list anywhere."""


@notices.command("fields")
@as_client_option
@click.option("--list", "category", required=True, help="The list (category code).")
@json_option
@handle_errors
def notices_fields(*, client_dir: Path, category: str, as_json: bool) -> None:
    """The fields a list entry takes (required first), as the client's node's catalog says."""
    listed = _list_category(load_client_credentials(client_dir), category)
    specs = sorted(listed.fields, key=lambda s: not s.required)
    if as_json:
        for spec in specs:
            emit_json(
                {"code": spec.code, "label": spec.label, "type": spec.type.value,
                 "required": spec.required}
            )  # fmt: skip
        return
    print_table(
        f"{listed.code} ({listed.label}), filed by: {', '.join(sorted(listed.filing_domains))}",
        ["field", "label", "type", "required"],
        [(s.code, s.label, s.type.value, "yes" if s.required else "") for s in specs],
    )


@notices.command("issue")
@as_client_option
@endpoint_option
@click.option(
    "--list",
    "category",
    required=True,
    help="The list (category code): serious_dishonesty, dishonest_debtor, abnormal_operation, "
    "tax_major_violation, procurement_dishonesty, work_safety_dishonesty, "
    "wage_arrears_dishonesty, statistics_dishonesty, honours ... (`notices fields` shows "
    "the fields of each).",
)
@click.option(
    "--fields",
    "fields_json",
    default=None,
    help="The entry's fields as a JSON object of field code -> text, inline or a file.",
)
@click.option("--field", "pairs", multiple=True, help="One field as CODE=VALUE (repeatable).")
@click.option("--subject", default=None, help="USCC or citizen number of the listed subject.")
@click.option("--name", default=None, help="The subject's name (XDR_MC).")
@click.option("--document", default=None, help="The listing's document number (文书号, 案号).")
@click.option("--reason", default=None, help="Why the subject is listed (列入事由).")
@click.option("--basis", default=None, help="Legal basis of the listing (列入依据).")
@click.option("--authority", default=None, help="Deciding authority (认定机关).")
@click.option("--authority-code", default=None, help="Deciding authority's USCC.")
@click.option("--decided", default=None, help="Decision date YYYY-MM-DD (default: today).")
@click.option(
    "--until", default=None, help="Listed until YYYY-MM-DD (default: the catalog's period)."
)
@click.option("--measures", default=None, help="Measures text (惩戒措施, 激励措施).")
@json_option
@handle_errors
def notices_issue(
    *,
    client_dir: Path,
    endpoint: str | None,
    category: str,
    fields_json: str | None,
    pairs: tuple[str, ...],
    subject: str | None,
    name: str | None,
    document: str | None,
    reason: str | None,
    basis: str | None,
    authority: str | None,
    authority_code: str | None,
    decided: str | None,
    until: str | None,
    measures: str | None,
    as_json: bool,
) -> None:
    """Sign a list entry at this node; it travels to every node of the federation.

    Any list of the catalog, by a department of a domain that files it. The
    fields come from --fields, --field and the named options together.
    """
    listed = _list_category(load_client_credentials(client_dir), category)
    named = NamedOptions(
        subject=subject, name=name, document=document, reason=reason, basis=basis,
        authority=authority, authority_code=authority_code, decided=decided, until=until,
        measures=measures,
    )  # fmt: skip
    try:
        today = dt.datetime.now(CHINA_STANDARD_TIME).date()
        given = _given(fields_json, pairs)
        fields = assemble_fields(listed, given=given, options=named, today=today)
    except InputError as exc:
        raise click.UsageError(str(exc)) from None
    missing = missing_fields(listed, fields)
    if missing:
        raise click.UsageError(f"list {listed.code} needs {', '.join(missing)}")
    request = intake_pb2.SubmitRequest(
        records=[intake_pb2.SubmittedRecord(ref="notice", category=listed.code, fields=fields)]
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
            f"notice {result.record_id} v{result.version} ({listed.label}) signed; it is being "
            "sent to every node of the federation"
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
    with open_client(client_dir, endpoint) as (client, channel):
        stub = records_pb2_grpc.RecordsStub(channel)
        catalog = load_packaged_catalog(client.node_id)
        for category in sorted(c for c, cat in catalog.categories.items() if cat.kind.is_list):
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
