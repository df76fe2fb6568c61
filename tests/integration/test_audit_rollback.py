"""Issue 13 item 9: an audit log rolled back, or its indexed columns edited, fails `verify`.

A province and a city run as real `gateway serve` processes over real mTLS.
The city's log is used and cosigned twice; an online SQLite backup is taken in
between. Each test restores a copy of the city's file, edits it as an attacker
with the file would, restarts the city and runs `gateway audit verify` as the
city's auditor, who reaches the province only through the city: the province's
word arrives as a fresh cosignature the city relays but cannot make.
"""

from __future__ import annotations

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
    assert code == 0, err
    assert (
        f"{log_origin(PROVINCE)} vouches for checkpoint {vouched} as the latest it cosigned" in out
    ), out


def test_a_log_rolled_back_to_an_older_cosigned_checkpoint_fails_verify(
    keystore: Keystore, city_files: CityFiles, province_config: Path
) -> None:
    # The attack: restore the older backup. Every checkpoint it holds was cosigned
    # and is consistent; only the province knows of the later ones.
    copy_db(city_files.older, city_files.db)
    code, _out, err, size = _verify(keystore, city_files, "rolled-back.log")
    vouched = _vouched(province_config)
    assert size < vouched
    assert code == 1, err
    assert (
        f"the log holds {size} events, behind checkpoint {vouched} that its witness "
        f"{log_origin(PROVINCE)} cosigned: it was rolled back"
    ) in err, err


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
