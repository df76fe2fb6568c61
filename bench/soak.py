"""Soak: intake, push, checks and idle streams at once, for minutes; memory flat, nothing lost.

``python -m bench.soak --minutes 10 [--out FILE] [--workdir DIR]``

A province (``330000``) and its city (``330500``) run as real ``gateway serve``
processes on loopback over mutual TLS, each on its own SQLite file, with a
signed directory listing both (and the national node, which does not run: the
province has no parent configured, so records stop there). For the whole run, at once:

* **intake**: a department submits batches of penalty records to the city
  continuously (``--records-per-s``), one Submit stream per batch;
* **push**: the city's push worker forwards every accepted record to the
  province (nothing is driven: it is the node's own loop);
* **checks**: departments call ``Discipline.Check`` at the city continuously
  (``--checks-per-s`` over ``--checkers`` threads) about subjects of records
  already submitted;
* **idle streams**: another client holds Submit streams open with nothing on
  them, up to the city's per-client stream limit; the city ends each after
  ``stream_idle_s`` (set to 20 s here) and the client opens it again.

Every 10 s the resident set (``VmRSS`` from ``/proc``) of each node process is
sampled. At the end intake stops, the push drains, and the run reports: every
accepted record at the province exactly once (counted by record id in the
province's store), every check answered, RSS growth from the first third of
the samples to the last (MB and %), and errors by kind. It prints a short table,
writes the JSON result to ``--out`` and exits 1 if anything was lost, a check
went unanswered, an unexpected error occurred, or (runs of 5 minutes or more)
the RSS of a node grew by more than ``--max-growth-pct``.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import grpc

from bench.harness import exec_nodes
from gateway._proto.v1 import discipline_pb2, discipline_pb2_grpc, intake_pb2, intake_pb2_grpc
from gateway.node.local_federation import free_port
from tests.support.cluster import FEDERATION_SETTINGS
from tests.support.federation import (
    Keystore,
    NodeProcess,
    client_channel,
    init_node,
    make_keystore,
    sign_directory,
    start_node,
)
from tests.support.records import company_code, penalty_fields

__all__ = ["SoakResult", "main", "run"]

NATIONAL, PROVINCE, CITY = "000000", "330000", "330500"
SUBMITTER, CHECKER, IDLER = "soak-office", "soak-checker", "soak-idler"
BATCH = 20
SAMPLE_S = 10.0
IDLE_S = 20.0
"""The city's ``stream_idle_s`` in the soak: idle streams are ended (and reopened) often."""
IDLE_STREAMS = 4
"""The city's ``max_streams_per_client`` (the default): the idler holds all it may."""
MEMORY_VERDICT_MIN_S = 300.0
"""Shorter runs report RSS growth without judging it: start-up warming dominates them."""
DRAIN_TIMEOUT_S = 240.0
_MB = 1024 * 1024


@dataclass
class Tally:
    """What one workload did, and its errors by kind (``<workload>:<gRPC status>``)."""

    calls: int = 0
    ok: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def error(self, kind: str) -> None:
        with self.lock:
            self.errors[kind] += 1


@dataclass(frozen=True, slots=True)
class NodeMemory:
    """RSS samples of one node (MB) and growth from the first third to the last."""

    samples_mb: list[float]
    first_third_mb: float
    last_third_mb: float
    growth_mb: float
    growth_pct: float
    peak_mb: float


@dataclass
class SoakResult:
    """The JSON result of a run."""

    minutes: float
    started: str
    load_average_start: list[float]
    load_average_end: list[float]
    submitted: int
    accepted: int
    rejected: int
    at_province: int
    missing: int
    duplicated: int
    drain_s: float
    checks: int
    checks_answered: int
    idle_streams_opened: int
    idle_streams_ended_by_node: int
    errors: dict[str, int]
    memory: dict[str, NodeMemory]
    max_growth_pct: float
    memory_judged: bool
    failures: list[str]

    @property
    def ok(self) -> bool:
        return not self.failures


# --------------------------------------------------------------------------- the federation


@dataclass
class _Federation:
    keystore: Keystore
    root: Path
    nodes: dict[str, NodeProcess]

    def endpoint(self, node: str) -> str:
        return self.nodes[node].endpoint

    def rss_mb(self, node: str) -> float:
        status = Path(f"/proc/{self.nodes[node].process.pid}/status")
        for line in status.read_text(encoding="utf-8").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmRSS for node {node}")

    def store(self, node: str) -> Path:
        return self.root / node / f"{node}.db"


@contextmanager
def _federation(root: Path) -> Iterator[_Federation]:
    """Keys, a signed directory of the province and the city, and both nodes serving."""
    keystore = make_keystore(
        root / "keys",
        nodes=[NATIONAL, PROVINCE, CITY],
        clients=[
            (CITY, SUBMITTER, "department", "procurement"),
            (CITY, CHECKER, "department", "procurement"),
            (CITY, IDLER, "department", "procurement"),
        ],
    )
    ports = {PROVINCE: free_port(), CITY: free_port()}
    # The directory must list the province's parent; the national node does not run,
    # and the province, with no parent configured, pushes nothing up.
    listed = {NATIONAL: free_port(), **ports}
    directory = sign_directory(
        keystore, root / "directory.json", {n: f"127.0.0.1:{p}" for n, p in listed.items()}
    )
    configs: dict[str, Path] = {}
    for node, port in ports.items():
        workdir = root / node
        workdir.mkdir()
        cache = workdir / "directory.json"
        shutil.copy(directory, cache)
        parent = ["--parent", f"127.0.0.1:{ports[PROVINCE]}"] if node == CITY else []
        configs[node] = init_node(
            keystore,
            node,
            workdir,
            listen=f"127.0.0.1:{port}",
            database=f"sqlite:///{workdir / f'{node}.db'}",
            extra=["--directory", str(cache), *parent],
        )
        with configs[node].open("a", encoding="utf-8") as handle:
            handle.write(FEDERATION_SETTINGS)
    with ExitStack() as stack:
        nodes: dict[str, NodeProcess] = {}
        for node in (PROVINCE, CITY):
            env = {"GATEWAY_SERVER__STREAM_IDLE_S": str(IDLE_S)}
            nodes[node] = start_node(configs[node], node, log=root / f"{node}.log", env=env)
            stack.callback(nodes[node].terminate)
        yield _Federation(keystore, root, nodes)


# --------------------------------------------------------------------------- the workloads


def _status(exc: grpc.RpcError) -> str:
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    return str(code.name)


class _Intake(threading.Thread):
    """Submits batches at a steady rate; remembers every accepted record id."""

    def __init__(self, fed: _Federation, stop: threading.Event, per_s: float) -> None:
        super().__init__(name="soak-intake", daemon=True)
        self._fed, self._halt, self._period_s = fed, stop, BATCH / per_s
        self.tally = Tally()
        self.accepted: list[str] = []
        self.rejected = 0
        self.submitted = 0
        self._decided = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)

    def run(self) -> None:
        client = self._fed.keystore.client(CITY, SUBMITTER)
        with client_channel(client, self._fed.endpoint(CITY)) as channel:
            stub = intake_pb2_grpc.IntakeStub(channel)
            due = time.monotonic()
            n = 0
            while not self._halt.is_set():
                records = [
                    intake_pb2.SubmittedRecord(
                        ref=str(n + i),
                        category="admin_penalty",
                        fields=penalty_fields(n + i, decided=self._decided),
                    )
                    for i in range(BATCH)
                ]
                self.tally.calls += 1
                try:
                    replies = stub.Submit(
                        iter([intake_pb2.SubmitRequest(records=records)]), timeout=60
                    )
                    results = [r for reply in replies for r in reply.results]
                except grpc.RpcError as exc:
                    # Whether any of the batch was stored is unknown: its ids are not counted.
                    self.tally.error(f"intake:{_status(exc)}")
                else:
                    self.tally.ok += 1
                    self.submitted += len(records)
                    for result in results:
                        if result.outcome == intake_pb2.SUBMIT_OUTCOME_ACCEPTED:
                            self.accepted.append(result.record_id)
                        else:
                            self.rejected += 1
                n += BATCH
                due += self._period_s
                self._halt.wait(max(0.0, due - time.monotonic()))

    def subject(self, k: int) -> str:
        """The subject of a record already submitted (the k-th, modulo how many there are)."""
        return company_code(k % max(1, self.submitted))


class _Checker(threading.Thread):
    """Checks subjects of submitted records at a steady rate; counts answers."""

    def __init__(
        self, fed: _Federation, stop: threading.Event, per_s: float, intake: _Intake, k: int
    ) -> None:
        super().__init__(name=f"soak-checker-{k}", daemon=True)
        self._fed, self._halt, self._period_s = fed, stop, 1.0 / per_s
        self._intake, self._k = intake, k
        self.tally = Tally()

    def run(self) -> None:
        client = self._fed.keystore.client(CITY, CHECKER)
        with client_channel(client, self._fed.endpoint(CITY)) as channel:
            stub = discipline_pb2_grpc.DisciplineStub(channel)
            due = time.monotonic()
            i = self._k
            while not self._halt.is_set():
                request = discipline_pb2.CheckRequest(
                    subject=self._intake.subject(i * 7919), purpose="soak: bid check"
                )
                self.tally.calls += 1
                try:
                    reply = stub.Check(request, timeout=30)
                except grpc.RpcError as exc:
                    self.tally.error(f"check:{_status(exc)}")
                else:
                    if reply.decision:
                        self.tally.ok += 1
                    else:
                        self.tally.error("check:no-decision")
                i += 1
                due += self._period_s
                self._halt.wait(max(0.0, due - time.monotonic()))


class _Idler(threading.Thread):
    """Holds ``IDLE_STREAMS`` Submit streams open with nothing on them; reopens ended ones."""

    def __init__(self, fed: _Federation, stop: threading.Event) -> None:
        super().__init__(name="soak-idler", daemon=True)
        self._fed, self._halt = fed, stop
        self.tally = Tally()
        self.ended_by_node = 0
        self._lock = threading.Lock()

    def _hold(self, stub: intake_pb2_grpc.IntakeStub) -> None:
        while not self._halt.is_set():
            with self._lock:
                self.tally.calls += 1
            ended = threading.Event()

            def nothing(ended: threading.Event = ended) -> Iterator[intake_pb2.SubmitRequest]:
                # gRPC reads requests on a thread of its own: it must end with the call.
                while not (ended.wait(0.5) or self._halt.is_set()):
                    pass
                yield from ()

            try:
                for _reply in stub.Submit(nothing(), timeout=3600):
                    pass
            except grpc.RpcError as exc:
                if self._halt.is_set():
                    return
                if _status(exc) == "CANCELLED":
                    with self._lock:
                        self.ended_by_node += 1  # the node's idle limit: expected
                    # The node frees the stream's slot as its handler ends, just after
                    # the client sees the end: reopening at once could find it taken.
                    self._halt.wait(0.5)
                else:
                    self.tally.error(f"idle:{_status(exc)}")
                    self._halt.wait(1.0)
            else:
                with self._lock:
                    self.tally.ok += 1
            finally:
                ended.set()

    def run(self) -> None:
        client = self._fed.keystore.client(CITY, IDLER)
        with client_channel(client, self._fed.endpoint(CITY)) as channel:
            stub = intake_pb2_grpc.IntakeStub(channel)
            holders = [
                threading.Thread(target=self._hold, args=(stub,), daemon=True)
                for _ in range(IDLE_STREAMS)
            ]
            for holder in holders:
                holder.start()
            for holder in holders:
                holder.join()


# --------------------------------------------------------------------------- the run


def _province_counts(fed: _Federation) -> collections.Counter[str]:
    """Rows per record id in the province's store (read-only, beside the running node)."""
    conn = sqlite3.connect(f"file:{fed.store(PROVINCE)}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute("SELECT record_id, count(*) FROM record GROUP BY record_id")
        return collections.Counter({str(rid): int(n) for rid, n in rows})
    finally:
        conn.close()


def _memory(samples: list[float]) -> NodeMemory:
    third = max(1, len(samples) // 3)
    first, last = statistics.fmean(samples[:third]), statistics.fmean(samples[-third:])
    return NodeMemory(
        samples_mb=[round(s, 1) for s in samples],
        first_third_mb=round(first, 1),
        last_third_mb=round(last, 1),
        growth_mb=round(last - first, 1),
        growth_pct=round(100.0 * (last - first) / first, 1),
        peak_mb=round(max(samples), 1),
    )


def run(
    *,
    minutes: float,
    workdir: Path,
    records_per_s: float = 40.0,
    checks_per_s: float = 10.0,
    checkers: int = 2,
    max_growth_pct: float = 10.0,
) -> SoakResult:
    """Run the soak for ``minutes`` in ``workdir``; return its figures (nothing asserted)."""
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    load_start = [round(x, 2) for x in os.getloadavg()]
    with _federation(workdir) as fed:
        stop = threading.Event()
        idle_stop = threading.Event()
        intake = _Intake(fed, stop, records_per_s)
        checks = [_Checker(fed, stop, checks_per_s / checkers, intake, k) for k in range(checkers)]
        idler = _Idler(fed, idle_stop)
        rss: dict[str, list[float]] = {PROVINCE: [], CITY: []}
        intake.start()
        idler.start()
        time.sleep(1.0)  # the first batch is in: checks have subjects
        for checker in checks:
            checker.start()
        end = time.monotonic() + minutes * 60
        next_sample = time.monotonic() + SAMPLE_S
        while time.monotonic() < end:
            time.sleep(max(0.0, min(next_sample, end) - time.monotonic()))
            if time.monotonic() >= next_sample:
                for node, samples in rss.items():
                    samples.append(fed.rss_mb(node))
                next_sample += SAMPLE_S
        stop.set()
        for thread in (intake, *checks):
            thread.join(90)
        idle_stop.set()
        idler.join(30)
        drain_started = time.monotonic()
        accepted = set(intake.accepted)
        counts = _province_counts(fed)
        while not accepted <= set(counts) and time.monotonic() - drain_started < DRAIN_TIMEOUT_S:
            time.sleep(1.0)
            counts = _province_counts(fed)
        drain_s = time.monotonic() - drain_started
        for node, samples in rss.items():
            samples.append(fed.rss_mb(node))
    errors: collections.Counter[str] = collections.Counter()
    for tally in (intake.tally, idler.tally, *(c.tally for c in checks)):
        errors.update(tally.errors)
    missing = len(accepted - set(counts))
    duplicated = sum(1 for rid in accepted if counts.get(rid, 0) > 1)
    check_calls = sum(c.tally.calls for c in checks)
    answered = sum(c.tally.ok for c in checks)
    memory = {node: _memory(samples) for node, samples in rss.items()}
    judged = minutes * 60 >= MEMORY_VERDICT_MIN_S
    failures = []
    if missing or duplicated:
        failures.append(f"{missing} accepted records missing, {duplicated} duplicated")
    if len(accepted) != len(intake.accepted):
        failures.append("the city gave one record id twice")
    if answered != check_calls:
        failures.append(f"{check_calls - answered} of {check_calls} checks unanswered")
    if errors:
        failures.append(f"errors: {dict(errors)}")
    if not accepted:
        failures.append("nothing was accepted")
    if judged:
        failures += [
            f"{node} RSS grew {m.growth_pct} % (over {max_growth_pct} %)"
            for node, m in memory.items()
            if m.growth_pct > max_growth_pct
        ]
    return SoakResult(
        minutes=minutes,
        started=started,
        load_average_start=load_start,
        load_average_end=[round(x, 2) for x in os.getloadavg()],
        submitted=intake.submitted,
        accepted=len(intake.accepted),
        rejected=intake.rejected,
        at_province=sum(1 for rid in accepted if rid in counts),
        missing=missing,
        duplicated=duplicated,
        drain_s=round(drain_s, 1),
        checks=check_calls,
        checks_answered=answered,
        idle_streams_opened=idler.tally.calls,
        idle_streams_ended_by_node=idler.ended_by_node,
        errors=dict(errors),
        memory=memory,
        max_growth_pct=max_growth_pct,
        memory_judged=judged,
        failures=failures,
    )


def _table(result: SoakResult) -> str:
    lines = [
        f"soak: {result.minutes:g} min from {result.started}, load average "
        f"{result.load_average_start} -> {result.load_average_end}",
        f"  records   submitted {result.submitted}, accepted {result.accepted}, at the province "
        f"{result.at_province} (missing {result.missing}, duplicated {result.duplicated}), "
        f"drained in {result.drain_s} s",
        f"  checks    {result.checks} made, {result.checks_answered} answered",
        f"  idle      {result.idle_streams_opened} streams opened, "
        f"{result.idle_streams_ended_by_node} ended by the city's idle limit",
        f"  errors    {result.errors or 'none'}",
        "  node     RSS first third   last third   growth          peak",
    ]
    for node, m in result.memory.items():
        lines.append(
            f"  {node}   {m.first_third_mb:>9.1f} MB  {m.last_third_mb:>8.1f} MB  "
            f"{m.growth_mb:>+6.1f} MB {m.growth_pct:>+5.1f} %  {m.peak_mb:>6.1f} MB"
        )
    verdict = "memory judged" if result.memory_judged else "memory reported, not judged (short run)"
    lines.append(
        f"  result    {'OK' if result.ok else 'FAILED: ' + '; '.join(result.failures)} ({verdict})"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    exec_nodes()
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the load runs")
    parser.add_argument("--records-per-s", type=float, default=40.0)
    parser.add_argument("--checks-per-s", type=float, default=10.0)
    parser.add_argument("--checkers", type=int, default=2)
    parser.add_argument("--max-growth-pct", type=float, default=10.0)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "soak.json", help="JSON"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="kept; a temporary one if unset")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        workdir = args.workdir
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="soak-")))
        workdir.mkdir(parents=True, exist_ok=True)
        result = run(
            minutes=args.minutes,
            workdir=workdir,
            records_per_s=args.records_per_s,
            checks_per_s=args.checks_per_s,
            checkers=args.checkers,
            max_growth_pct=args.max_growth_pct,
        )
    document = asdict(result)
    document["ok"] = result.ok
    args.out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(_table(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
