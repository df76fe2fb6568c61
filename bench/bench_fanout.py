"""Notice fan-out: one notice issued at national until every city of the federation holds it.

A federation of thirteen `gateway serve` processes on loopback over mutual TLS,
each on its own SQLite file: national ``000000``, three provinces and three
cities under each, started once per run (parents first, each level together).
One repetition issues one fresh serious-dishonesty notice through national's
Intake service (the request ``gateway notices issue`` sends, over an
already-open channel, so no CLI process start is timed) and times, from just
before that call, when each province and each city holds it: national signs
and stores the notice and pushes it to each province; each province verifies
it, stores it, routes it on and pushes it to each of its cities.

Arrival is observed by reading each node's SQLite file from the bench process
(read-only, WAL: the reader never blocks the node's writer) in one poller
thread that sweeps every node still waiting, then pauses
:data:`POLL_INTERVAL_S`. Polling the cities' ``Records.Get`` over mutual TLS
instead, every 5 ms from nine callers, loaded the city processes so much that
it tripled the fan-out it measured in a trial on the two-core machine (every
50 ms: 1.6 times, at a tenth of the resolution); the store probe costs the
nodes nothing. After the timed window every
city is asked once over its already-open mutual-TLS channel (``Records.Get``)
to confirm that it serves the notice, signed by national, to a city client.

The baseline is one bare round trip: the p50 of single-caller unary echo calls
over mutual TLS on loopback to a bare grpcio server in another process (the
echo of :mod:`bench.bench_check_echo`, with a city's TLS material), measured in
every repetition just before the notice is issued.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import statistics
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent import futures
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.bench_check_echo import echo_caller, echo_p50_s, serve_echo
from bench.harness import (
    BenchConfig,
    BenchResult,
    Figure,
    Role,
    Stats,
    collector_paused,
)
from gateway._proto.v1 import intake_pb2, intake_pb2_grpc, records_pb2, records_pb2_grpc
from gateway.node.config import FederationSettings
from gateway.node.local_federation import ClientSpec, LocalFederation
from gateway.pki import load_client_credentials
from gateway.rpc.client import open_client_channel
from tests.support.federation import Keystore
from tests.support.records import notice_fields

__all__ = [
    "CITIES",
    "ECHO_CALLS",
    "HOPS",
    "NAME",
    "NATIONAL",
    "POLL_INTERVAL_S",
    "run",
    "start_level",
]

NAME = "fanout"
NATIONAL = "000000"
CITIES: dict[str, tuple[str, ...]] = {
    "320000": ("320100", "320200", "320500"),
    "330000": ("330100", "330200", "330500"),
    "440000": ("440100", "440300", "440600"),
}
"""Three cities under each of three provinces (Jiangsu, Zhejiang, Guangdong)."""
PROVINCES = tuple(CITIES)
HOPS = 2
"""Pushes on the path of any one city: national -> province -> city."""
ECHO_CALLS = 200
"""Single-caller echo calls per repetition; their p50 is the repetition's round trip."""
POLL_INTERVAL_S = 0.002
"""Pause between two sweeps of the stores still waiting for the notice."""
ISSUER = "bench-credit"
READER = "bench-auditor"
CATEGORY = "serious_dishonesty"
PURPOSE = "bench: notice fan-out"
_FANOUT_TIMEOUT_S = 60.0
_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 30.0
# The defaults, except that the directory refresh with its catch-up pull and the
# expiry sweep stay out of the timed window: every node gets the notice by push.
_SETTINGS = FederationSettings(sync_interval_s=600.0, expiry_interval_s=600.0)


def _cities() -> list[str]:
    return [city for province in PROVINCES for city in CITIES[province]]


def _nodes() -> list[str]:
    """Every node, parents first."""
    return [NATIONAL, *PROVINCES, *_cities()]


@dataclass
class _Federation:
    """The running federation and the bench's open channels into it."""

    local: LocalFederation
    intake: intake_pb2_grpc.IntakeStub
    readers: dict[str, records_pb2_grpc.RecordsStub] = field(default_factory=dict)

    def store(self, node: str) -> Path:
        return self.local.database(node)


def start_level(local: LocalFederation, nodes: Sequence[str]) -> None:
    """Start ``nodes`` together; each start waits (bounded) until its node listens."""
    with futures.ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        for started in [pool.submit(local.start, node) for node in nodes]:
            started.result(timeout=2 * _START_TIMEOUT_S)


@contextmanager
def _federation(root: Path) -> Iterator[_Federation]:
    """Build and start the federation, open the bench's channels; stop every node after."""
    clients = [ClientSpec(NATIONAL, ISSUER, "department", "procurement")]
    clients += [ClientSpec(city, READER, "auditor") for city in _cities()]
    local = LocalFederation.create(root, _nodes(), clients, settings=_SETTINGS)
    with ExitStack() as stack:
        # Registered before the first start, so a failed start still stops the others.
        stack.callback(local.stop_all, _STOP_TIMEOUT_S)
        for level in ([NATIONAL], list(PROVINCES), _cities()):
            start_level(local, level)
        issuer = open_client_channel(load_client_credentials(local.client(NATIONAL, ISSUER)))
        stack.callback(issuer.close)
        federation = _Federation(local, intake_pb2_grpc.IntakeStub(issuer))
        for city in _cities():
            reader = open_client_channel(load_client_credentials(local.client(city, READER)))
            stack.callback(reader.close)
            federation.readers[city] = records_pb2_grpc.RecordsStub(reader)
        yield federation


def _issue(federation: _Federation, number: int) -> str:
    """Issue notice ``number`` at national; returns its record id once national stored it."""
    decided = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)
    request = intake_pb2.SubmitRequest(
        records=[
            intake_pb2.SubmittedRecord(
                ref="notice", category=CATEGORY, fields=notice_fields(number, decided=decided)
            )
        ]
    )
    replies = federation.intake.Submit(iter([request]), timeout=30)
    results = [r for reply in replies for r in reply.results]
    if [r.outcome for r in results] != [intake_pb2.SUBMIT_OUTCOME_ACCEPTED]:
        raise RuntimeError(f"national refused bench notice {number}: {results}")
    return results[0].record_id


@dataclass
class _Poller:
    """One thread sweeping the stores of the waiting nodes until each holds the record."""

    stores: dict[str, sqlite3.Connection]
    record_id: list[str] = field(default_factory=list)
    """Empty until the issuing call returns the id."""
    abandon: threading.Event = field(default_factory=threading.Event)
    """Set when the issuing call failed: there is nothing to wait for."""
    arrived: dict[str, float] = field(default_factory=dict)
    """``perf_counter`` when each node was first seen holding the record."""
    sweeps: int = 0
    """Sweeps made once the record id was known."""

    def run(self, deadline: float) -> None:
        waiting = dict(self.stores)
        while waiting and not self.abandon.is_set():
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"after {_FANOUT_TIMEOUT_S:.0f} s, nodes {sorted(waiting)} lack the notice"
                )
            if self.record_id:
                self.sweeps += 1
                for node, db in list(waiting.items()):
                    query = "SELECT 1 FROM record WHERE record_id = ?"
                    # fetchall: the statement runs to its end, so no read stays open.
                    if db.execute(query, (self.record_id[0],)).fetchall():
                        self.arrived[node] = time.perf_counter()
                        del waiting[node]
            time.sleep(POLL_INTERVAL_S)


@dataclass(frozen=True, slots=True)
class _Fanout:
    """Seconds from just before the issuing call."""

    record_id: str
    issued_s: float
    """Until national's Intake acknowledged the notice (signed and durably stored)."""
    arrived_s: dict[str, float]
    """Until each province and city was first seen holding it."""
    sweep_s: float
    """Mean time between two sweeps of the poller: how late an arrival may be seen."""


def _fanout(
    federation: _Federation,
    stores: dict[str, sqlite3.Connection],
    pool: futures.Executor,
    number: int,
) -> _Fanout:
    """Issue notice ``number`` and time its arrival at every province and city."""
    poller = _Poller(stores)
    watching = pool.submit(poller.run, time.monotonic() + _FANOUT_TIMEOUT_S)
    begin = time.perf_counter()
    try:
        poller.record_id.append(_issue(federation, number))
    except BaseException:
        poller.abandon.set()
        raise
    issued = time.perf_counter()
    watching.result(timeout=_FANOUT_TIMEOUT_S + 10)
    done = max(poller.arrived.values())
    return _Fanout(
        record_id=poller.record_id[0],
        issued_s=issued - begin,
        arrived_s={node: when - begin for node, when in poller.arrived.items()},
        sweep_s=(done - issued) / max(poller.sweeps, 1),
    )


def _confirm(federation: _Federation, record_id: str) -> None:
    """Every city serves the notice, as issued by national, to a city client (untimed)."""
    for city, stub in federation.readers.items():
        view = stub.Get(
            records_pb2.GetRecordRequest(record_id=record_id, purpose=PURPOSE), timeout=10
        )
        if (view.record_id, view.issuer, view.category) != (record_id, NATIONAL, CATEGORY):
            raise RuntimeError(f"city {city} serves {view.record_id} by {view.issuer}")


@dataclass
class _Series:
    """Per-repetition samples, in milliseconds."""

    echo: list[float] = field(default_factory=list)
    issued: list[float] = field(default_factory=list)
    first_city: list[float] = field(default_factory=list)
    median_city: list[float] = field(default_factory=list)
    last_city: list[float] = field(default_factory=list)
    first_province: list[float] = field(default_factory=list)
    last_province: list[float] = field(default_factory=list)
    sweep: list[float] = field(default_factory=list)
    by_node: dict[str, list[float]] = field(default_factory=dict)

    def add(self, echo_s: float, fanout: _Fanout) -> None:
        ms = {node: seconds * 1000 for node, seconds in fanout.arrived_s.items()}
        cities = sorted(ms[city] for city in _cities())
        provinces = sorted(ms[province] for province in PROVINCES)
        self.echo.append(echo_s * 1000)
        self.issued.append(fanout.issued_s * 1000)
        self.first_city.append(cities[0])
        self.median_city.append(statistics.median(cities))
        self.last_city.append(cities[-1])
        self.first_province.append(provinces[0])
        self.last_province.append(provinces[-1])
        self.sweep.append(fanout.sweep_s * 1000)
        for node, value in ms.items():
            self.by_node.setdefault(node, []).append(value)


def _measure(config: BenchConfig, reps: int) -> _Series:
    """Start the federation and the echo once; warm up; then ``reps`` paired repetitions."""
    series = _Series()
    with ExitStack() as stack:
        federation = stack.enter_context(_federation(config.workdir / "federation"))
        keystore = Keystore(federation.local.keys)
        echo_endpoint = stack.enter_context(serve_echo(keystore, config.workdir)).endpoint
        echo_channel = open_client_channel(
            load_client_credentials(federation.local.client(_cities()[0], READER)),
            endpoint=echo_endpoint,
        )
        stack.callback(echo_channel.close)
        stores = {
            node: stack.enter_context(
                closing(
                    sqlite3.connect(
                        f"file:{federation.store(node)}?mode=ro", uri=True, check_same_thread=False
                    )
                )
            )
            for node in [*PROVINCES, *_cities()]
        }
        pool = stack.enter_context(futures.ThreadPoolExecutor(max_workers=1))
        echo = echo_caller(echo_channel)
        # Warm-up: TLS handshakes on every channel (the bench's and the nodes' peer
        # channels), the nodes' statement caches, the echo server's threads.
        echo_p50_s(echo, ECHO_CALLS)
        _confirm(federation, _fanout(federation, stores, pool, 1).record_id)
        for rep in range(reps):
            with collector_paused():
                echo_s = echo_p50_s(echo, ECHO_CALLS)
                fanout = _fanout(federation, stores, pool, 2 + rep)
            _confirm(federation, fanout.record_id)
            series.add(echo_s, fanout)
    return series


def _report(result: BenchResult, series: _Series) -> None:
    rows: list[tuple[str, str, Role, list[float]]] = [
        ("last_city", "fan-out to the last of 9 cities", "measured", series.last_city),
        ("median_city", "fan-out to the median city", "measured", series.median_city),
        ("first_city", "fan-out to the first city", "measured", series.first_city),
        ("last_province", "fan-out to the last of 3 provinces", "measured", series.last_province),
        ("first_province", "fan-out to the first province", "measured", series.first_province),
        ("issued", "issue at national (Intake acknowledged)", "measured", series.issued),
        ("echo", "bare grpcio mTLS unary echo round trip, p50", "baseline", series.echo),
        (
            "echo_path",
            f"{HOPS} bare round trips (one per hop on a city's path)",
            "baseline",
            [HOPS * value for value in series.echo],
        ),
    ]
    rows += [
        (f"at_{node}", f"arrival at node {node}", "measured", series.by_node[node])
        for node in [*PROVINCES, *_cities()]
    ]
    for key, label, role, samples in rows:
        result.add(Figure(key, label, "ms", role, Stats.of(samples)))
    result.compare(
        "last_city_vs_echo",
        "last_city",
        "echo",
        "time until all nine cities hold a notice issued at national, in bare round trips",
    )
    result.compare(
        "last_city_vs_path",
        "last_city",
        "echo_path",
        f"the same against one bare round trip per hop of a city's path ({HOPS} hops): what "
        "signing, verifying, storing and the serial pushes add over the transport",
    )
    result.compare(
        "first_city_vs_path",
        "first_city",
        "echo_path",
        f"the first city, whose path waits for no other push, against {HOPS} bare round trips",
    )
    result.compare(
        "last_city_vs_first_city",
        "last_city",
        "first_city",
        "last city over first city: what the slowest path adds to the fastest (each node "
        "pushes to its recipients concurrently, one sender thread per recipient, but the "
        "three nodes of a level still share the machine's two cores)",
    )
    result.headline = "last_city_vs_echo"


def run(config: BenchConfig) -> BenchResult:
    """Fan-out of one notice to three provinces and nine cities, against one bare round trip."""
    reps = config.pick(30, 2)
    series = _measure(config, reps)
    sweep = statistics.median(series.sweep)
    result = BenchResult(
        name=NAME,
        title="Notice fan-out (national -> 3 provinces -> 9 cities, real processes)",
        measured=(
            "milliseconds from just before national's Intake call issuing one fresh "
            "serious-dishonesty notice until each province and each city holds it: thirteen "
            "`gateway serve` processes (SQLite, default push settings) over mutual TLS on "
            "loopback, started once, one notice per repetition after a warm-up notice. Each "
            "hop verifies the DSSE batch and the record, stores it, routes it on and pushes it "
            "to the next level. Arrival is seen by one bench thread reading every waiting "
            f"node's SQLite file (read-only) in sweeps {POLL_INTERVAL_S * 1000:.0f} ms apart "
            f"(a sweep every {sweep:.1f} ms, median over the repetitions), so each arrival is "
            "seen at most one sweep late, about half a sweep on average; afterwards every city "
            "confirms over mutual TLS (Records.Get, untimed) that it serves the notice"
        ),
        baseline=(
            f"p50 of {ECHO_CALLS} sequential calls to a bare grpcio unary echo served from a "
            "separate process with a node's TLS material (bench_check_echo's echo), one caller "
            "on one open mutual-TLS channel, measured right before each repetition's notice; "
            f"and {HOPS} of those round trips, one per hop of a city's path"
        ),
    )
    _report(result, series)
    order = sorted(series.by_node, key=lambda node: statistics.median(series.by_node[node]))
    result.notes.append(
        "Every node pushes to all its due recipients at once (gateway/node/push.py: a pool of "
        "sender threads, one recipient each); before that change it pushed to them one after "
        "another, and the last city waited about 4x as long as the first (bench/NOTES.md). "
        "Nodes by median arrival in this run: " + ", ".join(order) + ". The "
        "directory refresh and catch-up pull run every 600 s here instead of every 5 s, so "
        "every notice arrives by push."
    )
    return result
