"""``gateway report timeliness``: the credit office's duties, as figures.

Operator's commands: they run on the node's host with its configuration
(``--config``) and store; every report is audited as the operator.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from gateway.app.operator import operator_session
from gateway.commands._common import (
    emit_json,
    handle_errors,
    json_option,
    local_time,
    print_table,
    say,
)
from gateway.commands.outbox import config_option
from gateway.node.timeliness import Month, timeliness_report

__all__ = ["report"]


@click.group()
def report() -> None:
    """The credit office's reports (operator, on the node's host)."""


@report.command("timeliness")
@config_option
@click.option(
    "--month",
    "month_text",
    default=None,
    metavar="YYYY-MM",
    help="The calendar month (China Standard Time); default: the current month.",
)
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
