"""The README's main command: the six-node federation demo runs every flow and says so."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.federation import run_gateway


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_demo_runs_every_flow_and_prints_its_summary(tmp_path: Path) -> None:
    result = run_gateway("demo", "--dir", str(tmp_path / "demo"), timeout_s=580)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    out = result.stdout
    assert re.search(r"records accepted at Huzhou.*│\s*70\s", out)
    assert re.search(r"lines refused with a reason\s*│\s*5\s", out)
    assert re.search(r"Huzhou signatures verified at national\s*│\s*70\s", out)
    assert re.search(r"cities holding the national notice\s*│\s*3\s", out)
    assert "intercept / clear" in out
    assert "disputed / intercept / clear" in out
    assert re.search(r"holders confirming the revocation\s*│\s*2\s", out)
    # The demo stops every node it started: no process still runs on its folder.
    folder = str(tmp_path / "demo")
    leftovers = [
        proc.name
        for proc in Path("/proc").iterdir()
        if proc.name.isdigit() and folder in _cmdline(proc)
    ]
    assert leftovers == []


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
