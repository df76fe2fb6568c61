"""A node's configuration file (TOML), written by ``gateway node init``.

::

    [node]
    id = "330500"
    keys = "/srv/gateway/keys/nodes/330500"   # this node's credential folder
    listen = "127.0.0.1:7005"
    database = "sqlite:////srv/gateway/330500.db"
    parent = "127.0.0.1:7003"                  # omitted at the national node

    [server]
    workers = 16
    grace_s = 10

    [limits]                                   # optional, tightens gateway.core.limits
    max_batch_records = 2000

    [audit]                                    # optional: checkpoint every N events or T s
    checkpoint_every_events = 1000
    checkpoint_every_s = 60
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.core.errors import ConfigurationError
from gateway.core.limits import DEFAULT_LIMITS, Limits

__all__ = [
    "AuditSettings",
    "FederationSettings",
    "NodeConfig",
    "ServerSettings",
    "load_config",
    "parse_endpoint",
    "write_config",
]


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """gRPC server settings."""

    workers: int = 16
    grace_s: float = 10.0


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """When the audit log's checkpoints are published: whichever comes first."""

    checkpoint_every_events: int = 1000
    checkpoint_every_s: float = 60.0


@dataclass(frozen=True, slots=True)
class FederationSettings:
    """Peer upkeep and pushing; units in the names."""

    sync_interval_s: float = 5.0
    """How often to refresh the directory from the parent and catch up from the cursor."""
    expiry_interval_s: float = 60.0
    """How often to purge records past their disclosure period."""
    batch_records: int = 500
    initial_backoff_ms: int = 200
    max_backoff_ms: int = 30_000
    lease_s: int = 120
    """How long a claimed outbox row stays with the sender that claimed it: after a crash
    mid-push, its rows go out again (and settle as duplicates) once the lease runs out."""


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Everything a node needs to start."""

    node_id: str
    keys: Path
    listen: str
    database: str
    parent: str | None = None
    server: ServerSettings = field(default_factory=ServerSettings)
    limits: Limits = DEFAULT_LIMITS
    audit: AuditSettings = field(default_factory=AuditSettings)
    federation: FederationSettings = field(default_factory=FederationSettings)
    directory: Path | None = None
    """Signed federation directory file: the source at the national node, else a cache."""


def parse_endpoint(value: str) -> tuple[str, int]:
    """Split ``host:port`` (IPv6 hosts in brackets).

    Raises:
        ConfigurationError: if it is not ``host:port`` with a port in 0..65535.
    """
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigurationError(f"endpoint {value!r} is not host:port")
    return host.strip("[]"), int(port)


def _section(doc: dict[str, Any], name: str, source: Path) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise ConfigurationError(f"{source}: [{name}] must be a table")
    return value


def load_config(path: Path) -> NodeConfig:
    """Read and check a node configuration file.

    Relative paths inside the file are relative to the file's folder.

    Raises:
        ConfigurationError: naming the file and the key at fault.
    """
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read config {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid TOML: {exc}") from exc
    node = _section(doc, "node", path)
    unknown = set(doc) - {"node", "server", "limits", "audit", "federation"}
    if unknown:
        raise ConfigurationError(f"{path}: unknown section(s) {sorted(unknown)}")
    try:
        node_id = str(node["id"])
        keys = Path(str(node["keys"]))
        listen = str(node["listen"])
        database = str(node["database"])
    except KeyError as exc:
        raise ConfigurationError(f"{path}: [node] lacks {exc.args[0]!r}") from exc
    if not (len(node_id) == 6 and node_id.isdigit()):
        raise ConfigurationError(f"{path}: node id {node_id!r} is not a 6-digit region code")
    parse_endpoint(listen)
    parent = node.get("parent")
    if parent is not None:
        parse_endpoint(str(parent))
    server_doc = _section(doc, "server", path)
    limits_doc = _section(doc, "limits", path)
    audit_doc = _section(doc, "audit", path)
    federation_doc = _section(doc, "federation", path)
    try:
        federation = FederationSettings(**federation_doc)
        server = ServerSettings(**server_doc)
        limits = dataclasses.replace(DEFAULT_LIMITS, **limits_doc)
        audit = AuditSettings(**audit_doc)
    except TypeError as exc:
        raise ConfigurationError(f"{path}: {exc}") from exc
    if audit.checkpoint_every_events < 1 or audit.checkpoint_every_s <= 0:
        raise ConfigurationError(f"{path}: [audit] checkpoint intervals must be positive")
    if federation.batch_records < 1 or federation.sync_interval_s <= 0 or federation.lease_s < 1:
        raise ConfigurationError(f"{path}: [federation] batch and intervals must be positive")
    if not keys.is_absolute():
        keys = path.parent / keys
    directory = Path(str(node["directory"])) if "directory" in node else None
    if directory is not None and not directory.is_absolute():
        directory = path.parent / directory
    return NodeConfig(
        node_id=node_id,
        keys=keys,
        listen=listen,
        database=database,
        parent=None if parent is None else str(parent),
        server=server,
        limits=limits,
        audit=audit,
        federation=federation,
        directory=directory,
    )


def write_config(config: NodeConfig, path: Path) -> None:
    """Write ``config`` as TOML (only non-default server and limit settings)."""
    lines = [
        "[node]",
        f"id = {json.dumps(config.node_id)}",
        f"keys = {json.dumps(str(config.keys))}",
        f"listen = {json.dumps(config.listen)}",
        f"database = {json.dumps(config.database)}",
    ]
    if config.parent is not None:
        lines.append(f"parent = {json.dumps(config.parent)}")
    if config.directory is not None:
        lines.append(f"directory = {json.dumps(str(config.directory))}")
    lines += ["", "[server]"]
    lines += [
        f"{f.name} = {getattr(config.server, f.name)!r}" for f in dataclasses.fields(ServerSettings)
    ]
    changed = [
        f"{f.name} = {getattr(config.limits, f.name)!r}"
        for f in dataclasses.fields(Limits)
        if getattr(config.limits, f.name) != getattr(DEFAULT_LIMITS, f.name)
    ]
    if changed:
        lines += ["", "[limits]", *changed]
    if config.audit != AuditSettings():
        lines += ["", "[audit]"]
        lines += [
            f"{f.name} = {getattr(config.audit, f.name)!r}"
            for f in dataclasses.fields(AuditSettings)
        ]
    if config.federation != FederationSettings():
        lines += ["", "[federation]"]
        lines += [
            f"{f.name} = {getattr(config.federation, f.name)!r}"
            for f in dataclasses.fields(FederationSettings)
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
