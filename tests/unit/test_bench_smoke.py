"""The benchmarks still run: `python -m bench --smoke` end to end, tiny sizes.

Every benchmark but hop here (hop: test_bench_smoke_hop.py, run beside this file).
Nothing here looks at how fast anything is; it checks that every benchmark
ran, produced positive figures, paired them with a baseline and a headline
ratio, and that the report was written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import bench_fanout
from bench.__main__ import BENCHMARKS
from tests.support.bench_smoke import (
    MARKS,
    PARTS,
    assert_baselines_and_headlines,
    assert_positive_figures,
    assert_report,
    smoke_fixture,
)

pytestmark = MARKS
smoke_run = smoke_fixture("rest")


def test_the_smoke_parts_run_every_benchmark_once() -> None:
    names = [name for part in PARTS.values() for name in part]
    assert sorted(names) == sorted(BENCHMARKS)


def test_every_benchmark_reports_positive_figures(
    smoke_run: tuple[Path, dict[str, Any]],
) -> None:
    assert_positive_figures(smoke_run[1], "rest")


def test_every_benchmark_has_a_baseline_and_a_headline_ratio(
    smoke_run: tuple[Path, dict[str, Any]],
) -> None:
    assert_baselines_and_headlines(smoke_run[1])


def test_the_report_names_every_benchmark_and_the_machine(
    smoke_run: tuple[Path, dict[str, Any]],
) -> None:
    assert_report(*smoke_run)


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
