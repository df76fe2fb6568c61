"""Write a run's results: ``REPORT.md`` for people, ``results.json`` for tools.

For each benchmark the report says what is measured, what the baseline is,
the figures (median, interquartile range, range, repetitions) and the headline
ratio against the baseline timed in the same run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.harness import BenchResult, Figure, Ratio, Stats

__all__ = ["REPORT_NAME", "RESULTS_NAME", "render_markdown", "to_json", "write_report"]

REPORT_NAME = "REPORT.md"
RESULTS_NAME = "results.json"


def _num(value: float) -> str:
    """Three significant digits, without scientific notation for everyday sizes."""
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _stats_json(stats: Stats) -> dict[str, Any]:
    return {
        "median": stats.median,
        "q1": stats.q1,
        "q3": stats.q3,
        "iqr": stats.iqr,
        "min": stats.minimum,
        "max": stats.maximum,
        "repetitions": len(stats.samples),
        "samples": list(stats.samples),
    }


def _figure_json(figure: Figure) -> dict[str, Any]:
    return {
        "label": figure.label,
        "unit": figure.unit,
        "role": figure.role,
        "higher_is_better": figure.higher_is_better,
        **_stats_json(figure.stats),
    }


def _ratio_json(ratio: Ratio) -> dict[str, Any]:
    return {
        "label": ratio.label,
        "numerator": ratio.numerator,
        "denominator": ratio.denominator,
        "value": ratio.value,
        "meaning": ratio.meaning,
        "per_repetition": None
        if ratio.per_repetition is None
        else _stats_json(ratio.per_repetition),
    }


def to_json(
    results: Sequence[BenchResult], machine: Mapping[str, str], run: Mapping[str, Any]
) -> dict[str, Any]:
    """The results as one JSON document (figures keyed by their stable keys)."""
    return {
        "run": dict(run),
        "machine": dict(machine),
        "benchmarks": {
            result.name: {
                "title": result.title,
                "measured": result.measured,
                "baseline": result.baseline,
                "headline": result.headline,
                "figures": {f.key: _figure_json(f) for f in result.figures},
                "ratios": {r.key: _ratio_json(r) for r in result.ratios},
                "notes": list(result.notes),
                "hot_spots": [
                    {"where": where, "self_s": self_s, "share": share}
                    for where, self_s, share in result.hot_spots
                ],
                "seconds": result.seconds,
                "peak_rss_mb": result.peak_rss_mb,
            }
            for result in results
        },
    }


def _figure_row(figure: Figure) -> str:
    s = figure.stats
    better = "higher" if figure.higher_is_better else "lower"
    return (
        f"| {figure.label} | {figure.role} | **{_num(s.median)}** {figure.unit} "
        f"| {_num(s.q1)} – {_num(s.q3)} | {_num(s.minimum)} – {_num(s.maximum)} "
        f"| {len(s.samples)} | {better} |"
    )


def _ratio_line(ratio: Ratio, *, headline: bool) -> str:
    spread = ""
    if ratio.per_repetition is not None:
        p = ratio.per_repetition
        spread = f" (per repetition: {_num(p.minimum)}–{_num(p.maximum)}, median {_num(p.median)})"
    text = f"{ratio.label} = {_num(ratio.value)}×{spread}: {ratio.meaning}"
    return f"- **Headline: {text}**" if headline else f"- {text}"


def _section(result: BenchResult) -> list[str]:
    lines = [
        f"## {result.title}",
        "",
        f"*Measured:* {result.measured}",
        "",
        f"*Baseline:* {result.baseline}",
        "",
        "| figure | role | median | IQR (q1 – q3) | range | reps | better |",
        "|---|---|---|---|---|---|---|",
        *(_figure_row(f) for f in result.figures),
        "",
    ]
    ordered = sorted(result.ratios, key=lambda r: r.key != result.headline)
    lines += [_ratio_line(r, headline=r.key == result.headline) for r in ordered]
    if result.hot_spots:
        lines += [
            "",
            "Profile (pyinstrument) of one extra repetition: self time per function, every "
            "thread, time spent blocked on locks and queues left out; share of the work:",
            "",
        ]
        lines += ["| where | self time | share |", "|---|---|---|"]
        lines += [
            f"| `{where}` | {self_s * 1000:.0f} ms | {share:.0%} |"
            for where, self_s, share in result.hot_spots
        ]
    if result.notes:
        lines += ["", *(f"- {note}" for note in result.notes)]
    lines += [
        "",
        f"Wall time of this benchmark {result.seconds:.0f} s; peak RSS of the bench process "
        f"so far {result.peak_rss_mb:.0f} MiB.",
        "",
    ]
    return lines


def render_markdown(
    results: Sequence[BenchResult], machine: Mapping[str, str], run: Mapping[str, Any]
) -> str:
    """The human report."""
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python -m bench` (`make bench`); do not edit by hand. Every figure is "
        "the median of several repetitions on a shared, noisy machine, shown with its "
        "interquartile range and range, and every benchmark pairs its figures with a baseline "
        "timed in the same run: the ratio is the result, the absolute numbers only describe "
        "this machine. Each timed call runs after an explicit garbage collection, with the "
        "cycle collector paused, for measured code and baselines alike. Nothing here is "
        "asserted on.",
        "",
        f"Run: {run.get('mode', '?')} mode, started {run.get('started', '?')}, "
        f"{run.get('seconds', 0):.0f} s in all.",
        "",
        "| machine | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in machine.items()),
        "",
        "## Headlines",
        "",
    ]
    for result in results:
        headline = next((r for r in result.ratios if r.key == result.headline), None)
        if headline is not None:
            lines.append(
                f"- **{result.title}**: {headline.label} = {_num(headline.value)}× "
                f"({headline.meaning})"
            )
    lines.append("")
    for result in results:
        lines += _section(result)
    return "\n".join(lines).rstrip() + "\n"


def write_report(
    results: Sequence[BenchResult],
    machine: Mapping[str, str],
    run: Mapping[str, Any],
    out_dir: Path,
) -> tuple[Path, Path]:
    """Write ``REPORT.md`` and ``results.json`` into ``out_dir``; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = out_dir / REPORT_NAME
    report.write_text(render_markdown(results, machine, run), encoding="utf-8")
    data = out_dir / RESULTS_NAME
    data.write_text(
        json.dumps(to_json(results, machine, run), indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return report, data
