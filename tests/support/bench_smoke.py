"""`python -m bench --smoke` run for real, in parts that test files run side by side.

The hop benchmark (six federations of three node processes) takes most of a smoke run;
it runs in a file of its own so that the two test workers share the smoke between them.
Nothing here looks at how fast anything is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import bench_hop
from bench.__main__ import BENCHMARKS
from tests.support.federation import run_in_own_session

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 600
"""Generous: the machine is shared, and a smoke run takes two to six minutes on it."""

PARTS: dict[str, tuple[str, ...]] = {
    "hop": (bench_hop.NAME,),
    "rest": tuple(name for name in BENCHMARKS if name != bench_hop.NAME),
}
"""The smoke's parts, each run by one test file; together every benchmark exactly once."""


def run_smoke(out: Path, part: str) -> dict[str, Any]:
    """Run the smoke of one part into ``out`` and return its results.json."""
    # GATEWAY_TEST_POSTGRES_URL passes through: when set, the PostgreSQL paths run too.
    # In a session of its own: on a timeout its node processes end with it.
    argv = [sys.executable, "-m", "bench", "--smoke", "--only", *PARTS[part], "--out", str(out)]
    try:
        result = run_in_own_session(argv, timeout_s=TIMEOUT_S, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the smoke run took over {TIMEOUT_S} s: {str(exc.stderr)[-4000:]}")
    assert result.returncode == 0, result.stderr[-4000:]
    data: dict[str, Any] = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return data


def smoke_fixture(part: str) -> Any:
    """A module fixture that runs the smoke of ``part`` once: ``(out folder, results)``."""

    @pytest.fixture(scope="module")
    def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
        out = tmp_path_factory.mktemp("bench")
        return out, run_smoke(out, part)

    return smoke_run


MARKS = [pytest.mark.slow, pytest.mark.timeout(TIMEOUT_S + 60)]
"""A smoke file's marks: its first test runs the smoke (the fixture), within the bench's limit."""


def assert_positive_figures(data: dict[str, Any], part: str) -> None:
    """Every benchmark of the part ran, each figure repeated and positive."""
    assert data["run"]["mode"] == "smoke"
    assert set(data["benchmarks"]) == set(PARTS[part])
    for name, bench in data["benchmarks"].items():
        assert bench["figures"], name
        for key, figure in bench["figures"].items():
            assert figure["repetitions"] >= 2, (name, key)
            assert figure["min"] > 0, (name, key)
            assert figure["median"] > 0, (name, key)
            assert all(sample > 0 for sample in figure["samples"]), (name, key)


def assert_baselines_and_headlines(data: dict[str, Any]) -> None:
    """Every benchmark has a baseline figure and a positive headline ratio of its figures."""
    for name, bench in data["benchmarks"].items():
        roles = {figure["role"] for figure in bench["figures"].values()}
        assert "baseline" in roles, name
        headline = bench["ratios"][bench["headline"]]
        assert headline["value"] > 0, name
        assert headline["denominator"] in bench["figures"], name
        assert headline["numerator"] in bench["figures"], name


def assert_report(out: Path, data: dict[str, Any]) -> None:
    """REPORT.md names every benchmark run and the machine's facts."""
    report = (out / "REPORT.md").read_text(encoding="utf-8")
    assert "smoke mode" in report
    for bench in data["benchmarks"].values():
        assert f"## {bench['title']}" in report
    for fact in ("cpu", "cores", "python", "grpcio", "cryptography", "sqlite"):
        assert data["machine"][fact], fact
        assert f"| {fact} |" in report
