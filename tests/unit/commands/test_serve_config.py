"""``gateway serve`` with a bad config file: one line naming the key, exit 1, no traceback."""

from __future__ import annotations

from pathlib import Path

from tests.support.federation import run_gateway

BAD = """\
[node]
id = "330500"
keys = "keys"
listen = "127.0.0.1:0"
database = "sqlite:///node.db"
parnet = "127.0.0.1:7003"
"""


def test_serve_refuses_a_misspelt_key_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text(BAD, encoding="utf-8")
    result = run_gateway("serve", "--config", "bad.toml", cwd=tmp_path, timeout_s=60)
    assert result.returncode == 1
    assert result.stderr == (
        "error: bad.toml: unknown key `parnet` in [node]; did you mean `parent`?\n"
    )
    assert result.stdout == ""


def test_serve_refuses_a_wrong_type_in_one_line_however_long_the_path(tmp_path: Path) -> None:
    folder = tmp_path / ("deep-" * 20)
    folder.mkdir()
    config = folder / "node.toml"
    config.write_text(BAD.replace("parnet", "parent") + '\n[server]\ngrace_s = "soon"\n')
    result = run_gateway("serve", "--config", str(config), timeout_s=60)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: {config}: wrong type for `grace_s` in [server]: "
        "expected a valid number, got 'soon'\n"
    )
