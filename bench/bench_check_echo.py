"""Unary RPC latency and throughput at 1, 8 and 16 concurrent callers, over mutual TLS.

The baseline is a bare grpcio unary echo (bytes in, the same bytes out, no
interceptor, no servicer logic) served from a separate process with the
federation's TLS material and the node's server settings. The measured target
is the Discipline ``Check`` RPC of a real node (``gateway serve`` on SQLite, in
its own process) holding one serious-dishonesty notice about the checked
subject: every call authenticates, reads the subject's records, decides
INTERCEPT, and commits the check, its hit, the hit report to the issuer and
the audit event. Each target is reported against the echo at every
concurrency; more targets are added by appending a :class:`CallTarget` to
:data:`TARGETS`.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from bench.bare_server import ECHO_METHOD, Served, bare_process
from bench.harness import BenchConfig, BenchResult, Figure, Role, Stats, percentile
from bench.lean_check import lean_check_server
from gateway._proto.v1 import discipline_pb2, discipline_pb2_grpc, intake_pb2, intake_pb2_grpc
from gateway.node.config import ServerSettings
from gateway.pki import load_client_credentials
from gateway.rpc.client import open_client_channel
from tests.support.federation import Keystore, init_node, make_keystore, start_node
from tests.support.records import company_code, notice_fields

__all__ = [
    "CALLERS",
    "NAME",
    "TARGETS",
    "CallTarget",
    "check_caller",
    "cpu_s",
    "echo_caller",
    "echo_p50_s",
    "load_calls",
    "run",
    "seed_notice",
    "serve_echo",
]

NAME = "check_echo"
CALLERS = (1, 8, 16)
NODE = "330500"
CLIENT = "bench-caller"
_PAYLOAD = b"91330502MA2B3C4D5E|procurement|bid-check|" + bytes(24)


@dataclass(frozen=True, slots=True)
class CallTarget:
    """Something to call under load.

    Attributes:
        key: stable figure prefix (``echo``, ``check``).
        label: what the report calls it.
        role: ``baseline`` for the echo, ``measured`` for gateway RPCs.
        serve: given the keystore and a scratch folder, a context manager that
            serves the target (in another process) and yields its endpoint and pid.
        caller: given a channel, the function one caller thread calls once per RPC.
    """

    key: str
    label: str
    role: Role
    serve: Callable[[Keystore, Path], AbstractContextManager[Served]]
    caller: Callable[[grpc.Channel], Callable[[], object]]


@contextmanager
def serve_echo(keystore: Keystore, _scratch: Path) -> Iterator[Served]:
    """The echo server in a separate process, with the node's TLS material and worker count."""
    with bare_process("echo", keystore.node(NODE)) as served:
        yield served


def echo_caller(channel: grpc.Channel) -> Callable[[], object]:
    call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(ECHO_METHOD)
    return lambda: call(_PAYLOAD, timeout=10)


def echo_p50_s(call: Callable[[], object], calls: int) -> float:
    """p50 in seconds of ``calls`` sequential echo round trips."""
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        call()
        times.append(time.perf_counter_ns() - start)
    return percentile(times, 0.5) / 1e9


ECHO = CallTarget(
    key="echo",
    label="bare grpcio unary echo",
    role="baseline",
    serve=serve_echo,
    caller=echo_caller,
)

_NOTICE = 1
_CHECKED = company_code(100_000 + _NOTICE)


def seed_notice(keystore: Keystore, endpoint: str) -> None:
    """One serious-dishonesty notice about the checked subject, issued at the node itself."""
    decided = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)
    client = load_client_credentials(keystore.client(NODE, CLIENT))
    channel = open_client_channel(client, endpoint=endpoint)
    try:
        request = intake_pb2.SubmitRequest(
            records=[
                intake_pb2.SubmittedRecord(
                    ref="1",
                    category="serious_dishonesty",
                    fields=notice_fields(_NOTICE, decided=decided),
                )
            ]
        )
        replies = intake_pb2_grpc.IntakeStub(channel).Submit(iter([request]), timeout=30)
        outcomes = [r.outcome for reply in replies for r in reply.results]
    finally:
        channel.close()
    if outcomes != [intake_pb2.SUBMIT_OUTCOME_ACCEPTED]:
        raise RuntimeError(f"seeding the check node failed: {outcomes}")


@contextmanager
def serve_check(keystore: Keystore, scratch: Path) -> Iterator[Served]:
    """A real node (`gateway serve`, SQLite) in its own process, holding one notice."""
    workdir = scratch / "check-node"
    workdir.mkdir(exist_ok=True)
    config = init_node(keystore, NODE, workdir)
    node = start_node(config, NODE, log=workdir / "node.log")
    try:
        seed_notice(keystore, node.endpoint)
        yield Served(node.endpoint, node.process.pid)
    finally:
        node.terminate()


@contextmanager
def serve_lean(keystore: Keystore, scratch: Path) -> Iterator[Served]:
    """The lean check server (bench/lean_check.py) in its own process, holding one notice."""
    with lean_check_server(keystore.node(NODE), NODE, _CHECKED, scratch) as served:
        yield served


def check_caller(channel: grpc.Channel) -> Callable[[], object]:
    stub = discipline_pb2_grpc.DisciplineStub(channel)
    request = discipline_pb2.CheckRequest(subject=_CHECKED, purpose="bench: bid check")

    def call() -> object:
        reply = stub.Check(request, timeout=10)
        if reply.decision != "intercept":
            raise RuntimeError(f"the check answered {reply.decision}, not intercept")
        return reply

    return call


CHECK = CallTarget(
    key="check",
    label="Discipline.Check (intercept, audited)",
    role="measured",
    serve=serve_check,
    caller=check_caller,
)

LEAN = CallTarget(
    key="lean",
    label="lean check (one lookup, group-committed check and audit leaf)",
    role="baseline",
    serve=serve_lean,
    caller=check_caller,
)

TARGETS: list[CallTarget] = [ECHO, LEAN, CHECK]
"""Baselines first: every measured target is compared with the echo and the lean check."""


@dataclass(frozen=True, slots=True)
class _Load:
    p50_us: float
    p99_us: float
    calls_per_s: float


def load_calls(
    call: Callable[[], object] | Sequence[Callable[[], object]], callers: int, per_caller: int
) -> _Load:
    """``callers`` threads each make ``per_caller`` calls, started together.

    Given several call functions (one per server port), caller ``i`` uses the
    ``i``-th modulo their number: the callers are spread evenly over them.
    """
    calls = list(call) if isinstance(call, Sequence) else [call]
    latencies: list[list[int]] = [[] for _ in range(callers)]
    barrier = threading.Barrier(callers + 1)
    errors: list[BaseException] = []

    def caller(mine: list[int], call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            for _ in range(per_caller):
                start = time.perf_counter_ns()
                call()
                mine.append(time.perf_counter_ns() - start)
        except Exception as exc:  # noqa: BLE001  # re-raised by the main thread below
            errors.append(exc)

    threads = [
        threading.Thread(target=caller, args=(latencies[i], calls[i % len(calls)]))
        for i in range(callers)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter_ns()
    for thread in threads:
        thread.join()
    wall_s = (time.perf_counter_ns() - start) / 1e9
    if errors:
        raise RuntimeError(f"a benchmark call failed: {errors[0]!r}") from errors[0]
    every = [ns / 1000 for mine in latencies for ns in mine]
    return _Load(percentile(every, 0.5), percentile(every, 0.99), len(every) / wall_s)


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) process ``pid`` has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class _Samples:
    p50_us: list[float] = field(default_factory=list)
    p99_us: list[float] = field(default_factory=list)
    rate: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)


def _measure(config: BenchConfig, result: BenchResult, keystore: Keystore) -> None:
    """Every target served at once; each repetition calls them in turn (interleaved)."""
    reps = config.pick(5, 2)
    total = config.pick(4_000, 40)
    client = load_client_credentials(keystore.client(NODE, CLIENT))
    with ExitStack() as stack:
        calls: dict[str, tuple[Callable[[], object], int]] = {}
        for target in TARGETS:
            served = stack.enter_context(target.serve(keystore, config.workdir))
            channel = open_client_channel(client, endpoint=served.endpoint)
            stack.callback(channel.close)
            calls[target.key] = (target.caller(channel), served.pid)
            load_calls(calls[target.key][0], 1, config.pick(300, 5))  # warm-up: TLS, first streams
        samples = {(t.key, c): _Samples() for t in TARGETS for c in CALLERS}
        for callers in CALLERS:
            per_caller = max(total // callers, 10)
            for _ in range(reps):
                for target in TARGETS:
                    call, pid = calls[target.key]
                    cpu_before = cpu_s(pid)
                    load = load_calls(call, callers, per_caller)
                    cpu = cpu_s(pid) - cpu_before
                    into = samples[target.key, callers]
                    into.p50_us.append(load.p50_us)
                    into.p99_us.append(load.p99_us)
                    into.rate.append(load.calls_per_s)
                    # A tick is 10 ms: a figure of 0 would only say "less than a tick".
                    into.cpu_us.append(max(cpu, 0.01) * 1e6 / (callers * per_caller))
    for target in TARGETS:
        for callers in CALLERS:
            into = samples[target.key, callers]
            prefix = f"{target.key}_c{callers}"
            who = f"{target.label}, {callers} caller{'s' if callers > 1 else ''}"
            for key, label, unit, values, higher in (
                ("p50", "p50", "µs", into.p50_us, False),
                ("p99", "p99", "µs", into.p99_us, False),
                ("rate", "throughput", "calls/s", into.rate, True),
                ("cpu", "server CPU per call", "µs", into.cpu_us, False),
            ):
                result.add(
                    Figure(
                        f"{prefix}_{key}",
                        f"{who}, {label}",
                        unit,
                        target.role,
                        Stats.of(values),
                        higher_is_better=higher,
                    )
                )


def run(config: BenchConfig) -> BenchResult:
    """Each target at 1, 8 and 16 callers; measured targets against the echo."""
    total = config.pick(4_000, 40)
    result = BenchResult(
        name=NAME,
        title="Check latency and throughput against a bare echo",
        measured=(
            "per target and number of concurrent callers (threads sharing one mutual-TLS "
            f"channel): p50 and p99 latency of about {total:,} unary calls per repetition, and "
            "calls/s over the repetition's wall time, and the server process's CPU (user + "
            "system, from /proc) per call; the targets run side by side and each repetition "
            "calls them in turn. The check is a real node's "
            "Discipline.Check answering INTERCEPT from one stored notice issued at that node, "
            "each call committing the check, its hit and the audit event (SQLite, one writer); "
            "a notice issued elsewhere would add a signed hit report to the issuer's outbox"
        ),
        baseline=(
            "the lean check (bench/lean_check.py: the node's TLS material, worker count and "
            "options; the caller authenticated from its certificate and checked against the "
            "revoked set, one indexed lookup, the check row, its hit and the audit leaf "
            "committed by one writer thread in groups, SQLite WAL with synchronous=FULL, "
            "before the answer; no framework), and "
            "a bare grpcio unary echo of a "
            f"{len(_PAYLOAD)}-byte payload, served from a separate process with the node's "
            f"TLS material, {ServerSettings().workers} worker threads and channel options, "
            "without interceptor"
        ),
    )
    keystore = make_keystore(
        config.workdir / "keys",
        nodes=["000000", "330000", NODE],
        clients=[(NODE, CLIENT, "department", "procurement")],
    )
    _measure(config, result, keystore)
    for target in TARGETS:
        if target.key == "echo":
            continue
        for callers in CALLERS:
            for stat in ("p50", "p99", "rate"):
                result.compare(
                    f"{target.key}_vs_echo_c{callers}_{stat}",
                    f"{target.key}_c{callers}_{stat}",
                    f"echo_c{callers}_{stat}",
                    f"{target.label} over the echo at {callers} callers ({stat})",
                )
            if target.role == "measured":
                result.compare(
                    f"{target.key}_cpu_vs_lean_c{callers}",
                    f"{target.key}_c{callers}_cpu",
                    f"lean_c{callers}_cpu",
                    f"server CPU per call of the {target.label} over the lean check's at "
                    f"{callers} callers, same run (target: 1.5 or less)",
                )
        if target.role == "measured":
            result.headline = result.headline or f"{target.key}_vs_echo_c16_p50"
    result.compare(
        "echo_scaling",
        "echo_c16_rate",
        "echo_c1_rate",
        "echo throughput with 16 callers over 1 caller: what the transport alone scales to "
        "on this machine",
    )
    result.compare(
        "echo_tail_c16",
        "echo_c16_p99",
        "echo_c16_p50",
        "p99 over p50 of the echo at 16 callers: the transport's own tail",
    )
    result.headline = result.headline or "echo_scaling"
    return result
