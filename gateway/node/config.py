"""A node's configuration: a typed, frozen model read from TOML written by ``gateway node init``.

::

    [node]
    id = "330500"
    keys = "/srv/gateway/keys/nodes/330500"   # this node's credential folder
    listen = "127.0.0.1:7005"
    database = "sqlite:////srv/gateway/330500.db"
    parent = "127.0.0.1:7003"                  # omitted at the national node

    [server]
    workers = 16
    grace_s = 10.0

    [limits]                                   # optional, tightens gateway.core.limits
    max_batch_records = 2000

    [audit]                                    # optional: checkpoint every N events or T s
    checkpoint_every_events = 1000
    checkpoint_every_s = 60.0

    [operations]                               # optional: /healthz, /readyz, /metrics
    listen = "127.0.0.1:9464"

    [receive]                                  # optional: record checks in 2 worker processes
    workers = 2

Environment variables override the file: ``GATEWAY_<SECTION>__<KEY>`` for any
key (``GATEWAY_SERVER__WORKERS=32``) and ``GATEWAY_DB_URL`` for
``[node] database``, so that a database password need not sit in the file.
Every key is listed in ``docs/configuration.md``, generated from these models by
``scripts/gen_config_docs.py``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gateway.core.errors import ConfigurationError, InputError
from gateway.core.limits import DEFAULT_LIMITS, Limits
from gateway.core.node_id import is_node_id_shape
from gateway.node._config_errors import describe_errors
from gateway.pki.names import check_client_name

__all__ = [
    "DB_URL_ENV",
    "ENV_PREFIX",
    "AuditSettings",
    "CheckSettings",
    "DirectorySettings",
    "FederationSettings",
    "NodeConfig",
    "NodeSettings",
    "OperationsSettings",
    "ReceiveSettings",
    "ServerSettings",
    "config_from_tables",
    "load_config",
    "parse_endpoint",
    "write_config",
]

ENV_PREFIX = "GATEWAY_"
DB_URL_ENV = "GATEWAY_DB_URL"
"""The one short environment name: the database URL often carries a password."""


def parse_endpoint(value: str) -> tuple[str, int]:
    """Split ``host:port`` (IPv6 hosts in brackets).

    Raises:
        ConfigurationError: if it is not ``host:port`` with a port in 0..65535.
    """
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigurationError(f"endpoint {value!r} is not host:port")
    return host.strip("[]"), int(port)


def _endpoint(value: str) -> str:
    try:
        parse_endpoint(value)
    except ConfigurationError:
        # pydantic reports ValueError with the key's location; ours would lose it.
        raise ValueError("expected host:port with a port in 0..65535") from None
    return value


def _region_code(value: str) -> str:
    if not is_node_id_shape(value):
        raise ValueError("expected a 6-digit region code such as 330500")
    return value


def _client_name(value: str) -> str:
    try:
        return check_client_name(value)
    except InputError as exc:
        raise ValueError(str(exc)) from None


Endpoint = Annotated[str, AfterValidator(_endpoint)]
ClientName = Annotated[str, AfterValidator(_client_name)]
RegionCode = Annotated[str, AfterValidator(_region_code)]


class _Section(BaseModel):
    """A table of the file: frozen, unknown keys refused, documented by field docstrings."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        use_attribute_docstrings=True,
    )


class NodeSettings(_Section):
    """Who this node is, where its keys and store are, whom it reports to."""

    node_id: RegionCode = Field(alias="id")
    """6-digit region code of this node (GB/T 2260), e.g. "330500"; "000000" is national."""
    keys: Path
    """This node's credential folder (TLS and signing keys, certificates, federation root).
    A relative path is relative to the config file's folder."""
    listen: Endpoint
    """host:port the gRPC server binds (port 0 picks a free one)."""
    database: str
    """SQLAlchemy URL of the node's store: ``sqlite:///path`` or
    ``postgresql+psycopg://user@host/db``. Also set by ``GATEWAY_DB_URL``."""
    parent: Endpoint | None = None
    """host:port of the parent node; omitted at the national node."""
    directory: Path | None = None
    """Signed federation directory file: the source at the national node, a cache elsewhere.
    A relative path is relative to the config file's folder."""


class ServerSettings(_Section):
    """gRPC server settings."""

    workers: PositiveInt = 16
    """Threads serving RPCs."""
    grace_s: NonNegativeFloat = 10.0
    """Seconds in-flight RPCs get to finish on SIGTERM."""
    readiness_interval_s: PositiveFloat = 5.0
    """How often store, schema, directory and certificates are re-checked for health."""
    certificate_warning_days: PositiveFloat = 30.0
    """Log ``certificate.expiring`` once a certificate of this node (TLS, signing, node CA,
    federation root) has fewer days left than this."""
    max_streams: PositiveInt = 8
    """Streaming calls open at once, all callers together; must be below workers."""
    max_streams_per_client: PositiveInt = 4
    """Streaming calls open at once for one client (department, auditor, admin)."""
    max_streams_per_peer: PositiveInt = 4
    """Streaming calls open at once for one peer node."""
    stream_idle_s: PositiveFloat = 60.0
    """A stream on which nothing moves for this long is ended (CANCELLED)."""
    stream_max_s: PositiveFloat = 1800.0
    """A stream open for this long is ended, whatever it does."""


class AuditSettings(_Section):
    """When the audit log's checkpoints are published: whichever comes first."""

    checkpoint_every_events: PositiveInt = 1000
    """Publish a checkpoint after this many new audit events."""
    checkpoint_every_s: PositiveFloat = 60.0
    """Publish a checkpoint at least this often (seconds) while events arrive."""


class FederationSettings(_Section):
    """Peer upkeep and pushing; units in the names."""

    sync_interval_s: PositiveFloat = 5.0
    """How often to refresh the directory from the parent and catch up from the cursor."""
    expiry_interval_s: PositiveFloat = 60.0
    """How often to purge records past their disclosure period."""
    batch_records: PositiveInt = 500
    """Records per push or pull batch between nodes."""
    initial_backoff_ms: PositiveInt = 200
    """First retry delay after a peer is unreachable; doubles on each failure."""
    max_backoff_ms: PositiveInt = 30_000
    """Longest retry delay towards an unreachable peer."""
    lease_s: PositiveInt = 120
    """How long a claimed outbox row stays with the sender that claimed it: after a crash
    mid-push, its rows go out again (and settle as duplicates) once the lease runs out."""
    duty_lease_s: PositiveInt = 30
    """Replicas over one database: how long the replica running a singleton duty (audit
    checkpoints, expiry sweep, directory re-signing) keeps it without renewing; after a
    crash a survivor takes the duty over within this time."""


class DirectorySettings(_Section):
    """The federation directory's lifecycle: validity and re-signing at national, warnings
    everywhere."""

    valid_days: PositiveFloat = 7.0
    """National node: how long each directory it signs (re-signed or edited) is valid."""
    resign_before_days: PositiveFloat = 3.0
    """National node: re-sign the directory (same content, new serial) once it has fewer
    days left than this. Keep it well above the time a node may be cut off from its parent."""
    warning_days: PositiveFloat = 2.0
    """Every node: log ``directory.expiring``, set ``gateway_directory_expiring`` and flag
    ``gateway status`` once the directory held has fewer days left than this."""

    @model_validator(mode="after")
    def _renewed_before_expiry(self) -> DirectorySettings:
        if self.resign_before_days >= self.valid_days:
            raise ValueError(
                "resign_before_days must be below valid_days, or the national node "
                "would re-sign the directory on every round"
            )
        return self


class OperationsSettings(_Section):
    """The operations listener: plain HTTP for ``/healthz``, ``/readyz`` and ``/metrics``."""

    listen: Endpoint = "127.0.0.1:0"
    """host:port of the operations listener. Plain HTTP without client certificates: keep it
    on loopback or a network only probes and Prometheus reach. Port 0 picks a free port
    (printed at start); set a fixed one for probes and scraping."""


class PublicationSettings(_Section):
    """The public publication feed (双公示): plain HTTP, read-only, no client certificate."""

    enabled: bool = True
    """Serve the feed. Every node holds what the public may see of its records."""
    listen: Endpoint = "127.0.0.1:0"
    """host:port of the feed. Plain HTTP: put the website's TLS proxy in front (entries are
    signed, so the proxy is trusted for confidentiality, never for content). Port 0 picks a
    free port (printed at start)."""
    settle_s: NonNegativeInt = 2
    """Seconds a change waits before the feed shows it, so that the commits of replicas over
    one PostgreSQL, numbered in one sequence, land in order before a reader passes them."""


class ReceiveSettings(_Section):
    """Receiving hop batches from peer nodes."""

    workers: NonNegativeInt = 0
    """Worker processes that check the records of received batches (the strict SD-JWT
    verification and the scope checks), so that a hub uses more than one core; the hop
    signature, the store, the audit log and the outbox stay in the node process. 0: every
    check in the node process. Each worker holds the trust material (about 60 MiB resident);
    up to the cores left once the node process has one."""


class ReportingSettings(_Section):
    """The credit office's duties: who must report (双公示 timeliness and coverage)."""

    departments: tuple[ClientName, ...] = ()
    """Client names of the departments expected to report to this node every month. The
    timeliness report names those that have not submitted in the month; empty: nobody is
    expected (the report lists only who did submit)."""


class CheckSettings(_Section):
    """Check frontends: processes of their own that serve ``Discipline.Check`` beside the node.

    Each frontend binds its own port (never shared: ``SO_REUSEPORT`` is off), reads the
    store itself and hands what a check writes to the node's one writer, answering only
    once it is committed with its audit event. Put the node's port and the frontends'
    behind one load balancer for departments' checks (see README, "More than one core").
    """

    frontends: NonNegativeInt = 0
    """Frontend processes to run (0: checks are served on ``[node] listen`` only)."""
    frontend_listen: tuple[Endpoint, ...] = ()
    """host:port of each frontend, one per frontend; empty: each binds a free port on the
    host of ``[node] listen`` (printed at start, and kept when a frontend is restarted).
    Each frontend serves with ``[server] workers`` threads."""

    @model_validator(mode="after")
    def _one_address_each(self) -> CheckSettings:
        if self.frontend_listen and len(self.frontend_listen) != self.frontends:
            raise ValueError(
                f"frontend_listen names {len(self.frontend_listen)} addresses for "
                f"{self.frontends} frontends: give one per frontend, or none"
            )
        return self


class NodeConfig(BaseModel):
    """Everything a node needs to start: one field per table of the file.

    The ``[node]`` keys are also readable directly (``config.node_id``,
    ``config.listen``...), as every consumer reads them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    node: NodeSettings
    """Identity, keys, store and parent of this node (required)."""
    server: ServerSettings = Field(default_factory=ServerSettings)
    """The gRPC server."""
    limits: Limits = DEFAULT_LIMITS
    """Bounds on untrusted input, checked before parsing; a node may tighten them."""
    audit: AuditSettings = Field(default_factory=AuditSettings)
    """Audit log checkpoints."""
    federation: FederationSettings = Field(default_factory=FederationSettings)
    """Directory refresh, catch-up, expiry sweep and pushing to peers."""
    operations: OperationsSettings = Field(default_factory=OperationsSettings)
    """Health, readiness and metrics over plain HTTP."""
    publication: PublicationSettings = Field(default_factory=PublicationSettings)
    """The public publication feed."""
    reporting: ReportingSettings = Field(default_factory=ReportingSettings)
    """Departments expected to report (the office's timeliness report)."""
    receive: ReceiveSettings = Field(default_factory=ReceiveSettings)
    """Receiving hop batches: worker processes for the record checks."""
    directory: DirectorySettings = Field(default_factory=DirectorySettings)
    """The federation directory's validity, re-signing and expiry warnings."""
    check: CheckSettings = Field(default_factory=CheckSettings)
    """Check frontend processes beside the node."""

    @property
    def node_id(self) -> str:
        """``[node] id``."""
        return self.node.node_id

    @property
    def keys(self) -> Path:
        """``[node] keys``."""
        return self.node.keys

    @property
    def listen(self) -> str:
        """``[node] listen``."""
        return self.node.listen

    @property
    def database(self) -> str:
        """``[node] database``."""
        return self.node.database

    @property
    def parent(self) -> str | None:
        """``[node] parent``."""
        return self.node.parent

    @property
    def directory_file(self) -> Path | None:
        """``[node] directory`` (the ``[directory]`` table is :attr:`directory`)."""
        return self.node.directory


class _DatabaseUrlSource(PydanticBaseSettingsSource):
    """``GATEWAY_DB_URL``, the short name for ``[node] database``."""

    def get_field_value(
        self,
        field: FieldInfo,  # noqa: ARG002 - the interface's signature; __call__ does the work
        field_name: str,
    ) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        value = os.environ.get(DB_URL_ENV)
        return {} if value is None else {"node": {"database": value}}


class _FileAndEnvironment(BaseSettings, NodeConfig):
    """The file's tables (given as keyword arguments) under the environment's overrides."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", case_sensitive=False
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - no .env files
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - nor secret files
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: the environment overrides the file.
        return _DatabaseUrlSource(settings_cls), env_settings, init_settings


def config_from_tables(**tables: Any) -> NodeConfig:
    """Build a config from its tables as the file spells them (``node={"id": ...}``).

    Raises:
        ConfigurationError: naming the table and the key at fault.
    """
    try:
        return NodeConfig.model_validate(tables)
    except ValidationError as exc:
        raise ConfigurationError(describe_errors(exc, NodeConfig)) from None


def _environment_origin(section: str, key: str) -> str | None:
    """The variable that overrides ``[section] key``, when one is set (see the sources)."""
    if (section, key) == ("node", "database") and DB_URL_ENV in os.environ:
        return DB_URL_ENV
    wanted = f"{ENV_PREFIX}{section}__{key}".upper()
    return next((name for name in os.environ if name.upper() == wanted), None)


def _relative_to(folder: Path, path: Path) -> Path:
    return path if path.is_absolute() else folder / path


def load_config(path: Path) -> NodeConfig:
    """Read and check a node configuration file, with environment overrides.

    Relative paths inside the file are relative to the file's folder.

    Raises:
        ConfigurationError: naming the file, the table and the key at fault, with
            a suggestion for a misspelt key.
    """
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read config {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid TOML: {exc}") from exc
    try:
        loaded = _FileAndEnvironment(**doc)
    except ValidationError as exc:
        described = describe_errors(exc, NodeConfig, _environment_origin)
        raise ConfigurationError(f"{path}: {described}") from None
    node = loaded.node.model_copy(
        update={
            "keys": _relative_to(path.parent, loaded.node.keys),
            "directory": None
            if loaded.node.directory is None
            else _relative_to(path.parent, loaded.node.directory),
        }
    )
    # Every table as loaded (so that a new table cannot be forgotten here), the node's resolved.
    tables = {name: getattr(loaded, name) for name in NodeConfig.model_fields}
    return NodeConfig(**{**tables, "node": node})


def _toml_value(value: object) -> str:
    if isinstance(value, str | Path):
        # JSON strings are TOML basic strings when non-ASCII is left as is.
        return json.dumps(str(value), ensure_ascii=False)
    return repr(value)


def _table(name: str, values: dict[str, object]) -> list[str]:
    return ["", f"[{name}]", *(f"{key} = {_toml_value(v)}" for key, v in values.items())]


def write_config(config: NodeConfig, path: Path) -> None:
    """Write ``config`` as TOML: ``[node]``, ``[server]``, and other tables' changed keys."""
    node = config.node.model_dump(by_alias=True, exclude_none=True)
    lines = _table("node", node)[1:]
    lines += _table("server", config.server.model_dump())
    limits = {
        f.name: getattr(config.limits, f.name)
        for f in dataclasses.fields(Limits)
        if getattr(config.limits, f.name) != getattr(DEFAULT_LIMITS, f.name)
    }
    if limits:
        lines += _table("limits", limits)
    sections = (
        ("audit", config.audit),
        ("federation", config.federation),
        ("operations", config.operations),
        ("directory", config.directory),
        ("check", config.check),
        ("receive", config.receive),
    )
    for name, section in sections:
        changed = section.model_dump(exclude_defaults=True)
        if changed:
            lines += _table(name, changed)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
