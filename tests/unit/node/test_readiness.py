"""Readiness: named checks, their reasons, and the monitor that reports changes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID
from sqlalchemy import text

from gateway.core.errors import ConfigurationError, ExpiredError, StorageError
from gateway.node.readiness import (
    CheckResult,
    Readiness,
    ReadinessCheck,
    ReadinessMonitor,
    ReadinessReport,
    node_readiness,
)
from gateway.store import Store
from gateway.store.engine import write_tx
from gateway.store.migrate import alembic_config

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)


def _certificate() -> x509.Certificate:
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(START)
        .not_valid_after(END)
        .sign(key, None)
    )


def _fail(exc: Exception) -> ReadinessCheck:
    def check() -> None:
        raise exc

    return check


def test_a_report_is_ready_only_when_every_check_passes() -> None:
    readiness = Readiness(
        {
            "store": lambda: None,
            "directory": _fail(ExpiredError("directory serial 3 expired at 100")),
            "certificates": _fail(RuntimeError()),
        }
    )
    report = readiness.check()
    assert not report.ready
    assert report.results == (
        CheckResult("store"),
        CheckResult("directory", "directory serial 3 expired at 100"),
        CheckResult("certificates", "RuntimeError"),
    )
    assert (
        report.summary()
        == "directory: directory serial 3 expired at 100; certificates: RuntimeError"
    )
    assert Readiness({"store": lambda: None}).check().summary() == "ready"


def _node_readiness(
    store: Store, url: str, now: dt.datetime, directory: ReadinessCheck
) -> ReadinessReport:
    return node_readiness(
        store=store,
        database_url=url,
        directory=directory,
        certificates=[("signing certificate", _certificate())],
        clock=now.timestamp,
    ).check()


def test_a_healthy_node_is_ready(store: Store, store_url: str) -> None:
    report = _node_readiness(store, store_url, START + dt.timedelta(days=1), lambda: None)
    assert report.ready, report.summary()
    assert [r.name for r in report.results] == ["store", "schema", "directory", "certificates"]


def test_no_directory_and_an_expired_certificate_make_a_node_not_ready(
    store: Store, store_url: str
) -> None:
    no_directory = _fail(ConfigurationError("node 330500 has no federation directory yet"))
    report = _node_readiness(store, store_url, END, no_directory)
    assert report.failures == (
        CheckResult("directory", "node 330500 has no federation directory yet"),
        CheckResult("certificates", f"signing certificate expired at {END}"),
    )


def test_an_unreachable_store_is_blamed_on_the_store_not_the_schema(store: Store) -> None:
    url = "sqlite:////nonexistent-folder/node.db"
    report = _node_readiness(store, url, START + dt.timedelta(days=1), lambda: None)
    # The schema is unknown while the store cannot be read: one reason, the store's.
    assert report.failures == (
        CheckResult("store", "SQLite folder /nonexistent-folder is not writable"),
    )


def test_a_stale_schema_is_reported_on_every_round_after_a_current_one(
    store: Store, store_url: str
) -> None:
    # The code's heads are read once per process; each round still reads the
    # database's revision, so a schema rewound after a ready round is reported.
    now = START + dt.timedelta(days=1)
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert _node_readiness(store, store_url, now, lambda: None).ready
    with write_tx(store.engine, "rewinding") as conn:
        (current,) = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    for _ in range(2):
        report = _node_readiness(store, store_url, now, lambda: None)
        assert report.failures == (
            CheckResult(
                "schema", f"database schema is at ['0001'], the code needs {sorted(heads)}"
            ),
        )
    with write_tx(store.engine, "restoring") as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": current})
    assert _node_readiness(store, store_url, now, lambda: None).ready


def test_the_monitor_reports_changes_only(tmp_path: Path) -> None:
    state: dict[str, str | None] = {"fault": None}

    def store_check() -> None:
        if state["fault"]:
            raise StorageError(str(state["fault"]))

    reports: list[ReadinessReport] = []
    monitor = ReadinessMonitor(
        Readiness({"store": store_check}), name="t", interval_s=60, on_change=reports.append
    )
    monitor.refresh()
    monitor.refresh()
    state["fault"] = "database is locked"
    monitor.refresh()
    monitor.refresh()
    state["fault"] = None
    monitor.refresh()
    assert [r.summary() for r in reports] == ["ready", "store: database is locked", "ready"]
    assert monitor.report is reports[-1]


@pytest.mark.parametrize("when", [START - dt.timedelta(seconds=1)])
def test_a_certificate_not_yet_valid_is_named(
    store: Store, store_url: str, when: dt.datetime
) -> None:
    report = _node_readiness(store, store_url, when, lambda: None)
    assert report.failures == (
        CheckResult("certificates", f"signing certificate is valid only from {START}"),
    )
