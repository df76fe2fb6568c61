"""The hop benchmark's figures: the samples of one (backend, size) and how they are reported.

:mod:`bench.bench_hop` measures (a federation, its repetitions, the baselines on the
same records); here each repetition's samples are kept (:class:`Series`) and turned
into the report's figures and comparisons, the hub on N cores on paper included.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.harness import BenchResult, Figure, Role, Stats

__all__ = [
    "CITY",
    "NATIONAL",
    "NODES",
    "PAPER_CORES",
    "PROVINCE",
    "Series",
    "new_series",
    "on_paper",
    "report",
    "report_workers",
]

NATIONAL, PROVINCE, CITY = "000000", "330000", "330500"
NODES = (NATIONAL, PROVINCE, CITY)
"""Started parents first."""
PAPER_CORES = (8, 32)
"""The node sizes estimated on paper from the measured CPU per record."""


@dataclass
class Series:
    """Per-repetition samples of one (backend, size)."""

    province: list[float] = field(default_factory=list)
    national: list[float] = field(default_factory=list)
    intake: list[float] = field(default_factory=list)
    ceiling: list[float] = field(default_factory=list)
    transport: list[float] = field(default_factory=list)
    lean_hub_us: list[float] = field(default_factory=list)
    """CPU µs per record of the lean hub (verify, store, forward) on the same records."""
    lean_root_us: list[float] = field(default_factory=list)
    """CPU µs per record of the lean root (verify, store, no forward)."""
    rss: dict[str, list[float]] = field(default_factory=dict)
    cpu_us: dict[str, list[float]] = field(default_factory=dict)
    """CPU µs per record of each node (every process of it), and of the three together
    under ``"all"``."""
    own_us: dict[str, list[float]] = field(default_factory=dict)
    """CPU µs per record of each node's own process (the serial part of a hub)."""
    workers_us: dict[str, list[float]] = field(default_factory=dict)
    """CPU µs per record of each node's worker processes together."""
    postgres_cpu_us: dict[str, list[float]] = field(default_factory=dict)
    """On PostgreSQL, CPU µs per record of the server's backends serving each node."""


def new_series() -> Series:
    return Series(
        rss={node: [] for node in NODES},
        cpu_us={node: [] for node in (*NODES, "all")},
        own_us={node: [] for node in NODES},
        workers_us={node: [] for node in NODES},
    )


def report(result: BenchResult, backend: str, size: int, series: Series) -> None:
    at = f"{backend}, {size:,} records"
    suffix = f"{backend}_{size}"
    rows: list[tuple[str, str, str, Role, list[float]]] = [
        ("province", "city intake -> province", "records/s", "measured", series.province),
        ("national", "city intake -> national", "records/s", "measured", series.national),
        ("intake", "city intake accepted", "records/s", "measured", series.intake),
        ("ceiling", "bare Ed25519 verify", "records/s", "baseline", series.ceiling),
        ("transport", "bare grpcio mTLS stream", "records/s", "baseline", series.transport),
    ]
    rows += [
        (f"rss_{node}", f"peak RSS of node {node}", "MiB", "measured", samples)
        for node, samples in series.rss.items()
    ]
    rows += [
        (
            f"cpu_{node}",
            "CPU per record, the three nodes together"
            if node == "all"
            else f"CPU per record in node {node}",
            "µs",
            "measured",
            samples,
        )
        for node, samples in series.cpu_us.items()
    ]
    rows += [
        (
            f"postgres_cpu_{node}",
            f"CPU per record of the PostgreSQL backends serving node {node}",
            "µs",
            "measured",
            samples,
        )
        for node, samples in series.postgres_cpu_us.items()
    ]
    rows.append(
        (
            "verify_us",
            "bare Ed25519 verify, per record",
            "µs",
            "baseline",
            [1e6 / rate for rate in series.ceiling],
        )
    )
    rows += [
        (
            "lean_hub_us",
            "lean hub (verify, store, forward), CPU per record",
            "µs",
            "baseline",
            series.lean_hub_us,
        ),
        (
            "lean_root_us",
            "lean root (verify, store), CPU per record",
            "µs",
            "baseline",
            series.lean_root_us,
        ),
    ]
    for key, label, unit, role, samples in rows:
        result.add(
            Figure(
                f"{key}_{suffix}",
                f"{label}, {at}",
                unit,
                role,
                Stats.of(samples),
                higher_is_better=unit == "records/s",
            )
        )
    result.compare(
        f"province_vs_ceiling_{suffix}",
        f"province_{suffix}",
        f"ceiling_{suffix}",
        "share of the verify-bound ceiling that one hop reaches end to end (target: 0.5 or more)",
    )
    result.compare(
        f"province_vs_transport_{suffix}",
        f"province_{suffix}",
        f"transport_{suffix}",
        "share of the bare transport's rate that one hop reaches",
    )
    result.compare(
        f"cpu_vs_verify_{suffix}",
        f"cpu_all_{suffix}",
        f"verify_us_{suffix}",
        "CPU the three nodes spend per record (user + system, from the first request until "
        "national holds every record) in bare verifications: on two cores, half the "
        "single-thread verify rate needs 4 or less even with both cores busy all the time",
    )
    result.compare(
        f"province_cpu_vs_lean_{suffix}",
        f"cpu_{PROVINCE}_{suffix}",
        f"lean_hub_us_{suffix}",
        "CPU the province spends per record over the lean hub's, same records, same run "
        "(target: 1.5 or less); the lean floor is on SQLite on every backend",
    )
    result.compare(
        f"national_cpu_vs_lean_{suffix}",
        f"cpu_{NATIONAL}_{suffix}",
        f"lean_root_us_{suffix}",
        "CPU the national node spends per record over the lean root's (target: 1.5 or less)",
    )
    result.compare(
        f"national_vs_ceiling_{suffix}",
        f"national_{suffix}",
        f"ceiling_{suffix}",
        "share of the verify-bound ceiling that two hops reach end to end",
    )


def on_paper(own_us: float, workers_us: float, cores: int) -> float:
    """Records/s of a hub on ``cores`` cores: its node process is the serial part (at most one
    core, one interpreter lock), the workers share the other cores, and the one that runs out
    first bounds the rate."""
    return min(1e6 / own_us, (cores - 1) * 1e6 / workers_us)


def report_workers(
    result: BenchResult, backend: str, size: int, workers: int, series: Series
) -> None:
    """The figures of the federation whose province and national check in ``workers``
    processes, against the same repetitions without workers, and the hub on paper."""
    at = f"{backend}, {size:,} records, {workers} receive worker{'s' if workers > 1 else ''}"
    suffix = f"{backend}_{size}_w{workers}"
    base = f"{backend}_{size}"
    rows: list[tuple[str, str, str, list[float]]] = [
        ("province", "city intake -> province", "records/s", series.province),
        ("national", "city intake -> national", "records/s", series.national),
    ]
    for node in (PROVINCE, NATIONAL):
        rows += [
            (
                f"cpu_{node}",
                f"CPU per record in node {node}, every process",
                "µs",
                series.cpu_us[node],
            ),
            (
                f"cpu_own_{node}",
                f"CPU per record in node {node}'s own process",
                "µs",
                series.own_us[node],
            ),
            (
                f"cpu_workers_{node}",
                f"CPU per record in node {node}'s workers together",
                "µs",
                series.workers_us[node],
            ),
        ]
    rows.append(("cpu_all", "CPU per record, the three nodes together", "µs", series.cpu_us["all"]))
    own, checks = series.own_us[PROVINCE], series.workers_us[PROVINCE]
    rows += [
        (
            f"paper_{cores}",
            f"on paper: records/s of a {cores}-core hub (node process serial, workers on "
            f"the other {cores - 1} cores)",
            "records/s",
            [on_paper(o, w, cores) for o, w in zip(own, checks, strict=True)],
        )
        for cores in PAPER_CORES
    ]
    for key, label, unit, samples in rows:
        result.add(
            Figure(
                f"{key}_{suffix}",
                f"{label}, {at}",
                unit,
                "measured",
                Stats.of(samples),
                higher_is_better=unit == "records/s",
            )
        )
    result.compare(
        f"province_w{workers}_vs_w0_{base}",
        f"province_{suffix}",
        f"province_{base}",
        f"one hop's rate with {workers} receive workers over the same hop checking in process, "
        "interleaved in the same run (on two cores shared by three nodes and the client, the "
        "workers find little idle CPU)",
    )
    result.compare(
        f"province_cpu_w{workers}_vs_w0_{base}",
        f"cpu_{PROVINCE}_{suffix}",
        f"cpu_{PROVINCE}_{base}",
        f"the province's CPU per record, every process, with {workers} receive workers over "
        "without: what sending the records to the workers and back costs",
    )
