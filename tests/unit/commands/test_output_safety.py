"""What the commands print is safe to look at (issue 14, item 7).

Hostile values, rich markup, terminal escape sequences and spreadsheet
formulas, go through the shared output helpers every command uses: tables,
plain lines and errors show them as text, CSV neutralises formulas, JSON stays
exact.
"""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from gateway.commands._common import emit_json, fail, json_option, print_table, say

CLOSING_TAG = "[/]"
LINK = "[link=https://evil.invalid]click[/link]"
# OSC 8 hyperlink, then clear the screen: what a hostile purpose would send.
ESCAPES = "\x1b]8;;https://evil.invalid\x1b\\x\x1b[2J\x9b31m\u202e"
SHOWN_ESCAPES = "\\x1b]8;;https://evil.invalid\\x1b\\x\\x1b[2J\\x9b31m\\u202e"


def test_table_shows_markup_as_text_and_escapes_control_characters(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_table(
        f"record R1 ({CLOSING_TAG})",
        ["field", "value"],
        [("BZ", CLOSING_TAG), ("CF_SY", LINK), ("purpose", ESCAPES)],
    )
    out = capsys.readouterr().out
    assert f"record R1 ({CLOSING_TAG})" in out
    cells = [line.split("│") for line in out.splitlines() if line.startswith("│")]
    rows = {cell[1].strip(): cell[2].strip() for cell in cells}
    assert rows == {"BZ": CLOSING_TAG, "CF_SY": LINK, "purpose": SHOWN_ESCAPES}
    assert "\x1b" not in out
    assert "\x9b" not in out


def test_plain_lines_and_errors_show_values_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    say(f"objection {CLOSING_TAG} is {LINK}")
    with pytest.raises(SystemExit) as exited:
        fail(f"field BZ: {CLOSING_TAG} {ESCAPES}")
    assert exited.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == f"objection {CLOSING_TAG} is {LINK}\n"
    assert captured.err == f"error: field BZ: {CLOSING_TAG} {SHOWN_ESCAPES}\n"


@click.command()
@json_option
def _show(*, as_json: bool) -> None:
    row = ("=cmd|' /C calc'!A0", "+1", "-2", "@SUM(A1)", "\tx", "\ry", "safe", 3, CLOSING_TAG)
    if as_json:
        emit_json(list(row))
        return
    print_table("hostile cells", [f"c{i}" for i in range(len(row))], [row])
    say("1 row")


def test_csv_prefixes_cells_that_start_like_a_formula_and_json_stays_exact() -> None:
    runner = CliRunner()
    as_csv = runner.invoke(_show, ["--csv"])
    assert as_csv.exit_code == 0, as_csv.output
    assert as_csv.stdout_bytes.decode() == (
        "c0,c1,c2,c3,c4,c5,c6,c7,c8\r\n"
        "'=cmd|' /C calc'!A0,'+1,'-2,'@SUM(A1),'\tx,\"'\ry\",safe,3,[/]\r\n"
    )
    assert as_csv.stderr == "1 row\n"
    as_json = runner.invoke(_show, ["--json"])
    assert json.loads(as_json.stdout) == [
        "=cmd|' /C calc'!A0", "+1", "-2", "@SUM(A1)", "\tx", "\ry", "safe", 3, CLOSING_TAG,
    ]  # fmt: skip
