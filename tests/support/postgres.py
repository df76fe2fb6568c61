"""A fresh PostgreSQL schema per test, selected through search_path in the URL."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import URL, create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_ENV = "GATEWAY_TEST_POSTGRES_URL"


def postgres_schema_url(base: str, schema: str) -> str:
    """``base`` with every connection's search_path set to ``schema``."""
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@contextmanager
def fresh_postgres_schema() -> Iterator[str]:
    """Yield the URL of an empty schema; skip the test when PostgreSQL is not configured."""
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


def terminate_backend(url: str | URL, pid: int) -> None:
    """End PostgreSQL server process ``pid`` from a connection of another engine, and wait
    (bounded) until it is gone: a connection lost under its user, as in a server restart."""
    other = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with other.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            # It only signals the process: wait (bounded) until it is gone.
            for _ in range(1000):
                gone = admin.execute(
                    text("SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = :pid)"),
                    {"pid": pid},
                ).scalar_one()
                if gone:
                    break
                time.sleep(0.01)
    finally:
        other.dispose()
