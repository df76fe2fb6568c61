"""The benchmarks still run: `python -m bench --smoke` end to end, tiny sizes.

Nothing here looks at how fast anything is; it checks that every benchmark
ran, produced positive figures, paired them with a baseline and a headline
ratio, and that the report was written.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import bench_fanout
from bench.__main__ import BENCHMARKS

ROOT = Path(__file__).resolve().parents[2]
_TIMEOUT_S = 600
"""Generous: the machine is shared, and a smoke run takes two to six minutes on it."""

# The module's first test runs the whole smoke (the fixture): give it the bench's own limit.
pytestmark = pytest.mark.timeout(_TIMEOUT_S + 60)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench")
    # GATEWAY_TEST_POSTGRES_URL passes through: when set, the PostgreSQL paths run too.
    # The bench runs in a session of its own, so that on a timeout its node processes
    # (its children and theirs) are ended with it rather than left running.
    process = subprocess.Popen(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = process.communicate(timeout=_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        pytest.fail(f"the smoke run took over {_TIMEOUT_S} s: {stderr[-4000:]}")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, stderr[-4000:]
    return out, json.loads((out / "results.json").read_text(encoding="utf-8"))


def test_every_benchmark_reports_positive_figures(
    smoke_run: tuple[Path, dict[str, Any]],
) -> None:
    _, data = smoke_run
    assert data["run"]["mode"] == "smoke"
    assert set(data["benchmarks"]) == set(BENCHMARKS)
    for name, bench in data["benchmarks"].items():
        assert bench["figures"], name
        for key, figure in bench["figures"].items():
            assert figure["repetitions"] >= 2, (name, key)
            assert figure["min"] > 0, (name, key)
            assert figure["median"] > 0, (name, key)
            assert all(sample > 0 for sample in figure["samples"]), (name, key)


def test_every_benchmark_has_a_baseline_and_a_headline_ratio(
    smoke_run: tuple[Path, dict[str, Any]],
) -> None:
    _, data = smoke_run
    for name, bench in data["benchmarks"].items():
        roles = {figure["role"] for figure in bench["figures"].values()}
        assert "baseline" in roles, name
        headline = bench["ratios"][bench["headline"]]
        assert headline["value"] > 0, name
        assert headline["denominator"] in bench["figures"], name
        assert headline["numerator"] in bench["figures"], name


def test_the_report_names_every_benchmark_and_the_machine(
    smoke_run: tuple[Path, dict[str, Any]],
) -> None:
    out, data = smoke_run
    report = (out / "REPORT.md").read_text(encoding="utf-8")
    assert "smoke mode" in report
    for bench in data["benchmarks"].values():
        assert f"## {bench['title']}" in report
    for fact in ("cpu", "cores", "python", "grpcio", "cryptography", "sqlite"):
        assert data["machine"][fact], fact
        assert f"| {fact} |" in report


def test_fanout_times_every_province_and_city_against_one_round_trip(
    smoke_run: tuple[Path, dict[str, Any]],
) -> None:
    _, data = smoke_run
    bench = data["benchmarks"][bench_fanout.NAME]
    figures = bench["figures"]
    provinces = list(bench_fanout.CITIES)
    cities = [city for province in provinces for city in bench_fanout.CITIES[province]]
    assert {key for key in figures if key.startswith("at_")} == {
        f"at_{node}" for node in [*provinces, *cities]
    }
    headline = bench["ratios"][bench["headline"]]
    assert (headline["numerator"], headline["denominator"]) == ("last_city", "echo")
    assert figures["echo"]["role"] == "baseline"
    assert figures["echo_path"]["samples"] == [
        bench_fanout.HOPS * rtt for rtt in figures["echo"]["samples"]
    ]
    # Each repetition's first and last arrivals are taken from the same repetition's nodes.
    for level, nodes in (("city", cities), ("province", provinces)):
        per_rep = list(zip(*(figures[f"at_{node}"]["samples"] for node in nodes), strict=True))
        assert figures[f"first_{level}"]["samples"] == [min(rep) for rep in per_rep]
        assert figures[f"last_{level}"]["samples"] == [max(rep) for rep in per_rep]
