"""A node of a local federation that cannot start says why, not only where its log is."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from gateway.core.errors import ConfigurationError
from gateway.node.local_federation import LocalFederation


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
