"""Where check frontends listen, a node that cannot run them is refused before any starts, and
a frontend's collector is set as a serving node's."""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import signal
from multiprocessing.connection import Connection
from multiprocessing.reduction import send_handle
from pathlib import Path
from typing import Any

import pytest

from gateway.app import check_frontends
from gateway.app.check_frontends import frontend_addresses, start_check_frontends
from gateway.core.errors import ConfigurationError
from gateway.node.check_ledger import StoreCheckLedger
from gateway.node.collector import SERVING_THRESHOLDS
from gateway.node.config import NodeConfig, config_from_tables
from gateway.node.ledger_channel import ChannelCheckLedger, await_ready
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


class _Built:
    """An object a frontend's start built and keeps (the collector tracks it)."""


def _frontend_noting_its_collector(config: NodeConfig, conn: Connection, out: str) -> None:
    """A frontend process whose server is a stand-in that writes, as the frontend stops, how
    its collector was set while it served (spawned: the test module is imported afresh)."""

    def serve(
        config: NodeConfig, listen: str, ledger: ChannelCheckLedger
    ) -> check_frontends._Served:
        del config, listen, ledger  # nothing served: only the collector is looked at
        built = _Built()

        def stop(_grace_s: float) -> None:
            noted = {
                "thresholds": list(gc.get_threshold()),
                "frozen": gc.get_freeze_count(),
                "start_is_frozen": not any(o is built for o in gc.get_objects()),
            }
            Path(out).write_text(json.dumps(noted), encoding="utf-8")

        return check_frontends._Served(port=4321, stop=stop)

    check_frontends._serve = serve
    logs = (False, "warning")
    check_frontends.run_frontend(config, "check-frontend-0", "127.0.0.1:0", conn, logs)


def test_a_frontend_paces_its_collector_and_freezes_what_its_start_built(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    node_end, child_end = context.Pipe()
    out = tmp_path / "collector.json"
    frontend = context.Process(
        target=_frontend_noting_its_collector,
        args=(_config("127.0.0.1:0", {"frontends": 1}), child_end, str(out)),
    )
    frontend.start()
    child_end.close()
    # As the node launches one: the frontend takes the node's log stream first.
    send_handle(node_end, 2, frontend.pid or 0)
    try:
        assert await_ready(node_end, frontend.sentinel, 60, name="check-frontend-0") == 4321
        os.kill(frontend.pid or 0, signal.SIGTERM)
        frontend.join(60)
        assert frontend.exitcode == 0
    finally:
        if frontend.is_alive():
            frontend.kill()
        node_end.close()
    noted = json.loads(out.read_text(encoding="utf-8"))
    # A fresh interpreter has (700, 10, 10) and nothing frozen: the frontend set both itself.
    assert noted["thresholds"] == list(SERVING_THRESHOLDS)
    assert noted["frozen"] > 0
    assert noted["start_is_frozen"] is True
