"""The README's main command: the six-node federation demo runs every flow and says so."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from tests.support.clock import days_until, needs_datefudge, shifted_clock_env
from tests.support.federation import run_gateway

# From about 2027-01-21 the minor penalties of the checked-in samples are past
# their disclosure period; the demo must not care what day it runs on.
LATER_DAY = dt.date(2027, 6, 1)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_demo_runs_every_flow_and_prints_its_summary(tmp_path: Path) -> None:
    result = run_gateway("demo", "--dir", str(tmp_path / "demo"), timeout_s=580)
    _assert_every_flow(result.returncode, result.stdout, result.stderr, tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(600)
@needs_datefudge
def test_the_demo_runs_the_same_on_a_day_long_after_the_samples_were_made(
    tmp_path: Path,
) -> None:
    # Every process of the demo (the command and the six nodes it starts) runs
    # with its wall clock moved past 2027-06-01.
    offset = shifted_clock_env(days_until(LATER_DAY) * 86400)
    result = run_gateway("demo", "--dir", str(tmp_path / "demo"), timeout_s=580, env=offset)
    _assert_every_flow(result.returncode, result.stdout, result.stderr, tmp_path)
    written = re.search(r"samples written for (\d{4}-\d{2}-\d{2})", result.stdout)
    assert written is not None
    assert dt.date.fromisoformat(written.group(1)) >= LATER_DAY


def _assert_every_flow(returncode: int, out: str, err: str, tmp_path: Path) -> None:
    assert returncode == 0, err[-3000:] + out[-3000:]
    assert re.search(r"records accepted at Huzhou.*│\s*70\s", out)
    assert re.search(r"lines refused with a reason\s*│\s*5\s", out)
    assert re.search(r"Huzhou signatures verified at national\s*│\s*70\s", out)
    assert re.search(r"cities holding the national notice\s*│\s*3\s", out)
    # 一处失信、处处受限: a listing filed at a city intercepts at its peer and in another province.
    # (Only the value: the label may wrap when a long path widens the result column.)
    assert "│ intercept / intercept " in out
    # A check on the listed company's legal representative (a citizen number) hits too.
    assert "│ intercept (legal_representative) " in out
    assert "intercept / clear" in out
    # The label may wrap after "no" when the summary table is narrow.
    assert re.search(r"check at Huzhou: serious penalty, no[^│]*│\s*review\s", out)
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
