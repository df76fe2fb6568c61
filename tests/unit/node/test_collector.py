"""A serving process's collector: paced as ``gateway serve`` starts; the start's heap frozen."""

from __future__ import annotations

import faulthandler
import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway import app
from gateway.cli import cli
from gateway.commands import node as node_commands
from gateway.core.errors import ConfigurationError
from gateway.node.collector import (
    SERVING_THRESHOLDS,
    freeze_startup_heap,
    pace_collector_for_serving,
)
from gateway.node.config import NodeConfig


@pytest.fixture
def thresholds() -> Iterator[None]:
    """This test process's own thresholds, put back after the test."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


@pytest.mark.usefixtures("thresholds")
def test_a_serving_process_collects_young_objects_every_10_000_not_700() -> None:
    pace_collector_for_serving()

    assert gc.get_threshold() == SERVING_THRESHOLDS == (10_000, 10, 10)
    assert gc.isenabled()


@pytest.mark.usefixtures("thresholds")
def test_serve_paces_the_collector_before_it_starts_the_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "node.toml"
    config.write_text(
        '[node]\nid = "330500"\nkeys = "keys"\nlisten = "127.0.0.1:0"\n'
        'database = "sqlite:///node.db"\n',
        encoding="utf-8",
    )
    seen: list[tuple[int, int, int]] = []

    def start_node(_config: NodeConfig) -> None:
        seen.append(gc.get_threshold())
        raise ConfigurationError("stopped here by the test")

    monkeypatch.setattr(app, "start_node", start_node)
    # Neither this process's logging nor its fault handler is the test's to change (and the
    # runner's stderr has no file descriptor for the handler to write to).
    monkeypatch.setattr(node_commands, "configure_logging", lambda **_kwargs: None)
    monkeypatch.setattr(faulthandler, "enable", lambda **_kwargs: None)

    result = CliRunner().invoke(cli, ["serve", "--config", str(config), "--log-console"])

    assert result.output == "error: stopped here by the test\n"
    assert result.exit_code == 1
    assert seen == [SERVING_THRESHOLDS]


class _Cycle:
    """An object in a reference cycle: only the collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_what_is_alive_after_the_start_is_frozen_and_garbage_is_collected_first() -> None:
    alive = _Cycle()
    garbage = _Cycle()
    gone = weakref.ref(garbage)
    del garbage
    try:
        frozen = freeze_startup_heap()
        # The garbage was collected before the freeze: frozen objects are never freed.
        assert gone() is None
        assert frozen > 0
        # Out of the collector's sight: no later collection traverses it.
        assert not any(o is alive for o in gc.get_objects())
    finally:
        gc.unfreeze()
    assert any(o is alive for o in gc.get_objects())
