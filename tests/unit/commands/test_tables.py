"""Tables fit the terminal (80 columns), every column with --wide; errors as JSON with --json."""

from __future__ import annotations

import json
from pathlib import Path

from rich.cells import cell_len

from tests.support.federation import run_gateway

EXPLAIN = ("policy", "explain", "--category", "admin_penalty", "--recipient", "department:x")


def _header(out: str) -> list[str]:
    [line] = [line for line in out.splitlines() if line.startswith("┃")]
    return [cell.strip() for cell in line.strip("┃").split("┃")]


def test_at_80_columns_a_table_leaves_out_its_droppable_columns_and_says_which() -> None:
    result = run_gateway(*EXPLAIN, env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(cell_len(line) for line in lines) <= 80
    assert _header(result.stdout) == ["field", "sensitivity", "gets", "rule"]
    assert lines[-1] == "left out to fit 80 columns: why, label (--wide)"


def test_wide_keeps_every_column_whatever_the_terminal() -> None:
    result = run_gateway(*EXPLAIN, "--wide", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    assert _header(result.stdout) == ["field", "label", "sensitivity", "gets", "rule", "why"]
    assert "left out" not in result.stdout


def test_a_wide_terminal_shows_every_column_without_a_note() -> None:
    result = run_gateway(*EXPLAIN, env={"COLUMNS": "250"})
    assert result.returncode == 0, result.stderr
    assert _header(result.stdout) == ["field", "label", "sensitivity", "gets", "rule", "why"]
    assert "left out" not in result.stdout


def _bad_config(tmp_path: Path) -> Path:
    config = tmp_path / "node.toml"
    config.write_text('[node]\nparnet = "127.0.0.1:1"\n', encoding="utf-8")
    return config


TYPO = "unknown key `parnet` in [node]; did you mean `parent`?"


def test_with_json_a_failure_is_one_json_line_on_stderr(tmp_path: Path) -> None:
    result = run_gateway("outbox", "list", "--config", str(_bad_config(tmp_path)), "--json")
    assert (result.returncode, result.stdout) == (1, "")
    [line] = result.stderr.splitlines()
    error = json.loads(line)["error"]
    assert (error["kind"], error["code"]) == ("ConfigurationError", None)
    assert TYPO in error["message"]


def test_without_json_the_same_failure_is_one_plain_line(tmp_path: Path) -> None:
    result = run_gateway("outbox", "list", "--config", str(_bad_config(tmp_path)))
    assert (result.returncode, result.stdout) == (1, "")
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert TYPO in line
