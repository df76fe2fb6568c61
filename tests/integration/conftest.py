"""Fixtures for integration tests: one federation keystore per module, both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.federation import Keystore, make_keystore
from tests.support.postgres import fresh_postgres_schema

CITY = "330500"


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Keystore:
    """National, Zhejiang and Huzhou nodes; Huzhou clients of every role."""
    return make_keystore(
        tmp_path_factory.mktemp("keys"),
        nodes=["000000", "330000", CITY],
        clients=[
            (CITY, "procurement-office", "department", "procurement"),
            (CITY, "market-office", "department", "market_regulation"),
            (CITY, "audit-office", "auditor", None),
            (CITY, "ops", "admin", None),
        ],
    )


@pytest.fixture(scope="module")
def foreign_keystore(tmp_path_factory: pytest.TempPathFactory) -> Keystore:
    """Another federation with its own root: its certificates must be refused."""
    return make_keystore(
        tmp_path_factory.mktemp("foreign-keys"),
        nodes=["000000", "330000", CITY],
        clients=[(CITY, "procurement-office", "department", "procurement")],
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A node database URL: a SQLite file or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'node.db'}"
        return
    with fresh_postgres_schema() as url:
        yield url
