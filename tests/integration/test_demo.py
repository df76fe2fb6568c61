"""The README's main command: the six-node federation demo runs every flow and says so.

The same demo on a day long after the samples were made: test_demo_later_day.py (a file
of its own so that the two runs go to the two test workers side by side).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.demo import assert_every_flow
from tests.support.federation import run_gateway


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_demo_runs_every_flow_and_prints_its_summary(tmp_path: Path) -> None:
    result = run_gateway("demo", "--dir", str(tmp_path / "demo"), timeout_s=580)
    assert_every_flow(result.returncode, result.stdout, result.stderr, tmp_path)
