"""``gateway submit``: stream a 双公示 CSV or JSON Lines file to the node's intake.

Lines are read lazily and sent in batches on one bidirectional stream; a bad
line is reported and never stops the good ones. Re-submitting the same file is
safe: records already stored come back as ``duplicate``.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from adapters import ENCODINGS, SourceError, SourceRecord, read_jsonl, read_shuanggongshi_csv
from gateway._proto.v1 import intake_pb2, intake_pb2_grpc
from gateway.commands._common import (
    as_client_option,
    emit_json,
    endpoint_option,
    err_console,
    handle_errors,
    json_option,
    open_client,
    print_table,
    say,
)
from gateway.core.catalog import Catalog
from gateway.core.limits import DEFAULT_LIMITS
from gateway.node.catalog_files import load_packaged_catalog

__all__ = ["submit"]

_OUTCOME = {
    intake_pb2.SUBMIT_OUTCOME_ACCEPTED: "accepted",
    intake_pb2.SUBMIT_OUTCOME_DUPLICATE: "duplicate",
    intake_pb2.SUBMIT_OUTCOME_NEW_VERSION: "new_version",
    intake_pb2.SUBMIT_OUTCOME_REFUSED: "refused",
}


@dataclass(frozen=True, slots=True)
class LineReport:
    line: int
    outcome: str
    record_id: str = ""
    version: int = 0
    reason: str = ""
    field: str = ""
    deadline: str = ""
    """The reporting deadline (双公示), for categories that have one."""
    late_working_days: int = 0
    approximate: bool = False

    @property
    def late(self) -> bool:
        return self.late_working_days > 0


def _labels(catalog: Catalog) -> dict[str, dict[str, str]]:
    """Category -> Chinese label -> field code (labels repeat across categories)."""
    return {
        code: {spec.label: spec.code for spec in cat.fields}
        for code, cat in catalog.categories.items()
    }


def read_source(
    path: Path, *, category: str | None, catalog: Catalog, encoding: str | None = None
) -> Iterator[SourceRecord | SourceError]:
    """The reader for ``path`` by its extension (.csv, or .jsonl / .json)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_shuanggongshi_csv(
            path,
            category=category,
            category_labels=_labels(catalog),
            max_field_chars=DEFAULT_LIMITS.max_field_chars,
            encoding=encoding,
        )
    if suffix in {".jsonl", ".json", ".ndjson"}:
        if encoding not in {None, "utf-8"}:
            raise click.BadParameter("JSON Lines are always UTF-8", param_hint="--encoding")
        return read_jsonl(path, max_line_bytes=DEFAULT_LIMITS.max_record_bytes)
    raise click.BadParameter(
        f"unknown file type {suffix!r}: expected .csv or .jsonl", param_hint="FILE"
    )


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


@click.command()
@as_client_option
@endpoint_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--category", default=None, help="Catalog category (CSV: detected from the header).")
@click.option(
    "--encoding",
    type=click.Choice(ENCODINGS, case_sensitive=False),
    default=None,
    help="Encoding of a CSV file. Default: its byte order mark says, else UTF-8; "
    "a file that is not UTF-8 is refused rather than guessed.",
)
@click.option("--batch", "batch_size", default=500, show_default=True, help="Records per message.")
@click.option("--show", type=click.Choice(["refused", "all"]), default="refused", show_default=True)
@json_option
@handle_errors
def submit(
    *,
    client_dir: Path,
    endpoint: str | None,
    file: Path,
    category: str | None,
    encoding: str | None,
    batch_size: int,
    show: str,
    as_json: bool,
) -> None:
    """Submit 双公示 records from FILE (CSV in the national layout, or JSON Lines).

    Exits 1 when any line was refused; the good lines are stored all the same.
    """
    if not 1 <= batch_size <= DEFAULT_LIMITS.max_batch_records:
        raise click.BadParameter(
            f"must be 1..{DEFAULT_LIMITS.max_batch_records}", param_hint="--batch"
        )
    reports: list[LineReport] = []
    with open_client(client_dir, endpoint) as (client, channel):
        catalog = load_packaged_catalog(client.node_id)
        source = read_source(
            file, category=category, catalog=catalog, encoding=encoding and encoding.lower()
        )
        pending: collections.deque[list[int]] = collections.deque()
        lock = threading.Lock()

        def requests() -> Iterator[intake_pb2.SubmitRequest]:
            batch: list[intake_pb2.SubmittedRecord] = []
            lines: list[int] = []
            for item in source:
                if isinstance(item, SourceError):
                    with lock:
                        reports.append(LineReport(item.line, "refused", reason=item.reason))
                    continue
                batch.append(
                    intake_pb2.SubmittedRecord(
                        ref=str(item.line),
                        category=item.category,
                        fields=item.fields,
                        not_public=item.not_public,
                    )
                )
                lines.append(item.line)
                if len(batch) >= batch_size:
                    pending.append(lines)
                    yield intake_pb2.SubmitRequest(records=batch)
                    batch, lines = [], []
            if batch:
                pending.append(lines)
                yield intake_pb2.SubmitRequest(records=batch)

        total = max(_count_lines(file) - (1 if file.suffix.lower() == ".csv" else 0), 0)
        stub = intake_pb2_grpc.IntakeStub(channel)
        with Progress(
            TextColumn("[bold]submitting[/] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=as_json,
            disable=as_json,
        ) as progress:
            task = progress.add_task(escape(file.name), total=total)
            for response in stub.Submit(requests()):
                pending.popleft()
                for result in response.results:
                    with lock:
                        reports.append(
                            LineReport(
                                line=int(result.ref),
                                outcome=_OUTCOME.get(result.outcome, "unknown"),
                                record_id=result.record_id,
                                version=result.version,
                                reason=result.reason,
                                field=result.field,
                                deadline=result.reporting_deadline,
                                late_working_days=result.late_working_days,
                                approximate=result.lateness_approximate,
                            )
                        )
                progress.update(task, completed=len(reports))
            progress.update(task, completed=len(reports), total=len(reports))
    reports.sort(key=lambda r: r.line)
    _print(reports, file=file, show=show, as_json=as_json)
    if any(r.outcome == "refused" for r in reports):
        raise SystemExit(1)


def _print(reports: list[LineReport], *, file: Path, show: str, as_json: bool) -> None:
    counts = collections.Counter(r.outcome for r in reports)
    if as_json:
        for r in reports:
            emit_json(
                {
                    "line": r.line,
                    "outcome": r.outcome,
                    "record_id": r.record_id,
                    "version": r.version,
                    "reason": r.reason,
                    "field": r.field,
                    "reporting_deadline": r.deadline or None,
                    "late_working_days": r.late_working_days,
                    "lateness_approximate": r.approximate,
                }
            )
        return
    shown = [r for r in reports if show == "all" or r.outcome == "refused" or r.late]
    if shown:
        print_table(
            f"{file.name}: per-line report",
            ["line", "outcome", "record", "field", "reason"],
            [
                (
                    r.line,
                    r.outcome,
                    f"{r.record_id} v{r.version}" if r.record_id else "",
                    r.field,
                    r.reason or _lateness(r),
                )
                for r in shown
            ],
            droppable=("record",),
        )
    summary = ", ".join(
        f"{counts[k]} {k}" for k in ("accepted", "new_version", "duplicate", "refused")
    )
    late = [r for r in reports if r.late]
    if late:
        worst = max(r.late_working_days for r in late)
        summary += f"; {len(late)} reported late (worst {worst} working days, accepted)"
    say(f"{file.name}: {len(reports)} lines: {summary}")


def _lateness(report: LineReport) -> str:
    """What the table says of a stored record reported after its deadline."""
    if not report.late:
        return ""
    about = "about " if report.approximate else ""
    return (
        f"late: {about}{report.late_working_days} working days after the deadline"
        f" {report.deadline} (stored)"
    )
