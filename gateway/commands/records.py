"""``gateway records``: what a client may see of its node's records."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click

from gateway._proto.v1 import records_pb2, records_pb2_grpc
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

__all__ = ["records"]

_purpose_option = click.option(
    "--purpose", required=True, help="Why the records are needed (audited)."
)


def _as_dict(view: records_pb2.RecordView) -> dict[str, Any]:
    return {
        "record_id": view.record_id,
        "version": view.version,
        "issuer": view.issuer,
        "category": view.category,
        "subject_type": view.subject_type,
        "status": view.status,
        "issued_at": view.issued_at,
        "expires_at": view.expires_at,
        "fields": dict(view.fields),
        "sd_jwt": view.sd_jwt,
    }


def _date(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).date().isoformat()


def _name(view: records_pb2.RecordView) -> str:
    return view.fields.get("XDR_MC", "") or view.fields.get("XDR_MC#masked", "")


@click.group()
def records() -> None:
    """List, show and export records, redacted to what this client may see."""


@records.command("list")
@as_client_option
@endpoint_option
@click.option("--subject", default="", help="Unified social credit code or citizen number.")
@click.option("--category", default="", help="Catalog category code.")
@click.option("--limit", default=50, show_default=True)
@_purpose_option
@json_option
@handle_errors
def records_list(
    *,
    client_dir: Path,
    endpoint: str | None,
    subject: str,
    category: str,
    limit: int,
    purpose: str,
    as_json: bool,
) -> None:
    """List records (newest versions first within each record)."""
    with open_client(client_dir, endpoint) as (_client, channel):
        stub = records_pb2_grpc.RecordsStub(channel)
        response = stub.List(
            records_pb2.ListRecordsRequest(
                subject=subject, category=category, limit=limit, purpose=purpose
            )
        )
    if as_json:
        for view in response.records:
            emit_json(_as_dict(view))
        return
    print_table(
        f"{len(response.records)} records",
        ["record", "ver", "category", "issuer", "status", "subject", "fields", "until"],
        [
            (
                v.record_id,
                v.version,
                v.category,
                v.issuer,
                v.status,
                _name(v),
                len(v.fields),
                _date(v.expires_at),
            )
            for v in response.records
        ],
        droppable=("fields", "until", "issuer", "ver"),
    )
    if response.next_page_token:
        say("more records: narrow with --subject or --category, or raise --limit")


@records.command("get")
@as_client_option
@endpoint_option
@click.argument("record_id")
@click.option("--version", default=0, help="Version (default: latest).")
@_purpose_option
@json_option
@handle_errors
def records_get(
    *,
    client_dir: Path,
    endpoint: str | None,
    record_id: str,
    version: int,
    purpose: str,
    as_json: bool,
) -> None:
    """Show one record, field by field, as this client may see it."""
    with open_client(client_dir, endpoint) as (_client, channel):
        stub = records_pb2_grpc.RecordsStub(channel)
        view = stub.Get(
            records_pb2.GetRecordRequest(record_id=record_id, version=version, purpose=purpose)
        )
    if as_json:
        emit_json(_as_dict(view))
        return
    print_table(
        f"record {view.record_id} v{view.version} ({view.category}, issued by {view.issuer}, "
        f"{view.status}, shared until {_date(view.expires_at)})",
        ["field", "value"],
        sorted(view.fields.items()),
    )


@records.command("export")
@as_client_option
@endpoint_option
@click.option("--subject", default="", help="Unified social credit code or citizen number.")
@click.option("--category", default="", help="Catalog category code.")
@_purpose_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write SD-JWTs here, one per line (default: stdout).",
)
@handle_errors
def records_export(
    *,
    client_dir: Path,
    endpoint: str | None,
    subject: str,
    category: str,
    purpose: str,
    out: Path | None,
) -> None:
    """Export records as the SD-JWTs this client may see (issuer signature intact)."""
    count = 0
    with open_client(client_dir, endpoint) as (_client, channel):
        stub = records_pb2_grpc.RecordsStub(channel)
        stream = stub.Export(
            records_pb2.ExportRecordsRequest(subject=subject, category=category, purpose=purpose)
        )
        handle = out.open("w", encoding="ascii") if out is not None else None
        try:
            for view in stream:
                line = view.sd_jwt
                if handle is not None:
                    handle.write(line + "\n")
                else:
                    click.echo(line)
                count += 1
        finally:
            if handle is not None:
                handle.close()
    if out is not None:
        say(f"{count} records exported to {out}")


@records.command("where")
@as_client_option
@endpoint_option
@click.argument("record_id")
@json_option
@handle_errors
def records_where(*, client_dir: Path, endpoint: str | None, record_id: str, as_json: bool) -> None:
    """Every node a record went to, and whether each confirmed its latest status."""
    with open_client(client_dir, endpoint) as (_client, channel):
        reply = records_pb2_grpc.RecordsStub(channel).Where(
            records_pb2.WhereRequest(record_id=record_id)
        )
    holders = [
        {
            "node": h.node,
            "version": h.version,
            "delivered_at": h.delivered_at,
            "status_sent": h.status_sent,
            "confirmed_status": h.confirmed_status,
            "confirmed_at": h.confirmed_at,
            "reported_by": h.reported_by,
        }
        for h in reply.holders
    ]
    if as_json:
        emit_json(
            {
                "record_id": reply.record_id,
                "issuer": reply.issuer,
                "status": reply.status,
                "holders": holders,
            }
        )
        return
    print_table(
        f"record {reply.record_id} (issued by {reply.issuer}, {reply.status} here)",
        ["node", "version", "delivered", "confirmed status", "reported by"],
        [
            (
                h.node,
                h.version,
                _date(h.delivered_at),
                h.confirmed_status or "not yet confirmed",
                h.reported_by,
            )
            for h in reply.holders
        ],
        droppable=("reported by", "confirmed status"),
    )


@records.command("status")
@as_client_option
@endpoint_option
@click.argument("record_id")
@click.option(
    "--kind",
    required=True,
    type=click.Choice(["correction", "suspension", "reinstatement", "revocation", "repair"]),
)
@click.option("--reason", required=True, help="Why (kept in the signed statement).")
@click.option("--version", default=0, help="Version (default: latest).")
@json_option
@handle_errors
def records_status(
    *,
    client_dir: Path,
    endpoint: str | None,
    record_id: str,
    kind: str,
    reason: str,
    version: int,
    as_json: bool,
) -> None:
    """At the issuing node: sign a status statement and send it to every holder."""
    with open_client(client_dir, endpoint) as (_client, channel):
        reply = records_pb2_grpc.RecordsStub(channel).SetStatus(
            records_pb2.SetStatusRequest(
                record_id=record_id, version=version, kind=kind, reason=reason
            )
        )
    if as_json:
        emit_json({"statement_id": reply.statement_id, "status": reply.status})
    else:
        say(f"record {record_id} is now {reply.status} (statement {reply.statement_id})")
