"""Fixtures running every store test against SQLite and PostgreSQL.

PostgreSQL tests need ``GATEWAY_TEST_POSTGRES_URL`` (for example
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) and are skipped, with the
reason shown, when it is unset. Each PostgreSQL test gets a fresh schema,
selected through ``search_path`` in the URL and dropped afterwards, so parallel
and repeated runs never see each other's rows.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, make_url

from gateway.store import RecordRow, Store, open_store

POSTGRES_ENV = "GATEWAY_TEST_POSTGRES_URL"
NOW = 1_750_000_000
"""A fixed 'now' (June 2025) in unix seconds, so tests never depend on the clock."""


def postgres_schema_url(base: str, schema: str) -> str:
    """``base`` with every connection's search_path set to ``schema``."""
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'node.db'}"
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set, so the PostgreSQL backend is not tested")
    schema = f"t_{secrets.token_hex(8)}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        yield postgres_schema_url(base, schema)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated, open store, closed after the test."""
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


def record_row(
    record_id: str,
    version: int = 1,
    *,
    body: str = "",
    subject_key: str = "91330500MA2B3C4D5E",
    category: str = "administrative_penalty",
    status: str = "active",
    exp: int = NOW + 86_400,
    origin: str = "local",
) -> RecordRow:
    """A record row whose SD-JWT text is derived from its key (and ``body``)."""
    return RecordRow(
        record_id=record_id,
        version=version,
        issuer="330500",
        category=category,
        subject_type="legal_person",
        subject_key=subject_key,
        document_number=f"浙绍市监罚〔2025〕{version}号",
        status=status,
        iat=NOW - 3600,
        exp=exp,
        sd_jwt=f"eyJhbGciOiJFZERTQSJ9.{record_id}-{version}-{body}.c2ln~WyJzYWx0IiwiWERSX01DIl0~",
        origin=origin,
        stored_at=NOW,
        status_changed_at=NOW,
    )


def occupy_writer(store: Store) -> threading.Event:
    """Occupy the writer until the returned event is set, so later jobs queue up.

    Returns once the occupying job runs: the jobs submitted after it form a group
    of their own (else it could share a group with them).
    """
    running, release = threading.Event(), threading.Event()

    def occupy(_conn: Connection) -> bool:
        running.set()
        return release.wait(10)

    store.writer.submit(occupy)
    assert running.wait(10), "the writer did not start the occupying job"
    return release
