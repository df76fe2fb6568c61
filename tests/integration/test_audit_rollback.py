"""Issues 13 item 9 and 14 item 9: a log rolled back or edited fails `verify`; a restore
goes on as a new epoch.

A province and a city run as real `gateway serve` processes over real mTLS.
The city's log is used and cosigned twice; an online SQLite backup is taken in
between. Each test restores a copy of the city's file, edits it as an attacker
with the file would, restarts the city and runs `gateway audit verify` as the
city's auditor, who reaches the province only through the city: the province's
word arrives as a fresh cosignature the city relays but cannot make. The last
test restores the older backup for real: the city serves again only once the
gap is an incident, the province cosigns the log's new epoch, and `verify`
passes, naming the gap. (Rolled-back logs failing `verify` offline, and every
attempt to open an epoch without its incident, are tested in process:
tests/unit/node/test_log_epoch.py.)
"""

from __future__ import annotations

import getpass
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.core.identifiers import make_uscc
from gateway.node.audit_log import log_origin
from gateway.pki import issue_client
from tests.integration.conftest import CITY
from tests.support.audit import (
    copy_db,
    cosigned_sizes,
    event_count,
    init_audited_node,
    online_copy,
    sqlite_path,
    use_the_city,
    wait_for,
    witnessed_sizes,
)
from tests.support.federation import Keystore, NodeProcess, run_gateway, running_node

PROVINCE = "330000"
PURPOSE = "licence review"
SUBJECT = make_uscc("91330500", "MA2B3C4D")


@dataclass(frozen=True, slots=True)
class CityFiles:
    """The stopped city's config and SQLite file, and two copies of it."""

    config: Path
    db: Path
    older: Path  # an online backup taken after the first cosigned checkpoint
    latest: Path  # the file as the city left it, every event cosigned
    workdir: Path


@pytest.fixture(scope="module")
def province_config(keystore: Keystore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_audited_node(keystore, PROVINCE, tmp_path_factory.mktemp("province"))


@pytest.fixture(scope="module")
def province(province_config: Path) -> Iterator[NodeProcess]:
    log = province_config.parent / "province.log"
    with running_node(province_config, PROVINCE, log=log) as process:
        yield process


def _vouched(province_config: Path) -> int:
    """The largest checkpoint of the city the province cosigned, from its own file."""
    return max(witnessed_sizes(sqlite_path(province_config, PROVINCE), CITY))


@pytest.fixture(scope="module")
def city_files(
    keystore: Keystore, province: NodeProcess, tmp_path_factory: pytest.TempPathFactory
) -> CityFiles:
    issue_client(keystore.root, node_id=CITY, name="audit-office", role="auditor", force=True)
    workdir = tmp_path_factory.mktemp("city")
    config = init_audited_node(keystore, CITY, workdir, parent=province.endpoint)
    db = sqlite_path(config, CITY)
    older, latest = workdir / "older.db", workdir / "latest.db"
    with running_node(config, CITY, log=workdir / "city.log") as city:
        for copy in (older, latest):
            use_the_city(keystore, CITY, city.endpoint, purpose=PURPOSE, subject=SUBJECT)
            used = event_count(db)

            def covered(used: int = used) -> bool:
                return max(cosigned_sizes(db), default=0) >= used

            wait_for(f"a cosigned checkpoint of {used} events", covered)
            if copy is older:
                online_copy(db, older)
    copy_db(db, latest)
    return CityFiles(config, db, older, latest, workdir)


def _verify(keystore: Keystore, files: CityFiles, log_name: str) -> tuple[int, str, str, int]:
    """Start the city on its file as it now is; run `audit verify`; the log size it saw."""
    with running_node(files.config, CITY, log=files.workdir / log_name) as city:
        size = event_count(files.db)
        client = keystore.client(CITY, "audit-office")
        result = run_gateway("audit", "verify", "--as", str(client), "--endpoint", city.endpoint)
    return result.returncode, result.stdout, " ".join(result.stderr.split()), size


def test_verify_names_the_checkpoint_the_parent_vouches_for(
    keystore: Keystore, city_files: CityFiles, province_config: Path
) -> None:
    copy_db(city_files.latest, city_files.db)
    vouched = _vouched(province_config)
    code, out, err, _size = _verify(keystore, city_files, "healthy.log")
    # The run grew the log (the auditor's read) and the province cosigned it:
    # the file as the city left it is now the latest.
    copy_db(city_files.db, city_files.latest)
    assert code == 0, err
    assert (
        f"{log_origin(PROVINCE)} vouches for checkpoint {vouched} of {log_origin(CITY)} as the "
        "latest it cosigned" in out
    ), out


def test_editing_the_indexed_subject_of_an_event_fails_verify(
    keystore: Keystore, city_files: CityFiles
) -> None:
    copy_db(city_files.latest, city_files.db)
    conn = sqlite3.connect(city_files.db, isolation_level=None)
    try:
        seq, shown = conn.execute(
            "SELECT seq, subject FROM audit_event WHERE action = 'records.list' "
            "AND subject != '' ORDER BY seq LIMIT 1"
        ).fetchone()
        # The attack: the event's bytes (and so every hash) stay; the column the
        # subject access report selects on no longer names the subject.
        conn.execute("UPDATE audit_event SET subject = '' WHERE seq = ?", (seq,))
    finally:
        conn.close()

    with running_node(city_files.config, CITY, log=city_files.workdir / "edited.log") as city:
        client = keystore.client(CITY, "audit-office")
        report = run_gateway(
            "audit", "subject", SUBJECT, "--json", "--as", str(client), "--endpoint", city.endpoint
        )
        verified = run_gateway("audit", "verify", "--as", str(client), "--endpoint", city.endpoint)
    assert report.returncode == 0, report.stderr
    hidden = [json.loads(line) for line in report.stdout.splitlines()]
    assert seq not in [a["seq"] for a in hidden], "the edit hides the access from the report"
    assert verified.returncode == 1, verified.stderr
    assert (
        f"event {seq}: its indexed subject column says '', its signed bytes say {shown!r}"
        in " ".join(verified.stderr.split())
    ), verified.stderr


def test_a_node_restored_behind_its_parent_serves_only_once_the_gap_is_an_incident(
    keystore: Keystore, city_files: CityFiles, province_config: Path
) -> None:
    """Issue 14 item 9: the restore loses events the province cosigned."""
    copy_db(city_files.latest, city_files.db)
    config = str(city_files.config)
    restored = run_gateway("restore", "--config", config, str(city_files.older))
    assert restored.returncode == 0, restored.stderr
    held = event_count(city_files.db)
    vouched = _vouched(province_config)
    root = _witnessed_root(province_config, vouched)
    cited = (
        f"checkpoint {vouched} of {log_origin(CITY)}, root {root}, cosigned by "
        f"{log_origin(PROVINCE)}"
    )

    refused = run_gateway("serve", "--config", config, timeout_s=60)
    assert refused.returncode == 1, refused.stderr
    assert (
        f"the audit log does not hold {cited} (the log holds {held} events: events "
        f"{held}..{vouched - 1} lost): record the gap with `gateway audit incident` before serving"
    ) in " ".join(refused.stderr.split()), refused.stderr

    reason = "disk lost; restored from the backup of the morning"
    recorded = run_gateway("audit", "incident", "--config", config, "--reason", reason)
    assert recorded.returncode == 0, recorded.stderr
    # The refused start appended its audit.gap event: one more event held.
    lost = f"the log holds {held + 1} events: events {held + 1}..{vouched - 1} lost"
    assert recorded.stdout.strip() == (
        f"incident recorded: {cited}; {lost}; the log goes on as epoch 2"
    )
    again = run_gateway("audit", "incident", "--config", config, "--reason", reason)
    assert again.returncode == 1
    assert f"the gap at {cited} is already recorded" in " ".join(again.stderr.split())

    with running_node(city_files.config, CITY, log=city_files.workdir / "incident.log") as city:
        client = keystore.client(CITY, "audit-office")
        listed = run_gateway(
            "audit", "events", "--json", "--as", str(client), "--endpoint", city.endpoint
        )
    assert listed.returncode == 0, listed.stderr
    seen = [
        (e["actor"], e["action"], e["decision"], e["detail"])
        for e in map(json.loads, listed.stdout.splitlines())
        if e["action"] in {"audit.gap", "audit.incident"}
    ]
    incident = seen[1][3]
    assert seen == [
        (
            f"node:{CITY}/{CITY}",
            "audit.gap",
            "denied",
            f"{cited}; the log holds {held} events: events {held}..{vouched - 1} lost",
        ),
        (
            f"operator:{CITY}/{getpass.getuser()}",
            "audit.incident",
            "allowed",
            incident,
        ),
    ]
    assert incident.startswith(f"epoch 2 opens after {cited} (")
    assert incident.endswith(f"); {lost}; reason: {reason}")

    # The city runs on as epoch 2: the province cosigns its next checkpoint, and
    # the auditor's verification passes, naming the gap and what it rests on.
    province_db = sqlite_path(province_config, PROVINCE)
    with running_node(city_files.config, CITY, log=city_files.workdir / "epoch.log") as city:
        use_the_city(keystore, CITY, city.endpoint, purpose=PURPOSE, subject=SUBJECT)
        grown = event_count(city_files.db)
        wait_for(
            f"the province's cosignature of epoch 2 at {grown} events",
            lambda: max(witnessed_sizes(province_db, CITY, epoch=2), default=0) >= grown,
            timeout_s=120.0,  # the shared machine runs at a load average of 20 and more
        )
        client = keystore.client(CITY, "audit-office")
        verified = run_gateway("audit", "verify", "--as", str(client), "--endpoint", city.endpoint)
        incident_seq = str(held + 1)
        proof = run_gateway(
            "audit", "proof", incident_seq, "--as", str(client), "--endpoint", city.endpoint
        )
    status = run_gateway("status", "--config", config, "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["audit_epoch"] == 2
    assert proof.returncode == 0, proof.stderr
    assert f"event {incident_seq}: audit.incident by operator:{CITY}/" in proof.stdout
    assert f"{log_origin(CITY)}/epoch/2\n" in proof.stdout, "proven against an epoch-2 checkpoint"
    assert verified.returncode == 0, verified.stderr
    epoch2 = f"{log_origin(CITY)}/epoch/2"
    out = " ".join(verified.stdout.split())
    assert f"{log_origin(PROVINCE)} vouches for checkpoint " in out, out
    assert f" of {epoch2} as the latest it cosigned" in out, out
    assert (
        f"gap: epoch 2 opens at event {held + 1} (operator:{CITY}/{getpass.getuser()}) after "
        f"checkpoint {vouched} of {log_origin(CITY)}, root {root}, cosigned by "
        f"{log_origin(PROVINCE)}: {lost}; reason: {reason}"
    ) in out, out


def _witnessed_root(province_config: Path, size: int) -> str:
    conn = sqlite3.connect(sqlite_path(province_config, PROVINCE))
    try:
        (root,) = conn.execute(
            "SELECT root FROM witnessed_checkpoint WHERE child = ? AND size = ?", (CITY, size)
        ).fetchone()
    finally:
        conn.close()
    return bytes(root).hex()
