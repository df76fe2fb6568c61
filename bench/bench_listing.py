"""一处失信、处处受限: a listing filed at a city until a check in another province intercepts.

A federation of seven `gateway serve` processes on loopback over mutual TLS,
each on its own SQLite file: national ``000000``, Zhejiang ``330000`` with
Huzhou ``330500`` and Lishui ``331100``, Hunan ``430000`` with Changsha
``430100`` and Zhuzhou ``430200``, started once per run. One repetition has the
Huzhou court file one fresh 失信被执行人 listing through Huzhou's Intake service
(over an already-open channel: no command start is timed) and times, from just
before that call, when a procurement department's ``Check`` at Changsha first
answers INTERCEPT. The listing takes four pushes on the way: Huzhou ->
Zhejiang -> national -> Hunan -> Changsha, each hop verifying Huzhou's
signature, storing it and routing it on.

Changsha is asked over one open mutual-TLS channel every
:data:`POLL_INTERVAL_S`, by one caller: a check costs the city about a
millisecond, so the polling loads it little, and an arrival is seen at most one
poll late.

The baseline is one bare round trip: the p50 of single-caller unary echo calls
over mutual TLS on loopback to a bare grpcio server in another process (the
echo of :mod:`bench.bench_check_echo`), measured in every repetition just
before the listing is filed; and four of them, one per hop of the path.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.bench_check_echo import echo_caller, echo_p50_s, serve_echo
from bench.bench_fanout import start_level
from bench.harness import (
    BenchConfig,
    BenchResult,
    Figure,
    Stats,
    collector_paused,
    machine_facts,
    peak_rss_mb,
)
from bench.report import write_report
from gateway._proto.v1 import discipline_pb2, discipline_pb2_grpc, intake_pb2, intake_pb2_grpc
from gateway.node.config import FederationSettings
from gateway.node.local_federation import ClientSpec, LocalFederation
from gateway.pki import load_client_credentials
from gateway.rpc.client import open_client_channel
from tests.support.federation import Keystore
from tests.support.records import company_code, debtor_fields

__all__ = ["HOPS", "NAME", "NODES", "POLL_INTERVAL_S", "main", "run"]

NAME = "listing"
NATIONAL, ZHEJIANG, HUZHOU, LISHUI = "000000", "330000", "330500", "331100"
HUNAN, CHANGSHA, ZHUZHOU = "430000", "430100", "430200"
NODES = (NATIONAL, ZHEJIANG, HUNAN, HUZHOU, LISHUI, CHANGSHA, ZHUZHOU)
"""Parents first."""
HOPS = 4
"""Pushes on the path: Huzhou -> Zhejiang -> national -> Hunan -> Changsha."""
ECHO_CALLS = 100
POLL_INTERVAL_S = 0.005
COURT = "bench-court"
CHECKER = "bench-procurement"
PURPOSE = "bench: listing propagation"
_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 30.0
# The defaults, except that the directory refresh with its catch-up pull and the
# expiry sweep stay out of the timed window: every listing arrives by push.
_SETTINGS = FederationSettings(sync_interval_s=600.0, expiry_interval_s=600.0)


@dataclass
class _Federation:
    local: LocalFederation
    intake: intake_pb2_grpc.IntakeStub
    checks: discipline_pb2_grpc.DisciplineStub


@contextmanager
def _federation(root: Path) -> Iterator[_Federation]:
    """Start the seven nodes (parents first) and open the bench's channels; stop all after."""
    clients = [
        ClientSpec(HUZHOU, COURT, "department", "court"),
        ClientSpec(CHANGSHA, CHECKER, "department", "procurement"),
    ]
    local = LocalFederation.create(root, NODES, clients, settings=_SETTINGS)
    with ExitStack() as stack:
        # Registered before the first start, so a failed start still stops the others.
        stack.callback(local.stop_all, _STOP_TIMEOUT_S)
        for level in ([NATIONAL], [ZHEJIANG, HUNAN], [HUZHOU, LISHUI, CHANGSHA, ZHUZHOU]):
            start_level(local, level)
        court = open_client_channel(load_client_credentials(local.client(HUZHOU, COURT)))
        stack.callback(court.close)
        checker = open_client_channel(load_client_credentials(local.client(CHANGSHA, CHECKER)))
        stack.callback(checker.close)
        yield _Federation(
            local,
            intake_pb2_grpc.IntakeStub(court),
            discipline_pb2_grpc.DisciplineStub(checker),
        )


def _decision(federation: _Federation, number: int) -> str:
    request = discipline_pb2.CheckRequest(
        subject=company_code(100_000 + number), purpose=PURPOSE, case_id=f"bench-{number}"
    )
    return federation.checks.Check(request, timeout=10).decision


@dataclass(frozen=True, slots=True)
class _Timing:
    filed_ms: float
    """Until Huzhou's Intake acknowledged the listing (signed and durably stored)."""
    intercept_ms: float
    """Until a check at Changsha first answered INTERCEPT."""


def _file_and_wait(federation: _Federation, number: int) -> _Timing:
    """File listing ``number`` at Huzhou; time it until Changsha intercepts."""
    if _decision(federation, number) != "clear":
        raise RuntimeError(f"subject of listing {number} is listed before it was filed")
    decided = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)
    request = intake_pb2.SubmitRequest(
        records=[
            intake_pb2.SubmittedRecord(
                ref=str(number),
                category="dishonest_debtor",
                fields=debtor_fields(number, decided=decided),
            )
        ]
    )
    begin = time.perf_counter()
    results = [
        r for reply in federation.intake.Submit(iter([request]), timeout=30) for r in reply.results
    ]
    filed = time.perf_counter()
    if [r.outcome for r in results] != [intake_pb2.SUBMIT_OUTCOME_ACCEPTED]:
        raise RuntimeError(f"Huzhou refused bench listing {number}: {results}")
    while _decision(federation, number) != "intercept":
        if time.perf_counter() - begin > _TIMEOUT_S:
            raise TimeoutError(f"listing {number} did not intercept at Changsha in {_TIMEOUT_S} s")
        time.sleep(POLL_INTERVAL_S)
    done = time.perf_counter()
    return _Timing((filed - begin) * 1000, (done - begin) * 1000)


@dataclass
class _Series:
    echo: list[float] = field(default_factory=list)
    filed: list[float] = field(default_factory=list)
    intercept: list[float] = field(default_factory=list)


def _measure(config: BenchConfig, reps: int) -> _Series:
    series = _Series()
    with ExitStack() as stack:
        federation = stack.enter_context(_federation(config.workdir / "federation"))
        echo_endpoint = stack.enter_context(
            serve_echo(Keystore(federation.local.keys), config.workdir)
        ).endpoint
        echo_channel = open_client_channel(
            load_client_credentials(federation.local.client(CHANGSHA, CHECKER)),
            endpoint=echo_endpoint,
        )
        stack.callback(echo_channel.close)
        echo = echo_caller(echo_channel)
        # Warm-up: TLS handshakes on the bench's and the nodes' peer channels.
        echo_p50_s(echo, ECHO_CALLS)
        _file_and_wait(federation, 1)
        for rep in range(reps):
            with collector_paused():
                echo_s = echo_p50_s(echo, ECHO_CALLS)
                timing = _file_and_wait(federation, 2 + rep)
            series.echo.append(echo_s * 1000)
            series.filed.append(timing.filed_ms)
            series.intercept.append(timing.intercept_ms)
    return series


def run(config: BenchConfig) -> BenchResult:
    """Filing at Huzhou until INTERCEPT at Changsha, against one bare round trip per hop."""
    reps = config.pick(20, 2)
    return _result(_measure(config, reps), reps)


def _result(series: _Series, reps: int) -> BenchResult:
    result = BenchResult(
        name=NAME,
        title="City listing to another province (Huzhou -> Changsha, 7 real processes)",
        measured=(
            "milliseconds from just before the Huzhou court's Intake call filing one fresh "
            "失信被执行人 listing until a procurement check at Changsha (Hunan) answers "
            "INTERCEPT: seven `gateway serve` processes (SQLite, default push settings) over "
            f"mutual TLS on loopback, started once, {reps} listings one after another after a "
            "warm-up listing; four hops (Huzhou -> Zhejiang -> national -> Hunan -> Changsha), "
            "each verifying the DSSE batch and Huzhou's signature, storing and routing on; "
            f"Changsha is asked every {POLL_INTERVAL_S * 1000:.0f} ms over one open channel"
        ),
        baseline=(
            f"p50 of {ECHO_CALLS} sequential calls to a bare grpcio unary echo in a separate "
            "process (bench_check_echo's echo), one caller on one open mutual-TLS channel, "
            f"measured right before each listing; and {HOPS} of those, one per hop"
        ),
    )
    for key, label, samples in (
        ("intercept", "filing at Huzhou -> INTERCEPT at Changsha", series.intercept),
        ("filed", "filing at Huzhou (Intake acknowledged)", series.filed),
    ):
        result.add(Figure(key, label, "ms", "measured", Stats.of(samples)))
    result.add(
        Figure("echo", "bare grpcio mTLS unary echo, p50", "ms", "baseline", Stats.of(series.echo))
    )
    result.add(
        Figure(
            "echo_path",
            f"{HOPS} bare round trips (one per hop)",
            "ms",
            "baseline",
            Stats.of([HOPS * value for value in series.echo]),
        )
    )
    result.compare(
        "intercept_vs_path",
        "intercept",
        "echo_path",
        f"filing to INTERCEPT in another province against {HOPS} bare round trips: what "
        "signing, verifying, storing, routing and the push worker's wake-ups add per hop",
    )
    result.compare(
        "intercept_vs_echo",
        "intercept",
        "echo",
        "filing to INTERCEPT in another province, in bare round trips",
    )
    result.headline = "intercept_vs_path"
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.bench_listing [--reps N] [--out DIR]``: run it alone, write its report.

    Not one of ``python -m bench``'s benchmarks: starting seven processes would
    take the smoke run past its time limit on a two-core machine.
    """
    parser = argparse.ArgumentParser(prog="python -m bench.bench_listing", description=__doc__)
    parser.add_argument("--reps", type=int, default=20, help="timed listings (default 20)")
    parser.add_argument("--out", type=Path, required=True, help="report folder")
    args = parser.parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    begin = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gateway-bench-listing-") as scratch:
        config = BenchConfig(smoke=False, postgres_url="", workdir=Path(scratch))
        result = _result(_measure(config, args.reps), args.reps)
    result.seconds = time.perf_counter() - begin
    result.peak_rss_mb = peak_rss_mb()
    run_facts = {
        "mode": "full",
        "started": started.isoformat(timespec="seconds"),
        "seconds": result.seconds,
        "benchmarks": [NAME],
    }
    report, data = write_report([result], machine_facts(""), run_facts, args.out)
    sys.stdout.write(f"wrote {report} and {data}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
