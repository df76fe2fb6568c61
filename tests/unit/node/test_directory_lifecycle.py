"""The directory over time, in one process under a clock that moves only when told.

The national node re-signs its directory file before expiry and every node
takes the new one from its parent without a restart; every node warns (log,
metric, status) from ``[directory] warning_days`` before expiry; a node whose
directory expired keeps its outbox and resumes once a fresh directory arrives.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from gateway.core.directory_edit import set_endpoints
from gateway.core.errors import DirectoryExpiredError, NotFoundError
from gateway.node.config import FederationSettings
from gateway.node.directory_signer import DirectorySigner
from gateway.node.directory_watch import DirectoryWatch
from gateway.node.intake import IntakeOutcome, Submission
from gateway.node.node_state import NodeStateCollector
from gateway.node.status import read_status
from gateway.node.trust import read_directory_file
from gateway.store.checkpoints import CheckpointRepository
from tests.support.federation import Keystore
from tests.support.harness import InProcessFederation, keystore_for, migrated_template
from tests.support.records import penalty_fields

NATIONAL, ZHEJIANG, HUZHOU = "000000", "330000", "330500"
NODES = (NATIONAL, ZHEJIANG, HUZHOU)
DAY = 86_400
VALID_S = 7 * DAY  # the harness signs its first directory for seven days, as the default
RESIGN_BEFORE_S = 3 * DAY
WARN_BEFORE_S = 2 * DAY
# Retries without real waiting: tenacity's backoff is milliseconds, the outbox delay one second.
FAST = FederationSettings(initial_backoff_ms=1, max_backoff_ms=2, lease_s=5)


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Keystore:
    return keystore_for(tmp_path_factory.mktemp("keys"), NODES)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def fed(tmp_path: Path, keystore: Keystore, template: Path) -> Iterator[InProcessFederation]:
    federation = InProcessFederation.build(
        tmp_path,
        keystore,
        NODES,
        template=template,
        settings=FAST,
        national_directory=tmp_path / "national-directory.json",
    )
    try:
        yield federation
    finally:
        federation.close()


def _signer(fed: InProcessFederation) -> DirectorySigner:
    assert fed.national_directory is not None
    return DirectorySigner(
        path=fed.national_directory, creds=fed[NATIONAL].creds, clock=fed.clock, valid_s=VALID_S
    )


def _refresh_top_down(fed: InProcessFederation) -> None:
    """One upkeep round per node, parents first: national reads its file, the others ask up."""
    for node in NODES:
        fed[node].federation.upkeep.refresh_directory()


def _held(fed: InProcessFederation, node: str, ids: list[str]) -> list[str]:
    held = []
    for record_id in ids:
        try:
            fed[node].store.records.get(record_id)
        except NotFoundError:
            continue
        held.append(record_id)
    return held


def _serials(fed: InProcessFederation) -> list[int | None]:
    return [
        held.serial if (held := fed[n].federation.trust.held) is not None else None for n in NODES
    ]


def test_the_national_node_re_signs_before_expiry_and_every_node_takes_it_without_a_restart(
    fed: InProcessFederation,
) -> None:
    start = int(fed.clock())
    first = fed[HUZHOU].federation.trust.directory()
    signer = _signer(fed)
    fed.clock.advance(VALID_S - RESIGN_BEFORE_S - 1)
    assert signer.renew_if_due(RESIGN_BEFORE_S) is None
    fed.clock.advance(1)
    with capture_logs() as logs:
        renewed = signer.renew_if_due(RESIGN_BEFORE_S)
    assert renewed is not None
    now = start + VALID_S - RESIGN_BEFORE_S
    assert (renewed.serial, renewed.issued_at, renewed.expires_at) == (now, now, now + VALID_S)
    assert renewed.nodes == first.nodes
    assert renewed.revoked == first.revoked
    assert logs == [
        {
            "event": "directory.resigned",
            "log_level": "info",
            "serial": now,
            "previous_serial": first.serial,
            "expires_at": now + VALID_S,
        }
    ]
    # Due no more: the next round signs nothing.
    assert signer.renew_if_due(RESIGN_BEFORE_S) is None

    _refresh_top_down(fed)
    assert _serials(fed) == [now, now, now]
    # Past the first directory's expiry, the city still trusts its neighbours.
    fed.clock.advance(RESIGN_BEFORE_S + 1)
    assert fed[HUZHOU].federation.trust.directory().serial == now


def test_every_node_warns_from_warning_days_before_expiry_in_log_metric_and_status(
    fed: InProcessFederation,
) -> None:
    node = fed[HUZHOU]
    trust = node.federation.trust
    expires_at = trust.directory().expires_at
    watch = DirectoryWatch(lambda: trust.held, warn_before_s=WARN_BEFORE_S, clock=fed.clock)
    collector = NodeStateCollector(
        parent=ZHEJIANG,
        store=node.store,
        checkpoints=CheckpointRepository(node.store.engine),
        trust=trust,
        certificates=(),
        clock=fed.clock,
        directory_warning_s=WARN_BEFORE_S,
    )
    registry = CollectorRegistry()
    registry.register(collector)

    def status_expiring() -> bool:
        return read_status(
            node_id=HUZHOU,
            listen="127.0.0.1:0",
            parent=ZHEJIANG,
            store=node.store,
            database_url="sqlite://",
            directory=trust.held,
            directory_check=trust.directory,
            certificates=(),
            clock=fed.clock,
            directory_warning_s=WARN_BEFORE_S,
        ).directory_expiring

    fed.clock.now = expires_at - WARN_BEFORE_S - 1
    with capture_logs() as logs:
        assert watch.check() is None
        assert registry.get_sample_value("gateway_directory_expiring") == 0.0
        assert status_expiring() is False

        fed.clock.advance(1)
        assert watch.check() == "directory.expiring"
        assert watch.check() is None  # once per directory
        assert registry.get_sample_value("gateway_directory_expiring") == 1.0
        assert status_expiring() is True

        fed.clock.now = expires_at
        assert watch.check() == "directory.expired"
        assert watch.check() is None
    expiry = dt.datetime.fromtimestamp(expires_at, dt.UTC).isoformat()
    serial = trust.held.serial if trust.held is not None else 0
    assert logs == [
        {
            "event": "directory.expiring",
            "log_level": "warning",
            "serial": serial,
            "expires_at": expiry,
            "hours_left": 48.0,
        },
        {
            "event": "directory.expired",
            "log_level": "error",
            "serial": serial,
            "expires_at": expiry,
            "hours_left": 0.0,
        },
    ]
    # A renewed directory clears the flag (and would warn again for itself in time).
    renewed = _signer(fed).renew_if_due(RESIGN_BEFORE_S)
    assert renewed is not None
    _refresh_top_down(fed)
    assert registry.get_sample_value("gateway_directory_expiring") == 0.0
    assert status_expiring() is False
    assert watch.check() is None


def test_a_node_whose_directory_expired_keeps_its_outbox_and_resumes_when_a_fresh_one_arrives(
    fed: InProcessFederation,
) -> None:
    city = fed[HUZHOU]
    expires_at = city.federation.trust.directory().expires_at
    fed.clock.now = expires_at + 1
    decided = dt.datetime.fromtimestamp(fed.clock(), dt.UTC).date() - dt.timedelta(days=20)
    results = city.submit(
        [Submission(str(i), "admin_penalty", penalty_fields(i, decided=decided)) for i in range(3)]
    )
    assert [r.outcome for r in results] == [IntakeOutcome.ACCEPTED] * 3
    ids = sorted(r.record_id for r in results)

    # Every node holds the expired directory: the province refuses the city's push as
    # "retry later", and the rows wait in the outbox, none failed.
    with pytest.raises(DirectoryExpiredError):
        fed[ZHEJIANG].federation.trust.directory()
    assert city.push_round() is True
    assert city.store.outbox.pending_count(ZHEJIANG) == 3
    assert city.store.outbox.failed_count() == 0
    assert _held(fed, ZHEJIANG, ids) == []

    # National re-signs its expired directory; each node fetches it from its parent.
    renewed = _signer(fed).renew_if_due(RESIGN_BEFORE_S)
    assert renewed is not None
    _refresh_top_down(fed)
    assert _serials(fed) == [renewed.serial] * 3
    fed.clock.advance(60)  # past the outbox's retry delay
    fed.deliver()
    assert city.store.outbox.pending_count() == 0
    assert city.store.outbox.failed_count() == 0
    assert _held(fed, ZHEJIANG, ids) == ids
    assert _held(fed, NATIONAL, ids) == ids


def test_the_national_node_re_reads_an_edited_file_and_children_follow(
    fed: InProcessFederation,
) -> None:
    edited = _signer(fed).edit(
        lambda current: set_endpoints(current, HUZHOU, ("127.0.0.9:7100", "127.0.0.10:7100"))
    )
    assert fed.national_directory is not None
    assert read_directory_file(fed.national_directory).envelope  # written in place
    _refresh_top_down(fed)
    assert _serials(fed) == [edited.serial] * 3
    assert fed[HUZHOU].federation.trust.directory().node(HUZHOU).endpoints == (
        "127.0.0.9:7100",
        "127.0.0.10:7100",
    )
