"""Where check frontends listen, and a node that cannot run them is refused before any starts."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.app.check_frontends import frontend_addresses, start_check_frontends
from gateway.core.errors import ConfigurationError
from gateway.node.check_ledger import StoreCheckLedger
from gateway.node.config import NodeConfig, config_from_tables
from gateway.node.metrics import NodeMetrics


def _config(listen: str, check: dict[str, Any], *, directory: str | None = "d.json") -> NodeConfig:
    node = {"id": "330500", "keys": "/k", "listen": listen, "database": "sqlite:////x.db"}
    if directory is not None:
        node["directory"] = directory
    return config_from_tables(node=node, check=check)


def test_frontends_listen_where_the_config_says_or_on_free_ports_of_the_node_host() -> None:
    listed = _config("0.0.0.0:7000", {"frontends": 2, "frontend_listen": ["a:7001", "b:7002"]})
    assert frontend_addresses(listed) == ["a:7001", "b:7002"]
    assert frontend_addresses(_config("127.0.0.1:7000", {"frontends": 2})) == [
        "127.0.0.1:0",
        "127.0.0.1:0",
    ]
    assert frontend_addresses(_config("[::1]:7000", {"frontends": 1})) == ["[::1]:0"]
    assert frontend_addresses(_config("127.0.0.1:7000", {})) == []


def test_no_frontend_is_started_without_a_directory_file() -> None:
    config = _config("127.0.0.1:0", {"frontends": 1}, directory=None)
    ledger: StoreCheckLedger = None  # type: ignore[assignment]  # never reached
    with pytest.raises(ConfigurationError) as refused:
        start_check_frontends(config, ledger, NodeMetrics())
    assert str(refused.value) == (
        "[check] frontends need [node] directory: they refuse what the federation "
        "directory revokes, reading it from the file this node keeps current"
    )
    assert start_check_frontends(_config("127.0.0.1:0", {}), ledger, NodeMetrics()) is None
