"""A whole federation on one machine: keystore, directory, configs and `gateway serve` processes.

Used by ``gateway demo`` (and usable from tests): every node is a separate
process on loopback with its own SQLite file, all under one folder.
"""

from __future__ import annotations

import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gateway.core.errors import ConfigurationError
from gateway.node.config import FederationSettings, NodeConfig, NodeSettings, write_config
from gateway.node.directory_file import build_directory, sign_directory_file
from gateway.node.trust import write_directory_file
from gateway.pki import init_federation, issue_client, issue_node, parent_of

__all__ = ["ClientSpec", "LocalFederation", "free_port"]

_PORT_LINE = re.compile(r"serving node (\d{6}) on port (\d+)")
_PUBLICATION = re.compile(r"publication on (http://\S+)")
START_TIMEOUT_S = 60.0
DIRECTORY_VALID_S = 7 * 86_400
_PORTS_FROM = 20_000
"""Above the usual services' ports (PostgreSQL's 5432 and the like); a port that is
taken all the same fails the bind test, and another is drawn."""
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_EPHEMERAL_DEFAULT = 32_768
_PORT_TRIES = 64


def _tail(path: Path, lines: int = 15) -> str:
    """The last lines of a node's log, for an error that would otherwise only name it."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(its log cannot be read: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(its log is empty)"


def _outgoing_ports_from() -> int:
    """The lowest port the kernel gives outgoing connections (Linux's default if unknown)."""
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _EPHEMERAL_DEFAULT


def free_port() -> int:
    """A loopback port that is free now; the node binds it moments later.

    Picked at random below the kernel's range for outgoing connections: a port the
    kernel chose itself (``bind`` to port 0) comes from that range, where every
    outgoing connection of every process on the machine (the gRPC channels of other
    tests and nodes) can take it as its own local port before the node binds it.

    Raises:
        ConfigurationError: no port in the range could be bound.
    """
    high = _outgoing_ports_from()
    if high - _PORTS_FROM < _PORT_TRIES:
        raise ConfigurationError(
            f"the kernel gives outgoing connections ports from {high}: no room below it"
            f" above {_PORTS_FROM} for a node's port"
        )
    for _ in range(_PORT_TRIES):
        port = _PORTS_FROM + secrets.randbelow(high - _PORTS_FROM)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise ConfigurationError(
        f"no free loopback port between {_PORTS_FROM} and {high} after {_PORT_TRIES} tries"
    )


@dataclass(frozen=True, slots=True)
class ClientSpec:
    node: str
    name: str
    role: str
    domain: str | None = None


@dataclass
class LocalFederation:
    """Nodes of one federation under ``root``; start and stop them as processes."""

    root: Path
    nodes: tuple[str, ...]
    ports: dict[str, int]
    processes: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    feeds: dict[str, str] = field(default_factory=dict)
    """Each started node's publication feed URL, from its serve line."""

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    def endpoint(self, node: str) -> str:
        return f"127.0.0.1:{self.ports[node]}"

    def config(self, node: str) -> Path:
        return self.root / node / f"{node}.toml"

    def client(self, node: str, name: str) -> Path:
        return self.keys / "clients" / f"{node}-{name}"

    def log(self, node: str) -> Path:
        return self.root / node / f"{node}.log"

    def database(self, node: str) -> Path:
        """The node's SQLite file."""
        return self.root / node / f"{node}.db"

    @classmethod
    def create(
        cls,
        root: Path,
        nodes: Sequence[str],
        clients: Sequence[ClientSpec],
        *,
        settings: FederationSettings | None = None,
    ) -> LocalFederation:
        """Issue every certificate, sign the directory and write every node's config.

        ``nodes`` must list parents before their children.
        """
        root.mkdir(parents=True, exist_ok=True)
        keys = root / "keys"
        if keys.exists():
            shutil.rmtree(keys)
        init_federation(keys)
        for node in nodes:
            issue_node(keys, node_id=node, parent_id=parent_of(node), host="127.0.0.1")
        ports = {node: free_port() for node in nodes}
        for spec in clients:
            issue_client(
                keys,
                node_id=spec.node,
                name=spec.name,
                role=spec.role,
                domain=spec.domain,
                endpoint=f"127.0.0.1:{ports[spec.node]}",
            )
        now = int(time.time())
        directory = build_directory(
            keys,
            {node: f"127.0.0.1:{ports[node]}" for node in nodes},
            serial=now,
            now=now,
            valid_s=DIRECTORY_VALID_S,
        )
        signed = sign_directory_file(keys, directory)
        federation = cls(root, tuple(nodes), ports)
        for node in nodes:
            workdir = root / node
            if workdir.exists():
                shutil.rmtree(workdir)
            workdir.mkdir()
            cache = workdir / "directory.json"
            write_directory_file(cache, signed)
            parent = parent_of(node)
            write_config(
                NodeConfig(
                    node=NodeSettings(
                        id=node,
                        keys=(keys / "nodes" / node).resolve(),
                        listen=federation.endpoint(node),
                        database=f"sqlite:///{federation.database(node).resolve()}",
                        parent=federation.endpoint(parent) if parent else None,
                        directory=cache.resolve(),
                    ),
                    federation=settings or FederationSettings(),
                ),
                federation.config(node),
            )
        return federation

    def start(self, node: str) -> None:
        """Start one node and wait (bounded) until it listens.

        Raises:
            ConfigurationError: the node exited or did not listen in time.
        """
        self._await_listening(node, self._spawn(node), time.monotonic() + START_TIMEOUT_S)

    def start_all(self) -> None:
        """Start every node at once, then wait (bounded) until each listens.

        A child that is up before its parent retries its upstream with the federation's
        backoff, as after any outage of the parent. If one node does not start, the others
        of this call are stopped too.

        Raises:
            ConfigurationError: a node exited or did not listen in time.
        """
        spawned = {node: self._spawn(node) for node in self.nodes}
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            for node, process in spawned.items():
                self._await_listening(node, process, deadline)
        except BaseException:
            for node, process in spawned.items():
                self.processes.pop(node, None)
                if process.poll() is None:
                    process.kill()
                    process.wait()
            raise

    def _spawn(self, node: str) -> subprocess.Popen[str]:
        with self.log(node).open("ab") as log:
            return subprocess.Popen(  # noqa: S603 - this interpreter's own gateway, fixed arguments
                [
                    sys.executable,
                    "-m",
                    "gateway",
                    "serve",
                    "--config",
                    str(self.config(node)),
                    "--log-json",
                ],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )

    def _await_listening(self, node: str, process: subprocess.Popen[str], deadline: float) -> None:
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if _PORT_LINE.search(line):
                self.processes[node] = process
                feed = _PUBLICATION.search(line)
                if feed is not None:
                    self.feeds[node] = feed.group(1).rstrip(",")
                return
            if not line and process.poll() is not None:
                break
        process.kill()
        process.wait()
        raise ConfigurationError(
            f"node {node} did not start; see {self.log(node)}; it ends with:\n"
            + _tail(self.log(node))
        )

    def stop(self, node: str, timeout_s: float = 30.0) -> None:
        """SIGTERM: graceful shutdown."""
        process = self.processes.pop(node, None)
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=timeout_s)

    def stop_all(self, timeout_s: float = 30.0) -> None:
        """SIGTERM every node at once, then wait for each; SIGKILL what outlives ``timeout_s``."""
        processes = [self.processes.pop(node) for node in reversed(list(self.processes))]
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout_s)

    def pids(self) -> dict[str, int]:
        return {node: p.pid for node, p in self.processes.items()}
