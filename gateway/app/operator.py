"""The operator's commands: a node's use cases opened on its host, from its config and store.

Like a database's admin tools, they need no certificate: whoever can read the
node's configuration and reach its database is the node's operator. What they
change is audited as ``operator:<node>/<user>`` with the host's name.
"""

from __future__ import annotations

import getpass
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gateway.node.config import NodeConfig, load_config
from gateway.node.outbox_admin import Operator, OutboxAdmin
from gateway.store import Store, open_store

__all__ = ["OperatorSession", "operator_session"]


@dataclass(frozen=True, slots=True)
class OperatorSession:
    """What an operator's command works with."""

    config: NodeConfig
    store: Store
    operator: Operator
    outbox: OutboxAdmin


def _wall_clock() -> int:
    return int(time.time())


@contextmanager
def operator_session(config_path: Path) -> Iterator[OperatorSession]:
    """Load the node's config, open its store (migrated), and close it afterwards.

    Raises:
        ConfigurationError: the config is missing or invalid.
        StorageError: the database cannot be opened.
    """
    config = load_config(config_path)
    store = open_store(config.database)
    try:
        yield OperatorSession(
            config=config,
            store=store,
            operator=Operator(user=getpass.getuser(), host=socket.gethostname()),
            outbox=OutboxAdmin(store, config.node_id, _wall_clock),
        )
    finally:
        store.close()
