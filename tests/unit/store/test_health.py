"""Store health probes: files writable, schema readable and current."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.core.errors import StorageError
from gateway.store import Store, open_store
from gateway.store.engine import write_tx
from gateway.store.health import (
    check_files_writable,
    check_schema_current,
    schema_revision,
    sqlite_files,
)


def test_sqlite_files_are_the_database_and_its_wal_companions(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    assert sqlite_files(f"sqlite:///{db}") == (
        db,
        tmp_path / "node.db-wal",
        tmp_path / "node.db-shm",
    )
    assert sqlite_files("postgresql+psycopg://u@127.0.0.1:5432/db") == ()


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[list[Path]]:
    made: list[Path] = []
    yield made
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def _make_immutable(path: Path, made: list[Path]) -> None:
    made.append(path)
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip("the immutable attribute is not available here")


def test_an_immutable_shm_file_is_refused_by_name(tmp_path: Path, immutable: list[Path]) -> None:
    shm = tmp_path / "node.db-shm"
    shm.write_bytes(b"")
    _make_immutable(shm, immutable)
    url = f"sqlite:///{tmp_path / 'node.db'}"
    with pytest.raises(StorageError, match=f"^SQLite file {shm} is not writable$"):
        check_files_writable(url)
    with pytest.raises(StorageError, match=f"^SQLite file {shm} is not writable$"):
        open_store(url)


def test_every_write_transaction_checks_the_files_again(
    tmp_path: Path, immutable: list[Path]
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'node.db'}")
    try:
        with write_tx(store.engine, "writing once") as conn:
            conn.execute(text("CREATE TABLE probe (x INTEGER)"))
        shm = tmp_path / "node.db-shm"
        _make_immutable(shm, immutable)
        with (
            pytest.raises(StorageError, match=f"^SQLite file {shm} is not writable$"),
            write_tx(store.engine, "writing again") as conn,
        ):
            conn.execute(text("INSERT INTO probe VALUES (1)"))
        subprocess.run(["chattr", "-i", str(shm)], check=True)
        with write_tx(store.engine, "writing when it can") as conn:
            conn.execute(text("INSERT INTO probe VALUES (2)"))
        with write_tx(store.engine, "reading") as conn:
            assert conn.execute(text("SELECT x FROM probe")).scalars().all() == [2]
    finally:
        store.close()


def test_files_not_yet_created_need_a_writable_folder(tmp_path: Path) -> None:
    check_files_writable(f"sqlite:///{tmp_path / 'node.db'}")
    missing = tmp_path / "missing"
    with pytest.raises(StorageError, match=rf"^SQLite folder {missing} is not writable$"):
        check_files_writable(f"sqlite:///{missing / 'node.db'}")


def test_a_migrated_store_is_current(store: Store) -> None:
    assert schema_revision(store.engine)
    check_schema_current(store.engine)


def test_a_store_behind_the_code_is_not_current(store: Store) -> None:
    with write_tx(store.engine, "rewinding") as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    with pytest.raises(StorageError, match=r"^database schema is at \['0001'\], the code needs"):
        check_schema_current(store.engine)
