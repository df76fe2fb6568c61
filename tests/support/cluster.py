"""A local federation of real `gateway serve` processes, for integration tests."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gateway._proto.v1 import intake_pb2, intake_pb2_grpc, records_pb2, records_pb2_grpc
from gateway.node.local_federation import free_port
from gateway.pki import parent_of
from tests.support.federation import (
    Keystore,
    NodeProcess,
    client_channel,
    init_node,
    listening,
    make_keystore,
    run_gateway,
    spawn_node,
    start_node,
)

T = TypeVar("T")

PURPOSE = "federation test"

FEDERATION_SETTINGS = """
[federation]
sync_interval_s = 0.5
expiry_interval_s = 1.0
batch_records = 500
initial_backoff_ms = 100
max_backoff_ms = 1000
"""


def wait_for(what: str, probe: Callable[[], T | None], *, timeout_s: float = 120.0) -> T:
    """Poll ``probe`` until it returns something truthy; bounded in time."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what} (last: {last!r})")


@dataclass
class Cluster:
    """Keystore, directory and configs of a federation; nodes started on demand."""

    root: Path
    keystore: Keystore
    ports: dict[str, int]
    configs: dict[str, Path]
    processes: dict[str, NodeProcess] = field(default_factory=dict)

    def endpoint(self, node: str) -> str:
        return f"127.0.0.1:{self.ports[node]}"

    def start(
        self,
        node: str,
        options: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
    ) -> NodeProcess:
        process = start_node(
            self.configs[node], node, log=self.root / f"{node}.log", options=options, env=env
        )
        self.processes[node] = process
        return process

    def stop(self, node: str) -> None:
        process = self.processes.pop(node)
        process.terminate()

    def kill(self, node: str) -> None:
        process = self.processes.pop(node)
        process.kill()

    def client(self, node: str, name: str) -> Path:
        return self.keystore.client(node, name)

    def gateway_json(self, *args: str) -> Any:
        result = run_gateway(*args, "--json")
        assert result.returncode == 0, result.stderr + result.stdout
        return json.loads(result.stdout)

    def gateway_json_lines(self, *args: str) -> list[Any]:
        result = run_gateway(*args, "--json")
        assert result.returncode == 0, result.stderr + result.stdout
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    def log(self, node: str) -> str:
        return (self.root / f"{node}.log").read_text(errors="replace")


def make_cluster(
    root: Path,
    nodes: Sequence[str],
    *,
    clients: Sequence[tuple[str, str, str, str | None]],
    unlisted: Sequence[str] = (),
    databases: Mapping[str, str] | None = None,
    lease_s: int | None = None,
) -> Cluster:
    """Keystore for ``nodes`` (+ ``unlisted`` ones the directory leaves out), signed directory
    listing ``nodes`` on fixed loopback ports, and one config per listed node (``lease_s``:
    how long a claimed outbox row stays with its sender, the node's default when None)."""
    keystore = make_keystore(root / "keys", nodes=[*nodes, *unlisted], clients=clients)
    ports = {node: free_port() for node in nodes}
    directory = root / "directory.json"
    args = ["directory", "sign", "--keys", str(keystore.root), "--out", str(directory)]
    for node in nodes:
        args += ["--node", f"{node}=127.0.0.1:{ports[node]}"]
    result = run_gateway(*args)
    assert result.returncode == 0, result.stderr
    configs: dict[str, Path] = {}
    for node in nodes:
        workdir = root / node
        workdir.mkdir()
        cache = workdir / "directory.json"
        shutil.copy(directory, cache)
        parent = parent_of(node)
        config = init_node(
            keystore,
            node,
            workdir,
            listen=f"127.0.0.1:{ports[node]}",
            database=(databases or {}).get(node),
            extra=[
                "--directory",
                str(cache),
                *(["--parent", f"127.0.0.1:{ports[parent]}"] if parent else []),
            ],
        )
        with config.open("a", encoding="utf-8") as handle:
            handle.write(FEDERATION_SETTINGS)
            if lease_s is not None:
                handle.write(f"lease_s = {lease_s}\n")
        configs[node] = config
    return Cluster(root, keystore, ports, configs)


@contextmanager
def running(cluster: Cluster, nodes: Sequence[str]) -> Iterator[Cluster]:
    """Start ``nodes`` at once, wait until each listens, and stop every node still running
    afterwards (a child up before its parent retries upstream with the federation's
    backoff, as after any outage of its parent)."""
    spawned = [
        spawn_node(cluster.configs[node], node, log=cluster.root / f"{node}.log") for node in nodes
    ]
    try:
        for started in spawned:
            cluster.processes[started.node_id] = listening(started)
        yield cluster
    finally:
        for node in list(cluster.processes):
            process = cluster.processes.pop(node)
            if process.process.poll() is None:
                process.terminate()
        for started in spawned:
            if started.process.poll() is None:
                started.process.kill()
                started.process.wait()


def submit(
    cluster: Cluster,
    node: str,
    client: str,
    records: list[dict[str, str]],
    category: str = "admin_penalty",
) -> list[str]:
    """Submit ``records`` at ``node`` as ``client``; all must be accepted. Returns their ids."""
    with client_channel(cluster.client(node, client), cluster.endpoint(node)) as channel:
        stub = intake_pb2_grpc.IntakeStub(channel)
        request = intake_pb2.SubmitRequest(
            records=[
                intake_pb2.SubmittedRecord(ref=str(i), category=category, fields=fields)
                for i, fields in enumerate(records)
            ]
        )
        results = [r for response in stub.Submit(iter([request])) for r in response.results]
    assert all(r.outcome == intake_pb2.SUBMIT_OUTCOME_ACCEPTED for r in results), results
    return [r.record_id for r in results]


def listed(cluster: Cluster, node: str, client: str) -> dict[str, records_pb2.RecordView]:
    """Every record ``client`` may list at ``node``, by record id."""
    with client_channel(cluster.client(node, client), cluster.endpoint(node)) as channel:
        stub = records_pb2_grpc.RecordsStub(channel)
        views: dict[str, records_pb2.RecordView] = {}
        token = ""
        while True:
            page = stub.List(
                records_pb2.ListRecordsRequest(purpose=PURPOSE, limit=500, page_token=token)
            )
            views.update((v.record_id, v) for v in page.records)
            token = page.next_page_token
            if not token:
                return views
