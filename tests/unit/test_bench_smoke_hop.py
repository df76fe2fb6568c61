"""The hop benchmark still runs: `python -m bench --smoke --only hop`, tiny sizes.

In a file of its own (it takes most of a smoke run) so that it runs beside
test_bench_smoke.py. Nothing here looks at how fast anything is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.bench_smoke import (
    MARKS,
    assert_baselines_and_headlines,
    assert_positive_figures,
    assert_report,
    smoke_fixture,
)

pytestmark = MARKS
smoke_run = smoke_fixture("hop")


def test_hop_reports_positive_figures(smoke_run: tuple[Path, dict[str, Any]]) -> None:
    assert_positive_figures(smoke_run[1], "hop")


def test_hop_has_a_baseline_and_a_headline_ratio(
    smoke_run: tuple[Path, dict[str, Any]],
) -> None:
    assert_baselines_and_headlines(smoke_run[1])


def test_the_report_names_hop_and_the_machine(smoke_run: tuple[Path, dict[str, Any]]) -> None:
    assert_report(*smoke_run)
