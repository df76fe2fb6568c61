"""Hostile content through a real node and the real `gateway` command (issue 14, items 6, 7).

In: each bad line of a submitted file gets its own refusal and every good line
is stored; a file in an encoding that is neither UTF-8 nor declared is refused
as a whole, storing none of its text. Out: stored values and logged purposes
that carry rich markup, terminal escapes or spreadsheet formulas are shown as
text, never obeyed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import CITY
from tests.support.federation import Keystore, NodeProcess, init_node, run_gateway, running_node
from tests.support.records import penalty_fields, write_penalty_csv

DECIDED = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=30)


@pytest.fixture
def node(keystore: Keystore, tmp_path: Path) -> Iterator[NodeProcess]:
    config = init_node(keystore, CITY, tmp_path, database=f"sqlite:///{tmp_path / 'node.db'}")
    with running_node(config, CITY, log=tmp_path / "node.log") as process:
        yield process


def _submit(node: NodeProcess, keystore: Keystore, path: Path) -> tuple[int, list[dict[str, Any]]]:
    client = keystore.client(CITY, "procurement-office")
    done = run_gateway(
        "submit", "--as", str(client), "--endpoint", node.endpoint, str(path), "--json"
    )
    assert "Exception iterating requests" not in done.stderr, done.stderr
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()]


def _outcomes(report: list[dict[str, Any]]) -> dict[int, tuple[str, str]]:
    return {r["line"]: (r["outcome"], r["reason"]) for r in report}


def _stored_names(node: NodeProcess, keystore: Keystore) -> list[str]:
    auditor = keystore.client(CITY, "audit-office")
    listed = run_gateway(
        "records", "list", "--as", str(auditor), "--endpoint", node.endpoint,
        "--purpose", "inputs test", "--json", "--limit", "100",
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    return sorted(json.loads(line)["fields"]["XDR_MC"] for line in listed.stdout.splitlines())


def _jsonl(i: int, **override: object) -> str:
    fields: dict[str, object] = {**penalty_fields(i, decided=DECIDED), **override}
    return json.dumps({"category": "admin_penalty", "fields": fields}, ensure_ascii=False)


def test_submit_answers_each_hostile_line_and_stores_every_good_one(
    node: NodeProcess, keystore: Keystore, tmp_path: Path
) -> None:
    jsonl = tmp_path / "records.jsonl"
    jsonl.write_text(
        "\n".join(
            [
                _jsonl(1),
                _jsonl(2).replace('"XDR_MC": "', '"XDR_MC": "\\ud800', 1),
                _jsonl(3).replace('"CF_NR_FK": "10"', '"CF_NR_FK": 1e99999999999999999999'),
                "\ufeff" + _jsonl(4),
                _jsonl(5),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    code, report = _submit(node, keystore, jsonl)
    assert code == 1
    surrogate = "field 'XDR_MC': \\ud800 is a lone surrogate, not a character"
    exponent = "field 'CF_NR_FK': number 1e99999999999999999999 is too large to write out"
    mark = (
        "line 4 starts with a byte order mark (U+FEFF), which belongs only at the start "
        "of a file; were two files joined?"
    )
    assert _outcomes(report) == {
        1: ("accepted", ""),
        2: ("refused", surrogate),
        3: ("refused", exponent),
        4: ("refused", mark),
        5: ("accepted", ""),
    }

    long_cell = "\n".join(["x" * 10] * 30_000)
    csv_path = write_penalty_csv(
        tmp_path / "penalties.csv",
        [
            penalty_fields(6, decided=DECIDED),
            {**penalty_fields(7, decided=DECIDED), "CF_NR": long_cell},
            penalty_fields(8, decided=DECIDED),
        ],
    )
    code, report = _submit(node, keystore, csv_path)
    assert code == 1
    assert _outcomes(report) == {
        2: ("accepted", ""),
        3: ("refused", "malformed CSV: field larger than field limit (131072)"),
        30_003: ("accepted", ""),
    }

    latin1 = tmp_path / "latin1.csv"
    rows = [{**penalty_fields(9, decided=DECIDED), "XDR_MC": "Müller Bäckerei GmbH"}]
    text = write_penalty_csv(tmp_path / "utf8.csv", rows).read_text(encoding="utf-8")
    latin1.write_bytes(text.encode("latin-1", errors="replace"))
    code, report = _submit(node, keystore, latin1)
    assert code == 1
    assert [(r["line"], r["outcome"], r["reason"]) for r in report] == [
        (
            2,
            "refused",
            "line 2 is not valid UTF-8 (byte 0xfc at byte offset 1): the file is read as "
            "UTF-8 unless it starts with a byte order mark or its encoding is declared; "
            "nothing from line 2 on was read",
        )
    ]

    assert _stored_names(node, keystore) == sorted(f"湖州测试企业{i}有限公司" for i in (1, 5, 6, 8))


def test_records_and_audit_show_hostile_values_as_text(
    node: NodeProcess, keystore: Keystore, tmp_path: Path
) -> None:
    markup = "[/] [link=https://evil.invalid]click[/link]"
    formula = "=cmd|' /C calc'!A0"
    jsonl = tmp_path / "hostile.jsonl"
    jsonl.write_text(_jsonl(1, CF_WFXW=markup, CF_NR=formula) + "\n", encoding="utf-8")
    code, report = _submit(node, keystore, jsonl)
    assert (code, [r["outcome"] for r in report]) == (0, ["accepted"])
    record_id = report[0]["record_id"]

    department = keystore.client(CITY, "procurement-office")
    purpose = "check [/] \x1b[2J\x1b]8;;https://evil.invalid\x1b\\"
    get = ("records", "get", record_id, "--as", str(department), "--endpoint", node.endpoint)
    shown = run_gateway(*get, "--purpose", purpose)
    assert shown.returncode == 0, shown.stderr
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in shown.stdout.splitlines()
        if line.startswith("│")
    }
    assert (rows["CF_WFXW"], rows["CF_NR"]) == (markup, formula)
    as_csv = run_gateway(*get, "--purpose", "export", "--csv")
    assert as_csv.returncode == 0, as_csv.stderr
    assert f"CF_NR,'{formula}" in as_csv.stdout.splitlines()
    as_json = run_gateway(*get, "--purpose", "export", "--json")
    assert json.loads(as_json.stdout)["fields"]["CF_NR"] == formula

    auditor = keystore.client(CITY, "audit-office")
    events = run_gateway(
        "audit", "events", "--as", str(auditor), "--endpoint", node.endpoint,
        "--action", "records.get",
    )  # fmt: skip
    assert events.returncode == 0, events.stderr
    assert "\x1b" not in events.stdout
    assert "check [/] \\x1b[2J\\x1b]8;;https://evil.invalid\\x1b\\" in events.stdout
