"""The hop benchmark still runs: `python -m bench --smoke --only hop`, tiny sizes.

In a file of its own (it takes most of a smoke run) so that it runs beside
test_bench_smoke.py. Nothing here looks at how fast anything is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.bench_smoke import (
    TIMEOUT_S,
    assert_baselines_and_headlines,
    assert_positive_figures,
    assert_report,
    run_smoke,
)

# The module's first test runs the smoke (the fixture): give it the bench's own limit.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(TIMEOUT_S + 60)]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench")
    return out, run_smoke(out, "hop")


def test_hop_reports_positive_figures(smoke_run: tuple[Path, dict[str, Any]]) -> None:
    assert_positive_figures(smoke_run[1], "hop")


def test_hop_has_a_baseline_and_a_headline_ratio(
    smoke_run: tuple[Path, dict[str, Any]],
) -> None:
    assert_baselines_and_headlines(smoke_run[1])


def test_the_report_names_hop_and_the_machine(smoke_run: tuple[Path, dict[str, Any]]) -> None:
    assert_report(*smoke_run)
