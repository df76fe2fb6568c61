"""A local federation keystore and real `gateway serve` processes for tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2

from gateway.pki import init_federation, issue_client, issue_node, load_client_credentials
from gateway.rpc.client import open_client_channel
from tests.support.command_server import (
    ForkedProcess,
    forked_command,
    gateway_command,
    needs_exec,
    spawn_forked,
)

NodeChild = subprocess.Popen[bytes] | ForkedProcess
"""A `gateway serve` process: exec'd, or forked from the command server."""

PORT_LINE = re.compile(rb"serving node (\d{6}) on port (\d+)")
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Keystore:
    """A federation keystore folder with nodes and clients issued."""

    root: Path

    def client(self, node_id: str, name: str) -> Path:
        return self.root / "clients" / f"{node_id}-{name}"

    def node(self, node_id: str) -> Path:
        return self.root / "nodes" / node_id


def make_keystore(
    directory: Path, *, nodes: Sequence[str], clients: Sequence[tuple[str, str, str, str | None]]
) -> Keystore:
    """Root CA, the given nodes (parents first) and clients (node, name, role, domain)."""
    from gateway.pki import parent_of

    init_federation(directory)
    for node_id in nodes:
        issue_node(directory, node_id=node_id, parent_id=parent_of(node_id), host="127.0.0.1")
    for node_id, name, role, domain in clients:
        issue_client(directory, node_id=node_id, name=name, role=role, domain=domain)
    return Keystore(directory)


def run_gateway(
    *args: str,
    timeout_s: float = 120.0,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one `gateway` subcommand to completion and capture its output.

    ``env`` adds to (or overrides) this process's environment, e.g. a fake clock.
    """
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    if needs_exec(full_env):
        argv = gateway_command(*args)
        return run_in_own_session(argv, timeout_s=timeout_s, cwd=cwd, env=full_env)
    return forked_command(args, env=full_env, cwd=cwd, timeout_s=timeout_s)


def run_in_own_session(
    argv: Sequence[str],
    *,
    timeout_s: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to completion in a session of its own and capture its output.

    When it outlives ``timeout_s`` (``subprocess.TimeoutExpired``) or the test is
    stopped while it runs, its whole process group is killed: the nodes a
    `gateway demo` started do not outlive it and load the machine for later tests.
    """
    process = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=None if env is None else dict(env),
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


# How much of a stuck node's log its error quotes: the stacks of a few dozen threads.
_STACKS_CHARS = 12_000


@dataclass
class NodeProcess:
    """A `gateway serve` child process."""

    node_id: str
    config: Path
    process: NodeChild
    port: int
    log: Path

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def terminate(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait: the graceful path.

        A node still running ``timeout_s`` after SIGTERM is sent SIGABRT: `gateway
        serve`'s fault handler writes every thread's stack into its log, and the
        ``subprocess.TimeoutExpired`` raised carries that log's end as a note.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired as stuck:
            self.process.send_signal(signal.SIGABRT)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
            end = self.log.read_text(encoding="utf-8", errors="replace")[-_STACKS_CHARS:]
            stuck.add_note(f"node {self.node_id} after SIGTERM, then SIGABRT; its log ends:\n{end}")
            raise

    def kill(self) -> None:
        """SIGKILL: the crash path."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


def init_node(
    keystore: Keystore,
    node_id: str,
    workdir: Path,
    *,
    database: str | None = None,
    listen: str = "127.0.0.1:0",
    extra: Sequence[str] = (),
) -> Path:
    """`gateway node init` for ``node_id``; returns the config path."""
    config = workdir / f"{node_id}.toml"
    args = [
        "node",
        "init",
        "--node",
        node_id,
        "--keys",
        str(keystore.root),
        "--listen",
        listen,
        "--out",
        str(config),
    ]
    if database is not None:
        args += ["--db", database]
    args += list(extra)
    result = run_gateway(*args)
    assert result.returncode == 0, result.stderr
    return config


def sign_directory(
    keystore: Keystore, out: Path, endpoints: dict[str, str], *, valid_days: float = 7.0
) -> Path:
    """`gateway directory sign`: a directory of ``endpoints`` (node id -> host:port)."""
    args = ["directory", "sign", "--keys", str(keystore.root), "--out", str(out)]
    for node_id, endpoint in endpoints.items():
        args += ["--node", f"{node_id}={endpoint}"]
    result = run_gateway(*args, "--valid-days", str(valid_days))
    assert result.returncode == 0, result.stderr
    return out


def start_node(
    config: Path,
    node_id: str,
    *,
    log: Path,
    options: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> NodeProcess:
    """Start `gateway serve` and wait (bounded) for its port line.

    ``options`` go before ``serve``: the ``gateway`` command's own (``--log-level``).
    ``env`` adds variables to this process's environment (e.g. a shifted clock).
    """
    return listening(spawn_node(config, node_id, log=log, options=options, env=env))


@dataclass
class Spawned:
    """A `gateway serve` process started, its port line not read yet."""

    node_id: str
    config: Path
    process: NodeChild
    log: Path


def spawn_node(
    config: Path,
    node_id: str,
    *,
    log: Path,
    options: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Spawned:
    """Start `gateway serve` without waiting: several nodes start at once this way.

    Forked from the command server unless its environment must be exec'd
    (:mod:`tests.support.command_server`).
    """
    args = (*options, "serve", "--config", str(config), "--log-json")
    full_env = {**os.environ, **(env or {})}
    process: NodeChild
    with log.open("ab") as handle:
        if needs_exec(full_env):
            process = subprocess.Popen(
                gateway_command(*args), stdout=subprocess.PIPE, stderr=handle, env=full_env
            )
        else:
            process = spawn_forked(args, env=full_env, stderr=handle.fileno())
    return Spawned(node_id, config, process, log)


def listening(spawned: Spawned) -> NodeProcess:
    """Wait (bounded) for a spawned node's port line; kill it if none comes."""
    process = spawned.process
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        match = PORT_LINE.search(line)
        if match:
            return NodeProcess(
                spawned.node_id, spawned.config, process, int(match.group(2)), spawned.log
            )
    process.kill()
    process.wait()
    raise AssertionError(
        f"node {spawned.node_id} did not start: {spawned.log.read_text(errors='replace')[-3000:]}"
    )


@contextmanager
def running_node(config: Path, node_id: str, *, log: Path) -> Iterator[NodeProcess]:
    node = start_node(config, node_id, log=log)
    try:
        yield node
    finally:
        if node.process.poll() is None:
            node.terminate()


def health_check(channel: grpc.Channel, *, timeout_s: float = 5.0) -> int:
    """The node's overall health status (grpc.health.v1), via a plain unary call.

    The health stubs' type hints omit the client methods, so the call is made
    on the channel with the service's own message types.
    """
    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    response: health_pb2.HealthCheckResponse = check(
        health_pb2.HealthCheckRequest(), timeout=timeout_s
    )
    return response.status


@contextmanager
def client_channel(client_dir: Path, endpoint: str) -> Iterator[grpc.Channel]:
    channel = open_client_channel(load_client_credentials(client_dir), endpoint=endpoint)
    try:
        yield channel
    finally:
        channel.close()
