"""Hop throughput: signed 双公示 records from city intake to verified-and-stored upstream.

A real federation of three `gateway serve` processes on loopback over mutual
TLS (national ``000000``, province ``330000``, city ``330500``), each on its
own store (a SQLite file, or a fresh PostgreSQL schema when configured). One
repetition submits fresh penalty records to the city's Intake service in
streamed batches of 500 and times, from the first request, until the province
and then the national node hold every record: each hop verifies the DSSE batch
and every record strictly, stores it and forwards it, redacted, upstream.

Two baselines are timed in every repetition, on the very records the province
stored (the city's SD-JWTs as redacted for the province):

* the verify-bound ceiling: a bare pyca Ed25519 verification of each record's
  issuer-signed JWT, one thread, nothing else;
* the transport: the same record bytes streamed over a bare grpcio mutual-TLS
  channel to a sink in another process, one call per batch of 500 and one
  acknowledgement each (as the push worker does), with no signing or storage.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Engine, create_engine, text

from bench.bare_server import SINK_METHOD, bare_server
from bench.harness import (
    BenchConfig,
    BenchResult,
    backends,
    database_url,
)
from bench.hop_figures import (
    CITY,
    NATIONAL,
    NODES,
    PROVINCE,
    Series,
    new_series,
    report,
    report_workers,
)
from bench.lean_hop import LeanHop, lean_batches
from bench.postgres_cpu import PostgresCpu, with_application_name
from bench.process_cpu import TreeCpu, tree_cpu
from gateway._proto.v1 import federation_pb2, intake_pb2, intake_pb2_grpc
from gateway.node.local_federation import free_port
from gateway.pki import load_node_credentials, parent_of
from gateway.rpc.peer import open_peer_channel
from tests.support.federation import (
    Keystore,
    NodeProcess,
    client_channel,
    init_node,
    make_keystore,
    run_gateway,
    start_node,
)
from tests.support.records import penalty_fields

__all__ = [
    "BATCH",
    "NAME",
    "SIZES",
    "SMOKE_SIZES",
    "SMOKE_WORKER_COUNTS",
    "WORKER_COUNTS",
    "run",
]

NAME = "hop"
CLIENT = "bench-office"
CATEGORY = "admin_penalty"
BATCH = 500
SIZES = (1_000, 10_000, 100_000)
"""Records per repetition in a full run: the scaling curve."""
SMOKE_SIZES = (50, 200)
WORKER_COUNTS = (0, 1, 2)
"""``[receive] workers`` of the province and national in the federations timed side by side."""
SMOKE_WORKER_COUNTS = (0, 2)
"""The same in a smoke run: without workers, and with a pool of more than one (each
federation is three more node processes to start, the longest part of the test suite's smoke)."""
WORKER_SIZE = 10_000
"""The size at which the federations with receive workers are timed in a full run (the
largest of a smoke run): timing them at every size would triple the benchmark's time."""
_POLL_S = 0.05
_POLL_SHARE = 0.01
"""Arrival polls wait at least this share of the time elapsed so far (see _wait_count)."""
# The nodes' federation settings: the defaults, except that the directory
# refresh and expiry sweep stay out of the timed window.
_FEDERATION = """
[federation]
sync_interval_s = 30.0
expiry_interval_s = 600.0
"""


@dataclass
class _Federation:
    """Three running nodes, their store URLs and a counting engine per store."""

    keystore: Keystore
    root: Path
    endpoints: dict[str, str]
    processes: dict[str, NodeProcess] = field(default_factory=dict)
    engines: dict[str, Engine] = field(default_factory=dict)
    postgres: dict[str, PostgresCpu] = field(default_factory=dict)
    """On PostgreSQL, the CPU of the server's backends serving each node."""

    def count(self, node: str) -> int:
        with self.engines[node].connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM record")).scalar_one())

    def stored_sd_jwts(self, node: str, pattern: str) -> list[str]:
        """The SD-JWTs ``node`` stored whose document number is LIKE ``pattern``."""
        query = text("SELECT sd_jwt FROM record WHERE document_number LIKE :p ORDER BY record_id")
        with self.engines[node].connect() as conn:
            return [str(row[0]) for row in conn.execute(query, {"p": pattern})]

    def cpu(self, node: str) -> TreeCpu:
        """CPU so far of the node's process and of its children (the receive workers)."""
        return tree_cpu(self.processes[node].process.pid)

    def postgres_cpu_s(self) -> dict[str, float]:
        """CPU seconds PostgreSQL's backends have used for each node so far (empty on SQLite)."""
        return {node: cpu.sample() for node, cpu in self.postgres.items()}

    def peak_rss_mb(self, node: str) -> float:
        """VmHWM of the node's process: its peak resident set so far."""
        status = Path(f"/proc/{self.processes[node].process.pid}/status")
        for line in status.read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmHWM for node {node}")


@contextmanager
def _federation(
    config: BenchConfig, keystore: Keystore, backend: str, tag: str, workers: int
) -> Iterator[_Federation]:
    """A fresh directory, fresh stores and three `gateway serve` processes; the province and
    national check received records in ``workers`` worker processes each (0: in process)."""
    root = config.workdir / tag
    root.mkdir()
    ports = {node: free_port() for node in NODES}
    directory = root / "directory.json"
    args = ["directory", "sign", "--keys", str(keystore.root), "--out", str(directory)]
    for node in NODES:
        args += ["--node", f"{node}=127.0.0.1:{ports[node]}"]
    signed = run_gateway(*args)
    if signed.returncode != 0:
        raise RuntimeError(f"directory sign failed: {signed.stderr}")
    federation = _Federation(keystore, root, {n: f"127.0.0.1:{p}" for n, p in ports.items()})
    with ExitStack() as stack:
        for node in NODES:
            url = stack.enter_context(database_url(config, backend, f"hop{tag}_{node}"))
            # The node's connections (its workers' too) name themselves, so that the server's
            # CPU for it is seen; the bench's own counting engine connects without the name.
            application = f"bench-hop-{tag}-{node}"
            node_url = url
            if backend == "postgresql":
                node_url = with_application_name(url, application)
            workdir = root / node
            workdir.mkdir()
            cache = workdir / "directory.json"
            shutil.copy(directory, cache)
            parent = parent_of(node)
            node_config = init_node(
                keystore,
                node,
                workdir,
                database=node_url,
                listen=federation.endpoints[node],
                extra=[
                    "--directory",
                    str(cache),
                    *(["--parent", federation.endpoints[parent]] if parent else []),
                ],
            )
            with node_config.open("a", encoding="utf-8") as handle:
                handle.write(_FEDERATION)
                if node != CITY:
                    handle.write(f"\n[receive]\nworkers = {workers}\n")
            federation.engines[node] = create_engine(url)
            stack.callback(federation.engines[node].dispose)
            if backend == "postgresql":
                federation.postgres[node] = PostgresCpu(federation.engines[node], application)
            # Nodes are started in NODES order, parents first.
            federation.processes[node] = start_node(node_config, node, log=root / f"{node}.log")
            stack.callback(_stop, federation.processes[node])
        yield federation


def _stop(process: NodeProcess) -> None:
    if process.process.poll() is None:
        process.terminate()


def _requests(start: int, count: int) -> Iterator[intake_pb2.SubmitRequest]:
    # Recently decided, so that intake does not refuse them as out of their period.
    decided = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=30)
    for first in range(start, start + count, BATCH):
        yield intake_pb2.SubmitRequest(
            records=[
                intake_pb2.SubmittedRecord(
                    ref=str(i), category=CATEGORY, fields=penalty_fields(i, decided=decided)
                )
                for i in range(first, min(first + BATCH, start + count))
            ]
        )


@dataclass(frozen=True, slots=True)
class _Hop:
    intake_s: float
    province_s: float
    national_s: float
    cpu_s: dict[str, tuple[float, float]]
    """CPU seconds each node used from the first request until national held every record:
    (its own process, its worker processes)."""
    postgres_cpu_s: dict[str, float]
    """CPU seconds PostgreSQL's backends used for each node meanwhile (empty on SQLite)."""


def _wait_count(
    federation: _Federation, node: str, target: int, deadline: float, begin: float
) -> float:
    """When ``node`` holds ``target`` records, polled every 50 ms or 1 % of the time so far.

    A count reads the whole record table (on PostgreSQL a sequential scan of the heap until a
    vacuum has set its visibility map), so polls at a fixed interval would cost the node's
    database size times duration: quadratic in the repetition's size. Spacing them by a share
    of the elapsed time keeps their cost per record flat, and each rate at most about 1 % low.
    """
    while federation.count(node) < target:
        federation.postgres_cpu_s()  # a backend that exits keeps what it spent until now
        if time.monotonic() > deadline:
            logs = (federation.root / f"{node}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(
                f"node {node} holds {federation.count(node)} of {target} records: {logs}"
            )
        time.sleep(max(_POLL_S, (time.perf_counter() - begin) * _POLL_SHARE))
    return time.perf_counter()


def _hop(federation: _Federation, start: int, count: int, already: int) -> _Hop:
    """Submit ``count`` records at the city; time until the province and national hold them."""
    target = already + count
    deadline = time.monotonic() + 120 + count / 20
    with client_channel(
        federation.keystore.client(CITY, CLIENT), federation.endpoints[CITY]
    ) as channel:
        cpu_before = {node: federation.cpu(node) for node in NODES}
        postgres_before = federation.postgres_cpu_s()
        begin = time.perf_counter()
        accepted = 0
        for response in intake_pb2_grpc.IntakeStub(channel).Submit(
            _requests(start, count), timeout=deadline - time.monotonic()
        ):
            accepted += sum(
                1 for r in response.results if r.outcome == intake_pb2.SUBMIT_OUTCOME_ACCEPTED
            )
            federation.postgres_cpu_s()
        intake_done = time.perf_counter()
    if accepted != count:
        raise RuntimeError(f"the city accepted {accepted} of {count} bench records")
    province_done = _wait_count(federation, PROVINCE, target, deadline, begin)
    national_done = _wait_count(federation, NATIONAL, target, deadline, begin)
    cpu = {node: federation.cpu(node).since(cpu_before[node]) for node in NODES}
    postgres = {
        node: seconds - postgres_before[node]
        for node, seconds in federation.postgres_cpu_s().items()
    }
    return _Hop(intake_done - begin, province_done - begin, national_done - begin, cpu, postgres)


def _signed_parts(sd_jwts: Sequence[str]) -> list[tuple[bytes, bytes]]:
    parts = []
    for sd_jwt in sd_jwts:
        signing_input, signature = sd_jwt.split("~", 1)[0].rsplit(".", 1)
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        parts.append((raw, signing_input.encode("ascii")))
    return parts


def _ceiling(public_key: Ed25519PublicKey, sd_jwts: Sequence[str]) -> float:
    """Records/s of a bare Ed25519 verification of each record's issuer-signed JWT."""
    parts = _signed_parts(sd_jwts)
    begin = time.perf_counter()
    for signature, signing_input in parts:
        public_key.verify(signature, signing_input)
    return len(parts) / (time.perf_counter() - begin)


def _transport(channel: grpc.Channel, sd_jwts: Sequence[str]) -> float:
    """Records/s of the same bytes pushed to the sink, one call and one ack per batch."""
    call: grpc.StreamStreamMultiCallable[bytes, bytes] = channel.stream_stream(SINK_METHOD)
    payloads = [
        federation_pb2.PushRequest(records=list(sd_jwts[i : i + BATCH])).SerializeToString()
        for i in range(0, len(sd_jwts), BATCH)
    ]
    begin = time.perf_counter()
    for payload in payloads:
        for _ack in call(iter([payload]), timeout=60):
            break
    return len(sd_jwts) / (time.perf_counter() - begin)


def _record_hop(series: Series, hop: _Hop, size: int) -> None:
    series.intake.append(size / hop.intake_s)
    series.province.append(size / hop.province_s)
    series.national.append(size / hop.national_s)
    for node, (own, workers) in hop.cpu_s.items():
        series.cpu_us[node].append((own + workers) * 1e6 / size)
        series.own_us[node].append(own * 1e6 / size)
        series.workers_us[node].append(workers * 1e6 / size)
    total = sum(own + workers for own, workers in hop.cpu_s.values())
    series.cpu_us["all"].append(total * 1e6 / size)
    for node, seconds in hop.postgres_cpu_s.items():
        series.postgres_cpu_us.setdefault(node, []).append(seconds * 1e6 / size)


def _measure(
    config: BenchConfig,
    keystore: Keystore,
    public_key: Ed25519PublicKey,
    backend: str,
    plan: Sequence[tuple[int, int]],
    worker_size: int,
    worker_counts: Sequence[int],
) -> dict[tuple[int, int], Series]:
    """One federation per (backend, worker count); for each (size, repetitions) of ``plan``,
    the samples by (workers, size).

    The federations with receive workers are timed at one size only (``worker_size``),
    in every repetition right after the one without
    (interleaved, so that the machine's drift hits them alike). The stores grow
    from one size to the next, as they would in service.
    """
    measured: dict[tuple[int, int], Series] = {}
    with ExitStack() as stack:
        federations = {
            workers: stack.enter_context(
                _federation(config, keystore, backend, f"{backend}_w{workers}", workers)
            )
            for workers in worker_counts
        }
        sender = Ed25519PrivateKey.generate()
        issuer_keys: dict[str, Ed25519PublicKey] = {}
        hub, root = (
            LeanHop(
                config.workdir / f"lean_{role}_{backend}.db",
                sender_key=sender.public_key(),
                issuer_keys=issuer_keys,
                signer=Ed25519PrivateKey.generate() if role == "hub" else None,
            )
            for role in ("hub", "root")
        )
        stack.callback(hub.close)
        stack.callback(root.close)
        # Warm-up: TLS sessions, statement caches, the first pages of the tables, the workers.
        warm = min(BATCH, plan[0][0])
        already = dict.fromkeys(worker_counts, warm)
        for federation in federations.values():
            _hop(federation, 90_000_000, warm, 0)
        federation = federations[0]
        run = 0
        with bare_server("sink", keystore.node(PROVINCE)) as sink:
            channel = open_peer_channel(load_node_credentials(keystore.node(CITY)), sink)
            stack.callback(channel.close)
            for size, reps in plan:
                counts = [w for w in worker_counts if w == 0 or size == worker_size]
                for workers in counts:
                    measured[(workers, size)] = new_series()
                series = measured[(0, size)]
                for _ in range(reps):
                    run += 1
                    start = run * 1_000_000
                    for workers in counts:
                        with_workers = federations[workers]
                        hop = _hop(with_workers, start, size, already[workers])
                        already[workers] += size
                        _record_hop(measured[(workers, size)], hop, size)
                        for node in NODES:
                            measured[(workers, size)].rss[node].append(
                                with_workers.peak_rss_mb(node)
                            )
                    # The records of this repetition, as the province stored them.
                    sd_jwts = federation.stored_sd_jwts(PROVINCE, _document_pattern(start))
                    if len(sd_jwts) != size:
                        raise RuntimeError(f"found {len(sd_jwts)} of {size} records to replay")
                    series.ceiling.append(_ceiling(public_key, sd_jwts))
                    series.transport.append(_transport(channel, sd_jwts))
                    issuer_keys[_kid(sd_jwts[0])] = public_key
                    lean_hub, lean_root = (
                        lean.receive(
                            lean_batches(sender, sd_jwts, BATCH, f"{lean_role}{run}"),
                            int(time.time()),
                        )
                        for lean_role, lean in (("hub", hub), ("root", root))
                    )
                    series.lean_hub_us.append(lean_hub * 1e6 / size)
                    series.lean_root_us.append(lean_root * 1e6 / size)
    return measured


def _kid(sd_jwt: str) -> str:
    """The key id in the header of ``sd_jwt``'s issuer-signed JWT (the city's signing key)."""
    header = sd_jwt.split(".", 1)[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


def _document_pattern(start: int) -> str:
    # penalty_fields numbers the document (CF_WSH) after the record: 湖环罚〔2025〕<i>号.
    # A repetition's records are numbered within one million from a multiple of a million
    # (seven digits: the warm-up's eight never match).
    return f"湖环罚〔2025〕{start // 1_000_000}______号"


def run(config: BenchConfig) -> BenchResult:
    """Hop throughput per backend and size, each against the ceiling and the transport."""
    sizes = SMOKE_SIZES if config.smoke else SIZES
    result = BenchResult(
        name=NAME,
        title="Hop throughput (city intake -> province -> national, real processes)",
        measured=(
            "records/s from the first Intake request at the city until the province, and then "
            "the national node, hold every record: three `gateway serve` processes over mutual "
            f"TLS on loopback, fresh 双公示 penalty records submitted in streamed batches of "
            f"{BATCH}; each hop verifies the DSSE batch and every record strictly, stores "
            "it and forwards it redacted. Sizes "
            + ", ".join(f"{s:,}" for s in sizes)
            + " records per repetition, in that order on one federation per backend (the stores "
            "grow from size to size); peak RSS (VmHWM, since the node started) of each node "
            "process after each repetition; CPU time (user + system) of each node process "
            "per record over the repetition, from /proc, and on PostgreSQL beside it the CPU of "
            "the server's backends serving each node (found in pg_stat_activity by the "
            "application_name the node connects with, read from /proc at every arrival poll). "
            "Arrival is seen by counting each "
            "node's records every 50 ms or 1 % of the time elapsed, whichever is longer, so a "
            "rate is at most about 1 % low"
        ),
        baseline=(
            "on the records of the same repetition as the province stored them: a bare pyca "
            "Ed25519 verification of each issuer-signed JWT on one thread (the verify-bound "
            f"ceiling), and the same bytes pushed in batches of {BATCH} over a bare grpcio "
            "mutual-TLS stream to a sink process, one call and one ack per batch (the transport); "
            "and the lean floor (bench/lean_hop.py): a program doing exactly what a hub must per "
            "batch (DSSE and strict record verification, executemany into SQLite with "
            "synchronous=FULL, a change row per record, one audit leaf per batch, redaction and a "
            "DSSE envelope for the forward, settling it), with the node's libraries and no "
            "framework, timed as CPU per record on the bench's thread; as a root it does not "
            "forward"
        ),
    )
    keystore = make_keystore(
        config.workdir / "keys",
        nodes=list(NODES),
        clients=[(CITY, CLIENT, "department", "procurement")],
    )
    cert = x509.load_pem_x509_certificate((keystore.node(CITY) / "signing.crt").read_bytes())
    public_key = cert.public_key()
    if not isinstance(public_key, Ed25519PublicKey):
        raise TypeError("the city's signing certificate is not Ed25519")
    plan = [(size, 2 if config.smoke or size > 10_000 else 3) for size in sizes]
    for backend in backends(config):
        worker_size = sizes[-1] if config.smoke else WORKER_SIZE
        for (workers, size), series in _measure(
            config,
            keystore,
            public_key,
            backend,
            plan,
            worker_size,
            SMOKE_WORKER_COUNTS if config.smoke else WORKER_COUNTS,
        ).items():
            if workers:
                report_workers(result, backend, size, workers, series)
            else:
                report(result, backend, size, series)
    middle = sizes[len(sizes) // 2]
    result.headline = f"province_vs_ceiling_sqlite_{middle}"
    result.notes.append(
        "The city's intake (validation, signing, storing) runs in the timed window, "
        "concurrently with both hops; the three nodes and the bench client share the "
        "machine's cores. Before/after figures of each optimisation of the hop path are in "
        "bench/NOTES.md (hand-written)."
    )
    result.notes.append(
        "Receive workers: the province and national of "
        + (
            "a second federation check received records in 2 worker processes"
            if config.smoke
            else "a second and third federation check received records in 1 and 2 worker processes"
        )
        + " ([receive] workers); each repetition times the federations in turn. "
        "A node's CPU counts every process of it: its "
        "own and its children (the workers and the multiprocessing resource tracker), from "
        "/proc. On paper, a hub on N cores: min(1 / own CPU per record, (N - 1) / the workers' "
        "CPU per record), assuming its node process is the serial bottleneck (one interpreter "
        "lock, at most one core), the workers scale linearly on the other cores, and the "
        "store keeps up (on PostgreSQL the server's own CPU comes on top, on other cores)."
    )
    return result
