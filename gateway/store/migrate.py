"""Bring a store's schema to the newest migration, from inside the program.

The migrations ship inside the package (``gateway/store/migrations``), so an
installed gateway upgrades its database without an ``alembic`` command or a
source checkout.
"""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from gateway.store.engine import is_sqlite, make_engine, write_tx

__all__ = ["alembic_config", "migrate"]

# Any fixed number will do: it only has to be the same in every replica.
_MIGRATION_LOCK = 0x67_61_74_65  # "gate"


def alembic_config() -> Config:
    """The Alembic configuration pointing at the packaged migrations."""
    package = resources.files("gateway.store")
    config = Config(str(package / "alembic.ini"))
    # Set explicitly so the scripts are found wherever the package is installed.
    config.set_main_option("script_location", str(package / "migrations"))
    return config


def migrate(url: str) -> None:
    """Upgrade the database at ``url`` to the newest schema (``alembic upgrade head``).

    Safe to run on every start: a database already at head is left alone. The
    whole upgrade runs in one transaction, so a failed migration changes nothing
    (both backends have transactional DDL). Replicas starting together take
    turns: SQLite through its write lock, PostgreSQL through an advisory lock.

    Raises:
        ConfigurationError: the URL names an unsupported backend.
        StorageError: the database failed.
    """
    engine = make_engine(url)
    try:
        with write_tx(engine, "migrating the store schema") as conn:
            if not is_sqlite(conn):
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    finally:
        engine.dispose()
