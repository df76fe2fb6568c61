"""What every run of the README's demo must print and leave behind."""

from __future__ import annotations

import re
from pathlib import Path


def assert_every_flow(returncode: int, out: str, err: str, tmp_path: Path) -> None:
    """Every flow's figure in the summary, and no process left running on the demo's folder."""
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
