"""Migrations produce exactly the schema the SQLModel tables declare, on both backends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Engine, Integer, MetaData, inspect
from sqlmodel import SQLModel

import gateway
from gateway.store import make_engine, migrate
from gateway.store.migrate import alembic_config

_TABLES = {"record", "outbox", "delivery", "hop_batch", "statement", "cursor"}


def _diff(engine: Engine, metadata: MetaData) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_migrations_produce_the_models_schema(store_url: str) -> None:
    migrate(store_url)
    engine = make_engine(store_url)
    try:
        assert set(inspect(engine).get_table_names()) >= _TABLES
        assert _diff(engine, SQLModel.metadata) == []
    finally:
        engine.dispose()


def test_the_comparison_would_notice_a_model_the_migrations_lack(store_url: str) -> None:
    migrate(store_url)
    changed = MetaData()
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["record"].append_column(Column("extra", Integer, nullable=True))
    engine = make_engine(store_url)
    try:
        diff = _diff(engine, changed)
    finally:
        engine.dispose()
    assert [(d[0], d[2], d[3].name) for d in diff] == [("add_column", "record", "extra")]


def test_migrate_is_repeatable_and_stops_at_the_single_head(store_url: str) -> None:
    migrate(store_url)
    migrate(store_url)
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"migrations must form one line, found heads {heads}"
    engine = make_engine(store_url)
    try:
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_heads() == (heads[0],)
    finally:
        engine.dispose()


def test_replicas_migrating_at_once_take_turns(store_url: str) -> None:
    # Separate processes, as replicas are: Alembic itself is not thread-safe.
    env = {**os.environ, "PYTHONPATH": str(Path(gateway.__file__).parent.parent)}
    code = "import sys; from gateway.store import migrate; migrate(sys.argv[1])"
    replicas = [
        subprocess.Popen(
            [sys.executable, "-c", code, store_url], env=env, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    for replica in replicas:
        _, errors = replica.communicate(timeout=60)
        assert replica.returncode == 0, errors
    engine = make_engine(store_url)
    try:
        assert _diff(engine, SQLModel.metadata) == []
    finally:
        engine.dispose()


def test_downgrade_to_base_removes_every_table_and_upgrade_restores_them(store_url: str) -> None:
    migrate(store_url)
    engine = make_engine(store_url)
    try:
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) & _TABLES == set()
        migrate(store_url)
        assert _diff(engine, SQLModel.metadata) == []
    finally:
        engine.dispose()
