"""Timing, summary statistics and machine facts shared by every benchmark.

The machine the figures come from is small, shared and noisy, so a figure is
never one timing: it is several repetitions summarised by median, quartiles and
range, and it is always read against a baseline timed in the same run
(:class:`Ratio`). Nothing here asserts on time.
"""

from __future__ import annotations

import gc
import importlib
import os
import platform
import resource
import secrets
import sqlite3
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from tests.support.command_server import EXEC_VARIABLE

__all__ = [
    "BenchConfig",
    "BenchResult",
    "Figure",
    "Ratio",
    "Stats",
    "ThreadProfiles",
    "backends",
    "database_url",
    "exec_nodes",
    "machine_facts",
    "peak_rss_mb",
    "percentile",
    "time_ns",
]

Role = Literal["measured", "baseline"]


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """What a run is asked to do.

    Attributes:
        smoke: tiny sizes and few repetitions, to keep the code from rotting in CI.
        postgres_url: a PostgreSQL server to measure as well (a fresh schema is
            made and dropped per benchmark), or empty for SQLite only.
        workdir: a scratch folder for databases and keys, removed by the caller.
        profile: also profile the hot paths with pyinstrument, when it is installed.
    """

    smoke: bool
    postgres_url: str
    workdir: Path
    profile: bool = False

    def pick(self, full: int, smoke: int) -> int:
        """``full`` in a full run, ``smoke`` in a smoke run."""
        return smoke if self.smoke else full


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear-interpolated percentile of ``values`` (``fraction`` in [0, 1])."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True, slots=True)
class Stats:
    """Summary of one figure over its repetitions."""

    median: float
    q1: float
    q3: float
    minimum: float
    maximum: float
    samples: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        """Summarise ``values`` (one per repetition)."""
        return cls(
            median=statistics.median(values),
            q1=percentile(values, 0.25),
            q3=percentile(values, 0.75),
            minimum=min(values),
            maximum=max(values),
            samples=tuple(values),
        )

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def spread(self) -> float:
        """IQR relative to the median: how noisy the repetitions were."""
        return self.iqr / self.median if self.median else 0.0


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured quantity, e.g. ``records/s`` of intake on SQLite.

    Attributes:
        key: stable identifier, used by ratios and in results.json.
        label: what a reader sees in the report.
        unit: ``records/s``, ``µs``, ``ms``...
        role: ``measured`` (our code) or ``baseline`` (the floor or the peer).
        higher_is_better: True for rates, False for times.
    """

    key: str
    label: str
    unit: str
    role: Role
    stats: Stats
    higher_is_better: bool = False


@dataclass(frozen=True, slots=True)
class Ratio:
    """Measured against baseline: ``numerator`` median / ``denominator`` median.

    When both figures have the same number of repetitions they were interleaved
    (baseline, measured, baseline, measured...), so the per-repetition ratios
    are summarised as well; they are less exposed to the machine's drift.
    """

    key: str
    label: str
    numerator: str
    denominator: str
    value: float
    per_repetition: Stats | None
    meaning: str

    @classmethod
    def between(cls, key: str, numerator: Figure, denominator: Figure, meaning: str) -> Ratio:
        """The ratio of two figures' medians; ``meaning`` says how to read it."""
        paired = None
        a, b = numerator.stats.samples, denominator.stats.samples
        if len(a) == len(b) and all(b):
            paired = Stats.of([x / y for x, y in zip(a, b, strict=True)])
        return cls(
            key=key,
            label=f"{numerator.label} / {denominator.label}",
            numerator=numerator.key,
            denominator=denominator.key,
            value=numerator.stats.median / denominator.stats.median,
            per_repetition=paired,
            meaning=meaning,
        )


@dataclass(slots=True)
class BenchResult:
    """Everything one benchmark reports."""

    name: str
    title: str
    measured: str
    baseline: str
    figures: list[Figure] = field(default_factory=list)
    ratios: list[Ratio] = field(default_factory=list)
    headline: str = ""
    notes: list[str] = field(default_factory=list)
    hot_spots: list[tuple[str, float, float]] = field(default_factory=list)
    """``(function at file:line, self seconds, share of the profiled time)``."""
    seconds: float = 0.0
    peak_rss_mb: float = 0.0

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def figure(self, key: str) -> Figure:
        for figure in self.figures:
            if figure.key == key:
                return figure
        raise KeyError(key)

    def compare(self, key: str, numerator: str, denominator: str, meaning: str) -> Ratio:
        ratio = Ratio.between(key, self.figure(numerator), self.figure(denominator), meaning)
        self.ratios.append(ratio)
        return ratio


def backends(config: BenchConfig) -> list[str]:
    """The store backends to measure: SQLite always, PostgreSQL when configured."""
    return ["sqlite", "postgresql"] if config.postgres_url else ["sqlite"]


@contextmanager
def database_url(config: BenchConfig, backend: str, name: str) -> Iterator[str]:
    """An empty database: a SQLite file in the workdir, or a fresh PostgreSQL schema.

    The schema is selected through ``search_path`` in the URL and dropped afterwards.
    """
    if backend == "sqlite":
        yield f"sqlite:///{config.workdir / f'{name}.db'}"
        return
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    schema = f"bench_{name}_{secrets.token_hex(4)}"
    admin = create_engine(config.postgres_url)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = make_url(config.postgres_url).update_query_dict(
            {"options": f"-csearch_path={schema}"}
        )
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Collect now, then keep the cycle collector out of the timed window.

    Collection is paused so that a cycle collection triggered by earlier
    garbage does not land in whichever measurement happens to be running; it
    is run explicitly before the clock starts instead.
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def time_ns(fn: Callable[[], object]) -> int:
    """Wall time of one call of ``fn`` in nanoseconds, with the collector paused."""
    with collector_paused():
        start = time.perf_counter_ns()
        fn()
        return time.perf_counter_ns() - start


def peak_rss_mb(*, children: bool = False) -> float:
    """Peak resident set size so far, in MiB (Linux reports ``ru_maxrss`` in KiB)."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _postgres_version(url: str) -> str:
    if not url:
        return "not measured (GATEWAY_TEST_POSTGRES_URL unset)"
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SHOW server_version")).scalar_one())
    finally:
        engine.dispose()


def machine_facts(postgres_url: str) -> dict[str, str]:
    """CPU, cores, memory and the versions every figure depends on."""
    return {
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": f"{_memory_gib():.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "grpcio": _version("grpcio"),
        "cryptography": _version("cryptography"),
        "sqlalchemy": _version("SQLAlchemy"),
        "psycopg": _version("psycopg"),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": _postgres_version(postgres_url),
        "sd-jwt": _version("sd-jwt"),
        "pymerkle": _version("pymerkle"),
    }


def _is_waiting(frame: Any) -> bool:
    # Time a thread spends blocked (a future's condition, the writer's queue)
    # is not work; counting it would rank idle waits above the real hot spots.
    # A C function (a lock, a queue get) is waiting when its caller is.
    path = frame.file_path or ""
    if path.endswith(("/threading.py", "/queue.py", "/concurrent/futures/_base.py")):
        return True
    if frame.function == "_run" and path.endswith("gateway/store/writer.py"):
        return True
    return path == "<built-in>" and frame.parent is not None and _is_waiting(frame.parent)


class ThreadProfiles:
    """pyinstrument profilers on one or more threads, merged into one hot-spot list.

    pyinstrument samples only the thread that started it, and intake splits its
    work between the caller (validation) and the store writer (signing and
    inserts), so each thread starts and stops its own profiler here.
    ``available`` is False when pyinstrument is not installed; every method
    then does nothing.
    """

    def __init__(self, *, interval_s: float = 0.0005) -> None:
        try:
            self._module: Any = importlib.import_module("pyinstrument")
        except ImportError:
            self._module = None
        self._interval_s = interval_s
        self._running: dict[int, Any] = {}
        self._sessions: list[Any] = []
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return self._module is not None

    def start_here(self) -> None:
        """Start profiling the calling thread."""
        if self._module is None:
            return
        profiler = self._module.Profiler(interval=self._interval_s)
        profiler.start()
        with self._lock:
            self._running[threading.get_ident()] = profiler

    def stop_here(self) -> None:
        """Stop the profiler the calling thread started."""
        with self._lock:
            profiler = self._running.pop(threading.get_ident(), None)
        if profiler is not None:
            session = profiler.stop()
            with self._lock:
                self._sessions.append(session)

    def hot_spots(self, *, top: int = 10) -> list[tuple[str, float, float]]:
        """The functions with the most self time across every profiled thread.

        Waiting (blocked on a lock or a queue) is left out, so the shares are
        of the work done, whichever thread did it.

        Returns:
            ``(function (file:line), self seconds, share of all working self time)``,
            largest first.
        """
        totals: dict[str, float] = {}
        for session in self._sessions:
            root = session.root_frame()
            stack = [] if root is None else [root]
            while stack:
                frame = stack.pop()
                stack.extend(frame.children)
                if frame.is_synthetic or _is_waiting(frame):
                    continue
                where = f"{frame.function} ({frame.file_path_short}:{frame.line_no})"
                totals[where] = totals.get(where, 0.0) + frame.total_self_time
        work = sum(totals.values())
        ranked = sorted(totals.items(), key=lambda item: item[1], reverse=True)[:top]
        return [(where, seconds, seconds / work if work else 0.0) for where, seconds in ranked]


def exec_nodes() -> None:
    """Start every `gateway` process of this run by exec, never forked from a command server.

    The bench measures nodes as deployed: a `gateway serve` that holds only what it
    imports (its peak RSS is reported), not a copy of the tests' command server
    (:mod:`tests.support.command_server`), which imported every subcommand.
    """
    os.environ[EXEC_VARIABLE] = "1"
