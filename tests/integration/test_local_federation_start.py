"""A node of a local federation that cannot start says why, not only where its log is."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

import pytest

from gateway.core.errors import ConfigurationError
from gateway.node import local_federation
from gateway.node.local_federation import LocalFederation, free_port


def test_a_node_whose_port_is_taken_fails_with_the_end_of_its_log(tmp_path: Path) -> None:
    federation = LocalFederation.create(tmp_path, ["000000"], [])
    host, port = federation.endpoint("000000").rsplit(":", 1)
    with socket.socket() as taken:
        taken.bind((host, int(port)))
        taken.listen()
        with pytest.raises(ConfigurationError) as refused:
            federation.start("000000")
    message = str(refused.value)
    assert message.startswith(
        f"node 000000 did not start; see {federation.log('000000')}; it ends with:\n"
    )
    tail = message.split("it ends with:\n", 1)[1]
    assert tail.splitlines() == federation.log("000000").read_text().splitlines()[-15:]
    assert str(port) in tail


def _outgoing_ports_from() -> int:
    return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def test_free_ports_come_from_below_the_ports_of_outgoing_connections() -> None:
    """A CI run lost a node whose port, drawn by the kernel from the range it also gives
    outgoing connections, was taken by another test's channel before the node bound it."""
    high = _outgoing_ports_from()
    ports = [free_port() for _ in range(200)]
    assert all(20_000 <= port < high for port in ports), ports
    for port in ports[:20]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
    with socket.create_connection(("127.0.0.1", 5432)) as outgoing:
        assert outgoing.getsockname()[1] >= high


def test_a_port_that_is_taken_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        draws = iter([busy - 20_000, busy - 20_000, 7])
        monkeypatch.setattr(local_federation, "_outgoing_ports_from", lambda: 65_536)
        monkeypatch.setattr(secrets, "randbelow", lambda _n: next(draws))
        assert free_port() == 20_007


def test_no_room_below_the_outgoing_ports_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    narrow = tmp_path / "ip_local_port_range"
    narrow.write_text("20010\t60999\n")
    monkeypatch.setattr(local_federation, "_EPHEMERAL_RANGE", narrow)
    with pytest.raises(ConfigurationError) as refused:
        free_port()
    assert str(refused.value) == (
        "the kernel gives outgoing connections ports from 20010: no room below it"
        " above 20000 for a node's port"
    )


def _serving(root: Path) -> list[str]:
    """The command lines of this machine's `gateway serve` processes with a config under root."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if " serve --config " in command and str(root) in command:
                found.append(command)
    return found


def test_start_all_starts_every_node_at_once_and_each_listens(tmp_path: Path) -> None:
    nodes = ["000000", "330000", "330500"]
    federation = LocalFederation.create(tmp_path, nodes, [])
    try:
        federation.start_all()
        assert sorted(federation.pids()) == sorted(nodes)
        for node in nodes:
            host, port = federation.endpoint(node).rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=5):
                pass
    finally:
        federation.stop_all()
    assert _serving(tmp_path) == []


def test_a_node_that_cannot_start_stops_the_others_of_start_all(tmp_path: Path) -> None:
    federation = LocalFederation.create(tmp_path, ["000000", "330000", "330500"], [])
    host, port = federation.endpoint("330000").rsplit(":", 1)
    with socket.socket() as taken:
        taken.bind((host, int(port)))
        taken.listen()
        with pytest.raises(ConfigurationError) as refused:
            federation.start_all()
    assert str(refused.value).startswith("node 330000 did not start; see ")
    assert federation.pids() == {}
    assert _serving(tmp_path) == []
