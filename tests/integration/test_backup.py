"""`gateway backup` / `gateway restore` on a real `gateway serve` city (issue 14 item 9).

The backup is taken while the city serves; the restore puts it back once the
city is stopped. Each is an audit event by the operator, and a wrong file never
replaces the store.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path

from gateway.core.identifiers import make_uscc
from gateway.pki import issue_client
from tests.integration.conftest import CITY
from tests.support.audit import event_count, init_audited_node, sqlite_path, use_the_city
from tests.support.federation import Keystore, run_gateway, running_node

PURPOSE = "licence review"
SUBJECT = make_uscc("91330500", "MA2B3C4D")


def test_a_backup_taken_while_serving_is_restored_and_both_are_audited(
    keystore: Keystore, tmp_path: Path
) -> None:
    issue_client(keystore.root, node_id=CITY, name="audit-office", role="auditor", force=True)
    config = init_audited_node(keystore, CITY, tmp_path / "city")
    db = sqlite_path(config, CITY)
    copy = tmp_path / "city-backup.db"
    with running_node(config, CITY, log=tmp_path / "city.log") as city:
        use_the_city(keystore, CITY, city.endpoint, purpose=PURPOSE, subject=SUBJECT)
        taken = run_gateway("backup", "--config", str(config), str(copy))
        assert taken.returncode == 0, taken.stderr
        backed_up = event_count(copy)
        assert taken.stdout.strip() == f"backed up into {copy}: audit log of {backed_up} events"
        use_the_city(keystore, CITY, city.endpoint, purpose=PURPOSE, subject=SUBJECT)
        again = run_gateway("backup", "--config", str(config), str(copy))
    assert again.returncode == 1
    assert f"{copy} already exists: back up into a new file" in again.stderr
    assert event_count(db) > backed_up

    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    refused = run_gateway("restore", "--config", str(config), str(junk))
    assert refused.returncode == 1
    assert f"{junk} is not an intact gateway store" in " ".join(refused.stderr.split())
    assert event_count(db) > backed_up, "a wrong file never replaces the store"

    restored = run_gateway("restore", "--config", str(config), str(copy))
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.strip() == (f"restored from {copy}: audit log of {backed_up + 1} events")
    assert event_count(db) == backed_up + 1

    with running_node(config, CITY, log=tmp_path / "restored.log") as city:
        client = keystore.client(CITY, "audit-office")
        listed = run_gateway(
            "audit", "events", "--json", "--as", str(client), "--endpoint", city.endpoint
        )
    assert listed.returncode == 0, listed.stderr
    operator = f"operator:{CITY}/{getpass.getuser()}"
    done = [
        (e["action"], e["detail"])
        for e in map(json.loads, listed.stdout.splitlines())
        if e["actor"] == operator and e["action"] in {"node.backup", "node.restore"}
    ]
    assert done == [
        ("node.backup", f"backup into {copy}"),
        ("node.restore", f"restored from {copy}: log of {backed_up} events"),
    ]


def test_a_postgresql_store_is_referred_to_pg_dump(keystore: Keystore, tmp_path: Path) -> None:
    config = init_audited_node(keystore, CITY, tmp_path / "city")
    text = config.read_text(encoding="utf-8")
    config.write_text(
        "\n".join(
            'database = "postgresql+psycopg://gateway@127.0.0.1:1/none"'
            if line.startswith("database =")
            else line
            for line in text.splitlines()
        )
        + "\n",
        encoding="utf-8",
    )
    refused = run_gateway("restore", "--config", str(config), str(config))
    assert refused.returncode == 1
    assert (
        "this node's store is not a SQLite file: back a PostgreSQL store up with pg_dump -Fc "
        "and restore it with pg_restore"
    ) in " ".join(refused.stderr.split())
